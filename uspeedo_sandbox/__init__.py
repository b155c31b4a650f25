"""A local stand-in for USpeedo's SMS API: checks signatures and fields like the provider,
records what it was sent, and can be told to misbehave (see `Fault`).

    from uspeedo_sandbox import Sandbox, Fault

    with Sandbox() as sb:                      # AKIDSANDBOX / sandbox-secret / account 123
        ...                                    # point USPEEDO_ENDPOINT at sb.url
        sb.set_fault(Fault(kind="status", status=503, count=1))
"""

from __future__ import annotations

import sys
from pathlib import Path

try:
    import sms_gateway  # noqa: F401
except ModuleNotFoundError:
    # The sandbox reuses the gateway's signing and RetCodes, which live in the Lambda's
    # code root `functions/`. pytest puts that on sys.path (pyproject), but
    # `python -m uspeedo_sandbox` from the repo root does not: add it here, once.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "functions"))

from uspeedo_sandbox.faults import FAULT_KINDS, Fault
from uspeedo_sandbox.sandbox import (
    DEFAULT_ACCESS_KEY_ID,
    DEFAULT_ACCOUNT_ID,
    DEFAULT_SECRET,
    Sandbox,
)
from uspeedo_sandbox.store import AcceptedMessage, RecordedRequest

__all__ = [
    "DEFAULT_ACCESS_KEY_ID",
    "DEFAULT_ACCOUNT_ID",
    "DEFAULT_SECRET",
    "FAULT_KINDS",
    "AcceptedMessage",
    "Fault",
    "RecordedRequest",
    "Sandbox",
]
