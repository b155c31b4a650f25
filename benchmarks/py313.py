"""The Lambda's own Python (3.13), when this machine has one, with the function's packages.

The cold start is measured with it too: a `pip install --target` of
`functions/requirements.txt` for this machine's platform (plus boto3, which the Lambda
runtime ships), cached outside the repository and rebuilt when a pin changes.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Final

from benchmarks.services import FUNCTIONS, REPO

OVERRIDE_ENV: Final = "SMS_GATEWAY_PYTHON313"
_VERSION: Final = re.compile(r"^3\.13\.(\d+)$")


def _pyenv_root() -> Path | None:
    if os.environ.get("PYENV_ROOT"):
        return Path(os.environ["PYENV_ROOT"])
    pyenv = shutil.which("pyenv")
    if pyenv is None:
        return None
    found = subprocess.run(  # noqa: S603 (pyenv from PATH, fixed arguments)
        [pyenv, "root"], capture_output=True, text=True, check=False
    )
    return Path(found.stdout.strip()) if found.returncode == 0 else None


def find() -> Path | None:
    """A CPython 3.13: `$SMS_GATEWAY_PYTHON313`, the newest pyenv 3.13.x, or None."""
    if os.environ.get(OVERRIDE_ENV):
        return Path(os.environ[OVERRIDE_ENV])
    root = _pyenv_root()
    if root is None or not (root / "versions").is_dir():
        on_path = shutil.which("python3.13")
        return Path(on_path) if on_path else None
    versions = sorted(
        (int(match.group(1)), entry)
        for entry in (root / "versions").iterdir()
        if (match := _VERSION.match(entry.name))
    )
    if not versions:
        return None
    return versions[-1][1] / "bin" / "python3"


def _cache_root() -> Path:
    home = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(home) / "sms-gateway" / "bench"


def site_packages(python: Path) -> Path:
    """The target directory for `python`, built (once per set of pins) when missing."""
    requirements = FUNCTIONS / "requirements.txt"
    constraints = REPO / "constraints.txt"
    digest = hashlib.sha256(
        requirements.read_bytes() + constraints.read_bytes() + str(python).encode()
    ).hexdigest()[:16]
    target = _cache_root() / f"py313-site-{digest}"
    if (target / ".complete").exists():
        return target
    shutil.rmtree(target, ignore_errors=True)
    subprocess.run(  # noqa: S603 (the interpreter found above, fixed arguments)
        [
            str(python),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--only-binary=:all:",
            "--target",
            str(target),
            "-r",
            str(requirements),
            "boto3",  # shipped by the Lambda runtime; pinned by the constraints
            "-c",
            str(constraints),
        ],
        check=True,
    )
    (target / ".complete").touch()
    return target
