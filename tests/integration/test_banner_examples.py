"""The `make local` banner's "Send a message" examples, run as printed: each in a shell
with only `.venv/bin` added to the PATH (what `source .venv/bin/activate` does), from a
folder holding `.local/outputs.json` as the checkout's root does. Each sends one new SMS,
a different one; pasted again, each is an idempotent replay and sends nothing.

A local gateway of its own, started as `tests/integration/conftest.py` starts the shared
one: the shared one's idempotency records outlive its resets, and other tests send the
same message as an example would (to the same number, with the same code): that would be
a replay here, not a new SMS."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import urllib3

from local_gateway.__main__ import how_to_send, send_examples
from local_gateway.gateway import DEFAULT_OUTPUTS, LocalConfig, LocalGateway
from tests.integration.conftest import queue_is_empty, wait_until

VENV_BIN = Path(sys.executable).parent
# A bound, not a performance figure: a command that hangs fails the test instead.
COMMAND_WAIT_S = 60.0


@pytest.fixture(scope="module")
def checkout(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalGateway, Path]]:
    """A fresh local gateway, and a folder with its `.local/outputs.json`, as the
    checkout's root has after `make local`."""
    folder = tmp_path_factory.mktemp("checkout")
    config = LocalConfig(
        moto_port=0, sandbox_port=0, api_port=0, outputs_path=folder / DEFAULT_OUTPUTS
    )
    with LocalGateway(config) as gateway:
        yield gateway, folder


def _sandbox_messages(gateway: LocalGateway) -> list[dict[str, Any]]:
    """What the provider accepted, newest last, as a user sees it."""
    base = gateway.outputs["UspeedoEndpoint"].removesuffix("/api")
    answer = urllib3.request("GET", f"{base}/_sandbox/messages", timeout=10)
    assert answer.status == 200
    messages: list[dict[str, Any]] = json.loads(answer.data)["Messages"]
    return messages


def _at_least(gateway: LocalGateway, count: int) -> Callable[[], bool]:
    return lambda: len(_sandbox_messages(gateway)) >= count


def _run_as_printed(command: str, folder: Path) -> subprocess.CompletedProcess[str]:
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("AWS_")  # a newcomer's shell has no AWS settings
    }
    environment["PATH"] = f"{VENV_BIN}{os.pathsep}{environment.get('PATH', '')}"
    return subprocess.run(  # noqa: S602 - the banner's own text, run as a person would
        command,
        shell=True,
        cwd=folder,
        env=environment,
        capture_output=True,
        text=True,
        timeout=COMMAND_WAIT_S,
        check=False,
    )


def test_each_banner_example_sends_one_new_sms_and_again_none(
    checkout: tuple[LocalGateway, Path],
) -> None:
    gateway, folder = checkout
    assert shutil.which("smsgw", path=str(VENV_BIN)), "make install puts smsgw in .venv/bin"
    examples = send_examples(gateway.outputs, DEFAULT_OUTPUTS)
    banner = how_to_send(gateway.outputs, DEFAULT_OUTPUTS) + "\n"
    doors = ("--via sns", "--via sqs", "--via api", "curl")
    assert [any(door in e for e in examples) for door in doors] == [True] * 4

    for count, example in enumerate(examples, start=1):
        assert f"  {example}\n" in banner  # the very text the banner prints
        done = _run_as_printed(example, folder)
        assert done.returncode == 0, (example, done.stdout, done.stderr)
        wait_until(_at_least(gateway, count))
        assert len(_sandbox_messages(gateway)) == count  # one new SMS, not more

    sent = _sandbox_messages(gateway)
    numbers = {tuple(m["Body"]["PhoneNumbers"]) for m in sent}
    params = {tuple(m["Body"]["TemplateParams"]) for m in sent}
    assert len(numbers) == len(params) == len(examples)  # each a different message

    for example in examples:  # pasted again: replays
        assert _run_as_printed(example, folder).returncode == 0
    wait_until(lambda: queue_is_empty(gateway))
    assert len(_sandbox_messages(gateway)) == len(examples)
