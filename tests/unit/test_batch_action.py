"""The mapping to SendBatchUSMSMessage and back: request bodies, refused numbers matched to
what was sent, and the result that names them to the caller but never to a log."""

from __future__ import annotations

import json
from typing import Any

import pytest

from sms_gateway import batch_action
from sms_gateway.errors import FailedNumber, NumbersRefusedError
from sms_gateway.model import parse_message
from sms_gateway.sender import SendOutcome, log_safe_result
from sms_gateway.uspeedo_client import BatchResult, RefusedTarget


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


# --- requests --------------------------------------------------------------------------------


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

    assert batch_action.requests(message) == [
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


def test_sender_id_comes_from_the_message_else_the_default() -> None:
    own = parse_message({"PhoneNumbers": ["13912340001"], "TemplateId": "T", "SenderId": "Own"})
    bare = parse_message({"PhoneNumbers": ["13912340001"], "TemplateId": "T"})

    assert batch_action.requests(own, sender_id="Default")[0]["TaskContent"][0]["SenderId"] == "Own"
    assert (
        batch_action.requests(bare, sender_id="Default")[0]["TaskContent"][0]["SenderId"]
        == "Default"
    )
    assert "SenderId" not in batch_action.requests(bare)[0]["TaskContent"][0]
    assert "AccountId" not in batch_action.requests(bare)[0]


def test_chunk_size_is_a_parameter() -> None:
    message = parse_message(
        {"Recipients": [{"PhoneNumber": f"1391234000{i}"} for i in range(5)], "TemplateId": "T"}
    )

    assert [
        len(batch_action.phones_of(r)) for r in batch_action.requests(message, max_targets=2)
    ] == [2, 2, 1]
    with pytest.raises(ValueError, match="at least 1"):
        batch_action.requests(message, max_targets=0)


# --- refused numbers, matched back ----------------------------------------------------------


@pytest.mark.parametrize(
    "echoed",
    ["(1)4155550142", "14155550142", "+1 415 555 0142", "0014155550142", "4155550142"],
)
def test_a_refused_number_is_matched_however_the_provider_writes_it(echoed: str) -> None:
    positions = batch_action.refused_positions(REQUEST, _result((echoed, "blacklisted")))

    assert positions == [(1, "blacklisted")]
    assert batch_action.failed_numbers(REQUEST, positions) == [
        FailedNumber("(1)4155550142", "blacklisted")
    ]


def test_refused_numbers_come_back_in_request_order_each_once() -> None:
    result = _result(("(44)7400123456", "b"), ("(86)13912340001", "a"), ("8613912340001", "again"))

    assert batch_action.refused_positions(REQUEST, result) == [(0, "a"), (2, "b")]


def test_a_number_the_provider_was_not_sent_is_ignored() -> None:
    assert batch_action.refused_positions(REQUEST, _result(("(86)13000000000", "x"))) == []


def test_when_nothing_was_accepted_every_number_is_refused() -> None:
    result = _result(("(1)4155550142", "blacklisted"), session_no=None, success_count=0)

    assert batch_action.refused_positions(REQUEST, result) == [
        (0, batch_action.NO_REASON),
        (1, "blacklisted"),
        (2, batch_action.NO_REASON),
    ]


def test_a_success_count_alone_means_something_was_accepted() -> None:
    result = _result(("(1)4155550142", "x"), session_no=None, success_count=2)

    assert result.accepted_any
    assert batch_action.refused_positions(REQUEST, result) == [(1, "x")]


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
