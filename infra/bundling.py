"""Bundle the Lambda's code without Docker: pip for the target platform, then `.pyc`.

`pip install --platform manylinux2014_aarch64 --only-binary=:all: --python-version 3.13`
fetches the wheels the arm64 Python 3.13 runtime needs, whatever machine runs the synth.
What the runtime already ships (boto3, botocore) stays out of the bundle. The result is
precompiled by a Python 3.13 interpreter when one is found: `/var/task` is read-only, so a
missing `.pyc` is compiled again on every cold start (≈240 ms) and never saved.

Third-party packages ship as sourceless `.pyc` (the legacy layout: `pkg/module.pyc` where
`pkg/module.py` was, no `.py`, no `__pycache__`), which Python imports without the source;
that keeps the zipped asset under 5 MB. What tracebacks lose: a third-party frame still
shows its file (`/var/task/pydantic/main.py`, where the source would be) and line number,
but not the line's source text, and `inspect.getsource` cannot read third-party code. The
function's own package keeps its `.py` beside `__pycache__/*.cpython-313.pyc`, so frames
of our code read as usual. Data files (`.so`, JSON, `py.typed`) and the `.dist-info`
metadata stay.

Wheels are downloaded once into a wheelhouse and installed from there with `--no-index`, so
a second synth (and the test suite) works offline and takes seconds.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import aws_cdk as cdk
import jsii
from aws_cdk import aws_lambda as lambda_

from infra import lambda_code

# The runtime this bundle is for (contract: Python 3.13 on arm64), and pip's words for it.
# The function takes its runtime and architecture from here, so the two cannot disagree.
RUNTIME: Final = lambda_.Runtime.PYTHON_3_13
ARCHITECTURE: Final = lambda_.Architecture.ARM_64
PIP_PLATFORM: Final = "manylinux2014_aarch64"
PYTHON_VERSION: Final = "3.13"
# Shipped by the Lambda Python runtime: bundling them would add ~80 MB for nothing.
RUNTIME_PROVIDED: Final = ("boto3", "botocore")
# Files the function never loads, left out of the bundle (glob patterns under the bundle's
# root, with why). tests/infra/test_bundling.py checks that the handler works without them.
LEFT_OUT: Final = {
    "aws_lambda_powertools/event_handler/openapi/swagger_ui/swagger-ui*": (
        "Swagger UI's JavaScript and CSS: served only by `enable_swagger()`, which the API "
        "does not call"
    ),
    # The runtime ships these with botocore (its dependencies), as it ships boto3.
    "dateutil": "botocore's dependency, shipped by the runtime; else only feature flags use it",
    "python_dateutil-*.dist-info": "dateutil's metadata",
    "six.py": "dateutil's dependency, shipped by the runtime",
    "six-*.dist-info": "six's metadata",
    "pydantic/v1": "pydantic's 1.x compatibility layer: nothing here defines 1.x models",
    # Not code: read by tools, never by the running function.
    "**/*.pyi": "type stubs: read by type checkers, never imported",
    "wrapt-stubs": "wrapt's type stubs, a package of .pyi files",
    "wrapt/_wrappers.c": "the C source of wrapt's extension (the .so beside it stays)",
    "*.dist-info/RECORD": (
        "pip's list of the installed files and their hashes (for `pip uninstall`): it would "
        "name .py files the bundle no longer has; nothing here calls importlib.metadata.files"
    ),
    # Code no door imports (python -X importtime and sys.modules after every door, tracing
    # on and off; tests/infra/test_bundling.py runs every door from the built asset).
    "phonenumbers/shortdata/region_*": (
        "short-number metadata (emergency and service numbers), loaded only by phonenumbers' "
        "shortnumberinfo functions, which the gateway never calls; full numbers are checked "
        "with phonenumbers/data, which stays whole"
    ),
    "pydantic/mypy.py": "pydantic's mypy plugin: imports mypy, never loaded at runtime",
    "pydantic/experimental": "pydantic's opt-in experimental APIs: nothing here uses them",
    "urllib3/contrib/emscripten": "urllib3 in a browser (Pyodide) only",
    "urllib3/contrib/socks.py": "SOCKS proxies: needs PySocks, which is not bundled",
    "urllib3/contrib/pyopenssl.py": "TLS through pyOpenSSL, which is not bundled",
    "aws_lambda_powertools/utilities/auth_alpha": "Powertools' JWT/OAuth2 utility: not used",
    "aws_lambda_powertools/utilities/circuit_breaker": "Powertools' circuit breaker: not used",
    "aws_lambda_powertools/utilities/data_masking": "Powertools' data masking: not used",
    "aws_lambda_powertools/utilities/feature_flags": "Powertools' feature flags: not used",
    "aws_lambda_powertools/utilities/kafka": "Powertools' Kafka consumer: not used",
    "aws_lambda_powertools/utilities/metadata": (
        "Powertools' client of the Lambda metadata endpoint: not used"
    ),
    "aws_lambda_powertools/utilities/streaming": "Powertools' S3 streaming: not used",
    "aws_lambda_powertools/utilities/validation": (
        "Powertools' JSON Schema validation: needs fastjsonschema, which is not bundled (the "
        "message is validated by pydantic)"
    ),
    "aws_lambda_powertools/metrics/provider/datadog": (
        "Powertools' Datadog metrics provider: metrics go to CloudWatch (EMF)"
    ),
    # X-Ray's middleware for web frameworks: set up by an application, never by
    # `patch_all()` (what Powertools' Tracer calls), and none of them is bundled.
    **{
        f"aws_xray_sdk/ext/{framework}": "X-Ray's middleware for a web framework not bundled"
        for framework in ("aiohttp", "bottle", "django", "flask", "flask_sqlalchemy")
    },
}
# Binaries stay as their wheels ship them. pydantic_core's `.so` (2 MB of the zip) is
# stripped already; wrapt's carries debug information (≈0.13 MB zipped) that only an
# aarch64-capable strip (llvm-strip, or binutils built for aarch64) removes: the project
# does not require one, and stripping only where one happens to be installed would make the
# asset, and so its hash, differ from one machine to the next.
# Where Lambda unpacks the bundle.
LAMBDA_TASK_ROOT: Final = "/var/task"

# Environment overrides: a Python 3.13 interpreter, and where downloaded wheels are kept.
PYTHON313_ENV: Final = "SMS_GATEWAY_PYTHON313"
WHEELHOUSE_ENV: Final = "SMS_GATEWAY_WHEELHOUSE"

_PYENV_VERSION = re.compile(r"^3\.13\.(\d+)$")  # plain CPython builds, not 3.13.0t etc.


class BundlingError(RuntimeError):
    """Bundling could not produce a complete asset; the message says which step failed."""


class WheelsUnavailableError(BundlingError):
    """The wheel cache lacks the function's wheels and pip could not download them (the
    first synth on a machine that is offline, usually): one line says what to do."""


_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_REASON_CHARS: Final = 160


def _pip_reason(error: BundlingError) -> str:
    """pip's first ERROR line, without colours, cut short."""
    lines = [_ANSI.sub("", line).strip() for line in str(error).splitlines()]
    errors = [line for line in lines if line.startswith("ERROR:")] or lines[-1:]
    reason = errors[0] if errors else "no output"
    return reason if len(reason) <= _REASON_CHARS else reason[: _REASON_CHARS - 1] + "…"


def default_wheelhouse(platform: str = PIP_PLATFORM) -> Path:
    """The wheel cache: `$SMS_GATEWAY_WHEELHOUSE`, else the user's cache directory."""
    override = os.environ.get(WHEELHOUSE_ENV)
    # The override holds the Lambda's wheels; another platform's never go there.
    if override and platform == PIP_PLATFORM:
        return Path(override)
    cache_home = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    # Per target, so wheels for another platform or Python never mix in.
    return Path(cache_home) / "sms-gateway" / f"wheels-cp313-{platform}"


def is_python313(executable: str | Path) -> bool:
    """True when `executable` runs and is CPython 3.13 (a pyenv shim may not be)."""
    try:
        result = subprocess.run(  # noqa: S603  (our own candidate list, no shell)
            [
                str(executable),
                "-c",
                "import sys; print(sys.implementation.name, *sys.version_info[:2])",
            ],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return result.returncode == 0 and result.stdout.split() == ["cpython", "3", "13"]


def _pyenv_root() -> Path | None:
    root = os.environ.get("PYENV_ROOT")
    if root:
        return Path(root)
    pyenv = shutil.which("pyenv")
    if pyenv is None:
        return None
    try:
        result = subprocess.run(  # noqa: S603  (pyenv found on PATH, no shell)
            [pyenv, "root"], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return Path(result.stdout.strip()) if result.returncode == 0 and result.stdout.strip() else None


def _python313_candidates() -> list[Path]:
    candidates: list[Path] = []
    root = _pyenv_root()
    if root is not None and (root / "versions").is_dir():
        versions = [
            (int(match.group(1)), entry)
            for entry in (root / "versions").iterdir()
            if (match := _PYENV_VERSION.match(entry.name))
        ]
        # Newest patch release first.
        for _, entry in sorted(versions, reverse=True):
            candidates.append(entry / "bin" / "python3.13")
    on_path = shutil.which("python3.13")
    if on_path is not None:
        candidates.append(Path(on_path))
    return candidates


def find_python313() -> Path | None:
    """A CPython 3.13 interpreter to precompile with, or None when this machine has none.

    Looks at `$SMS_GATEWAY_PYTHON313` (which must then be valid), pyenv's versions, then
    `python3.13` on PATH.
    """
    override = os.environ.get(PYTHON313_ENV)
    if override:
        if not is_python313(override):
            raise BundlingError(f"{PYTHON313_ENV}={override} is not a CPython 3.13 interpreter")
        return Path(override)
    return next((path for path in _python313_candidates() if is_python313(path)), None)


def _run(step: str, command: Sequence[str | Path]) -> None:
    result = subprocess.run(  # noqa: S603  (fixed argument lists, no shell)
        [str(part) for part in command], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        output = (result.stdout + result.stderr).strip()
        raise BundlingError(f"{step} failed (exit {result.returncode}):\n{output}")


@dataclass(frozen=True)
class BundleSpec:
    """What goes into the bundle and with which tools."""

    code_root: Path
    package: str
    requirements: Path
    constraints: Path | None
    wheelhouse: Path
    python313: Path | None
    # The Lambda's platform; another one only to run the same bundle on this machine (the
    # tests, on a machine that is not arm64 Linux): it changes the binary wheels alone.
    platform: str = PIP_PLATFORM

    @classmethod
    def for_function(cls, platform: str = PIP_PLATFORM) -> BundleSpec:
        """The gateway's function: `functions/sms_gateway` plus its pinned requirements."""
        return cls(
            code_root=lambda_code.CODE_ROOT,
            package=lambda_code.PACKAGE_NAME,
            requirements=lambda_code.REQUIREMENTS_FILE,
            constraints=lambda_code.CONSTRAINTS_FILE,
            wheelhouse=default_wheelhouse(platform),
            python313=find_python313(),
            platform=platform,
        )

    def _pip(self, *args: str | Path) -> list[str | Path]:
        target: list[str | Path] = [
            "--platform",
            self.platform,
            "--only-binary=:all:",
            "--python-version",
            PYTHON_VERSION,
            "--implementation",
            "cp",
            "-r",
            self.requirements,
        ]
        if self.constraints is not None:
            target += ["-c", self.constraints]
        return [
            sys.executable,
            "-m",
            "pip",
            *args,
            "--disable-pip-version-check",
            "--quiet",
            *target,
        ]

    def install_dependencies(self, output_dir: Path) -> None:
        """Install the pinned requirements for the target into `output_dir`.

        From the wheelhouse alone first (offline); when a wheel is missing, download the
        set into the wheelhouse and install again.
        """
        self.wheelhouse.mkdir(parents=True, exist_ok=True)
        install = self._pip(
            "install",
            "--no-index",
            "--find-links",
            self.wheelhouse,
            "--target",
            output_dir,
            # pip would compile with the interpreter running it (not 3.13): useless .pyc.
            "--no-compile",
            "--upgrade",
        )
        try:
            _run("pip install from the wheelhouse", install)
        except BundlingError:
            try:
                _run("pip download", self._pip("download", "--dest", self.wheelhouse))
            except BundlingError as error:
                raise WheelsUnavailableError(
                    f"the Lambda's wheels are not in the cache {self.wheelhouse} and pip could "
                    f"not download them (offline? pip said: {_pip_reason(error)}): run "
                    "`make synth` once with "
                    f"PyPI reachable (later synths are offline), or set {WHEELHOUSE_ENV} to a "
                    "folder that holds them"
                ) from None
            _run("pip install", install)

    def copy_package(self, output_dir: Path) -> None:
        """Copy the function's own package, without caches from local test runs."""
        shutil.copytree(
            self.code_root / self.package,
            output_dir / self.package,
            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
            dirs_exist_ok=True,
        )

    @staticmethod
    def remove_runtime_provided(output_dir: Path) -> None:
        """Drop what the Lambda runtime ships, should a dependency have pulled it in."""
        for entry in output_dir.iterdir():
            distribution = entry.name.split("-")[0].lower()
            if entry.name.lower() in RUNTIME_PROVIDED or (
                entry.name.endswith(".dist-info") and distribution in RUNTIME_PROVIDED
            ):
                shutil.rmtree(entry)
        shutil.rmtree(output_dir / "bin", ignore_errors=True)  # console scripts: never run

    @staticmethod
    def remove_left_out(output_dir: Path) -> None:
        """Drop what the function never loads (`LEFT_OUT`)."""
        for pattern in LEFT_OUT:
            for path in output_dir.glob(pattern):
                if path.is_dir():
                    shutil.rmtree(path)
                else:
                    path.unlink()

    def third_party(self, output_dir: Path) -> list[Path]:
        """The bundle's top-level modules and packages that are not the function's own."""
        return sorted(
            entry
            for entry in output_dir.iterdir()
            if entry.name != self.package
            and not entry.name.endswith(".dist-info")
            and (entry.is_dir() or entry.suffix == ".py")
        )

    def precompile(self, output_dir: Path) -> bool:
        """Write `.pyc` for every module; False (and a warning) without a Python 3.13.

        The function's package gets `__pycache__/*.cpython-313.pyc` beside its sources.
        Third-party code is compiled to sourceless `.pyc` and its `.py` removed (the module
        docstring says what tracebacks lose). Without a 3.13 to compile with, third-party
        sources stay: a `.pyc` of another version would not load.
        """
        if self.python313 is None:
            print(
                "WARNING: no Python 3.13 found (set SMS_GATEWAY_PYTHON313 or install one with "
                "pyenv): the Lambda bundle has no .pyc, so every cold start compiles its "
                "imports (≈240 ms).",
                file=sys.stderr,
            )
            return False
        _compileall(self.python313, output_dir, [output_dir / self.package], sourceless=False)
        third_party = self.third_party(output_dir)
        _compileall(self.python313, output_dir, third_party, sourceless=True)
        remove_compiled_sources(third_party)
        return True

    def bundle(self, output_dir: Path) -> None:
        """Build the complete asset in `output_dir` (empty or not yet existing)."""
        output_dir.mkdir(parents=True, exist_ok=True)
        self.install_dependencies(output_dir)
        self.remove_runtime_provided(output_dir)
        self.remove_left_out(output_dir)
        self.copy_package(output_dir)
        self.precompile(output_dir)


def _compileall(
    python313: Path, output_dir: Path, targets: Sequence[Path], *, sourceless: bool
) -> None:
    """Compile `targets` with `python313`.

    `unchecked-hash`: the runtime loads the `.pyc` without comparing it to the source,
    so file times changed by zipping and unzipping cannot make it look stale. Paths in
    the code objects are written as they will be on Lambda (`/var/task/…`), which also
    makes the output the same from one build to the next. `-b` writes the legacy
    layout (`module.pyc` beside `module.py`): the one Python imports with no source.
    """
    _run(
        "compileall (sourceless)" if sourceless else "compileall",
        [
            python313,
            "-m",
            "compileall",
            "-q",
            "-j0",
            *(["-b"] if sourceless else []),
            "--invalidation-mode",
            "unchecked-hash",
            "-s",
            output_dir,
            "-p",
            LAMBDA_TASK_ROOT,
            *targets,
        ],
    )


def remove_compiled_sources(targets: Sequence[Path]) -> None:
    """Delete each `.py` under `targets` whose sourceless `.pyc` is beside it.

    A `.py` without its `.pyc` is an error, not something to skip: removing its source
    would leave a module the function cannot import.
    """
    sources = [
        source
        for target in targets
        for source in ([target] if target.is_file() else target.rglob("*.py"))
    ]
    uncompiled = [str(source) for source in sources if not source.with_suffix(".pyc").is_file()]
    if uncompiled:
        raise BundlingError(f"no sourceless .pyc for {len(uncompiled)} modules: {uncompiled[:5]}")
    for source in sources:
        source.unlink()


@jsii.implements(cdk.ILocalBundling)
class LocalBundling:
    """CDK's hook for bundling on this machine instead of in a Docker container."""

    def __init__(self, spec: BundleSpec | None = None) -> None:
        # Resolved when bundling runs, not at synth: a synth that skips bundling (the
        # tests) then never looks for interpreters.
        self._spec = spec

    def try_bundle(self, output_dir: str, *, image: cdk.DockerImage, **_options: Any) -> bool:
        """Bundle into `output_dir`; True tells CDK that no Docker run is needed.

        CDK bundles into a scratch directory and keeps it only when this returns, so a
        failed pip run raises and never leaves half an asset behind.
        """
        spec = self._spec or BundleSpec.for_function()
        try:
            spec.bundle(Path(output_dir))
        except WheelsUnavailableError as error:
            # Raised through jsii, it reaches the person inside an 80-line traceback of
            # jsii's and CDK's frames; the one line is all there is to say, so it is said
            # alone and the synth stops (CDK then reports the app's exit code).
            print(f"cannot bundle the Lambda: {error}", file=sys.stderr, flush=True)
            os._exit(1)
        return True


def function_code(spec: BundleSpec | None = None) -> lambda_.Code:
    """The function's code asset, bundled locally (Docker is never needed)."""
    return lambda_.Code.from_asset(
        str(lambda_code.CODE_ROOT),
        # Hash what is deployed: a new pin or a new .pyc is a new version of the code. The
        # bundle is reproducible (pinned wheels, hash-based .pyc), so an unchanged bundle
        # keeps its hash and is not deployed again.
        asset_hash_type=cdk.AssetHashType.OUTPUT,
        bundling=cdk.BundlingOptions(
            # Required by CDK, used only if local bundling declined, which it never does.
            image=RUNTIME.bundling_image,
            local=LocalBundling(spec),
        ),
    )
