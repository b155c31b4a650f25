"""`make local` end to end: each door reaches the provider once; what cannot be sent is
parked with its reason; a transient failure is retried by redelivery and sent once."""

from __future__ import annotations

import json

from infra.names import Output
from local_gateway.gateway import LocalGateway
from tests.harness import message
from tests.integration.conftest import (
    drain_dead_letters,
    outputs_file,
    post,
    queue_is_empty,
    sandbox_of,
    wait_until,
)
from uspeedo_sandbox import Fault


def _sent_user_ids(local: LocalGateway) -> list[str]:
    return [m.body.get("UserId", "") for m in sandbox_of(local).accepted]


def test_each_door_reaches_the_provider_exactly_once(gateway: LocalGateway) -> None:
    clients, outputs = gateway.clients, gateway.outputs

    clients["sns"].publish(
        TopicArn=outputs["TopicArn"],
        Message=json.dumps(message("+8613800138000", UserId="via-sns")),
    )
    clients["sqs"].send_message(
        QueueUrl=outputs["QueueUrl"],
        MessageBody=json.dumps(message("+8613800138001", UserId="via-sqs")),
    )
    answer = post(gateway, message("+8613800138002", UserId="via-api"))
    result = gateway.invoke(message("+8613800138003", UserId="via-invoke"))

    assert answer.status == 200
    assert answer.json()["PhoneCount"] == 1
    assert result["PhoneCount"] == 1
    wait_until(lambda: len(sandbox_of(gateway).accepted) >= 4 and queue_is_empty(gateway))
    assert sorted(_sent_user_ids(gateway)) == ["via-api", "via-invoke", "via-sns", "via-sqs"]


def test_an_invalid_message_lands_in_the_dead_letter_queue_with_its_reason(
    gateway: LocalGateway,
) -> None:
    body = json.dumps({"PhoneNumbers": ["+8613800138000"], "TemplateId": "T", "Colour": "red"})
    gateway.clients["sqs"].send_message(QueueUrl=gateway.outputs["QueueUrl"], MessageBody=body)

    parked: list[dict[str, object]] = []

    def some_parked() -> bool:
        parked.extend(drain_dead_letters(gateway))
        return bool(parked)

    wait_until(some_parked)

    [entry] = parked
    assert entry["Body"] == body
    attributes = entry["Attributes"]
    assert isinstance(attributes, dict)
    assert attributes["ErrorCode"] == "InvalidMessage"
    assert "Colour" in attributes["ErrorMessage"]
    assert sandbox_of(gateway).requests == []


def test_a_transient_provider_failure_is_redelivered_and_sent_once(gateway: LocalGateway) -> None:
    sandbox = sandbox_of(gateway)
    sandbox.set_fault(Fault(kind="status", status=503, count=1, template_id="UTA-FLAKY"))
    body = message("+8613800138000", TemplateId="UTA-FLAKY", UserId="flaky-1")

    gateway.clients["sqs"].send_message(
        QueueUrl=gateway.outputs["QueueUrl"], MessageBody=json.dumps(body)
    )

    wait_until(lambda: len(sandbox.accepted) == 1 and queue_is_empty(gateway))
    assert len(sandbox.requests) == 2  # refused once, then sent on redelivery
    assert _sent_user_ids(gateway) == ["flaky-1"]
    assert drain_dead_letters(gateway) == []


def test_post_without_the_api_key_is_refused(gateway: LocalGateway) -> None:
    answer = post(gateway, message(), key=False)

    assert answer.status == 403
    assert answer.json()["Error"]["Code"] == "Forbidden"
    assert sandbox_of(gateway).requests == []


def test_the_outputs_file_has_the_stack_outputs_and_the_local_extras(gateway: LocalGateway) -> None:
    written = json.loads(outputs_file(gateway).read_text())["SmsGateway"]

    assert set(written) == {o.value for o in Output} | {
        "AwsEndpointUrl",
        "ApiKey",
        "UspeedoEndpoint",
        "EventsQueueUrl",
    }
