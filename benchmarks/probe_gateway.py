"""Cold start, the gateway: a fresh process imports the handler and handles one event.

Run as `python benchmarks/probe_gateway.py EVENT.json OUT.json` with the Lambda's
environment. The clock starts after the interpreter and the harness are loaded (Lambda's
runtime has started by then too) and stops when the handler returns; the answer and the
timings go to OUT.json (stdout carries the handler's logs).
"""

from __future__ import annotations

import json
import sys
import time

from benchmarks import probe_figures
from local_gateway.context import LocalContext  # the runtime's share, loaded before the clock


def main(event_path: str, out_path: str) -> None:
    """Import, handle, write the figures."""
    with open(event_path) as source:
        event = json.load(source)
    context = LocalContext()
    started = time.perf_counter()
    from sms_gateway.handler import lambda_handler  # what the cold start pays for

    imported = time.perf_counter()
    answer = lambda_handler(event, context)
    done = time.perf_counter()
    probe_figures.write(out_path, started, imported, done, answer)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
