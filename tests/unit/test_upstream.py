"""The provider's request formats: SendUSMSMessage bodies (chunks of numbers sharing the
parameters), SendBatchUSMSMessage bodies and their refused numbers matched back to what was
sent, and the result that names them to the caller but never to a log."""

from __future__ import annotations

import json
from typing import Any

import pytest

from sms_gateway import upstream
from sms_gateway.errors import FailedNumber, NumbersRefusedError
from sms_gateway.message import Message
from sms_gateway.message_input import parse_message
from sms_gateway.provider_answers import BatchResult, RefusedTarget
from sms_gateway.verdict import SendOutcome, log_safe_result

SEED_BODY = (
    '{"Action":"SendUSMSMessage","AccountId":123,"PhoneNumbers":["13800138000","13100131000"],'
    '"TemplateParams":[123456,10],"SenderId":"UCloud","TemplateId":"UTA20210101xxxx",'
    '"UserId":"hGBCrtQw"}'
)
MINIMAL: dict[str, Any] = {"PhoneNumbers": ["13800138000"], "TemplateId": "UTA1"}


def numbers(count: int) -> list[str]:
    """`count` distinct valid mainland mobile numbers, bare (national) form."""
    return [f"138{i:08d}" for i in range(count)]


def with_(**fields: Any) -> dict[str, Any]:
    return {**MINIMAL, **fields}


# --- SendUSMSMessage requests ----------------------------------------------------------------


@pytest.fixture(scope="module")
def ten_thousand() -> Message:
    return parse_message(with_(PhoneNumbers=numbers(10_000), TemplateParams=[1]))


def test_ten_thousand_numbers_make_ten_calls(ten_thousand: Message) -> None:
    requests = upstream.send_requests(ten_thousand)
    assert len(requests) == 10
    assert all(len(r["PhoneNumbers"]) == 1000 for r in requests)
    assert [n for r in requests for n in r["PhoneNumbers"]] == list(ten_thousand.phone_numbers)
    assert all(r["TemplateId"] == "UTA1" and r["TemplateParams"] == ["1"] for r in requests)


@pytest.mark.parametrize(("count", "sizes"), [(1, [1]), (1000, [1000]), (1001, [1000, 1])])
def test_send_chunking(count: int, sizes: list[int]) -> None:
    message = parse_message(with_(PhoneNumbers=numbers(count)))
    requests = upstream.send_requests(message)
    assert [len(r["PhoneNumbers"]) for r in requests] == sizes
    assert [n for r in requests for n in r["PhoneNumbers"]] == list(message.phone_numbers)


def test_send_chunk_size_is_a_parameter() -> None:
    message = parse_message(with_(PhoneNumbers=numbers(5)))
    requests = upstream.send_requests(message, max_numbers=2)
    assert [len(r["PhoneNumbers"]) for r in requests] == [2, 2, 1]
    with pytest.raises(ValueError, match="at least 1"):
        upstream.send_requests(message, max_numbers=0)


def test_send_request_fields() -> None:
    body = json.loads(SEED_BODY) | {"ExtendCode": "01", "IdempotencyKey": "order-42"}
    [request] = upstream.send_requests(parse_message(body))
    assert request == {
        "PhoneNumbers": ["(86)13800138000", "(86)13100131000"],
        "TemplateId": "UTA20210101xxxx",
        "TemplateParams": ["123456", "10"],
        "SenderId": "UCloud",
        "ExtendCode": "01",
        "UserId": "hGBCrtQw",
        "AccountId": 123,
    }


def test_send_request_leaves_out_absent_fields() -> None:
    [request] = upstream.send_requests(
        parse_message(with_(IdempotencyKey="k", Action="SendUSMSMessage"))
    )
    assert request == {"PhoneNumbers": ["(86)13800138000"], "TemplateId": "UTA1"}


def test_send_requests_are_independent_copies() -> None:
    message = parse_message(with_(TemplateParams=["1"]))
    first = upstream.send_requests(message)
    first[0]["TemplateParams"].append("2")
    first[0]["PhoneNumbers"].clear()
    assert upstream.send_requests(message) == [
        {"PhoneNumbers": ["(86)13800138000"], "TemplateId": "UTA1", "TemplateParams": ["1"]}
    ]


def test_send_sender_id_comes_from_the_message_else_the_default() -> None:
    own = parse_message(with_(SenderId="Own"))
    bare = parse_message(MINIMAL)

    assert upstream.send_requests(own, sender_id="Default")[0]["SenderId"] == "Own"
    assert upstream.send_requests(bare, sender_id="Default")[0]["SenderId"] == "Default"
    assert "SenderId" not in upstream.send_requests(bare)[0]


def test_a_personalised_message_has_no_send_usms_message_form() -> None:
    recipients = [{"PhoneNumber": "13800138000", "TemplateParams": ["1"]}]
    with pytest.raises(ValueError, match="SendBatchUSMSMessage"):
        upstream.send_requests(parse_message({"TemplateId": "UTA1", "Recipients": recipients}))


# --- SendBatchUSMSMessage requests -----------------------------------------------------------


def _result(
    *refused: tuple[str, str], session_no: str | None = "S-1", success_count: int | None = None
) -> BatchResult:
    return BatchResult(
        session_no=session_no,
        success_count=success_count,
        req_uuid=None,
        refused=tuple(RefusedTarget(phone, reason) for phone, reason in refused),
        elapsed_ms=1.0,
    )


REQUEST: dict[str, Any] = {
    "TaskContent": [
        {
            "TemplateId": "T",
            "Target": [
                {"Phone": "(86)13912340001"},
                {"Phone": "(1)4155550142"},
                {"Phone": "(44)7400123456"},
            ],
        }
    ]
}


def test_an_ordinary_message_is_one_task_whose_targets_share_the_parameters() -> None:
    message = parse_message(
        {
            "PhoneNumbers": ["13912340001", "+14155550142"],
            "TemplateId": "T",
            "TemplateParams": [1, "x"],
            "ExtendCode": "5",
            "UserId": "u",
            "AccountId": 77,
        }
    )

    assert upstream.batch_requests(message) == [
        {
            "TaskContent": [
                {
                    "TemplateId": "T",
                    "Target": [
                        {
                            "Phone": "(86)13912340001",
                            "TemplateParams": ["1", "x"],
                            "ExtendCode": "5",
                            "UserId": "u",
                        },
                        {
                            "Phone": "(1)4155550142",
                            "TemplateParams": ["1", "x"],
                            "ExtendCode": "5",
                            "UserId": "u",
                        },
                    ],
                }
            ],
            "AccountId": 77,
        }
    ]


def test_batch_sender_id_comes_from_the_message_else_the_default() -> None:
    own = parse_message({"PhoneNumbers": ["13912340001"], "TemplateId": "T", "SenderId": "Own"})
    bare = parse_message({"PhoneNumbers": ["13912340001"], "TemplateId": "T"})

    assert (
        upstream.batch_requests(own, sender_id="Default")[0]["TaskContent"][0]["SenderId"] == "Own"
    )
    assert (
        upstream.batch_requests(bare, sender_id="Default")[0]["TaskContent"][0]["SenderId"]
        == "Default"
    )
    assert "SenderId" not in upstream.batch_requests(bare)[0]["TaskContent"][0]
    assert "AccountId" not in upstream.batch_requests(bare)[0]


def test_batch_chunk_size_is_a_parameter() -> None:
    message = parse_message(
        {"Recipients": [{"PhoneNumber": f"1391234000{i}"} for i in range(5)], "TemplateId": "T"}
    )

    assert [
        len(upstream.phones_of(r)) for r in upstream.batch_requests(message, max_targets=2)
    ] == [2, 2, 1]
    with pytest.raises(ValueError, match="at least 1"):
        upstream.batch_requests(message, max_targets=0)


# --- refused numbers, matched back ----------------------------------------------------------


@pytest.mark.parametrize(
    "echoed",
    ["(1)4155550142", "14155550142", "+1 415 555 0142", "0014155550142", "4155550142"],
)
def test_a_refused_number_is_matched_however_the_provider_writes_it(echoed: str) -> None:
    positions = upstream.refused_positions(REQUEST, _result((echoed, "blacklisted")))

    assert positions == [(1, "blacklisted")]
    assert upstream.failed_numbers(REQUEST, positions) == [
        FailedNumber("(1)4155550142", "blacklisted")
    ]


def test_refused_numbers_come_back_in_request_order_each_once() -> None:
    result = _result(("(44)7400123456", "b"), ("(86)13912340001", "a"), ("8613912340001", "again"))

    assert upstream.refused_positions(REQUEST, result) == [(0, "a"), (2, "b")]


def test_a_number_the_provider_was_not_sent_is_ignored() -> None:
    assert upstream.refused_positions(REQUEST, _result(("(86)13000000000", "x"))) == []


def test_when_nothing_was_accepted_every_number_is_refused() -> None:
    result = _result(("(1)4155550142", "blacklisted"), session_no=None, success_count=0)

    assert upstream.refused_positions(REQUEST, result) == [
        (0, upstream.NO_REASON),
        (1, "blacklisted"),
        (2, upstream.NO_REASON),
    ]


def test_a_success_count_alone_means_something_was_accepted() -> None:
    result = _result(("(1)4155550142", "x"), session_no=None, success_count=2)

    assert result.accepted_any
    assert upstream.refused_positions(REQUEST, result) == [(1, "x")]


# --- the result: named to the caller, counted in logs ---------------------------------------

FAILED = (FailedNumber("(86)13912340001", "blacklisted"),)


def test_the_result_lists_failed_numbers_only_when_there_are_some() -> None:
    whole = SendOutcome(("S-1",), 2, "u", replayed=False)
    partial = SendOutcome(("S-1",), 1, None, replayed=True, failed=FAILED)

    assert whole.as_result() == {
        "SessionNos": ["S-1"],
        "PhoneCount": 2,
        "UserId": "u",
        "IdempotentReplay": False,
    }
    assert partial.as_result() == {
        "SessionNos": ["S-1"],
        "PhoneCount": 1,
        "Failed": [{"PhoneNumber": "(86)13912340001", "Reason": "blacklisted"}],
        "IdempotentReplay": True,
    }
    assert partial.as_log_result() == {
        "SessionNos": ["S-1"],
        "PhoneCount": 1,
        "IdempotentReplay": True,
        "FailedCount": 1,
    }
    assert log_safe_result(whole.as_result()) == whole.as_result()


def test_the_log_form_of_a_result_counts_refused_numbers_instead_of_naming_them() -> None:
    outcome = SendOutcome(("S-1",), 1, None, replayed=False, failed=FAILED)

    logged = outcome.as_log_result()

    assert logged["FailedCount"] == 1
    assert "Failed" not in logged
    assert "13912340001" not in json.dumps(logged)
    assert outcome.as_result()["Failed"]  # the caller's answer still names them


def test_failed_numbers_are_masked_wherever_they_are_printed() -> None:
    error = NumbersRefusedError([*FAILED, FailedNumber("(1)4155550142", "no route")], action="A")

    text = str(error) + repr(error) + repr(FAILED)
    assert "13912340001" not in text
    assert "4155550142" not in text
    assert "*******0001: blacklisted" in str(error)
    assert "accepted none of the 2 numbers" in str(error)
    assert error.failed[0].as_dict() == {"PhoneNumber": "(86)13912340001", "Reason": "blacklisted"}
    assert (error.code, error.retryable) == ("ProviderRefusedNumbers", False)


def test_a_long_refusal_names_twenty_numbers_and_counts_the_rest() -> None:
    failed = [FailedNumber(f"(86)139123{i:05d}", "x") for i in range(25)]

    text = str(NumbersRefusedError(failed))

    assert text.count(": x") == 20
    assert "and 5 more" in text
