"""The contract the function, the CLI and the stack share (`sms_gateway.contract`): defined
once, importable without the function's dependencies, and what the function really uses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sms_gateway import contract
from sms_gateway.errors import GatewayError
from sms_gateway.message_input import message_json_schema
from sms_gateway.settings import Settings

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("number", "masked"),
    [
        ("8613800138000", "*********8000"),
        ("(86)13800138000", "(**)*******8000"),
        ("+14155550100", "+*******0100"),
        ("+86-138-0013-8000", "+**-***-****-8000"),
        ("10086", "*0086"),
        ("1234", "1234"),
        ("123", "123"),
        ("", ""),
    ],
)
def test_mask_phone_masks_all_but_the_last_four_digits(number: str, masked: str) -> None:
    assert contract.mask_phone(number) == masked


def _modules_loaded_by(statement: str) -> list[str]:
    """The modules a fresh Python loads for `statement`, beyond what it starts with."""
    script = (
        "import json, sys\n"
        "before = set(sys.modules)\n"
        f"{statement}\n"
        "print(json.dumps(sorted(set(sys.modules) - before)))\n"
    )
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO_ROOT / "functions"), str(REPO_ROOT)]),
    }
    done = subprocess.run(  # noqa: S603 (this Python, a fixed script)
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True
    )
    loaded: list[str] = json.loads(done.stdout)
    return loaded


def test_the_contract_needs_only_the_standard_library() -> None:
    loaded = _modules_loaded_by("import sms_gateway.contract, sms_gateway.redact")

    outside = {name for name in loaded if name.split(".")[0] not in sys.stdlib_module_names}
    assert outside == {"sms_gateway", "sms_gateway.contract", "sms_gateway.redact"}


def test_the_cli_loads_none_of_the_functions_dependencies() -> None:
    loaded = _modules_loaded_by("import smsgw.cli")

    from_the_function = {name for name in loaded if name.split(".")[0] == "sms_gateway"}
    assert from_the_function <= {"sms_gateway", "sms_gateway.contract", "sms_gateway.redact"}
    assert not [
        name
        for name in loaded
        if name.split(".")[0] in {"pydantic", "pydantic_core", "aws_lambda_powertools"}
    ]


def test_the_message_fields_are_the_models() -> None:
    assert tuple(message_json_schema()["properties"]) == contract.MESSAGE_FIELDS


def _subclasses(cls: type[GatewayError]) -> set[type[GatewayError]]:
    found = set(cls.__subclasses__())
    for sub in list(found):
        found |= _subclasses(sub)
    return found


def test_every_error_code_is_the_contracts() -> None:
    codes = {cls.code for cls in _subclasses(GatewayError) | {GatewayError}}

    assert codes <= contract.ERROR_CODES
    assert {
        contract.INVALID_MESSAGE,
        contract.PROVIDER_OUTCOME_UNKNOWN,
        contract.IDEMPOTENCY_KEY_REUSED,
    } <= codes


def test_the_default_country_code_is_the_contracts() -> None:
    assert contract.DEFAULT_COUNTRY_CODE == "86"
    assert Settings.from_env({"USPEEDO_SECRET_ID": "s"}).default_country_code == "86"
