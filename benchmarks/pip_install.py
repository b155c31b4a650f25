"""`pip install` with this interpreter's pip, quietly, pinned by the project's constraints."""

from __future__ import annotations

import subprocess
import sys

from benchmarks.services import REPO


def pip_install(*args: str) -> None:
    """Install what `args` name (e.g. `-r requirements-bench.txt`), within constraints.txt."""
    subprocess.run(  # noqa: S603 (this interpreter's pip, arguments from our own code)
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            *args,
            "-c",
            str(REPO / "constraints.txt"),
        ],
        check=True,
    )
