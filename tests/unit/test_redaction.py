"""Masking: what reaches a log keeps only the last four digits of a number (the rule itself,
`mask_phone`, is the contract's: `test_contract`)."""

from __future__ import annotations

from sms_gateway.errors import PermanentError
from sms_gateway.redact import redact_text


def test_phone_like_digit_runs_are_masked_inside_free_text() -> None:
    text = "invalid number (86)13800138000 in batch 42"

    assert redact_text(text) == "invalid number (86)*******8000 in batch 42"


def test_provider_messages_are_redacted_in_errors() -> None:
    error = PermanentError("number 8613800138000 is blocked", ret_code=18014)

    assert "8613800138000" not in str(error)
    assert error.message.endswith("*********8000 is blocked")
