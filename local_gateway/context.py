"""Lambda's context object outside Lambda: for the local run, the tests and the benchmarks.

Standard library only, so a cold-start probe can build one before its clock starts without
loading anything of the gateway.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field


@dataclass
class LocalContext:
    """The attributes of Lambda's context object that Powertools and the handler read.

    The remaining time counts down to `deadline` (a `time.monotonic()` instant) when one is
    given, as in Lambda; without one it is `remaining_ms`, fixed.
    """

    remaining_ms: int = 60_000
    deadline: float | None = None
    function_name: str = "sms-gateway"
    function_version: str = "$LATEST"
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:sms-gateway"
    memory_limit_in_mb: int = 512
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = "/aws/lambda/sms-gateway"
    log_stream_name: str = "2026/11/24/[$LATEST]abcdef"

    def get_remaining_time_in_millis(self) -> int:
        if self.deadline is None:
            return self.remaining_ms
        return max(0, int((self.deadline - time.monotonic()) * 1000))
