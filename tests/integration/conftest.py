"""The local gateway (moto server, sandbox, event pump, local API, the real handler),
started once for the integration tests and reset between them."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import urllib3

from local_gateway.gateway import LocalConfig, LocalGateway
from tests.harness import drain_queue
from uspeedo_sandbox import Sandbox

# How long a test waits for the pump to deliver before it gives up (not a performance
# figure: a bound so that a broken pump fails the test instead of hanging it).
DELIVERY_WAIT_S = 30.0


@pytest.fixture(scope="package")
def local(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalGateway]:
    outputs = tmp_path_factory.mktemp("local") / "outputs.json"
    config = LocalConfig(moto_port=0, sandbox_port=0, api_port=0, outputs_path=outputs)
    with LocalGateway(config) as gateway:
        yield gateway


@pytest.fixture
def gateway(local: LocalGateway) -> Iterator[LocalGateway]:
    """The running local gateway, with an empty sandbox and an empty dead-letter queue."""
    _reset(local)
    yield local
    _reset(local)


@pytest.fixture
def events_gateway(gateway: LocalGateway) -> Iterator[LocalGateway]:
    """The running local gateway with empty receipts and events queues."""
    gateway.reset_delivery_events()
    yield gateway
    gateway.reset_delivery_events()


def _reset(local: LocalGateway) -> None:
    assert local.sandbox is not None
    local.reset_delivery_events()  # no receipt check of one test reaches the next's sandbox
    local.sandbox.reset()
    drain_dead_letters(local)
    local.reset_protection()  # tests send to the same numbers: no limit carries over


def sandbox_of(local: LocalGateway) -> Sandbox:
    assert local.sandbox is not None
    return local.sandbox


def outputs_file(local: LocalGateway) -> Path:
    assert local.config.outputs_path is not None
    return local.config.outputs_path


def drain_dead_letters(local: LocalGateway) -> list[dict[str, Any]]:
    """Take everything out of the dead-letter queue: bodies and attribute strings."""
    return drain_queue(local.clients["sqs"], local.outputs["DeadLetterQueueUrl"])


def wait_until(condition: Callable[[], bool], timeout: float = DELIVERY_WAIT_S) -> None:
    """Poll until `condition` holds; fail the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not reached within {timeout} s")
        time.sleep(0.05)


def queue_is_empty(local: LocalGateway) -> bool:
    """Nothing waiting and nothing in flight on the main queue."""
    return local.depth(local.outputs["QueueUrl"]) == 0


def post(
    local: LocalGateway, body: Any, headers: dict[str, str] | None = None, *, key: bool = True
) -> urllib3.BaseHTTPResponse:
    """POST /messages to the local API (with its API key unless `key` is False)."""
    all_headers = {"Content-Type": "application/json", **(headers or {})}
    if key:
        all_headers["x-api-key"] = local.outputs["ApiKey"]
    return urllib3.request(
        "POST",
        f"{local.outputs['ApiUrl']}messages",
        body=json.dumps(body),
        headers=all_headers,
        timeout=30,
    )
