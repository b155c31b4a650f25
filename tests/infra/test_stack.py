"""The stack as a whole: the contract's outputs, and a template cfn-lint finds no error in."""

from __future__ import annotations

import json

from cfnlint.api import lint  # type: ignore[import-untyped]

from infra.names import Output
from tests.infra.conftest import Gateway

CONTRACT_OUTPUTS = {
    "TopicArn",
    "QueueUrl",
    "DeadLetterQueueUrl",
    "ApiUrl",
    "ApiKeyId",
    "SecretArn",
    "FunctionName",
    "AlarmTopicArn",
    "PolicyParameterName",
    "EventBusName",
    "ReceiptsQueueUrl",
}


def test_outputs_are_exactly_the_contracts(gateway: Gateway) -> None:
    assert set(gateway.template["Outputs"]) == CONTRACT_OUTPUTS == {str(o) for o in Output}


def test_outputs_point_at_the_right_resources(gateway: Gateway) -> None:
    stack = gateway.gateway
    outputs = {name: output["Value"] for name, output in gateway.template["Outputs"].items()}

    assert outputs["TopicArn"] == gateway.ref(stack.ingress.topic)
    assert outputs["QueueUrl"] == gateway.ref(stack.ingress.queue)
    assert outputs["DeadLetterQueueUrl"] == gateway.ref(stack.ingress.dead_letter_queue)
    assert outputs["ApiKeyId"] == gateway.ref(stack.api.api_key)
    assert outputs["SecretArn"] == gateway.ref(stack.sender.secret)
    assert outputs["FunctionName"] == gateway.ref(stack.sender.function)
    assert outputs["AlarmTopicArn"] == gateway.ref(stack.monitoring.alarm_topic)
    assert outputs["PolicyParameterName"] == gateway.ref(stack.protection.policy_parameter)
    assert outputs["EventBusName"] == gateway.ref(stack.receipts.event_bus)
    assert outputs["ReceiptsQueueUrl"] == gateway.ref(stack.receipts.queue)
    api_url = json.dumps(outputs["ApiUrl"])
    assert json.dumps(gateway.ref(stack.api.rest_api)) in api_url
    assert api_url.startswith('{"Fn::Join": ["", ["https://"')


def test_cfn_lint_finds_no_error(gateway: Gateway, imported_secret_gateway: Gateway) -> None:
    for synthesized in (gateway, imported_secret_gateway):
        matches = lint(
            json.dumps(synthesized.template),
            # Resource types and properties differ between regions: check two of them.
            regions=["us-east-1", "ap-southeast-1"],
        )
        errors = [str(match) for match in matches if match.rule.id.startswith("E")]
        assert errors == []
