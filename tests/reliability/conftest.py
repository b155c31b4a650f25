"""The reliability suite's world, built once for the package: moto in process (two sets of
clients, the gateway's and the infrastructure's), a USpeedo sandbox of its own, and every
log line the gateway writes at DEBUG — swept for personal data and secrets at the end.

When a run completes every part of the suite, RELIABILITY.md is rendered from the figures
it wrote (`tests.reliability.report`).
"""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest
from aws_lambda_powertools.utilities import parameters
from moto import mock_aws

from tests.reliability import figures, report
from tests.reliability.world import World, leaked
from uspeedo_sandbox import Sandbox

_SERVICES = ("sqs", "dynamodb", "secretsmanager")
_ENVIRONMENT = {
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "POWERTOOLS_TRACE_DISABLED": "true",
}


@pytest.fixture(scope="package")
def world() -> Iterator[World]:
    """moto, the sandbox and the log capture for every test of the package."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in _ENVIRONMENT.items():
            patch.setenv(name, value)
        parameters.clear_caches()  # type: ignore[no-untyped-call]  # untyped in Powertools
        with mock_aws(), Sandbox() as sandbox:
            clients = [boto3.session.Session() for _ in range(2)]
            built = World(
                {name: clients[0].client(name) for name in _SERVICES},
                {name: clients[1].client(name) for name in _SERVICES},
                sandbox,
            )
            built.logs.start()
            try:
                yield built
            finally:
                built.logs.stop()
        parameters.clear_caches()  # type: ignore[no-untyped-call]


@pytest.fixture(scope="package", autouse=True)
def leak_sweep(world: World) -> Iterator[None]:
    """After the whole package: no number, parameter or secret the suite used anywhere in
    everything the gateway logged (each cell checks its own lines as it goes, too)."""
    yield
    text = world.logs.text()
    numbers, params, secrets = world.sensitive()
    found = leaked(text, numbers, params, secrets)
    figures.write_part(
        "leaks",
        {
            "log_lines": len(text.splitlines()),
            "log_bytes": len(text.encode()),
            "numbers": len(numbers),
            "parameters": len(params),
            "secrets": len(secrets),
            "found": len(found),
        },
        complete=not found,
    )
    assert not found, f"personal data or secrets reached the logs: {found}"


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Render RELIABILITY.md when this run passed and produced every part."""
    if exitstatus == 0:
        session.config.stash[_RENDERED] = report.render_if_complete(figures.RUN_ID)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Say what became of RELIABILITY.md."""
    outcome = terminalreporter.config.stash.get(_RENDERED, None)
    if outcome is not None:
        terminalreporter.write_line(f"RELIABILITY.md: {outcome}")


_RENDERED = pytest.StashKey[str]()
