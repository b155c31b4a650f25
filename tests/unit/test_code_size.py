"""The size gate on the Lambda's code: every module, class and function small enough to read.

For every `.py` under `functions/`: at most 400 lines per file, 150 per class and 60 per
function (nested ones too), counted from the `def` or `class` line to the last line of the
body, decorators excluded. A unit past a limit is split, not excused (like the complexity
gate in `pyproject.toml`).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path
from typing import Final

import pytest

REPO_ROOT: Final = Path(__file__).resolve().parents[2]
CODE_ROOT: Final = REPO_ROOT / "functions"
MAX_FILE_LINES: Final = 400
MAX_CLASS_LINES: Final = 150
MAX_FUNCTION_LINES: Final = 60

SOURCES: Final = sorted(p for p in CODE_ROOT.rglob("*.py") if "__pycache__" not in p.parts)


def _length(node: ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """Lines from the `def`/`class` line to the body's end (`lineno` skips decorators)."""
    assert node.end_lineno is not None
    return node.end_lineno - node.lineno + 1


def _oversized(source: str) -> Iterator[str]:
    """Each unit of `source` over its limit, as `kind name (line N): L lines > limit`."""
    lines = len(source.splitlines())
    if lines > MAX_FILE_LINES:
        yield f"file: {lines} lines > {MAX_FILE_LINES}"
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ClassDef):
            kind, limit = "class", MAX_CLASS_LINES
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            kind, limit = "function", MAX_FUNCTION_LINES
        else:
            continue
        length = _length(node)
        if length > limit:
            yield f"{kind} {node.name} (line {node.lineno}): {length} lines > {limit}"


def test_the_gate_sees_the_code() -> None:
    assert CODE_ROOT / "sms_gateway" / "handler.py" in SOURCES


def test_the_gate_counts_from_the_def_line_without_decorators() -> None:
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_FUNCTION_LINES - 1))
    at_limit = f"@decorator\n@another\ndef f():\n{body}\n"
    over = f"def g():\n{body}\n    return 1\n"

    assert list(_oversized(at_limit)) == []
    assert list(_oversized(over)) == [f"function g (line 1): 61 lines > {MAX_FUNCTION_LINES}"]


@pytest.mark.parametrize("path", SOURCES, ids=[str(p.relative_to(CODE_ROOT)) for p in SOURCES])
def test_no_file_class_or_function_is_over_its_limit(path: Path) -> None:
    assert list(_oversized(path.read_text(encoding="utf-8"))) == []
