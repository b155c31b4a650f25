"""The message: what producers send, checked against every rule at once.

`parse_message` validates a JSON object written with USpeedo's own field names (the seed's
curl body works as is) and returns an immutable `Message`; a broken message raises
`MessageValidationError` listing every broken rule as a `FieldError` (field path, stable
rule id, a sentence). Messages never repeat the submitted value: values are phone numbers
and one-time codes, and errors get logged.

Rule ids: `$` (the whole body): `not_json`, `too_deep` (nested beyond
`json_input.MAX_DEPTH`), `not_an_object`. Any field: `required`,
`unknown_field`, `not_a_string`, `invalid_text`, `not_an_integer`, `not_a_list`,
`too_few_items`, `too_many_items`, `empty`, `too_long`, `not_positive`, `too_large`,
`not_allowed_value`, and `invalid` (a pydantic error type not mapped: a bug to fix).
`ExtendCode`: `not_digits`. `UserId`: `quote_not_allowed`, `emoji_not_allowed`. `Action`:
`unsupported_action`. `TemplateParams[i]`: `not_a_string_or_integer`. `PhoneNumbers[i]`:
the `phone_*` rules of `sms_gateway.phone`.

Two forms (design.md, "per-recipient messages"): `PhoneNumbers` (+ `TemplateParams`), the
same text to every number; or `Recipients`, objects `{PhoneNumber, TemplateParams?,
ExtendCode?, UserId?}` under the same rules (errors name `Recipients[i].PhoneNumber`, …).
Exactly one of the two: neither is `PhoneNumbers`/`required`, both is
`Recipients`/`conflicting_fields`, and a top-level `TemplateParams` beside `Recipients` is
`TemplateParams`/`conflicting_fields`. A recipient's `ExtendCode` and `UserId` default to
the top-level ones. The same number twice (after normalising): an identical recipient is
dropped like a duplicate in `PhoneNumbers`; one with other parameters is
`Recipients[i].PhoneNumber`/`duplicate_recipient` — which of the two texts the person
should get is the sender's call, not ours.

Validation is strict (no coercion): `"123"` is not an `AccountId`, `true` and `1.5` are not
template parameters. An explicit `null` for an optional field means the field is absent.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Final, Literal, cast

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    ValidationError,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    WithJsonSchema,
    WrapValidator,
    model_validator,
)
from pydantic.config import JsonDict
from pydantic_core import ErrorDetails, PydanticCustomError

from sms_gateway.errors import FieldError, MessageValidationError
from sms_gateway.gateway_key import GatewayKey
from sms_gateway.json_input import NOT_JSON, UnreadableJsonError, check_depth, load_json
from sms_gateway.phone import (
    MAX_INPUT_LENGTH,
    PHONE_INPUT_PATTERN,
    PHONE_RULES,
    PhoneNumberError,
    normalize_phone,
    validate_country_code,
)
from sms_gateway.redact import mask_phone

__all__ = [
    "ACTION",
    "MAX_NUMBERS_PER_CALL",
    "MAX_PHONE_NUMBERS",
    "MESSAGE_FIELDS",
    "Message",
    "Recipient",
    "message_json_schema",
    "parse_message",
]

ACTION: Final = "SendUSMSMessage"
MAX_PHONE_NUMBERS: Final = 10_000
MAX_NUMBERS_PER_CALL: Final = 1_000  # SendUSMSMessage's own limit per request
MAX_SENDER_ID_LENGTH: Final = 11
MAX_USER_ID_LENGTH: Final = 32
MAX_IDEMPOTENCY_KEY_LENGTH: Final = 128
MAX_ACCOUNT_ID: Final = 2**63 - 1  # the provider's SDKs hold it in a 64-bit int

ROOT: Final = "$"  # the field name of errors about the body as a whole
_DEFAULT_COUNTRY_CODE: Final = "86"
_CONTEXT_KEY: Final = "default_country_code"
# Where the model's "before" validator leaves the errors about the message's form (which of
# PhoneNumbers and Recipients): in the validation context, so they are reported together
# with every field error rather than instead of them.
_FORM_ERRORS: Final = "form_errors"
_MAX_NAME_SHOWN: Final = 64

# UserId: no emoji. Characters outside the Basic Multilingual Plane (emoji, pictographs),
# lone surrogates, the BMP's symbol blocks that emoji live in (misc technical, misc
# symbols, dingbats, arrows and stars), keycaps, variation selectors and the zero-width
# joiner that glues emoji sequences together.
_EMOJI = re.compile(
    "[\u200d\u20e3\u2300-\u23ff\u2600-\u27bf\u2b00-\u2bff\ud800-\udfff"
    "\ufe0e\ufe0f\U00010000-\U0010ffff]"
)

_SURROGATE = re.compile("[\ud800-\udfff]")
_INVALID_TEXT: Final = "must be valid Unicode text (no lone surrogates)"


# ---------------------------------------------------------------------------------------
# Item and field validators. Each raises PydanticCustomError so the rule id is ours.


def _phone_item(value: Any, info: ValidationInfo) -> str:
    default_cc = (info.context or {}).get(_CONTEXT_KEY, _DEFAULT_COUNTRY_CODE)
    try:
        return normalize_phone(value, default_cc)
    except PhoneNumberError as exc:
        raise PydanticCustomError(exc.rule, exc.message) from None


def _param_item(value: Any) -> str:
    # `type(...) is` rather than isinstance: bool is an int subclass and must not pass.
    if type(value) is str:
        # pydantic's own str check is bypassed here: refuse what could not be sent as UTF-8
        # (json.loads lets lone surrogates through).
        if _SURROGATE.search(value):
            raise PydanticCustomError("invalid_text", _INVALID_TEXT)
        return value
    if type(value) is int:
        return str(value)
    raise PydanticCustomError("not_a_string_or_integer", "must be a string or an integer")


def _cap_count(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    # Refuse an oversized list before validating (and normalising) 10,001 numbers.
    if isinstance(value, list) and len(value) > MAX_PHONE_NUMBERS:
        raise PydanticCustomError(
            "too_many_items",
            "must have at most {max_items} items",
            {"max_items": f"{MAX_PHONE_NUMBERS:,}"},
        )
    return handler(value)


def _no_emoji(value: str) -> str:
    if _EMOJI.search(value):
        raise PydanticCustomError("emoji_not_allowed", "must not contain emoji or pictographs")
    return value


_PhoneItem = Annotated[
    str,
    PlainValidator(_phone_item),
    WithJsonSchema(
        {
            "type": "string",
            "minLength": 1,
            "maxLength": MAX_INPUT_LENGTH,
            "pattern": PHONE_INPUT_PATTERN,
            "description": (
                "A phone number: (86)13800138000, (0086)13800138000, +8613800138000, "
                "008613800138000, or a national number (takes the gateway's default "
                "country code). Spaces, dashes, dots and brackets are ignored."
            ),
        }
    ),
]
_ParamItem = Annotated[
    str,
    PlainValidator(_param_item),
    WithJsonSchema({"anyOf": [{"type": "string"}, {"type": "integer"}]}),
]


# The rules a recipient shares with the message's top level.
_ExtendCodeText = Annotated[str, Field(pattern=r"^[0-9]+$")]
_UserIdText = Annotated[
    str,
    Field(max_length=MAX_USER_ID_LENGTH, pattern="^[^'\"]*$"),
    AfterValidator(_no_emoji),
]
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
        _PhoneItem,
        Field(alias="PhoneNumber", description="The recipient's phone number (as PhoneNumbers)."),
    ]
    template_params: Annotated[
        list[_ParamItem] | None,
        Field(alias="TemplateParams", description=_TEMPLATE_PARAMS_TEXT),
    ] = None
    extend_code: Annotated[
        _ExtendCodeText | None,
        Field(alias="ExtendCode", description=_EXTEND_CODE_TEXT + " Default: the message's."),
    ] = None
    user_id: Annotated[
        _UserIdText | None,
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
    parameters (the ctx names both positions; `_field_error` turns it into the path)."""
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
            list[_PhoneItem],
            Field(min_length=1, max_length=MAX_PHONE_NUMBERS),
            WrapValidator(_cap_count),
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
            WrapValidator(_cap_count),
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
        list[_ParamItem] | None,
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
        _ExtendCodeText | None,
        Field(alias="ExtendCode", description=_EXTEND_CODE_TEXT),
    ] = None
    user_id: Annotated[
        _UserIdText | None,
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

    @model_validator(mode="before")
    @classmethod
    def _check_form(cls, data: Any, info: ValidationInfo) -> Any:
        # Field validation goes on whatever this finds: every broken rule is reported at once.
        if isinstance(data, dict) and isinstance(info.context, dict):
            info.context[_FORM_ERRORS] = _form_errors(data)
        return data


def _form_errors(data: Mapping[str, Any]) -> list[FieldError]:
    """Exactly one of PhoneNumbers and Recipients (null counts as absent), and no top-level
    TemplateParams beside Recipients."""
    numbers, recipients = data.get("PhoneNumbers") is not None, data.get("Recipients") is not None
    errors: list[FieldError] = []
    if numbers and recipients:
        errors.append(
            FieldError(
                "Recipients",
                "conflicting_fields",
                "must not be given together with PhoneNumbers: give exactly one of "
                "PhoneNumbers and Recipients",
            )
        )
    elif not numbers and not recipients:
        errors.append(
            FieldError(
                "PhoneNumbers",
                "required",
                "is required (or Recipients instead): give exactly one of PhoneNumbers and "
                "Recipients",
            )
        )
    if recipients and data.get("TemplateParams") is not None:
        errors.append(
            FieldError(
                "TemplateParams",
                "conflicting_fields",
                "must not be given together with Recipients: give each recipient its own "
                "TemplateParams",
            )
        )
    return errors


def _field_names(model: type[BaseModel]) -> tuple[str, ...]:
    return tuple(info.alias or name for name, info in model.model_fields.items())


_FIELD_NAMES: Final = _field_names(_MessageInput)
# The message's field names (USpeedo's own, plus IdempotencyKey and Recipients).
MESSAGE_FIELDS: Final = _FIELD_NAMES
_RECIPIENT_FIELD_NAMES: Final = _field_names(_RecipientInput)
# Paths (list indices as `[]`) that must hold a value: null there is "required", not a type
# error. PhoneNumbers and Recipients are the form's business (`_form_errors`).
_REQUIRED: Final = frozenset({"TemplateId", "Recipients[].PhoneNumber"})


# ---------------------------------------------------------------------------------------
# The result.


@dataclass(frozen=True, slots=True, repr=False)
class Recipient:
    """One number and what it gets: its own parameters, or (as a target of the whole
    message) the message's. Template parameters as strings, None when there are none."""

    phone_number: str
    template_params: tuple[str, ...] | None = None
    extend_code: str | None = None
    user_id: str | None = None

    def as_json(self) -> dict[str, Any]:
        """`{PhoneNumber, TemplateParams?, ExtendCode?, UserId?}`, None fields left out."""
        fields: dict[str, Any] = {"PhoneNumber": self.phone_number}
        for key, value in (
            ("TemplateParams", list(self.template_params) if self.template_params else None),
            ("ExtendCode", self.extend_code),
            ("UserId", self.user_id),
        ):
            if value is not None:
                fields[key] = value
        return fields

    def __repr__(self) -> str:
        # Numbers masked, parameter values hidden: a recipient may end up in a log line.
        params = "None" if self.template_params is None else f"<{len(self.template_params)}>"
        return (
            f"Recipient(phone_number={mask_phone(self.phone_number)!r}, "
            f"template_params={params}, extend_code={self.extend_code!r}, "
            f"user_id={self.user_id!r})"
        )


@dataclass(frozen=True, slots=True, repr=False)
class Message:
    """A valid message, normalised: phone numbers as `(CC)national`, duplicates dropped,
    template parameters as strings (None when there are none).

    A personalised message has `recipients` (their own parameters; `phone_numbers` are
    their numbers, in order, and `template_params` is None); an ordinary one has None.
    """

    phone_numbers: tuple[str, ...]
    template_id: str
    template_params: tuple[str, ...] | None = None
    sender_id: str | None = None
    extend_code: str | None = None
    user_id: str | None = None
    account_id: int | None = None
    idempotency_key: str | None = None
    recipients: tuple[Recipient, ...] | None = None

    @property
    def phone_count(self) -> int:
        """How many distinct numbers the message goes to."""
        return len(self.phone_numbers)

    @property
    def personalised(self) -> bool:
        """Whether each number has its own parameters (the `Recipients` form)."""
        return self.recipients is not None

    def targets(self) -> tuple[Recipient, ...]:
        """What each number gets, in order: its own parameters, with the message's
        `ExtendCode` and `UserId` where it has none; every number the message's parameters
        when the message is not personalised."""
        if self.recipients is None:
            return tuple(
                Recipient(number, self.template_params, self.extend_code, self.user_id)
                for number in self.phone_numbers
            )
        return tuple(
            Recipient(
                r.phone_number,
                r.template_params,
                r.extend_code if r.extend_code is not None else self.extend_code,
                r.user_id if r.user_id is not None else self.user_id,
            )
            for r in self.recipients
        )

    def _fields_but_numbers(self) -> dict[str, Any]:
        """USpeedo's fields other than PhoneNumbers, leaving out those that are None (a
        null field would change the signature)."""
        fields: dict[str, Any] = {"TemplateId": self.template_id}
        if self.template_params is not None:
            fields["TemplateParams"] = list(self.template_params)
        for key, value in (
            ("SenderId", self.sender_id),
            ("ExtendCode", self.extend_code),
            ("UserId", self.user_id),
            ("AccountId", self.account_id),
        ):
            if value is not None:
                fields[key] = value
        return fields

    def upstream_requests(self, max_numbers: int = MAX_NUMBERS_PER_CALL) -> list[dict[str, Any]]:
        """The SendUSMSMessage request bodies, one per chunk of at most `max_numbers`
        consecutive numbers, every other field repeated in each.

        Without `Action` (the client adds it), without `IdempotencyKey` (the gateway's own)
        and without None fields. `AccountId` appears only if the message has one; a default
        from the secret is the caller's to add. A personalised message cannot be written as
        SendUSMSMessage (`ValueError`): see `sms_gateway.batch_action`.
        """
        if max_numbers < 1:
            raise ValueError("max_numbers must be at least 1")
        if self.recipients is not None:
            raise ValueError("a message with Recipients goes upstream as SendBatchUSMSMessage")
        rest = self._fields_but_numbers()
        numbers = self.phone_numbers
        return [
            {"PhoneNumbers": list(numbers[start : start + max_numbers]), **rest}
            for start in range(0, len(numbers), max_numbers)
        ]

    def canonical_text(self) -> str:
        """The normalised message as canonical JSON, the input of its fingerprint.

        Sorted keys, no spaces, UTF-8, USpeedo's fields as they would be sent, None fields
        left out, `IdempotencyKey` excluded: the same message written differently (number
        format, duplicates, int or string parameters, key order, with or without `Action`)
        has the same text. The order of numbers counts. A personalised message covers each
        recipient's own fields (`Recipients`) instead of `PhoneNumbers`.
        """
        numbers: dict[str, Any] = (
            {"PhoneNumbers": list(self.phone_numbers)}
            if self.recipients is None
            else {"Recipients": [r.as_json() for r in self.recipients]}
        )
        canonical = {**numbers, **self._fields_but_numbers()}
        return json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=False)

    def fingerprint(self, key: GatewayKey) -> str:
        """HMAC-SHA-256 (hex) of `canonical_text()` under the gateway key: the default
        idempotency key and the payload-validation hash. Keyed, because the text holds
        numbers and one-time codes that an unkeyed hash would give back to brute force."""
        return key.digest(self.canonical_text())

    def __repr__(self) -> str:
        # A message may end up in a log line: numbers masked, parameter values hidden.
        shown = ", ".join(mask_phone(n) for n in self.phone_numbers[:3])
        more = ", …" if self.phone_count > 3 else ""
        params = "None" if self.template_params is None else f"<{len(self.template_params)}>"
        recipients = "" if self.recipients is None else f"recipients=<{len(self.recipients)}>, "
        return (
            f"Message(phone_count={self.phone_count}, phone_numbers=({shown}{more}), "
            f"{recipients}template_id={self.template_id!r}, template_params={params}, "
            f"sender_id={self.sender_id!r}, extend_code={self.extend_code!r}, "
            f"user_id={self.user_id!r}, account_id={self.account_id!r}, "
            f"idempotency_key={self.idempotency_key!r})"
        )


# ---------------------------------------------------------------------------------------
# Parsing and error translation.


def parse_message(
    data: Mapping[str, Any] | str | bytes, *, default_country_code: str = _DEFAULT_COUNTRY_CODE
) -> Message:
    """Validate a message (a mapping, or its JSON text) and return it normalised.

    `default_country_code` applies to numbers given without one (`DEFAULT_COUNTRY_CODE`;
    `"86"`, `"+86"` and `"0086"` all mean China). Raises `MessageValidationError` listing
    every broken rule (at most one per field or list item; the message's form first), and
    `ValueError` if `default_country_code` is not an assigned country code (configuration,
    not the message's fault).
    """
    context: dict[str, Any] = {_CONTEXT_KEY: validate_country_code(default_country_code)}
    errors: list[FieldError] = []
    parsed: _MessageInput | None = None
    try:
        body = _readable_body(data)
    except UnreadableJsonError as exc:
        # Refused before pydantic sees it: a nesting bomb would otherwise reach a recursive
        # walk (pydantic's, the signature's, a log line's) as a bare RecursionError.
        raise MessageValidationError([_unreadable_body_error(exc)]) from None
    try:
        parsed = _MessageInput.model_validate(body, context=context)
    except ValidationError as exc:
        errors = [_field_error(e) for e in exc.errors(include_url=False, include_input=True)]
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
        recipients=recipients,
    )


def _readable_body(data: Any) -> Any:
    """The message as Python values: JSON text parsed, a mapping copied into the plain
    dict strict mode takes, its nesting bounded either way (`json_input`)."""
    if isinstance(data, str | bytes):
        return load_json(data)
    body = dict(data) if isinstance(data, Mapping) else data
    check_depth(body)
    return body


def _unreadable_body_error(error: UnreadableJsonError) -> FieldError:
    if error.rule == NOT_JSON:
        rule, message = _BUILTIN["json_invalid"]
        return FieldError(ROOT, rule, message)
    return FieldError(ROOT, error.rule, f"the body {error}")


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


# Errors our own validators raise: their message is already ours.
_OWN_RULES: Final = PHONE_RULES | {
    "too_many_items",
    "emoji_not_allowed",
    "not_a_string_or_integer",
    "invalid_text",
    "duplicate_recipient",
}

# pydantic's built-in error types → (rule, message). Messages may use the error's context.
_BUILTIN: Final[dict[str, tuple[str, str]]] = {
    "missing": ("required", "is required"),
    "extra_forbidden": ("unknown_field", ""),  # built in _unknown_field_message
    "string_type": ("not_a_string", "must be a string"),
    "string_unicode": ("invalid_text", _INVALID_TEXT),
    "int_type": ("not_an_integer", "must be an integer (a JSON number without a fraction)"),
    "int_from_float": ("not_an_integer", "must be an integer (a JSON number without a fraction)"),
    "int_parsing": ("not_an_integer", "must be an integer (a JSON number without a fraction)"),
    "list_type": ("not_a_list", "must be a list"),
    "too_short": ("too_few_items", "must have at least {min_length} item"),
    "too_long": ("too_many_items", "must have at most {max_length:,} items"),
    "string_too_short": ("empty", "must not be empty"),
    "string_too_long": ("too_long", "must be at most {max_length} characters"),
    "greater_than_equal": ("not_positive", "must be a positive integer"),
    "less_than_equal": ("too_large", "must be at most {le}"),
    "literal_error": ("not_allowed_value", "is not one of the allowed values"),
    "json_invalid": ("not_json", "the body must be a JSON object; it is not valid JSON"),
    "json_type": ("not_json", "the body must be a JSON object; it is not valid JSON"),
    "model_type": ("not_an_object", "the body must be a JSON object"),
    "dict_type": ("not_an_object", "the body must be a JSON object"),
    "model_attributes_type": ("not_an_object", "the body must be a JSON object"),
}
# The same pydantic error means different rules in different fields (by the field's own
# name: a recipient's ExtendCode follows the message's).
_BY_FIELD: Final[dict[tuple[str, str], tuple[str, str]]] = {
    ("TemplateId", "string_pattern_mismatch"): ("empty", "must not be empty or whitespace only"),
    ("ExtendCode", "string_pattern_mismatch"): ("not_digits", "must be ASCII digits (0-9) only"),
    ("Action", "literal_error"): ("unsupported_action", f"must be {ACTION} when present"),
    ("UserId", "string_pattern_mismatch"): (
        "quote_not_allowed",
        "must not contain single or double quotes",
    ),
}


def _path(loc: tuple[int | str, ...]) -> str:
    """`("PhoneNumbers", 3)` → `PhoneNumbers[3]`; `()` → `$`; nested objects dotted."""
    if not loc:
        return ROOT
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            name = part if len(part) <= _MAX_NAME_SHOWN else part[:_MAX_NAME_SHOWN] + "…"
            if not name.strip() or not name.isprintable():
                # An empty, blank or unprintable key would leave the error naming no
                # field: show it quoted and escaped. (Found by tests/reliability/test_fuzz.)
                name = json.dumps(name)
            out += f".{name}" if out else name
    return out


def _field_error(error: ErrorDetails) -> FieldError:
    loc = error["loc"]
    field = _path(loc)
    kind = error["type"]
    if kind == "duplicate_recipient":
        # Raised on the whole list: point at the repeat's number instead.
        index = error.get("ctx", {}).get("index")
        return FieldError(f"Recipients[{index}].PhoneNumber", kind, error["msg"])
    if _shape(loc) in _REQUIRED and error["input"] is None:
        return FieldError(field, "required", "is required and must not be null")
    if kind in _OWN_RULES:
        return FieldError(field, kind, error["msg"])
    if kind == "extra_forbidden":
        allowed = _FIELD_NAMES if len(loc) == 1 else _RECIPIENT_FIELD_NAMES
        return FieldError(field, "unknown_field", _unknown_field_message(str(loc[-1]), allowed))
    if field != ROOT and kind in ("model_type", "dict_type", "model_attributes_type"):
        return FieldError(field, "not_an_object", "must be a JSON object")
    name = next((part for part in reversed(loc) if isinstance(part, str)), "")
    rule, template = _BY_FIELD.get((name, kind)) or _BUILTIN.get(kind, ("invalid", ""))
    if not template:
        # An error type not mapped above: name it, never pydantic's text (it may quote).
        return FieldError(field, rule, f"is invalid ({kind})")
    return FieldError(field, rule, template.format(**error.get("ctx", {})))


def _shape(loc: tuple[int | str, ...]) -> str:
    """The path with list indices left empty: `Recipients[3].PhoneNumber` →
    `Recipients[].PhoneNumber`."""
    return "".join(
        "[]" if isinstance(part, int) else (f".{part}" if i else part) for i, part in enumerate(loc)
    )


def _unknown_field_message(name: str, allowed: tuple[str, ...]) -> str:
    """Name the allowed fields, and the likely intended one for a typo or wrong case."""
    import difflib  # only on this error path: keeps the module's import light

    folded = {f.casefold(): f for f in allowed}
    key = name.casefold().replace("_", "")
    close = difflib.get_close_matches(key, list(folded), n=1, cutoff=0.8)
    guess = folded[key] if key in folded else folded[close[0]] if close else None
    hint = f" (did you mean {guess}?)" if guess else ""
    return f"unknown field{hint}; allowed fields are {', '.join(allowed)}"
