"""The sender: the one function, its secret, its idempotency table and its triggers."""

from __future__ import annotations

import hashlib
from typing import Final

import aws_cdk as cdk
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

from infra import bundling, lambda_code
from infra.ingress import Ingress
from infra.nag import acknowledge
from infra.names import (
    FUNCTION_HANDLER,
    IDEMPOTENCY_PARTITION_KEY,
    IDEMPOTENCY_TTL_ATTRIBUTE,
    METRICS_NAMESPACE,
    SERVICE_NAME,
    ConstructId,
)
from infra.queue_settings import BATCH_SIZE
from infra.settings import GatewaySettings

# pydantic and libphonenumber's metadata import faster with the CPU share of 512 MB, and
# sending is I/O-bound, so more memory would buy nothing.
MEMORY_MB: Final = 512
LOG_RETENTION: Final = logs.RetentionDays.ONE_MONTH
# Asynchronous invocations (SNS subscriptions, `aws lambda invoke --invocation-type Event`):
# Lambda's own two retries, then the dead-letter queue.
ASYNC_RETRY_ATTEMPTS: Final = 2
ASYNC_MAX_EVENT_AGE: Final = cdk.Duration.hours(1)

CREDENTIALS_INSTRUCTIONS: Final = (
    "USpeedo credentials for the SMS gateway. Created empty: fill it in with "
    "aws secretsmanager put-secret-value --secret-id <this ARN> --secret-string "
    '\'{"AccessKeyId": "...", "AccessKeySecret": "...", "AccountId": 123}\' '
    "(AccountId optional)."
)


class Sender(Construct):
    """The function that validates, signs and sends, with exactly the access it needs."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: GatewaySettings,
        ingress: Ingress,
        code: lambda_.Code,
    ) -> None:
        super().__init__(scope, construct_id)

        self.secret = self._secret(settings)
        self.table = dynamodb.Table(
            self,
            ConstructId.IDEMPOTENCY_TABLE,
            partition_key=dynamodb.Attribute(
                name=IDEMPOTENCY_PARTITION_KEY, type=dynamodb.AttributeType.STRING
            ),
            time_to_live_attribute=IDEMPOTENCY_TTL_ATTRIBUTE,
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            # Records live for the idempotency TTL only; nothing in them outlives the stack.
            removal_policy=cdk.RemovalPolicy.DESTROY,
        )
        self.log_group = logs.LogGroup(
            self,
            ConstructId.FUNCTION_LOG_GROUP,
            retention=LOG_RETENTION,
            removal_policy=cdk.RemovalPolicy.DESTROY,
        )
        # Our own role rather than AWSLambdaBasicExecutionRole, whose log grant covers every
        # log group of the account: this one may write to its own log group only.
        self.role = iam.Role(
            self,
            ConstructId.FUNCTION_ROLE,
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="SMS gateway sender: its log group, secret, table and queues only",
        )
        self.log_group.grant_write(self.role)

        self.function = lambda_.Function(
            self,
            ConstructId.FUNCTION,
            description="SMS gateway: validates, signs and sends messages to USpeedo",
            runtime=bundling.RUNTIME,
            architecture=bundling.ARCHITECTURE,
            handler=FUNCTION_HANDLER,
            code=code,
            # From the function's own time budget: every upstream call it starts can finish.
            timeout=cdk.Duration.seconds(lambda_code.FUNCTION_TIMEOUT_S),
            memory_size=MEMORY_MB,
            role=self.role,
            log_group=self.log_group,
            logging_format=lambda_.LoggingFormat.JSON,
            # Powertools Logger follows this level (AWS_LAMBDA_LOG_LEVEL).
            application_log_level_v2=lambda_.ApplicationLogLevel.INFO,
            system_log_level_v2=lambda_.SystemLogLevel.INFO,
            tracing=lambda_.Tracing.ACTIVE,
            environment=self._environment(settings, ingress),
        )
        self._grant(ingress)

        self.function.add_event_source(
            event_sources.SqsEventSource(
                ingress.queue,
                batch_size=BATCH_SIZE,
                # A transient failure retries its own record only; the rest of the batch is
                # done and must not be sent again.
                report_batch_item_failures=True,
                # Caps this queue's share of the account's concurrency, and the provider's
                # load, however long the queue grows.
                max_concurrency=settings.max_concurrency,
            )
        )
        self._async_failures_to_dead_letter_queue(ingress)
        for topic_arn in settings.extra_topic_arns:
            # Named by the ARN, not by its place in the list: removing one topic must not
            # replace (and briefly drop) the other topics' subscriptions.
            digest = hashlib.sha256(topic_arn.encode()).hexdigest()[:8]
            self._subscribe(ingress, f"{ConstructId.EXTRA_TOPIC}{digest}", topic_arn)
        self._acknowledge()

    def _secret(self, settings: GatewaySettings) -> secretsmanager.ISecret:
        if settings.secret_arn is None:
            return secretsmanager.Secret(
                self,
                ConstructId.SECRET,
                description=CREDENTIALS_INSTRUCTIONS,
                # Placeholders, not secrets: the real values are put in after deploying, so
                # they never appear in a template or in CloudFormation's history.
                secret_object_value={
                    "AccessKeyId": cdk.SecretValue.unsafe_plain_text(""),
                    "AccessKeySecret": cdk.SecretValue.unsafe_plain_text(""),
                },
            )
        if settings.secret_arn_is_complete:
            return secretsmanager.Secret.from_secret_complete_arn(
                self, ConstructId.SECRET, settings.secret_arn
            )
        return secretsmanager.Secret.from_secret_partial_arn(
            self, ConstructId.SECRET, settings.secret_arn
        )

    def _environment(self, settings: GatewaySettings, ingress: Ingress) -> dict[str, str]:
        environment = {
            "USPEEDO_SECRET_ID": self.secret.secret_arn,
            "USPEEDO_ENDPOINT": settings.uspeedo_endpoint,
            "USPEEDO_ACTION": settings.uspeedo_action,
            "IDEMPOTENCY_TABLE": self.table.table_name,
            "DEAD_LETTER_QUEUE_URL": ingress.dead_letter_queue.queue_url,
            "DEFAULT_COUNTRY_CODE": settings.default_country_code,
            "POWERTOOLS_SERVICE_NAME": SERVICE_NAME,
            "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
            # Events and responses carry phone numbers and one-time codes: never log them,
            # never attach them to traces.
            "POWERTOOLS_LOGGER_LOG_EVENT": "false",
            "POWERTOOLS_TRACER_CAPTURE_RESPONSE": "false",
        }
        if settings.sender_id is not None:
            environment["DEFAULT_SENDER_ID"] = settings.sender_id
        return environment

    def _grant(self, ingress: Ingress) -> None:
        """Exactly the actions the function uses, each on its one resource."""
        self.secret.grant_read(self.role)
        # Powertools' idempotency layer reads, writes and deletes single items: no scans,
        # no queries, no indexes.
        self.role.add_to_policy(
            iam.PolicyStatement(
                actions=[
                    "dynamodb:GetItem",
                    "dynamodb:PutItem",
                    "dynamodb:UpdateItem",
                    "dynamodb:DeleteItem",
                ],
                resources=[self.table.table_arn],
            )
        )
        # Permanent rejects are written to the dead-letter queue by the function itself (and
        # by Lambda, for failed asynchronous invocations, with the same role). Sending to a
        # KMS-encrypted queue takes GenerateDataKey and Decrypt on its key, nothing broader.
        self.role.add_to_policy(
            iam.PolicyStatement(
                actions=["sqs:SendMessage"], resources=[ingress.dead_letter_queue.queue_arn]
            )
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                actions=["kms:GenerateDataKey", "kms:Decrypt"],
                resources=[ingress.queue_key.key_arn],
            )
        )

    def _async_failures_to_dead_letter_queue(self, ingress: Ingress) -> None:
        # The L1 resource, because the L2 destination grants the queue's broadest send
        # permissions (kms:GenerateDataKey*, kms:ReEncrypt*) where the two above suffice.
        config = lambda_.CfnEventInvokeConfig(
            self,
            ConstructId.ASYNC_INVOKE_CONFIG,
            function_name=self.function.function_name,
            qualifier="$LATEST",
            maximum_retry_attempts=ASYNC_RETRY_ATTEMPTS,
            maximum_event_age_in_seconds=ASYNC_MAX_EVENT_AGE.to_seconds(),
            destination_config=lambda_.CfnEventInvokeConfig.DestinationConfigProperty(
                on_failure=lambda_.CfnEventInvokeConfig.OnFailureProperty(
                    destination=ingress.dead_letter_queue.queue_arn
                )
            ),
        )
        # Lambda checks that the role may send to the destination when the config is created.
        config.node.add_dependency(self.role)

    def _subscribe(self, ingress: Ingress, construct_id: str, topic_arn: str) -> None:
        """Invoke the function for each message of an existing topic (asynchronously)."""
        topic = sns.Topic.from_topic_arn(self, construct_id, topic_arn)
        topic.add_subscription(
            subscriptions.LambdaSubscription(
                self.function,
                # When SNS cannot invoke the function at all, the message is parked too.
                dead_letter_queue=ingress.dead_letter_queue,
            )
        )
        # CDK lets this topic into the dead-letter queue's policy, not into its key's.
        ingress.queue_key.add_to_resource_policy(
            iam.PolicyStatement(
                principals=[iam.ServicePrincipal("sns.amazonaws.com")],
                actions=["kms:Decrypt", "kms:GenerateDataKey"],
                resources=["*"],  # in a key policy, "*" is this key
                conditions={"ArnEquals": {"aws:SourceArn": topic_arn}},
            )
        )

    def _acknowledge(self) -> None:
        acknowledge(
            self.function,
            "AwsSolutions-L1",
            "The runtime is Python 3.13 by contract: the bundle's binary wheels (cp313) and "
            "precompiled .pyc files are built for exactly that version.",
        )
        default_policy = self.role.node.find_child("DefaultPolicy")
        acknowledge(
            default_policy,
            "AwsSolutions-IAM5[Resource::*]",
            "X-Ray's PutTraceSegments and PutTelemetryRecords support no resource-level "
            "permissions; this wildcard is the only one in the policy and grants nothing else.",
        )
        if isinstance(self.secret, secretsmanager.Secret):
            acknowledge(
                self.secret,
                "AwsSolutions-SMG4",
                "USpeedo issues access keys in its console only; there is no API a rotation "
                "function could call. Rotate by putting a new key pair into the secret.",
            )
