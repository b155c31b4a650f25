"""`smsgw` finding its outputs file and saying clearly what is wrong with the setup."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from smsgw import outputs
from smsgw.cli import main
from tests.unit.test_cli_harness import Stack, create_stack, write_outputs


def test_no_outputs_file_says_how_to_get_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)

    code = main(["dlq", "list"])

    assert code == 2
    assert outputs.MISSING_DEPLOYED in capsys.readouterr().err
    assert outputs.MISSING_DEPLOYED == (
        "no cdk-outputs.json here: deploy with `make deploy`, or run `make local` and pass --local"
    )


def test_no_local_outputs_file_says_make_local(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    write_outputs(tmp_path, {"QueueUrl": "x"})  # a deployed stack's file is not the local one

    code = main(["--local", "send", "--to", "+8613800138000", "--template", "UTA1"])

    assert code == 2
    assert "make local" in capsys.readouterr().err


def test_an_outputs_path_that_does_not_exist_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nowhere.json"

    code = main(["--outputs", str(missing), "dlq", "list"])

    assert code == 2
    assert str(missing) in capsys.readouterr().err


def test_the_file_is_found_from_a_subfolder(
    stack: Stack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_outputs(tmp_path, stack.outputs())
    deeper = tmp_path / "functions" / "sms_gateway"
    deeper.mkdir(parents=True)
    monkeypatch.chdir(deeper)

    assert main(["send", "--to", "+8613800138000", "--template", "UTA1", "--via", "sqs"]) == 0
    assert len(stack.drain(stack.queue_url)) == 1


def test_a_missing_key_is_named_with_the_fix(
    stack: Stack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    values = stack.outputs()
    del values["DeadLetterQueueUrl"]
    path = write_outputs(tmp_path, values)

    code = main(["--outputs", str(path), "dlq", "list"])

    err = capsys.readouterr().err
    assert code == 2
    assert "has no SmsGateway.DeadLetterQueueUrl" in err
    assert "make deploy" in err


@pytest.mark.parametrize("content", ['{"OtherStack": {}}', "not json", "[]"])
def test_a_file_without_the_stack_is_refused(
    content: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "cdk-outputs.json"
    path.write_text(content, encoding="utf-8")

    code = main(["--outputs", str(path), "dlq", "list"])

    assert code == 2
    assert str(path) in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [
        ["dlq", "list"],
        ["dlq", "redrive"],
        ["send", "--to", "+8613800138000", "--template", "UTA1", "--via", "sqs"],
        ["send", "--to", "+8613800138000", "--template", "UTA1", "--via", "sns"],
        ["send", "--to", "+8613800138000", "--template", "UTA1", "--via", "api"],
    ],
)
def test_a_stack_that_is_not_deployed_says_so(
    argv: list[str], stack: Stack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    gone = stack.outputs(
        TopicArn="arn:aws:sns:us-east-1:123456789012:destroyed",
        QueueUrl="https://sqs.us-east-1.amazonaws.com/123456789012/destroyed",
        DeadLetterQueueUrl="https://sqs.us-east-1.amazonaws.com/123456789012/destroyed-dlq",
        ApiKeyId="destroyed",
    )
    path = write_outputs(tmp_path, gone)

    code = main(["--outputs", str(path), *argv])

    err = capsys.readouterr().err
    assert code == 2
    assert "is not deployed" in err
    assert "make deploy" in err
    assert "Traceback" not in err


def test_no_credentials_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    path = write_outputs(
        tmp_path,
        {
            "TopicArn": "arn:aws:sns:eu-west-1:123456789012:sms-gateway",
            "QueueUrl": "https://sqs.eu-west-1.amazonaws.com/123456789012/q",
            "DeadLetterQueueUrl": "https://sqs.eu-west-1.amazonaws.com/123456789012/dlq",
        },
    )

    code = main(["--outputs", str(path), "dlq", "list"])

    assert code == 2
    assert "no AWS credentials" in capsys.readouterr().err


def test_the_stacks_region_wins_over_the_shells(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Deployed to eu-west-1, used from a shell whose default is us-east-1."""
    monkeypatch.setattr("smsgw.dead_letters.WAIT_S", 0)
    for name, value in {
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        region = "eu-west-1"
        stack = create_stack(
            boto3.client("sqs", region_name=region), boto3.client("sns", region_name=region)
        )
        path = write_outputs(tmp_path, stack.outputs())

        code = main(["--outputs", str(path), "send", "--to", "+8613800138000", "--template", "T"])

        assert code == 0
        assert [json.loads(m["Body"])["TemplateId"] for m in stack.drain(stack.queue_url)] == ["T"]
