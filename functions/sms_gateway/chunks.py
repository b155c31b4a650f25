"""A chunk — the part of a message one provider call carries — and what became of it.

`ChunkRequest` is built by the sender, one per call; `ChunkOutcome` is what one call did,
and what the idempotency table keeps for the chunk (`as_record`, `from_record`). The
record's shape is the one every version of the gateway has written, so a record stored
before this module existed still replays.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from sms_gateway import upstream
from sms_gateway.uspeedo_client import BATCH_ACTION

SENT: Final = "sent"
UNKNOWN: Final = "unknown"


@dataclass(frozen=True, slots=True)
class ChunkRequest:
    """One provider call of a message: at most 1,000 numbers, exactly once per `key`.

    `key` is the chunk's idempotency key (`{message key}#{index}`), `fingerprint` the
    message's keyed fingerprint (a reused key with another message is refused on it),
    `action` the provider action and `body` its request, without `Action`. Only `key` and
    `fingerprint` go into the idempotency record.
    """

    key: str
    fingerprint: str
    action: str
    body: Mapping[str, Any]
    # When the message entered AWS (epoch seconds) and its own TimeToLive: its expiry.
    entered_at: float | None = None
    time_to_live: int | None = None

    @property
    def batch(self) -> bool:
        """Whether the call is SendBatchUSMSMessage (it may refuse single numbers)."""
        return self.action == BATCH_ACTION

    @property
    def phones(self) -> list[str]:
        """The chunk's numbers, in the request's order."""
        return upstream.phones_of(self.body) if self.batch else list(self.body["PhoneNumbers"])

    def idempotency_payload(self) -> dict[str, str]:
        """What its idempotency record is keyed (`key`) and checked (`fingerprint`) by."""
        return {"key": self.key, "fingerprint": self.fingerprint}


@dataclass(frozen=True, slots=True)
class ChunkOutcome:
    """What one call did: sent (with its SessionNo), or an unknown outcome (the request
    went out, no usable answer came back: remembered as done, never re-sent).

    `refused` (SendBatchUSMSMessage only, else None) holds the positions in the chunk of
    the numbers the provider refused, with its reason — positions, not numbers: the
    idempotency table holds no phone number. `replayed`: answered from the record.
    """

    sent: bool
    phone_count: int
    session_no: str = ""
    user_id: str | None = None
    unknown_reason: str = ""
    refused: tuple[tuple[int, str], ...] | None = None
    replayed: bool = False

    def as_record(self) -> dict[str, Any]:
        """The idempotency record's `data`, in the shape every version has stored."""
        if not self.sent:
            return {
                "Outcome": UNKNOWN,
                "Reason": self.unknown_reason,
                "PhoneCount": self.phone_count,
            }
        record: dict[str, Any] = {
            "Outcome": SENT,
            "SessionNo": self.session_no,
            "PhoneCount": self.phone_count,
            "UserId": self.user_id,
        }
        if self.refused is not None:
            record["Refused"] = [
                {"Index": index, "Reason": reason} for index, reason in self.refused
            ]
        return record

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> ChunkOutcome:
        """The outcome a stored record describes (see `as_record`)."""
        phone_count = int(record.get("PhoneCount") or 0)
        if record.get("Outcome") != SENT:
            return cls(
                sent=False, phone_count=phone_count, unknown_reason=str(record.get("Reason", ""))
            )
        refused = record.get("Refused")
        user_id = record.get("UserId")
        return cls(
            sent=True,
            phone_count=phone_count,
            session_no=str(record.get("SessionNo") or ""),
            user_id=user_id if isinstance(user_id, str) else None,
            refused=None
            if refused is None
            else tuple((int(item["Index"]), str(item["Reason"])) for item in refused),
        )
