"""The REST API: every status the contract names, receipts, and no 500 for a wrong route."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest

from local_gateway.context import LocalContext
from sms_gateway.errors import (
    ExpiredError,
    FailedNumber,
    GatewayError,
    PolicyRefusedError,
    PolicyUnavailableError,
)
from sms_gateway.gateway import Gateway
from sms_gateway.handler import lambda_handler
from sms_gateway.rest_api import DEFAULT_RETRY_AFTER_S, error_body, status_for
from tests.harness import api_event, load_event, message
from uspeedo_sandbox import Fault, Sandbox


def _call(context: LocalContext, **kwargs: Any) -> tuple[int, dict[str, str], Any]:
    answer = lambda_handler(api_event(**kwargs), context)
    body = json.loads(answer["body"]) if answer.get("body") else None
    headers = {k.lower(): v for k, v in (answer.get("headers") or {}).items()}
    for name, values in (answer.get("multiValueHeaders") or {}).items():
        headers.setdefault(name.lower(), values[0])
    return answer["statusCode"], headers, body


def test_post_sends_and_answers_200(
    gateway: Gateway, sandbox: Sandbox, context: LocalContext
) -> None:
    status, _, body = _call(context, body=message("+8613800138000"))

    assert status == 200
    assert body["SessionNos"] == [sandbox.accepted[0].session_no]


def test_invalid_message_is_400_naming_each_field(
    gateway: Gateway, sandbox: Sandbox, context: LocalContext
) -> None:
    bad = {"PhoneNumbers": ["+8613800138000", "12"], "TemplateId": "", "Sender": "x"}

    status, _, body = _call(context, body=bad)

    assert status == 400
    assert body["Error"]["Code"] == "InvalidMessage"
    rules = {f["Field"]: f["Rule"] for f in body["Error"]["Fields"]}
    assert set(rules) == {"PhoneNumbers[1]", "TemplateId", "Sender"}
    assert rules["PhoneNumbers[1]"].startswith("phone_")
    assert rules["Sender"] == "unknown_field"
    assert sandbox.requests == []


def test_body_that_is_not_json_is_400(gateway: Gateway, context: LocalContext) -> None:
    status, _, body = _call(context, body="PhoneNumbers=1")

    assert status == 400
    assert body["Error"]["Fields"][0]["Field"] == "$"


def test_idempotency_header_replays_and_409_on_reuse(
    gateway: Gateway, sandbox: Sandbox, context: LocalContext
) -> None:
    headers = {"Idempotency-Key": "signup-9"}
    first = _call(context, body=message("+8613800138000"), headers=headers)
    again = _call(context, body=message("+8613800138000"), headers=headers)
    other = _call(context, body=message("+8613800138001"), headers=headers)

    assert first[0] == again[0] == 200
    assert again[2]["IdempotentReplay"] is True
    assert other[0] == 409
    assert other[2]["Error"]["Code"] == "IdempotencyKeyReused"
    assert len(sandbox.accepted) == 1


def test_idempotency_header_over_128_characters_is_400(
    gateway: Gateway, context: LocalContext
) -> None:
    status, _, body = _call(context, body=message(), headers={"Idempotency-Key": "k" * 129})

    assert status == 400
    assert body["Error"]["Fields"][0]["Field"] == "IdempotencyKey"


def test_provider_refusal_is_422_with_the_retcode(
    gateway: Gateway, sandbox: Sandbox, context: LocalContext
) -> None:
    sandbox.set_fault(Fault(kind="retcode", ret_code=18023))

    status, _, body = _call(context, body=message())

    assert status == 422
    assert body["Error"] == {
        "Code": "ProviderRejected",
        "Message": body["Error"]["Message"],
        "RetCode": 18023,
    }


@pytest.mark.parametrize(
    ("fault", "status", "code"),
    [
        (Fault(kind="status", status=503, retry_after=12), 503, "ProviderUnavailable"),
        (Fault(kind="status", status=429), 503, "ProviderUnavailable"),
        (Fault(kind="retcode", ret_code=215400), 503, "ProviderUnavailable"),
        (Fault(kind="retcode", ret_code=161), 503, "ProviderActionUnknown"),
        (Fault(kind="drop"), 502, "ProviderOutcomeUnknown"),
    ],
)
def test_transient_and_unknown_outcomes_are_502_503_with_retry_after(
    gateway: Gateway,
    sandbox: Sandbox,
    context: LocalContext,
    fault: Fault,
    status: int,
    code: str,
) -> None:
    sandbox.set_fault(fault)

    got, headers, body = _call(context, body=message())

    assert got == status
    assert body["Error"]["Code"] == code
    expected = str(fault.retry_after) if fault.retry_after else None
    assert int(headers["retry-after"]) > 0
    if expected:
        assert headers["retry-after"] == expected


def test_receipts_for_comma_separated_session_nos(
    gateway: Gateway, sandbox: Sandbox, context: LocalContext
) -> None:
    first = _call(context, body=message("+8613800138000"))[2]["SessionNos"][0]
    second = _call(context, body=message("+8613800138001", "+8613800138002"))[2]["SessionNos"][0]

    status, _, body = _call(context, method="GET", path=f"/messages/{first},{second},nope")

    assert status == 200
    by_id = {s["SessionNo"]: s for s in body["Sessions"]}
    assert set(by_id) == {first, second}
    assert len(by_id[second]["ReceiptSet"]) == 2
    assert by_id[first]["ReceiptSet"][0]["ReceiptResult"] == "Success"


def test_more_than_100_session_nos_is_400(gateway: Gateway, context: LocalContext) -> None:
    wanted = ",".join(f"s{i}" for i in range(101))

    status, _, body = _call(context, method="GET", path=f"/messages/{wanted}")

    assert status == 400
    assert body["Error"]["Fields"][0]["Field"] == "SessionNo"


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/nowhere", 404),
        ("POST", "/messages/abc/extra", 404),
        ("GET", "/messages", 405),
        ("DELETE", "/messages/abc", 405),
        ("PUT", "/messages", 405),
    ],
)
def test_unknown_routes_and_methods_are_404_405_never_500(
    gateway: Gateway, context: LocalContext, method: str, path: str, status: int
) -> None:
    got, headers, body = _call(context, method=method, path=path, body=None)

    assert got == status
    assert body["Error"]["Code"] in {"NotFound", "MethodNotAllowed"}
    if status == 405:
        assert headers["allow"]


def test_openapi_description_is_served_and_its_schema_judges_messages(
    gateway: Gateway, context: LocalContext
) -> None:
    status, _, document = _call(context, method="GET", path="/openapi.json", body=None)

    assert status == 200
    assert document["openapi"].startswith("3.")
    post = document["paths"]["/messages"]["post"]
    assert set(post["responses"]) == {"200", "400", "409", "422", "429", "502", "503"}
    schema = post["requestBody"]["content"]["application/json"]["schema"]
    jsonschema.validate(message(), schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"PhoneNumbers": []}, schema)


# --- protection: the policy's refusals, expiry, no usable policy ---------------------------

_REFUSED = (
    FailedNumber("(86)13800138000", "rate_limited"),
    FailedNumber("(86)13900139000", "cap_reached"),
)


@pytest.mark.parametrize(
    ("error", "status", "retry_after"),
    [
        (PolicyRefusedError(_REFUSED, retry_after=12.2), 429, "13"),
        (PolicyRefusedError(_REFUSED, retry_after=0.25), 429, "1"),
        (PolicyRefusedError(_REFUSED, retry_after=0.0), 429, "1"),
        (PolicyRefusedError([FailedNumber("(86)13800138000", "opted_out")]), 422, None),
        (ExpiredError("the message is 3700 s old; it may be at most 3600 s"), 422, None),
        (PolicyUnavailableError("no usable traffic policy"), 503, str(DEFAULT_RETRY_AFTER_S)),
    ],
)
def test_protection_errors_map_to_their_status_and_retry_after(
    gateway: Gateway,
    sandbox: Sandbox,
    context: LocalContext,
    monkeypatch: pytest.MonkeyPatch,
    error: GatewayError,
    status: int,
    retry_after: str | None,
) -> None:
    def refuse(*_args: Any, **_kwargs: Any) -> Any:
        raise error

    monkeypatch.setattr(gateway.sender, "send", refuse)

    got, headers, body = _call(context, body=message("+8613800138000", "+8613900139000"))

    assert got == status_for(error) == status
    assert headers.get("retry-after") == retry_after
    assert body["Error"]["Code"] == error.code
    assert sandbox.requests == []


def test_a_policy_refusal_lists_each_number_and_reason_like_the_providers() -> None:
    limited = PolicyRefusedError(_REFUSED, retry_after=30)
    opted_out = PolicyRefusedError([FailedNumber("(86)13800138000", "opted_out")])

    assert error_body(limited)["Error"]["Failed"] == [
        {"PhoneNumber": "(86)13800138000", "Reason": "rate_limited"},
        {"PhoneNumber": "(86)13900139000", "Reason": "cap_reached"},
    ]
    assert error_body(opted_out)["Error"] == {
        "Code": "PolicyRefused",
        "Message": str(opted_out),
        "Failed": [{"PhoneNumber": "(86)13800138000", "Reason": "opted_out"}],
    }
    # The text (logged, the dead-letter reason) masks them.
    assert "13800138000" not in str(limited)
    assert "Failed" not in error_body(ExpiredError("too old"))["Error"]


# --- malformed REST events: answered 400 (or judged as usual), never 500, never raised -----

_REST_KEYS = sorted(load_event("apiGatewayProxyEvent"))
_CONTEXT_KEYS = sorted(load_event("apiGatewayProxyEvent")["requestContext"])
# Parts without which an event is no request at all: refused before the resolver reads them.
_REQUIRED_PARTS = {"requestContext", "httpMethod", "path"}
# A message that breaks a rule: whatever else is wrong, every answer is an error, and
# nothing is ever sent.
_BAD_MESSAGE = {"PhoneNumbers": ["+8613800138000"], "TemplateId": ""}


def _answer(context: LocalContext, event: dict[str, Any]) -> tuple[int, Any]:
    answer = lambda_handler(event, context)
    return int(answer["statusCode"]), json.loads(answer["body"])


@pytest.mark.parametrize("change", ["null", "removed"])
@pytest.mark.parametrize("key", _REST_KEYS)
def test_a_rest_event_missing_a_part_answers_an_error_never_500(
    gateway: Gateway, sandbox: Sandbox, context: LocalContext, key: str, change: str
) -> None:
    event = api_event(body=_BAD_MESSAGE)
    if change == "null":
        event[key] = None
    else:
        del event[key]

    status, body = _answer(context, event)

    assert status == 400
    expected = "InvalidRequest" if key in _REQUIRED_PARTS else "InvalidMessage"
    assert body["Error"]["Code"] == expected
    if expected == "InvalidRequest":
        assert key in body["Error"]["Message"]
    assert sandbox.requests == []


@pytest.mark.parametrize("change", ["null", "removed"])
@pytest.mark.parametrize("key", _CONTEXT_KEYS)
def test_a_rest_event_missing_a_request_context_part_is_judged_as_usual(
    gateway: Gateway, sandbox: Sandbox, context: LocalContext, key: str, change: str
) -> None:
    event = api_event(body=_BAD_MESSAGE)
    if change == "null":
        event["requestContext"][key] = None
    else:
        del event["requestContext"][key]

    status, body = _answer(context, event)

    assert status == 400
    assert body["Error"]["Code"] == "InvalidMessage"
    assert sandbox.requests == []


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("requestContext", "not an object"),
        ("requestContext", []),
        ("httpMethod", 5),
        ("path", ["/messages"]),
        ("body", message()),  # a message as an object, not as the body's text
        ("body", 5),
        ("isBase64Encoded", "yes"),
        ("isBase64Encoded", 1),
        ("headers", "Idempotency-Key: k"),
        ("headers", {"Idempotency-Key": 5}),
        ("headers", {"Idempotency-Key": None}),
        ("multiValueHeaders", {"Idempotency-Key": "k"}),
        ("multiValueHeaders", {"Idempotency-Key": [5]}),
        ("queryStringParameters", "a=1"),
        ("pathParameters", []),
        ("resource", 5),
    ],
)
def test_a_rest_event_with_a_part_of_the_wrong_type_answers_400(
    gateway: Gateway, sandbox: Sandbox, context: LocalContext, key: str, value: Any
) -> None:
    event = api_event(body=message())
    event[key] = value

    status, body = _answer(context, event)

    assert status == 400
    assert body["Error"]["Code"] == "InvalidRequest"
    assert body["Error"]["Message"].startswith(f"malformed request: {key} ")
    assert sandbox.requests == []


def test_a_console_test_event_without_headers_is_sent(
    gateway: Gateway, sandbox: Sandbox, context: LocalContext
) -> None:
    # API Gateway's console test sends `headers` and `multiValueHeaders` as null.
    event = api_event(body=message())
    event["headers"] = event["multiValueHeaders"] = None

    status, body = _answer(context, event)

    assert status == 200
    assert body["SessionNos"] == [sandbox.accepted[0].session_no]
