"""A load run through all three doors with 5 % of provider calls failing transiently: every
message is sent exactly once or parked with a reason — none lost, none duplicated.

Sized to keep `make test` fast; `make bench` runs the same function with 10,000 messages.
"""

from __future__ import annotations

import os

from local_gateway.gateway import LocalGateway
from local_gateway.load import run_load

MESSAGES = int(os.environ.get("LOAD_TEST_MESSAGES", "150"))


def test_every_message_is_sent_once_or_parked_with_a_reason(gateway: LocalGateway) -> None:
    report = run_load(gateway, MESSAGES, failure_rate=0.05, timeout_s=180)

    print(  # the figure the issue asks to see; not asserted (this machine is noisy)
        f"\nload: {report.messages} messages in {report.seconds:.1f} s "
        f"({report.throughput:.0f}/s), {report.provider_failures} of {report.provider_calls} "
        f"provider calls failed, {report.api_retries} API retries, {report.parked} parked"
    )
    assert report.lost == []
    assert report.duplicated == []
    assert report.parked_without_reason == []
    assert report.sent + report.parked == MESSAGES
    assert report.provider_failures > 0  # the faults really happened
