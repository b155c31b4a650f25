"""The environment and the secret: read once, and a bad value named, never echoed."""

from __future__ import annotations

from typing import Any

import pytest

from sms_gateway.credentials import parse_secret
from sms_gateway.errors import ConfigurationError
from sms_gateway.settings import DEFAULT_IDEMPOTENCY_TTL_S, Settings
from sms_gateway.uspeedo_client import DEFAULT_ENDPOINT, Credentials


def test_defaults_from_the_contract() -> None:
    settings = Settings.from_env({"USPEEDO_SECRET_ID": "uspeedo"})

    assert settings == Settings(
        secret_id="uspeedo",
        endpoint=DEFAULT_ENDPOINT,
        action="SendUSMSMessage",
        idempotency_table=None,
        dead_letter_queue_url=None,
        default_sender_id=None,
        default_country_code="86",
        idempotency_ttl_s=DEFAULT_IDEMPOTENCY_TTL_S,
    )


def test_every_variable_is_read() -> None:
    settings = Settings.from_env(
        {
            "USPEEDO_SECRET_ID": "arn:aws:secretsmanager:us-east-1:1:secret:u",
            "USPEEDO_ENDPOINT": "http://127.0.0.1:8990/api",
            "USPEEDO_ACTION": "SendUSMSMessage",
            "IDEMPOTENCY_TABLE": "t",
            "DEAD_LETTER_QUEUE_URL": "https://sqs/dlq",
            "DEFAULT_SENDER_ID": "Acme",
            "DEFAULT_COUNTRY_CODE": "+44",
            "IDEMPOTENCY_TTL_SECONDS": "600",
        }
    )

    assert (settings.default_country_code, settings.idempotency_ttl_s) == ("44", 600)
    assert settings.default_sender_id == "Acme"


@pytest.mark.parametrize("action", ["SendUSMSMessage", "SendBatchUSMSMessage"])
def test_either_upstream_action_can_be_chosen(action: str) -> None:
    settings = Settings.from_env({"USPEEDO_SECRET_ID": "s", "USPEEDO_ACTION": f" {action} "})

    assert settings.action == action


@pytest.mark.parametrize(
    ("environ", "named"),
    [
        ({}, "USPEEDO_SECRET_ID"),
        ({"USPEEDO_SECRET_ID": "  "}, "USPEEDO_SECRET_ID"),
        ({"USPEEDO_SECRET_ID": "s", "USPEEDO_ACTION": "SendSomething"}, "USPEEDO_ACTION"),
        ({"USPEEDO_SECRET_ID": "s", "DEFAULT_COUNTRY_CODE": "999"}, "DEFAULT_COUNTRY_CODE"),
        ({"USPEEDO_SECRET_ID": "s", "IDEMPOTENCY_TTL_SECONDS": "1h"}, "IDEMPOTENCY_TTL_SECONDS"),
    ],
)
def test_bad_environment_names_the_variable(environ: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigurationError, match=named):
        Settings.from_env(environ)


def test_secret_with_and_without_account() -> None:
    assert parse_secret({"AccessKeyId": "k", "AccessKeySecret": "s"}) == Credentials("k", "s")
    assert (
        parse_secret({"AccessKeyId": "k", "AccessKeySecret": "s", "AccountId": 7}).account_id == 7
    )


@pytest.mark.parametrize(
    ("secret", "named"),
    [
        ([], "JSON object"),
        ({"AccessKeySecret": "hunter2"}, "AccessKeyId"),
        ({"AccessKeyId": "k", "AccessKeySecret": ""}, "AccessKeySecret"),
        ({"AccessKeyId": "k", "AccessKeySecret": "hunter2", "AccountId": "7"}, "AccountId"),
    ],
)
def test_malformed_secret_names_the_key_not_the_value(secret: Any, named: str) -> None:
    with pytest.raises(ConfigurationError, match=named) as caught:
        parse_secret(secret)

    assert "hunter2" not in str(caught.value)


def test_credentials_repr_hides_the_secret() -> None:
    assert "hunter2" not in repr(Credentials("k", "hunter2", 1))
