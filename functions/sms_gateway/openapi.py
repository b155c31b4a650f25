"""The REST API's OpenAPI 3.1 description (served at `GET /openapi.json`).

The request body's schema is the message model's own JSON Schema, so the description cannot
drift from what the API accepts; the answers are described by status, as `rest_api`'s
`status_for` chooses them.
"""

from __future__ import annotations

from typing import Any, Final

from aws_lambda_powertools.event_handler import content_types

from sms_gateway.contract import IDEMPOTENCY_KEY_HEADER
from sms_gateway.message_input import message_json_schema

MESSAGES_PATH: Final = "/messages"
OPENAPI_PATH: Final = "/openapi.json"


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
            "422": _answer("the provider refused the message (RetCode)", error),
            "502": _answer("outcome unknown: it may have been sent", error),
            "503": _answer("provider or gateway unavailable; retry after Retry-After", error),
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


def _answer(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "description": description,
        "content": {content_types.APPLICATION_JSON: {"schema": schema}},
    }


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
