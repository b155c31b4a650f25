"""Bundling without Docker: one real run of the local bundling (pip for arm64/3.13 from the
wheelhouse, downloading from PyPI the first time), and the interpreter search around it."""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from infra import bundling
from infra.bundling import (
    PYTHON313_ENV,
    BundleSpec,
    BundlingError,
    LocalBundling,
    find_python313,
    is_python313,
)
from infra.lambda_code import CODE_ROOT, PACKAGE_NAME, REQUIREMENTS_FILE

# `importlib.util.MAGIC_NUMBER` of the interpreter that compiled, and the flags word of a
# `.pyc` written with --invalidation-mode unchecked-hash (hash-based, source not checked).
UNCHECKED_HASH_FLAGS = 0b01


@pytest.fixture(scope="module")
def python313() -> Path:
    """This machine's Python 3.13: the bundle's `.pyc` are only as good as it is."""
    found = find_python313()
    assert found is not None, (
        "no CPython 3.13 found: install one (pyenv install 3.13) or set "
        f"{PYTHON313_ENV}, so the bundle carries .pyc files"
    )
    return found


@pytest.fixture(scope="module")
def asset(tmp_path_factory: pytest.TempPathFactory, python313: Path) -> Path:
    """The function's asset, bundled once the way `cdk synth` bundles it."""
    output = tmp_path_factory.mktemp("asset")
    bundled = LocalBundling().try_bundle(
        str(output), image=bundling.RUNTIME.bundling_image, command=["unused"]
    )
    assert bundled is True  # CDK must never fall back to Docker
    return output


def _magic_number(python: Path) -> bytes:
    result = subprocess.run(  # noqa: S603  (our own interpreter path)
        [
            str(python),
            "-c",
            "import importlib.util, sys; sys.stdout.buffer.write(importlib.util.MAGIC_NUMBER)",
        ],
        capture_output=True,
        check=True,
    )
    return result.stdout


def test_asset_holds_the_function_package(asset: Path) -> None:
    sources = sorted(p.relative_to(CODE_ROOT) for p in (CODE_ROOT / PACKAGE_NAME).glob("*.py"))

    assert sources
    assert sorted(p.relative_to(asset) for p in (asset / PACKAGE_NAME).glob("*.py")) == sources


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def _pins() -> dict[str, str]:
    """`functions/requirements.txt` as {normalized distribution name: version}."""
    pins = {}
    for line in REQUIREMENTS_FILE.read_text().splitlines():
        requirement = line.split("#")[0].strip()
        if requirement:
            name, version = requirement.split("==")
            pins[_normalized(name)] = version
    return pins


def test_asset_holds_powertools_and_exactly_the_pinned_versions(asset: Path) -> None:
    installed = dict(
        entry.name.removesuffix(".dist-info").rsplit("-", 1) for entry in asset.glob("*.dist-info")
    )
    installed = {_normalized(name): version for name, version in installed.items()}

    assert {name: installed.get(name) for name in _pins()} == _pins()
    for package in ("aws_lambda_powertools", "pydantic", "pydantic_core", "phonenumbers"):
        assert (asset / package / "__init__.py").is_file(), package


def test_binaries_are_built_for_python_313_on_arm64(asset: Path) -> None:
    binaries = sorted(p.name for p in asset.rglob("*.so"))

    assert "_pydantic_core.cpython-313-aarch64-linux-gnu.so" in binaries
    assert all("aarch64" in name for name in binaries), binaries


def test_runtime_provided_packages_are_left_out(asset: Path) -> None:
    top_level = {entry.name.lower() for entry in asset.iterdir()}

    for package in ("boto3", "botocore"):
        assert package not in top_level
        assert not [name for name in top_level if name.startswith(f"{package}-")]


def test_what_the_function_never_loads_is_left_out(asset: Path) -> None:
    for pattern in bundling.LEFT_OUT:
        assert list(asset.glob(pattern)) == [], pattern
    # What stays next to it: the Swagger UI module (its assets gone) and pydantic itself.
    assert (asset / "aws_lambda_powertools/event_handler/openapi/swagger_ui/html.py").is_file()
    assert (asset / "pydantic/main.py").is_file()


# The handler's tests, run with pydantic's 1.x layer unimportable, as it is in the bundle.
# (dateutil and six need no such run: the runtime ships them with botocore.)
_WITHOUT_PYDANTIC_V1 = """
import importlib.abc, sys

class LeftOut(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "pydantic.v1" or name.startswith("pydantic.v1."):
            raise ImportError(name + " is left out of the bundle")
        return None

sys.meta_path.insert(0, LeftOut())
import pytest
code = pytest.main(["-q", "-p", "no:cacheprovider", *sys.argv[1:]])
assert not [m for m in sys.modules if m.startswith("pydantic.v1")]
sys.exit(code)
"""
_PYDANTIC_PATHS = (
    "tests/unit/test_model.py",
    "tests/unit/test_model_schema.py",
    "tests/unit/test_handler_api.py",
    "tests/unit/test_handler_doors.py",
    "tests/unit/test_handler_recipients.py",
)


def test_the_handler_works_without_pydantic_v1() -> None:
    repo = CODE_ROOT.parent
    done = subprocess.run(  # noqa: S603 - our interpreter, our tests
        [sys.executable, "-c", _WITHOUT_PYDANTIC_V1, *_PYDANTIC_PATHS],
        cwd=repo,
        capture_output=True,
        text=True,
        check=False,
    )

    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert " passed" in done.stdout


def test_every_module_is_precompiled_for_python_313(asset: Path, python313: Path) -> None:
    modules = [p for p in asset.rglob("*.py") if "__pycache__" not in p.parts]
    missing = [
        str(module.relative_to(asset))
        for module in modules
        if not (module.parent / "__pycache__" / f"{module.stem}.cpython-313.pyc").is_file()
    ]
    magic = _magic_number(python313)
    compiled = list(asset.rglob("*.pyc"))

    assert len(modules) > 100
    assert missing == []
    # Only 3.13's, each loadable without checking its source (/var/task is read-only).
    assert all(p.name.endswith(".cpython-313.pyc") for p in compiled)
    for pyc in compiled[:50]:
        header = pyc.read_bytes()[:8]
        assert header[:4] == magic, pyc
        assert int.from_bytes(header[4:8], "little") == UNCHECKED_HASH_FLAGS, pyc


def test_without_python_313_the_bundle_has_no_pyc_and_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "module.py").write_text("VALUE = 1\n")

    compiled = replace(BundleSpec.for_function(), python313=None).precompile(tmp_path)

    assert compiled is False
    assert not list(tmp_path.rglob("*.pyc"))
    assert "no Python 3.13 found" in capsys.readouterr().err


def test_interpreter_search_checks_what_it_finds(
    python313: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert is_python313(python313)
    assert not is_python313(sys.executable) or sys.version_info[:2] == (3, 13)
    assert not is_python313("/nonexistent/python3.13")

    monkeypatch.setenv(PYTHON313_ENV, str(python313))
    assert find_python313() == python313


def test_a_wrong_interpreter_override_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PYTHON313_ENV, "/nonexistent/python3.13")

    with pytest.raises(BundlingError, match=PYTHON313_ENV):
        find_python313()
