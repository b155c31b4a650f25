"""`smsgw local`: run the local gateway (`python -m local_gateway`) in place of this process."""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Final

from smsgw.errors import SETUP_ERROR, CliError

MODULE: Final = "local_gateway"


def command(extra: Sequence[str]) -> list[str]:
    """The command line: this very Python (the venv's), so the gateway finds its packages."""
    return [sys.executable, "-m", MODULE, *extra]


def installed() -> bool:
    """Whether `local_gateway` is importable from this Python's path."""
    return importlib.util.find_spec(MODULE) is not None


def available(cwd: Path | None = None) -> bool:
    """Whether `python -m local_gateway` can start: in the working directory (`-m` puts it
    first on the path), or installed."""
    folder = cwd or Path.cwd()
    return (folder / MODULE / "__main__.py").is_file() or installed()


def run(extra: Sequence[str]) -> int:
    """Replace this process with the local gateway: Ctrl-C and the exit code are then its
    own, with no Python in between to swallow either. Returns only when it cannot start."""
    if not available():
        raise CliError(
            f"no {MODULE} package here: run `smsgw local` (or `make local`) from the root "
            "of the sms-gateway checkout",
            SETUP_ERROR,
        )
    argv = command(extra)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(argv[0], argv)  # noqa: S606 (a fixed argv: this Python, -m, the user's args)
    return 0  # not reached: execv only returns by raising
