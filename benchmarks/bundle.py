"""Benchmark 5 — the function's asset: its size unzipped and zipped, and its largest parts.

Built exactly as `cdk synth` builds it, by `infra.bundling` (pip for manylinux2014_aarch64
and Python 3.13, without boto3/botocore, `.pyc` by a Python 3.13 when there is one), in a
process of its own. Without `infra/bundling.py` the same pip command is run here. Then
zipped with deflate, as the CDK zips a directory asset.

Two kinds of `.pyc` are counted apart: sourceless ones (`pkg/module.pyc`, no `.py`: the
third-party code itself, which cannot be left out) and the cache beside our own sources
(`__pycache__/*.pyc`, what a cold start would otherwise compile).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any, Final

from benchmarks.pip_install import pip_install
from benchmarks.services import FUNCTIONS, REPO, base_env

GOAL_ZIPPED_BYTES: Final = 5_000_000  # "zipped ≤ 5 MB", decimal megabytes
TOP: Final = 10
# What could still leave the bundle, by path prefix in the zip. Each is measured as the
# zipped bytes it takes now; none is removed here. (What infra.bundling already leaves out
# is listed from its LEFT_OUT.)
CANDIDATES: Final = {
    "xray": (
        "aws_xray_sdk and wrapt: needed only with tracing on (the stack turns it on)",
        ("aws_xray_sdk", "wrapt"),
    ),
}
_BUILD: Final = """
import sys
from pathlib import Path
from infra.bundling import BundleSpec
spec = BundleSpec.for_function()
spec.bundle(Path(sys.argv[1]))
print("pyc" if spec.python313 else "no-pyc")
"""


def _pip_fallback(out: Path) -> str:
    """The bundling command, reproduced: the same pip flags, boto3/botocore left out."""
    pip_install(
        "--platform",
        "manylinux2014_aarch64",
        "--only-binary=:all:",
        "--python-version",
        "3.13",
        "--implementation",
        "cp",
        "--no-compile",
        "--target",
        str(out),
        "-r",
        str(FUNCTIONS / "requirements.txt"),
    )
    subprocess.run(  # noqa: S603 (git-free copy of our own package)
        [sys.executable, "-c", _COPY, str(FUNCTIONS / "sms_gateway"), str(out / "sms_gateway")],
        check=True,
    )
    return "pip (infra/bundling.py not found), no .pyc"


_COPY: Final = (
    "import shutil, sys; shutil.copytree(sys.argv[1], sys.argv[2], "
    "ignore=shutil.ignore_patterns('__pycache__', '*.pyc'))"
)


def build(out: Path) -> str:
    """Bundle into `out`; how it was built."""
    if not (REPO / "infra" / "bundling.py").exists():
        return _pip_fallback(out)
    env = base_env()
    done = subprocess.run(  # noqa: S603 (our interpreter, our module)
        [sys.executable, "-c", _BUILD, str(out)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"infra.bundling failed:\n{done.stderr[-3000:]}")
    lines = done.stdout.strip().splitlines()
    compiled = lines[-1] == "pyc" if lines else False
    return "infra.bundling" + (" with .pyc (Python 3.13)" if compiled else ", no .pyc")


def _part(path: Path, root: Path) -> str:
    top = path.relative_to(root).parts[0]
    # A distribution's metadata counts with its package, under the project's name.
    if top.endswith((".dist-info", ".data")):
        return top.split("-")[0].lower() + " (metadata)"
    # A one-file module (`typing_extensions.py` or its sourceless `.pyc`) by its name.
    return top.removesuffix(".pyc").removesuffix(".py")


def _is_sourceless(name: str) -> bool:
    """A `.pyc` outside `__pycache__`: a module shipped without its source."""
    return name.endswith(".pyc") and "__pycache__" not in name.split("/")


def measure(out: Path, zip_path: Path) -> dict[str, Any]:
    """Sizes of the built asset, and of its parts."""
    unzipped: dict[str, int] = {}
    zipped: dict[str, int] = {}
    pyc = 0
    files = sorted(p for p in out.rglob("*") if p.is_file())
    with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for path in files:
            archive.write(path, path.relative_to(out).as_posix())
            size = path.stat().st_size
            part = _part(path, out)
            unzipped[part] = unzipped.get(part, 0) + size
            if path.suffix == ".pyc":
                pyc += size
    candidates = dict.fromkeys(CANDIDATES, 0)
    pyc_zipped = sourceless_zipped = sourceless_files = 0
    with zipfile.ZipFile(zip_path) as archive:
        for info in archive.infolist():
            part = _part(out / info.filename, out)
            zipped[part] = zipped.get(part, 0) + info.compress_size
            if info.filename.endswith(".pyc"):
                pyc_zipped += info.compress_size
            if _is_sourceless(info.filename):
                sourceless_zipped += info.compress_size
                sourceless_files += 1
            for name, (_, prefixes) in CANDIDATES.items():
                if info.filename.startswith(prefixes):
                    candidates[name] += info.compress_size
    total_unzipped = sum(unzipped.values())
    total_zipped = zip_path.stat().st_size
    top = sorted(zipped, key=lambda name: zipped[name], reverse=True)[:TOP]
    return {
        "files": len(files),
        "unzipped_bytes": total_unzipped,
        "zipped_bytes": total_zipped,
        "pyc_bytes": pyc,
        "pyc_zipped_bytes": pyc_zipped,
        "sourceless_pyc_files": sourceless_files,
        "sourceless_pyc_zipped_bytes": sourceless_zipped,
        "cached_pyc_zipped_bytes": pyc_zipped - sourceless_zipped,
        "candidates": {
            name: {"why": CANDIDATES[name][0], "zipped_bytes": size}
            for name, size in candidates.items()
        },
        "goal_zipped_bytes": GOAL_ZIPPED_BYTES,
        "zipped/goal": round(total_zipped / GOAL_ZIPPED_BYTES, 4),
        "largest": [
            {
                "part": name,
                "zipped_bytes": zipped[name],
                "unzipped_bytes": unzipped[name],
                "zipped_share": round(zipped[name] / total_zipped, 4),
            }
            for name in top
        ],
    }


def run() -> dict[str, Any]:
    """Build, zip and measure the asset."""
    with tempfile.TemporaryDirectory(prefix="bench-bundle-") as scratch:
        out = Path(scratch) / "asset"
        started = time.perf_counter()
        method = build(out)
        built_s = time.perf_counter() - started
        result = measure(out, Path(scratch) / "asset.zip")
    result["method"] = method
    result["build_s"] = round(built_s, 1)
    result["left_out"] = _left_out()
    return result


def _left_out() -> dict[str, str]:
    """What infra.bundling leaves out of the asset, and why ({} before it did)."""
    try:
        from infra.bundling import LEFT_OUT
    except ImportError:
        return {}
    return dict(LEFT_OUT)
