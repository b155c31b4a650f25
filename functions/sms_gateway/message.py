"""The message as the gateway holds it once valid: an immutable `Message` of normalised
numbers and parameters, who gets what (`targets()`), and its fingerprint.

The limits and field names of the message live here too; `message_input.parse_message`
builds a `Message` from what a producer sent, and `upstream` writes it as the provider's
request bodies. Free of pydantic: importing this module is cheap.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Final

from sms_gateway.contract import MESSAGE_FIELDS, mask_phone
from sms_gateway.gateway_key import GatewayKey

__all__ = [
    "ACTION",
    "MAX_ACCOUNT_ID",
    "MAX_IDEMPOTENCY_KEY_LENGTH",
    "MAX_NUMBERS_PER_CALL",
    "MAX_PHONE_NUMBERS",
    "MAX_SENDER_ID_LENGTH",
    "MAX_USER_ID_LENGTH",
    "MESSAGE_FIELDS",
    "RECIPIENT_FIELDS",
    "Message",
    "Recipient",
]

ACTION: Final = "SendUSMSMessage"
MAX_PHONE_NUMBERS: Final = 10_000
MAX_NUMBERS_PER_CALL: Final = 1_000  # SendUSMSMessage's own limit per request
MAX_SENDER_ID_LENGTH: Final = 11
MAX_USER_ID_LENGTH: Final = 32
MAX_IDEMPOTENCY_KEY_LENGTH: Final = 128
MAX_TIME_TO_LIVE_S: Final = 259_200  # three days
MAX_ACCOUNT_ID: Final = 2**63 - 1  # the provider's SDKs hold it in a 64-bit int

# The field names of one of `Recipients`.
RECIPIENT_FIELDS: Final = ("PhoneNumber", "TemplateParams", "ExtendCode", "UserId")


@dataclass(frozen=True, slots=True, repr=False)
class Recipient:
    """One number and what it gets: its own parameters, or (as a target of the whole
    message) the message's. Template parameters as strings, None when there are none."""

    phone_number: str
    template_params: tuple[str, ...] | None = None
    extend_code: str | None = None
    user_id: str | None = None

    def as_json(self) -> dict[str, Any]:
        """`{PhoneNumber, TemplateParams?, ExtendCode?, UserId?}`, None fields left out."""
        fields: dict[str, Any] = {"PhoneNumber": self.phone_number}
        for key, value in (
            ("TemplateParams", list(self.template_params) if self.template_params else None),
            ("ExtendCode", self.extend_code),
            ("UserId", self.user_id),
        ):
            if value is not None:
                fields[key] = value
        return fields

    def __repr__(self) -> str:
        # Numbers masked, parameter values hidden: a recipient may end up in a log line.
        params = "None" if self.template_params is None else f"<{len(self.template_params)}>"
        return (
            f"Recipient(phone_number={mask_phone(self.phone_number)!r}, "
            f"template_params={params}, extend_code={self.extend_code!r}, "
            f"user_id={self.user_id!r})"
        )


@dataclass(frozen=True, slots=True, repr=False)
class Message:
    """A valid message, normalised: phone numbers as `(CC)national`, duplicates dropped,
    template parameters as strings (None when there are none).

    A personalised message has `recipients` (their own parameters; `phone_numbers` are
    their numbers, in order, and `template_params` is None); an ordinary one has None.
    """

    phone_numbers: tuple[str, ...]
    template_id: str
    template_params: tuple[str, ...] | None = None
    sender_id: str | None = None
    extend_code: str | None = None
    user_id: str | None = None
    account_id: int | None = None
    idempotency_key: str | None = None
    recipients: tuple[Recipient, ...] | None = None
    time_to_live: int | None = None

    @property
    def phone_count(self) -> int:
        """How many distinct numbers the message goes to."""
        return len(self.phone_numbers)

    @property
    def personalised(self) -> bool:
        """Whether each number has its own parameters (the `Recipients` form)."""
        return self.recipients is not None

    def targets(self) -> tuple[Recipient, ...]:
        """What each number gets, in order: its own parameters, with the message's
        `ExtendCode` and `UserId` where it has none; every number the message's parameters
        when the message is not personalised."""
        if self.recipients is None:
            return tuple(
                Recipient(number, self.template_params, self.extend_code, self.user_id)
                for number in self.phone_numbers
            )
        return tuple(
            Recipient(
                r.phone_number,
                r.template_params,
                r.extend_code if r.extend_code is not None else self.extend_code,
                r.user_id if r.user_id is not None else self.user_id,
            )
            for r in self.recipients
        )

    def fields_but_numbers(self) -> dict[str, Any]:
        """USpeedo's fields other than the numbers, None ones left out (a null field would
        change the signature): what every chunk of the message repeats."""
        fields: dict[str, Any] = {"TemplateId": self.template_id}
        if self.template_params is not None:
            fields["TemplateParams"] = list(self.template_params)
        for key, value in (
            ("SenderId", self.sender_id),
            ("ExtendCode", self.extend_code),
            ("UserId", self.user_id),
            ("AccountId", self.account_id),
        ):
            if value is not None:
                fields[key] = value
        return fields

    def canonical_text(self) -> str:
        """The normalised message as canonical JSON, the input of its fingerprint.

        Sorted keys, no spaces, UTF-8, USpeedo's fields as a SendUSMSMessage request has
        them, None fields left out, `IdempotencyKey` excluded: the same message written
        differently (number format, duplicates, int or string parameters, key order, with
        or without `Action`) has the same text. The order of numbers counts. A personalised
        message covers each recipient's own fields (`Recipients`) instead of `PhoneNumbers`.

        Written out here rather than taken from `upstream`: fingerprints are kept in the
        idempotency table, so this text must not move when a request format does.
        """
        numbers: dict[str, Any] = (
            {"PhoneNumbers": list(self.phone_numbers)}
            if self.recipients is None
            else {"Recipients": [r.as_json() for r in self.recipients]}
        )
        canonical = {**numbers, **self.fields_but_numbers()}
        return json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=False)

    def fingerprint(self, key: GatewayKey) -> str:
        """HMAC-SHA-256 (hex) of `canonical_text()` under the gateway key: the default
        idempotency key and the payload-validation hash. Keyed, because the text holds
        numbers and one-time codes that an unkeyed hash would give back to brute force."""
        return key.digest(self.canonical_text())

    def __repr__(self) -> str:
        # A message may end up in a log line: numbers masked, parameter values hidden.
        shown = ", ".join(mask_phone(n) for n in self.phone_numbers[:3])
        more = ", …" if self.phone_count > 3 else ""
        params = "None" if self.template_params is None else f"<{len(self.template_params)}>"
        recipients = "" if self.recipients is None else f"recipients=<{len(self.recipients)}>, "
        return (
            f"Message(phone_count={self.phone_count}, phone_numbers=({shown}{more}), "
            f"{recipients}template_id={self.template_id!r}, template_params={params}, "
            f"sender_id={self.sender_id!r}, extend_code={self.extend_code!r}, "
            f"user_id={self.user_id!r}, account_id={self.account_id!r}, "
            f"idempotency_key={self.idempotency_key!r})"
        )
