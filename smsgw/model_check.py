"""A message checked with the gateway's own model (`sms_gateway.message_input.parse_message`,
Powertools' parser over the pydantic model) before any door gets it: what the gateway
would refuse for certain is refused here, with the gateway's own field errors, and nothing
is sent. The errors name the field and the rule, never the value.

The one rule the CLI cannot apply as the gateway does: a number written without a country
code (`13800138000`) takes the deployed stack's DEFAULT_COUNTRY_CODE, and no outputs file
names it. Refusing such a number because it is wrong in China would refuse sends that a
stack set to `1` takes, so the message is checked with the contract's default and an error
about such a number stands only when it is wrong under every default: when no assigned
country code makes it a valid number (for a repeated recipient: when it repeats another
number whatever the default). Anything else is left for the gateway to decide. Looking
through every country code costs milliseconds a number, so a `ModelCheck` does it for a
bounded number of them per run and leaves the rest to the gateway too; it remembers the
codes that made a number valid and tries them first (the numbers of one file usually
share one country).

The model needs pydantic and phonenumbers (the function's dependencies, installed with the
CLI by `make install`): imported only when a message is checked.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

from sms_gateway.contract import DEFAULT_COUNTRY_CODE

if TYPE_CHECKING:
    from sms_gateway.errors import FieldError

# How many numbers one run looks up under every country code before it leaves the rest to
# the gateway (about 5 ms each).
LOOKUP_BUDGET: Final = 500
# A country code no number can have (they never start with 0): normalising a number with it
# as the default raises a plain ValueError exactly when the number would take the default.
_NO_COUNTRY: Final = "0"
_NUMBER_FIELD = re.compile(r"^(?:PhoneNumbers\[(\d+)\]|Recipients\[(\d+)\]\.PhoneNumber)$")
_COUNTRY_DEPENDENT_RULES: Final = frozenset(
    {"phone_too_short", "phone_invalid", "phone_too_long", "phone_unknown_country_code"}
)
_DUPLICATE: Final = "duplicate_recipient"


class ModelCheck:
    """Checks messages; one per run, so that its lookups are bounded and remembered."""

    def __init__(self, lookup_budget: int = LOOKUP_BUDGET) -> None:
        self._budget = lookup_budget
        self._good_codes: list[str] = []

    def problems(self, message: Mapping[str, Any]) -> list[FieldError]:
        """What the gateway would refuse in `message` whatever its default country code."""
        from sms_gateway.errors import MessageValidationError
        from sms_gateway.message_input import parse_message

        try:
            parse_message(message, default_country_code=DEFAULT_COUNTRY_CODE)
        except MessageValidationError as error:
            return [e for e in error.errors if self._stands(e, message)]
        return []

    def _stands(self, error: FieldError, message: Mapping[str, Any]) -> bool:
        number = _number_at(message, error.field)
        if number is None:
            return True
        if error.rule == _DUPLICATE:
            return _repeats_under_any_default(message, error.field)
        if error.rule in _COUNTRY_DEPENDENT_RULES and takes_the_default(number):
            return not self._valid_somewhere(number)
        return True

    def _valid_somewhere(self, national: str) -> bool:
        """Whether some assigned country code makes `national` a valid number (True, so
        the gateway decides, once the budget is spent)."""
        import phonenumbers

        from sms_gateway.phone import PhoneNumberError, normalize_phone

        if self._budget <= 0:
            return True
        self._budget -= 1
        known = list(self._good_codes)
        others = sorted(str(c) for c in phonenumbers.COUNTRY_CODE_TO_REGION_CODE)
        for code in [*known, *(c for c in others if c not in known)]:
            try:
                normalize_phone(national, code)
            except PhoneNumberError:
                continue
            if code not in self._good_codes:
                self._good_codes.insert(0, code)
            return True
        return False


def takes_the_default(number: Any) -> bool:
    """Whether `number` is written without a country code (so takes the gateway's)."""
    from sms_gateway.phone import PhoneNumberError, normalize_phone

    if not isinstance(number, str):
        return False
    try:
        normalize_phone(number, _NO_COUNTRY)
    except PhoneNumberError:
        return False
    except ValueError:
        return True
    return False


def _number_at(message: Mapping[str, Any], field: str) -> Any:
    """The number an error's field names (`PhoneNumbers[3]`, `Recipients[3].PhoneNumber`)."""
    match = _NUMBER_FIELD.match(field)
    if match is None:
        return None
    numbers, recipients = match.groups()
    try:
        if numbers is not None:
            return message["PhoneNumbers"][int(numbers)]
        return message["Recipients"][int(recipients)]["PhoneNumber"]
    except (KeyError, IndexError, TypeError):
        return None


def _repeats_under_any_default(message: Mapping[str, Any], field: str) -> bool:
    """A recipient refused as a repeat of an earlier one: whatever the default when neither
    takes the default, or both do with the same digits. (One with a country code and one
    without are the same number only under one default.)"""
    from sms_gateway.phone import PhoneNumberError, normalize_phone

    match = _NUMBER_FIELD.match(field)
    if match is None or match.group(2) is None:
        return True  # only Recipients repeat: not ours to second-guess
    recipients = message["Recipients"]
    index = int(match.group(2))
    repeat = recipients[index]["PhoneNumber"]
    here = normalize_phone(repeat, DEFAULT_COUNTRY_CODE)  # it validated: it was a repeat
    for earlier in recipients[:index]:
        number = earlier.get("PhoneNumber") if isinstance(earlier, Mapping) else None
        if not isinstance(number, str):
            continue
        try:
            same = normalize_phone(number, DEFAULT_COUNTRY_CODE) == here
        except PhoneNumberError:
            continue
        if same and _alike(number, repeat):
            return True
    return False


def _alike(first: str, second: str) -> bool:
    bare = takes_the_default(first), takes_the_default(second)
    if bare == (False, False):
        return True
    return bare == (True, True) and _digits(first) == _digits(second)


def _digits(number: str) -> str:
    return "".join(ch for ch in number if ch.isdigit())


def explain(errors: list[FieldError], limit: int = 20) -> str:
    """The errors, one a line (at most `limit`, then how many more)."""
    lines = [f"  {e.field}: {e.message}" for e in errors[:limit]]
    if len(errors) > limit:
        lines.append(f"  … and {len(errors) - limit} more")
    return "\n".join(lines)
