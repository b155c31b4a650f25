"""What a cold-start probe (`probe_gateway.py`, `probe_bare.py`) reports: its clock
readings and the handler's answer, as JSON in the file the benchmark named."""

from __future__ import annotations

import json
from typing import Any


def write(
    out_path: str, started: float, imported: float, done: float, answer: Any, **more: float
) -> None:
    """Import time, first-event time, their sum, the answer, and any `more` figures."""
    with open(out_path, "w") as out:
        json.dump(
            {
                "import_s": imported - started,
                "first_event_s": done - imported,
                "total_s": done - started,
                "answer": answer,
                **more,
            },
            out,
        )
