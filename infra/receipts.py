"""Receipts: delivery status events, the stack side.

USpeedo pushes nothing, so after each sent chunk the function schedules a receipt check of
its SessionNo on the receipts queue (delayed with SQS's DelaySeconds), takes the checks
back from that queue itself, asks the provider, and publishes each number's final status
to an EventBridge bus that producers subscribe to. A check that keeps failing ends in the
queue's own dead-letter queue (alarmed), never among the messages that were not sent.
"""

from __future__ import annotations

from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as event_sources
from constructs import Construct

from infra.encrypted_queue import add_encrypted_queue
from infra.names import ConstructId, EnvironmentVariable
from infra.queue_settings import BATCH_SIZE
from infra.settings import GatewaySettings


class Receipts(Construct):
    """The receipts queue, its dead-letter queue, and the bus the events go to.

    The stack adds it under `Receipts` (`ConstructId.RECEIPTS`). The queues are encrypted
    with the ingress queues' key, like every queue of the stack: a check names a SessionNo
    and may carry the numbers still to be settled.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: GatewaySettings,
        queue_key: kms.IKey,
        visibility_timeout_s: int,
    ) -> None:
        super().__init__(scope, construct_id)
        self._queue_key = queue_key
        self._receipt_delay_seconds = settings.receipt_delay_seconds
        self._events_with_phone_numbers = settings.events_with_phone_numbers

        # The visibility timeout is the messages' queue's (≥ 6 × the function timeout). A
        # check that keeps failing (the provider down for half an hour) is parked; redriven,
        # it is asked again, and what was already published is not published twice.
        queues = add_encrypted_queue(self, key=queue_key, visibility_timeout_s=visibility_timeout_s)
        self.queue = queues.queue
        self.dead_letter_queue = queues.dead_letter_queue
        self.event_bus = self._event_bus(settings.event_bus_name)

    def _event_bus(self, name_or_arn: str | None) -> events.IEventBus:
        if name_or_arn is None:
            # Its name is generated (and output as EventBusName): two stacks in one account
            # and region never share a bus by accident.
            return events.EventBus(self, ConstructId.EVENT_BUS)
        if name_or_arn.startswith("arn:"):
            return events.EventBus.from_event_bus_arn(self, ConstructId.EVENT_BUS, name_or_arn)
        return events.EventBus.from_event_bus_name(self, ConstructId.EVENT_BUS, name_or_arn)

    @property
    def environment(self) -> dict[str, str]:
        """The function's variables for receipt checks and events (contract)."""
        variable = EnvironmentVariable
        with_numbers = "true" if self._events_with_phone_numbers else "false"
        return {
            variable.RECEIPTS_QUEUE_URL: self.queue.queue_url,
            variable.RECEIPT_DELAY_SECONDS: str(self._receipt_delay_seconds),
            # The name, also for a bus given by ARN (ARNs of this account and region only).
            variable.EVENT_BUS_NAME: self.event_bus.event_bus_name,
            variable.EVENTS_WITH_PHONE_NUMBERS: with_numbers,
        }

    def serve(self, function: lambda_.IFunction, role: iam.IRole, *, max_concurrency: int) -> None:
        """Feed the checks to `function` and give its `role` exactly what checks need."""
        function.add_event_source(
            event_sources.SqsEventSource(
                self.queue,
                batch_size=BATCH_SIZE,
                # A check that failed (the provider unreachable) is retried on its own; the
                # others in the batch are done.
                report_batch_item_failures=True,
                # The same cap as the messages' queue: checks call the same provider, and a
                # backlog of them must not take the account's concurrency either.
                max_concurrency=max_concurrency,
            )
        )
        # Scheduling a check, and the next one of a number not yet final: send only, on this
        # queue; sending to a KMS-encrypted queue takes GenerateDataKey and Decrypt on its key.
        role.add_to_principal_policy(
            iam.PolicyStatement(actions=["sqs:SendMessage"], resources=[self.queue.queue_arn])
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["kms:GenerateDataKey", "kms:Decrypt"],
                resources=[self._queue_key.key_arn],
            )
        )
        # Publishing on this one bus, nothing else of EventBridge.
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["events:PutEvents"], resources=[self.event_bus.event_bus_arn]
            )
        )
