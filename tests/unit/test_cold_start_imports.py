"""What a cold start loads: only what the first message needs.

The receipts door (its bus, its markers, its events) answers batches from the receipts
queue, which no container meets before its first receipt check: its modules wait for
that first batch. Each check runs in a fresh interpreter, so no other test's imports count.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Final

ROOT: Final = Path(__file__).resolve().parents[2]
RECEIPTS_DOOR: Final = (
    "sms_gateway.receipt_door",
    "sms_gateway.event_bus",
    "sms_gateway.event_markers",
    "sms_gateway.delivery_events",
)
# A gateway with delivery events on, on stand-in clients: building it calls no AWS.
_BUILD = """
from sms_gateway.gateway import AwsClients, Gateway
from sms_gateway.settings import Settings

settings = Settings(secret_id="uspeedo", receipts_queue_url="receipts", event_bus_name="bus")
gateway = Gateway.from_settings(
    settings, AwsClients.of(object(), object(), object(), events=object())
)
"""


def _door_modules_after(script: str) -> list[str]:
    """The receipts door's modules loaded once a fresh Python has run `script`."""
    report = f"import sys\nprint(*[m for m in {RECEIPTS_DOOR!r} if m in sys.modules])"
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT / "functions"),
        "POWERTOOLS_TRACE_DISABLED": "true",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    done = subprocess.run(  # noqa: S603 - our own interpreter, fixed arguments
        [sys.executable, "-c", f"{script}\n{report}"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.splitlines()[-1].split()


def test_importing_the_handler_loads_none_of_the_receipts_doors_modules() -> None:
    assert _door_modules_after("import sms_gateway.handler") == []


def test_building_a_gateway_with_delivery_events_on_leaves_the_door_for_its_first_batch() -> None:
    assert _door_modules_after(_BUILD) == []


def test_the_first_batch_of_checks_loads_the_door() -> None:
    first_batch = f"{_BUILD}\nassert type(gateway.receipt_door()).__name__ == 'ReceiptDoor'"

    assert _door_modules_after(first_batch) == list(RECEIPTS_DOOR)
