"""Every name the stack, its tests and its users rely on, in one place.

Construct ids become CloudFormation logical ids: renaming one replaces the resource on the
next deploy (a new queue, a new table), so change them on purpose only.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final

from sms_gateway.gateway_key import KEY_FIELD, MIN_KEY_LENGTH

# The stack.
STACK_ID: Final = "SmsGateway"
STACK_DESCRIPTION: Final = (
    "SMS gateway in front of USpeedo: SNS/SQS/API ingress, one Lambda sender, alarms"
)
PROJECT_TAG: Final = "sms-gateway"


class ContextKey(StrEnum):
    """The `cdk.json` context keys (contract), each overridable with `-c key=value`."""

    SECRET_ARN = "secretArn"  # noqa: S105 (a key's name, not a secret)
    SENDER_ID = "senderId"
    DEFAULT_COUNTRY_CODE = "defaultCountryCode"
    USPEEDO_ENDPOINT = "uspeedoEndpoint"
    USPEEDO_ACTION = "uspeedoAction"
    MAX_CONCURRENCY = "maxConcurrency"
    ALARM_EMAIL = "alarmEmail"
    EXTRA_TOPIC_ARNS = "extraTopicArns"
    TRAFFIC_POLICY = "trafficPolicy"
    # Delivery status events: the bus they go to (an existing one, or the stack's own), the
    # first receipt check's delay, whether events carry full numbers, and the alarm's floor.
    EVENT_BUS_NAME = "eventBusName"
    RECEIPT_DELAY_SECONDS = "receiptDelaySeconds"
    EVENTS_WITH_PHONE_NUMBERS = "eventsWithPhoneNumbers"
    DELIVERY_RATE_ALARM = "deliveryRateAlarm"


# A diagnostic switch, not a setting: `-c nagAcknowledgements=false` shows every raw cdk-nag
# finding (synth then fails on them). The tests use it to prove each acknowledgement is needed.
NAG_ACKNOWLEDGEMENTS_CONTEXT_KEY: Final = "nagAcknowledgements"


class Output(StrEnum):
    """The stack outputs (contract): `make deploy` writes them to `cdk-outputs.json`."""

    TOPIC_ARN = "TopicArn"
    QUEUE_URL = "QueueUrl"
    DEAD_LETTER_QUEUE_URL = "DeadLetterQueueUrl"
    API_URL = "ApiUrl"
    API_KEY_ID = "ApiKeyId"
    SECRET_ARN = "SecretArn"  # noqa: S105 (an output's name, not a secret)
    FUNCTION_NAME = "FunctionName"
    ALARM_TOPIC_ARN = "AlarmTopicArn"
    POLICY_PARAMETER_NAME = "PolicyParameterName"
    EVENT_BUS_NAME = "EventBusName"
    RECEIPTS_QUEUE_URL = "ReceiptsQueueUrl"


class ConstructId(StrEnum):
    """Construct ids, top level first. They end up in logical ids and resource names."""

    # The capabilities the stack composes.
    INGRESS = "Ingress"
    SENDER = "Sender"
    API = "Api"
    MONITORING = "Monitoring"
    PROTECTION = "Protection"
    RECEIPTS = "Receipts"
    # Ingress (and Receipts: its own queue and dead-letter queue under the same ids).
    TOPIC_KEY = "TopicKey"
    QUEUE_KEY = "QueueKey"
    TOPIC = "Topic"
    QUEUE = "Queue"
    DEAD_LETTER_QUEUE = "DeadLetterQueue"
    # Sender.
    SECRET = "UspeedoSecret"  # noqa: S105 (a construct id, not a secret)
    # Never rename: a new logical id replaces the secret, and a new gateway key changes every
    # stored hash (idempotency keys included), so retries within a day would be sent again.
    GATEWAY_KEY_SECRET = "GatewayKeySecret"  # noqa: S105 (a construct id, not a secret)
    IDEMPOTENCY_TABLE = "IdempotencyTable"
    FUNCTION = "Function"
    FUNCTION_ROLE = "FunctionRole"
    FUNCTION_LOG_GROUP = "FunctionLogs"
    ASYNC_INVOKE_CONFIG = "AsyncInvokeConfig"
    EXTRA_TOPIC = "ExtraTopic"  # + a digest of the topic's ARN
    # Protection. Never rename the table or its key: a new logical id replaces them, and
    # the opt-out list (recipients' consent) would start empty.
    TRAFFIC_POLICY_PARAMETER = "TrafficPolicy"
    PROTECTION_KEY = "Key"
    PROTECTION_TABLE = "Table"
    # Receipts. Never rename the bus: producers' rules live on it, and a new logical id
    # would replace it (empty, without their rules).
    EVENT_BUS = "EventBus"
    # API.
    REST_API = "RestApi"
    ACCESS_LOGS = "AccessLogs"
    MESSAGE_MODEL = "MessageModel"
    BODY_VALIDATOR = "BodyValidator"
    PARAMETERS_VALIDATOR = "ParametersValidator"
    API_KEY = "ApiKey"
    USAGE_PLAN = "UsagePlan"
    OPT_OUTS_MODEL = "OptOutsModel"
    # Monitoring.
    ALARM_TOPIC = "AlarmTopic"
    DASHBOARD = "Dashboard"
    DLQ_NOT_EMPTY_ALARM = "DeadLetterQueueNotEmpty"
    OLDEST_MESSAGE_ALARM = "OldestMessageTooOld"
    FUNCTION_ERRORS_ALARM = "FunctionErrors"
    FUNCTION_THROTTLES_ALARM = "FunctionThrottles"
    PROVIDER_ERRORS_ALARM = "ProviderErrors"
    PROVIDER_ACTION_UNKNOWN_ALARM = "ProviderActionUnknown"
    POLICY_CAP_REACHED_ALARM = "PolicyCapReached"
    POLICY_REFUSAL_SPIKE_ALARM = "PolicyRefusalSpike"
    POLICY_UNAVAILABLE_ALARM = "PolicyUnavailable"
    DELIVERY_RATE_ALARM = "DeliveryRateLow"
    RECEIPTS_DLQ_NOT_EMPTY_ALARM = "ReceiptsDeadLetterQueueNotEmpty"


# The Lambda's code (contract).
FUNCTION_HANDLER: Final = "sms_gateway.handler.lambda_handler"
SERVICE_NAME: Final = "sms-gateway"


class EnvironmentVariable(StrEnum):
    """The function's environment (contract): the names the stack sets and the code reads."""

    USPEEDO_SECRET_ID = "USPEEDO_SECRET_ID"  # noqa: S105 (a variable's name, not a secret)
    USPEEDO_ENDPOINT = "USPEEDO_ENDPOINT"
    USPEEDO_ACTION = "USPEEDO_ACTION"
    IDEMPOTENCY_TABLE = "IDEMPOTENCY_TABLE"
    DEAD_LETTER_QUEUE_URL = "DEAD_LETTER_QUEUE_URL"
    DEFAULT_SENDER_ID = "DEFAULT_SENDER_ID"
    DEFAULT_COUNTRY_CODE = "DEFAULT_COUNTRY_CODE"
    # The gateway key: every hash the gateway stores is an HMAC-SHA-256 under it.
    GATEWAY_KEY_SECRET_ID = "GATEWAY_KEY_SECRET_ID"  # noqa: S105 (a variable's name)
    # Protection: the traffic policy's SSM parameter; the counters' and opt-outs' table.
    TRAFFIC_POLICY_PARAMETER = "TRAFFIC_POLICY_PARAMETER"
    PROTECTION_TABLE = "PROTECTION_TABLE"
    # Delivery status events: where receipt checks are scheduled and how long the first one
    # waits; the bus events are published to (its name) and whether they carry full numbers.
    RECEIPTS_QUEUE_URL = "RECEIPTS_QUEUE_URL"
    RECEIPT_DELAY_SECONDS = "RECEIPT_DELAY_SECONDS"
    EVENT_BUS_NAME = "EVENT_BUS_NAME"
    EVENTS_WITH_PHONE_NUMBERS = "EVENTS_WITH_PHONE_NUMBERS"
    POWERTOOLS_SERVICE_NAME = "POWERTOOLS_SERVICE_NAME"
    POWERTOOLS_METRICS_NAMESPACE = "POWERTOOLS_METRICS_NAMESPACE"
    POWERTOOLS_LOGGER_LOG_EVENT = "POWERTOOLS_LOGGER_LOG_EVENT"
    POWERTOOLS_TRACER_CAPTURE_RESPONSE = "POWERTOOLS_TRACER_CAPTURE_RESPONSE"


# The gateway key's secret (contract): JSON `{"Key": "..."}`, at least 32 random characters.
GATEWAY_KEY_FIELD: Final = KEY_FIELD
GATEWAY_KEY_LENGTH: Final = 64
GATEWAY_KEY_MIN_LENGTH: Final = MIN_KEY_LENGTH

# API Gateway.
API_STAGE_NAME: Final = "v1"
MESSAGES_PATH: Final = "messages"
OPENAPI_PATH: Final = "openapi.json"  # the function describes its own API
SESSION_NO_PARAMETER: Final = "SessionNo"
MESSAGE_MODEL_NAME: Final = "Message"
OPT_OUTS_PATH: Final = "optouts"
PHONE_NUMBER_PARAMETER: Final = "PhoneNumber"
OPT_OUTS_MODEL_NAME: Final = "OptOuts"
# `GET /optouts` pages through the list with these (both optional).
OPT_OUTS_QUERY_PARAMETERS: Final = ("limit", "next")


class Metric(StrEnum):
    """The custom metrics the function emits (EMF, namespace `SmsGateway`).

    The alarms and the dashboard read these names: the function must emit exactly them.
    Dimensions mostly do not matter here: the stack queries them with Metrics Insights,
    which sums over every dimension (service, Reason, …). Only where an alarm or a graph
    picks by one (`REASON_DIMENSION`, `COUNTRY_DIMENSION`) must the function attach that
    one. The delivery metrics are the exception: their dimension sets are fixed (below).
    """

    MESSAGES_RECEIVED = "MessagesReceived"
    MESSAGES_SENT = "MessagesSent"
    MESSAGES_REJECTED = "MessagesRejected"
    MESSAGES_RETRIED = "MessagesRetried"
    PHONES_SENT = "PhonesSent"
    PROVIDER_ERRORS = "ProviderErrors"
    PROVIDER_LATENCY = "ProviderLatency"
    IDEMPOTENT_REPLAYS = "IdempotentReplays"
    PROVIDER_ACTION_UNKNOWN = "ProviderActionUnknown"
    PHONES_REFUSED = "PhonesRefused"
    # Numbers the traffic policy or the opt-out list refused (`PolicyWouldRefuse`: would
    # have refused, in Monitor mode), with the dimensions `Reason` and `Country`.
    POLICY_REFUSED = "PolicyRefused"
    POLICY_WOULD_REFUSE = "PolicyWouldRefuse"
    # Final delivery outcomes, one count per number, each emitted twice: with `Country` and
    # service (`DELIVERY_COUNTRY_DIMENSIONS`), read by the graphs by country; and with the
    # service dimension alone (`DELIVERY_AGGREGATE_DIMENSIONS`), read by the delivery-rate
    # alarm. The alarm divides one sum by others, and an alarm can neither SEARCH nor hold
    # more than one Metrics Insights query, so it needs series summed over every country.
    DELIVERED = "Delivered"
    DELIVERY_FAILED = "DeliveryFailed"
    DELIVERY_UNKNOWN = "DeliveryUnknown"


METRICS_NAMESPACE: Final = "SmsGateway"

# Powertools' default idempotency table shape (contract): the stack's table, and the one
# `make local` and the tests create on moto.
IDEMPOTENCY_PARTITION_KEY: Final = "id"
IDEMPOTENCY_TTL_ATTRIBUTE: Final = "expiration"


def traffic_policy_parameter_name(stack_name: str) -> str:
    """The traffic policy's SSM parameter: one per stack (stack names are unique in an
    account and region), named for people reading it with `aws ssm get-parameter`."""
    return f"/{stack_name}/traffic-policy"


# The protection table (contract): counters, per-chunk markers and the opt-out list.
PROTECTION_PARTITION_KEY: Final = "id"
PROTECTION_TTL_ATTRIBUTE: Final = "expiration"
# The metrics' dimensions the protection alarms and widgets read (contract).
REASON_DIMENSION: Final = "Reason"
COUNTRY_DIMENSION: Final = "Country"
# The dimension Powertools' Metrics adds to every metric (its value: `SERVICE_NAME`).
SERVICE_DIMENSION: Final = "service"
# The delivery metrics' two dimension sets (contract, see `Metric.DELIVERED`).
DELIVERY_AGGREGATE_DIMENSIONS: Final = (SERVICE_DIMENSION,)
DELIVERY_COUNTRY_DIMENSIONS: Final = (COUNTRY_DIMENSION, SERVICE_DIMENSION)
