"""JSON from outside the gateway, parsed with a bound on its nesting.

Every parse of data the gateway did not write itself (message bodies, SNS envelopes, API
bodies, the provider's answers) goes through `load_json`, and every already-parsed value
from outside (a direct invoke's event) through `check_depth`. A nesting bomb (`[[[[…]]]]`)
would otherwise escape as a bare `RecursionError` from the standard library's parser — or,
on Python 3.13, whose parser goes deeper than 3.11's, from whatever walks the value next
(the signature, pydantic, a log line) — and a bare error is retried or answered 500.

No legitimate document here is deeper than a handful of levels (a message's
`Recipients[i].TemplateParams[j]` is four, a receipt answer's `Data[i].ReceiptSet[j]` four),
so the bound is generous and the same on every Python. Hand-written on purpose: the
standard library has no depth option, and no maintained parser both bounds depth and
returns the standard library's types.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final

MAX_DEPTH: Final = 32

NOT_JSON: Final = "not_json"
TOO_DEEP: Final = "too_deep"


class UnreadableJsonError(ValueError):
    """The text is not JSON the gateway will read; `rule` says why (`not_json`,
    `too_deep`). The message never quotes the text: it may hold numbers and codes."""

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(message)
        self.rule = rule


def load_json(text: str | bytes | bytearray, *, max_depth: int = MAX_DEPTH) -> Any:
    """Parse `text`; raise `UnreadableJsonError` if it is not JSON or nests deeper than
    `max_depth` arrays and objects."""
    try:
        value = json.loads(text)
    except RecursionError:
        raise _too_deep(max_depth) from None
    except ValueError:  # JSONDecodeError, and UnicodeDecodeError for bytes
        raise UnreadableJsonError(NOT_JSON, "is not valid JSON") from None
    check_depth(value, max_depth=max_depth)
    return value


def load_value(data: Any, *, max_depth: int = MAX_DEPTH) -> Any:
    """`data` as plain Python values: JSON text (str or bytes) parsed, a mapping copied into
    a plain dict, anything else as it is — its nesting bounded either way."""
    if isinstance(data, str | bytes | bytearray):
        return load_json(data, max_depth=max_depth)
    value = dict(data) if isinstance(data, Mapping) else data
    check_depth(value, max_depth=max_depth)
    return value


def check_depth(value: Any, *, max_depth: int = MAX_DEPTH) -> None:
    """Raise `UnreadableJsonError` (`too_deep`) if `value` nests deeper than `max_depth`.

    Iterative, so a value too deep to walk recursively is measured all the same; it visits
    each array and object once and stops at the first one too deep.
    """
    if not isinstance(value, dict | list):
        return
    pending: list[tuple[Any, int]] = [(value, 1)]
    while pending:
        node, depth = pending.pop()
        if depth > max_depth:
            raise _too_deep(max_depth)
        for child in node.values() if isinstance(node, dict) else node:
            if isinstance(child, dict | list):
                pending.append((child, depth + 1))


def _too_deep(max_depth: int) -> UnreadableJsonError:
    return UnreadableJsonError(
        TOO_DEEP, f"nests arrays and objects more than {max_depth} levels deep"
    )
