"""Sending one message: chunks of at most 1,000 numbers, each exactly once, concurrently.

The domain logic, free of event shapes: it takes a validated `Message`, returns what was
sent (`verdict.SendOutcome`), or raises one error of the family in `errors.py` that says
what became of it. The pieces: `upstream` writes the requests, `chunk_calls` makes one
provider call per chunk, the ledger (`idempotency`) makes each call at most once per
chunk key, and `verdict` decides the message's fate over the chunks' outcomes.

The upstream action: SendUSMSMessage for ordinary messages, unless `USPEEDO_ACTION` is
SendBatchUSMSMessage; personalised messages (`Recipients`) always go as
SendBatchUSMSMessage. The batch action may refuse some numbers: the result lists them
(`Failed`), and a message none of whose numbers was accepted is refused
(`NumbersRefusedError`, permanent).
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Executor
from typing import Final

from sms_gateway import upstream
from sms_gateway.chunk_calls import ChunkCalls
from sms_gateway.chunks import ChunkOutcome, ChunkRequest
from sms_gateway.credentialed_client import ClientFactory, CredentialedClient
from sms_gateway.credentials import CredentialsSource
from sms_gateway.errors import GatewayError
from sms_gateway.gateway_key import GatewayKeySource
from sms_gateway.idempotency import ChunkLedger
from sms_gateway.message import Message
from sms_gateway.protection import Protection
from sms_gateway.provider_answers import SessionReceipts
from sms_gateway.receipt_scheduler import ReceiptScheduler
from sms_gateway.settings import Settings
from sms_gateway.telemetry import Counters
from sms_gateway.time_budget import RemainingMs
from sms_gateway.uspeedo_client import BATCH_ACTION, UspeedoClient
from sms_gateway.verdict import ChunkResult, SendOutcome, verdict

# Keeps a producer's key apart from every fingerprint, whatever text it holds.
EXPLICIT_KEY_DOMAIN: Final = "IdempotencyKey:"


class Sender:
    """Sends messages through USpeedo with the credentials of one secret."""

    def __init__(
        self,
        settings: Settings,
        credentials: CredentialsSource,
        ledger: ChunkLedger,
        pool: Executor,
        counters: Counters,
        *,
        gateway_key: GatewayKeySource,
        protection: Protection | None = None,
        receipts: ReceiptScheduler | None = None,
        client_factory: ClientFactory = UspeedoClient,
    ) -> None:
        self._settings = settings
        self._receipts = receipts
        self._gateway_key = gateway_key
        self._ledger = ledger
        self._pool = pool
        self._client = CredentialedClient(credentials, settings.endpoint, client_factory)
        self.calls = ChunkCalls(self._client, counters, protection)

    def send(
        self,
        message: Message,
        *,
        key: str | None = None,
        remaining_ms: RemainingMs | None = None,
        entered_at: float | None = None,
    ) -> SendOutcome:
        """Send every chunk of `message` not sent before under its idempotency key.
        `entered_at` (epoch seconds) is when the message entered AWS: its age.

        The key is the message's `IdempotencyKey`, else `key` (header or message
        attribute), else the message's fingerprint — each keyed with the gateway key
        before it is stored: a producer's key may hold a number too.
        """

        def send_chunk(chunk: ChunkRequest) -> ChunkOutcome:
            return self.calls.send(chunk, remaining_ms)

        chunks = self.chunks_of(message, key, entered_at)
        futures = [self._pool.submit(self._ledger.run, chunk, send_chunk) for chunk in chunks]
        results: list[ChunkResult] = []
        for chunk, future in zip(chunks, futures, strict=True):
            try:
                results.append((chunk, future.result()))
            except GatewayError as exc:
                results.append((chunk, exc))
        if self._receipts is not None:
            # Before the verdict: a chunk sent now is checked even if another chunk failed
            # (its retry replays this one, and a replay schedules nothing).
            self._receipts.schedule(
                [(chunk, out) for chunk, out in results if isinstance(out, ChunkOutcome)]
            )
        return verdict(results, message.user_id)

    def chunks_of(
        self, message: Message, key: str | None = None, entered_at: float | None = None
    ) -> list[ChunkRequest]:
        """The provider calls `message` takes, each under its own idempotency key."""
        gateway_key = self._gateway_key.get()
        fingerprint = message.fingerprint(gateway_key)  # hashes every number: once per message
        explicit = message.idempotency_key or key
        base_key = gateway_key.digest(EXPLICIT_KEY_DOMAIN + explicit) if explicit else fingerprint
        action = self.action_for(message)
        default_sender = self._settings.default_sender_id
        bodies = (
            upstream.batch_requests(message, sender_id=default_sender)
            if action == BATCH_ACTION
            else upstream.send_requests(message, sender_id=default_sender)
        )
        return [
            ChunkRequest(
                f"{base_key}#{index}", fingerprint, action, body, entered_at, message.time_to_live
            )
            for index, body in enumerate(bodies)
        ]

    def action_for(self, message: Message) -> str:
        """The upstream action of `message`: SendBatchUSMSMessage for personalised ones
        (only it carries per-number parameters), else the configured `USPEEDO_ACTION`."""
        return BATCH_ACTION if message.personalised else self._settings.action

    def receipts(self, session_nos: Sequence[str]) -> list[SessionReceipts]:
        """Delivery receipts of earlier sends."""
        return self._client.call(lambda client: client.get_receipts(session_nos))
