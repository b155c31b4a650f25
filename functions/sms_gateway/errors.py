"""The gateway's one typed error family.

Callers branch on the class (or on `retryable`), never on message text. Every provider
error carries the HTTP status, the RetCode and the provider's message (digits of phone
numbers masked), so the handler can map it to an API status, a dead-letter reason or a
queue retry in one place.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from sms_gateway import contract
from sms_gateway.contract import mask_phone
from sms_gateway.redact import redact_text


class GatewayError(Exception):
    """Base of every error the gateway raises on purpose."""

    code: ClassVar[str] = contract.GATEWAY_ERROR
    retryable: ClassVar[bool] = False


@dataclass(frozen=True)
class FieldError:
    """One broken rule: `field` is a path such as `PhoneNumbers[3]`, `rule` a stable id."""

    field: str
    rule: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"Field": self.field, "Rule": self.rule, "Message": self.message}


class MessageValidationError(GatewayError):
    """The message breaks one or more rules; it will never be sent, so never retry it."""

    code = contract.INVALID_MESSAGE

    def __init__(self, errors: Sequence[FieldError]) -> None:
        self.errors = tuple(errors)
        summary = "; ".join(f"{e.field}: {e.message}" for e in self.errors)
        super().__init__(f"invalid message: {summary}")


class UspeedoError(GatewayError):
    """The provider call did not succeed. Subclasses say what a caller may do about it."""

    code = contract.PROVIDER_ERROR

    def __init__(
        self,
        message: str,
        *,
        http_status: int | None = None,
        ret_code: int | None = None,
        action: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.message = redact_text(message)
        self.http_status = http_status
        self.ret_code = ret_code
        self.action = action
        self.retry_after = retry_after
        super().__init__(self._describe())

    def _describe(self) -> str:
        parts = [self.message]
        if self.ret_code is not None:
            parts.append(f"RetCode {self.ret_code}")
        if self.http_status is not None:
            parts.append(f"HTTP {self.http_status}")
        if self.action:
            parts.append(self.action)
        return " | ".join(parts)


class TransientError(UspeedoError):
    """Nothing was sent; the same request may succeed later (connect failure, 429, 5xx)."""

    code = contract.PROVIDER_UNAVAILABLE
    retryable = True


class UnknownActionError(TransientError):
    """The provider does not know the action: a configuration error, loud but retryable."""

    code = contract.PROVIDER_ACTION_UNKNOWN


class CredentialsError(UspeedoError):
    """The provider refused our key or signature: refresh the secret once, then alarm."""

    code = contract.PROVIDER_CREDENTIALS_REJECTED
    retryable = True


class PermanentError(UspeedoError):
    """The provider refused the request itself; sending it again would be refused again."""

    code = contract.PROVIDER_REJECTED


class UnknownOutcomeError(UspeedoError):
    """The request was written but no usable answer came back (read timeout, dropped
    connection, garbled body). It may have been sent: retrying blindly risks a duplicate."""

    code = contract.PROVIDER_OUTCOME_UNKNOWN


class IdempotencyKeyReusedError(GatewayError):
    """The same explicit idempotency key arrived with a different message."""

    code = contract.IDEMPOTENCY_KEY_REUSED

    def __init__(self) -> None:
        super().__init__(
            "this idempotency key was already used for a different message; "
            "use a new key for a new message"
        )


class MessageInProgressError(GatewayError):
    """Another invocation is sending the same message right now; ask again later."""

    code = contract.MESSAGE_IN_PROGRESS
    retryable = True


class OutOfTimeError(GatewayError):
    """Too little time left in this invocation for one more provider call; the rest of the
    message is left for the queue's retry (sent chunks are remembered)."""

    code = contract.INVOCATION_OUT_OF_TIME
    retryable = True


class ConfigurationError(GatewayError):
    """The gateway is set up wrong (environment, secret): not the message's fault."""

    code = contract.GATEWAY_MISCONFIGURED
    retryable = True


class IdempotencyStoreError(GatewayError):
    """The idempotency table could not be read or written: nothing was sent; retry later."""

    code = contract.IDEMPOTENCY_STORE_UNAVAILABLE
    retryable = True


@dataclass(frozen=True)
class FailedNumber:
    """A number the provider refused (SendBatchUSMSMessage's `FailContent`) and why.

    `phone_number` is the full `(CC)national` number: it goes back to the caller who sent
    it, never to a log — `repr` masks it.
    """

    phone_number: str
    reason: str

    def as_dict(self) -> dict[str, str]:
        """The contract's `{"PhoneNumber", "Reason"}` entry of a result's `Failed`."""
        return {"PhoneNumber": self.phone_number, "Reason": self.reason}

    def __repr__(self) -> str:
        masked = mask_phone(self.phone_number)
        return f"FailedNumber(phone_number={masked!r}, reason={self.reason!r})"


# Numbers named in a refusal's text (a log line, a dead-letter reason); the rest are counted.
MAX_NUMBERS_SHOWN = 20


def masked_reasons(failed: Sequence[FailedNumber]) -> str:
    """`(**)*******8000: reason; …` for the first few refused numbers, masked."""
    shown = "; ".join(
        f"{mask_phone(f.phone_number)}: {f.reason}" for f in failed[:MAX_NUMBERS_SHOWN]
    )
    more = len(failed) - MAX_NUMBERS_SHOWN
    return shown + (f"; and {more} more" if more > 0 else "")


class NumbersRefusedError(PermanentError):
    """The provider accepted none of the message's numbers (every one is in `FailContent`).

    Permanent: the same numbers would be refused again. `failed` holds each number with its
    reason for the caller; the error's text (logged, and the dead-letter queue's
    `ErrorMessage`) names them masked.
    """

    code = contract.PROVIDER_REFUSED_NUMBERS

    def __init__(
        self,
        failed: Sequence[FailedNumber],
        *,
        ret_code: int | None = None,
        action: str | None = None,
    ) -> None:
        self.failed = tuple(failed)
        super().__init__(
            f"the provider accepted none of the {len(self.failed)} numbers — "
            f"{masked_reasons(self.failed)}",
            ret_code=ret_code,
            action=action,
        )


class UnsupportedEventError(GatewayError):
    """The function was invoked with an event no door takes (an S3 notification, an
    EventBridge event, an HTTP API v2 request, …): a wiring mistake, not a message to judge.
    The text names what was recognised, never the event's content."""

    code = contract.UNSUPPORTED_EVENT

    def __init__(self, event_type: str, description: str) -> None:
        self.event_type = event_type
        super().__init__(
            f"{description} is not supported: send messages through the SNS topic, the SQS "
            "queue, the API, or invoke with a bare message"
        )


class PolicyRefusedError(PermanentError):
    """The traffic policy or the opt-out list refused every number of the message.

    Permanent as the message stands — nothing is stored as sent, so after the policy
    changes a redrive sends it. `failed` holds each number with its reason (`opted_out`,
    `country_blocked`, `rate_limited`, `cap_reached`); the text names them masked.
    `retry_after` (seconds until the earliest refusing window ends) is set only when every
    refusal was a limit: the API then answers 429 instead of 422.
    """

    code = contract.POLICY_REFUSED

    def __init__(self, failed: Sequence[FailedNumber], *, retry_after: float | None = None) -> None:
        self.failed = tuple(failed)
        super().__init__(
            f"the traffic policy refused all {len(self.failed)} numbers — "
            f"{masked_reasons(self.failed)}",
            retry_after=retry_after,
        )


class ExpiredError(PermanentError):
    """The message is older than its `TimeToLive` (or the policy's `MaxAgeSeconds`) allows:
    a stale one-time code is worse than none, so it is not sent."""

    code = contract.EXPIRED


class PolicyUnavailableError(GatewayError):
    """No usable traffic policy (unreadable, or invalid with no earlier good one): nothing
    is sent until there is one; retried, and alarmed."""

    code = contract.POLICY_UNAVAILABLE
    retryable = True
