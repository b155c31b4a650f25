"""A parked message's body for `smsgw dlq show`: pretty JSON with every phone number masked
(all but the last 4 digits, `sms_gateway.contract.mask_phone`) and every template parameter
hidden, or the body as it was parked with `--reveal`."""

from __future__ import annotations

import json
from typing import Any, Final

from sms_gateway.contract import mask_phone
from sms_gateway.redact import redact_text
from smsgw.dead_letters import message_document

REVEAL_HINT: Final = "--reveal shows them"
REVEAL_ONE: Final = "--reveal shows it"
_NUMBERS: Final = "PhoneNumbers"
_NUMBER: Final = "PhoneNumber"
_PARAMS: Final = "TemplateParams"


def shown_body(body: str, reveal: bool) -> str:
    """The body as `dlq show` prints it."""
    document = message_document(body)
    if reveal:
        return _pretty(document) if document is not None else body
    if document is None:
        return f"(not a JSON message, {len(body.encode())} bytes: {REVEAL_ONE})"
    try:
        return _pretty(_masked_message(document))
    except RecursionError:
        return f"(nested too deep to show masked: {REVEAL_ONE})"


def _pretty(document: Any) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False)


def _masked_message(document: dict[str, Any]) -> dict[str, Any]:
    """The message's fields: numbers masked, parameters hidden, any other text with its
    digit runs masked (a number typed into the wrong field is still a number)."""
    shown: dict[str, Any] = {}
    for name, value in document.items():
        if name == _NUMBERS and isinstance(value, list):
            shown[name] = [_masked_number(item) for item in value]
        elif name == _PARAMS:
            shown[name] = _hidden(value)
        elif name == "Recipients" and isinstance(value, list):
            shown[name] = [_masked_recipient(item) for item in value]
        else:
            shown[name] = _masked(value)
    return shown


def _masked_recipient(recipient: Any) -> Any:
    if not isinstance(recipient, dict):
        return _masked(recipient)
    shown: dict[str, Any] = {}
    for name, value in recipient.items():
        if name == _NUMBER:
            shown[name] = _masked_number(value)
        elif name == _PARAMS:
            shown[name] = _hidden(value)
        else:
            shown[name] = _masked(value)
    return shown


def _masked_number(value: Any) -> Any:
    return mask_phone(str(value)) if isinstance(value, str | int) else _masked(value)


def _hidden(value: Any) -> str:
    if isinstance(value, list):
        noun = "parameter" if len(value) == 1 else "parameters"
        return f"({len(value)} {noun} hidden: {REVEAL_HINT})"
    return f"(hidden: {REVEAL_HINT})"


def _masked(value: Any) -> Any:
    """Any other value: text and long integers with their digit runs masked."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int | float):
        masked = redact_text(str(value))
        return value if masked == str(value) else masked
    if isinstance(value, list):
        return [_masked(item) for item in value]
    if isinstance(value, dict):
        return {redact_text(str(k)): _masked(v) for k, v in value.items()}
    return value
