"""The sandbox's GetUSMSSendReceipt under the `receipt` fault: a number reported `Fail`,
`SubmitFail` or `Unknow`, or left out of its session's ReceiptSet, for a number of queries
before it turns `Success` — what the gateway's delivery events are built from."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import urllib3

from tests.unit.test_sandbox import batch, call, control, make_pool, message, target
from uspeedo_sandbox import Fault, Sandbox

NUMBERS = ["(86)13800138003", "(1)4155550100"]


@pytest.fixture
def pool(sandbox: Sandbox) -> Iterator[urllib3.HTTPConnectionPool]:
    with make_pool(sandbox) as p:
        yield p


def receipts(pool: urllib3.HTTPConnectionPool, *session_nos: str) -> dict[str, dict[str, Any]]:
    """One GetUSMSSendReceipt query: SessionNo → Phone → its receipt."""
    answer = call(
        pool,
        {"Action": "GetUSMSSendReceipt", "AccountId": 123, "SessionNoSet": list(session_nos)},
    )
    assert answer["RetCode"] == 0
    return {
        entry["SessionNo"]: {r["Phone"]: r for r in entry["ReceiptSet"]} for entry in answer["Data"]
    }


def results(pool: urllib3.HTTPConnectionPool, session_no: str) -> dict[str, str]:
    """Phone → ReceiptResult of one session, in one query."""
    answer = receipts(pool, session_no)[session_no]
    return {phone: receipt["ReceiptResult"] for phone, receipt in answer.items()}


def send(pool: urllib3.HTTPConnectionPool, numbers: list[str] = NUMBERS, **fields: Any) -> str:
    answer = call(pool, message(PhoneNumbers=numbers, **fields))
    assert answer["RetCode"] == 0
    return str(answer["SessionNo"])


@pytest.mark.parametrize(
    ("result", "code", "cost"),
    [("Fail", "UNDELIV", 1), ("SubmitFail", "REJECTD", 0), ("Unknow", "", 1)],
)
def test_a_receipt_fault_reports_its_numbers_with_its_result(
    sandbox: Sandbox, pool: urllib3.HTTPConnectionPool, result: str, code: str, cost: int
) -> None:
    # Given as bare digits: a China number, the same as the (86)… it was sent as.
    sandbox.set_fault(Fault(kind="receipt", phones=("13800138003",), result=result))
    session_no = send(pool, UserId="order-7")

    [faulted, other] = receipts(pool, session_no)[session_no].values()

    assert faulted["Phone"] == "13800138003"
    assert (faulted["ReceiptResult"], faulted["ReceiptCode"], faulted["CostCount"]) == (
        result,
        code,
        cost,
    )
    assert faulted["ReceiptDesc"]
    assert (faulted["CountryCode"], faulted["UserId"]) == ("86", "order-7")
    assert (other["Phone"], other["ReceiptResult"], other["ReceiptCode"]) == (
        "4155550100",
        "Success",
        "DELIVRD",
    )
    # No count: every later query says the same.
    assert results(pool, session_no)["13800138003"] == result


def test_an_absent_number_is_left_out_of_its_sessions_receipt_set(
    sandbox: Sandbox, pool: urllib3.HTTPConnectionPool
) -> None:
    sandbox.set_fault(Fault(kind="receipt", phones=("(0086)13800138003",), result="absent"))
    partly = send(pool)
    wholly = send(pool, ["(86)13800138003"])

    answer = receipts(pool, partly, wholly)

    assert list(answer[partly]) == ["4155550100"]
    assert answer[wholly] == {}  # the session is listed, with no receipt yet


def test_count_is_how_many_queries_of_each_number_the_fault_answers(
    sandbox: Sandbox, pool: urllib3.HTTPConnectionPool
) -> None:
    sandbox.set_fault(Fault(kind="receipt", result="Unknow", count=2))  # every number
    first = send(pool, ["(86)13800138003"])
    second = send(pool, ["(1)4155550100"])

    assert results(pool, first) == {"13800138003": "Unknow"}
    # One query of a number counts once, however many of the asked sessions hold it.
    again = send(pool, ["13800138003"])
    both = receipts(pool, first, again)
    assert [both[s]["13800138003"]["ReceiptResult"] for s in (first, again)] == ["Unknow"] * 2
    assert results(pool, first) == {"13800138003": "Success"}
    # Counted per number: the other number's queries start from its own first.
    assert results(pool, second) == {"4155550100": "Unknow"}
    assert results(pool, second) == {"4155550100": "Unknow"}
    assert results(pool, second) == {"4155550100": "Success"}
    assert sandbox.faults  # a fault on every number never runs out of numbers


def test_the_example_from_the_control_api_unknown_once_then_success(
    sandbox: Sandbox, pool: urllib3.HTTPConnectionPool
) -> None:
    fault = {"kind": "receipt", "phones": ["(86)13800138003"], "result": "Unknow", "count": 1}
    status, listed = control(pool, "POST", "faults", fault)
    assert status == 200
    assert listed["Faults"][0]["result"] == "Unknow"
    session_no = send(pool)

    assert results(pool, session_no) == {"13800138003": "Unknow", "4155550100": "Success"}
    assert results(pool, session_no) == {"13800138003": "Success", "4155550100": "Success"}
    assert sandbox.faults == []  # every number it lists had its count: retired


def test_stacked_receipt_faults_first_that_answers_applies(
    sandbox: Sandbox, pool: urllib3.HTTPConnectionPool
) -> None:
    sandbox.add_fault(Fault(kind="receipt", phones=("(86)13800138003",), result="absent", count=1))
    sandbox.add_fault(Fault(kind="receipt", result="Fail", message="blocked by the carrier"))
    session_no = send(pool)

    first = receipts(pool, session_no)[session_no]
    second = receipts(pool, session_no)[session_no]

    assert {p: r["ReceiptResult"] for p, r in first.items()} == {"4155550100": "Fail"}
    assert first["4155550100"]["ReceiptDesc"] == "blocked by the carrier"
    assert {p: r["ReceiptResult"] for p, r in second.items()} == {
        "13800138003": "Fail",
        "4155550100": "Fail",
    }


def test_a_receipt_fault_never_makes_a_send_fail(
    sandbox: Sandbox, pool: urllib3.HTTPConnectionPool
) -> None:
    sandbox.set_fault(Fault(kind="receipt", result="SubmitFail", count=1))

    sent = call(pool, message(PhoneNumbers=NUMBERS))
    sent_batch = call(pool, batch())

    assert (sent["RetCode"], sent_batch["SuccessCount"], sent_batch["FailContent"]) == (0, 2, [])
    assert [r.fault for r in sandbox.requests] == [None, None]
    assert len(sandbox.faults) == 1  # the sends did not use up its count
    assert set(results(pool, sent["SessionNo"]).values()) == {"SubmitFail"}


def test_batch_receipts_keep_each_numbers_own_user_id_under_a_fault(
    sandbox: Sandbox, pool: urllib3.HTTPConnectionPool
) -> None:
    sandbox.set_fault(Fault(kind="receipt", phones=("(1)4155550100",), result="Fail"))
    sent = call(
        pool,
        batch(
            target("(86)13800138003", UserId="u-1"),
            target("(1)4155550100", UserId="u-2"),
            target("(86)13900139000"),
        ),
    )

    answer = receipts(pool, sent["SessionNo"])[sent["SessionNo"]]

    assert [(p, r["UserId"], r["ReceiptResult"]) for p, r in answer.items()] == [
        ("13800138003", "u-1", "Success"),
        ("4155550100", "u-2", "Fail"),
        ("13900139000", "", "Success"),
    ]


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"kind": "receipt"}, "result"),
        ({"kind": "receipt", "result": "Failed"}, "result"),
        ({"kind": "receipt", "result": "Success"}, "result"),
        ({"kind": "refuse", "result": "Fail"}, "result"),
        ({"kind": "receipt", "result": "Fail", "phones": ["nope"]}, "phones"),
        ({"kind": "receipt", "result": "Fail", "action": "SendUSMSMessage"}, "GetUSMSSendReceipt"),
    ],
)
def test_receipt_fault_validation(fields: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        Fault.from_json(fields)


def test_receipt_fault_round_trips_through_json() -> None:
    fault = Fault(kind="receipt", phones=("(86)13800138003",), result="absent", count=3)
    assert Fault.from_json(json.loads(json.dumps(fault.to_json()))) == fault


def test_receipt_probability_is_drawn_per_number_and_reproducible() -> None:
    def run() -> list[str]:
        with Sandbox() as sb, make_pool(sb) as pool:
            sb.set_fault(Fault(kind="receipt", result="Unknow", probability=0.5, seed=7))
            numbers = [f"(86)1380013{n:04d}" for n in range(20)]
            session_no = send(pool, numbers)
            return list(results(pool, session_no).values())

    first = run()
    assert first == run()
    assert {"Unknow", "Success"} <= set(first)
