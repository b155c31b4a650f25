"""The message as producers send it: the input model, checked against every rule at once.

`parse_message` validates a JSON object written with USpeedo's own field names (the seed's
curl body works as is) and returns an immutable `message.Message`; a broken message raises
`MessageValidationError` listing every broken rule as a `FieldError` (the rule ids:
`validation_errors`). `message_json_schema` exports the same rules as a JSON Schema.

Two forms: `PhoneNumbers` (+ `TemplateParams`), the same text to every number; or
`Recipients`, objects `{PhoneNumber, TemplateParams?, ExtendCode?, UserId?}` under the same
rules (errors name `Recipients[i].PhoneNumber`, …). Exactly one of the two: neither is
`PhoneNumbers`/`required`, both is `Recipients`/`conflicting_fields`, and a top-level
`TemplateParams` beside `Recipients` is `TemplateParams`/`conflicting_fields`. A
recipient's `ExtendCode` and `UserId` default to the top-level ones. The same number twice
(after normalising): an identical recipient is dropped like a duplicate in `PhoneNumbers`;
one with other parameters is `Recipients[i].PhoneNumber`/`duplicate_recipient` — which of
the two texts the person should get is the sender's call, not ours.

Validation is strict (no coercion): `"123"` is not an `AccountId`, `true` and `1.5` are not
template parameters. An explicit `null` for an optional field means the field is absent.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Annotated, Any, Final, Literal, cast

from aws_lambda_powertools.utilities.parser import parse
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    WithJsonSchema,
    WrapValidator,
    model_validator,
)
from pydantic.config import JsonDict
from pydantic_core import PydanticCustomError

from sms_gateway.errors import FieldError, MessageValidationError
from sms_gateway.input_fields import (
    COUNTRY_CODE_CONTEXT,
    DEFAULT_COUNTRY_CODE,
    ExtendCodeText,
    ParamItem,
    PhoneItem,
    UserIdText,
    cap_count,
    validating_with,
    validation_context,
)
from sms_gateway.json_input import UnreadableJsonError, load_value
from sms_gateway.message import (
    MAX_ACCOUNT_ID,
    MAX_IDEMPOTENCY_KEY_LENGTH,
    MAX_PHONE_NUMBERS,
    MAX_SENDER_ID_LENGTH,
    MAX_TIME_TO_LIVE_S,
    Message,
    Recipient,
)
from sms_gateway.message_form import form_errors
from sms_gateway.phone import validate_country_code
from sms_gateway.validation_errors import (
    body_not_an_object,
    field_error,
    unreadable_body_error,
)

__all__ = ["message_json_schema", "parse_message"]

# Where the model's "before" validator leaves the errors about the message's form (which of
# PhoneNumbers and Recipients): in the validation context, so they are reported together
# with every field error rather than instead of them.
_FORM_ERRORS: Final = "form_errors"

_TEMPLATE_PARAMS_TEXT: Final = (
    "Values for the template's variables, in order: strings or integers "
    "(integers are sent as their decimal string). Omit when it has none."
)
_EXTEND_CODE_TEXT: Final = "Extension code: ASCII digits only."
_USER_ID_TEXT: Final = (
    "Your own reference, echoed in the result and in delivery receipts: at most "
    "32 characters, no single or double quotes, no emoji."
)

_MODEL_CONFIG: Final = ConfigDict(
    extra="forbid",
    strict=True,
    frozen=True,
    validate_by_name=False,
    validate_by_alias=True,
    # Titles in the schema are the field names callers write, not "Phonenumbers".
    field_title_generator=lambda name, info: info.alias or name,
)


class _RecipientInput(BaseModel):
    """One recipient of a personalised message: a phone number and its own parameters.
    `ExtendCode` and `UserId` default to the message's."""

    model_config = ConfigDict(**_MODEL_CONFIG, title="Recipient")

    phone_number: Annotated[
        PhoneItem,
        Field(alias="PhoneNumber", description="The recipient's phone number (as PhoneNumbers)."),
    ]
    template_params: Annotated[
        list[ParamItem] | None,
        Field(alias="TemplateParams", description=_TEMPLATE_PARAMS_TEXT),
    ] = None
    extend_code: Annotated[
        ExtendCodeText | None,
        Field(alias="ExtendCode", description=_EXTEND_CODE_TEXT + " Default: the message's."),
    ] = None
    user_id: Annotated[
        UserIdText | None,
        Field(alias="UserId", description=_USER_ID_TEXT + " Default: the message's."),
    ] = None

    def same_text_as(self, other: _RecipientInput) -> bool:
        """Whether both would get the same SMS (an empty TemplateParams is none)."""
        return (
            (self.template_params or None) == (other.template_params or None)
            and self.extend_code == other.extend_code
            and self.user_id == other.user_id
        )


def _dedupe_recipients(recipients: list[_RecipientInput]) -> list[_RecipientInput]:
    """Drop a repeated number whose recipient is identical; refuse one with other
    parameters (the ctx names both positions; `validation_errors` turns it into the path)."""
    first_at: dict[str, int] = {}
    kept: list[_RecipientInput] = []
    for index, recipient in enumerate(recipients):
        first = first_at.setdefault(recipient.phone_number, index)
        if first == index:
            kept.append(recipient)
        elif not recipients[first].same_text_as(recipient):
            raise PydanticCustomError(
                "duplicate_recipient",
                "repeats the number of Recipients[{first}] with other TemplateParams, "
                "ExtendCode or UserId; give each number once",
                {"first": first, "index": index},
            )
    return kept


# Inlined rather than referenced: the exported schema stays flat (no $defs), which keeps
# the draft 4 conversion for API Gateway simple.
_RECIPIENT_SCHEMA: Final = _RecipientInput.model_json_schema(by_alias=True, mode="validation")
_RecipientItem = Annotated[_RecipientInput, WithJsonSchema(_RECIPIENT_SCHEMA)]


def _is_array(name: str) -> JsonDict:
    """ "`name` is present and a list" — not null, which counts as absent."""
    return {"required": [name], "properties": {name: {"type": "array"}}}


# Exactly one form, and no top-level TemplateParams beside Recipients — in the keywords
# JSON Schema draft 4 has too, so API Gateway's validation agrees with the model.
_FORMS_SCHEMA: Final[JsonDict] = {
    "oneOf": [
        _is_array("PhoneNumbers"),
        {**_is_array("Recipients"), "not": _is_array("TemplateParams")},
    ]
}


class _MessageInput(BaseModel):
    """An SMS to send with USpeedo: one template, with either `PhoneNumbers` (the same
    parameters for every number) or `Recipients` (each number with its own). Field names
    are USpeedo's own; `IdempotencyKey` is the gateway's. A null optional field counts as
    absent; any other field is an error."""

    model_config = ConfigDict(**_MODEL_CONFIG, title="Message", json_schema_extra=_FORMS_SCHEMA)

    phone_numbers: Annotated[
        Annotated[
            list[PhoneItem],
            Field(min_length=1, max_length=MAX_PHONE_NUMBERS),
            WrapValidator(cap_count),
        ]
        | None,
        Field(
            alias="PhoneNumbers",
            description=(
                "1 to 10,000 phone numbers. Normalised to (CC)national, checked against "
                "libphonenumber's metadata; duplicates are dropped (first one kept). More "
                "than 1,000 are sent as several calls of at most 1,000. Exactly one of "
                "PhoneNumbers and Recipients."
            ),
        ),
    ] = None
    recipients: Annotated[
        Annotated[
            list[_RecipientItem],
            Field(min_length=1, max_length=MAX_PHONE_NUMBERS),
            WrapValidator(cap_count),
            AfterValidator(_dedupe_recipients),
        ]
        | None,
        Field(
            alias="Recipients",
            description=(
                "Instead of PhoneNumbers and TemplateParams: 1 to 10,000 recipients, each "
                "{PhoneNumber, TemplateParams?, ExtendCode?, UserId?} with its own "
                "parameters; sent with SendBatchUSMSMessage, 1,000 a call. A number given "
                "twice must have the same parameters (the repeat is dropped)."
            ),
        ),
    ] = None
    template_id: Annotated[
        str,
        Field(
            alias="TemplateId",
            min_length=1,
            pattern=r"\S",
            description="ID of an approved USpeedo template; not empty or whitespace only.",
        ),
    ]
    template_params: Annotated[
        list[ParamItem] | None,
        Field(
            alias="TemplateParams",
            description=_TEMPLATE_PARAMS_TEXT + " Not with Recipients (each has its own).",
        ),
    ] = None
    sender_id: Annotated[
        Annotated[str, Field(max_length=MAX_SENDER_ID_LENGTH)] | None,
        Field(alias="SenderId", description="International sender ID, at most 11 characters."),
    ] = None
    extend_code: Annotated[
        ExtendCodeText | None,
        Field(alias="ExtendCode", description=_EXTEND_CODE_TEXT),
    ] = None
    user_id: Annotated[
        UserIdText | None,
        Field(alias="UserId", description=_USER_ID_TEXT),
    ] = None
    account_id: Annotated[
        Annotated[int, Field(ge=1, le=MAX_ACCOUNT_ID)] | None,
        Field(
            alias="AccountId",
            description="USpeedo project ID (a positive integer); default from the secret.",
        ),
    ] = None
    action: Annotated[
        Literal["SendUSMSMessage"] | None,
        Field(alias="Action", description="Optional; if present, must be SendUSMSMessage."),
    ] = None
    idempotency_key: Annotated[
        Annotated[str, Field(min_length=1, max_length=MAX_IDEMPOTENCY_KEY_LENGTH)] | None,
        Field(
            alias="IdempotencyKey",
            description=(
                "The gateway's own field, not sent to USpeedo: a repeat with the same key "
                "within the idempotency window sends nothing and returns the first result."
            ),
        ),
    ] = None
    time_to_live: Annotated[
        Annotated[int, Field(ge=1, le=MAX_TIME_TO_LIVE_S)] | None,
        Field(
            alias="TimeToLive",
            description=(
                "The gateway's own field, not sent to USpeedo: seconds (1 to 259,200) the "
                "message may wait, counted from when it entered AWS; older, it is not sent "
                "(Expired). Overrides the traffic policy's MaxAgeSeconds."
            ),
        ),
    ] = None

    @model_validator(mode="before")
    @classmethod
    def _check_form(cls, data: Any, info: ValidationInfo) -> Any:
        # Field validation goes on whatever this finds: every broken rule is reported at once.
        if isinstance(data, dict):
            validation_context(info)[_FORM_ERRORS] = form_errors(data)
        return data


# ---------------------------------------------------------------------------------------
# Parsing.


# Messages are checked one at a time. A batch's records run on threads, but checking is
# Python CPU work that the GIL runs one thread at a time anyway: checked side by side, ten
# 10,000-number records all finish near the end and their first calls leave late; one at a
# time, the first record's calls are in flight while the next is checked. Same CPU in all.
_one_at_a_time = threading.Lock()


def parse_message(
    data: Mapping[str, Any] | str | bytes, *, default_country_code: str = DEFAULT_COUNTRY_CODE
) -> Message:
    """Validate a message (a mapping, or its JSON text) and return it normalised.

    `default_country_code` applies to numbers given without one (`DEFAULT_COUNTRY_CODE`;
    `"86"`, `"+86"` and `"0086"` all mean China). Raises `MessageValidationError` listing
    every broken rule (at most one per field or list item; the message's form first), and
    `ValueError` if `default_country_code` is not an assigned country code (configuration,
    not the message's fault).
    """
    with _one_at_a_time:
        return _parsed(data, default_country_code)


def _parsed(data: Mapping[str, Any] | str | bytes, default_country_code: str) -> Message:
    context: dict[str, Any] = {COUNTRY_CODE_CONTEXT: validate_country_code(default_country_code)}
    errors: list[FieldError] = []
    parsed: _MessageInput | None = None
    try:
        body = load_value(data)
    except UnreadableJsonError as exc:
        # Refused before pydantic sees it: a nesting bomb would otherwise reach a recursive
        # walk (pydantic's, the signature's, a log line's) as a bare RecursionError.
        raise MessageValidationError([unreadable_body_error(exc)]) from None
    if not isinstance(body, dict):
        # Powertools' parser would read a string as JSON text: it is already parsed.
        raise MessageValidationError([body_not_an_object()]) from None
    try:
        with validating_with(context):
            parsed = parse(event=body, model=_MessageInput)  # Powertools' parser
    except ValidationError as exc:
        errors = [field_error(e) for e in exc.errors(include_url=False, include_input=True)]
    errors = [*cast(list[FieldError], context.get(_FORM_ERRORS, [])), *errors]
    if errors or parsed is None:
        # Raised outside the `except`, and `from None`: a chained ValidationError would
        # print the input (numbers, codes) in any traceback that gets logged.
        raise MessageValidationError(errors) from None

    recipients = None if parsed.recipients is None else tuple(map(_recipient, parsed.recipients))
    params = parsed.template_params
    return Message(
        phone_numbers=(
            # dict.fromkeys keeps the first occurrence's order.
            tuple(dict.fromkeys(parsed.phone_numbers or ()))
            if recipients is None
            else tuple(r.phone_number for r in recipients)
        ),
        template_id=parsed.template_id,
        # An empty list and no list both mean "the template has no variables".
        template_params=tuple(params) if params else None,
        sender_id=parsed.sender_id,
        extend_code=parsed.extend_code,
        user_id=parsed.user_id,
        account_id=parsed.account_id,
        idempotency_key=parsed.idempotency_key,
        time_to_live=parsed.time_to_live,
        recipients=recipients,
    )


def _recipient(parsed: _RecipientInput) -> Recipient:
    params = parsed.template_params
    return Recipient(
        phone_number=parsed.phone_number,
        template_params=tuple(params) if params else None,
        extend_code=parsed.extend_code,
        user_id=parsed.user_id,
    )


def message_json_schema() -> dict[str, Any]:
    """The JSON Schema (pydantic's dialect, draft 2020-12) of the input message, in
    validation mode with USpeedo's field names: flat (no `$defs`), the two forms as a
    top-level `oneOf`. The API's request model converts it to draft 4."""
    return _MessageInput.model_json_schema(by_alias=True, mode="validation")
