"""The gateway: validate, send, and decide each message's fate — sent, rejected, or parked.

The composition root too: `Gateway.from_env()` builds the real collaborators once per
container; tests build one from their own (moto clients, the sandbox).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Final

from sms_gateway.credentials import CredentialsSource
from sms_gateway.dead_letter import DeadLetterQueue, reason_text
from sms_gateway.deliveries import Delivery
from sms_gateway.errors import FieldError, GatewayError, MessageValidationError
from sms_gateway.idempotency import ChunkLedger, DynamoLedger, NoLedger
from sms_gateway.model import MAX_IDEMPOTENCY_KEY_LENGTH, parse_message
from sms_gateway.sender import RemainingMs, Sender, SendOutcome
from sms_gateway.settings import Settings
from sms_gateway.telemetry import Counters, counters, logger
from sms_gateway.uspeedo_client import SessionReceipts

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

# Upstream calls in flight at once per container: a 10-record batch, or a 10,000-number
# message's ten chunks, take about one round trip. The SQS event source's maximum
# concurrency bounds the containers, so this bounds what the provider sees.
MAX_PARALLEL_CALLS: Final = 10

PARKED: Final = "parked"
SENT: Final = "sent"


class Gateway:
    """Everything one invocation needs, built once per container."""

    def __init__(
        self,
        settings: Settings,
        sender: Sender,
        dead_letters: DeadLetterQueue | None,
        ledger: ChunkLedger,
        telemetry: Counters = counters,
    ) -> None:
        self.settings = settings
        self.sender = sender
        self.dead_letters = dead_letters
        self.ledger = ledger
        self.telemetry = telemetry
        self._pool: ThreadPoolExecutor | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Gateway:
        """The real thing: boto3 clients, Powertools' secret cache and idempotency table.

        Built by the first invocation, so boto3 is imported then, not by the handler's
        import. The clients share one boto3 session: each new session parses botocore's
        endpoint data again (tens of milliseconds of a cold start), and Powertools makes
        a session of its own for every provider it is not given one for. The dead-letter
        queue's client is made when the first message is parked, which most containers
        never do.
        """
        import boto3  # here: tests and local runs build their own clients
        from aws_lambda_powertools.utilities.parameters import SecretsProvider

        settings = Settings.from_env(environ)
        session = boto3.session.Session()
        ledger: ChunkLedger = (
            DynamoLedger(
                settings.idempotency_table,
                settings.idempotency_ttl_s,
                boto3_client=session.client("dynamodb"),
            )
            if settings.idempotency_table
            else NoLedger()
        )
        dead_letters = (
            DeadLetterQueue(
                settings.dead_letter_queue_url, client_factory=lambda: session.client("sqs")
            )
            if settings.dead_letter_queue_url
            else None
        )
        credentials = CredentialsSource(settings.secret_id, SecretsProvider(boto3_session=session))
        return cls.build(settings, credentials, ledger, dead_letters)

    @classmethod
    def build(
        cls,
        settings: Settings,
        credentials: CredentialsSource,
        ledger: ChunkLedger,
        dead_letters: DeadLetterQueue | None,
        **sender_options: Any,
    ) -> Gateway:
        """Wire a gateway from its collaborators."""
        pool = ThreadPoolExecutor(MAX_PARALLEL_CALLS, thread_name_prefix="uspeedo")
        sender = Sender(settings, credentials, ledger, pool, counters, **sender_options)
        gateway = cls(settings, sender, dead_letters, ledger)
        gateway._pool = pool
        return gateway

    def close(self) -> None:
        """Stop the worker threads (tests and the local run build many gateways)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)

    def register_lambda_context(self, context: LambdaContext) -> None:
        """Let idempotency records expire with the invocation (Powertools' requirement)."""
        self.ledger.register_lambda_context(context)

    # --- the two ways in ---------------------------------------------------------------

    def accept(
        self, data: Any, *, key: str | None = None, remaining_ms: RemainingMs | None = None
    ) -> SendOutcome:
        """Validate and send one message for a caller who waits for the answer (API,
        direct invoke). Raises the error that says why not."""
        self.telemetry.count("MessagesReceived")
        try:
            message = parse_message(data, default_country_code=self.settings.default_country_code)
            _check_key(key)
            outcome = self.sender.send(message, key=key, remaining_ms=remaining_ms)
        except GatewayError as exc:
            self._count_failure(exc)
            raise
        self._count_success(outcome)
        return outcome

    def deliver(self, delivery: Delivery, remaining_ms: RemainingMs | None = None) -> str:
        """One message from SQS or SNS: sent, or parked in the dead-letter queue with its
        reason. Raises only what is worth retrying (the queue or Lambda retries it)."""
        try:
            self.accept(delivery.message, key=delivery.idempotency_key, remaining_ms=remaining_ms)
        except GatewayError as exc:
            if exc.retryable or self.dead_letters is None:
                # No dead-letter queue configured: the queue's redrive parks it, later.
                raise
            self.dead_letters.park(delivery.body, exc, delivery.attributes)
            logger.warning(
                "message parked in the dead-letter queue",
                extra={
                    "error_code": exc.code,
                    "reason": reason_text(exc),
                    "message_id": delivery.message_id,
                },
            )
            return PARKED
        return SENT

    def receipts(self, session_nos: Sequence[str]) -> list[SessionReceipts]:
        """Delivery receipts of earlier sends."""
        return self.sender.receipts(session_nos)

    # --- what the metrics and logs say ---------------------------------------------------

    def _count_success(self, outcome: SendOutcome) -> None:
        if outcome.replayed:
            self.telemetry.count("IdempotentReplays")
        else:
            self.telemetry.count("MessagesSent")
            self.telemetry.count("PhonesSent", outcome.phone_count)
        logger.info("message sent", extra={"result": outcome.as_log_result()})

    def _count_failure(self, error: GatewayError) -> None:
        name = "MessagesRetried" if error.retryable else "MessagesRejected"
        self.telemetry.count_by(name, "Reason", error.code)
        log: Callable[..., None] = logger.warning if error.retryable else logger.info
        log("message not sent", extra={"error_code": error.code, "reason": reason_text(error)})


def _check_key(key: str | None) -> None:
    # The header or attribute obeys the same rule as the IdempotencyKey field.
    if key is not None and len(key) > MAX_IDEMPOTENCY_KEY_LENGTH:
        raise MessageValidationError(
            [
                FieldError(
                    "IdempotencyKey",
                    "too_long",
                    f"must be at most {MAX_IDEMPOTENCY_KEY_LENGTH} characters",
                )
            ]
        )
