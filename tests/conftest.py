"""Fixtures shared by every test suite."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from uspeedo_sandbox import DEFAULT_ACCESS_KEY_ID, DEFAULT_ACCOUNT_ID, DEFAULT_SECRET, Sandbox


@pytest.fixture(scope="session")
def _sandbox_server() -> Iterator[Sandbox]:
    with Sandbox() as server:
        yield server


@pytest.fixture
def sandbox(_sandbox_server: Sandbox) -> Iterator[Sandbox]:
    """The USpeedo sandbox on 127.0.0.1, with no records and no faults for each test."""
    _sandbox_server.reset()
    yield _sandbox_server
    _sandbox_server.reset()


SANDBOX_ACCESS_KEY_ID = DEFAULT_ACCESS_KEY_ID
SANDBOX_SECRET = DEFAULT_SECRET
SANDBOX_ACCOUNT_ID = DEFAULT_ACCOUNT_ID
