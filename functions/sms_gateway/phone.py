"""Phone numbers: accept what people write, hand USpeedo its own `(CC)national` form.

Accepted forms (separators — spaces, dashes, dots, brackets — are ignored in the number):

* `(86)13800138000`, `(0086)13800138000`, `(+86)…`: the provider's own form. A leading
  bracket group is the country code, except one that starts with a single `0`: that is a
  trunk prefix and area code (`(010) 1234 5678`, `(02) 1234 5678`), so the number is a
  national one. Country codes never start with `0`, so this reading is never ambiguous.
  National formats that bracket an area code without a `0` (North America's
  `(201) 555-0123`) cannot be told from the provider's form: they are read as a country
  code and are usually rejected as `phone_unknown_country_code`; write them `+1…`.
* `+8613800138000`, `008613800138000`: international forms.
* `13800138000`: a bare national number, which takes the configured default country code.

The result is `(CC)NSN`: the country calling code and libphonenumber's national
significant number, so a trunk prefix (UK `0`) is dropped and Italian leading zeros kept.
Numbers must pass `phonenumbers.is_valid_number` (metadata for the number's region: length
and number ranges). That also accepts the fictional North American 555-01xx range
(`(1)4155550100`) and `(86)13800000000`, the provider's own test numbers.

Error messages never contain the number: they are logged, and numbers must not be.
"""

from __future__ import annotations

import re
from functools import cache, lru_cache
from typing import Any, Final

import phonenumbers

__all__ = [
    "MAX_INPUT_LENGTH",
    "PHONE_INPUT_PATTERN",
    "PHONE_RULES",
    "UNKNOWN_REGION",
    "PhoneNumberError",
    "normalize_phone",
    "region_of",
    "validate_country_code",
]

# Generous for any real formatting of a 15-digit E.164 number; it bounds the regex work
# and stops a megabyte string from reaching libphonenumber.
MAX_INPUT_LENGTH: Final = 64

# Separators people paste: ASCII space and tab, no-break spaces (U+00A0, U+202F, which
# formatted numbers copied from web pages often carry), dashes, dots and brackets.
_SEPARATORS = " \t\u00a0\u202f().\\-"

# The characters a number may contain at all, as a regex every engine reads the same way
# (Python, ECMAScript, Java, Rust): the JSON schema publishes it for API Gateway.
PHONE_INPUT_PATTERN: Final = r"^[0-9+ \t\u00a0\u202f().-]+$"

_ALLOWED = re.compile(PHONE_INPUT_PATTERN)
# Structure: an optional leading `(CC)` group (CC may be written `+CC` or `00CC`; a group
# starting with a single `0` is a trunk prefix, left to `rest`), or a leading `+`, then
# digits and separators only. A `+` anywhere else fails to match.
_FORM = re.compile(
    rf"""
    [ \t\u00a0\u202f]*
    (?:
        \([ \t\u00a0\u202f]*(?P<bracket>\+[0-9]+|00[0-9]*|[1-9][0-9]*)[ \t\u00a0\u202f]*\)
      | (?P<plus>\+)
    )?
    (?P<rest>[0-9{_SEPARATORS}]*)
    """,
    re.VERBOSE,
)
_NOT_DIGIT = re.compile(r"[^0-9]")

# Country calling codes are prefix-free, so `+` + code + national number always parses
# back to the same code. Built once: the per-call check is a set lookup.
_KNOWN_COUNTRY_CODES: Final = frozenset(str(cc) for cc in phonenumbers.COUNTRY_CODE_TO_REGION_CODE)

# A cheap bound before parsing: a 3-digit country code plus libphonenumber's longest
# national number (17 digits; E.164 itself stops at 15 in all).
_MAX_DIGITS: Final = 20


class PhoneNumberError(ValueError):
    """A phone number that cannot be sent to. `rule` is a stable id; the message never
    contains the number."""

    def __init__(self, rule: str, message: str) -> None:
        self.rule = rule
        self.message = message
        super().__init__(message)


def _error(rule: str) -> PhoneNumberError:
    return PhoneNumberError(rule, _MESSAGES[rule])


_MESSAGES: Final = {
    "phone_not_a_string": "must be a string",
    "phone_empty": "must contain a phone number's digits",
    "phone_too_long": "is too long to be a phone number",
    "phone_bad_characters": (
        "may contain only digits, a leading '+', spaces, dashes, dots and brackets"
    ),
    "phone_bad_format": (
        "must be written (CC)number, +CCnumber, 00CCnumber or as a national number; "
        "'+' may only start the number or its country code"
    ),
    "phone_unknown_country_code": "country calling code is not assigned to any country",
    "phone_too_short": "is too short to be a phone number of its country",
    "phone_invalid": "is not a valid phone number of its country (length or number range)",
}


# Every rule id normalize_phone can raise.
PHONE_RULES: Final = frozenset(_MESSAGES)


def validate_country_code(code: str) -> str:
    """Return a country calling code as bare digits (`"86"` from `"86"`, `"+86"`, `"0086"`).

    For configuration (`DEFAULT_COUNTRY_CODE`): raises `ValueError` when the code is not
    assigned, so a bad setting fails at start-up rather than per message.
    """
    cc = code.strip()
    if cc.startswith("+"):
        cc = cc[1:]
    elif cc.startswith("00"):
        cc = cc[2:]
    if cc not in _KNOWN_COUNTRY_CODES:
        raise ValueError(f"{code!r} is not an assigned country calling code")
    return cc


def normalize_phone(raw: str, default_country_code: str) -> str:
    """Normalise one phone number to `(CC)national` (see the module docstring).

    `default_country_code` (bare digits, e.g. `"86"`) applies to numbers written without a
    country code. Raises `PhoneNumberError` (a `ValueError`) with a stable `rule`:
    `phone_not_a_string`, `phone_empty`, `phone_too_long`, `phone_bad_characters`,
    `phone_bad_format`, `phone_unknown_country_code`, `phone_too_short`, `phone_invalid`.
    Raises a plain `ValueError` if `default_country_code` itself is unknown.
    """
    _check_text(raw)
    form = _FORM.fullmatch(raw)
    if form is None:
        raise _error("phone_bad_format")
    international = _international_digits(form, default_country_code)
    if len(international) > _MAX_DIGITS:
        raise _error("phone_too_long")
    return _validated("+" + international)


def _check_text(raw: Any) -> None:
    """The rules about the text itself, before its form is read."""
    if not isinstance(raw, str):
        raise _error("phone_not_a_string")
    if len(raw) > MAX_INPUT_LENGTH:
        raise _error("phone_too_long")
    if not raw or raw.isspace():
        raise _error("phone_empty")
    if _ALLOWED.fullmatch(raw) is None:
        raise _error("phone_bad_characters")


def _international_digits(form: re.Match[str], default_country_code: str) -> str:
    """Country code and national digits, from whichever form the number was written in."""
    national = _NOT_DIGIT.sub("", form["rest"])
    bracket = form["bracket"]
    if bracket is not None:
        cc = bracket[1:] if bracket[0] == "+" else bracket[2:] if bracket[0] == "0" else bracket
        if cc not in _KNOWN_COUNTRY_CODES:
            raise _error("phone_unknown_country_code")
        if not national:
            raise _error("phone_too_short")
        return cc + national
    if form["plus"] is not None and national:
        return national
    if national.startswith("00"):
        return national[2:]
    if form["plus"] is None and national:
        if default_country_code not in _KNOWN_COUNTRY_CODES:
            # Not the number's fault: configuration. Callers validate it up front.
            raise ValueError("default_country_code is not an assigned country calling code")
        return default_country_code + national
    raise _error("phone_empty")


def _validated(e164ish: str) -> str:
    """Check `+digits` with libphonenumber and format it as `(CC)NSN`: the quick way when
    it gives libphonenumber's own answer, else `parse` (which also gives the reason)."""
    quick = _quickly_validated(e164ish[1:])
    return quick if quick is not None else _parsed_and_validated(e164ish)


def _parsed_and_validated(e164ish: str) -> str:
    """Parse `+digits` with libphonenumber, check it, format it as `(CC)NSN`."""
    try:
        number = phonenumbers.parse(e164ish, None)
    except phonenumbers.NumberParseException as exc:
        raise _error(_PARSE_ERRORS.get(exc.error_type, "phone_invalid")) from None
    if not phonenumbers.is_valid_number(number):
        # Only the failure path pays for a more precise reason.
        reason = phonenumbers.is_possible_number_with_reason(number)
        raise _error(_POSSIBLE_ERRORS.get(reason, "phone_invalid"))
    return f"({number.country_code}){phonenumbers.national_significant_number(number)}"


_PARSE_ERRORS: Final = {
    phonenumbers.NumberParseException.INVALID_COUNTRY_CODE: "phone_unknown_country_code",
    phonenumbers.NumberParseException.NOT_A_NUMBER: "phone_too_short",
    phonenumbers.NumberParseException.TOO_SHORT_AFTER_IDD: "phone_too_short",
    phonenumbers.NumberParseException.TOO_SHORT_NSN: "phone_too_short",
    phonenumbers.NumberParseException.TOO_LONG: "phone_too_long",
}
_POSSIBLE_ERRORS: Final = {
    phonenumbers.ValidationResult.INVALID_COUNTRY_CODE: "phone_unknown_country_code",
    phonenumbers.ValidationResult.TOO_SHORT: "phone_too_short",
    phonenumbers.ValidationResult.TOO_LONG: "phone_too_long",
}


# ---------------------------------------------------------------------------------------
# The quick way. `phonenumbers.parse` is two thirds of a number's check (≈13 of ≈20 µs), and
# a fan-out checks 100,000 numbers before its last call leaves. For `+digits`, all `parse`
# does that matters is: split off the country code (codes are prefix-free), strip a national
# prefix if the country's `national_prefix_for_parsing` matches the rest, and record leading
# zeros. When that pattern does not match, the number it builds is exactly the one below,
# so `is_valid_number` (libphonenumber, the authority on validity) gets the same input.
# Anything else (a prefix to strip, an odd length, an invalid number) goes through `parse`,
# which also names the reason. Written by hand because libphonenumber has no entry point
# for "already split digits"; tests/unit/test_phone.py checks both ways agree.

# libphonenumber's bounds on a national significant number (`parse` refuses others).
_MIN_NSN_DIGITS: Final = 2
_MAX_NSN_DIGITS: Final = 17


def _quickly_validated(digits: str) -> str | None:
    """`(CC)NSN` for valid `digits` (country code + national number) that `parse` would
    take as they are; None when `parse` must decide."""
    number = _number_as_parse_builds_it(digits)
    if number is None or not phonenumbers.is_valid_number(number):
        return None
    return f"({number.country_code}){phonenumbers.national_significant_number(number)}"


def _number_as_parse_builds_it(digits: str) -> phonenumbers.PhoneNumber | None:
    """The `PhoneNumber` that `parse("+" + digits)` returns, when building it needs no
    national prefix stripped; None otherwise (and for digits other than ASCII, which
    `parse` first maps to ASCII: a receipt's number is the provider's text)."""
    if not digits.isascii():
        return None
    for length in (1, 2, 3):
        if digits[:length] in _KNOWN_COUNTRY_CODES:
            country_code, national = digits[:length], digits[length:]
            break
    else:
        return None
    if not _MIN_NSN_DIGITS <= len(national) <= _MAX_NSN_DIGITS:
        return None
    prefix = _national_prefix_for_parsing(country_code)
    if prefix is not None and prefix.match(national):
        return None
    number = phonenumbers.PhoneNumber(country_code=int(country_code), national_number=int(national))
    _record_leading_zeros(national, number)
    return number


@cache  # one per country calling code (≈250)
def _national_prefix_for_parsing(country_code: str) -> re.Pattern[str] | None:
    """The country's pattern for a national prefix `parse` would strip, if it has one."""
    code = int(country_code)
    region = phonenumbers.region_code_for_country_code(code)
    metadata = phonenumbers.PhoneMetadata.metadata_for_region_or_calling_code(code, region)
    pattern = None if metadata is None else metadata.national_prefix_for_parsing
    return re.compile(pattern) if pattern else None


def _record_leading_zeros(national: str, number: phonenumbers.PhoneNumber) -> None:
    """What `parse` records of leading zeros (Italian numbers keep theirs): a zero-led
    number has `italian_leading_zero`, and more than one zero (never counting the last
    digit) sets `number_of_leading_zeros`."""
    if len(national) > 1 and national[0] == "0":
        number.italian_leading_zero = True
        zeros = len(national) - len(national.lstrip("0"))
        zeros = min(zeros, len(national) - 1)
        if zeros != 1:
            number.number_of_leading_zeros = zeros


# The region of a number libphonenumber cannot place (a metric's `Country` dimension).
UNKNOWN_REGION: Final = "ZZ"


@lru_cache(maxsize=65_536)
def region_of(phone: str) -> str:
    """The ISO region libphonenumber assigns a `(CC)national` number ("ZZ" if none): the
    traffic policy's `Countries` and the metrics' `Country`."""
    digits = "".join(ch for ch in phone if ch.isdigit())
    number = _number_as_parse_builds_it(digits)
    if number is None:
        try:
            number = phonenumbers.parse("+" + digits, None)
        except phonenumbers.NumberParseException:
            return UNKNOWN_REGION
    return phonenumbers.region_code_for_number(number) or UNKNOWN_REGION
