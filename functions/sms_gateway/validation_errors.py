"""The errors of a message, as callers read them: each error pydantic reports becomes a
`FieldError` — field path, stable rule id, a sentence that never repeats the submitted
value (values are phone numbers and one-time codes, and errors get logged).

Rule ids: `$` (the whole body): `not_json`, `too_deep` (nested beyond
`json_input.MAX_DEPTH`), `not_an_object`. Any field: `required`, `unknown_field`,
`not_a_string`, `invalid_text`, `not_an_integer`, `not_a_list`, `too_few_items`,
`too_many_items`, `empty`, `too_long`, `not_positive`, `too_large`, `not_allowed_value`,
and `invalid` (a pydantic error type not mapped: a bug to fix). `ExtendCode`:
`not_digits`. `UserId`: `quote_not_allowed`, `emoji_not_allowed`. `Action`:
`unsupported_action`. `TemplateParams[i]`: `not_a_string_or_integer`. `PhoneNumbers[i]`:
the `phone_*` rules of `sms_gateway.phone`. `Recipients[i].PhoneNumber`:
`duplicate_recipient`. The message's form (`conflicting_fields`, and `required` for
neither form) is checked by `message_input` itself.

A recipient's fields follow the same rules, their errors named `Recipients[i].…`.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Final

from sms_gateway.errors import FieldError
from sms_gateway.json_input import NOT_JSON, UnreadableJsonError
from sms_gateway.message import ACTION, MESSAGE_FIELDS, RECIPIENT_FIELDS
from sms_gateway.phone import PHONE_RULES

if TYPE_CHECKING:
    from pydantic_core import ErrorDetails

__all__ = ["INVALID_TEXT", "ROOT", "field_error", "unreadable_body_error"]

ROOT: Final = "$"  # the field name of errors about the body as a whole
INVALID_TEXT: Final = "must be valid Unicode text (no lone surrogates)"
_MAX_NAME_SHOWN: Final = 64

# Errors the input model's own validators raise: their message is already ours.
_OWN_RULES: Final = PHONE_RULES | {
    "too_many_items",
    "emoji_not_allowed",
    "not_a_string_or_integer",
    "invalid_text",
    "duplicate_recipient",
}

# pydantic's built-in error types → (rule, message). Messages may use the error's context.
_BUILTIN: Final[dict[str, tuple[str, str]]] = {
    "missing": ("required", "is required"),
    "extra_forbidden": ("unknown_field", ""),  # built in _unknown_field_message
    "string_type": ("not_a_string", "must be a string"),
    "string_unicode": ("invalid_text", INVALID_TEXT),
    "int_type": ("not_an_integer", "must be an integer (a JSON number without a fraction)"),
    "int_from_float": ("not_an_integer", "must be an integer (a JSON number without a fraction)"),
    "int_parsing": ("not_an_integer", "must be an integer (a JSON number without a fraction)"),
    "list_type": ("not_a_list", "must be a list"),
    "too_short": ("too_few_items", "must have at least {min_length} item"),
    "too_long": ("too_many_items", "must have at most {max_length:,} items"),
    "string_too_short": ("empty", "must not be empty"),
    "string_too_long": ("too_long", "must be at most {max_length} characters"),
    "greater_than_equal": ("not_positive", "must be a positive integer"),
    "less_than_equal": ("too_large", "must be at most {le}"),
    "literal_error": ("not_allowed_value", "is not one of the allowed values"),
    "json_invalid": ("not_json", "the body must be a JSON object; it is not valid JSON"),
    "json_type": ("not_json", "the body must be a JSON object; it is not valid JSON"),
    "model_type": ("not_an_object", "the body must be a JSON object"),
    "dict_type": ("not_an_object", "the body must be a JSON object"),
    "model_attributes_type": ("not_an_object", "the body must be a JSON object"),
}
# The same pydantic error means different rules in different fields (by the field's own
# name: a recipient's ExtendCode follows the message's).
_BY_FIELD: Final[dict[tuple[str, str], tuple[str, str]]] = {
    ("TemplateId", "string_pattern_mismatch"): ("empty", "must not be empty or whitespace only"),
    ("ExtendCode", "string_pattern_mismatch"): ("not_digits", "must be ASCII digits (0-9) only"),
    ("Action", "literal_error"): ("unsupported_action", f"must be {ACTION} when present"),
    ("UserId", "string_pattern_mismatch"): (
        "quote_not_allowed",
        "must not contain single or double quotes",
    ),
}
# Paths (list indices as `[]`) that must hold a value: null there is "required", not a type
# error. PhoneNumbers and Recipients are the form's business (`message_input`).
_REQUIRED: Final = frozenset({"TemplateId", "Recipients[].PhoneNumber"})


def field_error(error: ErrorDetails) -> FieldError:
    """The `FieldError` of one pydantic error (read with `include_input=True`)."""
    loc = error["loc"]
    field = _path(loc)
    kind = error["type"]
    if kind == "duplicate_recipient":
        # Raised on the whole list: point at the repeat's number instead.
        index = error.get("ctx", {}).get("index")
        return FieldError(f"Recipients[{index}].PhoneNumber", kind, error["msg"])
    if _shape(loc) in _REQUIRED and error["input"] is None:
        return FieldError(field, "required", "is required and must not be null")
    if kind in _OWN_RULES:
        return FieldError(field, kind, error["msg"])
    if kind == "extra_forbidden":
        allowed = MESSAGE_FIELDS if len(loc) == 1 else RECIPIENT_FIELDS
        return FieldError(field, "unknown_field", _unknown_field_message(str(loc[-1]), allowed))
    if field != ROOT and kind in ("model_type", "dict_type", "model_attributes_type"):
        return FieldError(field, "not_an_object", "must be a JSON object")
    name = next((part for part in reversed(loc) if isinstance(part, str)), "")
    rule, template = _BY_FIELD.get((name, kind)) or _BUILTIN.get(kind, ("invalid", ""))
    if not template:
        # An error type not mapped above: name it, never pydantic's text (it may quote).
        return FieldError(field, rule, f"is invalid ({kind})")
    return FieldError(field, rule, template.format(**error.get("ctx", {})))


def unreadable_body_error(error: UnreadableJsonError) -> FieldError:
    """The `FieldError` of a body refused before validation (`json_input`)."""
    if error.rule == NOT_JSON:
        rule, message = _BUILTIN["json_invalid"]
        return FieldError(ROOT, rule, message)
    return FieldError(ROOT, error.rule, f"the body {error}")


def _path(loc: tuple[int | str, ...]) -> str:
    """`("PhoneNumbers", 3)` → `PhoneNumbers[3]`; `()` → `$`; nested objects dotted."""
    if not loc:
        return ROOT
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            name = part if len(part) <= _MAX_NAME_SHOWN else part[:_MAX_NAME_SHOWN] + "…"
            if not name.strip() or not name.isprintable():
                # An empty, blank or unprintable key would leave the error naming no
                # field: show it quoted and escaped. (Found by tests/reliability/test_fuzz.)
                name = json.dumps(name)
            out += f".{name}" if out else name
    return out


def _shape(loc: tuple[int | str, ...]) -> str:
    """The path with list indices left empty: `Recipients[3].PhoneNumber` →
    `Recipients[].PhoneNumber`."""
    return "".join(
        "[]" if isinstance(part, int) else (f".{part}" if i else part) for i, part in enumerate(loc)
    )


def _unknown_field_message(name: str, allowed: tuple[str, ...]) -> str:
    """Name the allowed fields, and the likely intended one for a typo or wrong case."""
    import difflib  # only on this error path: keeps the module's import light

    folded = {f.casefold(): f for f in allowed}
    key = name.casefold().replace("_", "")
    close = difflib.get_close_matches(key, list(folded), n=1, cutoff=0.8)
    guess = folded[key] if key in folded else folded[close[0]] if close else None
    hint = f" (did you mean {guess}?)" if guess else ""
    return f"unknown field{hint}; allowed fields are {', '.join(allowed)}"


def body_not_an_object() -> FieldError:
    """The error of a body that is JSON, but not an object."""
    rule, message = _BUILTIN["model_type"]
    return FieldError(ROOT, rule, message)
