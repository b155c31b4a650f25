"""The function's code as it first landed, to measure today's cold start against it in the
same run.

The whole of `functions/` at that commit: the package has since been split into other
modules, so its old files cannot be mixed with today's any more; the figure compares the
two codes whole (today's does more: protection, keyed hashes, bounded parsing).
"""

from __future__ import annotations

import io
import subprocess
import tarfile
from pathlib import Path
from typing import Final

from benchmarks.services import REPO

# The commit the speed-ups start from: the handler as it landed (issue 4).
DEFAULT_REF: Final = "b27b0e2"


def build_tree(ref: str, destination: Path) -> Path | None:
    """`functions/` as it was at `ref`; its path (the code root to put on PYTHONPATH), or
    None when `ref` is not in this clone's history."""
    archive = subprocess.run(  # noqa: S603 (git from PATH, fixed arguments)
        ["git", "archive", "--format=tar", ref, "functions"],  # noqa: S607
        cwd=REPO,
        capture_output=True,
        check=False,
    )
    if archive.returncode != 0:
        return None
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(destination, filter="data")
    return destination / "functions"
