"""The opt-out list's REST routes: what each answers, without the resolver.

    POST   /optouts                 {"PhoneNumbers": [1..1000]} → 200 {"PhoneNumbers": [...]}
    GET    /optouts?limit=&next=    → 200 {"PhoneNumbers": [...], "Next": token | null}
    GET    /optouts/{PhoneNumber}   → 200 {"PhoneNumber", "OptedOut": true} | 404
    DELETE /optouts/{PhoneNumber}   → 200 {"PhoneNumber", "OptedOut": false} | 404

`rest_api` registers them and turns what they return into answers; every error is a
`GatewayError` it maps in `status_for`. Numbers are normalised like a message's, so every
accepted form of a number is one entry, and a bad one is a 400 naming `PhoneNumbers[i]`
(or `PhoneNumber`) and the rule — nothing is written then. `DELETE` answers 200 with the
normalised number rather than 204, so the caller sees which entry a form it typed removed.

No opt-out store (`PROTECTION_TABLE` unset) answers 503 `GatewayMisconfigured`, not 404:
a 404 from `GET /optouts/{PhoneNumber}` means "not opted out, you may text it", and a
gateway that cannot read its list must never say that.

Never logged: the numbers (only how many). The list's pages are the one place numbers
leave the gateway, to the API key's holder: that is the list's purpose.
"""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import Mapping
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import unquote

from sms_gateway.contract import NOT_OPTED_OUT
from sms_gateway.errors import ConfigurationError, FieldError, MessageValidationError
from sms_gateway.json_input import UnreadableJsonError, load_json
from sms_gateway.openapi import (
    DEFAULT_OPTOUTS_PAGE,
    MAX_OPTOUTS_PAGE,
    MAX_OPTOUTS_PER_REQUEST,
    OPTOUTS_PATH,
    PHONE_NUMBER_PARAMETER,
)
from sms_gateway.phone import PhoneNumberError, normalize_phone
from sms_gateway.telemetry import logger
from sms_gateway.validation_errors import ROOT, unreadable_body_error

if TYPE_CHECKING:
    from sms_gateway.gateway import Gateway
    from sms_gateway.optouts import OptOutStore

# The route of one number, as a pattern without a named group: Powertools logs a route's
# named groups at DEBUG ("Calling API Route Handler: {…}"), and this one is a number.
NUMBER_ROUTE: Final = rf"{OPTOUTS_PATH}/[^/]+"
# A 404's code: the number is not on the list (a missing route says `NotFound`).
PHONE_NUMBERS: Final = "PhoneNumbers"
# A page token is base64url of a table key (at most 2,048 bytes, DynamoDB's own limit).
_MAX_TOKEN_LENGTH: Final = 2800

Answer = tuple[HTTPStatus, dict[str, Any]]


def add(gateway: Gateway, body: str) -> Answer:
    """`POST /optouts`: normalise every number, then add them all (or none, on a 400)."""
    store = _store(gateway)
    numbers = _numbers_to_add(body, gateway.settings.default_country_code)
    store.add(numbers, now=time.time())
    logger.info("numbers opted out", extra={"count": len(numbers)})
    return HTTPStatus.OK, {PHONE_NUMBERS: numbers}


def listing(gateway: Gateway, query: Mapping[str, str] | None) -> Answer:
    """`GET /optouts?limit=&next=`: one page and the token of the next (null on the last)."""
    store = _store(gateway)
    limit, token = _page_request(query or {})
    page = store.page(token, limit)
    return HTTPStatus.OK, {
        PHONE_NUMBERS: list(page.numbers),
        "Next": _encode_token(page.next_token) if page.next_token is not None else None,
    }


def check(gateway: Gateway, path: str) -> Answer:
    """`GET /optouts/{PhoneNumber}`: 200 when opted out, else 404."""
    store = _store(gateway)
    number = _path_number(path, gateway.settings.default_country_code)
    if not store.contains(number):
        return _not_opted_out()
    return HTTPStatus.OK, {PHONE_NUMBER_PARAMETER: number, "OptedOut": True}


def remove(gateway: Gateway, path: str) -> Answer:
    """`DELETE /optouts/{PhoneNumber}`: opt it back in; 404 when it was not opted out."""
    store = _store(gateway)
    number = _path_number(path, gateway.settings.default_country_code)
    if not store.remove(number):
        return _not_opted_out()
    logger.info("number opted back in")
    return HTTPStatus.OK, {PHONE_NUMBER_PARAMETER: number, "OptedOut": False}


def _store(gateway: Gateway) -> OptOutStore:
    """The gateway's opt-out list, or 503: without its table there is no answer to give."""
    store = gateway.optouts
    if store is None:
        raise ConfigurationError(
            "the opt-out list is not configured: the function has no PROTECTION_TABLE"
        )
    return store


def _not_opted_out() -> Answer:
    return HTTPStatus.NOT_FOUND, {
        "Error": {"Code": NOT_OPTED_OUT, "Message": "the number is not opted out"}
    }


def _numbers_to_add(body: str, default_country_code: str) -> list[str]:
    """The body's numbers, normalised, each once in the order given; a
    `MessageValidationError` naming every broken rule otherwise."""
    try:
        document = load_json(body)
    except UnreadableJsonError as exc:
        raise MessageValidationError([unreadable_body_error(exc)]) from None
    if not isinstance(document, dict):
        raise _invalid(ROOT, "not_an_object", "the body must be a JSON object")
    unknown = [name for name in document if name != PHONE_NUMBERS]
    errors = [
        FieldError(str(name), "unknown_field", f"is not a field; the only one is {PHONE_NUMBERS}")
        for name in unknown
    ]
    raw: Any = document.get(PHONE_NUMBERS)
    errors += _list_errors(raw)
    if errors:
        raise MessageValidationError(errors)
    normalised: list[str] = []
    for index, item in enumerate(raw):
        try:
            normalised.append(normalize_phone(item, default_country_code))
        except PhoneNumberError as exc:
            errors.append(FieldError(f"{PHONE_NUMBERS}[{index}]", exc.rule, exc.message))
    if errors:
        raise MessageValidationError(errors)
    return list(dict.fromkeys(normalised))


def _list_errors(raw: Any) -> list[FieldError]:
    """What is wrong with `PhoneNumbers` as a whole: null or absent, not a list, its size."""
    if raw is None:
        return [FieldError(PHONE_NUMBERS, "required", "is required and must not be null")]
    if not isinstance(raw, list):
        return [FieldError(PHONE_NUMBERS, "not_a_list", "must be a list")]
    if not raw:
        return [FieldError(PHONE_NUMBERS, "too_few_items", "must have at least 1 item")]
    if len(raw) > MAX_OPTOUTS_PER_REQUEST:
        return [
            FieldError(
                PHONE_NUMBERS,
                "too_many_items",
                f"must have at most {MAX_OPTOUTS_PER_REQUEST:,} items",
            )
        ]
    return []


def _path_number(path: str, default_country_code: str) -> str:
    """The normalised number of `/optouts/{PhoneNumber}` (URL-decoded: `%2B86…` is `+86…`;
    decoding a path API Gateway decoded already changes nothing a number may hold)."""
    raw = unquote(path.rstrip("/").rsplit("/", 1)[-1])
    try:
        return normalize_phone(raw, default_country_code)
    except PhoneNumberError as exc:
        raise _invalid(PHONE_NUMBER_PARAMETER, exc.rule, exc.message) from None


def _page_request(query: Mapping[str, str]) -> tuple[int, str | None]:
    """`limit` (1 to 1,000, default 100) and the decoded `next` token of a list request."""
    limit_text = query.get("limit")
    limit = DEFAULT_OPTOUTS_PAGE
    if limit_text is not None:
        if not limit_text.strip().isdigit():
            raise _invalid("limit", "not_an_integer", "must be a whole number")
        limit = int(limit_text)
        if limit < 1:
            raise _invalid("limit", "not_positive", "must be 1 or more")
        if limit > MAX_OPTOUTS_PAGE:
            raise _invalid("limit", "too_large", f"must be at most {MAX_OPTOUTS_PAGE:,}")
    token = query.get("next")
    return limit, _decode_token(token) if token else None


def _encode_token(key: str) -> str:
    """The store's position as an opaque, URL-safe token."""
    return base64.urlsafe_b64encode(key.encode()).decode().rstrip("=")


def _decode_token(token: str) -> str:
    """The store's position in a token `_encode_token` made; 400 for anything else."""
    try:
        if len(token) > _MAX_TOKEN_LENGTH:
            raise ValueError("too long")
        key = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    except (ValueError, binascii.Error):  # UnicodeDecodeError is a ValueError
        raise _invalid("next", "invalid_token", "is not a token this API gave") from None
    if not key:
        raise _invalid("next", "invalid_token", "is not a token this API gave")
    return key


def _invalid(field: str, rule: str, message: str) -> MessageValidationError:
    return MessageValidationError([FieldError(field, rule, message)])
