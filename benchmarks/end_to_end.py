"""Benchmark 6 — messages per second end to end through `make local` (issue #5).

Not measurable until `make local` exists: this module says so and reports no figure
rather than an invented one. It looks at the Makefile's `local` recipe each run.
"""

from __future__ import annotations

import re
import subprocess
from typing import Any, Final

from benchmarks.services import REPO

_PLACEHOLDER: Final = re.compile(r"is coming|exit 2")
_MODULE: Final = re.compile(r"-m\s+([\w.]+)")


def local_recipe() -> str | None:
    """The `local` target's recipe in the Makefile, or None when there is none."""
    text = (REPO / "Makefile").read_text()
    match = re.search(r"^local:.*\n((?:\t.*\n)*)", text, re.MULTILINE)
    return match.group(1) if match else None


def _landed(recipe: str | None) -> bool:
    """A real recipe, and the module it runs (`python -m …`) is committed: work in
    progress in someone's working tree has not landed."""
    if recipe is None or _PLACEHOLDER.search(recipe):
        return False
    module = _MODULE.search(recipe)
    if module is None:
        return True
    path = module.group(1).replace(".", "/")
    tracked = subprocess.run(  # noqa: S603 (git from PATH, fixed arguments)
        ["git", "ls-files", "--", path, f"{path}.py"],  # noqa: S607
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    return tracked.returncode == 0 and bool(tracked.stdout.strip())


def run() -> dict[str, Any]:
    """No figure yet; the reason."""
    if not _landed(local_recipe()):
        return {
            "status": "not run",
            "reason": "`make local` has not landed yet (issue #5): there is no local "
            "event pump to push messages through, so no figure is reported",
        }
    return {
        "status": "not run",
        "reason": "`make local` exists now, but this benchmark has not been written for "
        "it yet: no figure is reported",
    }
