"""The figures the reliability suite produced, kept between the run and the report.

Each part of the suite (the fault matrix, the fuzzing, the leak sweep, the privilege
checks) writes one JSON file under `.reliability/` when it finishes, stamped with the
run's id and whether every one of its checks passed. `tests.reliability.report` renders
RELIABILITY.md from them, and only from parts that are complete and come from one run:
the table can never mix a passing run's figures with a failing one's.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any, Final

REPO_ROOT: Final = Path(__file__).resolve().parents[2]
FIGURES_DIR: Final = REPO_ROOT / ".reliability"
PARTS: Final = ("fault_matrix", "fuzz", "leaks", "privilege", "pumping")
# One id per pytest process: every part written by this run carries it.
RUN_ID: Final = uuid.uuid4().hex


def write_part(name: str, data: dict[str, Any], *, complete: bool) -> Path:
    """Store one part's figures (atomically: a reader never sees half a file)."""
    if name not in PARTS:
        raise ValueError(f"unknown part {name!r}; expected one of {PARTS}")
    FIGURES_DIR.mkdir(exist_ok=True)
    # The directory ignores itself, as .pytest_cache does: generated, never committed.
    (FIGURES_DIR / ".gitignore").write_text("*\n")
    path = FIGURES_DIR / f"{name}.json"
    partial = path.with_suffix(".tmp")
    partial.write_text(
        json.dumps({"run": RUN_ID, "complete": complete, **data}, indent=1, sort_keys=True)
    )
    os.replace(partial, path)
    return path


def read_parts() -> dict[str, dict[str, Any]]:
    """Every part found, by name."""
    parts: dict[str, dict[str, Any]] = {}
    for name in PARTS:
        path = FIGURES_DIR / f"{name}.json"
        if path.exists():
            parts[name] = json.loads(path.read_text())
    return parts
