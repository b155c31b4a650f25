"""The gateway: validate, send, and decide each message's fate — sent, rejected, or parked.

The composition root too: `Gateway.from_settings()` wires every collaborator from the
settings and a set of boto3 clients — the function's (`from_env`), the local run's and the
tests' (moto) alike.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from sms_gateway.credentialed_client import MAX_PARALLEL_CALLS
from sms_gateway.credentials import CredentialsSource
from sms_gateway.dead_letter import DeadLetterQueue, reason_text
from sms_gateway.deliveries import Delivery
from sms_gateway.delivery_wiring import receipt_door, receipt_scheduler
from sms_gateway.errors import FieldError, GatewayError, MessageValidationError
from sms_gateway.gateway_key import GatewayKeySource
from sms_gateway.idempotency import ChunkLedger, DynamoLedger, NoLedger
from sms_gateway.lazy import once
from sms_gateway.limit_counters import LimitCounters
from sms_gateway.message import MAX_IDEMPOTENCY_KEY_LENGTH
from sms_gateway.message_input import parse_message
from sms_gateway.optouts import OptOutStore
from sms_gateway.policy_source import PolicySource
from sms_gateway.protection import Protection
from sms_gateway.provider_answers import SessionReceipts
from sms_gateway.sender import Sender
from sms_gateway.settings import Settings
from sms_gateway.telemetry import Counters, counters, logger
from sms_gateway.time_budget import RemainingMs
from sms_gateway.verdict import SendOutcome

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.parameters import SecretsProvider
    from aws_lambda_powertools.utilities.typing import LambdaContext

    from sms_gateway.receipt_door import ReceiptDoor

# Chunks worked on at once per container. Twice the provider slots
# (`credentialed_client.MAX_PARALLEL_CALLS`): while ten chunks wait on the provider, ten
# more claim their idempotency records and screen their numbers, ready for the next slot.
CHUNK_WORKERS: Final = 2 * MAX_PARALLEL_CALLS

# DynamoDB calls in flight at once for the protection checks (counters of one chunk); a
# pool of their own, since they run inside the chunk pool's threads.
PROTECTION_CALLS: Final = 16

# DynamoDB calls that can be in flight at once: every chunk worker's claim or completion,
# and the protection pool's counters. botocore keeps 10 connections by default; a call
# beyond them opens a connection of its own and throws it away after.
DYNAMODB_CONNECTIONS: Final = CHUNK_WORKERS + PROTECTION_CALLS

PARKED: Final = "parked"
SENT: Final = "sent"


@dataclass(frozen=True)
class AwsClients:
    """The boto3 clients a gateway talks to: one session's in the function, moto's in
    tests and the local run. `sqs` and `events` make theirs on first use (a message parked,
    a receipt check scheduled, an event published); the gateway calls each factory once."""

    dynamodb: Any
    secretsmanager: Any
    sqs: Callable[[], Any]
    ssm: Any = None  # only with a traffic policy
    events: Callable[[], Any] | None = None  # only with delivery events (EventBridge)

    @classmethod
    def of(
        cls, dynamodb: Any, secretsmanager: Any, sqs: Any, ssm: Any = None, events: Any = None
    ) -> AwsClients:
        """From clients made already."""
        return cls(
            dynamodb=dynamodb,
            secretsmanager=secretsmanager,
            sqs=lambda: sqs,
            ssm=ssm,
            events=(lambda: events) if events is not None else None,
        )


class Gateway:
    """Everything one invocation needs, built once per container."""

    def __init__(
        self,
        settings: Settings,
        sender: Sender,
        dead_letters: DeadLetterQueue | None,
        ledger: ChunkLedger,
        optouts: OptOutStore | None = None,
        policies: PolicySource | None = None,
        receipt_door: Callable[[], ReceiptDoor] | None = None,
        telemetry: Counters = counters,
    ) -> None:
        self.settings = settings
        self._receipt_door = receipt_door
        self.optouts = optouts
        self.policies = policies
        self.sender = sender
        self.dead_letters = dead_letters
        self.ledger = ledger
        self.telemetry = telemetry
        self._pool: ThreadPoolExecutor | None = None

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        clients: AwsClients,
        *,
        ledger: ChunkLedger | None = None,
        secrets: SecretsProvider | None = None,
        **sender_options: Any,
    ) -> Gateway:
        """The one place a gateway is wired: the function, the local run and the tests.

        `ledger` and `secrets` replace the ones made from `clients` (tests that count or
        fail their calls); `sender_options` go to the `Sender` (its client factory).
        """
        from aws_lambda_powertools.utilities.parameters import SecretsProvider

        ledger = ledger or _ledger(settings, clients)
        # One SQS client per container, made on first use, for the dead-letter queue and
        # the receipt checks alike.
        sqs = once(clients.sqs)
        events = once(clients.events) if clients.events is not None else None
        dead_letters = (
            DeadLetterQueue(settings.dead_letter_queue_url, sqs)
            if settings.dead_letter_queue_url
            else None
        )
        # One provider for both secrets: one boto3 client, one cache.
        secrets = secrets or SecretsProvider(boto3_client=clients.secretsmanager)
        pool = ThreadPoolExecutor(CHUNK_WORKERS, thread_name_prefix="chunk")
        gateway_key = GatewayKeySource(settings.gateway_key_secret_id, secrets)
        optouts = (
            OptOutStore(settings.protection_table, clients.dynamodb)
            if settings.protection_table
            else None
        )
        policies = _policies(settings, clients)
        scheduler = receipt_scheduler(settings, sqs, gateway_key, counters)
        sender = Sender(
            settings,
            CredentialsSource(settings.secret_id, secrets),
            ledger,
            pool,
            counters,
            gateway_key=gateway_key,
            protection=_protection(settings, clients, optouts, gateway_key, policies),
            receipts=scheduler,
            **sender_options,
        )
        door = receipt_door(
            settings, scheduler, sender, (clients.dynamodb, events), gateway_key, counters
        )
        gateway = cls(settings, sender, dead_letters, ledger, optouts, policies, door)
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
        self,
        data: Any,
        *,
        key: str | None = None,
        remaining_ms: RemainingMs | None = None,
        entered_at: float | None = None,
    ) -> SendOutcome:
        """Validate and send one message for a caller who waits for the answer (API,
        direct invoke). Raises the error that says why not. `entered_at`: when the
        message entered AWS (epoch seconds), for its expiry."""
        self.telemetry.count("MessagesReceived")
        try:
            message = parse_message(data, default_country_code=self.settings.default_country_code)
            _check_key(key)
            outcome = self.sender.send(
                message, key=key, remaining_ms=remaining_ms, entered_at=entered_at
            )
        except GatewayError as exc:
            _report_not_sent(self.telemetry, exc)
            raise
        _report_sent(self.telemetry, outcome)
        return outcome

    def send_or_park(self, delivery: Delivery, remaining_ms: RemainingMs | None = None) -> str:
        """One message from SQS or SNS: sent, or parked in the dead-letter queue with its
        reason. Raises only what is worth retrying (the queue or Lambda retries it)."""
        try:
            self.accept(
                delivery.message,
                key=delivery.idempotency_key,
                remaining_ms=remaining_ms,
                entered_at=delivery.entered_at,
            )
        except GatewayError as exc:
            if exc.retryable or self.dead_letters is None:
                # No dead-letter queue configured: the queue's redrive parks it, later.
                raise
            self.dead_letters.park(
                delivery.body, exc, delivery.attributes, original_message_id=delivery.message_id
            )
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

    def receipt_door(self) -> ReceiptDoor | None:
        """The receipts door, made by the first batch of checks; None without delivery events."""
        return self._receipt_door() if self._receipt_door is not None else None


def gateway_from_env(environ: Mapping[str, str] | None = None) -> Gateway:
    """The real thing: boto3 clients of one session, from the function's environment.

    Built by the first invocation, so boto3 is imported then, not by the handler's import.
    The clients share one boto3 session: each new session parses botocore's endpoint data
    again (tens of milliseconds of a cold start), and Powertools makes a session of its own
    for every provider it is not given one for. SQS's client (the dead-letter queue's and
    the receipt checks') is made when first needed, EventBridge's by the first event.
    """
    import boto3  # here: tests and local runs bring their own clients
    from botocore.config import Config

    settings = Settings.from_env(environ)
    session = boto3.session.Session()
    later = made_one_at_a_time(session)
    clients = AwsClients(
        dynamodb=session.client(
            "dynamodb", config=Config(max_pool_connections=DYNAMODB_CONNECTIONS)
        ),
        secretsmanager=session.client("secretsmanager"),
        sqs=later("sqs"),
        ssm=session.client("ssm") if settings.traffic_policy_parameter else None,
        events=later("events") if settings.event_bus_name else None,
    )
    return Gateway.from_settings(settings, clients)


def made_one_at_a_time(session: Any) -> Callable[[str], Callable[[], Any]]:
    """Factories of `session`'s clients, made on first use from worker threads. A boto3
    session must not make two clients at once, and `once` only keeps one factory from
    running twice: the SQS and EventBridge clients of one batch of receipt checks can be
    asked for together, so every factory of the session takes one lock."""
    lock = threading.Lock()

    def factory(service: str) -> Callable[[], Any]:
        def make() -> Any:
            with lock:
                return session.client(service)

        return make

    return factory


def _ledger(settings: Settings, clients: AwsClients) -> ChunkLedger:
    """The idempotency ledger: the table's, or none (local use only)."""
    if not settings.idempotency_table:
        return NoLedger()
    return DynamoLedger(
        settings.idempotency_table, settings.idempotency_ttl_s, boto3_client=clients.dynamodb
    )


def _policies(settings: Settings, clients: AwsClients) -> PolicySource | None:
    """The traffic policy's source, when there is a policy parameter."""
    if settings.traffic_policy_parameter is None:
        return None
    from aws_lambda_powertools.utilities.parameters import SSMProvider

    provider = SSMProvider(boto3_client=clients.ssm) if clients.ssm is not None else None
    return PolicySource(settings.traffic_policy_parameter, provider, settings.policy_cache_s)


def _protection(
    settings: Settings,
    clients: AwsClients,
    optouts: OptOutStore | None,
    gateway_key: GatewayKeySource,
    policies: PolicySource | None,
) -> Protection | None:
    """The protection checks, when a policy or the protection table is configured."""
    if policies is None and optouts is None:
        return None
    limits = (
        LimitCounters(
            settings.protection_table,
            clients.dynamodb,
            ThreadPoolExecutor(PROTECTION_CALLS, thread_name_prefix="protection"),
        )
        if settings.protection_table
        else None
    )
    return Protection(policies or PolicySource(None), optouts, limits, gateway_key, counters)


def _report_sent(telemetry: Counters, outcome: SendOutcome) -> None:
    """What the metrics and the log say of a message sent (or replayed)."""
    if outcome.replayed:
        telemetry.count("IdempotentReplays")
    else:
        telemetry.count("MessagesSent")
        telemetry.count("PhonesSent", outcome.phone_count)
    logger.info("message sent", extra={"result": outcome.as_log_result()})


def _report_not_sent(telemetry: Counters, error: GatewayError) -> None:
    """What the metrics and the log say of a message not sent, by its reason."""
    name = "MessagesRetried" if error.retryable else "MessagesRejected"
    telemetry.count_by(name, "Reason", error.code)
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
