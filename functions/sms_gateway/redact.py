"""Masking for anything that reaches a log: phone numbers keep their last 4 digits only."""

from __future__ import annotations

import re

_KEEP = 4
# Seven or more digits in a row look like a phone number (or part of one) in free text.
_DIGIT_RUN = re.compile(r"\d{7,}")


def mask_phone(number: str) -> str:
    """Replace every digit but the last four with `*`, keeping the punctuation.

    `(86)13800138000` → `(**)*******8000`.
    """
    digits_seen = 0
    total_digits = sum(ch.isdigit() for ch in number)
    out = []
    for ch in number:
        if ch.isdigit():
            digits_seen += 1
            out.append(ch if digits_seen > total_digits - _KEEP else "*")
        else:
            out.append(ch)
    return "".join(out)


def redact_text(text: str) -> str:
    """Mask digit runs that could be phone numbers inside free text (provider messages)."""
    return _DIGIT_RUN.sub(lambda m: mask_phone(m.group(0)), text)
