"""`python -m benchmarks.worker NAME RUNS OUT.json`: one benchmark's measuring half, in a
process of its own with the Lambda's environment. Its stdout carries the handler's logs
and metrics (the parent discards them); the figures go to OUT.json."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.services import Services, base_env


def run_worker(name: str, runs: int, services: Services | None, **env: str) -> dict[str, Any]:
    """Run `benchmarks.<name>.measure(runs)` in a child process, with the Lambda's
    environment pointed at `services` (or a clean one without); its result."""
    with tempfile.TemporaryDirectory(prefix=f"bench-{name}-") as scratch:
        out = Path(scratch) / "out.json"
        done = subprocess.run(  # noqa: S603 (our interpreter, our module)
            [sys.executable, "-m", "benchmarks.worker", name, str(runs), str(out)],
            env=services.env(**env) if services is not None else {**base_env(), **env},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"benchmark {name} failed:\n{done.stderr[-4000:]}")
        result: dict[str, Any] = json.loads(out.read_text())
        return result


def main(argv: list[str]) -> int:
    """Measure and write the result."""
    name, runs, out = argv[0], int(argv[1]), Path(argv[2])
    module = importlib.import_module(f"benchmarks.{name}")
    result = module.measure(runs)
    out.write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
