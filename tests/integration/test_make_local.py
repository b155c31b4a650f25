"""`make local` as a user runs it: it starts, says where everything is, and Ctrl-C stops
it cleanly — no traceback, and its moto goes with it."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# Bounds, not performance figures: a broken start or stop fails instead of hanging.
START_WAIT_S = 60.0
STOP_WAIT_S = 30.0


def _port_open(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def test_ctrl_c_stops_everything_cleanly(tmp_path: Path) -> None:
    process = subprocess.Popen(  # noqa: S603 - our interpreter, our module
        [
            sys.executable,
            "-m",
            "local_gateway",
            "--moto-port=0",
            "--sandbox-port=0",
            "--api-port=0",
            f"--outputs={tmp_path / 'outputs.json'}",
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # Its own process group, as a shell gives a foreground job: Ctrl-C goes to the group.
        start_new_session=True,
    )
    try:
        assert process.stdout is not None
        banner = [process.stdout.readline() for _ in range(2)]
        assert banner[0].startswith("SMS gateway running"), banner
        moto_port = int(re.findall(r":(\d+)\s*$", banner[1])[0])
        assert _port_open(moto_port)

        os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
        _, stderr = process.communicate(timeout=STOP_WAIT_S)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()

    assert process.returncode == 0
    assert "Traceback" not in stderr
    assert "stopping" in stderr
    assert not _port_open(moto_port)
