"""A queue as the stack makes every queue: KMS-encrypted, TLS only, with its dead-letter queue.

The two queues are added straight to the caller's construct, under `ConstructId.QUEUE` and
`ConstructId.DEAD_LETTER_QUEUE`, not under a construct of their own: their logical IDs stay
what they have always been, and a deployed queue is not replaced (and emptied).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import aws_cdk as cdk
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.names import ConstructId
from infra.queue_settings import DEAD_LETTER_RETENTION_DAYS, MAX_RECEIVE_COUNT

DEAD_LETTER_RETENTION: Final = cdk.Duration.days(DEAD_LETTER_RETENTION_DAYS)


@dataclass(frozen=True)
class EncryptedQueue:
    """A queue and the dead-letter queue it parks what keeps failing in."""

    queue: sqs.Queue
    dead_letter_queue: sqs.Queue


def add_encrypted_queue(
    scope: Construct, *, key: kms.IKey, visibility_timeout_s: int
) -> EncryptedQueue:
    """The queue and its dead-letter queue in `scope`, both encrypted with `key`.

    `visibility_timeout_s`: SQS's guidance is ≥ 6 × the consuming function's timeout, so a
    batch still being worked on is never handed to a second invocation (see
    sms_gateway.time_budget). A message received MAX_RECEIVE_COUNT times is parked.
    """
    dead_letter_queue = _queue(
        scope, ConstructId.DEAD_LETTER_QUEUE, key, retention_period=DEAD_LETTER_RETENTION
    )
    queue = _queue(
        scope,
        ConstructId.QUEUE,
        key,
        visibility_timeout=cdk.Duration.seconds(visibility_timeout_s),
        dead_letter_queue=sqs.DeadLetterQueue(
            max_receive_count=MAX_RECEIVE_COUNT, queue=dead_letter_queue
        ),
    )
    return EncryptedQueue(queue=queue, dead_letter_queue=dead_letter_queue)


def _queue(scope: Construct, construct_id: str, key: kms.IKey, **settings: Any) -> sqs.Queue:
    """A queue encrypted with `key`, refusing requests not over TLS, deleted with the stack;
    `settings` are `sqs.Queue`'s other properties."""
    return sqs.Queue(
        scope,
        construct_id,
        encryption=sqs.QueueEncryption.KMS,
        encryption_master_key=key,
        enforce_ssl=True,
        removal_policy=cdk.RemovalPolicy.DESTROY,
        **settings,
    )
