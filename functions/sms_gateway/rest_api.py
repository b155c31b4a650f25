"""The REST API (API Gateway proxy events), on Powertools' resolver.

Every error leaves as `{"Error": {"Code", "Message", "Fields"?, "RetCode"?}}` with a status
chosen in one place (`status_for`); unknown routes get 404 and known routes with another
method 405; an event too broken to be a request (`malformed_request`) 400 — never 500. The
API's OpenAPI description is the `openapi` module's; the opt-out list's routes answer what
`optout_routes` decides.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Callable, Mapping
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, Final

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types

from sms_gateway import optout_routes
from sms_gateway.contract import IDEMPOTENCY_KEY_HEADER
from sms_gateway.errors import (
    ExpiredError,
    FieldError,
    GatewayError,
    IdempotencyKeyReusedError,
    MessageValidationError,
    NumbersRefusedError,
    PermanentError,
    PolicyRefusedError,
    PolicyUnavailableError,
    UnknownOutcomeError,
    UspeedoError,
)
from sms_gateway.gateway import Gateway
from sms_gateway.openapi import MESSAGES_PATH, OPENAPI_PATH, OPTOUTS_PATH, openapi_document
from sms_gateway.provider_answers import SessionReceipts
from sms_gateway.telemetry import logger
from sms_gateway.uspeedo_client import MAX_SESSIONS_PER_RECEIPT_CALL
from sms_gateway.validation_errors import ROOT

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

# API Gateway's integration timeout for REST APIs.
API_GATEWAY_TIMEOUT_S: Final = 29
# Seconds a client should wait before trying again after a 502/503.
DEFAULT_RETRY_AFTER_S: Final = 30
# Known routes and their methods, to tell a wrong method (405) from a wrong path (404).
_ROUTES: Final = (
    (re.compile(r"^/messages/?$"), ("POST",)),
    (re.compile(r"^/messages/[^/]+/?$"), ("GET",)),
    (re.compile(r"^/openapi\.json$"), ("GET",)),
    (re.compile(r"^/optouts/?$"), ("GET", "POST")),
    (re.compile(r"^/optouts/[^/]+/?$"), ("GET", "DELETE")),
)


def status_for(error: GatewayError) -> int:
    """The HTTP status of each failure, in one place."""
    if isinstance(error, MessageValidationError):
        return HTTPStatus.BAD_REQUEST
    if isinstance(error, IdempotencyKeyReusedError):
        return HTTPStatus.CONFLICT
    if isinstance(error, PolicyRefusedError):
        # Every refusal a limit: the same message may go once the window ends.
        limited = error.retry_after is not None
        return HTTPStatus.TOO_MANY_REQUESTS if limited else HTTPStatus.UNPROCESSABLE_ENTITY
    if isinstance(error, ExpiredError):  # too old to send: never will be, as it stands
        return HTTPStatus.UNPROCESSABLE_ENTITY
    if isinstance(error, PermanentError):
        return HTTPStatus.UNPROCESSABLE_ENTITY
    if isinstance(error, UnknownOutcomeError):
        return HTTPStatus.BAD_GATEWAY
    if isinstance(error, PolicyUnavailableError) or error.retryable:
        return HTTPStatus.SERVICE_UNAVAILABLE
    return HTTPStatus.INTERNAL_SERVER_ERROR


def error_body(error: GatewayError) -> dict[str, Any]:
    """`{"Error": {...}}` for an API answer or a direct invoke's caller."""
    detail: dict[str, Any] = {"Code": error.code, "Message": str(error)}
    if isinstance(error, MessageValidationError):
        detail["Message"] = "the message breaks the rules listed in Fields"
        detail["Fields"] = [e.as_dict() for e in error.errors]
    if isinstance(error, UspeedoError) and error.ret_code is not None:
        detail["RetCode"] = error.ret_code
    if isinstance(error, NumbersRefusedError | PolicyRefusedError):
        # The caller sent these numbers and needs to know which ones; never logged.
        detail["Failed"] = [f.as_dict() for f in error.failed]
    return {"Error": detail}


# Parts of a REST proxy event that may be null or absent but otherwise have one type.
_OPTIONAL_SCALARS: Final = (
    ("resource", str, "a string"),
    ("body", str, "a string"),
    ("isBase64Encoded", bool, "true, false"),
)
_OPTIONAL_OBJECTS: Final = (
    "headers",
    "multiValueHeaders",
    "queryStringParameters",
    "multiValueQueryStringParameters",
    "pathParameters",
    "stageVariables",
)


def malformed_request(event: Mapping[str, Any]) -> str | None:
    """What makes a REST proxy event unusable as a request, or None when nothing does.

    API Gateway never sends such an event; a hand-made invocation can, and Powertools'
    resolver then fails with a bare Python error (null or missing `requestContext`, `path`
    or `httpMethod`; a header that is not a string) or quietly takes a non-string body for
    the message. What API Gateway itself may send null (`headers` and `multiValueHeaders`
    from the console's test, `body`, query and path parameters) passes.
    """
    if not isinstance(event.get("requestContext"), dict):
        return "requestContext is missing or not an object"
    for name in ("httpMethod", "path"):
        if not isinstance(event.get(name), str):
            return f"{name} is missing or not a string"
    for name, allowed, what in _OPTIONAL_SCALARS:
        value = event.get(name)
        if value is not None and not isinstance(value, allowed):
            return f"{name} must be {what} or null"
    for name in _OPTIONAL_OBJECTS:
        value = event.get(name)
        if value is not None and not isinstance(value, dict):
            return f"{name} must be an object or null"
    if any(not isinstance(v, str) for v in (event.get("headers") or {}).values()):
        return "headers must map each name to a string"
    for values in (event.get("multiValueHeaders") or {}).values():
        if not isinstance(values, list) or any(not isinstance(v, str) for v in values):
            return "multiValueHeaders must map each name to a list of strings"
    return None


class _RestResolver(APIGatewayRestResolver):
    """Powertools' resolver behind one guard: a malformed event answers 400 before the
    resolver reads it (it reads `httpMethod` and `path` before any exception handler runs)."""

    def resolve(self, event: Mapping[str, Any], context: LambdaContext) -> dict[str, Any]:
        problem = malformed_request(event)
        if problem is None:
            return super().resolve(event, context)
        logger.warning("malformed API Gateway event", extra={"problem": problem})
        body = {"Error": {"Code": "InvalidRequest", "Message": f"malformed request: {problem}"}}
        return {
            "statusCode": int(HTTPStatus.BAD_REQUEST),
            "multiValueHeaders": {"Content-Type": [content_types.APPLICATION_JSON]},
            "body": json.dumps(body),
            "isBase64Encoded": False,
        }


def build_api(gateway: Callable[[], Gateway]) -> APIGatewayRestResolver:
    """The resolver; `gateway` is called per request so the container builds it once."""
    app = _RestResolver()

    @app.post(MESSAGES_PATH)
    def send_message() -> Response[Any]:
        event = app.current_event
        key = event.headers.get(IDEMPOTENCY_KEY_HEADER) or _header(
            event.headers, IDEMPOTENCY_KEY_HEADER
        )
        outcome = gateway().accept(
            _body_text(event),
            key=key,
            remaining_ms=_api_deadline(app.lambda_context.get_remaining_time_in_millis),
            entered_at=_request_time(event),
        )
        return _json(HTTPStatus.OK, outcome.as_result())

    @app.get(f"{MESSAGES_PATH}/<session_nos>")
    def get_receipts(session_nos: str) -> Response[Any]:
        sessions = gateway().receipts(_wanted_sessions(session_nos))
        return _json(HTTPStatus.OK, {"Sessions": [_session(s) for s in sessions]})

    @app.get(OPENAPI_PATH)
    def openapi() -> Response[Any]:
        return _json(HTTPStatus.OK, openapi_document())

    _add_optout_routes(app, gateway)
    # Registered by call, not as decorators: Powertools' exception_handler is untyped.
    app.exception_handler(GatewayError)(_gateway_error)
    app.exception_handler(Exception)(_unexpected)

    @app.not_found
    def not_found(_error: Exception) -> Response[Any]:
        return _no_route(app.current_event.path, app.current_event.http_method.upper())

    return app


def _add_optout_routes(app: APIGatewayRestResolver, gateway: Callable[[], Gateway]) -> None:
    """`/optouts` and `/optouts/{PhoneNumber}`: `optout_routes` decides each answer."""

    @app.post(OPTOUTS_PATH)
    def add_optouts() -> Response[Any]:
        return _json(*optout_routes.add(gateway(), _body_text(app.current_event)))

    @app.get(OPTOUTS_PATH)
    def list_optouts() -> Response[Any]:
        query = app.current_event.query_string_parameters
        return _json(*optout_routes.listing(gateway(), query))

    @app.get(optout_routes.NUMBER_ROUTE)
    def check_optout() -> Response[Any]:
        return _json(*optout_routes.check(gateway(), app.current_event.path))

    @app.delete(optout_routes.NUMBER_ROUTE)
    def remove_optout() -> Response[Any]:
        return _json(*optout_routes.remove(gateway(), app.current_event.path))

    # Answered here rather than by `not_found`: the resolver logs an unmatched path (here
    # a number) at DEBUG.
    @app.route(optout_routes.NUMBER_ROUTE, method=["POST", "PUT", "PATCH", "HEAD", "OPTIONS"])
    def number_wrong_method() -> Response[Any]:
        return _no_route(app.current_event.path, app.current_event.http_method.upper())


def _wanted_sessions(session_nos: str) -> list[str]:
    """The comma-separated SessionNos of a receipts request, each once, in order; 1 to 100
    of them or the request is invalid (400)."""
    wanted = list(dict.fromkeys(s.strip() for s in session_nos.split(",") if s.strip()))
    if not 1 <= len(wanted) <= MAX_SESSIONS_PER_RECEIPT_CALL:
        raise MessageValidationError(
            [
                FieldError(
                    "SessionNo",
                    "too_many_items" if wanted else "required",
                    f"give 1 to {MAX_SESSIONS_PER_RECEIPT_CALL} SessionNos, comma-separated",
                )
            ]
        )
    return wanted


def _gateway_error(error: GatewayError) -> Response[Any]:
    """A gateway error's answer: its status, its body, and Retry-After on a 429, 502 or
    503 (a 429's: the seconds until the earliest refusing window ends, rounded up)."""
    status = status_for(error)
    headers = {}
    if status == HTTPStatus.TOO_MANY_REQUESTS:
        retry_after = getattr(error, "retry_after", None) or 0
        headers["Retry-After"] = str(max(1, math.ceil(retry_after)))
    elif status in (HTTPStatus.BAD_GATEWAY, HTTPStatus.SERVICE_UNAVAILABLE):
        retry_after = getattr(error, "retry_after", None) or DEFAULT_RETRY_AFTER_S
        headers["Retry-After"] = str(int(retry_after))
    return _json(status, error_body(error), headers)


def _unexpected(error: Exception) -> Response[Any]:
    """Any other exception: logged with its traceback, answered 500 without detail."""
    logger.exception("unexpected error answering an API request")
    body = {"Error": {"Code": "InternalError", "Message": "unexpected error; see the logs"}}
    return _json(HTTPStatus.INTERNAL_SERVER_ERROR, body)


def _no_route(path: str, method: str) -> Response[Any]:
    """405 (with Allow) for a known path and another method; else 404."""
    for pattern, methods in _ROUTES:
        if pattern.match(path) and method not in methods:
            return _json(
                HTTPStatus.METHOD_NOT_ALLOWED,
                {
                    "Error": {
                        "Code": "MethodNotAllowed",
                        "Message": f"{method} {path} is not allowed",
                    }
                },
                {"Allow": ", ".join(methods)},
            )
    return _json(
        HTTPStatus.NOT_FOUND, {"Error": {"Code": "NotFound", "Message": f"no route {path}"}}
    )


def _request_time(event: Any) -> float | None:
    """When API Gateway took the request (`requestContext.requestTimeEpoch`, ms), in s."""
    epoch_ms = event.request_context.get("requestTimeEpoch")
    is_number = isinstance(epoch_ms, int | float) and not isinstance(epoch_ms, bool)
    return epoch_ms / 1000 if is_number else None


def _api_deadline(lambda_remaining_ms: Callable[[], int]) -> Callable[[], int]:
    """The time left for this request: API Gateway gives up after 29 s even though the
    function may run longer, and a call started after that would send an SMS whose
    caller already got a 504 — and would retry it."""
    deadline = time.monotonic() + API_GATEWAY_TIMEOUT_S

    def remaining_ms() -> int:
        api_left = int((deadline - time.monotonic()) * 1000)
        return min(lambda_remaining_ms(), api_left)

    return remaining_ms


def _body_text(event: Any) -> str:
    """The request body as text. A body marked base64 that is not base64 of UTF-8 text is
    the client's error (400), not ours (500). (Found by tests/reliability/test_fuzz.)"""
    try:
        body: str | None = event.decoded_body
    except ValueError:  # binascii's, UnicodeDecodeError, a lone surrogate's UnicodeEncodeError
        raise MessageValidationError(
            [FieldError(ROOT, "not_base64", "is marked base64-encoded but is not base64 of UTF-8")]
        ) from None
    return body or ""


def _header(headers: dict[str, str], name: str) -> str | None:
    lowered = name.lower()
    return next((v for k, v in headers.items() if k.lower() == lowered and v), None)


def _session(session: SessionReceipts) -> dict[str, Any]:
    return {
        "SessionNo": session.session_no,
        "ReceiptSet": [
            {
                "Phone": r.phone,
                "CountryCode": r.country_code,
                "ReceiptResult": r.result,
                "ReceiptCode": r.code,
                "ReceiptDesc": r.description,
                "ReceiptTime": r.time,
                "CostCount": r.cost_count,
                "UserId": r.user_id,
            }
            for r in session.receipts
        ],
    }


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> Response[Any]:
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body=body,
        headers=headers or {},
    )
