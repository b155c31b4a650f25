"""Benchmark 3 — client overhead: 1,000 sends to the sandbox at 0 ms, our `UspeedoClient`
against the official SDK (`uspeedo-sdk-py`, installed for the benchmark only).

Both send the same SendUSMSMessage body, signed the same way, one call after another on one
thread, in rounds of 50 that alternate between the clients (20 rounds: 1,000 sends each).
Two figures per round: calls per second (what a caller sees; the sandbox's own time is in
it for both) and the client's CPU time per call (`time.thread_time`, the sandbox runs in
another process: this is the client's overhead alone). The SDK runs twice: as shipped (it
logs every request and response at INFO) and with its logger at WARNING.
"""

from __future__ import annotations

import importlib
import logging
import os
import time
from collections.abc import Callable
from typing import Any, Final

from benchmarks.services import ACCESS_KEY_ID, ACCESS_KEY_SECRET, ACCOUNT_ID, Services
from benchmarks.stats import Summary, alternate, paired_ratios
from benchmarks.worker import run_worker

SENDS: Final = 1_000
ROUND: Final = 50
GOAL: Final = 2.0
SDK_DISTRIBUTION: Final = "uspeedo-sdk-py"
FIELDS: Final = {
    "PhoneNumbers": ["(86)13800138000"],
    "TemplateId": "UTA2211ABCDEF",
    "TemplateParams": ["739201"],
}


def rounds(runs: int) -> int:
    """Rounds of 50 sends: 1,000 sends per client, and never fewer than `runs` rounds."""
    return max(runs, SENDS // ROUND)


def run(services: Services, runs: int) -> dict[str, Any]:
    """Measure in a worker; check that the sandbox accepted every send."""
    services.sandbox.reset()
    result = run_worker("client_overhead", runs, services)
    clients = len(result["calls_per_s"])
    expected = (rounds(runs) + 1) * ROUND * clients  # + the warm-up round
    accepted = services.sandbox.accepted_count()
    if accepted != expected:
        raise RuntimeError(f"client overhead: sandbox accepted {accepted}, expected {expected}")
    services.sandbox.reset()
    result["goal"] = GOAL
    return result


def sdk_version() -> str | None:
    """The installed SDK's version, or None."""
    from importlib import metadata

    try:
        return metadata.version(SDK_DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return None


def measure(runs: int) -> dict[str, Any]:
    """The worker's half."""
    from sms_gateway.uspeedo_client import Credentials, UspeedoClient

    endpoint = os.environ["USPEEDO_ENDPOINT"]
    ours = UspeedoClient(Credentials(ACCESS_KEY_ID, ACCESS_KEY_SECRET, ACCOUNT_ID), endpoint)
    senders: dict[str, Callable[[], Any]] = {"ours": lambda: ours.send_sms(FIELDS)}
    version = sdk_version()
    if version is not None:
        # The SDK is untyped: reached through importlib (Any). It has no method for
        # SendUSMSMessage (its SMS client lists only SendBatchUSMSMessage), so its generic
        # `Client.invoke(action, args)` sends it: what its service methods call after
        # their schema check, which is left out here (in the SDK's favour).
        sdk_client = importlib.import_module("uspeedo.core.client")
        config = {
            "base_url": endpoint,
            "public_key": ACCESS_KEY_ID,
            "private_key": ACCESS_KEY_SECRET,
        }
        shipped = sdk_client.Client(config)
        quiet_logger = logging.getLogger("bench.uspeedo-quiet")
        quiet_logger.setLevel(logging.WARNING)
        quiet = sdk_client.Client(config, logger=quiet_logger)
        body = {**FIELDS, "AccountId": ACCOUNT_ID}  # the SDK adds no AccountId of its own
        senders["sdk"] = lambda: shipped.invoke("SendUSMSMessage", dict(body))
        senders["sdk_quiet"] = lambda: quiet.invoke("SendUSMSMessage", dict(body))

    def round_of(send: Callable[[], Any]) -> Callable[[], tuple[float, float]]:
        def timed() -> tuple[float, float]:
            wall, cpu = time.perf_counter(), time.thread_time()
            for _ in range(ROUND):
                send()
            return ROUND / (time.perf_counter() - wall), (time.thread_time() - cpu) / ROUND

        return timed

    samples = alternate({name: round_of(send) for name, send in senders.items()}, rounds(runs))
    rate = {name: [s[0] for s in values] for name, values in samples.items()}
    cpu = {name: [s[1] for s in values] for name, values in samples.items()}
    result: dict[str, Any] = {
        "sdk_version": version,
        "sends_per_client": rounds(runs) * ROUND,
        "calls_per_s": {name: Summary.of(v).as_json(1) for name, v in rate.items()},
        "cpu_ms_per_call": {
            name: Summary.of([x * 1000 for x in v]).as_json(3) for name, v in cpu.items()
        },
        "ratios": {},
    }
    for sdk in ("sdk", "sdk_quiet"):
        if sdk in rate:
            result["ratios"][f"ours/{sdk} calls_per_s"] = Summary.of(
                paired_ratios(rate["ours"], rate[sdk])
            ).as_json()
            result["ratios"][f"{sdk}/ours cpu_per_call"] = Summary.of(
                paired_ratios(cpu[sdk], cpu["ours"])
            ).as_json()
    return result
