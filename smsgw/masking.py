"""Hiding phone numbers in what the CLI prints: only the last 4 digits are shown."""

from __future__ import annotations

import re
from typing import Final

_KEEP: Final = 4
# Seven or more digits in a row look like a phone number (or most of one) in free text.
_DIGIT_RUN: Final = re.compile(r"\d{7,}")


def mask_phone(number: str) -> str:
    """`8613800138000` → `*********8000`; a number of 4 digits or fewer is masked whole."""
    digits = [ch for ch in number if ch.isdigit()]
    if len(digits) <= _KEEP:
        return "*" * len(digits)
    return "*" * (len(digits) - _KEEP) + "".join(digits[-_KEEP:])


def mask_digit_runs(text: str) -> str:
    """Mask anything in free text (an error message) that could be a phone number."""
    return _DIGIT_RUN.sub(lambda match: mask_phone(match.group(0)), text)


def shorten(text: str, limit: int) -> str:
    """`text` on one line, cut to `limit` characters with an ellipsis."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
