"""Settings: cdk.json's typed values and `-c key=value` strings both work; a bad value fails
the synth with the key's name instead of deploying something broken."""

from __future__ import annotations

import json
from typing import Any

import pytest

from infra.settings import (
    DEFAULT_DELIVERY_RATE_ALARM,
    DEFAULT_MAX_CONCURRENCY,
    DEFAULT_RECEIPT_DELAY_SECONDS,
    DEFAULT_TRAFFIC_POLICY,
    TRAFFIC_POLICY_MAX_LENGTH,
    GatewaySettings,
    SettingsError,
)
from sms_gateway.policy import parse_policy
from tests.infra.conftest import COMMAND_LINE_POLICY, cdk_json_context

TOPIC_A = "arn:aws:sns:ap-southeast-1:123456789012:orders"
TOPIC_B = "arn:aws:sns:ap-southeast-1:123456789012:signups"


def _settings(**overrides: Any) -> GatewaySettings:
    context = {**cdk_json_context(), **overrides}
    return GatewaySettings.from_context(context.get)


def test_cdk_json_defaults() -> None:
    settings = _settings()

    assert settings.secret_arn is None  # the stack creates the secret
    assert settings.sender_id is None
    assert settings.default_country_code == "86"
    assert settings.uspeedo_endpoint == "https://api.uspeedo.com/api"
    assert settings.uspeedo_action == "SendUSMSMessage"
    assert settings.max_concurrency == DEFAULT_MAX_CONCURRENCY
    assert settings.alarm_email is None
    assert settings.extra_topic_arns == ()
    assert settings.traffic_policy == parse_policy(DEFAULT_TRAFFIC_POLICY)
    assert settings.event_bus_name is None  # the stack creates the bus
    assert settings.receipt_delay_seconds == DEFAULT_RECEIPT_DELAY_SECONDS == 300
    assert settings.events_with_phone_numbers is False
    assert settings.delivery_rate_alarm == DEFAULT_DELIVERY_RATE_ALARM == 0.8


def test_cdk_json_holds_the_default_traffic_policy() -> None:
    # Written out in cdk.json for people to edit; the same document when the key is absent.
    assert cdk_json_context()["trafficPolicy"] == DEFAULT_TRAFFIC_POLICY
    policy = parse_policy(DEFAULT_TRAFFIC_POLICY)
    # It blocks nobody: every country allowed, none blocked.
    assert (policy.countries.allow, policy.countries.block) == (["*"], [])
    assert policy.enforcing


def test_cdk_json_has_every_context_key_of_the_contract() -> None:
    assert set(cdk_json_context()) >= {
        "secretArn",
        "senderId",
        "defaultCountryCode",
        "uspeedoEndpoint",
        "uspeedoAction",
        "maxConcurrency",
        "alarmEmail",
        "extraTopicArns",
        "trafficPolicy",
        "eventBusName",
        "receiptDelaySeconds",
        "eventsWithPhoneNumbers",
        "deliveryRateAlarm",
    }


def test_settings_work_without_cdk_json() -> None:
    assert GatewaySettings.from_context(lambda _key: None) == _settings()


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (f"{TOPIC_A},{TOPIC_B}", (TOPIC_A, TOPIC_B)),
        (f'["{TOPIC_A}", "{TOPIC_B}"]', (TOPIC_A, TOPIC_B)),
        ([TOPIC_A, TOPIC_A], (TOPIC_A,)),
        (f" {TOPIC_A} , ", (TOPIC_A,)),
    ],
)
def test_extra_topics_as_list_json_or_comma_separated(given: object, expected: tuple[str]) -> None:
    assert _settings(extraTopicArns=given).extra_topic_arns == expected


@pytest.mark.parametrize(("given", "expected"), [("12", 12), (12, 12), ("", 5)])
def test_max_concurrency_from_a_string_or_a_number(given: object, expected: int) -> None:
    assert _settings(maxConcurrency=given).max_concurrency == expected


def test_traffic_policy_as_an_object_or_a_json_string() -> None:
    as_object = _settings(trafficPolicy=COMMAND_LINE_POLICY)
    as_string = _settings(trafficPolicy=json.dumps(COMMAND_LINE_POLICY))

    assert as_object.traffic_policy == as_string.traffic_policy
    assert as_string.traffic_policy == parse_policy(dict(COMMAND_LINE_POLICY))
    # Written out whole: what the parameter holds parses to the same policy.
    assert parse_policy(as_string.traffic_policy_document) == as_string.traffic_policy


@pytest.mark.parametrize("unset", [None, "", "  "])
def test_no_traffic_policy_means_the_default(unset: object) -> None:
    assert _settings(trafficPolicy=unset).traffic_policy == parse_policy(DEFAULT_TRAFFIC_POLICY)


def test_a_traffic_policy_too_long_for_its_parameter_is_refused() -> None:
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    countries = [f"{a}{b}" for a in letters for b in letters]
    policy = {"Countries": {"Allow": countries}}

    with pytest.raises(SettingsError, match=f"at most {TRAFFIC_POLICY_MAX_LENGTH}"):
        _settings(trafficPolicy=policy)


def test_country_code_as_a_number() -> None:
    assert _settings(defaultCountryCode=44).default_country_code == "44"


@pytest.mark.parametrize(
    ("arn", "complete"),
    [
        ("arn:aws:secretsmanager:eu-west-1:123456789012:secret:uspeedo-AbC123", True),
        ("arn:aws:secretsmanager:eu-west-1:123456789012:secret:uspeedo", False),
    ],
)
def test_secret_arn_with_or_without_its_random_suffix(arn: str, complete: bool) -> None:
    settings = _settings(secretArn=arn)

    assert settings.secret_arn == arn
    assert settings.secret_arn_is_complete is complete


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("secretArn", "uspeedo-credentials"),
        ("senderId", "TwelveChars!"),
        ("defaultCountryCode", "+86"),
        ("defaultCountryCode", "0086"),
        ("uspeedoEndpoint", "http://api.uspeedo.com/api"),
        ("uspeedoAction", "SendSms"),
        ("maxConcurrency", 1),
        ("maxConcurrency", "1001"),
        ("maxConcurrency", "five"),
        ("maxConcurrency", True),
        ("alarmEmail", "oncall"),
        ("extraTopicArns", "arn:aws:sqs:eu-west-1:123456789012:not-a-topic"),
        ("extraTopicArns", {"topic": TOPIC_A}),
        ("trafficPolicy", '{"Mode": "x"}'),
        ("trafficPolicy", "{not json"),
        ("trafficPolicy", ["Enforce"]),
        ("trafficPolicy", {"Limits": [{"Scope": "Prefix", "Count": 5, "Seconds": 60}]}),
        ("trafficPolicy", {"Countries": {"Block": ["russia"]}}),
        ("eventBusName", "aws.partner/acme.com/123/events"),
        ("eventBusName", "arn:aws:sns:eu-west-1:123456789012:not-a-bus"),
        ("eventBusName", "arn:aws:events:eu-west-1:123456789012:rule/not-a-bus"),
        ("eventBusName", ["existing"]),
        ("receiptDelaySeconds", 0),
        ("receiptDelaySeconds", "901"),
        ("receiptDelaySeconds", "5m"),
        ("receiptDelaySeconds", 30.5),
        ("receiptDelaySeconds", "²"),
        ("eventBusName", "événements"),
        ("eventsWithPhoneNumbers", "yes"),
        ("eventsWithPhoneNumbers", 1),
        ("deliveryRateAlarm", 80),
        ("deliveryRateAlarm", "-0.1"),
        ("deliveryRateAlarm", "80%"),
        ("deliveryRateAlarm", "nan"),
        ("deliveryRateAlarm", True),
    ],
)
def test_a_bad_value_names_its_key(key: str, value: object) -> None:
    with pytest.raises(SettingsError, match=f"^{key}: "):
        _settings(**{key: value})


@pytest.mark.parametrize(
    "bus",
    [
        "existing",
        "default",
        "orders.events_v2",
        "arn:aws:events:eu-west-1:123456789012:event-bus/existing",
        "arn:aws-cn:events:cn-north-1:123456789012:event-bus/default",
    ],
)
def test_an_existing_event_bus_by_name_or_arn(bus: str) -> None:
    assert _settings(eventBusName=f" {bus} ").event_bus_name == bus


@pytest.mark.parametrize(
    ("key", "given", "expected"),
    [
        ("receiptDelaySeconds", "60", 60),
        ("receiptDelaySeconds", 900, 900),
        ("receiptDelaySeconds", "", 300),
        ("eventsWithPhoneNumbers", "true", True),
        ("eventsWithPhoneNumbers", "False", False),
        ("eventsWithPhoneNumbers", True, True),
        ("eventsWithPhoneNumbers", "", False),
        ("deliveryRateAlarm", "0.75", 0.75),
        ("deliveryRateAlarm", 1, 1.0),
        ("deliveryRateAlarm", 0, 0.0),
        ("deliveryRateAlarm", "", 0.8),
    ],
)
def test_event_settings_from_strings_or_json_values(
    key: str, given: object, expected: object
) -> None:
    field = {
        "receiptDelaySeconds": "receipt_delay_seconds",
        "eventsWithPhoneNumbers": "events_with_phone_numbers",
        "deliveryRateAlarm": "delivery_rate_alarm",
    }[key]

    assert getattr(_settings(**{key: given}), field) == expected
