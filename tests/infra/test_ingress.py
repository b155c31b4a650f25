"""Ingress: the topic delivers raw to the queue, everything is encrypted and TLS-only, and a
message that keeps failing ends in the dead-letter queue instead of being lost."""

from __future__ import annotations

import json
from typing import Any

from aws_cdk import aws_sqs as sqs

from infra import lambda_code
from infra.queue_settings import MAX_RECEIVE_COUNT
from tests.infra.conftest import EXTRA_TOPIC_ARN, Gateway


def _denies_insecure_transport(statement: dict[str, Any]) -> bool:
    return (
        statement["Effect"] == "Deny"
        and statement.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}
        and statement["Principal"] in ("*", {"AWS": "*"})
    )


def _queue_policy_statements(gateway: Gateway, queue: sqs.Queue) -> list[dict[str, Any]]:
    ref = gateway.ref(queue)
    return [
        statement
        for policy in gateway.of_type("AWS::SQS::QueuePolicy").values()
        if ref in policy["Properties"]["Queues"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def test_topic_delivers_raw_messages_to_the_queue(gateway: Gateway) -> None:
    ingress = gateway.gateway.ingress
    subscriptions = [
        s["Properties"]
        for s in gateway.of_type("AWS::SNS::Subscription").values()
        if s["Properties"]["TopicArn"] == gateway.ref(ingress.topic)
    ]

    assert len(subscriptions) == 1
    (subscription,) = subscriptions
    assert subscription["Protocol"] == "sqs"
    assert subscription["Endpoint"] == gateway.get_att(ingress.queue, "Arn")
    # The queue's body is then the message itself, exactly as if it was sent to the queue.
    assert subscription["RawMessageDelivery"] is True
    # A message SNS cannot deliver is parked, not dropped.
    assert subscription["RedrivePolicy"] == {
        "deadLetterTargetArn": gateway.get_att(ingress.dead_letter_queue, "Arn")
    }


def test_repeated_failures_end_in_the_dead_letter_queue(gateway: Gateway) -> None:
    ingress = gateway.gateway.ingress

    redrive = gateway.properties(ingress.queue)["RedrivePolicy"]

    assert redrive["deadLetterTargetArn"] == gateway.get_att(ingress.dead_letter_queue, "Arn")
    assert redrive["maxReceiveCount"] == MAX_RECEIVE_COUNT
    # AWS's floor for Lambda consumers: throttling alone must not park a message.
    assert MAX_RECEIVE_COUNT >= 5


def test_visibility_timeout_is_at_least_six_function_timeouts(gateway: Gateway) -> None:
    queue = gateway.properties(gateway.gateway.ingress.queue)
    function = gateway.properties(gateway.gateway.sender.function)

    assert queue["VisibilityTimeout"] >= 6 * function["Timeout"]
    # Derived from the function's own time budget, not written twice.
    assert queue["VisibilityTimeout"] == lambda_code.VISIBILITY_TIMEOUT_S


def test_topic_and_queues_are_encrypted_with_rotating_customer_keys(gateway: Gateway) -> None:
    ingress = gateway.gateway.ingress
    encrypted_by = {
        "topic": gateway.properties(ingress.topic)["KmsMasterKeyId"],
        "queue": gateway.properties(ingress.queue)["KmsMasterKeyId"],
        "dead-letter queue": gateway.properties(ingress.dead_letter_queue)["KmsMasterKeyId"],
    }

    assert encrypted_by == {
        "topic": gateway.get_att(ingress.topic_key, "Arn"),
        "queue": gateway.get_att(ingress.queue_key, "Arn"),
        "dead-letter queue": gateway.get_att(ingress.queue_key, "Arn"),
    }
    for key in (ingress.topic_key, ingress.queue_key):
        assert gateway.properties(key)["EnableKeyRotation"] is True


def test_queues_refuse_requests_without_tls(gateway: Gateway) -> None:
    ingress = gateway.gateway.ingress
    for queue in (ingress.queue, ingress.dead_letter_queue):
        statements = _queue_policy_statements(gateway, queue)
        assert any(_denies_insecure_transport(s) and s["Action"] == "sqs:*" for s in statements), (
            queue.node.path
        )


def test_topics_refuse_publishing_without_tls(gateway: Gateway) -> None:
    topics = [gateway.gateway.ingress.topic, gateway.gateway.monitoring.alarm_topic]
    policies = gateway.of_type("AWS::SNS::TopicPolicy").values()
    for topic in topics:
        statements = [
            statement
            for policy in policies
            if gateway.ref(topic) in policy["Properties"]["Topics"]
            for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        ]
        assert any(
            _denies_insecure_transport(s) and s["Action"] == "sns:Publish" for s in statements
        ), topic.node.path


def test_sns_may_use_the_queue_key_only_for_our_topics(gateway: Gateway) -> None:
    ingress = gateway.gateway.ingress
    key_policy = gateway.properties(ingress.queue_key)["KeyPolicy"]["Statement"]

    sns_grants = [s for s in key_policy if s["Principal"] == {"Service": "sns.amazonaws.com"}]

    # One grant per topic that writes to our queues (ours, and the extra topic's
    # subscription dead-letter queue), each tied to that topic's ARN.
    sources = sorted(
        json.dumps(s["Condition"]["ArnEquals"]["aws:SourceArn"], sort_keys=True) for s in sns_grants
    )
    assert sources == sorted(
        json.dumps(arn, sort_keys=True) for arn in (gateway.ref(ingress.topic), EXTRA_TOPIC_ARN)
    )
