"""`smsgw policy show|set|block|allow`: the traffic policy's SSM parameter (moto), every
write checked with the gateway's own model and shown as a diff."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from sms_gateway.policy import parse_policy
from smsgw.cli import main
from smsgw.policy import edit_countries
from tests.unit.test_cli_harness import (
    Stack,
    local_client,
    moto_stack,
    running_moto_server,
    write_outputs,
)

PARAMETER = "/sms-gateway/traffic-policy"
POLICY: dict[str, Any] = {
    "Mode": "Enforce",
    "Countries": {"Allow": ["*"], "Block": ["KP"]},
    "Limits": [{"Scope": "Number", "Count": 5, "Seconds": 600}],
    "MaxAgeSeconds": 3600,
}


class Policy:
    """The stack's policy parameter in moto, and an outputs file naming it."""

    def __init__(self, stack: Stack, folder: Path) -> None:
        self.ssm = boto3.client("ssm")
        self.ssm.put_parameter(Name=PARAMETER, Value=json.dumps(POLICY), Type="String")
        self.outputs = write_outputs(folder, stack.outputs(PolicyParameterName=PARAMETER))

    def run(self, *args: str) -> int:
        return main(["--outputs", str(self.outputs), "policy", *args])

    def stored(self) -> Any:
        return json.loads(self.text())

    def text(self) -> str:
        return str(self.ssm.get_parameter(Name=PARAMETER)["Parameter"]["Value"])

    def version(self) -> int:
        return int(self.ssm.get_parameter(Name=PARAMETER)["Parameter"]["Version"])

    def put(self, text: str) -> None:
        self.ssm.put_parameter(Name=PARAMETER, Value=text, Overwrite=True)


@pytest.fixture
def policy(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Policy]:
    with moto_stack(monkeypatch) as stack:
        yield Policy(stack, tmp_path)


def _file(folder: Path, document: Any) -> str:
    path = folder / "policy.json"
    path.write_text(document if isinstance(document, str) else json.dumps(document, indent=4))
    return str(path)


# --- show -------------------------------------------------------------------------------------


def test_show_prints_the_policy_as_pretty_json(
    policy: Policy, capsys: pytest.CaptureFixture[str]
) -> None:
    assert policy.run("show") == 0

    out = capsys.readouterr().out
    assert json.loads(out) == POLICY
    assert '\n  "Mode": "Enforce",' in out


def test_show_of_a_document_the_gateway_refuses_prints_it_and_exits_1(
    policy: Policy, capsys: pytest.CaptureFixture[str]
) -> None:
    policy.put('{"Mode": "Panic"}')

    assert policy.run("show") == 1

    out, err = capsys.readouterr()
    assert json.loads(out) == {"Mode": "Panic"}
    assert "Mode" in err
    assert "keeps the last good policy" in err
    assert "policy set FILE" in err


def test_without_the_output_or_the_parameter_it_is_a_setup_error(
    policy: Policy, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    no_output = write_outputs(tmp_path / "old", {"TopicArn": "arn:aws:sns:us-east-1:1:t"})
    assert main(["--outputs", str(no_output), "policy", "show"]) == 2
    assert "no SmsGateway.PolicyParameterName" in capsys.readouterr().err

    policy.ssm.delete_parameter(Name=PARAMETER)
    assert policy.run("show") == 2
    assert f"there is no parameter {PARAMETER}" in capsys.readouterr().err


# --- set --------------------------------------------------------------------------------------


def test_set_writes_a_valid_document_and_prints_the_diff(
    policy: Policy, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    new = {**POLICY, "Mode": "Monitor", "MaxAgeSeconds": 600}

    assert policy.run("set", _file(tmp_path, new)) == 0

    assert policy.stored() == new
    out, err = capsys.readouterr()
    assert f"--- {PARAMETER} (before)" in out
    assert f"+++ {PARAMETER} (after)" in out
    assert '-  "Mode": "Enforce",' in out
    assert '+  "Mode": "Monitor",' in out
    assert '+  "MaxAgeSeconds": 600' in out
    assert '"Limits"' not in "".join(line for line in out.splitlines() if line[:1] in "+-")
    assert "within a minute" in err


def test_set_refuses_a_bad_document_with_the_models_reason_and_exit_1(
    policy: Policy, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = {**POLICY, "Limits": [{"Scope": "Prefix", "Count": 5, "Seconds": 600}]}
    before = policy.version()

    assert policy.run("set", _file(tmp_path, bad)) == 1

    err = capsys.readouterr().err
    assert "not written" in err
    assert "a Prefix limit needs Digits" in err
    assert "the traffic policy is invalid" in err
    assert policy.version() == before


def test_set_refuses_a_document_too_big_for_the_parameter(
    policy: Policy, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Valid, but 300 country-narrowed limits do not fit in a Standard parameter's 4 KB.
    limit = {"Scope": "Country", "Count": 1, "Seconds": 60, "Countries": ["CN"]}
    big = {**POLICY, "Limits": [limit] * 300}
    before = policy.version()

    assert policy.run("set", _file(tmp_path, big)) == 1

    assert "at most 4,096" in capsys.readouterr().err
    assert policy.version() == before


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("{not json", "not valid JSON"),
        ("[]", "must be a JSON object"),
        ('{"Countries": {"Block": ["ru"]}}', "Countries.Block.0"),
        ('{"MaxAgeSeconds": 0}', "MaxAgeSeconds"),
        ('{"Extra": 1}', "Extra"),
    ],
)
def test_set_refuses_what_the_gateway_would_refuse(
    policy: Policy, tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, reason: str
) -> None:
    assert policy.run("set", _file(tmp_path, text)) == 1

    assert reason in capsys.readouterr().err
    assert policy.stored() == POLICY


def test_set_of_the_same_policy_writes_nothing(
    policy: Policy, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = policy.version()

    assert policy.run("set", _file(tmp_path, POLICY)) == 0  # formatted otherwise

    assert "no change" in capsys.readouterr().out
    assert policy.version() == before


def test_set_reads_standard_input_and_replaces_a_broken_policy(
    policy: Policy, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    policy.put("not json at all")
    monkeypatch.setattr("sys.stdin", io.StringIO('{"Mode": "Monitor"}'))

    assert policy.run("set", "-") == 0

    assert policy.stored() == {"Mode": "Monitor"}
    out = capsys.readouterr().out
    assert "-not json at all" in out
    assert '+  "Mode": "Monitor"' in out


def test_set_of_a_missing_file_is_a_setup_error(
    policy: Policy, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert policy.run("set", str(tmp_path / "nope.json")) == 2
    assert "cannot read" in capsys.readouterr().err


# --- block and allow --------------------------------------------------------------------------


def test_block_adds_to_block_and_prints_the_diff(
    policy: Policy, capsys: pytest.CaptureFixture[str]
) -> None:
    assert policy.run("block", "RU", "ng") == 0

    assert policy.stored()["Countries"] == {"Allow": ["*"], "Block": ["KP", "RU", "NG"]}
    assert {k: v for k, v in policy.stored().items() if k != "Countries"} == {
        k: v for k, v in POLICY.items() if k != "Countries"
    }
    out = capsys.readouterr().out
    assert '+      "RU",' in out or '+      "RU"' in out
    assert '+      "NG"' in out


def test_block_of_a_blocked_country_changes_nothing(
    policy: Policy, capsys: pytest.CaptureFixture[str]
) -> None:
    before = policy.version()

    assert policy.run("block", "KP") == 0

    assert "no change" in capsys.readouterr().out
    assert policy.version() == before


def test_allow_removes_from_block_and_leaves_allow_star(
    policy: Policy, capsys: pytest.CaptureFixture[str]
) -> None:
    assert policy.run("allow", "KP") == 0

    assert policy.stored()["Countries"] == {"Allow": ["*"], "Block": []}
    assert '-      "KP"' in capsys.readouterr().out


def test_allow_adds_to_an_allow_list_that_is_not_star(policy: Policy) -> None:
    policy.put(json.dumps({"Countries": {"Allow": ["CN", "US"], "Block": ["RU"]}}))

    assert policy.run("allow", "RU", "CA") == 0

    assert policy.stored() == {"Countries": {"Allow": ["CN", "US", "RU", "CA"], "Block": []}}


def test_block_and_allow_on_a_policy_without_countries(policy: Policy) -> None:
    policy.put("{}")

    assert policy.run("block", "RU") == 0
    assert policy.stored() == {"Countries": {"Block": ["RU"]}}
    assert policy.run("allow", "RU") == 0
    assert policy.stored() == {"Countries": {"Block": []}}
    assert parse_policy(policy.text()).countries.permits("RU")


def test_allow_under_a_star_block_says_every_country_stays_blocked(
    policy: Policy, capsys: pytest.CaptureFixture[str]
) -> None:
    policy.put(json.dumps({"Countries": {"Block": ["*", "RU"]}}))

    assert policy.run("allow", "RU") == 0

    assert "every country stays blocked" in capsys.readouterr().err
    assert policy.stored() == {"Countries": {"Block": ["*"]}}


@pytest.mark.parametrize("code", ["R1", "RUS", "r", "**"])
def test_a_code_the_model_refuses_is_a_command_line_error(
    policy: Policy, capsys: pytest.CaptureFixture[str], code: str
) -> None:
    assert policy.run("block", "RU", code) == 2

    assert "is not a region code" in capsys.readouterr().err
    assert policy.stored() == POLICY


def test_a_code_no_number_belongs_to_is_written_with_a_warning(
    policy: Policy, capsys: pytest.CaptureFixture[str]
) -> None:
    assert policy.run("block", "UK") == 0  # GB is the United Kingdom's

    assert "no phone number belongs to UK" in capsys.readouterr().err
    assert policy.stored()["Countries"]["Block"] == ["KP", "UK"]


def test_block_on_a_broken_policy_is_refused(
    policy: Policy, capsys: pytest.CaptureFixture[str]
) -> None:
    policy.put('{"Mode": "Panic"}')

    assert policy.run("block", "RU") == 1

    assert "policy set FILE" in capsys.readouterr().err
    assert policy.stored() == {"Mode": "Panic"}


@pytest.mark.parametrize(
    ("document", "codes", "blocking", "expected"),
    [
        ({}, ["RU"], True, {"Countries": {"Block": ["RU"]}}),
        ({}, ["RU"], False, {}),
        ({"Countries": {"Allow": ["US"]}}, ["RU"], False, {"Countries": {"Allow": ["US", "RU"]}}),
        (
            {"Countries": {"Allow": ["*", "US"]}},
            ["RU"],
            False,
            {"Countries": {"Allow": ["*", "US"]}},
        ),
        ({"Countries": {"Block": ["RU"]}}, ["RU", "RU"], True, {"Countries": {"Block": ["RU"]}}),
    ],
)
def test_edit_countries(
    document: dict[str, Any], codes: list[str], blocking: bool, expected: dict[str, Any]
) -> None:
    assert edit_countries(document, codes, blocking=blocking) == expected


# --- the local gateway ------------------------------------------------------------------------


def test_local_reads_and_writes_the_moto_servers_parameter(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with running_moto_server(monkeypatch) as endpoint:
        ssm = local_client(endpoint, "ssm")
        ssm.put_parameter(Name=PARAMETER, Value=json.dumps(POLICY), Type="String")
        outputs = {"PolicyParameterName": PARAMETER, "AwsEndpointUrl": endpoint}
        write_outputs(tmp_path / ".local", outputs, name="outputs.json")
        monkeypatch.chdir(tmp_path)

        assert main(["--local", "policy", "show"]) == 0
        assert json.loads(capsys.readouterr().out) == POLICY
        assert main(["--local", "policy", "block", "RU"]) == 0
        stored = json.loads(ssm.get_parameter(Name=PARAMETER)["Parameter"]["Value"])

    assert stored["Countries"]["Block"] == ["KP", "RU"]
