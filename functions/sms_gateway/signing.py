"""USpeedo request signing: SHA-1 over the body's canonical string plus the secret.

The canonical string is every top-level key in ascending byte order, each followed by its
encoded value, no separators; nested lists and objects are flattened the same way. Only the
JSON body is signed (see shared/uspeedo-api.md for the rules and the test vectors).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any


def _sorted_keys(obj: Mapping[str, Any]) -> list[str]:
    # "Ascending byte order": sort on UTF-8 bytes, not on code points or locale.
    return sorted(obj, key=lambda key: key.encode("utf-8"))


def _encode(value: Any) -> str:
    if isinstance(value, bool):  # before int: bool is an int subclass in Python
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, list | tuple):
        return "".join(_encode(item) for item in value)
    if isinstance(value, Mapping):
        return "".join(key + _encode(value[key]) for key in _sorted_keys(value))
    # Floats would sign as "42.0" here and "42" on the provider's side; never send them.
    raise TypeError(f"cannot sign a value of type {type(value).__name__}")


def string_to_sign(body: Mapping[str, Any]) -> str:
    """The canonical string of a request body, without the secret appended.

    Null values must already be left out of `body`: they are not sent, so not signed.
    """
    return "".join(key + _encode(body[key]) for key in _sorted_keys(body))


def sign(body: Mapping[str, Any], access_key_secret: str) -> str:
    """The `X-Signature` header for `body`: 40 lowercase hex characters."""
    payload = (string_to_sign(body) + access_key_secret).encode("utf-8")
    # SHA-1 is the provider's choice, not ours: this is a MAC-like signature, not storage.
    return hashlib.sha1(payload, usedforsecurity=False).hexdigest()
