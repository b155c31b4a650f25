"""The exported JSON Schema: every field with its constraints as schema keywords, and a
schema validator that accepts and rejects what `parse_message` does, except where only
libphonenumber (or the emoji rule) can tell."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest

from infra.json_schema_draft4 import to_draft4
from sms_gateway.errors import MessageValidationError
from sms_gateway.message import MESSAGE_FIELDS, RECIPIENT_FIELDS
from sms_gateway.message_input import message_json_schema, parse_message

FIELDS = [
    "PhoneNumbers",
    "Recipients",
    "TemplateId",
    "TemplateParams",
    "SenderId",
    "ExtendCode",
    "UserId",
    "AccountId",
    "Action",
    "IdempotencyKey",
    "TimeToLive",
]
MINIMAL: dict[str, Any] = {"PhoneNumbers": ["13800138000"], "TemplateId": "UTA1"}


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    return message_json_schema()


@pytest.fixture(scope="module")
def validator(schema: dict[str, Any]) -> jsonschema.Draft202012Validator:
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def non_null(prop: dict[str, Any]) -> dict[str, Any]:
    """The non-null branch of an optional field's `anyOf`."""
    if "anyOf" not in prop:
        return prop
    [branch] = [b for b in prop["anyOf"] if b.get("type") != "null"]
    return dict(branch)


def test_top_level(schema: dict[str, Any]) -> None:
    assert schema["type"] == "object"
    assert schema["title"] == "Message"
    assert schema["additionalProperties"] is False
    # Exactly one of the two forms, each "present and a list" (null counts as absent).
    assert schema["required"] == ["TemplateId"]
    numbers, recipients = schema["oneOf"]
    assert numbers == {
        "required": ["PhoneNumbers"],
        "properties": {"PhoneNumbers": {"type": "array"}},
    }
    assert recipients["required"] == ["Recipients"]
    assert recipients["not"]["required"] == ["TemplateParams"]
    assert list(schema["properties"]) == FIELDS
    # Flat: no $defs or $ref, so converting to draft 4 needs no reference rewriting.
    assert "$defs" not in schema
    assert "$ref" not in json.dumps(schema)


def test_the_field_names_of_the_message_are_the_models(schema: dict[str, Any]) -> None:
    # `message` names them without pydantic; the unknown-field errors and the handler's
    # event kinds read them there.
    assert tuple(schema["properties"]) == MESSAGE_FIELDS
    recipient = non_null(schema["properties"]["Recipients"])["items"]
    assert tuple(recipient["properties"]) == RECIPIENT_FIELDS


def test_every_field_is_described_and_titled_by_its_name(schema: dict[str, Any]) -> None:
    for name, prop in schema["properties"].items():
        assert prop["title"] == name
        assert len(prop["description"]) > 20, name


def test_constraints_are_schema_keywords(schema: dict[str, Any]) -> None:
    props = schema["properties"]
    phones = non_null(props["PhoneNumbers"])
    assert (phones["type"], phones["minItems"], phones["maxItems"]) == ("array", 1, 10_000)
    assert phones["items"]["type"] == "string"
    assert phones["items"]["maxLength"] == 64
    assert "pattern" in phones["items"]
    recipients = non_null(props["Recipients"])
    assert (recipients["minItems"], recipients["maxItems"]) == (1, 10_000)
    recipient = recipients["items"]
    assert recipient["type"] == "object"
    assert recipient["additionalProperties"] is False
    assert recipient["required"] == ["PhoneNumber"]
    assert list(recipient["properties"]) == [
        "PhoneNumber",
        "TemplateParams",
        "ExtendCode",
        "UserId",
    ]
    assert recipient["properties"]["PhoneNumber"]["pattern"] == phones["items"]["pattern"]
    for name in ("TemplateParams", "ExtendCode", "UserId"):
        assert non_null(recipient["properties"][name]) == non_null(props[name]), name
    assert props["TemplateId"] | {"description": ""} == {
        "type": "string",
        "minLength": 1,
        "pattern": r"\S",
        "title": "TemplateId",
        "description": "",
    }
    assert non_null(props["TemplateParams"])["items"] == {
        "anyOf": [{"type": "string"}, {"type": "integer"}]
    }
    assert non_null(props["SenderId"]) == {"type": "string", "maxLength": 11}
    assert non_null(props["ExtendCode"]) == {"type": "string", "pattern": "^[0-9]+$"}
    assert non_null(props["UserId"]) == {"type": "string", "maxLength": 32, "pattern": "^[^'\"]*$"}
    assert non_null(props["AccountId"]) == {
        "type": "integer",
        "minimum": 1,
        "maximum": 2**63 - 1,
    }
    assert non_null(props["Action"]) == {"type": "string", "const": "SendUSMSMessage"}
    assert non_null(props["IdempotencyKey"]) == {"type": "string", "minLength": 1, "maxLength": 128}
    for optional in [name for name in FIELDS if name != "TemplateId"]:
        assert {"type": "null"} in props[optional]["anyOf"], optional


def parses(data: Any) -> bool:
    try:
        parse_message(data)
    except MessageValidationError:
        return False
    return True


def with_(**fields: Any) -> dict[str, Any]:
    return {**MINIMAL, **fields}


def personal(*recipients: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """A message in the Recipients form (default: one recipient with one parameter)."""
    chosen = list(recipients) or [{"PhoneNumber": "13800138000", "TemplateParams": ["1"]}]
    return {"TemplateId": "UTA1", "Recipients": chosen, **fields}


AGREED: list[Any] = [
    MINIMAL,
    json.loads(
        '{"Action":"SendUSMSMessage","AccountId":123,"PhoneNumbers":["13800138000",'
        '"13100131000"],"TemplateParams":[123456,10],"SenderId":"UCloud",'
        '"TemplateId":"UTA20210101xxxx","UserId":"hGBCrtQw"}'
    ),
    with_(**dict.fromkeys(FIELDS[3:]), Recipients=None),
    with_(PhoneNumbers=["+86 (138) 0013-8000", "(0086)13100131000", "\u00a013800138000"]),
    with_(SenderId="A" * 11, UserId="u" * 32, IdempotencyKey="k" * 128, ExtendCode="007"),
    {"TemplateId": "T"},
    {"PhoneNumbers": ["13800138000"]},
    with_(PhoneNumbers=[]),
    with_(PhoneNumbers="13800138000"),
    with_(PhoneNumbers=[13800138000]),
    with_(PhoneNumbers=["138-0013-800x"]),
    with_(PhoneNumbers=["1" * 65]),
    with_(PhoneNumbers=[""]),
    with_(TemplateId=""),
    with_(TemplateId="  "),
    with_(TemplateParams=[True]),
    with_(TemplateParams=[1.5]),
    with_(TemplateParams="1"),
    with_(SenderId="A" * 12),
    with_(ExtendCode=""),
    with_(ExtendCode="12a"),
    with_(UserId="u" * 33),
    with_(UserId="it's"),
    with_(AccountId=0),
    with_(AccountId="123"),
    with_(AccountId=True),
    with_(AccountId=2**63),
    with_(Action="SendBatchUSMSMessage"),
    with_(IdempotencyKey=""),
    with_(IdempotencyKey="k" * 129),
    with_(Recipients=[]),
    with_(phone_numbers=["13800138000"]),
    # The Recipients form
    personal(),
    personal(PhoneNumbers=None, TemplateParams=None, UserId="u", ExtendCode="1"),
    personal(
        {"PhoneNumber": "13800138000", "TemplateParams": [1, "a"], "ExtendCode": "7"},
        {"PhoneNumber": "(1)4155550100", "UserId": "u" * 32, "TemplateParams": None},
    ),
    personal(Recipients=[]),
    personal(Recipients=None),
    personal(Recipients="13800138000"),
    personal(Recipients=["13800138000"]),
    personal({}),
    personal({"PhoneNumber": None}),
    personal({"PhoneNumber": "abc"}),
    personal({"PhoneNumber": "13800138000", "Typo": 1}),
    personal({"PhoneNumber": "13800138000", "TemplateParams": [True]}),
    personal({"PhoneNumber": "13800138000", "ExtendCode": "1a"}),
    personal({"PhoneNumber": "13800138000", "UserId": "it's"}),
    personal(TemplateParams=["1"]),
    personal(TemplateParams=[]),
    personal(PhoneNumbers=["13800138000"]),
    {"TemplateId": "UTA1", "PhoneNumbers": None, "Recipients": None},
]


@pytest.mark.parametrize("data", AGREED)
def test_schema_and_model_agree(validator: jsonschema.Draft202012Validator, data: Any) -> None:
    assert validator.is_valid(data) == parses(data)


@pytest.fixture(scope="module")
def draft4_validator(schema: dict[str, Any]) -> jsonschema.Draft4Validator:
    converted = to_draft4(schema)
    jsonschema.Draft4Validator.check_schema(converted)
    return jsonschema.Draft4Validator(converted)


@pytest.mark.parametrize("data", AGREED)
def test_the_draft_4_schema_api_gateway_uses_agrees_too(
    draft4_validator: jsonschema.Draft4Validator, data: Any
) -> None:
    # The two forms (oneOf, not, required) must survive the conversion for API Gateway.
    assert draft4_validator.is_valid(data) == parses(data)


@pytest.mark.parametrize(
    "data",
    [
        with_(PhoneNumbers=["1380013800"]),  # wrong length for China: libphonenumber's call
        with_(PhoneNumbers=["(999)13800138000"]),  # unassigned country code
        with_(PhoneNumbers=["86+13800138000"]),  # '+' in the middle
        with_(UserId="order😀"),  # emoji: no regex reads the same in every engine
        # The same number twice with other parameters: needs normalising to see.
        personal(
            {"PhoneNumber": "13800138000", "TemplateParams": ["1"]},
            {"PhoneNumber": "+86 138 0013 8000", "TemplateParams": ["2"]},
        ),
    ],
)
def test_schema_is_looser_only_where_it_must_be(
    validator: jsonschema.Draft202012Validator, data: Any
) -> None:
    assert validator.is_valid(data)
    assert not parses(data)


def test_schema_is_json(schema: dict[str, Any]) -> None:
    assert json.loads(json.dumps(schema)) == schema
