"""Ingress: where producers hand over messages (SNS topic → SQS queue → dead-letter queue)."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

from infra.encrypted_queue import add_encrypted_queue
from infra.names import ConstructId
from infra.queue_settings import RAW_MESSAGE_DELIVERY


class Ingress(Construct):
    """The topic and queue producers write to, their dead-letter queue and their key.

    Everything is encrypted with customer-managed keys (rotated yearly): SNS, SQS and
    CloudWatch alarms need key-policy grants that AWS-managed keys cannot give them. Every
    queue and topic refuses requests that are not over TLS.
    """

    def __init__(self, scope: Construct, construct_id: str, *, visibility_timeout_s: int) -> None:
        super().__init__(scope, construct_id)

        # Two keys, because each key's policy names what may use it: the queue key lets the
        # topic in by its ARN, so the topic cannot also be encrypted with that key (the two
        # resources would depend on each other).
        self.topic_key = self._key(
            ConstructId.TOPIC_KEY, "SMS gateway: encrypts its topics (messages, alarms)"
        )
        self.queue_key = self._key(
            ConstructId.QUEUE_KEY, "SMS gateway: encrypts its queues (phone numbers at rest)"
        )

        queues = add_encrypted_queue(
            self, key=self.queue_key, visibility_timeout_s=visibility_timeout_s
        )
        self.queue = queues.queue
        self.dead_letter_queue = queues.dead_letter_queue

        self.topic = sns.Topic(
            self,
            ConstructId.TOPIC,
            display_name="SMS gateway",
            master_key=self.topic_key,
            enforce_ssl=True,
        )
        self.topic.add_subscription(
            subscriptions.SqsSubscription(
                self.queue,
                # The queue's body is then the message itself, as if sent to the queue.
                raw_message_delivery=RAW_MESSAGE_DELIVERY,
                # Should SNS ever fail to deliver to the queue, the message is parked, not lost.
                dead_letter_queue=self.dead_letter_queue,
            )
        )

    def _key(self, construct_id: str, description: str) -> kms.Key:
        return kms.Key(
            self,
            construct_id,
            description=description,
            enable_key_rotation=True,
            # What the keys encrypt is deleted with the stack; nothing else uses them.
            removal_policy=cdk.RemovalPolicy.DESTROY,
            pending_window=cdk.Duration.days(7),
        )
