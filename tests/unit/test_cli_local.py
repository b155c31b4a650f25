"""`smsgw local`: becomes `python -m local_gateway …` with the same Python."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from smsgw import local
from smsgw.cli import main


class ReplacedError(Exception):
    """Stands for execv: the process would be gone."""


@pytest.fixture
def execs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[list[str]]:
    """Records execv's argv instead of replacing the test process; runs from a folder
    with a `local_gateway` package, as the repository root has."""
    calls: list[list[str]] = []

    def fake_execv(path: str, argv: list[str]) -> None:
        assert path == argv[0]
        calls.append(list(argv))
        raise ReplacedError

    (tmp_path / "local_gateway").mkdir()
    (tmp_path / "local_gateway" / "__main__.py").write_text("", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(os, "execv", fake_execv)
    return calls


@pytest.mark.parametrize(
    ("argv", "passed"),
    [
        (["local"], []),
        (["local", "--port", "9000", "--verbose"], ["--port", "9000", "--verbose"]),
        (["local", "--", "--help"], ["--help"]),
        # Its help is the gateway's own, which lists the options it takes.
        (["local", "-h"], ["-h"]),
        (["local", "--help"], ["--help"]),
        # The gateway's own --outputs is its, not smsgw's.
        (["local", "--outputs", "x.json"], ["--outputs", "x.json"]),
    ],
)
def test_runs_the_local_gateway_with_the_same_python(
    argv: list[str], passed: list[str], execs: list[list[str]]
) -> None:
    with pytest.raises(ReplacedError):
        main(argv)

    assert execs == [[sys.executable, "-m", "local_gateway", *passed]]


def test_without_the_package_it_says_where_to_run_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(local, "installed", lambda: False)

    assert main(["local"]) == 2
    assert "no local_gateway package here" in capsys.readouterr().err


def test_other_commands_refuse_unknown_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["dlq", "list", "--port", "9000"])

    assert stopped.value.code == 2
    assert "unrecognized arguments: --port 9000" in capsys.readouterr().err
