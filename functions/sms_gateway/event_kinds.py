"""Which door an event came through, by its shape — and, for an event no door takes, what
it is, so the refusal can name it ("an S3 event is not supported") instead of judging an
S3 notification as a message with unknown fields.

Runs on every invocation: a handful of dictionary look-ups, the standard library only. The
shapes are AWS's own (checked against AWS Powertools' sample events, `tests/events/`).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from enum import Enum
from functools import lru_cache
from typing import Any, Final


class EventKind(Enum):
    """The four shapes the function takes, and the others it can name. The value is the
    log key `event_kind` and the `EventType` dimension of the `UnsupportedEvents` metric."""

    # The four doors.
    SQS = "sqs"
    SNS = "sns"
    API = "api"
    DIRECT = "direct"
    # Events of other sources, refused.
    S3 = "s3"
    KINESIS = "kinesis"
    DYNAMODB = "dynamodb"
    SES = "ses"
    CODECOMMIT = "codecommit"
    RECORDS = "records"
    KAFKA = "kafka"
    MQ = "mq"
    EVENTBRIDGE = "eventbridge"
    HTTP_API = "http-api"
    FUNCTION_URL = "function-url"
    WEBSOCKET = "websocket"
    ALB = "alb"
    AUTHORIZER = "authorizer"
    VPC_LATTICE = "vpc-lattice"
    APPSYNC = "appsync"
    CLOUDWATCH_LOGS = "cloudwatch-logs"
    CLOUDWATCH_ALARM = "cloudwatch-alarm"
    FIREHOSE = "firehose"
    COGNITO = "cognito"
    CLOUDFORMATION = "cloudformation"
    CONFIG = "config"
    CODEPIPELINE = "codepipeline"
    CODEDEPLOY = "codedeploy"
    SECRETS_ROTATION = "secrets-rotation"
    S3_BATCH = "s3-batch"
    S3_OBJECT_LAMBDA = "s3-object-lambda"
    BEDROCK_AGENT = "bedrock-agent"
    UNRECOGNISED = "unrecognised"

    @property
    def supported(self) -> bool:
        """Whether a door takes it."""
        return self in _SUPPORTED

    @property
    def description(self) -> str:
        """What it is, to start a sentence: "an S3 event"."""
        return _DESCRIPTIONS[self]


_SUPPORTED: Final = frozenset({EventKind.SQS, EventKind.SNS, EventKind.API, EventKind.DIRECT})

_DESCRIPTIONS: Final[Mapping[EventKind, str]] = {
    EventKind.SQS: "an SQS event",
    EventKind.SNS: "an SNS event",
    EventKind.API: "an API Gateway REST API event",
    EventKind.DIRECT: "a direct invocation",
    EventKind.S3: "an S3 event",
    EventKind.KINESIS: "a Kinesis stream event",
    EventKind.DYNAMODB: "a DynamoDB stream event",
    EventKind.SES: "an SES event",
    EventKind.CODECOMMIT: "a CodeCommit event",
    EventKind.RECORDS: "an event of records from another source",
    EventKind.KAFKA: "a Kafka event",
    EventKind.MQ: "an Amazon MQ event",
    EventKind.EVENTBRIDGE: "an EventBridge event",  # a rule's, a schedule's
    EventKind.HTTP_API: "an API Gateway HTTP API (payload format 2.0) event",
    EventKind.FUNCTION_URL: "a Lambda function URL event",
    EventKind.WEBSOCKET: "an API Gateway WebSocket API event",
    EventKind.ALB: "an Application Load Balancer event",
    EventKind.AUTHORIZER: "an API Gateway authorizer event",
    EventKind.VPC_LATTICE: "a VPC Lattice event",
    EventKind.APPSYNC: "an AppSync event",
    EventKind.CLOUDWATCH_LOGS: "a CloudWatch Logs event",
    EventKind.CLOUDWATCH_ALARM: "a CloudWatch alarm event",
    EventKind.FIREHOSE: "a Kinesis Data Firehose event",
    EventKind.COGNITO: "a Cognito trigger event",
    EventKind.CLOUDFORMATION: "a CloudFormation custom resource event",
    EventKind.CONFIG: "an AWS Config rule event",
    EventKind.CODEPIPELINE: "a CodePipeline job event",
    EventKind.CODEDEPLOY: "a CodeDeploy lifecycle hook event",
    EventKind.SECRETS_ROTATION: "a Secrets Manager rotation event",
    EventKind.S3_BATCH: "an S3 Batch Operations event",
    EventKind.S3_OBJECT_LAMBDA: "an S3 Object Lambda event",
    EventKind.BEDROCK_AGENT: "a Bedrock agent event",
    EventKind.UNRECOGNISED: "an event of an unrecognised shape",
}

# `Records[0]`'s source (`eventSource`; SNS spells it `EventSource`). SQS and SNS are
# matched on their own key, as they always were.
_RECORD_SOURCES: Final[Mapping[str, EventKind]] = {
    "aws:s3": EventKind.S3,
    "aws:kinesis": EventKind.KINESIS,
    "aws:dynamodb": EventKind.DYNAMODB,
    "aws:ses": EventKind.SES,
    "aws:codecommit": EventKind.CODECOMMIT,
}
# A top-level `eventSource` (Kafka and Amazon MQ keep their records in a map by topic/queue).
_SOURCES: Final[Mapping[str, EventKind]] = {
    "aws:kafka": EventKind.KAFKA,
    "aws:SelfManagedKafka": EventKind.KAFKA,
    "SelfManagedKafka": EventKind.KAFKA,
    "aws:amq": EventKind.MQ,
    "aws:rmq": EventKind.MQ,
}

# Shapes told apart by `requestContext` or `version`: before the REST API, which shares
# `httpMethod` with the ALB and the REST authorizer. First match wins; each test gets the
# event and its `requestContext` (an empty dict when that is not an object).
_Test = Callable[[Mapping[str, Any], Mapping[str, Any]], bool]
_PROXY_SHAPES: Final[tuple[tuple[EventKind, _Test], ...]] = (
    (EventKind.ALB, lambda e, rc: "elb" in rc),
    (EventKind.WEBSOCKET, lambda e, rc: "eventType" in rc or "connectionId" in rc),
    (EventKind.AUTHORIZER, lambda e, rc: "methodArn" in e or "routeArn" in e),
    (
        EventKind.FUNCTION_URL,
        lambda e, rc: _is_v2(e) and "lambda-url" in str(rc.get("domainName", "")),
    ),
    (EventKind.HTTP_API, lambda e, rc: _is_v2(e)),
    (
        EventKind.VPC_LATTICE,
        lambda e, rc: "method" in e and ("raw_path" in e or "serviceNetworkArn" in rc),
    ),
    (EventKind.API, lambda e, rc: "httpMethod" in e and "requestContext" in e),
)

# Shapes told apart by keys that must all be present (several name a message field, such as
# `accountId`, so they come before "is it a message?"). Each set is distinctive enough that
# no message with a stray field or two matches one.
_KEY_SHAPES: Final[tuple[tuple[EventKind, frozenset[str]], ...]] = (
    (EventKind.EVENTBRIDGE, frozenset({"detail-type", "source", "detail"})),
    (EventKind.CLOUDWATCH_LOGS, frozenset({"awslogs"})),
    (EventKind.FIREHOSE, frozenset({"deliveryStreamArn", "records"})),
    (EventKind.COGNITO, frozenset({"triggerSource", "userPoolId"})),
    (EventKind.CLOUDFORMATION, frozenset({"RequestType", "ResponseURL"})),
    (EventKind.CLOUDWATCH_ALARM, frozenset({"alarmArn", "alarmData"})),
    (EventKind.APPSYNC, frozenset({"authorizationToken", "requestContext"})),
    (EventKind.APPSYNC, frozenset({"arguments", "identity"})),
    (EventKind.CONFIG, frozenset({"configRuleName", "invokingEvent"})),
    (EventKind.CODEPIPELINE, frozenset({"CodePipeline.job"})),
    (EventKind.CODEDEPLOY, frozenset({"DeploymentId", "LifecycleEventHookExecutionId"})),
    (EventKind.SECRETS_ROTATION, frozenset({"SecretId", "ClientRequestToken", "Step"})),
    (EventKind.S3_BATCH, frozenset({"invocationSchemaVersion", "tasks"})),
    (EventKind.S3_OBJECT_LAMBDA, frozenset({"getObjectContext"})),
    (EventKind.BEDROCK_AGENT, frozenset({"actionGroup", "agent"})),
)


def kind_of(event: Any, message_fields: Collection[str]) -> EventKind:
    """The event's kind. `message_fields` are the message's field names (the model's).

    SQS and SNS by their records' source; API Gateway REST by `httpMethod` and
    `requestContext` (with one of them missing or broken it is still a REST event, a
    malformed one, unless it looks like a message); other services by their own shape. A
    dict that names none of the message's fields (case and underscores aside, so a typo'd
    message still gets the model's "did you mean"), and is not empty, is not a message.
    Anything else — a message, `{}`, a list, a string — is a direct invocation, for the
    model to judge.
    """
    if not isinstance(event, dict):
        return EventKind.DIRECT
    by_records = _records_kind(event.get("Records"))
    if by_records is not None:
        return by_records
    source = event.get("eventSource")
    if isinstance(source, str) and source in _SOURCES:
        return _SOURCES[source]
    context = event.get("requestContext")
    request_context: Mapping[str, Any] = context if isinstance(context, dict) else {}
    for kind, test in _PROXY_SHAPES:
        if test(event, request_context):
            return kind
    keys = event.keys()
    for kind, required in _KEY_SHAPES:
        if keys >= required:
            return kind
    if not event or _names_a_message_field(event, _folded(tuple(message_fields))):
        return EventKind.DIRECT
    if "httpMethod" in event or "requestContext" in event:
        return EventKind.API  # malformed: the API answers 400
    return EventKind.UNRECOGNISED


def _records_kind(records: Any) -> EventKind | None:
    """The kind of a `Records` batch, by its first record's source; None if not one."""
    if not (isinstance(records, list) and records and isinstance(records[0], dict)):
        return None
    first = records[0]
    if first.get("eventSource") == "aws:sqs":
        return EventKind.SQS
    if first.get("EventSource") == "aws:sns":
        return EventKind.SNS
    source = first.get("eventSource", first.get("EventSource"))
    return _RECORD_SOURCES.get(source, EventKind.RECORDS) if isinstance(source, str) else None


def _is_v2(event: Mapping[str, Any]) -> bool:
    """HTTP API payload format 2.0 (also a function URL's)."""
    return event.get("version") == "2.0" and ("routeKey" in event or "rawPath" in event)


def _fold(name: str) -> str:
    return name.casefold().replace("_", "").replace("-", "")


@lru_cache(maxsize=4)
def _folded(fields: tuple[str, ...]) -> frozenset[str]:
    return frozenset(_fold(f) for f in fields)


def _names_a_message_field(event: Mapping[Any, Any], fields: frozenset[str]) -> bool:
    return any(isinstance(key, str) and _fold(key) in fields for key in event)
