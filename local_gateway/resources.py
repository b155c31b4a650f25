"""The stack's resources, created on the moto server with the stack's own settings."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from infra.names import (
    IDEMPOTENCY_PARTITION_KEY,
    IDEMPOTENCY_TTL_ATTRIBUTE,
    PROTECTION_PARTITION_KEY,
    PROTECTION_TTL_ATTRIBUTE,
    STACK_ID,
    ContextKey,
    Output,
    traffic_policy_parameter_name,
)
from infra.queue_settings import DEAD_LETTER_RETENTION_DAYS, MAX_RECEIVE_COUNT, RAW_MESSAGE_DELIVERY
from infra.settings import read_traffic_policy, traffic_policy_text
from sms_gateway import time_budget
from sms_gateway.delivery_events import DETAIL_TYPE, SOURCE

NAME = "sms-gateway"
IDEMPOTENCY_TABLE = f"{NAME}-idempotency"
PROTECTION_TABLE = f"{NAME}-protection"
POLICY_PARAMETER = traffic_policy_parameter_name(STACK_ID)
FUNCTION_NAME = f"{NAME}-local"
CDK_JSON: Final = Path(__file__).resolve().parent.parent / "cdk.json"
# Delivery status events: the bus the function puts them on, and the rule that copies them
# to a local queue for `smsgw --local events tail`.
EVENT_BUS_NAME: Final = f"{NAME}-local-events"
EVENTS_RULE_NAME: Final = f"{NAME}-delivery-status"
# Local only: the queue the rule copies delivery events to (`smsgw --local events tail`).
EVENTS_QUEUE_URL_OUTPUT: Final = "EventsQueueUrl"


@dataclass(frozen=True)
class DeliveryEventResources:
    """The receipts queue (with its dead-letter queue) the function schedules receipt
    checks on, the bus it puts delivery events on, and the queue a rule copies them to."""

    receipts_queue_url: str
    receipts_queue_arn: str
    receipts_dead_letter_queue_url: str
    event_bus_name: str
    event_bus_arn: str
    rule_name: str
    events_queue_url: str


@dataclass(frozen=True)
class LocalResources:
    """What `create` made: the stack's outputs, and what the pump and the API need."""

    topic_arn: str
    queue_url: str
    queue_arn: str
    dead_letter_queue_url: str
    dead_letter_queue_arn: str
    secret_arn: str
    gateway_key_secret_arn: str
    table_name: str
    protection_table_name: str
    policy_parameter_name: str
    api_key: str
    delivery: DeliveryEventResources

    def outputs(self, api_url: str, aws_endpoint_url: str, uspeedo_endpoint: str) -> dict[str, str]:
        """The stack's output keys (contract) plus what a local user needs besides."""
        return {
            Output.TOPIC_ARN: self.topic_arn,
            Output.QUEUE_URL: self.queue_url,
            Output.DEAD_LETTER_QUEUE_URL: self.dead_letter_queue_url,
            Output.API_URL: api_url,
            Output.API_KEY_ID: "local",
            Output.SECRET_ARN: self.secret_arn,
            Output.FUNCTION_NAME: FUNCTION_NAME,
            Output.ALARM_TOPIC_ARN: "",
            Output.POLICY_PARAMETER_NAME: self.policy_parameter_name,
            Output.EVENT_BUS_NAME: self.delivery.event_bus_name,
            Output.RECEIPTS_QUEUE_URL: self.delivery.receipts_queue_url,
            EVENTS_QUEUE_URL_OUTPUT: self.delivery.events_queue_url,
            "AwsEndpointUrl": aws_endpoint_url,
            "ApiKey": self.api_key,
            "UspeedoEndpoint": uspeedo_endpoint,
        }


def create(
    clients: dict[str, Any], credentials: dict[str, Any], policy_document: str
) -> LocalResources:
    """Topic → (raw delivery) → queue → (redrive) → dead-letter queue; the USpeedo secret
    and the gateway key's; the idempotency table in Powertools' default shape; the traffic
    policy's parameter holding `policy_document` and the protection table; the delivery
    events' queues, bus and rule. `clients`: boto3 clients by service name (sns, sqs,
    secretsmanager, dynamodb, ssm, events)."""
    sns, sqs, secretsmanager, dynamodb = (
        clients["sns"],
        clients["sqs"],
        clients["secretsmanager"],
        clients["dynamodb"],
    )
    queue_url, queue_arn, dead_letter_url, dead_letter_arn = _create_redriven_queue(sqs, NAME)
    topic_arn = sns.create_topic(Name=f"{NAME}-topic")["TopicArn"]
    sns.subscribe(
        TopicArn=topic_arn,
        Protocol="sqs",
        Endpoint=queue_arn,
        Attributes={"RawMessageDelivery": "true" if RAW_MESSAGE_DELIVERY else "false"},
    )
    secret_arn = secretsmanager.create_secret(
        Name=f"{NAME}/uspeedo", SecretString=json.dumps(credentials)
    )["ARN"]
    create_idempotency_table(dynamodb, IDEMPOTENCY_TABLE)
    gateway_key_arn = create_gateway_key_secret(secretsmanager, f"{NAME}/gateway-key")
    create_protection_table(dynamodb, PROTECTION_TABLE)
    create_policy_parameter(clients["ssm"], POLICY_PARAMETER, policy_document)
    return LocalResources(
        topic_arn=topic_arn,
        queue_url=queue_url,
        queue_arn=queue_arn,
        dead_letter_queue_url=dead_letter_url,
        dead_letter_queue_arn=dead_letter_arn,
        secret_arn=secret_arn,
        gateway_key_secret_arn=gateway_key_arn,
        table_name=IDEMPOTENCY_TABLE,
        protection_table_name=PROTECTION_TABLE,
        policy_parameter_name=POLICY_PARAMETER,
        api_key=secrets.token_urlsafe(24),
        delivery=create_delivery_events(sqs, clients["events"]),
    )


def _create_redriven_queue(sqs: Any, prefix: str) -> tuple[str, str, str, str]:
    """`{prefix}-queue` redriven to `{prefix}-dlq` after `MAX_RECEIVE_COUNT` receives, as
    the stack makes the message queue and the receipts queue: the queue's URL and ARN,
    then the dead-letter queue's."""
    dead_letter_url = sqs.create_queue(
        QueueName=f"{prefix}-dlq",
        Attributes={"MessageRetentionPeriod": str(DEAD_LETTER_RETENTION_DAYS * 24 * 3600)},
    )["QueueUrl"]
    dead_letter_arn = _queue_arn(sqs, dead_letter_url)
    queue_url = sqs.create_queue(
        QueueName=f"{prefix}-queue",
        Attributes={
            "VisibilityTimeout": str(time_budget.visibility_timeout_s()),
            "RedrivePolicy": json.dumps(
                {"deadLetterTargetArn": dead_letter_arn, "maxReceiveCount": MAX_RECEIVE_COUNT}
            ),
        },
    )["QueueUrl"]
    return queue_url, _queue_arn(sqs, queue_url), dead_letter_url, dead_letter_arn


def create_delivery_events(sqs: Any, events: Any) -> DeliveryEventResources:
    """The receipts queue and its dead-letter queue; the bus; a rule on it matching the
    function's delivery events, whose target is a local queue (moto delivers PutEvents to
    a rule's SQS targets, as EventBridge does)."""
    receipts_url, receipts_arn, receipts_dlq_url, _ = _create_redriven_queue(
        sqs, f"{NAME}-receipts"
    )
    bus_arn = str(events.create_event_bus(Name=EVENT_BUS_NAME)["EventBusArn"])
    events_queue_url = sqs.create_queue(QueueName=f"{NAME}-local-delivery-events")["QueueUrl"]
    events_queue_arn = _queue_arn(sqs, events_queue_url)
    rule_arn = events.put_rule(
        Name=EVENTS_RULE_NAME,
        EventBusName=EVENT_BUS_NAME,
        EventPattern=json.dumps({"source": [SOURCE], "detail-type": [DETAIL_TYPE]}),
        State="ENABLED",
    )["RuleArn"]
    # What EventBridge needs to write to the queue in AWS (moto does not check it).
    sqs.set_queue_attributes(
        QueueUrl=events_queue_url,
        Attributes={"Policy": _events_may_send(events_queue_arn, rule_arn)},
    )
    events.put_targets(
        Rule=EVENTS_RULE_NAME,
        EventBusName=EVENT_BUS_NAME,
        Targets=[{"Id": "local-events-queue", "Arn": events_queue_arn}],
    )
    return DeliveryEventResources(
        receipts_queue_url=receipts_url,
        receipts_queue_arn=receipts_arn,
        receipts_dead_letter_queue_url=receipts_dlq_url,
        event_bus_name=EVENT_BUS_NAME,
        event_bus_arn=bus_arn,
        rule_name=EVENTS_RULE_NAME,
        events_queue_url=events_queue_url,
    )


def _events_may_send(queue_arn: str, rule_arn: str) -> str:
    """A queue policy letting EventBridge send this rule's events to the queue."""
    statement = {
        "Effect": "Allow",
        "Principal": {"Service": "events.amazonaws.com"},
        "Action": "sqs:SendMessage",
        "Resource": queue_arn,
        "Condition": {"ArnEquals": {"aws:SourceArn": rule_arn}},
    }
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


def _queue_arn(sqs: Any, url: str) -> str:
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
    return str(attributes["Attributes"]["QueueArn"])


def create_gateway_key_secret(secretsmanager: Any, name: str) -> str:
    """The gateway key's secret as the stack makes it: `{"Key": …}`, random, 64 characters."""
    value = json.dumps({"Key": secrets.token_urlsafe(48)})
    return str(secretsmanager.create_secret(Name=name, SecretString=value)["ARN"])


def create_idempotency_table(dynamodb: Any, name: str) -> None:
    """The idempotency table in the stack's shape (Powertools' default), with its TTL."""
    _create_keyed_table(dynamodb, name, IDEMPOTENCY_PARTITION_KEY, IDEMPOTENCY_TTL_ATTRIBUTE)


def create_protection_table(dynamodb: Any, name: str) -> None:
    """The protection table in the stack's shape (counters, markers, opt-outs), with its TTL.

    The stack encrypts it with a key of its own; moto keeps it in this process's memory.
    """
    _create_keyed_table(dynamodb, name, PROTECTION_PARTITION_KEY, PROTECTION_TTL_ATTRIBUTE)


def _create_keyed_table(dynamodb: Any, name: str, partition_key: str, ttl_attribute: str) -> None:
    """An on-demand table with one string partition key and a TTL attribute."""
    dynamodb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": partition_key, "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": partition_key, "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    dynamodb.update_time_to_live(
        TableName=name,
        TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl_attribute},
    )


def create_policy_parameter(ssm: Any, name: str, document: str) -> None:
    """The traffic policy's parameter as the stack makes it: a String holding the JSON."""
    ssm.put_parameter(
        Name=name,
        Description="SMS gateway traffic policy (JSON); change it with `smsgw --local policy`",
        Value=document,
        Type="String",
        Tier="Standard",
    )


def default_policy_document(cdk_json: Path = CDK_JSON) -> str:
    """`cdk.json`'s `trafficPolicy`, checked as the stack checks it (`sms_gateway.policy`),
    written out as the stack's parameter holds it; the built-in default without one."""
    context = json.loads(cdk_json.read_text()).get("context", {}) if cdk_json.exists() else {}
    return traffic_policy_text(read_traffic_policy(context.get(ContextKey.TRAFFIC_POLICY)))
