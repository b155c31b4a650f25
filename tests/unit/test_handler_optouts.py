"""The opt-out list's REST routes, through the handler: `POST /optouts`, `GET /optouts`,
`GET /optouts/{PhoneNumber}` and `DELETE /optouts/{PhoneNumber}` — every accepted form of a
number is one entry, a bad number is a 400 naming it by index, and no number is logged."""

from __future__ import annotations

import io
import json
import logging
import re
from typing import Any

import jsonschema
import pytest

from local_gateway.context import LocalContext
from local_gateway.resources import create_idempotency_table
from sms_gateway.gateway import Gateway
from sms_gateway.handler import lambda_handler
from sms_gateway.optouts import OptOutStore
from tests.harness import api_event
from tests.unit.conftest import Aws

PROTECTION_TABLE = "sms-gateway-protection"
NUMBER = "(86)13800138000"
# Every accepted form of NUMBER (the default country code is 86).
FORMS = ("+8613800138000", "008613800138000", "(86)13800138000", "13800138000", "+86 138-0013-8000")
# The same number in a path: `00` and the country code, an escaped `+`, brackets, spaces.
PATH_FORMS = (
    "008613800138000",
    "%2B8613800138000",
    "(86)13800138000",
    "%2B86%20138%200013%208000",
    "13800138000",
)
OTHER = "(86)13900139000"
# Many numbers, for pagination.
MANY = [f"(86)1370013{i:04d}" for i in range(250)]


@pytest.fixture
def store(gateway: Gateway, aws: Aws, monkeypatch: pytest.MonkeyPatch) -> OptOutStore:
    """The gateway's opt-out list on a moto table shaped like the stack's."""
    create_idempotency_table(aws.dynamodb, PROTECTION_TABLE)
    optouts = OptOutStore(PROTECTION_TABLE, aws.dynamodb)
    monkeypatch.setattr(gateway, "optouts", optouts, raising=False)
    return optouts


def _log_text(logs: io.StringIO, caplog: pytest.LogCaptureFixture) -> str:
    ours = [
        record.getMessage()
        for record in caplog.records
        if record.name.split(".")[0] in {"sms_gateway", "aws_lambda_powertools"}
    ]
    return logs.getvalue() + "\n".join(ours)


def _assert_no_number_in(text: str, numbers: list[str]) -> None:
    nationals = {n.split(")")[-1] for n in numbers}
    leaked = sorted(n for n in nationals if re.search(rf"(?<!\d){n}(?!\d)", text))
    assert not leaked, f"{len(leaked)} opted-out numbers reached the logs"


def _call(
    context: LocalContext,
    method: str,
    path: str,
    body: Any = None,
    query: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], Any]:
    event = api_event(method, path, body)
    if query is not None:
        event["queryStringParameters"] = query
        event["multiValueQueryStringParameters"] = {k: [v] for k, v in query.items()}
    answer = lambda_handler(event, context)
    parsed = json.loads(answer["body"]) if answer.get("body") else None
    headers = {k.lower(): v for k, v in (answer.get("headers") or {}).items()}
    for name, values in (answer.get("multiValueHeaders") or {}).items():
        headers.setdefault(name.lower(), values[0])
    return answer["statusCode"], headers, parsed


def _add(context: LocalContext, *numbers: Any) -> tuple[int, Any]:
    status, _, body = _call(context, "POST", "/optouts", {"PhoneNumbers": list(numbers)})
    return status, body


# --- POST /optouts --------------------------------------------------------------------------


def test_post_normalises_every_form_to_one_entry(store: OptOutStore, context: LocalContext) -> None:
    status, body = _add(context, *FORMS, "+86 139 0013 9000")

    assert status == 200
    assert body == {"PhoneNumbers": [NUMBER, OTHER]}
    assert store.opted_out([NUMBER, OTHER, "(86)13700137000"]) == {NUMBER, OTHER}


def test_post_twice_changes_nothing(store: OptOutStore, context: LocalContext) -> None:
    assert _add(context, NUMBER)[0] == 200
    assert _add(context, "+8613800138000")[0] == 200

    assert store.page().numbers == (NUMBER,)


def test_a_bad_number_is_400_naming_its_index_and_nothing_is_written(
    store: OptOutStore, context: LocalContext, logs: io.StringIO
) -> None:
    status, body = _add(context, "+8613800138000", "12", "+86 138 0013 800x", 86)

    assert status == 400
    assert body["Error"]["Code"] == "InvalidMessage"
    fields = {f["Field"]: f["Rule"] for f in body["Error"]["Fields"]}
    assert fields == {
        "PhoneNumbers[1]": "phone_too_short",
        "PhoneNumbers[2]": "phone_bad_characters",
        "PhoneNumbers[3]": "phone_not_a_string",
    }
    assert store.page().numbers == ()
    assert "13800138000" not in json.dumps(body) + logs.getvalue()


@pytest.mark.parametrize(
    ("body", "field", "rule"),
    [
        ("not json", "$", "not_json"),
        (
            "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
            "$",
            "too_deep",
        ),
        (["+8613800138000"], "$", "not_an_object"),
        ({}, "PhoneNumbers", "required"),
        ({"PhoneNumbers": None}, "PhoneNumbers", "required"),
        ({"PhoneNumbers": "+8613800138000"}, "PhoneNumbers", "not_a_list"),
        ({"PhoneNumbers": []}, "PhoneNumbers", "too_few_items"),
        ({"PhoneNumbers": ["13800138000"] * 1001}, "PhoneNumbers", "too_many_items"),
        ({"PhoneNumbers": ["13800138000"], "Numbers": []}, "Numbers", "unknown_field"),
    ],
)
def test_a_bad_body_is_400_naming_the_rule(
    store: OptOutStore, context: LocalContext, body: Any, field: str, rule: str
) -> None:
    status, _, answer = _call(context, "POST", "/optouts", body)

    assert status == 400
    assert {(f["Field"], f["Rule"]) for f in answer["Error"]["Fields"]} == {(field, rule)}
    assert store.page().numbers == ()


def test_a_thousand_numbers_are_one_request(store: OptOutStore, context: LocalContext) -> None:
    numbers = [f"+861350013{i:04d}" for i in range(1000)]

    status, body = _add(context, *numbers)

    assert status == 200
    assert len(body["PhoneNumbers"]) == 1000
    assert len(store.opted_out(body["PhoneNumbers"])) == 1000


# --- GET and DELETE /optouts/{PhoneNumber} --------------------------------------------------


@pytest.mark.parametrize("form", PATH_FORMS)
def test_get_answers_200_for_every_form_of_an_opted_out_number(
    store: OptOutStore, context: LocalContext, form: str
) -> None:
    store.add([NUMBER], now=0)

    status, _, body = _call(context, "GET", f"/optouts/{form}")

    assert status == 200
    assert body == {"PhoneNumber": NUMBER, "OptedOut": True}


def test_get_answers_404_for_a_number_not_opted_out(
    store: OptOutStore, context: LocalContext
) -> None:
    store.add([NUMBER], now=0)

    status, _, body = _call(context, "GET", "/optouts/008613900139000")

    assert status == 404
    assert body["Error"]["Code"] == "NotOptedOut"


@pytest.mark.parametrize("method", ["GET", "DELETE"])
def test_a_path_that_is_no_number_is_400(
    store: OptOutStore, context: LocalContext, method: str
) -> None:
    status, _, body = _call(context, method, "/optouts/12")

    assert status == 400
    assert body["Error"]["Fields"] == [
        {
            "Field": "PhoneNumber",
            "Rule": "phone_too_short",
            "Message": body["Error"]["Fields"][0]["Message"],
        }
    ]


@pytest.mark.parametrize("form", PATH_FORMS)
def test_delete_removes_by_any_form_then_404(
    store: OptOutStore, context: LocalContext, form: str
) -> None:
    store.add([NUMBER, OTHER], now=0)

    first = _call(context, "DELETE", f"/optouts/{form}")
    again = _call(context, "DELETE", f"/optouts/{form}")

    assert (first[0], first[2]) == (200, {"PhoneNumber": NUMBER, "OptedOut": False})
    assert again[0] == 404
    assert again[2]["Error"]["Code"] == "NotOptedOut"
    assert store.page().numbers == (OTHER,)


# --- GET /optouts ---------------------------------------------------------------------------


def _all_pages(context: LocalContext, limit: int | None) -> list[list[str]]:
    pages: list[list[str]] = []
    query: dict[str, str] = {} if limit is None else {"limit": str(limit)}
    while True:
        status, _, body = _call(context, "GET", "/optouts", query=query)
        assert status == 200
        assert set(body) == {"PhoneNumbers", "Next"}
        pages.append(body["PhoneNumbers"])
        if body["Next"] is None:
            return pages
        assert len(pages) < 20, "the pages never end"
        query = {**query, "next": body["Next"]}


@pytest.mark.parametrize(("limit", "full_pages"), [(None, 2), (100, 2), (70, 3), (1000, 0)])
def test_the_list_pages_through_250_numbers(
    store: OptOutStore, context: LocalContext, limit: int | None, full_pages: int
) -> None:
    assert _add(context, *MANY)[0] == 200

    pages = _all_pages(context, limit)

    listed = [n for page in pages for n in page]
    assert sorted(listed) == sorted(MANY)  # each once
    size = limit or 100
    assert [len(p) for p in pages[:full_pages]] == [size] * full_pages
    assert all(len(p) <= size for p in pages)


def test_the_list_of_nothing_is_one_empty_page(store: OptOutStore, context: LocalContext) -> None:
    assert _all_pages(context, None) == [[]]


@pytest.mark.parametrize(
    ("query", "field", "rule"),
    [
        ({"limit": "0"}, "limit", "not_positive"),
        ({"limit": "1001"}, "limit", "too_large"),
        ({"limit": "ten"}, "limit", "not_an_integer"),
        ({"limit": "-5"}, "limit", "not_an_integer"),
        ({"next": "!!!!"}, "next", "invalid_token"),
        ({"next": "gA"}, "next", "invalid_token"),  # base64 of a byte that is not UTF-8
        ({"next": "A" * 3000}, "next", "invalid_token"),
    ],
)
def test_a_bad_list_request_is_400(
    store: OptOutStore, context: LocalContext, query: dict[str, str], field: str, rule: str
) -> None:
    status, _, body = _call(context, "GET", "/optouts", query=query)

    assert status == 400
    assert [(f["Field"], f["Rule"]) for f in body["Error"]["Fields"]] == [(field, rule)]


# --- the rest ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/optouts", {"PhoneNumbers": ["+8613800138000"]}),
        ("GET", "/optouts", None),
        ("GET", "/optouts/008613800138000", None),
        ("DELETE", "/optouts/008613800138000", None),
    ],
)
def test_without_a_protection_table_every_route_is_503_not_404(
    gateway: Gateway, context: LocalContext, method: str, path: str, body: Any
) -> None:
    # 404 would say "not opted out: text it"; a gateway that cannot read its list must not.
    status, headers, answer = _call(context, method, path, body)

    assert status == 503
    assert answer["Error"]["Code"] == "GatewayMisconfigured"
    assert "PROTECTION_TABLE" in answer["Error"]["Message"]
    assert int(headers["retry-after"]) > 0


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("PUT", "/optouts", "GET, POST"),
        ("DELETE", "/optouts", "GET, POST"),
        ("POST", "/optouts/008613800138000", "GET, DELETE"),
    ],
)
def test_other_methods_are_405(
    store: OptOutStore, context: LocalContext, method: str, path: str, allowed: str
) -> None:
    status, headers, _ = _call(context, method, path)

    assert status == 405
    assert headers["allow"] == allowed


def test_an_unusable_table_is_503(store: OptOutStore, context: LocalContext, aws: Aws) -> None:
    aws.dynamodb.delete_table(TableName=PROTECTION_TABLE)

    status, headers, body = _call(context, "GET", "/optouts/008613800138000")

    assert status == 503
    assert body["Error"]["Code"] == "GatewayMisconfigured"
    assert "retry-after" in headers


def test_no_opted_out_number_reaches_any_log(
    store: OptOutStore,
    context: LocalContext,
    logs: io.StringIO,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    numbers = [NUMBER, OTHER, *MANY[:5]]
    _add(context, *numbers)
    _add(context, "+8613800138000", "12")
    _all_pages(context, 2)
    for form in PATH_FORMS:
        _call(context, "GET", f"/optouts/{form}")
    _call(context, "DELETE", "/optouts/008613800138000")
    _call(context, "DELETE", "/optouts/008613800138000")
    _call(context, "POST", "/optouts/008613900139000")  # a 405

    text = _log_text(logs, caplog)
    # The check would see them: the resolver did log at DEBUG, and the gateway counted.
    assert "aws_lambda_powertools" in {r.name.split(".")[0] for r in caplog.records}
    assert '"count": 7' in logs.getvalue() or '"count":7' in logs.getvalue()
    _assert_no_number_in(text, numbers)


def test_the_openapi_document_describes_the_routes(gateway: Gateway, context: LocalContext) -> None:
    status, _, document = _call(context, "GET", "/openapi.json")

    assert status == 200
    listing, adding = document["paths"]["/optouts"]["get"], document["paths"]["/optouts"]["post"]
    one = document["paths"]["/optouts/{PhoneNumber}"]
    assert set(adding["responses"]) == {"200", "400", "503"}
    assert set(listing["responses"]) == {"200", "400", "503"}
    for method in ("get", "delete"):
        assert set(one[method]["responses"]) == {"200", "400", "404", "503"}
    assert "Retry-After" in listing["responses"]["503"]["headers"]
    schema = adding["requestBody"]["content"]["application/json"]["schema"]
    jsonschema.Draft4Validator.check_schema(schema)
    jsonschema.validate({"PhoneNumbers": list(FORMS)}, schema)
    bad_bodies: list[dict[str, Any]] = [
        {"PhoneNumbers": []},
        {"PhoneNumbers": ["+86138x"]},
        {"PhoneNumbers": ["1"] * 1001},
        {"PhoneNumbers": ["1"], "Other": 1},
        {},
    ]
    for bad in bad_bodies:
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, schema)
