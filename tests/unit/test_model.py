"""The message contract: every rule with the exact error it gets, normalisation, the
fingerprint, and what errors must never repeat. (The upstream requests: test_upstream.)"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import types
from typing import Any

import pytest

from sms_gateway.errors import FieldError, MessageValidationError
from sms_gateway.gateway_key import GatewayKey
from sms_gateway.message import Message
from sms_gateway.message_input import parse_message

SEED_BODY = (
    '{"Action":"SendUSMSMessage","AccountId":123,"PhoneNumbers":["13800138000","13100131000"],'
    '"TemplateParams":[123456,10],"SenderId":"UCloud","TemplateId":"UTA20210101xxxx",'
    '"UserId":"hGBCrtQw"}'
)
MINIMAL: dict[str, Any] = {"PhoneNumbers": ["13800138000"], "TemplateId": "UTA1"}


def numbers(count: int) -> list[str]:
    """`count` distinct valid mainland mobile numbers, bare (national) form."""
    return [f"138{i:08d}" for i in range(count)]


def errors_of(data: Any) -> list[tuple[str, str]]:
    with pytest.raises(MessageValidationError) as caught:
        parse_message(data)
    return [(e.field, e.rule) for e in caught.value.errors]


def with_(**fields: Any) -> dict[str, Any]:
    return {**MINIMAL, **fields}


# ---------------------------------------------------------------------------------------
# Valid messages


def test_seed_curl_body_parses() -> None:
    message = parse_message(SEED_BODY)
    assert message == Message(
        phone_numbers=("(86)13800138000", "(86)13100131000"),
        template_id="UTA20210101xxxx",
        template_params=("123456", "10"),
        sender_id="UCloud",
        user_id="hGBCrtQw",
        account_id=123,
    )
    assert message.phone_count == 2


def test_mapping_str_and_bytes_inputs_agree() -> None:
    body = json.loads(SEED_BODY)
    expected = parse_message(SEED_BODY)
    assert parse_message(SEED_BODY.encode()) == expected
    assert parse_message(body) == expected
    assert parse_message(types.MappingProxyType(body)) == expected


def test_lone_surrogates_never_get_through() -> None:
    # json.loads accepts "\ud83d"; the result could not be encoded as UTF-8 to send.
    body = '{"PhoneNumbers":["13800138000"],"TemplateId":"T","TemplateParams":["\\ud83d"]}'
    # The same answer whichever door parsed the JSON: the field is named.
    assert errors_of(json.loads(body)) == [("TemplateParams[0]", "invalid_text")]
    assert errors_of(body) == [("TemplateParams[0]", "invalid_text")]


def test_explicit_null_optional_fields_mean_absent() -> None:
    nulls = dict.fromkeys(
        [
            "TemplateParams",
            "SenderId",
            "ExtendCode",
            "UserId",
            "AccountId",
            "Action",
            "IdempotencyKey",
        ]
    )
    assert parse_message(with_(**nulls)) == parse_message(MINIMAL)
    assert parse_message(MINIMAL) == Message(("(86)13800138000",), "UTA1")


def test_duplicates_dropped_after_normalisation_first_order_kept() -> None:
    message = parse_message(
        with_(
            PhoneNumbers=[
                "13100131000",
                "+86 138 0013 8000",
                "(86)13100131000",
                "008613800138000",
                "+447400123456",
                "13800138000",
            ]
        )
    )
    assert message.phone_numbers == ("(86)13100131000", "(86)13800138000", "(44)7400123456")
    assert message.phone_count == 3


def test_all_optional_fields_at_their_limits() -> None:
    message = parse_message(
        with_(
            TemplateParams=["x", 0, -5, 12345678901234567890, ""],
            SenderId="A" * 11,
            ExtendCode="0123",
            UserId="订单-" + "9" * 29,
            AccountId=2**63 - 1,
            Action="SendUSMSMessage",
            IdempotencyKey="k" * 128,
        )
    )
    assert message.template_params == ("x", "0", "-5", "12345678901234567890", "")
    assert message.sender_id == "A" * 11
    assert message.extend_code == "0123"
    assert message.user_id == "订单-" + "9" * 29
    assert message.account_id == 2**63 - 1
    assert message.idempotency_key == "k" * 128


def test_empty_template_params_means_none() -> None:
    assert parse_message(with_(TemplateParams=[])).template_params is None


def test_default_country_code_applies_to_bare_numbers_only() -> None:
    message = parse_message(
        with_(PhoneNumbers=["07400 123456", "+8613800138000"]), default_country_code="+44"
    )
    assert message.phone_numbers == ("(44)7400123456", "(86)13800138000")
    with pytest.raises(ValueError, match="not an assigned country calling code"):
        parse_message(MINIMAL, default_country_code="999")


def test_message_is_immutable() -> None:
    message = parse_message(MINIMAL)
    with pytest.raises(dataclasses.FrozenInstanceError):
        message.template_id = "other"  # type: ignore[misc]


def test_repr_masks_numbers_and_hides_params() -> None:
    text = repr(parse_message(with_(PhoneNumbers=numbers(5), TemplateParams=["483920"])))
    assert "13800000000" not in text
    assert "*******0000" in text
    assert "483920" not in text
    assert "phone_count=5" in text


# ---------------------------------------------------------------------------------------
# Every rule: an invalid example and the exact error it gets.


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        # The body as a whole
        ("{", [("$", "not_json")]),
        (b"\xff\xfe", [("$", "not_json")]),
        ("[1, 2]", [("$", "not_an_object")]),
        ('"text"', [("$", "not_an_object")]),
        ([MINIMAL], [("$", "not_an_object")]),
        (None, [("$", "not_an_object")]),
        # PhoneNumbers
        ({"TemplateId": "T"}, [("PhoneNumbers", "required")]),
        (with_(PhoneNumbers=None), [("PhoneNumbers", "required")]),
        (with_(PhoneNumbers="13800138000"), [("PhoneNumbers", "not_a_list")]),
        (with_(PhoneNumbers=[]), [("PhoneNumbers", "too_few_items")]),
        (with_(PhoneNumbers=[13800138000]), [("PhoneNumbers[0]", "phone_not_a_string")]),
        (with_(PhoneNumbers=["13800138000", ""]), [("PhoneNumbers[1]", "phone_empty")]),
        (with_(PhoneNumbers=["138-0013-800x"]), [("PhoneNumbers[0]", "phone_bad_characters")]),
        (with_(PhoneNumbers=["86+13800138000"]), [("PhoneNumbers[0]", "phone_bad_format")]),
        (
            with_(PhoneNumbers=["(999)13800138000"]),
            [("PhoneNumbers[0]", "phone_unknown_country_code")],
        ),
        (with_(PhoneNumbers=["+861"]), [("PhoneNumbers[0]", "phone_too_short")]),
        (with_(PhoneNumbers=["1" * 70]), [("PhoneNumbers[0]", "phone_too_long")]),
        (with_(PhoneNumbers=["1380013800"]), [("PhoneNumbers[0]", "phone_invalid")]),
        # TemplateId
        ({"PhoneNumbers": ["13800138000"]}, [("TemplateId", "required")]),
        (with_(TemplateId=None), [("TemplateId", "required")]),
        (with_(TemplateId=""), [("TemplateId", "empty")]),
        (with_(TemplateId=" \t "), [("TemplateId", "empty")]),
        (with_(TemplateId=42), [("TemplateId", "not_a_string")]),
        # TemplateParams
        (with_(TemplateParams="123456"), [("TemplateParams", "not_a_list")]),
        (with_(TemplateParams=[True]), [("TemplateParams[0]", "not_a_string_or_integer")]),
        (with_(TemplateParams=["a", 1.5]), [("TemplateParams[1]", "not_a_string_or_integer")]),
        (with_(TemplateParams=[None]), [("TemplateParams[0]", "not_a_string_or_integer")]),
        (with_(TemplateParams=[[1]]), [("TemplateParams[0]", "not_a_string_or_integer")]),
        (with_(TemplateParams=[{"a": 1}]), [("TemplateParams[0]", "not_a_string_or_integer")]),
        (with_(TemplateParams=["ok", "\udc00"]), [("TemplateParams[1]", "invalid_text")]),
        # SenderId
        (with_(SenderId="A" * 12), [("SenderId", "too_long")]),
        (with_(SenderId=7), [("SenderId", "not_a_string")]),
        # ExtendCode
        (with_(ExtendCode=""), [("ExtendCode", "not_digits")]),
        (with_(ExtendCode="12a"), [("ExtendCode", "not_digits")]),
        (with_(ExtendCode="１２"), [("ExtendCode", "not_digits")]),  # full-width digits
        (with_(ExtendCode="12\n"), [("ExtendCode", "not_digits")]),
        (with_(ExtendCode=12), [("ExtendCode", "not_a_string")]),
        # UserId
        (with_(UserId="u" * 33), [("UserId", "too_long")]),
        (with_(UserId="it's"), [("UserId", "quote_not_allowed")]),
        (with_(UserId='say "hi"'), [("UserId", "quote_not_allowed")]),
        (with_(UserId="order😀"), [("UserId", "emoji_not_allowed")]),
        (with_(UserId="sun☀"), [("UserId", "emoji_not_allowed")]),
        (with_(UserId="heart❤\ufe0f"), [("UserId", "emoji_not_allowed")]),
        (with_(UserId="𝔘ser"), [("UserId", "emoji_not_allowed")]),  # outside the BMP
        (with_(UserId=123), [("UserId", "not_a_string")]),
        (with_(UserId="a\ud83d"), [("UserId", "invalid_text")]),  # a lone surrogate
        # AccountId: JSON integers only
        (with_(AccountId="123"), [("AccountId", "not_an_integer")]),
        (with_(AccountId=True), [("AccountId", "not_an_integer")]),
        (with_(AccountId=123.0), [("AccountId", "not_an_integer")]),
        (with_(AccountId=0), [("AccountId", "not_positive")]),
        (with_(AccountId=-5), [("AccountId", "not_positive")]),
        (with_(AccountId=2**63), [("AccountId", "too_large")]),
        # Action
        (with_(Action="SendBatchUSMSMessage"), [("Action", "unsupported_action")]),
        (with_(Action="sendusmsmessage"), [("Action", "unsupported_action")]),
        # IdempotencyKey
        (with_(IdempotencyKey=""), [("IdempotencyKey", "empty")]),
        (with_(IdempotencyKey="k" * 129), [("IdempotencyKey", "too_long")]),
        (with_(IdempotencyKey=5), [("IdempotencyKey", "not_a_string")]),
        (with_(TimeToLive=0), [("TimeToLive", "not_positive")]),
        (with_(TimeToLive=259_201), [("TimeToLive", "too_large")]),
        (with_(TimeToLive="60"), [("TimeToLive", "not_an_integer")]),
        (with_(TimeToLive=1.5), [("TimeToLive", "not_an_integer")]),
        # Unknown fields, including the snake_case names
        (with_(phone_numbers=["13800138000"]), [("phone_numbers", "unknown_field")]),
        (with_(TemplateParam=["1"]), [("TemplateParam", "unknown_field")]),
    ],
)
def test_rule(data: Any, expected: list[tuple[str, str]]) -> None:
    assert errors_of(data) == expected


def test_json_text_is_as_strict_as_a_mapping() -> None:
    assert errors_of('{"PhoneNumbers":["13800138000"],"TemplateId":"T","AccountId":1.0}') == [
        ("AccountId", "not_an_integer")
    ]
    assert errors_of(
        '{"PhoneNumbers":["13800138000"],"TemplateId":"T","TemplateParams":[true]}'
    ) == [("TemplateParams[0]", "not_a_string_or_integer")]


def test_every_broken_rule_is_reported_at_once() -> None:
    data = {
        "Action": "Send",
        "PhoneNumbers": ["13800138000", "abc", 5, "(999)1234567", "13800138000"],
        "TemplateId": "  ",
        "TemplateParams": ["ok", False],
        "SenderId": "S" * 12,
        "ExtendCode": "x",
        "UserId": "o'brien",
        "AccountId": "7",
        "IdempotencyKey": "",
        "Sender": "typo",
    }
    assert errors_of(data) == [
        ("PhoneNumbers[1]", "phone_bad_characters"),
        ("PhoneNumbers[2]", "phone_not_a_string"),
        ("PhoneNumbers[3]", "phone_unknown_country_code"),
        ("TemplateId", "empty"),
        ("TemplateParams[1]", "not_a_string_or_integer"),
        ("SenderId", "too_long"),
        ("ExtendCode", "not_digits"),
        ("UserId", "quote_not_allowed"),
        ("AccountId", "not_an_integer"),
        ("Action", "unsupported_action"),
        ("IdempotencyKey", "empty"),
        ("Sender", "unknown_field"),
    ]


def test_both_required_fields_missing() -> None:
    assert errors_of({}) == [("PhoneNumbers", "required"), ("TemplateId", "required")]


def test_error_messages_name_the_rule() -> None:
    with pytest.raises(MessageValidationError) as caught:
        parse_message(
            with_(SenderId="S" * 12, UserId="u" * 33, phoneNumbers=[], Foo=1, AccountId=0)
        )
    messages = {e.field: e.message for e in caught.value.errors}
    assert messages["SenderId"] == "must be at most 11 characters"
    assert messages["UserId"] == "must be at most 32 characters"
    assert messages["AccountId"] == "must be a positive integer"
    assert messages["phoneNumbers"].startswith("unknown field (did you mean PhoneNumbers?);")
    assert messages["Foo"] == (
        "unknown field; allowed fields are PhoneNumbers, Recipients, TemplateId, "
        "TemplateParams, SenderId, ExtendCode, UserId, AccountId, Action, IdempotencyKey, "
        "TimeToLive"
    )
    assert caught.value.code == "InvalidMessage"
    assert not caught.value.retryable


def test_long_unknown_field_names_are_shortened() -> None:
    [error] = errors_of(with_(**{"X" * 1000: 1}))
    assert error == ("X" * 64 + "…", "unknown_field")


def test_error_messages_never_echo_submitted_values() -> None:
    secret_phone = "+86 138-0013-800x"
    secret_params = [3.14159, True]
    with pytest.raises(MessageValidationError) as caught:
        parse_message(
            {
                "PhoneNumbers": [secret_phone, "(999)13800138000", "138001380001", 13912345678],
                "TemplateId": 9876543,
                "TemplateParams": secret_params,
                "SenderId": "TOPSECRETSENDER",
                "UserId": "user'482913",
                "ExtendCode": "55x55",
                "AccountId": "31415926",
                "Action": "LeakAction",
                "IdempotencyKey": "K" * 200,
            }
        )
    text = str(caught.value) + " ".join(
        f"{e.field} {e.rule} {e.message}" for e in caught.value.errors
    )
    for value in (
        "138-0013",
        "13800138000",
        "138001380001",
        "13912345678",
        "9876543",
        "3.14159",
        "True",
        "TOPSECRET",
        "482913",
        "55x55",
        "31415926",
        "LeakAction",
        "KKKK",
    ):
        assert value not in text
    assert len(caught.value.errors) == 13
    # The pydantic error (which quotes every input) is not chained to ours.
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__


def test_field_error_shape() -> None:
    with pytest.raises(MessageValidationError) as caught:
        parse_message(with_(PhoneNumbers=["13800138000", "1"]))
    [error] = caught.value.errors
    assert isinstance(error, FieldError)
    assert error.as_dict() == {
        "Field": "PhoneNumbers[1]",
        "Rule": "phone_too_short",
        "Message": "is too short to be a phone number of its country",
    }


# ---------------------------------------------------------------------------------------
# Size limits


def test_more_than_ten_thousand_numbers_rejected() -> None:
    assert errors_of(with_(PhoneNumbers=numbers(10_001))) == [("PhoneNumbers", "too_many_items")]
    # Counted before normalising, and even if they are all bad.
    assert errors_of(with_(PhoneNumbers=["x"] * 20_000)) == [("PhoneNumbers", "too_many_items")]


def test_ten_thousand_duplicates_count_as_the_input_list() -> None:
    message = parse_message(with_(PhoneNumbers=["13800138000"] * 10_000))
    assert message.phone_numbers == ("(86)13800138000",)


# ---------------------------------------------------------------------------------------
# Fingerprint


KEY = GatewayKey("k" * 32)


def test_fingerprint_is_an_hmac_of_the_canonical_json_under_the_gateway_key() -> None:
    canonical = (
        '{"AccountId":123,"PhoneNumbers":["(86)13800138000","(86)13100131000"],'
        '"SenderId":"UCloud","TemplateId":"UTA20210101xxxx","TemplateParams":["123456","10"],'
        '"UserId":"hGBCrtQw"}'
    )
    message = parse_message(SEED_BODY)
    assert message.canonical_text() == canonical
    expected = hmac.new(b"k" * 32, canonical.encode(), hashlib.sha256).hexdigest()
    assert message.fingerprint(KEY) == expected
    # Not the unkeyed hash, and another key gives another fingerprint.
    assert message.fingerprint(KEY) != hashlib.sha256(canonical.encode()).hexdigest()
    assert message.fingerprint(GatewayKey("j" * 32)) != expected


def test_fingerprint_ignores_how_the_message_is_written() -> None:
    written_differently = {
        "UserId": "hGBCrtQw",
        "TemplateId": "UTA20210101xxxx",
        "SenderId": "UCloud",
        "TemplateParams": ["123456", "10"],
        "PhoneNumbers": ["+86 138 0013 8000", "(0086)13100131000", "13800138000"],
        "AccountId": 123,
        "IdempotencyKey": "a key is not part of the message",
        "ExtendCode": None,
    }
    assert parse_message(written_differently).fingerprint(KEY) == parse_message(
        SEED_BODY
    ).fingerprint(KEY)


@pytest.mark.parametrize(
    "change",
    [
        {"PhoneNumbers": ["13100131000", "13800138000"]},  # order counts
        {"PhoneNumbers": ["13800138000"]},
        {"TemplateParams": [123456, 11]},
        {"TemplateParams": None},
        {"TemplateId": "UTA20210101xxxy"},
        {"SenderId": None},
        {"UserId": "other"},
        {"AccountId": None},
        {"ExtendCode": "1"},
    ],
)
def test_fingerprint_changes_with_the_message(change: dict[str, Any]) -> None:
    base = json.loads(SEED_BODY)
    assert parse_message(base | change).fingerprint(KEY) != parse_message(base).fingerprint(KEY)


def test_messages_are_checked_one_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """A batch's records run on threads; their numbers are checked one message at a time,
    so the first record's calls can leave while the next is checked."""
    import threading
    import time
    from concurrent.futures import ThreadPoolExecutor

    from sms_gateway.phone import normalize_phone

    checking = 0
    most = 0
    count_lock = threading.Lock()

    def slow_check(raw: str, default_cc: str) -> str:
        nonlocal checking, most
        with count_lock:
            checking += 1
            most = max(most, checking)
        time.sleep(0.005)  # a check long enough for another thread to start one
        with count_lock:
            checking -= 1
        return normalize_phone(raw, default_cc)

    monkeypatch.setattr("sms_gateway.input_fields.normalize_phone", slow_check)
    message = with_(PhoneNumbers=numbers(5))
    with ThreadPoolExecutor(4) as pool:
        parsed = list(pool.map(lambda _: parse_message(message), range(4)))
    assert most == 1
    assert {len(p.phone_numbers) for p in parsed} == {5}
