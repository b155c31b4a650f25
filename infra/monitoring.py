"""Monitoring: alarms to an alarm topic (and e-mail), and one dashboard for the gateway."""

from __future__ import annotations

from typing import Final

import aws_cdk as cdk
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

from infra.delivery_monitoring import (
    MIN_RECEIPTS,
    delivery_rate_alarm_metric,
    delivery_widgets,
)
from infra.ingress import Ingress
from infra.metrics_insights import metrics_insights
from infra.names import COUNTRY_DIMENSION, REASON_DIMENSION, ConstructId, Metric
from infra.receipts import Receipts
from sms_gateway.contract import CAP_REACHED, POLICY_UNAVAILABLE

ONE_MINUTE: Final = cdk.Duration.minutes(1)
FIVE_MINUTES: Final = cdk.Duration.minutes(5)
# Numbers refused in five minutes, all reasons together, that call for a person: far more
# than a few people mistyping or opting out; the start of an attack, or a policy too tight
# for real traffic.
REFUSAL_SPIKE_THRESHOLD: Final = 100


class Monitoring(Construct):
    """Alarms for what needs a person, and a dashboard for everything else."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        ingress: Ingress,
        receipts: Receipts,
        function: lambda_.Function,
        rest_api: apigw.RestApi,
        alarm_email: str | None,
        delivery_rate_alarm: float,
        oldest_message_threshold_s: int,
    ) -> None:
        super().__init__(scope, construct_id)

        self.alarm_topic = sns.Topic(
            self,
            ConstructId.ALARM_TOPIC,
            display_name="SMS gateway alarms",
            master_key=ingress.topic_key,
            enforce_ssl=True,
        )
        self._let_cloudwatch_publish(ingress)
        if alarm_email is not None:
            self.alarm_topic.add_subscription(subscriptions.EmailSubscription(alarm_email))

        self.alarms = [
            *self._gateway_alarms(ingress, function, oldest_message_threshold_s),
            *self._protection_alarms(),
            *self._delivery_alarms(receipts, delivery_rate_alarm),
        ]

        self.dashboard = cloudwatch.Dashboard(
            self,
            ConstructId.DASHBOARD,
            default_interval=cdk.Duration.hours(3),
            widgets=[
                *self._widgets(ingress, function, rest_api),
                delivery_widgets(delivery_rate_alarm),
            ],
        )

    def _gateway_alarms(
        self, ingress: Ingress, function: lambda_.Function, oldest_message_threshold_s: int
    ) -> list[cloudwatch.Alarm]:
        """Messages not sent or waiting, the function failing, the provider failing."""
        dlq = ingress.dead_letter_queue
        return [
            self._alarm(
                ConstructId.DLQ_NOT_EMPTY_ALARM,
                dlq.metric_approximate_number_of_messages_visible(
                    period=ONE_MINUTE, statistic=cloudwatch.Stats.MAXIMUM
                ),
                threshold=1,
                description="Messages are parked in the dead-letter queue: each one was not "
                "sent. Read their ErrorCode/ErrorMessage attributes, fix, then redrive.",
            ),
            self._alarm(
                ConstructId.OLDEST_MESSAGE_ALARM,
                ingress.queue.metric_approximate_age_of_oldest_message(
                    period=ONE_MINUTE, statistic=cloudwatch.Stats.MAXIMUM
                ),
                threshold=oldest_message_threshold_s,
                description="A queued message has waited too long: the provider keeps failing, "
                "or the concurrency cap cannot keep up with the queue.",
            ),
            self._alarm(
                ConstructId.FUNCTION_ERRORS_ALARM,
                function.metric_errors(period=FIVE_MINUTES, statistic=cloudwatch.Stats.SUM),
                threshold=1,
                description="The sender failed whole invocations (a crash, a timeout, a bad "
                "deployment), not single messages. Check its logs.",
            ),
            self._alarm(
                ConstructId.FUNCTION_THROTTLES_ALARM,
                function.metric_throttles(period=FIVE_MINUTES, statistic=cloudwatch.Stats.SUM),
                threshold=1,
                description="The sender was throttled: the account's Lambda concurrency is "
                "exhausted. Queued messages wait; API callers get errors.",
            ),
            self._alarm(
                ConstructId.PROVIDER_ERRORS_ALARM,
                metrics_insights(Metric.PROVIDER_ERRORS, FIVE_MINUTES),
                threshold=1,
                description="USpeedo refused or failed calls (see the metric's Reason "
                "dimension): an outage, rejected credentials or an unknown Action.",
            ),
            self._alarm(
                ConstructId.PROVIDER_ACTION_UNKNOWN_ALARM,
                metrics_insights(Metric.PROVIDER_ACTION_UNKNOWN, FIVE_MINUTES),
                threshold=1,
                description="USpeedo does not know the configured action (RetCode 160/161): "
                "it may have retired SendUSMSMessage. Nothing is sent; messages are retried. "
                "Redeploy with -c uspeedoAction=SendBatchUSMSMessage.",
            ),
        ]

    def _protection_alarms(self) -> list[cloudwatch.Alarm]:
        """The traffic policy at work: a cap reached, a spike of refusals, no policy."""
        return [
            self._alarm(
                ConstructId.POLICY_CAP_REACHED_ALARM,
                metrics_insights(
                    Metric.POLICY_REFUSED, FIVE_MINUTES, where=(REASON_DIMENSION, CAP_REACHED)
                ),
                threshold=1,
                description="A Country or Global cap of the traffic policy was reached: numbers "
                "are refused (dead-letter queue, API 429) until the window ends. SMS pumping, "
                "or real traffic past the cap: see refusals by country on the dashboard, then "
                "block the country or raise the cap (smsgw policy).",
            ),
            self._alarm(
                ConstructId.POLICY_REFUSAL_SPIKE_ALARM,
                metrics_insights(Metric.POLICY_REFUSED, FIVE_MINUTES),
                threshold=REFUSAL_SPIKE_THRESHOLD,
                description=f"{REFUSAL_SPIKE_THRESHOLD} or more numbers refused by the traffic "
                "policy or the opt-out list in five minutes (all reasons): an attack being "
                "held off, or a policy too tight for real traffic. See refusals by reason and "
                "country on the dashboard.",
            ),
            self._alarm(
                ConstructId.POLICY_UNAVAILABLE_ALARM,
                metrics_insights(
                    Metric.MESSAGES_RETRIED,
                    FIVE_MINUTES,
                    where=(REASON_DIMENSION, POLICY_UNAVAILABLE),
                ),
                threshold=1,
                description="The gateway has no valid traffic policy (the parameter is "
                "unreadable, or invalid with no earlier good one): NOTHING is sent; messages "
                "are retried. Check the function's log, then fix it with smsgw policy set.",
            ),
        ]

    def _delivery_alarms(
        self, receipts: Receipts, delivery_rate_alarm: float
    ) -> list[cloudwatch.Alarm]:
        """Numbers not reaching phones, and receipt checks that keep failing."""
        return [
            self._alarm(
                ConstructId.DELIVERY_RATE_ALARM,
                delivery_rate_alarm_metric(),
                threshold=delivery_rate_alarm,
                comparison_operator=cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
                description=f"Less than {delivery_rate_alarm:.0%} of the numbers with a final "
                f"receipt in the last hour were delivered (counted from {MIN_RECEIPTS} "
                "receipts an hour): carriers refuse the sender id or the template, or a route "
                "is down. See delivery outcomes by country on the dashboard; each FAILED "
                "event on the bus carries the provider's ReceiptCode and ReceiptDesc.",
            ),
            self._alarm(
                ConstructId.RECEIPTS_DLQ_NOT_EMPTY_ALARM,
                receipts.dead_letter_queue.metric_approximate_number_of_messages_visible(
                    period=ONE_MINUTE, statistic=cloudwatch.Stats.MAXIMUM
                ),
                threshold=1,
                description="Receipt checks are parked in the receipts dead-letter queue: the "
                "provider's receipts could not be read for about half an hour. Those numbers "
                "get no status event until the checks are redriven (asked again; nothing is "
                "published twice).",
            ),
        ]

    def _let_cloudwatch_publish(self, ingress: Ingress) -> None:
        # Alarms publish as the CloudWatch service: it needs the key to encrypt, and the
        # topic's policy to let it in (the TLS-only policy replaces SNS's default one).
        # Both grants hold for this account's alarms only (confused deputy: without the
        # conditions, CloudWatch would use them for an alarm of any account).
        stack = cdk.Stack.of(self)
        this_accounts_alarms = {
            "StringEquals": {"aws:SourceAccount": stack.account},
            "ArnLike": {
                "aws:SourceArn": stack.format_arn(
                    service="cloudwatch",
                    resource="alarm",
                    resource_name="*",
                    arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
                )
            },
        }
        ingress.topic_key.add_to_resource_policy(
            iam.PolicyStatement(
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],  # in a key policy, "*" is this key
                conditions=this_accounts_alarms,
            )
        )
        self.alarm_topic.add_to_resource_policy(
            iam.PolicyStatement(
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["sns:Publish"],
                resources=[self.alarm_topic.topic_arn],
                conditions=this_accounts_alarms,
            )
        )

    def _alarm(
        self,
        construct_id: str,
        metric: cloudwatch.IMetric,
        *,
        threshold: float,
        description: str,
        comparison_operator: cloudwatch.ComparisonOperator = (
            cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD
        ),
    ) -> cloudwatch.Alarm:
        alarm = cloudwatch.Alarm(
            self,
            construct_id,
            metric=metric,
            threshold=threshold,
            evaluation_periods=1,
            comparison_operator=comparison_operator,
            # No data means nothing happened (no errors, an empty queue, no receipts), not
            # trouble.
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            alarm_description=description,
        )
        action = cloudwatch_actions.SnsAction(self.alarm_topic)
        alarm.add_alarm_action(action)
        alarm.add_ok_action(action)
        return alarm

    def _widgets(
        self, ingress: Ingress, function: lambda_.Function, rest_api: apigw.RestApi
    ) -> list[list[cloudwatch.IWidget]]:
        queue, dlq = ingress.queue, ingress.dead_letter_queue
        width = 8
        return [
            [cloudwatch.AlarmStatusWidget(title="Alarms", alarms=self.alarms, width=24, height=3)],
            [
                cloudwatch.GraphWidget(
                    title="Messages (custom metrics)",
                    left=[
                        metrics_insights(metric, FIVE_MINUTES)
                        for metric in (
                            Metric.MESSAGES_RECEIVED,
                            Metric.MESSAGES_SENT,
                            Metric.MESSAGES_REJECTED,
                            Metric.MESSAGES_RETRIED,
                            Metric.IDEMPOTENT_REPLAYS,
                        )
                    ],
                    right=[
                        metrics_insights(Metric.PHONES_SENT, FIVE_MINUTES),
                        metrics_insights(Metric.PHONES_REFUSED, FIVE_MINUTES),
                    ],
                    width=width,
                ),
                cloudwatch.GraphWidget(
                    title="Provider",
                    left=[metrics_insights(Metric.PROVIDER_ERRORS, FIVE_MINUTES)],
                    right=[metrics_insights(Metric.PROVIDER_LATENCY, FIVE_MINUTES, "MAX")],
                    width=width,
                ),
                cloudwatch.GraphWidget(
                    title="Queue",
                    left=[
                        queue.metric_approximate_number_of_messages_visible(),
                        queue.metric_approximate_number_of_messages_not_visible(),
                        dlq.metric_approximate_number_of_messages_visible(label="Dead-letter"),
                    ],
                    right=[queue.metric_approximate_age_of_oldest_message()],
                    width=width,
                ),
            ],
            [
                cloudwatch.GraphWidget(
                    title="Function",
                    left=[
                        function.metric_invocations(),
                        function.metric_errors(),
                        function.metric_throttles(),
                    ],
                    right=[function.metric_duration(statistic=cloudwatch.Stats.percentile(99))],
                    width=width,
                ),
                cloudwatch.GraphWidget(
                    title="API",
                    left=[
                        rest_api.metric_count(),
                        rest_api.metric_client_error(),
                        rest_api.metric_server_error(),
                    ],
                    right=[rest_api.metric_latency(statistic=cloudwatch.Stats.percentile(99))],
                    width=width,
                ),
                cloudwatch.GraphWidget(
                    title="Concurrency",
                    left=[
                        function.metric("ConcurrentExecutions", statistic=cloudwatch.Stats.MAXIMUM)
                    ],
                    width=width,
                ),
            ],
            self._protection_widgets(),
        ]

    @staticmethod
    def _protection_widgets() -> list[cloudwatch.IWidget]:
        """Refused numbers by reason and by country (and, in Monitor mode, what would be)."""
        by = {
            dimension: [
                metrics_insights(
                    metric, FIVE_MINUTES, group_by=dimension, label=f"{verb}: ${{LABEL}}"
                )
                for metric, verb in (
                    (Metric.POLICY_REFUSED, "refused"),
                    (Metric.POLICY_WOULD_REFUSE, "would refuse (Monitor)"),
                )
            ]
            for dimension in (REASON_DIMENSION, COUNTRY_DIMENSION)
        }
        return [
            cloudwatch.GraphWidget(
                title=f"Numbers refused by {dimension.lower()} (traffic policy, opt-outs)",
                left=[refused],
                right=[would],
                width=12,
            )
            for dimension, (refused, would) in by.items()
        ]
