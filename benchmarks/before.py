"""The code as it was before the speed-ups, to measure them in the same run as the code now.

Only the files the speed-ups touched are taken from the earlier commit; every other file is
today's, so the comparison shows those changes and nothing that others changed since.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Final

from benchmarks.services import FUNCTIONS, REPO

# The commit the speed-ups start from: the handler as it landed (issue 4).
DEFAULT_REF: Final = "b27b0e2"
# The files the speed-ups were allowed to change (import structure and laziness only).
CHANGED: Final = (
    "handler.py",
    "telemetry.py",
    "gateway.py",
    "credentials.py",
    "api.py",
    "queues.py",
    "deliveries.py",
    "event_kinds.py",
    "idempotency.py",
    "dead_letter.py",
)


def build_tree(ref: str, destination: Path) -> Path | None:
    """A copy of `functions/` with the changed files as they were at `ref`; its path (the
    code root to put on PYTHONPATH), or None when `ref` is not in this clone's history."""
    root = destination / "functions"
    shutil.rmtree(root, ignore_errors=True)
    shutil.copytree(FUNCTIONS, root, ignore=shutil.ignore_patterns("__pycache__"))
    for name in CHANGED:
        found = subprocess.run(  # noqa: S603 (git from PATH, fixed arguments)
            ["git", "show", f"{ref}:functions/sms_gateway/{name}"],  # noqa: S607
            cwd=REPO,
            capture_output=True,
            check=False,
        )
        if found.returncode != 0:
            return None
        (root / "sms_gateway" / name).write_bytes(found.stdout)
    return root
