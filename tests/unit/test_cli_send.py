"""`smsgw send` through each door: SNS (raw delivery to the queue), SQS, and the API."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto.server import ThreadedMotoServer

from smsgw.cli import main
from smsgw.send import build_message
from tests.unit.test_cli_harness import (
    API_KEY,
    NATIONAL_PARTS,
    NUMBERS,
    FakeApi,
    Stack,
    create_stack,
    write_outputs,
)

SEND = ["send", "--to", *NUMBERS, "--template", "UTA1", "--param", "007", "42"]
EXPECTED = {"PhoneNumbers": list(NUMBERS), "TemplateId": "UTA1", "TemplateParams": ["007", "42"]}
RESULT = {"SessionNos": ["S-1"], "PhoneCount": 2, "IdempotentReplay": False}


def test_via_sns_reaches_the_queue_with_the_key(
    stack: Stack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_outputs(tmp_path, stack.outputs())

    code = main(
        [
            "--outputs",
            str(path),
            *SEND,
            "--sender-id",
            "Acme",
            "--user-id",
            "order-7",
            "--key",
            "k-1",
        ]
    )

    assert code == 0
    [delivered] = stack.drain(stack.queue_url)
    assert json.loads(delivered["Body"]) == {**EXPECTED, "SenderId": "Acme", "UserId": "order-7"}
    assert delivered["Attributes"] == {"IdempotencyKey": "k-1"}
    out, err = capsys.readouterr()
    assert "published to the topic: MessageId " in out
    assert "2 numbers, template UTA1" in out
    assert "dlq list" in err
    assert not [n for n in NATIONAL_PARTS if n in out + err], "keep the output short"


def test_via_sqs_prints_the_queues_message_id(
    stack: Stack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_outputs(tmp_path, stack.outputs())

    code = main(["--outputs", str(path), *SEND, "--via", "sqs"])

    assert code == 0
    [received] = stack.sqs.receive_message(QueueUrl=stack.queue_url, MessageAttributeNames=["All"])[
        "Messages"
    ]
    assert json.loads(received["Body"]) == EXPECTED
    assert "MessageAttributes" not in received  # no --key, no attribute
    assert f"sent to the queue: MessageId {received['MessageId']}" in capsys.readouterr().out


def test_the_message_keeps_what_the_user_typed() -> None:
    message = build_message(["+8613800138000,13900139000", " 13700137000 "], "T", ["0012", "5"])

    assert message == {
        "PhoneNumbers": ["+8613800138000", "13900139000", "13700137000"],
        "TemplateId": "T",
        "TemplateParams": ["0012", "5"],
    }


@pytest.mark.parametrize("api_url_suffix", ["", "/"])
def test_via_api_posts_with_the_key_from_api_gateway(
    api_url_suffix: str,
    stack: Stack,
    api: FakeApi,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    key_id = boto3.client("apigateway").create_api_key(name="k", value=API_KEY, enabled=True)["id"]
    api_url = api.url.rstrip("/") + api_url_suffix
    path = write_outputs(tmp_path, stack.outputs(ApiUrl=api_url, ApiKeyId=key_id))
    api.answer("POST", "/messages", 200, RESULT)

    code = main(["--outputs", str(path), *SEND, "--via", "api", "--key", "k-2"])

    assert code == 0
    [request] = api.requests
    assert (request.method, request.path) == ("POST", "/v1/messages")
    assert request.headers["x-api-key"] == API_KEY
    assert request.headers["idempotency-key"] == "k-2"
    assert json.loads(request.body) == EXPECTED
    out, err = capsys.readouterr()
    assert json.loads(out) == RESULT
    assert "receipts S-1" in err


def test_via_api_prints_the_error_and_exits_1(
    stack: Stack, api: FakeApi, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_outputs(tmp_path, stack.outputs(ApiUrl=api.url, ApiKey=API_KEY))
    refusal = {"Error": {"Code": "InvalidMessage", "Message": "the message breaks the rules"}}
    api.answer("POST", "/messages", 400, refusal)
    # ApiKey in the file: no API Gateway call (moto has no key with this id).

    code = main(["--outputs", str(path), "--local", *SEND, "--via", "api"])

    out, err = capsys.readouterr()
    assert code == 1
    assert out == ""
    assert "HTTP 400" in err
    assert "InvalidMessage" in err


def test_via_api_with_a_wrong_key_is_refused(
    stack: Stack, api: FakeApi, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_outputs(tmp_path, stack.outputs(ApiUrl=api.url, ApiKey="wrong-key"))
    api.answer("POST", "/messages", 200, RESULT)

    code = main(["--outputs", str(path), "--local", *SEND, "--via", "api"])

    assert code == 1
    assert "HTTP 403" in capsys.readouterr().err


def test_an_api_that_is_not_running_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as probe:  # a loopback port that nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    path = write_outputs(
        tmp_path,
        {"ApiUrl": f"http://127.0.0.1:{port}/v1/", "ApiKey": API_KEY, "AwsEndpointUrl": "x"},
    )

    code = main(["--outputs", str(path), *SEND, "--via", "api"])

    assert code == 2
    assert "cannot reach the API" in capsys.readouterr().err


@pytest.fixture
def moto_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A moto server on loopback, as `make local` runs one; the shell has no credentials."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def test_local_uses_the_moto_server_and_the_key_in_the_file(
    moto_server: str,
    api: FakeApi,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    def client(service: str) -> object:
        return boto3.client(
            service,
            endpoint_url=moto_server,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    stack = create_stack(client("sqs"), client("sns"))
    local = stack.outputs(
        AwsEndpointUrl=moto_server, ApiUrl=api.url, ApiKey=API_KEY, UspeedoEndpoint="x"
    )
    write_outputs(tmp_path / ".local", local, name="outputs.json")
    monkeypatch.chdir(tmp_path)
    api.answer("POST", "/messages", 200, RESULT)

    assert main(["--local", *SEND, "--via", "sqs", "--key", "k-3"]) == 0
    assert main(["--local", *SEND]) == 0
    assert main(["--local", *SEND, "--via", "api"]) == 0

    delivered = stack.drain(stack.queue_url)
    assert [json.loads(m["Body"]) for m in delivered] == [EXPECTED, EXPECTED]
    assert delivered[0]["Attributes"] == {"IdempotencyKey": "k-3"}
    assert [r.headers["x-api-key"] for r in api.requests] == [API_KEY]
    assert "smsgw --local dlq list" in capsys.readouterr().err
