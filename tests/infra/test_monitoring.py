"""Monitoring: the alarms a person must hear about reach the alarm topic (and e-mail), and
CloudWatch may publish to the encrypted topic."""

from __future__ import annotations

import json
from typing import Any

from infra import lambda_code
from infra.lambda_code import CODE_ROOT, PACKAGE_NAME
from infra.names import Metric
from tests.infra.conftest import ALARM_EMAIL, Gateway


def _alarms(gateway: Gateway) -> list[dict[str, Any]]:
    return [a["Properties"] for a in gateway.of_type("AWS::CloudWatch::Alarm").values()]


def _alarm_on(gateway: Gateway, namespace: str, metric_name: str, dimension: Any) -> dict[str, Any]:
    matches = [
        alarm
        for alarm in _alarms(gateway)
        if alarm.get("Namespace") == namespace
        and alarm.get("MetricName") == metric_name
        and dimension in [d["Value"] for d in alarm.get("Dimensions", [])]
    ]
    assert len(matches) == 1, f"expected one alarm on {namespace} {metric_name}"
    return matches[0]


def test_every_alarm_notifies_the_alarm_topic(gateway: Gateway) -> None:
    topic = gateway.ref(gateway.gateway.monitoring.alarm_topic)
    alarms = _alarms(gateway)

    assert len(alarms) >= 5
    for alarm in alarms:
        assert alarm["AlarmActions"] == [topic]
        assert alarm["OKActions"] == [topic]
        assert alarm["TreatMissingData"] == "notBreaching"


def test_a_message_in_the_dead_letter_queue_raises_an_alarm(gateway: Gateway) -> None:
    queue_name = gateway.get_att(gateway.gateway.ingress.dead_letter_queue, "QueueName")

    alarm = _alarm_on(gateway, "AWS/SQS", "ApproximateNumberOfMessagesVisible", queue_name)

    assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    assert alarm["Threshold"] == 1
    assert alarm["Statistic"] == "Maximum"


def test_a_message_waiting_through_repeated_retries_raises_an_alarm(gateway: Gateway) -> None:
    queue_name = gateway.get_att(gateway.gateway.ingress.queue, "QueueName")

    alarm = _alarm_on(gateway, "AWS/SQS", "ApproximateAgeOfOldestMessage", queue_name)

    # Beyond one retry's wait (a visibility timeout), but long before the message could
    # reach the dead-letter queue on its own.
    assert alarm["Threshold"] > lambda_code.VISIBILITY_TIMEOUT_S
    assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"


def test_function_errors_and_throttles_raise_alarms(gateway: Gateway) -> None:
    function = gateway.ref(gateway.gateway.sender.function)

    for metric_name in ("Errors", "Throttles"):
        alarm = _alarm_on(gateway, "AWS/Lambda", metric_name, function)
        assert alarm["Threshold"] == 1
        assert alarm["Statistic"] == "Sum"


def test_provider_errors_raise_an_alarm_whatever_their_dimensions(gateway: Gateway) -> None:
    queries = [
        query
        for alarm in _alarms(gateway)
        for query in alarm.get("Metrics", [])
        if Metric.PROVIDER_ERRORS in query.get("Expression", "")
    ]

    assert len(queries) == 1
    (query,) = queries
    # Metrics Insights over the namespace, not a SCHEMA(...) with a fixed dimension set.
    assert query["Expression"] == 'SELECT SUM("ProviderErrors") FROM "SmsGateway"'
    assert query["ReturnData"] is True
    assert query["Period"] > 0


def test_an_unknown_action_raises_its_own_alarm(gateway: Gateway) -> None:
    expressions = [
        query["Expression"]
        for alarm in _alarms(gateway)
        for query in alarm.get("Metrics", [])
        if "Expression" in query
    ]

    assert 'SELECT SUM("ProviderActionUnknown") FROM "SmsGateway"' in expressions


def test_alarms_are_e_mailed_when_an_address_is_given(gateway: Gateway) -> None:
    topic = gateway.ref(gateway.gateway.monitoring.alarm_topic)
    emails = [
        s["Properties"]["Endpoint"]
        for s in gateway.of_type("AWS::SNS::Subscription").values()
        if s["Properties"]["TopicArn"] == topic and s["Properties"]["Protocol"] == "email"
    ]

    assert emails == [ALARM_EMAIL]


def test_no_e_mail_subscription_without_an_address(imported_secret_gateway: Gateway) -> None:
    protocols = {
        s["Properties"]["Protocol"]
        for s in imported_secret_gateway.of_type("AWS::SNS::Subscription").values()
    }

    assert "email" not in protocols


def test_cloudwatch_may_publish_to_the_encrypted_alarm_topic(gateway: Gateway) -> None:
    monitoring, ingress = gateway.gateway.monitoring, gateway.gateway.ingress
    cloudwatch = {"Service": "cloudwatch.amazonaws.com"}
    topic = gateway.properties(monitoring.alarm_topic)
    key_policy = gateway.properties(ingress.topic_key)["KeyPolicy"]["Statement"]
    topic_policies = [
        statement
        for policy in gateway.of_type("AWS::SNS::TopicPolicy").values()
        if gateway.ref(monitoring.alarm_topic) in policy["Properties"]["Topics"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]

    assert topic["KmsMasterKeyId"] == gateway.get_att(ingress.topic_key, "Arn")
    assert any(s["Principal"] == cloudwatch and "kms:Decrypt" in s["Action"] for s in key_policy)
    publish = [s for s in topic_policies if s.get("Principal") == cloudwatch]
    assert [s["Action"] for s in publish] == ["sns:Publish"]
    # Only alarms of this account.
    assert "aws:SourceAccount" in json.dumps(publish[0]["Condition"])


def test_alarms_and_dashboard_read_metrics_the_function_emits() -> None:
    # An alarm on a name the function never emits would stay silent forever.
    sources = "".join(p.read_text() for p in (CODE_ROOT / PACKAGE_NAME).glob("*.py"))

    missing = [str(metric) for metric in Metric if f'"{metric}"' not in sources]

    assert missing == []


def test_dashboard_shows_the_gateway(gateway: Gateway) -> None:
    dashboards = list(gateway.of_type("AWS::CloudWatch::Dashboard").values())

    assert len(dashboards) == 1
    body = json.dumps(dashboards[0]["Properties"]["DashboardBody"])
    for shown in ("AWS/SQS", "AWS/Lambda", "AWS/ApiGateway", Metric.MESSAGES_SENT):
        assert shown in body
