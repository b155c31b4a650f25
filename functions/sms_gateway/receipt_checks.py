"""A receipt check: the receipts queue's message asking "what became of these numbers?".

The send path writes one check per sent message (the SessionNo of each chunk sent, with
the numbers it carried); the receipts door answers it, and writes the next check for the
numbers that are not final yet, after a longer delay. The check carries the numbers
themselves (the provider's receipts name them, and a number that never gets a receipt is
published as `UNKNOWN` by name): the receipts queue is encrypted with the stack's key, as
the message queue that held the same numbers before.

A check is sealed with an HMAC under the gateway key. The receipts door tells a check from
a message by its shape (`{"ReceiptCheck": …, "Seal": …}`), and only a check the gateway
itself wrote has a valid seal: a producer who puts that shape on the message queue gets an
ordinary `InvalidMessage`, never a receipt query or an event.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from sms_gateway.gateway_key import GatewayKey
from sms_gateway.json_input import load_json

CHECK_FIELD: Final = "ReceiptCheck"
SEAL_FIELD: Final = "Seal"
# What every check's body starts with (`to_body`): the cheap test of a record's shape.
BODY_PREFIX: Final = '{"' + CHECK_FIELD + '":'
# After this long without a final receipt the provider's answer is final-unknown.
FINAL_AFTER_S: Final = 12 * 3600
# An SQS delay's maximum: the longest hop between two checks of one number.
MAX_HOP_S: Final = 900
# Under SQS's 256 KiB message limit with room for the envelope: a check of one 1,000-number
# chunk is about 20 KB, so a 10,000-number message fits in one or two.
MAX_BODY_BYTES: Final = 200_000
_SEAL_DOMAIN: Final = "receipt-check:"


class InvalidReceiptCheckError(ValueError):
    """A record shaped like a check whose seal or fields are wrong."""


@dataclass(frozen=True)
class SessionCheck:
    """One SessionNo and the numbers of it still waiting for a final receipt, each with the
    UserId it was sent with (the provider's receipt repeats it; an `UNKNOWN` needs it)."""

    session_no: str
    phones: tuple[str, ...]
    user_ids: tuple[str | None, ...]

    def as_json(self) -> dict[str, Any]:
        """Its place in a check's body (`UserIds` only when a number has one)."""
        data: dict[str, Any] = {"SessionNo": self.session_no, "Phones": list(self.phones)}
        if any(user_id is not None for user_id in self.user_ids):
            data["UserIds"] = list(self.user_ids)
        return data

    @classmethod
    def from_json(cls, data: Any) -> SessionCheck:
        """From a check's body; `InvalidReceiptCheckError` if the shape is wrong."""
        if not isinstance(data, Mapping):
            raise InvalidReceiptCheckError("a session is not an object")
        session_no, phones = data.get("SessionNo"), data.get("Phones")
        if not isinstance(session_no, str) or not session_no:
            raise InvalidReceiptCheckError("SessionNo is not a non-empty string")
        if not isinstance(phones, list) or not all(isinstance(p, str) for p in phones):
            raise InvalidReceiptCheckError("Phones is not a list of strings")
        user_ids = data.get("UserIds") or [None] * len(phones)
        if not isinstance(user_ids, list) or len(user_ids) != len(phones):
            raise InvalidReceiptCheckError("UserIds does not match Phones")
        ids = tuple(user_id if isinstance(user_id, str) else None for user_id in user_ids)
        return cls(session_no, tuple(phones), ids)


@dataclass(frozen=True)
class ReceiptCheck:
    """Numbers of one or more sessions sent at `sent_at` (epoch seconds), checked after
    `delay_s`; the next check of what is still pending waits twice as long."""

    sent_at: float
    delay_s: int
    sessions: tuple[SessionCheck, ...]

    @property
    def session_nos(self) -> list[str]:
        """Its SessionNos, in order."""
        return [session.session_no for session in self.sessions]

    @property
    def phone_count(self) -> int:
        """How many numbers it asks about."""
        return sum(len(session.phones) for session in self.sessions)

    def final_at(self) -> float:
        """When a number still without a receipt is published as `UNKNOWN`."""
        return self.sent_at + FINAL_AFTER_S

    def next_delay(self, now: float) -> int:
        """The next hop: twice this one, at most `MAX_HOP_S`, and no later than the moment
        the pending numbers turn `UNKNOWN` (so that moment is kept to within a second)."""
        until_final = max(1, int(self.final_at() - now) + 1)
        return max(1, min(self.delay_s * 2, MAX_HOP_S, until_final))

    def to_body(self, key: GatewayKey) -> str:
        """The queue message: the check and its seal."""
        check = json.dumps(self._as_json(), separators=(",", ":"), sort_keys=True)
        seal = key.digest(_SEAL_DOMAIN + check)
        return f'{BODY_PREFIX}{check},"{SEAL_FIELD}":"{seal}"}}'

    def _as_json(self) -> dict[str, Any]:
        return {
            "SentAt": self.sent_at,
            "DelaySeconds": self.delay_s,
            "Sessions": [session.as_json() for session in self.sessions],
        }

    @classmethod
    def from_body(cls, body: str, key: GatewayKey) -> ReceiptCheck:
        """A check this gateway wrote; `InvalidReceiptCheckError` for anything else."""
        try:
            data = load_json(body)
        except ValueError as exc:
            raise InvalidReceiptCheckError(f"not JSON: {exc}") from None
        if not isinstance(data, Mapping) or set(data) != {CHECK_FIELD, SEAL_FIELD}:
            raise InvalidReceiptCheckError("not a receipt check")
        check, seal = data[CHECK_FIELD], data[SEAL_FIELD]
        text = json.dumps(check, separators=(",", ":"), sort_keys=True)
        expected = key.digest(_SEAL_DOMAIN + text)
        if not isinstance(seal, str) or not hmac.compare_digest(seal, expected):
            raise InvalidReceiptCheckError("the seal does not match: not written by this gateway")
        return cls._from_json(check)

    @classmethod
    def _from_json(cls, check: Any) -> ReceiptCheck:
        sent_at, delay, sessions = (
            check.get("SentAt"),
            check.get("DelaySeconds"),
            check.get("Sessions"),
        )
        if not isinstance(sent_at, int | float) or not isinstance(delay, int):
            raise InvalidReceiptCheckError("SentAt or DelaySeconds is not a number")
        if not isinstance(sessions, list) or not sessions:
            raise InvalidReceiptCheckError("Sessions is not a non-empty list")
        return cls(float(sent_at), delay, tuple(SessionCheck.from_json(s) for s in sessions))


def looks_like_check(body: Any) -> bool:
    """Whether a queue record's body has a check's shape (the seal is checked later)."""
    return isinstance(body, str) and body.startswith(BODY_PREFIX)


def split_for_queue(
    sessions: Sequence[SessionCheck], sent_at: float, delay_s: int, key: GatewayKey
) -> Iterator[str]:
    """The bodies that carry `sessions`: as few as fit under `MAX_BODY_BYTES` each."""
    group: list[SessionCheck] = []
    size = 0
    for session in sessions:
        session_size = len(json.dumps(session.as_json()))
        if group and size + session_size > MAX_BODY_BYTES:
            yield ReceiptCheck(sent_at, delay_s, tuple(group)).to_body(key)
            group, size = [], 0
        group.append(session)
        size += session_size
    if group:
        yield ReceiptCheck(sent_at, delay_s, tuple(group)).to_body(key)
