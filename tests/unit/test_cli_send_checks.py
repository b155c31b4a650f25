"""`smsgw send` checks the message with the gateway's own model before any door gets it:
what the gateway would refuse is refused here (exit 1, the field errors, nothing sent),
whichever door. A number without a country code is refused only when it is wrong under
every default country code (the deployed one is not known to the CLI)."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest

from smsgw.cli import main
from smsgw.model_check import ModelCheck, takes_the_default
from tests.unit.test_cli_harness import API_KEY, FakeApi, Stack, write_outputs

DOORS = ("sns", "sqs", "api")
GOOD = ["--to", "+8613800138000", "--template", "UTA1", "--param", "739201"]
RESULT = {"SessionNos": ["S-1"], "PhoneCount": 1, "IdempotentReplay": False}


@pytest.fixture
def api(api: FakeApi) -> FakeApi:
    """conftest's stand-in, accepting every message."""
    api.answer("POST", "/messages", 200, RESULT)
    return api


@pytest.fixture
def outputs(stack: Stack, api: FakeApi, tmp_path: Path) -> str:
    """conftest's outputs with the stand-in API and a key of moto's, so every door works."""
    key_id = boto3.client("apigateway").create_api_key(name="k", value=API_KEY, enabled=True)["id"]
    return str(write_outputs(tmp_path, stack.outputs(ApiUrl=api.url, ApiKeyId=key_id)))


def _sent(stack: Stack, api: FakeApi) -> int:
    """Messages that reached a door: the queue (SNS delivers there too) or the API."""
    return len(stack.drain(stack.queue_url)) + len(api.requests)


BROKEN = {
    "a number too short": (
        ["--to", "+86123", "--template", "UTA1"],
        "PhoneNumbers[0]: is too short to be a phone number of its country",
    ),
    "a number with letters": (
        ["--to", "+8613800138000", "+86138OO138000", "--template", "UTA1"],
        "PhoneNumbers[1]: may contain only digits",
    ),
    "an empty template": (
        ["--to", "+8613800138000", "--template", " "],
        "TemplateId: must not be empty or whitespace only",
    ),
    "15,000 numbers": (
        ["--to", ",".join(["+8613800138000"] * 15_000), "--template", "UTA1"],
        "PhoneNumbers: must have at most 10,000 items",
    ),
    "a sender id too long": (
        [*GOOD, "--sender-id", "TwelveLetter"],
        "SenderId: must be at most 11 characters",
    ),
    "a key too long": ([*GOOD, "--key", "k" * 129], "IdempotencyKey: must be at most 128"),
    "a national number wrong in every country": (
        ["--to", "1", "--template", "UTA1"],
        "PhoneNumbers[0]: is too short",
    ),
}


@pytest.mark.parametrize("door", DOORS)
@pytest.mark.parametrize("case", sorted(BROKEN))
def test_what_the_gateway_would_refuse_is_not_sent(
    case: str,
    door: str,
    stack: Stack,
    api: FakeApi,
    outputs: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    arguments, error = BROKEN[case]

    code = main(["--outputs", outputs, "send", *arguments, "--via", door])

    out, err = capsys.readouterr()
    assert code == 1
    assert out == ""
    assert "not sent: the gateway would refuse this message:" in err
    assert error in err
    assert "138000" not in err  # the field is named, the value never shown
    assert _sent(stack, api) == 0


@pytest.mark.parametrize("door", DOORS)
def test_a_good_message_goes_through_every_door(
    door: str, stack: Stack, api: FakeApi, outputs: str
) -> None:
    assert main(["--outputs", outputs, "send", *GOOD, "--via", door]) == 0
    assert _sent(stack, api) == 1


@pytest.mark.parametrize("door", DOORS)
def test_a_national_number_valid_under_another_default_is_left_to_the_gateway(
    door: str, stack: Stack, api: FakeApi, outputs: str
) -> None:
    # Not a number in China (the contract's default): a French mobile written nationally.
    # A stack deployed with DEFAULT_COUNTRY_CODE=33 sends it, so the CLI must not refuse it.
    number = "06 12 34 56 78"

    code = main(["--outputs", outputs, "send", "--to", number, "--template", "UTA1", "--via", door])

    assert code == 0
    [body] = [json.loads(m["Body"]) for m in stack.drain(stack.queue_url)] or [
        json.loads(r.body) for r in api.requests
    ]
    assert body["PhoneNumbers"] == [number]  # as typed: the gateway normalises


def test_only_numbers_without_a_country_code_take_the_default() -> None:
    assert takes_the_default("13800138000")
    assert takes_the_default("(010) 1234 5678")  # a trunk prefix, not a country code
    for written in ("+8613800138000", "008613800138000", "(86)13800138000", "x1", "", 86):
        assert not takes_the_default(written)


def test_a_repeat_is_refused_only_when_it_repeats_under_any_default() -> None:
    def refused(first: str, second: str) -> bool:
        message = {
            "Recipients": [
                {"PhoneNumber": first, "TemplateParams": ["1"]},
                {"PhoneNumber": second, "TemplateParams": ["2"]},
            ],
            "TemplateId": "T",
        }
        return [e.rule for e in ModelCheck().problems(message)] == ["duplicate_recipient"]

    assert refused("+8613800138000", "(86)138-0013-8000")  # both with the country code
    assert refused("13800138000", "138 0013 8000")  # both without, the same digits
    # The same number only if the gateway's default is 86.
    assert not refused("13800138000", "+8613800138000")
    assert not refused("+8613800138000", "13800138000")


def test_looking_through_every_country_is_bounded() -> None:
    # Wrong everywhere: each costs a look through every country code, up to the budget;
    # past it the rest are left to the gateway rather than refused unchecked.
    message = {"PhoneNumbers": ["1", "2", "3"], "TemplateId": "T"}

    assert [e.field for e in ModelCheck(lookup_budget=2).problems(message)] == [
        "PhoneNumbers[0]",
        "PhoneNumbers[1]",
    ]
