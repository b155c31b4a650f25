"""The sender: the contract's runtime and environment, a timeout from the time budget, the
queue's partial batch failures and concurrency cap, and no permission beyond its needs."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_sns as sns

import app as cdk_app
from infra import lambda_code
from infra.names import FUNCTION_HANDLER, METRICS_NAMESPACE
from infra.queue_settings import BATCH_SIZE
from tests.infra.conftest import (
    EXTRA_TOPIC_ARN,
    FULL_FEATURES,
    IMPORTED_SECRET,
    IMPORTED_SECRET_ARN,
    Gateway,
    app_context,
)

CONTRACT_ENVIRONMENT = {
    "USPEEDO_SECRET_ID",
    "USPEEDO_ENDPOINT",
    "USPEEDO_ACTION",
    "IDEMPOTENCY_TABLE",
    "DEAD_LETTER_QUEUE_URL",
    "DEFAULT_SENDER_ID",
    "DEFAULT_COUNTRY_CODE",
    "GATEWAY_KEY_SECRET_ID",
    "TRAFFIC_POLICY_PARAMETER",
    "PROTECTION_TABLE",
    "POWERTOOLS_SERVICE_NAME",
    "POWERTOOLS_METRICS_NAMESPACE",
    "RECEIPTS_QUEUE_URL",
    "RECEIPT_DELAY_SECONDS",
    "EVENT_BUS_NAME",
    "EVENTS_WITH_PHONE_NUMBERS",
}


def _function(gateway: Gateway) -> dict[str, Any]:
    return gateway.properties(gateway.gateway.sender.function)


def test_function_runs_the_contract_handler_on_python_313_arm64(gateway: Gateway) -> None:
    function = _function(gateway)

    assert function["Runtime"] == "python3.13"
    assert function["Architectures"] == ["arm64"]
    assert function["Handler"] == FUNCTION_HANDLER == "sms_gateway.handler.lambda_handler"


def test_timeout_comes_from_the_time_budget(gateway: Gateway) -> None:
    timeout = _function(gateway)["Timeout"]

    assert timeout == lambda_code.FUNCTION_TIMEOUT_S
    # Room for several worst-case provider calls, so no call is cut in half.
    assert timeout >= 3 * lambda_code.WORST_CASE_CALL_S


def test_environment_points_at_the_stacks_resources(gateway: Gateway) -> None:
    sender, ingress = gateway.gateway.sender, gateway.gateway.ingress
    environment = _function(gateway)["Environment"]["Variables"]

    assert set(environment) >= CONTRACT_ENVIRONMENT
    assert environment["USPEEDO_SECRET_ID"] == gateway.ref(sender.secret)
    assert environment["GATEWAY_KEY_SECRET_ID"] == gateway.ref(sender.gateway_key)
    assert environment["IDEMPOTENCY_TABLE"] == gateway.ref(sender.table)
    assert environment["DEAD_LETTER_QUEUE_URL"] == gateway.ref(ingress.dead_letter_queue)
    assert environment["POWERTOOLS_METRICS_NAMESPACE"] == METRICS_NAMESPACE == "SmsGateway"
    assert environment["DEFAULT_SENDER_ID"] == FULL_FEATURES["senderId"]
    assert environment["USPEEDO_ENDPOINT"] == "https://api.uspeedo.com/api"
    assert environment["USPEEDO_ACTION"] == "SendUSMSMessage"
    assert environment["DEFAULT_COUNTRY_CODE"] == "86"
    # Events carry phone numbers and one-time codes.
    assert environment["POWERTOOLS_LOGGER_LOG_EVENT"] == "false"
    assert environment["POWERTOOLS_TRACER_CAPTURE_RESPONSE"] == "false"


def test_context_values_given_as_strings_reach_the_function(
    imported_secret_gateway: Gateway,
) -> None:
    gateway = imported_secret_gateway
    environment = _function(gateway)["Environment"]["Variables"]
    mappings = gateway.of_type("AWS::Lambda::EventSourceMapping").values()

    assert environment["USPEEDO_ACTION"] == IMPORTED_SECRET["uspeedoAction"]
    assert environment["DEFAULT_COUNTRY_CODE"] == IMPORTED_SECRET["defaultCountryCode"]
    # No senderId in context: the variable is absent, not empty.
    assert "DEFAULT_SENDER_ID" not in environment
    # Both queues' mappings (messages, receipt checks) take the cap.
    assert [m["Properties"]["ScalingConfig"]["MaximumConcurrency"] for m in mappings] == [3, 3]


def test_function_logs_json_to_its_own_log_group_with_retention(gateway: Gateway) -> None:
    sender = gateway.gateway.sender
    logging = _function(gateway)["LoggingConfig"]

    assert logging["LogGroup"] == gateway.ref(sender.log_group)
    assert logging["LogFormat"] == "JSON"
    assert gateway.properties(sender.log_group)["RetentionInDays"] > 0


def test_tracing_is_active(gateway: Gateway) -> None:
    assert _function(gateway)["TracingConfig"] == {"Mode": "Active"}


# The message queue, and the receipts queue (delivery status events): the same function.
@pytest.mark.parametrize("source", ["ingress", "receipts"])
def test_each_queue_feeds_batches_with_partial_failures_and_a_concurrency_cap(
    gateway: Gateway, source: str
) -> None:
    queue, sender = getattr(gateway.gateway, source).queue, gateway.gateway.sender
    mappings = [
        m["Properties"]
        for m in gateway.of_type("AWS::Lambda::EventSourceMapping").values()
        if m["Properties"]["EventSourceArn"] == gateway.get_att(queue, "Arn")
    ]

    assert len(mappings) == 1
    (mapping,) = mappings
    assert mapping["FunctionName"] == gateway.ref(sender.function)
    assert mapping["BatchSize"] == BATCH_SIZE == 10
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["ScalingConfig"] == {"MaximumConcurrency": FULL_FEATURES["maxConcurrency"]}


def test_failed_asynchronous_invocations_go_to_the_dead_letter_queue(gateway: Gateway) -> None:
    ingress, sender = gateway.gateway.ingress, gateway.gateway.sender
    configs = [c["Properties"] for c in gateway.of_type("AWS::Lambda::EventInvokeConfig").values()]

    assert len(configs) == 1
    (config,) = configs
    assert config["FunctionName"] == gateway.ref(sender.function)
    assert config["DestinationConfig"]["OnFailure"]["Destination"] == gateway.get_att(
        ingress.dead_letter_queue, "Arn"
    )


def test_extra_topics_invoke_the_function_with_a_dead_letter_queue(gateway: Gateway) -> None:
    ingress, sender = gateway.gateway.ingress, gateway.gateway.sender
    subscriptions = [
        s["Properties"]
        for s in gateway.of_type("AWS::SNS::Subscription").values()
        if s["Properties"]["TopicArn"] == EXTRA_TOPIC_ARN
    ]
    permissions = [
        p["Properties"]
        for p in gateway.of_type("AWS::Lambda::Permission").values()
        if p["Properties"].get("SourceArn") == EXTRA_TOPIC_ARN
    ]

    assert len(subscriptions) == 1
    (subscription,) = subscriptions
    assert subscription["Protocol"] == "lambda"
    assert subscription["Endpoint"] == gateway.get_att(sender.function, "Arn")
    assert subscription["RedrivePolicy"] == {
        "deadLetterTargetArn": gateway.get_att(ingress.dead_letter_queue, "Arn")
    }
    assert [p["Principal"] for p in permissions] == ["sns.amazonaws.com"]


def test_no_extra_topic_is_subscribed_by_default(imported_secret_gateway: Gateway) -> None:
    protocols = [
        s["Properties"]["Protocol"]
        for s in imported_secret_gateway.of_type("AWS::SNS::Subscription").values()
    ]

    assert protocols == ["sqs"]


def test_idempotency_table_has_powertools_shape_ttl_and_point_in_time_recovery(
    gateway: Gateway,
) -> None:
    table = gateway.properties(gateway.gateway.sender.table)

    assert table["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]
    assert table["AttributeDefinitions"] == [{"AttributeName": "id", "AttributeType": "S"}]
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expiration", "Enabled": True}
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert table["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}


def test_created_secret_is_read_by_the_function_only_through_its_arn(gateway: Gateway) -> None:
    sender = gateway.gateway.sender
    secret_ref, key_ref = gateway.ref(sender.secret), gateway.ref(sender.gateway_key)
    grants = [s for s in gateway.iam_statements() if any("secretsmanager" in a for a in s.actions)]

    assert grants, "the function cannot read its secret"
    # Each grant names one secret by its ARN: the USpeedo secret, or the gateway key (whose
    # own grant tests/infra/test_gateway_key.py checks).
    assert sorted(str(grant.resources) for grant in grants) == sorted(
        [str((secret_ref,)), str((key_ref,))]
    )
    for grant in grants:
        assert set(grant.actions) <= {
            "secretsmanager:GetSecretValue",
            "secretsmanager:DescribeSecret",
        }


def test_imported_secret_is_read_through_its_one_arn(imported_secret_gateway: Gateway) -> None:
    gateway = imported_secret_gateway
    key_ref = gateway.ref(gateway.gateway.sender.gateway_key)
    grants = [s for s in gateway.iam_statements() if any("secretsmanager" in a for a in s.actions)]

    assert sorted(str(grant.resources) for grant in grants) == sorted(
        [str((IMPORTED_SECRET_ARN,)), str((key_ref,))]
    )
    assert _function(gateway)["Environment"]["Variables"]["USPEEDO_SECRET_ID"] == (
        IMPORTED_SECRET_ARN
    )
    # No USpeedo secret is created; the gateway key is the stack's own whatever the import.
    assert list(gateway.of_type("AWS::SecretsManager::Secret")) == [
        gateway.logical_id(gateway.gateway.sender.gateway_key)
    ]


def test_function_role_uses_no_managed_policy(gateway: Gateway) -> None:
    role = gateway.properties(gateway.gateway.sender.role)

    assert "ManagedPolicyArns" not in role


def test_function_may_write_logs_to_its_own_log_group_only(gateway: Gateway) -> None:
    log_group_arn = gateway.get_att(gateway.gateway.sender.log_group, "Arn")
    grants = [s for s in gateway.iam_statements() if any(a.startswith("logs:") for a in s.actions)]
    function_grants = [g for g in grants if g.policy == _function_policy(gateway)]

    assert function_grants
    assert all(grant.resources == (log_group_arn,) for grant in function_grants)


def test_only_xray_is_granted_on_every_resource(gateway: Gateway) -> None:
    wildcard_actions = {
        action
        for statement in gateway.iam_statements()
        if statement.policy == _function_policy(gateway) and "*" in statement.resources
        for action in statement.actions
    }

    assert wildcard_actions == {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}


def test_function_may_park_messages_in_the_dead_letter_queue(gateway: Gateway) -> None:
    ingress = gateway.gateway.ingress
    statements = [s for s in gateway.iam_statements() if s.policy == _function_policy(gateway)]
    dlq_arn = gateway.get_att(ingress.dead_letter_queue, "Arn")
    key_arn = gateway.get_att(ingress.queue_key, "Arn")

    # (One statement may also name the receipts queue: IAM policies are minimized.)
    assert any("sqs:SendMessage" in s.actions and dlq_arn in s.resources for s in statements)
    assert any(
        {"kms:GenerateDataKey", "kms:Decrypt"} <= set(s.actions) and s.resources == (key_arn,)
        for s in statements
    )


def test_function_reads_and_writes_single_items_of_its_table_only(gateway: Gateway) -> None:
    table_arn = gateway.get_att(gateway.gateway.sender.table, "Arn")
    grants = [
        s
        for s in gateway.iam_statements()
        if any("dynamodb" in a for a in s.actions) and table_arn in s.resources
    ]

    # The idempotency table; the protection table's own grant is checked in test_protection.
    assert [g.resources for g in grants] == [(table_arn,)]
    assert set(grants[0].actions) == {
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",
    }


def _function_policy(gateway: Gateway) -> str:
    policy = gateway.gateway.sender.role.node.find_child("DefaultPolicy")
    return gateway.logical_id(policy)


def _extra_subscription_ids(topic_arns: list[str]) -> dict[str, str]:
    """{topic ARN: logical id of its subscription} for a build with these extra topics."""
    app = cdk.App(context=app_context({"extraTopicArns": topic_arns}))
    stack = cdk_app.build(app)
    return {
        str(child.topic_arn): stack.resolve(stack.get_logical_id(child))
        for child in stack.node.find_all()
        if isinstance(child, sns.CfnSubscription) and child.protocol == "lambda"
    }


def test_removing_an_extra_topic_keeps_the_others_subscriptions() -> None:
    other = "arn:aws:sns:ap-southeast-1:123456789012:orders"

    both = _extra_subscription_ids([other, EXTRA_TOPIC_ARN])
    one = _extra_subscription_ids([EXTRA_TOPIC_ARN])

    # Same logical id: CloudFormation keeps the subscription instead of replacing it.
    assert set(both) == {other, EXTRA_TOPIC_ARN}
    assert one == {EXTRA_TOPIC_ARN: both[EXTRA_TOPIC_ARN]}
