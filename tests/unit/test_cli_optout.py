"""`smsgw optout add|remove|check|list` against the real handler: the local gateway's API
server (`local_gateway.api_server`) in front of a gateway on moto with an opt-out table."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import boto3
import pytest

from local_gateway.api_server import ApiServer
from local_gateway.context import LocalContext
from local_gateway.resources import create_idempotency_table
from sms_gateway.gateway import Gateway
from sms_gateway.handler import lambda_handler
from sms_gateway.optouts import OptOutStore
from smsgw.cli import main
from tests.unit.conftest import Aws
from tests.unit.test_cli_harness import API_KEY, write_outputs

PROTECTION_TABLE = "sms-gateway-protection"
NUMBER = "(86)13800138000"
OTHER = "(86)13900139000"
MANY = [f"(86)1370013{i:04d}" for i in range(250)]


@dataclass
class OptOuts:
    """The running API, its outputs file and the list behind it."""

    store: OptOutStore
    api_url: str
    outputs: Path

    def run(self, *args: str) -> int:
        return main(["--outputs", str(self.outputs), "optout", *args])


def _serve(gateway: Gateway) -> ApiServer:
    def invoke(event: dict[str, object]) -> object:
        return lambda_handler(event, LocalContext())

    server = ApiServer(invoke, API_KEY)
    server.start()
    return server


@pytest.fixture
def optouts(
    gateway: Gateway, aws: Aws, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[OptOuts]:
    """The deployed form: `cdk-outputs.json` names the API key by id; the CLI reads its
    value from API Gateway (moto)."""
    create_idempotency_table(aws.dynamodb, PROTECTION_TABLE)
    store = OptOutStore(PROTECTION_TABLE, aws.dynamodb)
    monkeypatch.setattr(gateway, "optouts", store)
    key_id = boto3.client("apigateway").create_api_key(name="k", value=API_KEY, enabled=True)["id"]
    server = _serve(gateway)
    try:
        outputs = write_outputs(
            tmp_path,
            {
                "TopicArn": "arn:aws:sns:us-east-1:123456789012:sms-gateway",
                "ApiUrl": server.url,
                "ApiKeyId": key_id,
            },
        )
        yield OptOuts(store, server.url, outputs)
    finally:
        server.stop()


class Printed(NamedTuple):
    out: str
    err: str


def _printed(capsys: pytest.CaptureFixture[str]) -> Printed:
    """What the CLI printed: stdout without the handler's metrics (EMF lines on stdout, as
    in Lambda; the handler runs in this process), and stderr."""
    out, err = capsys.readouterr()
    kept = [line for line in out.splitlines(keepends=True) if not line.startswith('{"_aws"')]
    return Printed("".join(kept), err)


def _nationals_in(text: str, numbers: list[str]) -> list[str]:
    nationals = {n.split(")")[-1] for n in numbers}
    return sorted(n for n in nationals if re.search(rf"(?<!\d){n}(?!\d)", text))


def test_add_takes_any_form_and_comma_separated_lists(
    optouts: OptOuts, capsys: pytest.CaptureFixture[str]
) -> None:
    code = optouts.run("add", "+8613800138000", "0086 139 0013 9000,(86)13800138000")

    assert code == 0
    assert optouts.store.opted_out([NUMBER, OTHER]) == {NUMBER, OTHER}
    out, err = _printed(capsys)
    assert out == "2 numbers opted out\n"
    assert not _nationals_in(out + err, [NUMBER, OTHER])


def test_add_names_the_bad_numbers_by_position_and_writes_nothing(
    optouts: OptOuts, capsys: pytest.CaptureFixture[str]
) -> None:
    code = optouts.run("add", "+8613800138000", "12", "+8613900139000", "+86 139 0013 900x")

    assert code == 1
    assert optouts.store.page().numbers == ()
    err = _printed(capsys).err
    assert "none of the 4 of this request was opted out" in err
    assert "number 2 (12): " in err
    assert "[phone_too_short]" in err
    assert "number 4 (+** *** ***3 900x): " in err  # masked: the last 4 digits show
    assert "[phone_bad_characters]" in err
    assert not _nationals_in(err, [NUMBER, OTHER])


def test_add_sends_more_than_a_thousand_numbers_in_parts(
    optouts: OptOuts, capsys: pytest.CaptureFixture[str]
) -> None:
    numbers = [f"+861350013{i:04d}" for i in range(1001)]

    assert optouts.run("add", *numbers) == 0

    assert _printed(capsys).out == "1001 numbers opted out\n"
    assert len(optouts.store.opted_out([f"(86)1350013{i:04d}" for i in range(1001)])) == 1001


def test_a_refusal_after_a_first_part_says_what_was_added(
    optouts: OptOuts, capsys: pytest.CaptureFixture[str]
) -> None:
    numbers = [f"+861350013{i:04d}" for i in range(1000)] + ["12"]

    assert optouts.run("add", *numbers) == 1

    err = _printed(capsys).err
    assert "number 1001 (12)" in err
    assert "1000 numbers opted out before this refusal" in err


def test_check_exits_0_when_opted_out_and_1_when_not(
    optouts: OptOuts, capsys: pytest.CaptureFixture[str]
) -> None:
    optouts.store.add([NUMBER], now=0)

    assert optouts.run("check", "+8613800138000") == 0
    assert _printed(capsys).out == "opted out: (**)*******8000\n"
    assert optouts.run("check", "+86 139 0013 9000") == 1
    assert _printed(capsys).out == "not opted out\n"


def test_remove_opts_back_in_and_a_second_remove_exits_1(
    optouts: OptOuts, capsys: pytest.CaptureFixture[str]
) -> None:
    optouts.store.add([NUMBER, OTHER], now=0)

    assert optouts.run("remove", "(86) 138-0013-8000") == 0
    assert _printed(capsys).out == "opted back in: (**)*******8000\n"
    assert optouts.run("remove", "008613800138000") == 1
    assert "not opted out: nothing removed" in _printed(capsys).err
    assert optouts.store.page().numbers == (OTHER,)


def test_a_bad_number_to_check_prints_the_apis_error(
    optouts: OptOuts, capsys: pytest.CaptureFixture[str]
) -> None:
    assert optouts.run("check", "12") == 1

    err = _printed(capsys).err
    assert "HTTP 400" in err
    assert "phone_too_short" in err


def test_list_prints_one_page_and_how_to_go_on(
    optouts: OptOuts, capsys: pytest.CaptureFixture[str]
) -> None:
    optouts.store.add(MANY, now=0)

    assert optouts.run("list") == 0
    out, err = _printed(capsys)
    first = out.splitlines()
    assert len(first) == 100
    [token] = re.findall(r"optout list --next=(\S+) \(or --all\)", err)

    assert optouts.run("list", "--limit", "1000", f"--next={token}") == 0
    rest = _printed(capsys).out.splitlines()
    assert sorted(first + rest) == sorted(MANY)


@pytest.mark.parametrize("limit", [[], ["--limit", "70"], ["--limit", "1000"]])
def test_list_all_prints_every_number_once(
    optouts: OptOuts, capsys: pytest.CaptureFixture[str], limit: list[str]
) -> None:
    optouts.store.add(MANY, now=0)

    assert optouts.run("list", "--all", *limit) == 0

    out, err = _printed(capsys)
    assert sorted(out.splitlines()) == sorted(MANY)
    assert err == ""


def test_list_of_nothing_prints_nothing(
    optouts: OptOuts, capsys: pytest.CaptureFixture[str]
) -> None:
    assert optouts.run("list", "--all") == 0
    assert _printed(capsys) == ("", "")


@pytest.mark.parametrize("limit", ["0", "1001", "x"])
def test_a_bad_page_size_is_a_command_line_error(optouts: OptOuts, limit: str) -> None:
    with pytest.raises(SystemExit) as exited:
        optouts.run("list", "--limit", limit)
    assert exited.value.code == 2


def test_without_a_protection_table_the_commands_fail_with_the_apis_503(
    optouts: OptOuts,
    gateway: Gateway,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(gateway, "optouts", None)

    for command in (["check", NUMBER], ["remove", NUMBER], ["list"], ["add", NUMBER]):
        assert optouts.run(*command) == 1
        err = _printed(capsys).err
        assert "HTTP 503" in err
        assert "GatewayMisconfigured" in err


def test_local_uses_the_key_in_the_local_outputs(
    optouts: OptOuts,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    local = {"ApiUrl": optouts.api_url, "ApiKey": API_KEY, "AwsEndpointUrl": "http://127.0.0.1:9"}
    write_outputs(tmp_path / "work" / ".local", local, name="outputs.json")
    monkeypatch.chdir(tmp_path / "work")

    assert main(["--local", "optout", "add", "+8613800138000"]) == 0
    assert main(["--local", "optout", "check", "008613800138000"]) == 0
    assert main(["--local", "optout", "list"]) == 0
    assert _printed(capsys).out.splitlines()[-1] == NUMBER
