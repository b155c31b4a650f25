"""The gateway's one stack: a thin composition of ingress, protection, receipts, sender, API
and monitoring."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from infra import bundling, lambda_code
from infra.function import SenderFunction
from infra.ingress import Ingress
from infra.monitoring import Monitoring
from infra.names import STACK_DESCRIPTION, ConstructId, Output
from infra.protection import Protection
from infra.receipts import Receipts
from infra.rest_api import Api
from infra.settings import GatewaySettings


class SmsGatewayStack(cdk.Stack):
    """Everything `cdk deploy` creates, and the outputs clients and scripts read."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: GatewaySettings,
        message_schema: Mapping[str, Any],
        opt_outs_schema: Mapping[str, Any],
        code: lambda_.Code | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, description=STACK_DESCRIPTION, **kwargs)

        self.ingress = Ingress(
            self, ConstructId.INGRESS, visibility_timeout_s=lambda_code.VISIBILITY_TIMEOUT_S
        )
        self.protection = Protection(
            self, ConstructId.PROTECTION, policy_document=settings.traffic_policy_document
        )
        self.receipts = Receipts(
            self,
            ConstructId.RECEIPTS,
            settings=settings,
            queue_key=self.ingress.queue_key,
            visibility_timeout_s=lambda_code.VISIBILITY_TIMEOUT_S,
        )
        self.sender = SenderFunction(
            self,
            ConstructId.SENDER,
            settings=settings,
            ingress=self.ingress,
            protection=self.protection,
            receipts=self.receipts,
            code=code or bundling.function_code(),
        )
        # The same function takes the receipt checks (it tells them from messages by shape).
        self.receipts.serve(
            self.sender.function, self.sender.role, max_concurrency=settings.max_concurrency
        )
        self.api = Api(
            self,
            ConstructId.API,
            function=self.sender.function,
            message_schema=message_schema,
            opt_outs_schema=opt_outs_schema,
        )
        self.monitoring = Monitoring(
            self,
            ConstructId.MONITORING,
            ingress=self.ingress,
            receipts=self.receipts,
            function=self.sender.function,
            rest_api=self.api.rest_api,
            alarm_email=settings.alarm_email,
            delivery_rate_alarm=settings.delivery_rate_alarm,
            # A message that failed once waits one visibility timeout before its retry;
            # older than two means repeated failures, or a backlog the cap cannot clear.
            oldest_message_threshold_s=2 * lambda_code.VISIBILITY_TIMEOUT_S,
        )
        self._outputs()

    def _outputs(self) -> None:
        # Created on the stack itself, so their logical ids are exactly the contract's names.
        values = {
            Output.TOPIC_ARN: (self.ingress.topic.topic_arn, "Publish messages here (SNS)"),
            Output.QUEUE_URL: (self.ingress.queue.queue_url, "Or send them here (SQS)"),
            Output.DEAD_LETTER_QUEUE_URL: (
                self.ingress.dead_letter_queue.queue_url,
                "Messages that were not sent, with the reason in their attributes",
            ),
            Output.API_URL: (self.api.rest_api.url, "Or POST them to <ApiUrl>messages"),
            Output.API_KEY_ID: (
                self.api.api_key.key_id,
                "aws apigateway get-api-key --include-value --api-key <ApiKeyId>",
            ),
            Output.SECRET_ARN: (
                self.sender.secret.secret_arn,
                "USpeedo credentials: put AccessKeyId and AccessKeySecret here",
            ),
            Output.FUNCTION_NAME: (self.sender.function.function_name, "The sender"),
            Output.ALARM_TOPIC_ARN: (
                self.monitoring.alarm_topic.topic_arn,
                "Alarms are published here; subscribe to be told",
            ),
            Output.POLICY_PARAMETER_NAME: (
                self.protection.policy_parameter.parameter_name,
                "The traffic policy (SSM): smsgw policy show|set|block|allow",
            ),
            Output.EVENT_BUS_NAME: (
                self.receipts.event_bus.event_bus_name,
                "Delivery status events (source sms-gateway): add a rule here to receive them",
            ),
            Output.RECEIPTS_QUEUE_URL: (
                self.receipts.queue.queue_url,
                "Scheduled receipt checks (the gateway's own; its dead-letter queue is alarmed)",
            ),
        }
        for name, (value, description) in values.items():
            cdk.CfnOutput(self, name, value=value, description=description)
