"""The one bounded parser for JSON from outside: depth, garbage, and what it returns."""

from __future__ import annotations

from typing import Any

import pytest

from sms_gateway.json_input import (
    MAX_DEPTH,
    NOT_JSON,
    TOO_DEEP,
    UnreadableJsonError,
    check_depth,
    load_json,
)


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def test_ordinary_documents_parse_as_the_standard_library_does() -> None:
    text = '{"Data": [{"ReceiptSet": [{"Phone": "(86)13800138000", "CostCount": 1}]}]}'
    assert load_json(text) == {
        "Data": [{"ReceiptSet": [{"Phone": "(86)13800138000", "CostCount": 1}]}]
    }
    assert load_json(text.encode()) == load_json(text)


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 1_000, 100_000])
def test_deeper_than_the_bound_is_too_deep_whatever_the_parser_manages(depth: int) -> None:
    # 1,000 levels parse on Python 3.13 and not on 3.11: refused on both.
    with pytest.raises(UnreadableJsonError) as raised:
        load_json(_nested(depth))
    assert raised.value.rule == TOO_DEEP


def test_the_bound_itself_is_accepted() -> None:
    assert load_json(_nested(MAX_DEPTH)) is not None


@pytest.mark.parametrize(
    "text", ["", "{", "PhoneNumbers=1", b"\xff\xfe", '{"a": 1} trailing', "NaN-ish"]
)
def test_garbage_is_not_json_and_never_quoted(text: str | bytes) -> None:
    with pytest.raises(UnreadableJsonError) as raised:
        load_json(text)
    assert raised.value.rule == NOT_JSON
    assert str(raised.value) == "is not valid JSON"


def test_check_depth_walks_a_value_too_deep_for_recursion() -> None:
    deep: Any = []
    for _ in range(200_000):  # far past any recursion limit
        deep = [deep]
    with pytest.raises(UnreadableJsonError):
        check_depth({"TemplateParams": deep})


def test_check_depth_counts_objects_and_arrays_alike() -> None:
    value: Any = "leaf"
    for level in range(MAX_DEPTH):
        value = {"k": value} if level % 2 else [value]
    check_depth(value)
    with pytest.raises(UnreadableJsonError):
        check_depth([value])


def test_scalars_have_no_depth() -> None:
    for value in (None, 1, "text", 1.5, True):
        check_depth(value)
