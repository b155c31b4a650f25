"""The REST API's OpenAPI 3.1 description (served at `GET /openapi.json`).

The request body's schema is the message model's own JSON Schema, so the description cannot
drift from what the API accepts; the answers are described by status, as `rest_api`'s
`status_for` chooses them. The opt-out list's routes (`optout_routes`) are described here
too, with the schema of `POST /optouts`'s body (`optouts_request_schema`, JSON Schema
draft 4 compatible, for an API Gateway model).
"""

from __future__ import annotations

from typing import Any, Final

from aws_lambda_powertools.event_handler import content_types

from sms_gateway.contract import IDEMPOTENCY_KEY_HEADER
from sms_gateway.message_input import message_json_schema
from sms_gateway.phone import MAX_INPUT_LENGTH, PHONE_INPUT_PATTERN

MESSAGES_PATH: Final = "/messages"
OPENAPI_PATH: Final = "/openapi.json"
OPTOUTS_PATH: Final = "/optouts"
# `/optouts/{PhoneNumber}`: the path parameter's name (any accepted form, URL-encoded).
PHONE_NUMBER_PARAMETER: Final = "PhoneNumber"
# Numbers one `POST /optouts` may add, and the largest page `GET /optouts` answers.
MAX_OPTOUTS_PER_REQUEST: Final = 1000
MAX_OPTOUTS_PAGE: Final = 1000
DEFAULT_OPTOUTS_PAGE: Final = 100


def openapi_document() -> dict[str, Any]:
    """The API's OpenAPI 3.1 description, with the message's own JSON Schema."""
    return {
        "openapi": "3.1.0",
        "info": {"title": "SMS gateway", "version": "1"},
        "components": {
            "securitySchemes": {"ApiKey": {"type": "apiKey", "in": "header", "name": "x-api-key"}}
        },
        "security": [{"ApiKey": []}],
        "paths": {
            MESSAGES_PATH: {"post": _send_message()},
            f"{MESSAGES_PATH}/{{SessionNo}}": {"get": _get_receipts()},
            OPTOUTS_PATH: {"get": _list_optouts(), "post": _add_optouts()},
            f"{OPTOUTS_PATH}/{{{PHONE_NUMBER_PARAMETER}}}": {
                "get": _check_optout(),
                "delete": _remove_optout(),
            },
        },
    }


def _send_message() -> dict[str, Any]:
    """`POST /messages`: the message in, its result or one error out."""
    error = _error_schema()
    return {
        "summary": "Send one message through USpeedo, exactly once",
        "parameters": [
            {
                "name": IDEMPOTENCY_KEY_HEADER,
                "in": "header",
                "schema": {"type": "string", "maxLength": 128},
            }
        ],
        "requestBody": {
            "required": True,
            "content": {content_types.APPLICATION_JSON: {"schema": message_json_schema()}},
        },
        "responses": {
            "200": _answer("sent (or replayed)", _result_schema()),
            "400": _answer("invalid message; Fields names each broken rule", error),
            "409": _answer("idempotency key reused with another message", error),
            "422": _answer(
                "not sent: the provider refused it (RetCode, or Failed per number), the "
                "traffic policy or the opt-out list refused every number (PolicyRefused, "
                "Failed gives each number's Reason), or it was too old (Expired)",
                error,
            ),
            "429": _answer(
                "PolicyRefused: every number was refused by a rate limit or a cap (Failed "
                "gives each number's Reason); Retry-After: seconds until the earliest "
                "refusing window ends",
                error,
                retry_after=True,
            ),
            "502": _answer("outcome unknown: it may have been sent", error, retry_after=True),
            "503": _answer(
                "provider or gateway unavailable, or no usable traffic policy "
                "(PolicyUnavailable); retry after Retry-After",
                error,
                retry_after=True,
            ),
        },
    }


def _get_receipts() -> dict[str, Any]:
    """`GET /messages/{SessionNo,…}`: the delivery receipts."""
    return {
        "summary": "Delivery receipts of up to 100 comma-separated SessionNos",
        "parameters": [
            {
                "name": "SessionNo",
                "in": "path",
                "required": True,
                "schema": {"type": "string"},
            }
        ],
        "responses": {"200": _answer("receipts per SessionNo", {"type": "object"})},
    }


def optouts_request_schema() -> dict[str, Any]:
    """`POST /optouts`'s body: 1 to 1,000 numbers in any accepted form (what a JSON Schema
    can check; the function normalises and judges each number)."""
    return {
        "type": "object",
        "properties": {
            "PhoneNumbers": {
                "type": "array",
                "minItems": 1,
                "maxItems": MAX_OPTOUTS_PER_REQUEST,
                "items": {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": MAX_INPUT_LENGTH,
                    "pattern": PHONE_INPUT_PATTERN,
                },
            }
        },
        "required": ["PhoneNumbers"],
        "additionalProperties": False,
    }


def _add_optouts() -> dict[str, Any]:
    """`POST /optouts`: add numbers to the opt-out list."""
    error = _error_schema()
    return {
        "summary": "Opt numbers out: they are never texted (adding one twice changes nothing)",
        "requestBody": {
            "required": True,
            "content": {content_types.APPLICATION_JSON: {"schema": optouts_request_schema()}},
        },
        "responses": {
            "200": _answer("the numbers added, normalised, each once", _numbers_schema()),
            "400": _answer(
                "a number or the body is invalid (Fields names PhoneNumbers[i] and the "
                "rule); nothing was added",
                error,
            ),
            **_protection_unavailable(error),
        },
    }


def _list_optouts() -> dict[str, Any]:
    """`GET /optouts?limit=&next=`: one page of the list."""
    error = _error_schema()
    page = _numbers_schema()
    page["properties"]["Next"] = {
        "type": ["string", "null"],
        "description": "pass as `next` for the following page; null on the last",
    }
    page["required"] = ["PhoneNumbers", "Next"]
    return {
        "summary": "List the opted-out numbers, one page at a time",
        "parameters": [
            {
                "name": "limit",
                "in": "query",
                "schema": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": MAX_OPTOUTS_PAGE,
                    "default": DEFAULT_OPTOUTS_PAGE,
                },
            },
            {"name": "next", "in": "query", "schema": {"type": "string"}},
        ],
        "responses": {
            "200": _answer("one page (it may hold fewer than limit numbers)", page),
            "400": _answer("limit or next is invalid", error),
            **_protection_unavailable(error),
        },
    }


def _check_optout() -> dict[str, Any]:
    """`GET /optouts/{PhoneNumber}`: whether one number is opted out."""
    error = _error_schema()
    return {
        "summary": "Whether a number is opted out",
        "parameters": [_phone_number_parameter()],
        "responses": {
            "200": _answer("opted out (OptedOut: true)", _opt_out_schema()),
            "400": _answer("not a phone number (Fields names the rule)", error),
            "404": _answer("not opted out (Error.Code NotOptedOut)", error),
            **_protection_unavailable(error),
        },
    }


def _remove_optout() -> dict[str, Any]:
    """`DELETE /optouts/{PhoneNumber}`: opt a number back in."""
    error = _error_schema()
    return {
        "summary": "Opt a number back in",
        "parameters": [_phone_number_parameter()],
        "responses": {
            "200": _answer("removed (OptedOut: false), the number normalised", _opt_out_schema()),
            "400": _answer("not a phone number (Fields names the rule)", error),
            "404": _answer("it was not opted out (Error.Code NotOptedOut)", error),
            **_protection_unavailable(error),
        },
    }


def _phone_number_parameter() -> dict[str, Any]:
    return {
        "name": PHONE_NUMBER_PARAMETER,
        "in": "path",
        "required": True,
        "description": "any accepted form, URL-encoded: `008613800138000` needs no escaping, "
        "`%2B8613800138000` is `+8613800138000`",
        "schema": {"type": "string"},
    }


def _protection_unavailable(error: dict[str, Any]) -> dict[str, Any]:
    return {
        "503": _answer(
            "the opt-out list is not configured (GatewayMisconfigured: no PROTECTION_TABLE) "
            "or its table cannot be used; retry after Retry-After",
            error,
            retry_after=True,
        )
    }


def _numbers_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "PhoneNumbers": {
                "type": "array",
                "items": {"type": "string", "description": "normalised: (CC)national"},
            }
        },
        "required": ["PhoneNumbers"],
    }


def _opt_out_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "PhoneNumber": {"type": "string", "description": "normalised: (CC)national"},
            "OptedOut": {"type": "boolean"},
        },
        "required": ["PhoneNumber", "OptedOut"],
    }


def _answer(
    description: str, schema: dict[str, Any], *, retry_after: bool = False
) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "description": description,
        "content": {content_types.APPLICATION_JSON: {"schema": schema}},
    }
    if retry_after:
        answer["headers"] = {
            "Retry-After": {
                "description": "seconds to wait before trying again",
                "schema": {"type": "integer", "minimum": 1},
            }
        }
    return answer


def _error_schema() -> dict[str, Any]:
    """`{"Error": {...}}`, every error's body."""
    return {
        "type": "object",
        "properties": {
            "Error": {
                "type": "object",
                "properties": {
                    "Code": {"type": "string"},
                    "Message": {"type": "string"},
                    "Fields": {"type": "array", "items": {"type": "object"}},
                    "Failed": {"type": "array", "items": {"type": "object"}},
                    "RetCode": {"type": "integer"},
                },
                "required": ["Code", "Message"],
            }
        },
    }


def _result_schema() -> dict[str, Any]:
    """A sent (or replayed) message's result."""
    return {
        "type": "object",
        "properties": {
            "SessionNos": {"type": "array", "items": {"type": "string"}},
            "PhoneCount": {"type": "integer"},
            "UserId": {"type": "string"},
            "IdempotentReplay": {"type": "boolean"},
            "Failed": {
                "type": "array",
                "description": "numbers the provider refused (the rest were sent)",
                "items": {
                    "type": "object",
                    "properties": {"PhoneNumber": {"type": "string"}, "Reason": {"type": "string"}},
                },
            },
        },
        "required": ["SessionNos", "PhoneCount", "IdempotentReplay"],
    }
