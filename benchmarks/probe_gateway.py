"""Cold start, the gateway: a fresh process imports the handler and handles one event.

Run as `python benchmarks/probe_gateway.py EVENT.json OUT.json [--traced]` with the
Lambda's environment. The clock starts after the interpreter and the harness are loaded
(Lambda's runtime has started by then too) and stops when the handler returns; the answer
and the timings go to OUT.json (stdout carries the handler's logs).

`--traced`: tracing is on as the stack deploys it (the benchmark sets Lambda's variables).
X-Ray's SDK sends each finished subsegment as a UDP datagram to the daemon; there is no
daemon here, so the probe listens in its place (`AWS_XRAY_DAEMON_ADDRESS`, which Lambda
sets too) and fails unless the SDK was loaded and the handler's subsegment arrived: a
figure "with tracing" that traced nothing would flatter it.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time

from benchmarks import probe_figures
from local_gateway.context import LocalContext  # the runtime's share, loaded before the clock

HANDLER_SUBSEGMENT = "## lambda_handler"  # Powertools' name for the handler's subsegment


def listen_as_daemon() -> socket.socket:
    """A UDP socket on loopback, named to the X-Ray SDK as its daemon."""
    daemon = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    daemon.bind(("127.0.0.1", 0))
    os.environ["AWS_XRAY_DAEMON_ADDRESS"] = f"127.0.0.1:{daemon.getsockname()[1]}"
    return daemon


def subsegments_sent(daemon: socket.socket) -> list[str]:
    """The names of the subsegments the SDK sent (each datagram: a header line, a document)."""
    daemon.setblocking(False)
    names: list[str] = []
    while True:
        try:
            datagram = daemon.recv(65536)
        except BlockingIOError:
            return names
        names.append(json.loads(datagram.split(b"\n", 1)[1])["name"])


def main(event_path: str, out_path: str, traced: bool) -> None:
    """Import, handle, write the figures."""
    with open(event_path) as source:
        event = json.load(source)
    context = LocalContext()
    daemon = listen_as_daemon() if traced else None
    started = time.perf_counter()
    from sms_gateway.handler import lambda_handler  # what the cold start pays for

    imported = time.perf_counter()
    answer = lambda_handler(event, context)
    done = time.perf_counter()
    more = {}
    if daemon is not None:
        names = subsegments_sent(daemon)
        if "aws_xray_sdk" not in sys.modules or HANDLER_SUBSEGMENT not in names:
            raise SystemExit(f"tracing was not active: subsegments sent {names}")
        more["subsegments"] = float(len(names))
    probe_figures.write(out_path, started, imported, done, answer, **more)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], traced="--traced" in sys.argv[3:])
