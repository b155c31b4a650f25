"""The Lambda runtime imitated on this machine, to run a built asset as Lambda loads it.

A Python 3.13 started with `-I -S` (no site-packages, no PYTHONPATH) runs `asset_probe.py`:
the asset first on `sys.path`, then the standard library, then boto3 and its dependencies,
which the runtime ships (its `/var/runtime`). Nothing of the test environment can stand in
for a file the asset lacks.

The asset's binary wheels (pydantic_core, wrapt) are built for arm64 Linux. On any other
machine the same bundling builds a twin for this machine's platform: the same pins, the same
files left out and the same sourceless `.pyc`, only the `.so` files differ (the tests check
that). boto3 comes from the wheel cache too, downloaded once like the function's wheels.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Final

from infra.bundling import PIP_PLATFORM, BundleSpec

PROBE: Final = Path(__file__).resolve().parent / "asset_probe.py"
# What the runtime ships and the asset leaves out: boto3 (with botocore, s3transfer,
# jmespath, dateutil, six, urllib3 as its dependencies), at the constraints' pin.
RUNTIME_REQUIREMENTS: Final = "boto3\n"
# sysconfig's name for the Lambda's platform, and pip's for a Linux machine's.
LAMBDA_SYSCONFIG_PLATFORM: Final = "linux-aarch64"
_LINUX_PREFIX: Final = "linux-"


def _sysconfig_platform(python313: Path) -> str:
    done = subprocess.run(  # noqa: S603 - our interpreter, fixed arguments
        [str(python313), "-c", "import sysconfig; print(sysconfig.get_platform())"],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def pip_platform(python313: Path) -> str:
    """pip's `--platform` for the machine `python313` runs on (the Lambda's on arm64 Linux)."""
    name = _sysconfig_platform(python313)
    if name == LAMBDA_SYSCONFIG_PLATFORM:
        return PIP_PLATFORM
    if name.startswith(_LINUX_PREFIX):
        return "manylinux2014_" + name.removeprefix(_LINUX_PREFIX)
    # macOS and Windows: pip takes sysconfig's name with `_` for `-` and `.`.
    return name.replace("-", "_").replace(".", "_")


def install_runtime_packages(spec: BundleSpec, target: Path) -> Path:
    """boto3 and its dependencies into `target`, from `spec`'s wheel cache (offline once
    the cache holds them), for `spec`'s platform and Python."""
    requirements = target.with_name(target.name + "-requirements.txt")
    requirements.write_text(RUNTIME_REQUIREMENTS)
    replace(spec, requirements=requirements).install_dependencies(target)
    return target


@dataclass(frozen=True)
class Runtime:
    """A Python 3.13 and the runtime's packages: what Lambda puts around the asset."""

    python313: Path
    packages: Path

    def run(
        self, asset: Path, events: list[Any], env: dict[str, str], scratch: Path
    ) -> dict[str, Any]:
        """Hand `events` to the asset's handler in one fresh, isolated process."""
        events_path, out_path = scratch / "events.json", scratch / "out.json"
        events_path.write_text(json.dumps(events))
        out_path.unlink(missing_ok=True)
        done = subprocess.run(  # noqa: S603 - our interpreter, our probe
            [
                str(self.python313),
                "-I",  # no PYTHONPATH, no user site, no script directory on sys.path
                "-S",  # no site-packages at all
                str(PROBE),
                str(asset),
                str(self.packages),
                str(events_path),
                str(out_path),
            ],
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr[-5000:]
        report: dict[str, Any] = json.loads(out_path.read_text())
        return report
