"""Delivery status events, the stack side: the receipts queue (encrypted, with its own
dead-letter queue) feeding the same function, the bus (the stack's own or an existing
one) it may publish to and nothing else, the function's variables, the settings that
shape them, the outputs, and the alarms and graphs on delivery."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest

import app as cdk_app
from infra import lambda_code
from infra.delivery_monitoring import MIN_RECEIPTS
from infra.queue_settings import MAX_RECEIVE_COUNT
from infra.settings import SettingsError
from tests.infra.conftest import (
    EXISTING_EVENT_BUS,
    FULL_FEATURES,
    IMPORTED_SECRET,
    Gateway,
    app_context,
    synth_gateway,
)

Json = dict[str, Any]
BUS_ARN = "arn:aws:events:ap-southeast-1:123456789012:event-bus/orders"
DELIVERY_METRICS = {"Delivered", "DeliveryFailed", "DeliveryUnknown"}


@pytest.fixture(scope="module")
def bus_by_arn(tmp_path_factory: pytest.TempPathFactory) -> Gateway:
    """The stack with an existing bus given by its ARN."""
    return synth_gateway({"eventBusName": BUS_ARN}, Path(tmp_path_factory.mktemp("cdk.out")))


def _environment(gateway: Gateway) -> Json:
    variables: Json = gateway.properties(gateway.gateway.sender.function)["Environment"][
        "Variables"
    ]
    return variables


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


# --- the queue ----------------------------------------------------------------------------


def test_the_queue_and_its_dead_letter_queue_are_encrypted_with_the_queue_key(
    gateway: Gateway,
) -> None:
    receipts, ingress = gateway.gateway.receipts, gateway.gateway.ingress
    key = gateway.get_att(ingress.queue_key, "Arn")
    queue = gateway.properties(receipts.queue)
    dead_letter_queue = gateway.properties(receipts.dead_letter_queue)

    assert queue["KmsMasterKeyId"] == key
    assert dead_letter_queue["KmsMasterKeyId"] == key
    # Its own dead-letter queue: a failed check is not mistaken for a message not sent.
    assert queue["RedrivePolicy"] == {
        "deadLetterTargetArn": gateway.get_att(receipts.dead_letter_queue, "Arn"),
        "maxReceiveCount": MAX_RECEIVE_COUNT,
    }
    assert receipts.dead_letter_queue is not ingress.dead_letter_queue
    # A batch of checks being worked on is never handed to a second invocation.
    assert queue["VisibilityTimeout"] >= 6 * lambda_code.FUNCTION_TIMEOUT_S


def test_both_queues_refuse_requests_without_tls(gateway: Gateway) -> None:
    receipts = gateway.gateway.receipts

    for queue in (receipts.queue, receipts.dead_letter_queue):
        denials = [
            statement
            for policy in gateway.of_type("AWS::SQS::QueuePolicy").values()
            if gateway.ref(queue) in policy["Properties"]["Queues"]
            for statement in policy["Properties"]["PolicyDocument"]["Statement"]
            if statement["Effect"] == "Deny"
        ]
        assert [d["Condition"] for d in denials] == [{"Bool": {"aws:SecureTransport": "false"}}]
        assert gateway.get_att(queue, "Arn") in _listed(denials[0]["Resource"])


def test_the_function_knows_the_queue_the_delay_the_bus_and_the_numbers_choice(
    gateway: Gateway,
) -> None:
    receipts = gateway.gateway.receipts
    environment = _environment(gateway)

    assert environment["RECEIPTS_QUEUE_URL"] == gateway.ref(receipts.queue)
    assert environment["RECEIPT_DELAY_SECONDS"] == str(FULL_FEATURES["receiptDelaySeconds"])
    # The created bus's name (its Ref), not its ARN.
    assert environment["EVENT_BUS_NAME"] == gateway.ref(receipts.event_bus)
    assert environment["EVENTS_WITH_PHONE_NUMBERS"] == "true"


def test_command_line_values_reach_the_function(imported_secret_gateway: Gateway) -> None:
    environment = _environment(imported_secret_gateway)

    assert environment["RECEIPT_DELAY_SECONDS"] == IMPORTED_SECRET["receiptDelaySeconds"] == "60"
    assert environment["EVENTS_WITH_PHONE_NUMBERS"] == "false"
    assert environment["EVENT_BUS_NAME"] == EXISTING_EVENT_BUS


# --- the bus and the function's grants ----------------------------------------------------


def _event_grants(gateway: Gateway) -> list[tuple[tuple[str, ...], tuple[Any, ...]]]:
    return [
        (s.actions, s.resources)
        for s in gateway.iam_statements()
        if any(a.startswith("events:") for a in s.actions)
    ]


def test_the_function_publishes_to_the_stacks_own_bus_only(gateway: Gateway) -> None:
    receipts = gateway.gateway.receipts

    assert len(gateway.of_type("AWS::Events::EventBus")) == 1
    assert _event_grants(gateway) == [
        (("events:PutEvents",), (gateway.get_att(receipts.event_bus, "Arn"),))
    ]


def test_an_existing_bus_by_name_is_used_not_created(imported_secret_gateway: Gateway) -> None:
    gateway = imported_secret_gateway
    ((actions, (resource,)),) = _event_grants(gateway)
    outputs = gateway.template["Outputs"]

    assert gateway.of_type("AWS::Events::EventBus") == {}
    assert actions == ("events:PutEvents",)
    # arn:<partition>:events:<region>:<account>:event-bus/existing: that bus, no wildcard.
    parts = resource["Fn::Join"][1]
    assert parts[-1] == f":event-bus/{EXISTING_EVENT_BUS}"
    assert {"Ref": "AWS::AccountId"} in parts
    assert "*" not in json.dumps(resource)
    assert outputs["EventBusName"]["Value"] == EXISTING_EVENT_BUS


def test_an_existing_bus_by_arn_is_named_in_the_variable_and_granted_by_arn(
    bus_by_arn: Gateway,
) -> None:
    assert bus_by_arn.of_type("AWS::Events::EventBus") == {}
    assert _event_grants(bus_by_arn) == [(("events:PutEvents",), (BUS_ARN,))]
    assert _environment(bus_by_arn)["EVENT_BUS_NAME"] == "orders"
    assert bus_by_arn.template["Outputs"]["EventBusName"]["Value"] == "orders"


def test_the_function_sends_checks_to_the_receipts_queue_and_consumes_it(
    gateway: Gateway,
) -> None:
    receipts, ingress = gateway.gateway.receipts, gateway.gateway.ingress
    queue = gateway.get_att(receipts.queue, "Arn")
    sends = {
        json.dumps(r)
        for s in gateway.iam_statements()
        if "sqs:SendMessage" in s.actions
        for r in s.resources
    }
    consumes = [s for s in gateway.iam_statements() if "sqs:ReceiveMessage" in s.actions]

    # Checks are scheduled on the receipts queue; rejects still go to the messages' DLQ.
    # Never to the receipts dead-letter queue, nor to the messages' queue.
    assert sends == {
        json.dumps(queue),
        json.dumps(gateway.get_att(ingress.dead_letter_queue, "Arn")),
    }
    assert [queue in s.resources for s in consumes] == [True]
    assert "sqs:DeleteMessage" in consumes[0].actions


# --- settings that fail the synth ---------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("eventBusName", "arn:aws:events:eu-west-1:123456789012:rule/orders"),
        ("eventBusName", "two words"),
        ("receiptDelaySeconds", "0"),
        ("receiptDelaySeconds", 901),
        ("eventsWithPhoneNumbers", "maybe"),
        ("deliveryRateAlarm", "1.5"),
        ("deliveryRateAlarm", "eighty"),
    ],
)
def test_a_bad_value_fails_the_synth_naming_its_key(key: str, value: object) -> None:
    app = cdk.App(context=app_context({key: value}))

    with pytest.raises(SettingsError, match=f"^{key}: "):
        cdk_app.build(app)


# --- outputs ------------------------------------------------------------------------------


def test_the_bus_and_the_queue_are_outputs(gateway: Gateway) -> None:
    receipts = gateway.gateway.receipts
    outputs = gateway.template["Outputs"]

    assert outputs["EventBusName"]["Value"] == gateway.ref(receipts.event_bus)
    assert outputs["ReceiptsQueueUrl"]["Value"] == gateway.ref(receipts.queue)


# --- alarms and the dashboard -------------------------------------------------------------


def _delivery_rate_alarm(gateway: Gateway) -> Json:
    alarm: Json
    (alarm,) = [
        a["Properties"]
        for a in gateway.of_type("AWS::CloudWatch::Alarm").values()
        if {
            m.get("MetricStat", {}).get("Metric", {}).get("MetricName")
            for m in a["Properties"].get("Metrics", [])
        }
        >= DELIVERY_METRICS
    ]
    return alarm


def test_a_low_delivery_rate_raises_an_alarm_once_there_are_enough_receipts(
    gateway: Gateway,
) -> None:
    alarm = _delivery_rate_alarm(gateway)
    queries = {m["Id"]: m for m in alarm["Metrics"]}
    (watched,) = [m for m in alarm["Metrics"] if m["ReturnData"]]

    assert alarm["Threshold"] == FULL_FEATURES["deliveryRateAlarm"] == 0.9
    assert alarm["ComparisonOperator"] == "LessThanThreshold"
    assert alarm["TreatMissingData"] == "notBreaching"
    assert alarm["AlarmActions"] == [gateway.ref(gateway.gateway.monitoring.alarm_topic)]
    # The share delivered, taken only with enough receipts to mean something; 1 (fine)
    # otherwise.
    assert MIN_RECEIPTS == 20
    assert watched["Expression"] == "IF(receipts >= 20, FILL(delivered, 0) / receipts, 1)"
    assert queries["receipts"]["Expression"] == (
        "FILL(delivered, 0) + FILL(failed, 0) + FILL(unknown, 0)"
    )
    # Each outcome summed over the hour and over every country (the service-only series).
    for query_id, metric_name in (
        ("delivered", "Delivered"),
        ("failed", "DeliveryFailed"),
        ("unknown", "DeliveryUnknown"),
    ):
        stat = queries[query_id]["MetricStat"]
        assert stat["Metric"] == {
            "Namespace": "SmsGateway",
            "MetricName": metric_name,
            "Dimensions": [{"Name": "service", "Value": "sms-gateway"}],
        }
        assert (stat["Stat"], stat["Period"]) == ("Sum", 3600)


def test_the_alarms_threshold_comes_from_the_context(imported_secret_gateway: Gateway) -> None:
    alarm = _delivery_rate_alarm(imported_secret_gateway)

    assert alarm["Threshold"] == float(IMPORTED_SECRET["deliveryRateAlarm"]) == 0.75
    assert "75%" in alarm["AlarmDescription"]


def test_a_check_in_the_receipts_dead_letter_queue_raises_an_alarm(gateway: Gateway) -> None:
    queue_name = gateway.get_att(gateway.gateway.receipts.dead_letter_queue, "QueueName")
    (alarm,) = [
        a["Properties"]
        for a in gateway.of_type("AWS::CloudWatch::Alarm").values()
        if a["Properties"].get("MetricName") == "ApproximateNumberOfMessagesVisible"
        and a["Properties"]["Dimensions"] == [{"Name": "QueueName", "Value": queue_name}]
    ]

    assert (alarm["Statistic"], alarm["Threshold"]) == ("Maximum", 1)
    assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    assert alarm["AlarmActions"] == [gateway.ref(gateway.gateway.monitoring.alarm_topic)]


def _dashboard_widgets(gateway: Gateway) -> list[Json]:
    (dashboard,) = gateway.of_type("AWS::CloudWatch::Dashboard").values()
    parts = dashboard["Properties"]["DashboardBody"]["Fn::Join"][1]
    body = json.loads("".join(p if isinstance(p, str) else "x" for p in parts))
    widgets: list[Json] = body["widgets"]
    return widgets


def test_the_dashboard_shows_outcomes_by_country_and_the_delivery_rate(gateway: Gateway) -> None:
    widgets = _dashboard_widgets(gateway)
    expressions = {
        entry["expression"]: widget["properties"]
        for widget in widgets
        for line in widget["properties"].get("metrics", [])
        for entry in line
        if isinstance(entry, dict) and "expression" in entry
    }

    # One series per country, from the per-country series only (no "Other" for the sums).
    for metric in sorted(DELIVERY_METRICS):
        query = (
            f'SELECT SUM("{metric}") FROM SCHEMA("SmsGateway", "Country", "service") '  # noqa: S608 (expected text)
            'GROUP BY "Country"'
        )
        assert [e for e in expressions if e.startswith(query)], query
    rate = expressions["FILL(delivered, 0) / receipts"]
    assert rate["annotations"]["horizontal"][0]["value"] == FULL_FEATURES["deliveryRateAlarm"]
    assert rate["yAxis"]["left"]["max"] == 1
    alarms = [w for w in widgets if w["properties"].get("alarms")]
    assert len(alarms[0]["properties"]["alarms"]) == len(gateway.of_type("AWS::CloudWatch::Alarm"))
