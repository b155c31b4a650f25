"""Exactly-once sending per chunk, with Powertools' idempotency on DynamoDB.

Every upstream call (a chunk of at most 1,000 numbers) has a record of its own, keyed by
the message's idempotency key and the chunk's index, so a retry after a partial success
sends only what was not sent. The message's fingerprint is the validated payload: the same
explicit key with a different message is refused instead of replayed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Final, Protocol

from sms_gateway.chunks import ChunkOutcome, ChunkRequest
from sms_gateway.errors import (
    IdempotencyKeyReusedError,
    IdempotencyStoreError,
    MessageInProgressError,
)

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import DataRecord
    from aws_lambda_powertools.utilities.typing import LambdaContext

logger = logging.getLogger(__name__)

# A stable record prefix, independent of where the function lives in the code.
KEY_PREFIX: Final = "sms-gateway-chunk"

SendChunk = Callable[[ChunkRequest], ChunkOutcome]


class ChunkLedger(Protocol):
    """Runs `send(chunk)` at most once per chunk key; a replay is the stored outcome,
    marked `replayed`."""

    def run(self, chunk: ChunkRequest, send: SendChunk) -> ChunkOutcome: ...

    def register_lambda_context(self, context: LambdaContext) -> None: ...


class NoLedger:
    """Idempotency off (IDEMPOTENCY_TABLE unset): local use only."""

    def run(self, chunk: ChunkRequest, send: SendChunk) -> ChunkOutcome:
        return send(chunk)

    def register_lambda_context(self, context: LambdaContext) -> None:
        """Nothing to expire."""


def _mark_replay(response: Any, idempotent_data: DataRecord) -> Any:
    return replace(response, replayed=True) if isinstance(response, ChunkOutcome) else response


class DynamoLedger:
    """Powertools' DynamoDB persistence layer, default table shape (`id`, `expiration`).

    Powertools' idempotency utility (and boto3 with it) is imported when a ledger is made,
    by the first invocation, not with this module."""

    def __init__(self, table_name: str, ttl_s: int, *, boto3_client: Any = None) -> None:
        from aws_lambda_powertools.utilities.idempotency import (
            DynamoDBPersistenceLayer,
            IdempotencyConfig,
            idempotent_function,
        )
        from aws_lambda_powertools.utilities.idempotency.serialization.custom_dict import (
            CustomDictSerializer,
        )

        self.config = IdempotencyConfig(
            event_key_jmespath="key",
            payload_validation_jmespath="fingerprint",
            raise_on_no_idempotency_key=True,
            expires_after_seconds=ttl_s,
            response_hook=_mark_replay,
        )
        self.store = DynamoDBPersistenceLayer(table_name=table_name, boto3_client=boto3_client)
        self._run = idempotent_function(
            data_keyword_argument="payload",
            persistence_store=self.store,
            config=self.config,
            key_prefix=KEY_PREFIX,
            output_serializer=CustomDictSerializer(
                to_dict=ChunkOutcome.as_record, from_dict=ChunkOutcome.from_record
            ),
        )(_send_once)

    def register_lambda_context(self, context: LambdaContext) -> None:
        """In-progress records expire when the invocation would time out (Powertools
        forgets to do this itself only when this call is missing: records stay stuck)."""
        self.config.register_lambda_context(context)

    def run(self, chunk: ChunkRequest, send: SendChunk) -> ChunkOutcome:
        from aws_lambda_powertools.utilities.idempotency.exceptions import (
            IdempotencyAlreadyInProgressError,
            IdempotencyPersistenceLayerError,
            IdempotencyValidationError,
        )

        sent: list[ChunkOutcome] = []

        def send_and_remember(chunk: ChunkRequest) -> ChunkOutcome:
            outcome = send(chunk)
            sent.append(outcome)
            return outcome

        try:
            outcome: ChunkOutcome = self._run(
                payload=chunk.idempotency_payload(), chunk=chunk, send=send_and_remember
            )
        except IdempotencyValidationError:
            raise IdempotencyKeyReusedError() from None
        except IdempotencyAlreadyInProgressError:
            raise MessageInProgressError(
                "this message is being sent by another invocation right now"
            ) from None
        except IdempotencyPersistenceLayerError as exc:
            if sent:
                # The provider was called and answered; only recording that failed
                # (Powertools' save_success). Raising would have the queue or the caller
                # retry, and once this chunk's lock expires the retry sends the SMS
                # again. Answer with what happened instead; the lock stays until it
                # expires. (Found by tests/reliability: dynamodb-success-write.)
                logger.warning("chunk sent, but its idempotency record could not be completed")
                return sent[0]
            raise IdempotencyStoreError(f"idempotency table unavailable: {exc}") from None
        return outcome


def _send_once(*, payload: dict[str, str], chunk: ChunkRequest, send: SendChunk) -> ChunkOutcome:
    # `payload` is what Powertools keys and checks the record by; the call is `send`'s.
    return send(chunk)
