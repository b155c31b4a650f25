"""The fuzzer's finds, pinned: the examples that broke the gateway, kept as plain tests so
they are checked on every run whatever the fuzzer draws. (The fault matrix's finds are
pinned by its own cells: slow-secret, secret-incomplete, dynamodb-success-write.)"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from sms_gateway import handler
from sms_gateway.errors import MessageValidationError
from sms_gateway.gateway import Gateway
from tests.harness import api_event, message
from tests.reliability.world import Cell, InvocationContext, World


@pytest.fixture(scope="module")
def cell(world: World) -> Iterator[Cell]:
    """A gateway of its own, as the handler's."""
    built = world.new_cell("regressions")
    gateway: Gateway | None = world.build_gateway(built)
    try:
        yield built
    finally:
        world.end_cell(built, gateway)


@pytest.mark.parametrize(("key", "shown"), [("", '""'), (" ", '" "'), ("\x00", '"\\u0000"')])
def test_a_blank_or_unprintable_field_name_is_still_named(cell: Cell, key: str, shown: str) -> None:
    with pytest.raises(MessageValidationError) as refused:
        handler.lambda_handler({**message(), key: None}, InvocationContext())

    assert [(e.field, e.rule) for e in refused.value.errors] == [(shown, "unknown_field")]


# Not base64; base64 of bytes that are not UTF-8; a lone surrogate (JSON can carry one).
@pytest.mark.parametrize("body", ["%%%not base64%%%", "gA==", "\ud800"])
def test_a_body_marked_base64_that_is_not_is_the_callers_error(cell: Cell, body: str) -> None:
    event = api_event(body=body)
    event["isBase64Encoded"] = True

    answer = handler.lambda_handler(event, InvocationContext())

    assert answer["statusCode"] == 400
    [field] = json.loads(answer["body"])["Error"]["Fields"]
    assert (field["Field"], field["Rule"]) == ("$", "not_base64")
