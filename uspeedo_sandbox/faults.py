"""Faults that make the sandbox misbehave, and the plan that picks one for each request.

A fault applies to provider API requests only (`POST /api`), never to `/_sandbox/*`.
"""

from __future__ import annotations

import dataclasses
import random
import threading
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from sms_gateway.retcodes import SERVER_ERROR
from uspeedo_sandbox.rules import number_key

#: slow: sleep `delay` s, then answer normally. status: HTTP `status` with a JSON error body.
#: retcode: HTTP 200 with RetCode `ret_code`. drop: read the request, then RST the socket.
#: hang: read the request, never answer (until the fault is cleared or the server stops).
#: garbage: HTTP 200 with a non-JSON body. truncated: a Content-Length longer than the body.
#: nested: HTTP 200 with valid JSON nested 100,000 arrays deep (a nesting bomb).
#: refuse: answer normally, but the numbers in `phones` (every number when None) cannot be
#: reached: SendBatchUSMSMessage lists them in `FailContent` (reason: `message`) and sends
#: the rest; SendUSMSMessage refuses the whole request with 18014, as it does bad numbers.
#: receipt: GetUSMSSendReceipt reports the numbers in `phones` (every number when None) with
#: `result` instead of `Success`, for the first `count` receipt queries of each number
#: (None: forever); `absent` leaves the number out of its session's ReceiptSet, as the
#: provider does until a receipt arrives. It never applies to a send.
FAULT_KINDS = frozenset(
    {
        "slow",
        "status",
        "retcode",
        "drop",
        "hang",
        "garbage",
        "truncated",
        "nested",
        "refuse",
        "receipt",
    }
)
DEFAULT_REFUSAL = "number unreachable (sandbox fault)"
RECEIPT = "receipt"
RECEIPT_ACTION = "GetUSMSSendReceipt"
#: What a `receipt` fault reports: the provider's own ReceiptResult spellings, or `absent`.
ABSENT = "absent"
RECEIPT_RESULTS = ("Fail", "SubmitFail", "Unknow", ABSENT)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_text_or_none(value: object) -> bool:
    return value is None or isinstance(value, str)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


@dataclass(frozen=True)
class Fault:
    """One way to misbehave. Only the fields that matter to `kind` are used.

    `count`: apply to the next N matching requests, then retire (None: unlimited); for a
    `receipt` fault, to the next N receipt queries of each number it covers.
    `probability`: chance to apply to a matching request, drawn from an RNG seeded with
    `seed`, so the same sequence of requests meets the same faults on every run.
    `action`: apply only to requests with this `Action` (None: any request).
    `template_id`: apply only to requests with this `TemplateId` (SendBatchUSMSMessage: of
    any of its tasks) — so one message of a concurrent batch can fail while the others go
    through. `phones` (refuse, receipt): the numbers refused or reported, as the provider
    accepts them (`(86)13800138000`, `(0086)…`, bare China numbers); None: every number.
    `result` (receipt): one of `RECEIPT_RESULTS`. A `receipt` fault draws `probability`
    once per number and query; `action` can only be GetUSMSSendReceipt and `template_id`
    is not used (a receipt query names no template).
    """

    kind: str
    count: int | None = None
    probability: float = 1.0
    action: str | None = None
    template_id: str | None = None
    seed: int = 0
    delay: float = 1.0  # slow
    status: int = 503  # status
    retry_after: int | None = None  # status: the Retry-After header, in seconds
    ret_code: int = SERVER_ERROR  # retcode
    # status, retcode: the Message; refuse: FailureDetails; receipt: ReceiptDesc
    message: str | None = None
    phones: tuple[str, ...] | None = None  # refuse, receipt
    result: str | None = None  # receipt

    def __post_init__(self) -> None:
        if isinstance(self.phones, list):  # from JSON; a tuple keeps the fault hashable
            object.__setattr__(self, "phones", tuple(self.phones))
        problems = list(self._problems())
        if problems:
            raise ValueError("invalid fault: " + "; ".join(problems))

    def _problems(self) -> list[str]:
        phones = self.phones
        checks = (
            (
                self.kind in FAULT_KINDS,
                f"kind must be one of {sorted(FAULT_KINDS)}, not {self.kind!r}",
            ),
            (
                self.count is None or (_is_int(self.count) and self.count >= 0),
                "count must be a non-negative integer or null",
            ),
            (
                _is_number(self.probability) and 0 <= self.probability <= 1,
                "probability must be a number from 0 to 1",
            ),
            (_is_text_or_none(self.action), "action must be a string or null"),
            (_is_text_or_none(self.template_id), "template_id must be a string or null"),
            (_is_int(self.seed), "seed must be an integer"),
            (
                _is_number(self.delay) and self.delay >= 0,
                "delay must be a non-negative number of seconds",
            ),
            (
                _is_int(self.status) and 200 <= self.status <= 599,
                "status must be an HTTP status from 200 to 599",
            ),
            (
                self.retry_after is None or (_is_int(self.retry_after) and self.retry_after >= 0),
                "retry_after must be a non-negative integer or null",
            ),
            (_is_int(self.ret_code), "ret_code must be an integer"),
            (_is_text_or_none(self.message), "message must be a string or null"),
            (
                phones is None
                or (isinstance(phones, tuple) and all(number_key(p) for p in phones)),
                "phones must be a list of numbers like (86)13800138000, or null",
            ),
            *self._receipt_problems(),
        )
        return [problem for valid, problem in checks if not valid]

    def _receipt_problems(self) -> tuple[tuple[bool, str], ...]:
        receipt = self.kind == RECEIPT
        return (
            (
                self.result in RECEIPT_RESULTS if receipt else self.result is None,
                f"result must be one of {list(RECEIPT_RESULTS)} for a receipt fault, "
                "and null for any other",
            ),
            (
                not receipt or self.action in (None, RECEIPT_ACTION),
                f"a receipt fault applies to {RECEIPT_ACTION} only",
            ),
        )

    def refuses(self, number: object) -> bool:
        """Whether a `refuse` fault makes `number` unreachable."""
        if self.phones is None:
            return True
        key = number_key(number)
        return key is not None and key in {number_key(p) for p in self.phones}

    @property
    def refusal_reason(self) -> str:
        """The FailureDetails of a number a `refuse` fault refuses."""
        return self.message or DEFAULT_REFUSAL

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Fault:
        """A fault from its JSON form (the field names above); ValueError if it is invalid."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"invalid fault: unknown fields {unknown}")
        if "kind" not in data:
            raise ValueError("invalid fault: kind is required")
        return cls(**data)

    def to_json(self) -> dict[str, Any]:
        """The JSON form of this fault."""
        return dataclasses.asdict(self)


class Pick(NamedTuple):
    """The fault chosen for a request, and the plan's generation when it was chosen."""

    fault: Fault
    generation: int


@dataclass
class _Active:
    fault: Fault
    remaining: int | None
    rng: random.Random = field(repr=False)
    # receipt: queries answered so far, per number (CountryCode, Phone).
    answered: dict[tuple[str, str], int] = field(default_factory=dict)

    def answers_receipt(self, key: tuple[str, str]) -> bool:
        """Whether this `receipt` fault answers one more query of the number `key` (and
        counts it if so)."""
        fault = self.fault
        used = self.answered.get(key, 0)
        if fault.count is not None and used >= fault.count:
            return False
        if fault.phones is not None and key not in {number_key(p) for p in fault.phones}:
            return False
        if fault.probability < 1 and self.rng.random() >= fault.probability:
            return False
        self.answered[key] = used + 1
        return True

    @property
    def spent(self) -> bool:
        """Whether a `receipt` fault has answered every query it will (only when it lists
        its numbers: a fault on every number meets new numbers all the time)."""
        fault = self.fault
        if fault.count is None or fault.phones is None:
            return False
        keys = {number_key(p) for p in fault.phones}
        return all(key is not None and self.answered.get(key, 0) >= fault.count for key in keys)


class FaultPlan:
    """The installed faults; thread-safe. The first matching fault that fires applies."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._active: list[_Active] = []
        # Bumped whenever faults are cleared: hung requests wait for it to change.
        self._generation = 0
        self._stopping = False

    def add(self, fault: Fault) -> None:
        """Install `fault` after the ones already installed."""
        with self._cond:
            self._active.append(_Active(fault, fault.count, random.Random(fault.seed)))

    def set(self, fault: Fault) -> None:
        """Replace every installed fault with `fault` (releases hung requests)."""
        with self._cond:
            self._clear_locked()
            self._active.append(_Active(fault, fault.count, random.Random(fault.seed)))

    def clear(self) -> None:
        """Remove every fault and release hung requests."""
        with self._cond:
            self._clear_locked()

    def _clear_locked(self) -> None:
        self._active.clear()
        self._generation += 1
        self._cond.notify_all()

    def faults(self) -> list[Fault]:
        """The faults still installed, in order."""
        with self._cond:
            return [active.fault for active in self._active]

    def pick(self, action: str | None, template_ids: Collection[Any] = ()) -> Pick | None:
        """The fault to apply to a request with this Action (and these TemplateIds), if
        any; consumes one `count`."""
        with self._cond:
            for active in self._active:
                fault = active.fault
                if fault.kind == RECEIPT:  # decided per number, in `receipt_results`
                    continue
                if fault.action is not None and fault.action != action:
                    continue
                if fault.template_id is not None and fault.template_id not in template_ids:
                    continue
                if active.remaining == 0:
                    continue
                # Draw only for matching requests: the sequence stays reproducible per fault.
                if fault.probability < 1 and active.rng.random() >= fault.probability:
                    continue
                if active.remaining is not None:
                    active.remaining -= 1
                    if active.remaining == 0:
                        self._active.remove(active)
                return Pick(fault, self._generation)
            return None

    def receipt_results(self, numbers: Sequence[str]) -> dict[str, Fault]:
        """The `receipt` faults that answer `numbers` in one GetUSMSSendReceipt answer:
        number → the fault whose `result` it gets (numbers left out are `Success`). The
        first fault that answers a number applies; each number counts one query however
        many of the asked sessions hold it, in whatever form."""
        with self._cond:
            decided: dict[tuple[str, str], Fault | None] = {}
            for number in numbers:
                key = number_key(number)
                if key is not None and key not in decided:
                    decided[key] = self._receipt_fault_locked(key)
            self._active = [a for a in self._active if a.fault.kind != RECEIPT or not a.spent]
        results: dict[str, Fault] = {}
        for number in numbers:
            fault = decided.get(number_key(number) or ("", ""))
            if fault is not None:
                results[number] = fault
        return results

    def _receipt_fault_locked(self, key: tuple[str, str]) -> Fault | None:
        for active in self._active:
            if active.fault.kind == RECEIPT and active.answers_receipt(key):
                return active.fault
        return None

    def hold(self, generation: int) -> None:
        """Block until faults are cleared after `generation`, or the server stops."""
        with self._cond:
            self._cond.wait_for(lambda: self._generation != generation or self._stopping)

    def sleep(self, seconds: float) -> bool:
        """Sleep `seconds` unless the server stops first; True if the sleep completed."""
        with self._cond:
            return not self._cond.wait_for(lambda: self._stopping, timeout=seconds)

    def stopping(self, value: bool) -> None:
        """Mark the server as stopping (wakes every held or sleeping request) or running."""
        with self._cond:
            self._stopping = value
            self._cond.notify_all()
