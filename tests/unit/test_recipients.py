"""The Recipients form of the message: the same rules as the top level with errors that
name the recipient, exactly one of the two forms, duplicates, what each number gets, the
fingerprint, and the SendBatchUSMSMessage requests it becomes."""

from __future__ import annotations

import json
from typing import Any

import pytest

from sms_gateway import upstream
from sms_gateway.errors import MessageValidationError
from sms_gateway.gateway_key import GatewayKey
from sms_gateway.message import Message, Recipient
from sms_gateway.message_input import parse_message


def personal(*recipients: Any, **fields: Any) -> dict[str, Any]:
    chosen = list(recipients) or [{"PhoneNumber": "13800138000", "TemplateParams": ["1"]}]
    return {"TemplateId": "UTA1", "Recipients": chosen, **fields}


def errors_of(data: Any) -> list[tuple[str, str]]:
    with pytest.raises(MessageValidationError) as caught:
        parse_message(data)
    return [(e.field, e.rule) for e in caught.value.errors]


def numbers(count: int) -> list[str]:
    return [f"139{i:08d}" for i in range(count)]


# --- valid personalised messages -------------------------------------------------------------


def test_recipients_are_normalised_like_phone_numbers() -> None:
    message = parse_message(
        personal(
            {"PhoneNumber": "+86 139 1234 0001", "TemplateParams": ["Ann", 42]},
            {"PhoneNumber": "(1)4155550142", "ExtendCode": "07", "UserId": "u-2"},
            {"PhoneNumber": "13912340003", "TemplateParams": []},
        )
    )

    assert message.personalised
    assert message.recipients == (
        Recipient("(86)13912340001", ("Ann", "42")),
        Recipient("(1)4155550142", None, "07", "u-2"),
        Recipient("(86)13912340003", None),
    )
    assert message.phone_numbers == ("(86)13912340001", "(1)4155550142", "(86)13912340003")
    assert message.phone_count == 3
    assert message.template_params is None


def test_a_null_phone_numbers_beside_recipients_means_absent() -> None:
    assert parse_message(personal(PhoneNumbers=None, TemplateParams=None)) == parse_message(
        personal()
    )


def test_each_number_gets_its_own_parameters_and_the_messages_defaults() -> None:
    message = parse_message(
        personal(
            {"PhoneNumber": "13912340001", "TemplateParams": ["a"]},
            {"PhoneNumber": "13912340002", "ExtendCode": "9", "UserId": "own"},
            ExtendCode="1",
            UserId="campaign",
        )
    )

    assert message.targets() == (
        Recipient("(86)13912340001", ("a",), "1", "campaign"),
        Recipient("(86)13912340002", None, "9", "own"),
    )
    assert message.user_id == "campaign"  # the result's UserId


def test_an_ordinary_message_gives_every_number_its_parameters() -> None:
    message = parse_message(
        {"PhoneNumbers": ["13912340001", "13912340002"], "TemplateId": "T", "TemplateParams": [7]}
    )

    assert not message.personalised
    assert message.targets() == (
        Recipient("(86)13912340001", ("7",)),
        Recipient("(86)13912340002", ("7",)),
    )


def test_repr_masks_recipients() -> None:
    message = parse_message(personal({"PhoneNumber": "13912340001", "TemplateParams": ["483920"]}))

    text = repr(message) + repr(message.recipients)
    assert "13912340001" not in text
    assert "483920" not in text
    assert "*******0001" in text
    assert "recipients=<1>" in text


# --- duplicates ------------------------------------------------------------------------------


def test_an_identical_repeat_is_dropped_first_order_kept() -> None:
    message = parse_message(
        personal(
            {"PhoneNumber": "13912340002", "TemplateParams": ["b"]},
            {"PhoneNumber": "13912340001", "TemplateParams": ["a", 1]},
            {"PhoneNumber": "+86 139-1234-0001", "TemplateParams": ["a", "1"]},
            {"PhoneNumber": "(0086)13912340002", "TemplateParams": ["b"]},
        )
    )

    assert message.phone_numbers == ("(86)13912340002", "(86)13912340001")


@pytest.mark.parametrize(
    "repeat",
    [
        {"TemplateParams": ["other"]},
        {"TemplateParams": ["a"], "ExtendCode": "1"},
        {"TemplateParams": ["a"], "UserId": "u"},
        {},  # no parameters at all is different from ["a"]
    ],
)
def test_a_repeat_with_other_parameters_is_an_error_at_the_repeat(repeat: dict[str, Any]) -> None:
    body = personal(
        {"PhoneNumber": "13912340001", "TemplateParams": ["a"]},
        {"PhoneNumber": "13912340009"},
        {"PhoneNumber": "+8613912340001", **repeat},
    )

    with pytest.raises(MessageValidationError) as caught:
        parse_message(body)

    [error] = caught.value.errors
    assert (error.field, error.rule) == ("Recipients[2].PhoneNumber", "duplicate_recipient")
    assert "Recipients[0]" in error.message
    assert "13912340001" not in error.message


# --- the two forms, and every rule of a recipient -------------------------------------------


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"TemplateId": "T"}, [("PhoneNumbers", "required")]),
        (
            {"TemplateId": "T", "PhoneNumbers": None, "Recipients": None},
            [("PhoneNumbers", "required")],
        ),
        (
            personal(PhoneNumbers=["13800138000"]),
            [("Recipients", "conflicting_fields")],
        ),
        (personal(TemplateParams=["1"]), [("TemplateParams", "conflicting_fields")]),
        (personal(TemplateParams=[]), [("TemplateParams", "conflicting_fields")]),
        (
            personal(PhoneNumbers=[], TemplateParams="x"),
            [
                ("Recipients", "conflicting_fields"),
                ("TemplateParams", "conflicting_fields"),
                ("PhoneNumbers", "too_few_items"),
                ("TemplateParams", "not_a_list"),
            ],
        ),
        (personal(Recipients=[]), [("Recipients", "too_few_items")]),
        (personal(Recipients="13800138000"), [("Recipients", "not_a_list")]),
        (personal(Recipients=["13800138000"]), [("Recipients[0]", "not_an_object")]),
        (personal({}), [("Recipients[0].PhoneNumber", "required")]),
        (personal({"PhoneNumber": None}), [("Recipients[0].PhoneNumber", "required")]),
        (
            personal({"PhoneNumber": 13800138000}),
            [("Recipients[0].PhoneNumber", "phone_not_a_string")],
        ),
        (personal({"PhoneNumber": "1380013800"}), [("Recipients[0].PhoneNumber", "phone_invalid")]),
        (
            personal({"PhoneNumber": "(999)13800138000"}),
            [("Recipients[0].PhoneNumber", "phone_unknown_country_code")],
        ),
        (
            personal({"PhoneNumber": "13800138000", "TemplateParams": "1"}),
            [("Recipients[0].TemplateParams", "not_a_list")],
        ),
        (
            personal({"PhoneNumber": "13800138000", "TemplateParams": ["a", 1.5]}),
            [("Recipients[0].TemplateParams[1]", "not_a_string_or_integer")],
        ),
        (
            personal({"PhoneNumber": "13800138000", "ExtendCode": "12a"}),
            [("Recipients[0].ExtendCode", "not_digits")],
        ),
        (
            personal({"PhoneNumber": "13800138000", "ExtendCode": 12}),
            [("Recipients[0].ExtendCode", "not_a_string")],
        ),
        (
            personal({"PhoneNumber": "13800138000", "UserId": "u" * 33}),
            [("Recipients[0].UserId", "too_long")],
        ),
        (
            personal({"PhoneNumber": "13800138000", "UserId": "it's"}),
            [("Recipients[0].UserId", "quote_not_allowed")],
        ),
        (
            personal({"PhoneNumber": "13800138000", "UserId": "order😀"}),
            [("Recipients[0].UserId", "emoji_not_allowed")],
        ),
        (
            personal({"PhoneNumber": "13800138000", "Phone": "1"}),
            [("Recipients[0].Phone", "unknown_field")],
        ),
    ],
)
def test_rule(data: Any, expected: list[tuple[str, str]]) -> None:
    assert errors_of(data) == expected


def test_every_broken_recipient_rule_is_reported_at_once() -> None:
    body = personal(
        {"PhoneNumber": "13800138000"},
        {"PhoneNumber": "abc", "ExtendCode": "x"},
        7,
        {"PhoneNumber": "13800138001", "Typo": 1},
        TemplateId="",
    )

    assert errors_of(body) == [
        ("Recipients[1].PhoneNumber", "phone_bad_characters"),
        ("Recipients[1].ExtendCode", "not_digits"),
        ("Recipients[2]", "not_an_object"),
        ("Recipients[3].Typo", "unknown_field"),
        ("TemplateId", "empty"),
    ]


def test_the_form_errors_name_both_fields() -> None:
    for body in ({"TemplateId": "T"}, personal(PhoneNumbers=["13800138000"])):
        with pytest.raises(MessageValidationError) as caught:
            parse_message(body)
        [error] = caught.value.errors
        assert "PhoneNumbers" in error.message
        assert "Recipients" in error.message


def test_an_unknown_recipient_field_suggests_the_right_one() -> None:
    with pytest.raises(MessageValidationError) as caught:
        parse_message(personal({"PhoneNumber": "13800138000", "userid": "u"}))

    [error] = caught.value.errors
    assert error.message == (
        "unknown field (did you mean UserId?); allowed fields are PhoneNumber, "
        "TemplateParams, ExtendCode, UserId"
    )


def test_more_than_ten_thousand_recipients_are_refused_before_validating_them() -> None:
    too_many = [{"PhoneNumber": "x"}] * 10_001

    assert errors_of(personal(*too_many)) == [("Recipients", "too_many_items")]


def test_errors_never_echo_recipient_values() -> None:
    body = personal(
        {"PhoneNumber": "+86 139-1234-000x", "TemplateParams": [3.14159], "UserId": "u'482913"},
        {"PhoneNumber": "13912340001", "TemplateParams": ["741852"]},
        {"PhoneNumber": "13912340001", "TemplateParams": ["963852"]},
    )

    with pytest.raises(MessageValidationError) as caught:
        parse_message(body)

    text = str(caught.value) + " ".join(e.message for e in caught.value.errors)
    for value in ("1234-000", "3.14159", "482913", "13912340001", "741852", "963852"):
        assert value not in text
    assert caught.value.__cause__ is None


# --- the fingerprint -------------------------------------------------------------------------

KEY = GatewayKey("k" * 32)


def test_the_fingerprint_covers_each_recipient() -> None:
    base = personal(
        {"PhoneNumber": "13912340001", "TemplateParams": ["a"]},
        {"PhoneNumber": "13912340002", "TemplateParams": ["b"]},
    )
    canonical = (
        '{"Recipients":[{"PhoneNumber":"(86)13912340001","TemplateParams":["a"]},'
        '{"PhoneNumber":"(86)13912340002","TemplateParams":["b"]}],"TemplateId":"UTA1"}'
    )

    fingerprint = parse_message(base).fingerprint(KEY)

    assert fingerprint == KEY.digest(canonical)
    swapped = json.loads(json.dumps(base))
    swapped["Recipients"][1]["TemplateParams"] = ["c"]
    assert parse_message(swapped).fingerprint(KEY) != fingerprint
    # Written differently, the same message: same fingerprint.
    rewritten = personal(
        {"PhoneNumber": "+8613912340001", "TemplateParams": ["a"], "UserId": None},
        {"PhoneNumber": "(0086)139 1234 0002", "TemplateParams": ["b"]},
        {"PhoneNumber": "13912340002", "TemplateParams": ["b"]},
        IdempotencyKey="not part of it",
    )
    assert parse_message(rewritten).fingerprint(KEY) == fingerprint


def test_the_ordinary_fingerprint_is_unchanged_by_the_new_form() -> None:
    # Records written before Recipients existed must still match their messages.
    message = Message(("(86)13800138000",), "UTA1", ("1",))
    canonical = '{"PhoneNumbers":["(86)13800138000"],"TemplateId":"UTA1","TemplateParams":["1"]}'

    assert message.fingerprint(KEY) == KEY.digest(canonical)


def test_a_personalised_message_differs_from_the_same_numbers_in_the_other_form() -> None:
    ordinary = parse_message({"PhoneNumbers": ["13800138000"], "TemplateId": "UTA1"})
    personalised = parse_message(personal({"PhoneNumber": "13800138000"}))

    assert ordinary.fingerprint(KEY) != personalised.fingerprint(KEY)


# --- upstream requests -----------------------------------------------------------------------


def test_2500_recipients_are_three_batch_requests_in_order() -> None:
    message = parse_message(
        personal(*({"PhoneNumber": n, "TemplateParams": [i]} for i, n in enumerate(numbers(2_500))))
    )

    requests = upstream.batch_requests(message)

    assert [len(r["TaskContent"][0]["Target"]) for r in requests] == [1000, 1000, 500]
    targets = [t for r in requests for t in r["TaskContent"][0]["Target"]]
    assert [t["Phone"] for t in targets] == list(message.phone_numbers)
    assert [t["TemplateParams"] for t in targets] == [[str(i)] for i in range(2_500)]
