"""What the sandbox remembers: requests seen, messages accepted, nonces used. Thread-safe."""

from __future__ import annotations

import copy
import threading
import uuid
from dataclasses import dataclass, replace
from typing import Any

#: How long a nonce stays used (the provider accepts timestamps within ±5 minutes).
NONCE_TTL_SECONDS = 300


_TARGET_FIELDS = ("TemplateParams", "ExtendCode", "UserId")


@dataclass(frozen=True)
class AcceptedMessage:
    """An accepted send: the signed request body as received, its SessionNo, and (from
    SendBatchUSMSMessage) the numbers it refused, `{"Phone", "Reason"}` each.

    `targets` is what each accepted number gets, in one shape for both actions:
    `{"Phone", "TemplateId", "SenderId"?, "TemplateParams"?, "ExtendCode"?, "UserId"?}` —
    so a test can check per-number parameters without caring which action carried them.
    """

    body: dict[str, Any]
    session_no: str
    refused: tuple[dict[str, str], ...] = ()

    @property
    def action(self) -> str:
        """The request's Action."""
        return str(self.body.get("Action"))

    @property
    def targets(self) -> list[dict[str, Any]]:
        """Every accepted number with what it was sent, in request order."""
        refused = {item["Phone"] for item in self.refused}
        out: list[dict[str, Any]] = []
        for shared, target in _targets_of(self.body):
            if target["Phone"] in refused:
                continue
            out.append(
                {
                    "Phone": target["Phone"],
                    **shared,
                    **{k: target[k] for k in _TARGET_FIELDS if target.get(k) is not None},
                }
            )
        return out

    def to_json(self) -> dict[str, Any]:
        """The form `GET /_sandbox/messages` lists: `Action`, `Body`, `SessionNo`,
        `Targets` (as `targets`) and `Refused`."""
        return {
            "Action": self.action,
            "Body": self.body,
            "SessionNo": self.session_no,
            "Targets": self.targets,
            "Refused": [dict(item) for item in self.refused],
        }


def _targets_of(body: dict[str, Any]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(the task's shared fields, the target) for each number of an accepted body."""
    if "TaskContent" in body:
        return [
            (
                {k: task[k] for k in ("TemplateId", "SenderId") if task.get(k) is not None},
                target,
            )
            for task in body["TaskContent"]
            for target in task["Target"]
        ]
    shared = {
        k: body[k] for k in ("TemplateId", "SenderId", *_TARGET_FIELDS) if body.get(k) is not None
    }
    return [(shared, {"Phone": number}) for number in body["PhoneNumbers"]]


@dataclass(frozen=True)
class RecordedRequest:
    """A provider API request whose body was read, and how the sandbox answered it.

    `body` is the parsed JSON when the body parsed (`body_is_json`), else the raw text.
    `ret_code` and `http_status` are None when nothing was answered (drop, hang); `fault`
    names the fault applied, if any.
    """

    method: str
    path: str
    action: str | None
    headers: dict[str, str]
    body: Any
    body_is_json: bool
    ret_code: int | None
    http_status: int | None
    fault: str | None
    received_at: float

    def to_json(self) -> dict[str, Any]:
        """The form `GET /_sandbox/requests` lists."""
        return {
            "Method": self.method,
            "Path": self.path,
            "Action": self.action,
            "Headers": self.headers,
            "Body": self.body,
            "BodyIsJson": self.body_is_json,
            "RetCode": self.ret_code,
            "HttpStatus": self.http_status,
            "Fault": self.fault,
            "ReceivedAt": self.received_at,
        }


@dataclass(frozen=True)
class Session:
    """What GetUSMSSendReceipt needs of an accepted message."""

    owner: str  # the access key that sent it: receipts are not shown to other keys
    recipients: tuple[tuple[str, str], ...]  # (number, UserId or "") per accepted number
    accepted_at: int


class Store:
    """Records, accepted messages and used nonces, behind one lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._accepted: list[AcceptedMessage] = []
        self._sessions: dict[str, Session] = {}
        self._nonces: dict[tuple[str, str], float] = {}
        self._in_flight = 0
        self._max_in_flight = 0

    def record(self, request: RecordedRequest) -> None:
        """Append a request record (newest last)."""
        with self._lock:
            self._requests.append(request)

    def accept(
        self,
        body: dict[str, Any],
        session: Session,
        refused: tuple[dict[str, str], ...] = (),
    ) -> str:
        """Store an accepted message (and the numbers it refused); returns its fresh
        SessionNo."""
        session_no = str(uuid.uuid4())
        with self._lock:
            self._accepted.append(AcceptedMessage(copy.deepcopy(body), session_no, refused))
            self._sessions[session_no] = session
        return session_no

    def session(self, session_no: str, owner: str) -> Session | None:
        """The accepted message with this SessionNo, if `owner` sent it."""
        with self._lock:
            found = self._sessions.get(session_no)
        return found if found is not None and found.owner == owner else None

    def use_nonce(self, access_key_id: str, nonce: str, now: float) -> bool:
        """Mark a nonce used; False if this key already used it within the TTL."""
        with self._lock:
            # Forget expired nonces as we go, so a long-running sandbox stays small. The dict
            # keeps insertion order, which is time order: stop at the first unexpired one.
            expired: list[tuple[str, str]] = []
            for key, used_at in self._nonces.items():
                if now - used_at <= NONCE_TTL_SECONDS:
                    break
                expired.append(key)
            for key in expired:
                del self._nonces[key]
            if (access_key_id, nonce) in self._nonces:
                return False
            self._nonces[(access_key_id, nonce)] = now
            return True

    def accepted(self) -> list[AcceptedMessage]:
        """A deep copy of the accepted messages, newest last."""
        with self._lock:
            return [
                replace(m, body=copy.deepcopy(m.body), refused=tuple(map(dict, m.refused)))
                for m in self._accepted
            ]

    def requests(self) -> list[RecordedRequest]:
        """A copy of the request records, newest last."""
        with self._lock:
            return list(self._requests)

    def enter(self) -> None:
        """A provider request started: counts calls in flight, to show concurrency."""
        with self._lock:
            self._in_flight += 1
            self._max_in_flight = max(self._max_in_flight, self._in_flight)

    def leave(self) -> None:
        """A provider request ended (answered, dropped or released)."""
        with self._lock:
            self._in_flight -= 1

    @property
    def max_in_flight(self) -> int:
        """The most provider requests handled at once since the last reset."""
        with self._lock:
            return self._max_in_flight

    def reset(self) -> None:
        """Forget everything: records, accepted messages, sessions and nonces."""
        with self._lock:
            self._max_in_flight = self._in_flight
            self._requests.clear()
            self._accepted.clear()
            self._sessions.clear()
            self._nonces.clear()
