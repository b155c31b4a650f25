"""A message as the provider's request bodies, and the provider's refusals mapped back to it.

Two actions carry a message: SendUSMSMessage (`send_requests`: the numbers of each call
share the parameters) and SendBatchUSMSMessage (`batch_requests`: each number its own).
Personalised messages (`Recipients`) always go as SendBatchUSMSMessage; ordinary ones too
when `USPEEDO_ACTION=SendBatchUSMSMessage` (one task whose targets share the parameters).
Either way each call carries at most 1,000 consecutive numbers, so the chunks — and their
idempotency records, `{key}#{i}` — are the same whichever action carries them.

The bodies have no `Action` (the client adds it), no `IdempotencyKey` (the gateway's own)
and no None fields (a null field would change the signature). `AccountId` appears only if
the message has one; a default from the secret is the caller's to add.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, Final

from sms_gateway.errors import FailedNumber
from sms_gateway.message import MAX_NUMBERS_PER_CALL, Message, Recipient
from sms_gateway.provider_answers import BatchResult

__all__ = [
    "NO_REASON",
    "batch_requests",
    "failed_numbers",
    "phones_of",
    "refused_positions",
    "send_requests",
]

# What a refused number is reported with when the provider accepted none and named no
# reason for it.
NO_REASON: Final = "not accepted by the provider (no reason given)"
_WITH_CODE: Final = re.compile(r"\((\d+)\)(\d+)")
_NON_DIGITS: Final = re.compile(r"\D")


# --- SendUSMSMessage -------------------------------------------------------------------------


def send_requests(
    message: Message,
    *,
    sender_id: str | None = None,
    max_numbers: int = MAX_NUMBERS_PER_CALL,
) -> list[dict[str, Any]]:
    """The SendUSMSMessage bodies of `message`, one per chunk of at most `max_numbers`
    consecutive numbers, every other field repeated in each.

    `sender_id` applies when the message has none (`DEFAULT_SENDER_ID`). A personalised
    message cannot be written as SendUSMSMessage (`ValueError`): see `batch_requests`.
    """
    if max_numbers < 1:
        raise ValueError("max_numbers must be at least 1")
    if message.recipients is not None:
        raise ValueError("a message with Recipients goes upstream as SendBatchUSMSMessage")
    rest = message.fields_but_numbers()
    if message.sender_id is None and sender_id is not None:
        rest["SenderId"] = sender_id
    numbers = message.phone_numbers
    return [
        {"PhoneNumbers": list(numbers[start : start + max_numbers]), **rest}
        for start in range(0, len(numbers), max_numbers)
    ]


# --- SendBatchUSMSMessage --------------------------------------------------------------------


def batch_requests(
    message: Message,
    *,
    sender_id: str | None = None,
    max_targets: int = MAX_NUMBERS_PER_CALL,
) -> list[dict[str, Any]]:
    """The SendBatchUSMSMessage bodies of `message`: `{"TaskContent": [task], "AccountId"?}`
    per chunk of at most `max_targets` consecutive numbers, in order.

    `sender_id` applies when the message has none (`DEFAULT_SENDER_ID`).
    """
    if max_targets < 1:
        raise ValueError("max_targets must be at least 1")
    task: dict[str, Any] = {"TemplateId": message.template_id}
    sender = message.sender_id if message.sender_id is not None else sender_id
    if sender is not None:
        task["SenderId"] = sender
    targets = [_target(recipient) for recipient in message.targets()]
    bodies: list[dict[str, Any]] = []
    for start in range(0, len(targets), max_targets):
        body: dict[str, Any] = {
            "TaskContent": [{**task, "Target": targets[start : start + max_targets]}]
        }
        if message.account_id is not None:
            body["AccountId"] = message.account_id
        bodies.append(body)
    return bodies


def _target(recipient: Recipient) -> dict[str, Any]:
    target: dict[str, Any] = {"Phone": recipient.phone_number}
    if recipient.template_params:
        target["TemplateParams"] = list(recipient.template_params)
    if recipient.extend_code is not None:
        target["ExtendCode"] = recipient.extend_code
    if recipient.user_id is not None:
        target["UserId"] = recipient.user_id
    return target


def phones_of(request: Mapping[str, Any]) -> list[str]:
    """The numbers of a request built by `batch_requests`, in order."""
    return [target["Phone"] for task in request["TaskContent"] for target in task["Target"]]


def user_ids_of(request: Mapping[str, Any]) -> list[str | None]:
    """The UserId of each number of a request built by `batch_requests`, in order."""
    return [target.get("UserId") for task in request["TaskContent"] for target in task["Target"]]


def only_positions(request: Mapping[str, Any], batch: bool, keep: Sequence[int]) -> dict[str, Any]:
    """`request` (either action's) with only the numbers at `keep`, in order: what is sent
    once the protection checks refused the others."""
    wanted = set(keep)
    if not batch:
        numbers = request["PhoneNumbers"]
        return {**request, "PhoneNumbers": [numbers[p] for p in sorted(wanted)]}
    tasks, position = [], 0
    for task in request["TaskContent"]:
        targets = []
        for target in task["Target"]:
            if position in wanted:
                targets.append(target)
            position += 1
        if targets:
            tasks.append({**task, "Target": targets})
    return {**request, "TaskContent": tasks}


def refused_positions(request: Mapping[str, Any], result: BatchResult) -> list[tuple[int, str]]:
    """(position in `request`'s targets, reason) of every refused number, in request order.

    The provider's `FailContent` echoes numbers; they are matched back to what was sent —
    as sent, then by all their digits, then by the national part — so the caller gets its
    own `(CC)national` form. When nothing was accepted, every number is refused (those
    the provider did not name get `NO_REASON`). A positions list, not numbers: it is what
    the idempotency record keeps, and that table holds no phone numbers.
    """
    phones = phones_of(request)
    lookup = _PhoneLookup(phones)
    reasons: dict[int, str] = {}
    for refused in result.refused:
        position = lookup.find(refused.phone)
        if position is not None:
            reasons.setdefault(position, refused.reason)
    if not result.accepted_any:
        for position in range(len(phones)):
            reasons.setdefault(position, NO_REASON)
    return sorted(reasons.items())


def failed_numbers(
    request: Mapping[str, Any], positions: Sequence[tuple[int, str]]
) -> list[FailedNumber]:
    """The refused numbers of `request` at `positions` (see `refused_positions`)."""
    phones = phones_of(request)
    return [FailedNumber(phones[position], reason) for position, reason in positions]


class _PhoneLookup:
    """Position of a number as the provider may echo it: `(86)138…`, `86138…`, `138…`."""

    def __init__(self, phones: Sequence[str]) -> None:
        self._exact: dict[str, int] = {}
        self._digits: dict[str, int] = {}
        self._national: dict[str, int] = {}
        for position, phone in enumerate(phones):
            self._exact.setdefault(phone, position)
            match = _WITH_CODE.fullmatch(phone)
            code, national = match.groups() if match else ("", phone)
            self._digits.setdefault(code + national, position)
            self._national.setdefault(national, position)

    def find(self, echoed: str) -> int | None:
        if echoed in self._exact:
            return self._exact[echoed]
        digits = _NON_DIGITS.sub("", echoed)
        if echoed.lstrip().startswith("00"):
            digits = digits[2:]
        return self._digits.get(digits, self._national.get(digits))
