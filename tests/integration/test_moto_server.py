"""The local gateway's moto server: its speed-ups change nothing moto answers, it goes away
with the process that started it, and a gateway that fails to start leaves nothing behind."""

from __future__ import annotations

import datetime
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from moto.core import utils as core_utils
from moto.sqs import models as sqs_models

from local_gateway import gateway as gateway_module
from local_gateway.gateway import LocalConfig, LocalGateway
from local_gateway.moto_server import speed_up

REPO = Path(__file__).resolve().parents[2]
# Bounds for waiting on other processes (not performance figures): generous, so that a
# loaded machine does not fail the test, and finite, so that a broken watchdog does.
PROCESS_EXIT_WAIT_S = 20.0
RETENTION_S = 60


@pytest.fixture
def sped_up() -> Iterator[Any]:
    """This process's moto with the speed-ups applied; moto as it was afterwards. Yields
    moto's original retention check, for comparison."""
    originals = {name: getattr(sqs_models, name) for name in ("unix_time", "unix_time_millis")}
    check = sqs_models.SQSBackend.is_message_valid_based_on_retention_period
    speed_up()
    try:
        yield check
    finally:
        for name, value in originals.items():
            setattr(sqs_models, name, value)
        sqs_models.SQSBackend.is_message_valid_based_on_retention_period = check  # type: ignore[method-assign]


def _backend_with_a_message(age_s: float) -> tuple[Any, Any]:
    backend = sqs_models.SQSBackend("us-east-1", "123456789012")
    backend.create_queue("q", MessageRetentionPeriod=str(RETENTION_S))
    message = backend.send_message("q", "body")
    message.sent_timestamp = int((time.time() - age_s) * 1000)  # type: ignore[assignment]
    return backend, message


def _sqs_clock(name: str) -> Any:
    """The clock moto's SQS models call (imported there by name from moto.core.utils)."""
    return vars(sqs_models)[name]


def test_the_clock_reads_what_moto_reads(sped_up: Any) -> None:
    instant = datetime.datetime(2026, 11, 25, 1, 2, 3, 456000)

    unix_time, unix_time_millis = _sqs_clock("unix_time"), _sqs_clock("unix_time_millis")

    assert unix_time(instant) == core_utils.unix_time(instant)
    assert unix_time_millis(instant) == core_utils.unix_time_millis(instant)
    # "Now" read two ways a moment apart: the same second.
    assert abs(unix_time() - core_utils.unix_time()) < 1
    assert abs(unix_time_millis() - core_utils.unix_time_millis()) < 1000


@pytest.mark.parametrize("age_s", [0, RETENTION_S - 5, RETENTION_S + 5, 10 * RETENTION_S])
def test_the_retention_check_agrees_with_moto(sped_up: Any, age_s: float) -> None:
    backend, message = _backend_with_a_message(age_s)

    ours = backend.is_message_valid_based_on_retention_period("q", message)
    assert ours == sped_up(backend, "q", message)
    assert ours == (age_s < RETENTION_S)


def test_a_message_past_its_retention_is_still_not_received(sped_up: Any) -> None:
    backend, _ = _backend_with_a_message(RETENTION_S + 5)

    assert backend.receive_message("q", 10, 0, 30) == []


def test_the_speed_ups_apply_once(sped_up: Any) -> None:
    speed_up()

    clock = _sqs_clock("unix_time")
    assert clock.__wrapped__ is core_utils.unix_time


def test_a_moto_without_what_is_replaced_is_refused(
    sped_up: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delattr(sqs_models.SQSBackend, "is_message_valid_based_on_retention_period")

    with pytest.raises(RuntimeError, match="retention check"):
        speed_up()


# A parent that starts the local gateway's moto, says its pid, and waits to be killed.
_PARENT = """
import sys
from local_gateway.gateway import _start_moto
process, _ = _start_moto("127.0.0.1", 0)
print(process.pid, flush=True)
sys.stdin.read()
"""


def _exited(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    # A zombie (exited, not yet reaped by init) counts as exited.
    status = Path(f"/proc/{pid}/stat")
    return status.exists() and status.read_text().split(") ", 1)[1].startswith("Z")


def test_moto_exits_when_the_gateway_that_started_it_is_killed() -> None:
    parent = subprocess.Popen(  # noqa: S603 - our interpreter, our code
        [sys.executable, "-c", _PARENT],
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert parent.stdout is not None
    moto_pid = int(parent.stdout.readline())
    assert not _exited(moto_pid)

    parent.send_signal(signal.SIGKILL)  # no chance to stop its moto
    parent.wait()

    deadline = time.monotonic() + PROCESS_EXIT_WAIT_S
    while not _exited(moto_pid):
        if time.monotonic() > deadline:
            os.kill(moto_pid, signal.SIGKILL)
            raise AssertionError("moto outlived the process that started it")
        time.sleep(0.1)


def test_a_gateway_that_fails_to_start_stops_its_moto(monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[subprocess.Popen[bytes]] = []
    original = gateway_module._start_moto

    def recording(host: str, port: int) -> tuple[subprocess.Popen[bytes], str]:
        process, endpoint = original(host, port)
        started.append(process)
        return process, endpoint

    monkeypatch.setattr(gateway_module, "_start_moto", recording)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        config = LocalConfig(
            moto_port=0, sandbox_port=0, api_port=taken.getsockname()[1], outputs_path=None
        )
        with pytest.raises(OSError, match="in use"):
            LocalGateway(config).start()

    assert len(started) == 1
    assert started[0].poll() is not None
