"""Masking for anything that reaches a log: phone numbers keep their last 4 digits only.

`mask_phone` is the contract's (`sms_gateway.contract`). Standard library only: the CLI
imports `redact_text` without the function's dependencies.
"""

from __future__ import annotations

import re

from sms_gateway.contract import mask_phone

__all__ = ["mask_phone", "redact_text"]

# Seven or more digits in a row look like a phone number (or part of one) in free text.
_DIGIT_RUN = re.compile(r"\d{7,}")


def redact_text(text: str) -> str:
    """Mask digit runs that could be phone numbers inside free text (provider messages)."""
    return _DIGIT_RUN.sub(lambda m: mask_phone(m.group(0)), text)
