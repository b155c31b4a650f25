"""Bundling without Docker: one real run of the local bundling (pip for arm64/3.13 from the
wheelhouse, downloading from PyPI the first time), the interpreter search around it, and
the built asset run as Lambda runs it (see `lambda_runtime.py`): imported by a Python 3.13
that sees nothing but the asset and the runtime's boto3, sending through every door to the
moto server and the USpeedo sandbox on loopback."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import boto3
import pytest

from benchmarks import bundle as bundle_benchmark
from benchmarks.services import FAKE_AWS, REGION, Services, running
from infra import bundling
from infra.bundling import (
    LAMBDA_TASK_ROOT,
    PIP_PLATFORM,
    PYTHON313_ENV,
    BundleSpec,
    BundlingError,
    LocalBundling,
    find_python313,
    is_python313,
    remove_compiled_sources,
)
from infra.lambda_code import CODE_ROOT, PACKAGE_NAME, REQUIREMENTS_FILE
from tests.harness import api_event, message, sns_event, sqs_event, sqs_record
from tests.infra.lambda_runtime import Runtime, install_runtime_packages, pip_platform

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
        assert (asset / package / "__init__.pyc").is_file(), package


def test_binaries_are_built_for_python_313_on_arm64(asset: Path) -> None:
    binaries = sorted(p.name for p in asset.rglob("*.so"))

    assert "_pydantic_core.cpython-313-aarch64-linux-gnu.so" in binaries
    assert all("aarch64" in name for name in binaries), binaries


def test_runtime_provided_packages_are_left_out(asset: Path) -> None:
    top_level = {entry.name.lower() for entry in asset.iterdir()}

    for package in ("boto3", "botocore"):
        assert package not in top_level
        assert not [name for name in top_level if name.startswith(f"{package}-")]


def _compiled_forms(pattern: str) -> list[str]:
    """A LEFT_OUT pattern as it would show in the asset: a module's `.py` is a `.pyc` there."""
    return [pattern, pattern + "c"] if pattern.endswith(".py") else [pattern]


def test_what_the_function_never_loads_is_left_out(asset: Path) -> None:
    for pattern in bundling.LEFT_OUT:
        for form in _compiled_forms(pattern):
            assert list(asset.glob(form)) == [], form
    # What stays next to it: the Swagger UI module (its assets gone), pydantic itself, the
    # full-number metadata of phonenumbers, Powertools' parser and X-Ray's botocore patch.
    for kept in (
        "aws_lambda_powertools/event_handler/openapi/swagger_ui/html.pyc",
        "pydantic/main.pyc",
        "phonenumbers/data/region_CN.pyc",
        "phonenumbers/shortdata/__init__.pyc",
        "aws_lambda_powertools/utilities/parser/models/__init__.pyc",
        "aws_xray_sdk/ext/botocore/patch.pyc",
        "pydantic-2.14.3.dist-info/METADATA",
    ):
        assert (asset / kept).is_file(), kept


# The handler's tests, run with every left-out module unimportable, as in the bundle: they
# take paths (errors, each door, each route) that a run from the asset does not.
_WITHOUT_LEFT_OUT = """
import fnmatch, importlib.abc, sys

LEFT_OUT = sys.argv[1].split(",")

def left_out(name):
    return any(fnmatch.fnmatchcase(name, p) or name.startswith(p + ".") for p in LEFT_OUT)

class LeftOut(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if left_out(name):
            raise ImportError(name + " is left out of the bundle")
        return None

sys.meta_path.insert(0, LeftOut())
import pytest
code = pytest.main(["-q", "-p", "no:cacheprovider", *sys.argv[2:]])
assert not [m for m in sys.modules if left_out(m)]
sys.exit(code)
"""
_HANDLER_TESTS = (
    "tests/unit/test_model.py",
    "tests/unit/test_model_schema.py",
    "tests/unit/test_handler_api.py",
    "tests/unit/test_handler_doors.py",
    "tests/unit/test_handler_recipients.py",
    "tests/unit/test_handler_telemetry.py",
    "tests/unit/test_handler_fates.py",
    "tests/unit/test_phone.py",
)
# Left out because the runtime ships them with botocore, not because nothing loads them.
_RUNTIME_SHIPS = ("dateutil", "six")


_MODULE_PATH = re.compile(r"[A-Za-z_][\w*]*(/[A-Za-z_*][\w*]*)*")


def left_out_modules() -> list[str]:
    """LEFT_OUT's patterns that name modules, as module names (fnmatch patterns); the
    others name data files (stubs, C source, metadata, Swagger UI's assets)."""
    modules = []
    for pattern in bundling.LEFT_OUT:
        path = pattern.removesuffix(".py")
        if _MODULE_PATH.fullmatch(path) and path not in _RUNTIME_SHIPS:
            modules.append(path.replace("/", "."))
    return modules


def test_left_out_modules_are_read_from_left_out() -> None:
    modules = set(left_out_modules())

    assert {"pydantic.v1", "phonenumbers.shortdata.region_*", "urllib3.contrib.socks"} <= modules
    # Data files name no module; what the runtime ships stays importable.
    assert not modules & {"dateutil", "six", "wrapt-stubs", "wrapt._wrappers.c"}
    assert not [module for module in modules if "dist-info" in module or "pyi" in module]


def test_the_handler_works_without_what_is_left_out() -> None:
    repo = CODE_ROOT.parent
    done = subprocess.run(  # noqa: S603 - our interpreter, our tests
        [sys.executable, "-c", _WITHOUT_LEFT_OUT, ",".join(left_out_modules()), *_HANDLER_TESTS],
        cwd=repo,
        capture_output=True,
        text=True,
        check=False,
    )

    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert " passed" in done.stdout


def _third_party_files(asset: Path) -> list[Path]:
    return [
        path
        for path in asset.rglob("*")
        if path.is_file() and path.relative_to(asset).parts[0] != PACKAGE_NAME
    ]


def _check_header(pyc: Path, magic: bytes) -> None:
    header = pyc.read_bytes()[:8]
    assert header[:4] == magic, pyc
    assert int.from_bytes(header[4:8], "little") == UNCHECKED_HASH_FLAGS, pyc


def test_our_package_keeps_its_sources_with_pyc_for_python_313(
    asset: Path, python313: Path
) -> None:
    modules = list((asset / PACKAGE_NAME).rglob("*.py"))
    compiled = [m.parent / "__pycache__" / f"{m.stem}.cpython-313.pyc" for m in modules]
    magic = _magic_number(python313)

    assert len(modules) > 30
    assert [str(pyc) for pyc in compiled if not pyc.is_file()] == []
    for pyc in compiled:
        _check_header(pyc, magic)


def test_third_party_code_is_sourceless_pyc_for_python_313(asset: Path, python313: Path) -> None:
    files = _third_party_files(asset)
    compiled = [path for path in files if path.suffix == ".pyc"]
    magic = _magic_number(python313)

    assert len(compiled) > 500
    # No source and no __pycache__: each module is its `.pyc`, where its `.py` was.
    assert [str(path) for path in files if path.suffix == ".py"] == []
    assert [str(path) for path in files if "__pycache__" in path.parts] == []
    for pyc in compiled:
        _check_header(pyc, magic)
    # Data files that are not modules stay.
    assert (asset / "pydantic/py.typed").is_file()
    assert (asset / "aws_xray_sdk/core/sampling/local/sampling_rule.json").is_file()


def test_a_py_without_its_pyc_stops_the_bundling(tmp_path: Path) -> None:
    package = tmp_path / "package"
    package.mkdir()
    (package / "compiled.py").write_text("VALUE = 1\n")
    (package / "compiled.pyc").write_bytes(b"")
    (package / "forgotten.py").write_text("VALUE = 2\n")

    with pytest.raises(BundlingError, match=r"forgotten\.py"):
        remove_compiled_sources([package])
    assert (package / "compiled.py").is_file()  # nothing removed before the check


def test_the_zipped_asset_is_within_the_goal(
    asset: Path, tmp_path: Path, record_property: Any
) -> None:
    measured = bundle_benchmark.measure(asset, tmp_path / "asset.zip")
    size = measured["zipped_bytes"]
    record_property("zipped_bytes", size)

    assert size == (tmp_path / "asset.zip").stat().st_size
    assert size <= bundle_benchmark.GOAL_ZIPPED_BYTES, f"zipped: {size:,} bytes"
    # The benchmark tells the sourceless code from our package's cache.
    assert measured["sourceless_pyc_files"] > 500
    assert 0 < measured["cached_pyc_zipped_bytes"] < measured["sourceless_pyc_zipped_bytes"]


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


# --- The asset as Lambda loads it -------------------------------------------------------


@pytest.fixture(scope="module")
def runnable_asset(asset: Path, python313: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The asset, or on a machine that cannot load arm64 binaries its twin for this one."""
    platform = pip_platform(python313)
    if platform == PIP_PLATFORM:
        return asset
    twin = tmp_path_factory.mktemp("twin")
    BundleSpec.for_function(platform).bundle(twin)
    return twin


@pytest.fixture(scope="module")
def runtime(python313: Path, tmp_path_factory: pytest.TempPathFactory) -> Runtime:
    """Python 3.13 and boto3 (with its dependencies) as the runtime ships them."""
    spec = BundleSpec.for_function(pip_platform(python313))
    packages = install_runtime_packages(spec, tmp_path_factory.mktemp("runtime") / "packages")
    return Runtime(python313, packages)


@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    """A moto server and the USpeedo sandbox on loopback, with the stack's resources."""
    with running(tmp_path_factory.mktemp("services")) as started:
        yield started


def _platform_free(path: Path) -> str:
    # `_pydantic_core.cpython-313-x86_64-linux-gnu.so` -> `_pydantic_core.cpython-313-*.so`
    return re.sub(r"-[a-z0-9_]+-linux-gnu\.so$", "-*.so", path.as_posix())


def test_the_twin_differs_from_the_asset_only_in_binaries(
    asset: Path, runnable_asset: Path
) -> None:
    def files(root: Path) -> list[str]:
        return sorted(_platform_free(p.relative_to(root)) for p in root.rglob("*") if p.is_file())

    assert files(runnable_asset) == files(asset)


def _sent(services: Services, run: Callable[[], dict[str, Any]]) -> tuple[dict[str, Any], int]:
    """What `run` reported, and how many messages the sandbox accepted meanwhile."""
    before = services.sandbox.accepted_count()
    report = run()
    return report, services.sandbox.accepted_count() - before


def _from(report: dict[str, Any], module: str) -> dict[str, str | None]:
    """Where `module` was loaded from, and by which loader."""
    found: dict[str, str | None] | None = report["modules"].get(module)
    assert found is not None, f"{module} was not loaded"
    return found


def test_the_asset_imports_the_handler_and_sends_as_lambda_loads_it(
    runnable_asset: Path, runtime: Runtime, services: Services, tmp_path: Path
) -> None:
    event = sqs_event(sqs_record(message("+8613800138101")))

    report, sent = _sent(
        services, lambda: runtime.run(runnable_asset, [event], services.env(), tmp_path)
    )

    assert report["results"] == [{"answer": {"batchItemFailures": []}}]
    assert sent == 1
    # Loaded from the asset alone: our code from its source, third-party code sourceless.
    # Besides the asset, only the standard library and the runtime's boto3 are on the path.
    path = report["path"]
    assert path[0] == str(runnable_asset)
    assert path[-1] == str(runtime.packages)
    assert all(entry.startswith(report["prefix"]) for entry in path[1:-1]), path
    assert not [entry for entry in path if "site-packages" in entry], path
    assert _from(report, "sms_gateway.handler") == {
        "file": f"{runnable_asset}/sms_gateway/handler.py",
        "loader": "SourceFileLoader",
    }
    for module in ("pydantic.main", "aws_lambda_powertools.utilities.batch", "phonenumbers"):
        assert _from(report, module)["loader"] == "SourcelessFileLoader", module
        assert str(_from(report, module)["file"]).startswith(f"{runnable_asset}/"), module
    assert str(_from(report, "botocore")["file"]).startswith(f"{runtime.packages}/")


def _tracing_env(services: Services, asset: Path) -> dict[str, str]:
    """As deployed: tracing on, inside Lambda (Powertools checks LAMBDA_TASK_ROOT)."""
    return services.env(
        LAMBDA_TASK_ROOT=str(asset),
        AWS_LAMBDA_FUNCTION_NAME="sms-gateway",
        POWERTOOLS_TRACE_DISABLED="false",
        _X_AMZN_TRACE_ID="Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
        # The first receipt check is due at once (the shortest delay SQS has).
        RECEIPT_DELAY_SECONDS="1",
    )


def _receipt_checks(services: Services, wanted: int) -> list[dict[str, Any]]:
    """The receipt checks the sends queued, as the receipts queue hands them to the
    function (they are due after one second)."""
    sqs = boto3.client(
        "sqs",
        endpoint_url=services.aws_url,
        region_name=REGION,
        aws_access_key_id=FAKE_AWS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=FAKE_AWS["AWS_SECRET_ACCESS_KEY"],
    )
    found: list[dict[str, Any]] = []
    deadline = time.monotonic() + 30
    while len(found) < wanted and time.monotonic() < deadline:
        answer = sqs.receive_message(
            QueueUrl=services.receipts_queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1
        )
        found += [sqs_record(item["Body"]) for item in answer.get("Messages", [])]
    return found


def _status(result: dict[str, Any]) -> int:
    status: int = result["answer"]["statusCode"]
    return status


def test_every_door_answers_from_the_asset_with_tracing_on(
    runnable_asset: Path, runtime: Runtime, services: Services, tmp_path: Path
) -> None:
    env = _tracing_env(services, runnable_asset)
    doors = [
        sqs_event(sqs_record(message("+8613800138102"))),
        sns_event(message("+8613800138103")),
        api_event(body=message("+8613800138104")),
        api_event(body={"PhoneNumbers": ["12"], "TemplateId": ""}),  # 400, field by field
        api_event("GET", "/openapi.json"),
        api_event("GET", "/optouts"),
        api_event("GET", "/messages/unknown-session"),
        message("+8613800138105"),  # a direct invoke
        {"unsupported": True},
    ]

    report, sent = _sent(services, lambda: runtime.run(runnable_asset, doors, env, tmp_path))
    results = report["results"]
    checks = _receipt_checks(services, wanted=sent)
    receipts = runtime.run(runnable_asset, [sqs_event(*checks)], env, tmp_path)

    assert results[0] == {"answer": {"batchItemFailures": []}}
    assert results[1] == {"answer": {"Outcomes": ["sent"]}}
    assert [_status(result) for result in results[2:7]] == [200, 400, 200, 200, 200]
    assert results[7]["answer"]["PhoneCount"] == 1
    assert results[8]["error"] == "UnsupportedEventError"
    assert sent == 4
    assert len(checks) == 4
    assert receipts["results"] == [{"answer": {"batchItemFailures": []}}]
    # Tracing was on: X-Ray's SDK and its botocore patch came from the asset.
    assert _from(report, "aws_xray_sdk.ext.botocore.patch")["loader"] == "SourcelessFileLoader"


_TRACEBACK = """
import sys, traceback
sys.path.insert(0, sys.argv[1])
from pydantic import TypeAdapter
from sms_gateway.json_input import load_json
for call in (lambda: TypeAdapter(int).validate_python("x"), lambda: load_json("{")):
    try:
        call()
    except Exception:
        print(traceback.format_exc())
"""


def test_tracebacks_name_third_party_lines_and_show_our_source(
    runnable_asset: Path, python313: Path
) -> None:
    done = subprocess.run(  # noqa: S603 - our interpreter, our script
        [str(python313), "-I", "-S", "-c", _TRACEBACK, str(runnable_asset)],
        capture_output=True,
        text=True,
        check=True,
    )
    pydantic_frame = re.search(
        rf'File "{LAMBDA_TASK_ROOT}/pydantic/type_adapter.py", line \d+, in \w+\n(.*)\n',
        done.stdout,
    )
    our_frame = re.search(r'sms_gateway/json_input.py", line \d+, in \w+\n(.*)\n', done.stdout)

    # A third-party frame: where the source would be on Lambda, and the line; no source
    # (a line of source would follow, indented by four spaces).
    assert pydantic_frame is not None, done.stdout
    assert not pydantic_frame.group(1).startswith("    "), done.stdout
    # Our own frames still show their line of source.
    assert our_frame is not None, done.stdout
    assert our_frame.group(1).startswith("    "), done.stdout


_METADATA = """
import sys
sys.path.insert(0, sys.argv[1])
from importlib.metadata import entry_points, version
print(version("pydantic"), version("aws-lambda-powertools"), version("phonenumberslite"))
print(len(entry_points(group="pydantic")))
"""


def test_the_kept_metadata_answers_importlib_metadata(asset: Path, python313: Path) -> None:
    done = subprocess.run(  # noqa: S603 - our interpreter, our script
        [str(python313), "-I", "-S", "-c", _METADATA, str(asset)],
        capture_output=True,
        text=True,
        check=True,
    )

    pins = _pins()
    assert done.stdout.split() == [
        pins["pydantic"],
        pins["aws_lambda_powertools"],
        pins["phonenumberslite"],
        "0",  # no pydantic plugin: its loader reads every distribution's entry points
    ]
