"""Run the handler from a built asset the way Lambda loads it; the test's side is in
`lambda_runtime.py`.

`python3.13 -I -S asset_probe.py ASSET RUNTIME EVENTS.json OUT.json`: no site-packages, no
PYTHONPATH, no script directory on `sys.path`; the asset goes first (Lambda's
`/var/task`), the runtime's boto3 last (Lambda's `/var/runtime`). Each event in EVENTS (a
JSON list) is handed to `lambda_handler` in turn; OUT gets the answers (or the error an
event raised), and where every loaded module came from. Standard library only.
"""

from __future__ import annotations

import json
import runpy
import sys
import traceback
from pathlib import Path
from typing import Any

_CONTEXT = Path(__file__).resolve().parents[2] / "local_gateway" / "context.py"


def _answer(handler: Any, event: Any, context: Any) -> dict[str, Any]:
    try:
        return {"answer": handler(event, context)}
    except Exception as error:  # reported to the test, which decides
        return {"error": type(error).__name__, "traceback": traceback.format_exc()}


def _modules() -> dict[str, dict[str, str | None]]:
    found = {}
    for name, module in list(sys.modules.items()):
        spec = getattr(module, "__spec__", None)
        loader = getattr(spec, "loader", None)
        found[name] = {
            "file": getattr(module, "__file__", None),
            "loader": type(loader).__name__ if loader is not None else None,
        }
    return found


def main(asset: str, runtime: str, events_path: str, out_path: str) -> None:
    """Import the handler from `asset`, answer each event, write what happened."""
    sys.path.insert(0, asset)
    sys.path.append(runtime)
    # Lambda's context object, from the file alone: the repository is not on sys.path.
    context_class = runpy.run_path(str(_CONTEXT))["LocalContext"]
    from sms_gateway.handler import lambda_handler

    events = json.loads(Path(events_path).read_text())
    results = [_answer(lambda_handler, event, context_class()) for event in events]
    report = {
        "results": results,
        "modules": _modules(),
        "path": sys.path,
        "prefix": sys.base_prefix,  # where the standard library is
    }
    Path(out_path).write_text(json.dumps(report, default=str))


if __name__ == "__main__":
    main(*sys.argv[1:5])
