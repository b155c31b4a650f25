"""The USpeedo client with the credentials of one secret, kept fresh.

One client per container, made from the secret on first use and remade when the secret
was rotated. A credentials refusal refetches the secret once: if it changed, the call is
tried again with the new one (the refused call sent nothing); if not, the error stands —
retried later and alarmed — unless the message names an account of its own and the
refusal is about the account: then the message is at fault, and refused for good.

It also bounds the provider calls in flight (`MAX_PARALLEL_CALLS` per container): a
chunk's thread claims its idempotency record and screens its numbers before it waits for
one of those slots, so DynamoDB round trips overlap with provider calls instead of holding
a slot the provider could use.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Final, TypeVar

from sms_gateway.credentials import CredentialsSource
from sms_gateway.errors import CredentialsError, PermanentError
from sms_gateway.retcodes import ACCOUNT_RETCODES
from sms_gateway.time_budget import RemainingMs, ensure_time_for_a_call
from sms_gateway.uspeedo_client import Credentials, UspeedoClient

logger = logging.getLogger(__name__)

# Upstream calls in flight at once per container: a 10-record batch, or a 10,000-number
# message's ten chunks, take about one round trip. The SQS event source's maximum
# concurrency bounds the containers, so this bounds what the provider sees.
MAX_PARALLEL_CALLS: Final = 10

T = TypeVar("T")
ClientFactory = Callable[[Credentials, str], UspeedoClient]


class CredentialedClient:
    """Runs calls with a client holding the secret's current credentials. Thread-safe."""

    def __init__(
        self,
        credentials: CredentialsSource,
        endpoint: str,
        client_factory: ClientFactory = UspeedoClient,
        max_in_flight: int = MAX_PARALLEL_CALLS,
    ) -> None:
        self._credentials = credentials
        self._endpoint = endpoint
        self._client_factory = client_factory
        self._client: UspeedoClient | None = None
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(max_in_flight)

    def call(
        self,
        call: Callable[[UspeedoClient], T],
        remaining_ms: RemainingMs | None = None,
        message_account: int | None = None,
    ) -> T:
        """Run `call`; on a credentials refusal, refetch the secret once and, if it
        changed, run it again with the new one.

        The time left is checked just before each call: reading the secret can be slow
        (Secrets Manager's SDK retries), and a call begun without time to finish can be
        cut by the Lambda timeout. (Found by tests/reliability: slow-secret.)
        """
        client = self._current()
        try:
            return self._in_a_slot(call, client, remaining_ms)
        except CredentialsError as exc:
            fresh = self._credentials.get(refresh=True)
            if fresh == client.credentials:
                refusal = _account_refusal(exc, message_account, fresh)
                if refusal is not None:
                    raise refusal from exc
                raise
            logger.warning("provider refused the credentials; retrying with the rotated secret")
            return self._in_a_slot(call, self._current(fresh), remaining_ms)

    def _in_a_slot(
        self,
        call: Callable[[UspeedoClient], T],
        client: UspeedoClient,
        remaining_ms: RemainingMs | None,
    ) -> T:
        """Run `call` holding one of the provider slots; the time left is checked once the
        slot is ours, since waiting for one can take a round trip or more."""
        with self._slots:
            ensure_time_for_a_call(remaining_ms)
            return call(client)

    def _current(self, fresh: Credentials | None = None) -> UspeedoClient:
        with self._lock:
            if fresh is not None and (self._client is None or self._client.credentials != fresh):
                self._client = self._client_factory(fresh, self._endpoint)
            if self._client is None:
                self._client = self._client_factory(self._credentials.get(), self._endpoint)
            return self._client


def _account_refusal(
    error: CredentialsError, message_account: int | None, credentials: Credentials
) -> PermanentError | None:
    """The permanent error for a message naming an account the provider refuses, when the
    refusal is about the account and the account is not the secret's; else None."""
    if (
        message_account is None
        or message_account == credentials.account_id
        or error.ret_code not in ACCOUNT_RETCODES
    ):
        return None
    return PermanentError(
        f"the provider refused the message's AccountId: {error.message}",
        http_status=error.http_status,
        ret_code=error.ret_code,
        action=error.action,
    )
