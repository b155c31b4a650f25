"""Where the Lambda's code lives, and the figures the stack borrows from it.

The function's time budget and its message schema are defined once, in the function's own
package, so the stack and the code cannot drift apart. `functions/` is the Lambda's code
root (contract), not an installed package: this module is the one place that puts it on
`sys.path` for the CDK app, and every other infra module imports those figures from here.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Final

REPO_ROOT: Final = Path(__file__).resolve().parent.parent
CODE_ROOT: Final = REPO_ROOT / "functions"
PACKAGE_NAME: Final = "sms_gateway"
REQUIREMENTS_FILE: Final = CODE_ROOT / "requirements.txt"
# Pins for the transitive dependencies too, so the bundle is the same on every machine.
CONSTRAINTS_FILE: Final = REPO_ROOT / "constraints.txt"

if str(CODE_ROOT) not in sys.path:
    sys.path.insert(0, str(CODE_ROOT))

from sms_gateway import time_budget  # noqa: E402  (needs the path above)

FUNCTION_TIMEOUT_S: Final = time_budget.FUNCTION_TIMEOUT_S
VISIBILITY_TIMEOUT_S: Final = time_budget.visibility_timeout_s()
WORST_CASE_CALL_S: Final = time_budget.worst_case_call_s()


def message_json_schema() -> dict[str, Any]:
    """The message's JSON Schema (draft 2020-12) as the model exports it.

    The single call site of the model's schema export: the API's request model is this,
    converted to draft 4. Imported late so the stack loads nothing of the function's
    runtime dependencies (pydantic) unless the API is being built.
    """
    from sms_gateway.message_input import message_json_schema as export

    return export()


def opt_outs_json_schema() -> dict[str, Any]:
    """`POST /optouts`'s body schema as the function describes it (its OpenAPI document):
    the API's `OptOuts` model is this, so API Gateway and the function check one rule."""
    from sms_gateway.openapi import optouts_request_schema

    return optouts_request_schema()
