"""The field types of the input message: pydantic annotated types for a phone number, a
template parameter, an `ExtendCode` and a `UserId`, with the JSON Schema each exports.

Their validators raise `PydanticCustomError` with our own rule ids (`phone_*`,
`invalid_text`, `not_a_string_or_integer`, `emoji_not_allowed`, and `too_many_items` from
`cap_count`), which `validation_errors` passes on as they are.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Annotated, Any, Final

from pydantic import (
    AfterValidator,
    Field,
    PlainValidator,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    WithJsonSchema,
)
from pydantic_core import PydanticCustomError

from sms_gateway.contract import DEFAULT_COUNTRY_CODE
from sms_gateway.message import MAX_PHONE_NUMBERS, MAX_USER_ID_LENGTH
from sms_gateway.phone import (
    MAX_INPUT_LENGTH,
    PHONE_INPUT_PATTERN,
    PhoneNumberError,
    normalize_phone,
)
from sms_gateway.validation_errors import INVALID_TEXT

__all__ = [
    "COUNTRY_CODE_CONTEXT",
    "DEFAULT_COUNTRY_CODE",
    "ExtendCodeText",
    "ParamItem",
    "PhoneItem",
    "UserIdText",
    "cap_count",
]

# The validation context's key for the country code of numbers given without one.
COUNTRY_CODE_CONTEXT: Final = "default_country_code"

# UserId: no emoji. Characters outside the Basic Multilingual Plane (emoji, pictographs),
# lone surrogates, the BMP's symbol blocks that emoji live in (misc technical, misc
# symbols, dingbats, arrows and stars), keycaps, variation selectors and the zero-width
# joiner that glues emoji sequences together.
_EMOJI = re.compile(
    "[\u200d\u20e3\u2300-\u23ff\u2600-\u27bf\u2b00-\u2bff\ud800-\udfff"
    "\ufe0e\ufe0f\U00010000-\U0010ffff]"
)

_SURROGATE = re.compile("[\ud800-\udfff]")


# Powertools' parser, which validates the message, takes no validation context: the
# message's context travels in a context variable instead, set around the call by
# `validating_with` and read by the validators (`validation_context`). Each thread has its
# own (records are validated in worker threads).
_CONTEXT: ContextVar[dict[str, Any] | None] = ContextVar("message_validation", default=None)


@contextmanager
def validating_with(context: dict[str, Any]) -> Iterator[None]:
    """Make `context` the validation context of what is validated inside."""
    token = _CONTEXT.set(context)
    try:
        yield
    finally:
        _CONTEXT.reset(token)


def validation_context(info: ValidationInfo) -> dict[str, Any]:
    """pydantic's own context when given one, else the one `validating_with` set."""
    return info.context if isinstance(info.context, dict) else (_CONTEXT.get() or {})


def _phone_item(value: Any, info: ValidationInfo) -> str:
    default_cc = validation_context(info).get(COUNTRY_CODE_CONTEXT, DEFAULT_COUNTRY_CODE)
    try:
        return normalize_phone(value, default_cc)
    except PhoneNumberError as exc:
        raise PydanticCustomError(exc.rule, exc.message) from None


def _param_item(value: Any) -> str:
    # `type(...) is` rather than isinstance: bool is an int subclass and must not pass.
    if type(value) is str:
        # pydantic's own str check is bypassed here: refuse what could not be sent as UTF-8
        # (json.loads lets lone surrogates through).
        if _SURROGATE.search(value):
            raise PydanticCustomError("invalid_text", INVALID_TEXT)
        return value
    if type(value) is int:
        return str(value)
    raise PydanticCustomError("not_a_string_or_integer", "must be a string or an integer")


def cap_count(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    """A wrap validator: refuse an oversized list before validating (and normalising)
    10,001 numbers."""
    if isinstance(value, list) and len(value) > MAX_PHONE_NUMBERS:
        raise PydanticCustomError(
            "too_many_items",
            "must have at most {max_items} items",
            {"max_items": f"{MAX_PHONE_NUMBERS:,}"},
        )
    return handler(value)


def _no_emoji(value: str) -> str:
    if _EMOJI.search(value):
        raise PydanticCustomError("emoji_not_allowed", "must not contain emoji or pictographs")
    return value


PhoneItem = Annotated[
    str,
    PlainValidator(_phone_item),
    WithJsonSchema(
        {
            "type": "string",
            "minLength": 1,
            "maxLength": MAX_INPUT_LENGTH,
            "pattern": PHONE_INPUT_PATTERN,
            "description": (
                "A phone number: (86)13800138000, (0086)13800138000, +8613800138000, "
                "008613800138000, or a national number (takes the gateway's default "
                "country code). Spaces, dashes, dots and brackets are ignored."
            ),
        }
    ),
]
ParamItem = Annotated[
    str,
    PlainValidator(_param_item),
    WithJsonSchema({"anyOf": [{"type": "string"}, {"type": "integer"}]}),
]


# The rules a recipient shares with the message's top level.
ExtendCodeText = Annotated[str, Field(pattern=r"^[0-9]+$")]
UserIdText = Annotated[
    str,
    Field(max_length=MAX_USER_ID_LENGTH, pattern="^[^'\"]*$"),
    AfterValidator(_no_emoji),
]
