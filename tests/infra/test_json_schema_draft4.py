"""The draft 4 conversion: valid for API Gateway, and it accepts and rejects exactly the
messages the model's own (2020-12) schema accepts and rejects."""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Any, Literal

import pytest
from jsonschema import Draft4Validator, Draft202012Validator
from pydantic import BaseModel, ConfigDict, Field

from infra.json_schema_draft4 import DRAFT4_URI, UnsupportedKeywordError, to_draft4
from infra.lambda_code import message_json_schema

Json = dict[str, Any]


# A message model of our own that uses every construct pydantic exports in ways draft 4
# lacks: $defs and $ref (with siblings), const, numeric exclusive bounds, examples, tuples
# (prefixItems), enums, optional (null) fields and forbidden extra fields.
class Channel(StrEnum):
    """An enum, exported as a definition of its own."""

    SMS = "sms"
    VOICE = "voice"


class Recipient(BaseModel):
    """A nested model, exported as a definition and referenced."""

    model_config = ConfigDict(extra="forbid")

    PhoneNumber: str = Field(min_length=1, pattern=r"^\+?[0-9]+$", examples=["+8613800138000"])
    TemplateParams: list[str | int] | None = None


class RepresentativeMessage(BaseModel):
    """Shaped like the gateway's message, with more schema features than it needs today."""

    model_config = ConfigDict(extra="forbid")

    TemplateId: str = Field(min_length=1, examples=["UTA20210101"])
    PhoneNumbers: list[str] | None = Field(default=None, min_length=1, max_length=3)
    Recipients: list[Recipient] | None = Field(default=None, min_length=1)
    Owner: Recipient = Field(description="Who is billed")  # $ref with a sibling
    Channel: Channel = Channel.SMS  # $ref with a default sibling
    Action: Literal["SendUSMSMessage"] | None = None  # const
    Mode: Literal["fast"] | None = None  # a second const
    AccountId: int | None = Field(default=None, gt=0)  # exclusiveMinimum
    Weight: float = Field(default=1.0, gt=0, le=10)  # exclusive minimum, inclusive maximum
    Ratio: float | None = Field(default=None, ge=0, lt=1)  # inclusive min, exclusive max
    Window: tuple[int, int] | None = None  # prefixItems


OWNER: Json = {"PhoneNumber": "+8613800138000"}
VALID_REPRESENTATIVE: list[Json] = [
    {"TemplateId": "T", "Owner": OWNER},
    {"TemplateId": "T", "Owner": OWNER, "PhoneNumbers": ["1", "2", "3"], "Channel": "voice"},
    {"TemplateId": "T", "Owner": {**OWNER, "TemplateParams": ["a", 1]}, "Action": None},
    {"TemplateId": "T", "Owner": OWNER, "Recipients": [OWNER], "Action": "SendUSMSMessage"},
    {"TemplateId": "T", "Owner": OWNER, "AccountId": 1, "Weight": 10, "Ratio": 0},
    {"TemplateId": "T", "Owner": OWNER, "Window": [1, 2], "Mode": "fast", "Weight": 0.001},
]
INVALID_REPRESENTATIVE: list[Any] = [
    {"Owner": OWNER},  # TemplateId missing
    {"TemplateId": "", "Owner": OWNER},  # too short
    {"TemplateId": "T"},  # the $ref'd field missing
    {"TemplateId": "T", "Owner": {}},  # inside the $ref
    {"TemplateId": "T", "Owner": {"PhoneNumber": "12a"}},  # pattern inside the $ref
    {"TemplateId": "T", "Owner": {**OWNER, "Extra": 1}},  # extra field inside the $ref
    {"TemplateId": "T", "Owner": OWNER, "Typo": 1},  # extra field
    {"TemplateId": "T", "Owner": OWNER, "PhoneNumbers": []},
    {"TemplateId": "T", "Owner": OWNER, "PhoneNumbers": ["1", "2", "3", "4"]},
    {"TemplateId": "T", "Owner": OWNER, "Recipients": [{}]},
    {"TemplateId": "T", "Owner": OWNER, "Channel": "fax"},
    {"TemplateId": "T", "Owner": OWNER, "Action": "SendBatchUSMSMessage"},  # const
    {"TemplateId": "T", "Owner": OWNER, "Mode": "slow"},  # const
    {"TemplateId": "T", "Owner": OWNER, "AccountId": 0},  # exclusive minimum
    {"TemplateId": "T", "Owner": OWNER, "Weight": 0},  # exclusive minimum
    {"TemplateId": "T", "Owner": OWNER, "Weight": 10.5},  # maximum
    {"TemplateId": "T", "Owner": OWNER, "Ratio": 1},  # exclusive maximum
    {"TemplateId": "T", "Owner": OWNER, "Window": [1]},  # tuple too short
    {"TemplateId": "T", "Owner": OWNER, "Window": [1, "x"]},  # tuple item type
    {"TemplateId": "T", "Owner": OWNER, "Window": [1, 2, 3]},  # tuple too long
    {"TemplateId": 7, "Owner": OWNER},
    [],  # not an object at all
]

# The gateway's message: the seed's curl body (with real-looking numbers) and its kin.
SEED_BODY: Json = {
    "Action": "SendUSMSMessage",
    "AccountId": 123,
    "PhoneNumbers": ["18512345678", "13112345678"],
    "TemplateParams": [123456, 10],
    "SenderId": "UCloud",
    "TemplateId": "UTA20210101xxxx",
    "UserId": "hGBCrtQw",
}
VALID_MESSAGES: list[Json] = [
    SEED_BODY,
    {"PhoneNumbers": ["(86)13800138000"], "TemplateId": "T"},
    {"PhoneNumbers": ["+86 138-0013-8000"], "TemplateId": "T", "TemplateParams": None},
    {"PhoneNumbers": ["13800138000"], "TemplateId": "T", "IdempotencyKey": "k" * 128},
]
INVALID_MESSAGES: list[Json] = [
    {"TemplateId": "T"},
    {"PhoneNumbers": [], "TemplateId": "T"},
    {"PhoneNumbers": ["13800138000"]},
    {"PhoneNumbers": ["13800138000"], "TemplateId": ""},
    {"PhoneNumbers": ["13800138000"], "TemplateId": "   "},
    {"PhoneNumbers": ["abc"], "TemplateId": "T"},
    {"PhoneNumbers": ["13800138000"], "TemplateId": "T", "Typo": 1},
    {"PhoneNumbers": ["13800138000"], "TemplateId": "T", "Action": "SendBatchUSMSMessage"},
    {"PhoneNumbers": ["13800138000"], "TemplateId": "T", "AccountId": 0},
    {"PhoneNumbers": ["13800138000"], "TemplateId": "T", "SenderId": "TwelveChars!"},
    {"PhoneNumbers": ["13800138000"], "TemplateId": "T", "ExtendCode": "12a"},
    {"PhoneNumbers": ["13800138000"], "TemplateId": "T", "UserId": "it's"},
    {"PhoneNumbers": ["13800138000"], "TemplateId": "T", "TemplateParams": [1.5]},
    {"PhoneNumbers": ["13800138000"], "TemplateId": "T", "IdempotencyKey": "k" * 129},
]


def _verdicts(schema: Json, validator: type[Any], instances: list[Any]) -> list[bool]:
    check = validator(schema)
    return [check.is_valid(instance) for instance in instances]


def _walk(value: Any) -> list[Any]:
    """Every value nested in `value`, itself included."""
    found = [value]
    if isinstance(value, dict):
        for item in value.values():
            found += _walk(item)
    elif isinstance(value, list):
        for item in value:
            found += _walk(item)
    return found


@pytest.mark.parametrize(
    ("original", "valid", "invalid"),
    [
        pytest.param(
            RepresentativeMessage.model_json_schema(),
            VALID_REPRESENTATIVE,
            INVALID_REPRESENTATIVE,
            id="representative",
        ),
        pytest.param(message_json_schema(), VALID_MESSAGES, INVALID_MESSAGES, id="gateway-model"),
    ],
)
def test_conversion_accepts_and_rejects_the_same_messages(
    original: Json, valid: list[Any], invalid: list[Any]
) -> None:
    converted = to_draft4(original)
    examples = valid + invalid

    Draft4Validator.check_schema(converted)
    original_verdicts = _verdicts(original, Draft202012Validator, examples)
    # The examples mean what they say under the original schema…
    assert original_verdicts == [True] * len(valid) + [False] * len(invalid)
    # …and the converted schema, read as draft 4, agrees on every one.
    assert _verdicts(converted, Draft4Validator, examples) == original_verdicts


def test_conversion_leaves_no_keyword_draft_4_lacks() -> None:
    converted = to_draft4(RepresentativeMessage.model_json_schema())
    text = json.dumps(converted)

    assert converted["$schema"] == DRAFT4_URI
    assert "definitions" in converted
    for keyword in ("$defs", "const", "prefixItems", "examples"):
        assert f'"{keyword}"' not in text
    assert all(
        isinstance(node["exclusiveMinimum"], bool)
        for node in _walk(converted)
        if isinstance(node, dict) and "exclusiveMinimum" in node
    )
    # CloudFormation gets the schema through CDK, which drops every null.
    assert None not in _walk(converted)


def test_input_is_not_modified() -> None:
    original = RepresentativeMessage.model_json_schema()
    before = json.dumps(original, sort_keys=True)

    to_draft4(original)

    assert json.dumps(original, sort_keys=True) == before


@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        ({"const": "a"}, {"enum": ["a"]}),
        ({"const": None}, {"allOf": [{"type": "null"}]}),
        ({"enum": ["a", None]}, {"allOf": [{"anyOf": [{"enum": ["a"]}, {"type": "null"}]}]}),
        ({"exclusiveMinimum": 0}, {"minimum": 0, "exclusiveMinimum": True}),
        ({"exclusiveMaximum": 5}, {"maximum": 5, "exclusiveMaximum": True}),
        # With both bounds, the stricter one is kept.
        ({"minimum": 3, "exclusiveMinimum": 1}, {"minimum": 3}),
        ({"minimum": 1, "exclusiveMinimum": 3}, {"minimum": 3, "exclusiveMinimum": True}),
        ({"minimum": 2, "exclusiveMinimum": 2}, {"minimum": 2, "exclusiveMinimum": True}),
        ({"maximum": 3, "exclusiveMaximum": 5}, {"maximum": 3}),
        (
            {"$ref": "#/$defs/A", "description": "d"},
            {"allOf": [{"$ref": "#/definitions/A"}], "description": "d"},
        ),
        ({"items": False}, {"items": {"not": {}}}),
        ({"properties": {"a": True}}, {"properties": {"a": {}}}),
        ({"additionalProperties": False}, {"additionalProperties": False}),
        (
            {"prefixItems": [{"type": "string"}], "items": False},
            {"items": [{"type": "string"}], "additionalItems": False},
        ),
        ({"dependentRequired": {"a": ["b"]}}, {"dependencies": {"a": ["b"]}}),
        (
            {"default": None, "examples": [1], "deprecated": True, "type": "integer"},
            {"type": "integer"},
        ),
        ({"$id": "message"}, {"id": "message"}),
    ],
)
def test_keyword_conversions(schema: Json, expected: Json) -> None:
    assert to_draft4(schema) == {"$schema": DRAFT4_URI, **expected}


@pytest.mark.parametrize(
    "schema",
    [
        {"if": {"type": "string"}, "then": {"minLength": 1}},
        {"contains": {"type": "string"}},
        {"propertyNames": {"pattern": "^[A-Z]"}},
        {"unevaluatedProperties": False},
        {"properties": {"a": {"$defs": {"B": {}}}}},
        {"$ref": "https://example.com/schema.json"},
    ],
)
def test_constraints_draft_4_cannot_express_are_refused(schema: Json) -> None:
    # Dropping them would let the API accept messages the model rejects.
    with pytest.raises(UnsupportedKeywordError):
        to_draft4(schema)
