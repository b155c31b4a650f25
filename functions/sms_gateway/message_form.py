"""A message's form: `PhoneNumbers` (with `TemplateParams`) or `Recipients`, never both.

Checked before the fields, so every broken rule is reported at once (see message_input.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sms_gateway.errors import FieldError


def form_errors(data: Mapping[str, Any]) -> list[FieldError]:
    """Exactly one of PhoneNumbers and Recipients (null counts as absent), and no top-level
    TemplateParams beside Recipients."""
    numbers, recipients = data.get("PhoneNumbers") is not None, data.get("Recipients") is not None
    errors: list[FieldError] = []
    if numbers and recipients:
        errors.append(
            FieldError(
                "Recipients",
                "conflicting_fields",
                "must not be given together with PhoneNumbers: give exactly one of "
                "PhoneNumbers and Recipients",
            )
        )
    elif not numbers and not recipients:
        errors.append(
            FieldError(
                "PhoneNumbers",
                "required",
                "is required (or Recipients instead): give exactly one of PhoneNumbers and "
                "Recipients",
            )
        )
    if recipients and data.get("TemplateParams") is not None:
        errors.append(
            FieldError(
                "TemplateParams",
                "conflicting_fields",
                "must not be given together with Recipients: give each recipient its own "
                "TemplateParams",
            )
        )
    return errors
