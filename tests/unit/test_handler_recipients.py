"""Per-recipient messages and SendBatchUSMSMessage through the handler: each number's own
parameters reach the provider, refused numbers come back in `Failed`, a message nobody
accepted is parked or answered 422, the USPEEDO_ACTION switch, and "unknown Action"."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import pytest

from local_gateway.context import LocalContext
from sms_gateway import handler
from sms_gateway.errors import NumbersRefusedError
from sms_gateway.gateway import Gateway
from sms_gateway.handler import lambda_handler
from tests.harness import TEMPLATE_ID, api_event, message, sqs_event, sqs_record
from tests.unit.conftest import Aws, assert_nothing_personal_in, build_gateway, log_lines
from uspeedo_sandbox import Fault, Sandbox

BATCH = "SendBatchUSMSMessage"


def recipient(phone: str, *params: Any, **fields: Any) -> dict[str, Any]:
    """One entry of `Recipients`."""
    return {"PhoneNumber": phone, "TemplateParams": list(params), **fields}


def personal(*recipients: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """A valid message in the Recipients form."""
    return {"TemplateId": TEMPLATE_ID, "Recipients": list(recipients), **fields}


def _numbers(count: int, prefix: str = "+86139") -> list[str]:
    return [f"{prefix}{i:08d}" for i in range(count)]


def _national(number: str) -> str:
    return number.removeprefix("+86")


def _failures(answer: dict[str, Any]) -> list[str]:
    return [item["itemIdentifier"] for item in answer["batchItemFailures"]]


def _api(context: LocalContext, body: Any) -> tuple[int, dict[str, Any]]:
    answer = lambda_handler(api_event(body=body), context)
    return answer["statusCode"], json.loads(answer["body"])


def _emf(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith('{"_aws"')]


@pytest.fixture
def batch_logs_checked(logs: io.StringIO, sandbox: Sandbox) -> Iterator[io.StringIO]:
    """After the test, its DEBUG logs hold no number or parameter of a batch it sent."""
    yield logs
    assert any("TaskContent" in str(r.body) for r in sandbox.requests), "no batch was sent"
    assert_nothing_personal_in(logs.getvalue(), sandbox)


@pytest.fixture
def batch_switched(aws: Aws, sandbox: Sandbox, logs: io.StringIO) -> Iterator[Gateway]:
    """A gateway with USPEEDO_ACTION=SendBatchUSMSMessage, leak-checked like `gateway`."""
    built = build_gateway(aws, sandbox, action=BATCH)
    yield built
    handler.use_gateway(None)
    built.close()
    assert_nothing_personal_in(logs.getvalue(), sandbox)
    assert_nothing_personal_in(logs.getvalue(), sandbox)


# --- per-recipient parameters ------------------------------------------------------------


def test_each_recipients_own_parameters_reach_the_provider_per_number(
    gateway: Gateway, sandbox: Sandbox, context: LocalContext, batch_logs_checked: Any
) -> None:
    body = personal(
        recipient("+8613912340001", "Alice", "A-7731"),
        recipient("(86)139 1234 0002", "Bob", 88412, ExtendCode="12"),
        recipient("+14155550142", "Carol", "C-5520", UserId="carol-9"),
        UserId="campaign-3",
        SenderId="Acme",
    )

    result = lambda_handler(body, context)

    [accepted] = sandbox.accepted
    assert accepted.action == BATCH
    shared = {"TemplateId": TEMPLATE_ID, "SenderId": "Acme"}
    assert accepted.targets == [
        {
            "Phone": "(86)13912340001",
            **shared,
            "TemplateParams": ["Alice", "A-7731"],
            "UserId": "campaign-3",
        },
        {
            "Phone": "(86)13912340002",
            **shared,
            "TemplateParams": ["Bob", "88412"],
            "ExtendCode": "12",
            "UserId": "campaign-3",
        },
        {
            "Phone": "(1)4155550142",
            **shared,
            "TemplateParams": ["Carol", "C-5520"],
            "UserId": "carol-9",
        },
    ]
    assert result == {
        "SessionNos": [accepted.session_no],
        "PhoneCount": 3,
        "UserId": "campaign-3",
        "IdempotentReplay": False,
    }


def test_a_personalised_message_from_the_queue_is_sent_once(
    gateway: Gateway, sandbox: Sandbox, context: LocalContext, batch_logs_checked: Any
) -> None:
    record = sqs_record(personal(recipient("+8613912340003", "Dana", "D-4410")))

    first = lambda_handler(sqs_event(record), context)
    again = lambda_handler(sqs_event(record), context)

    assert _failures(first) == _failures(again) == []
    assert [t["TemplateParams"] for t in sandbox.accepted[0].targets] == [["Dana", "D-4410"]]
    assert len(sandbox.requests) == 1  # the duplicate delivery replayed the record


def test_2500_recipients_make_three_calls_of_at_most_1000(
    gateway: Gateway, sandbox: Sandbox, context: LocalContext, batch_logs_checked: Any
) -> None:
    numbers = _numbers(2_500)
    body = personal(*(recipient(n, f"code-{i:05d}") for i, n in enumerate(numbers)))

    result = lambda_handler(body, context)

    sizes = sorted(len(m.body["TaskContent"][0]["Target"]) for m in sandbox.accepted)
    assert sizes == [500, 1000, 1000]
    assert {m.action for m in sandbox.accepted} == {BATCH}
    assert sorted(result["SessionNos"]) == sorted(m.session_no for m in sandbox.accepted)
    assert result["PhoneCount"] == 2_500
    sent = {t["Phone"]: t["TemplateParams"] for m in sandbox.accepted for t in m.targets}
    assert sent == {f"(86){_national(n)}": [f"code-{i:05d}"] for i, n in enumerate(numbers)}


def test_each_chunk_of_recipients_is_sent_once_across_a_retry(
    gateway: Gateway, sandbox: Sandbox, context: LocalContext, batch_logs_checked: Any
) -> None:
    numbers = _numbers(2_500, prefix="+86137")
    sandbox.set_fault(Fault(kind="status", status=503, count=1))
    record = sqs_record(personal(*(recipient(n, f"r-{i:05d}") for i, n in enumerate(numbers))))

    first = lambda_handler(sqs_event(record), context)
    sent_first = len(sandbox.accepted)
    second = lambda_handler(sqs_event(record), context)

    assert _failures(first) == [record["messageId"]]
    assert sent_first == 2  # one chunk of three failed; the retry sends only that one
    assert _failures(second) == []
    phones = [t["Phone"] for m in sandbox.accepted for t in m.targets]
    assert len(phones) == len(set(phones)) == 2_500


# --- refused numbers -------------------------------------------------------------------------


def test_partly_refused_message_is_sent_and_lists_the_refused_numbers(
    gateway: Gateway,
    sandbox: Sandbox,
    context: LocalContext,
    logs: io.StringIO,
    batch_logs_checked: Any,
) -> None:
    sandbox.set_fault(Fault(kind="refuse", phones=("(86)13912340012",), message="blacklisted"))
    body = personal(
        recipient("+8613912340011", "Erin", "E-1001"),
        recipient("+86 139 1234 0012", "Finn", "F-2002"),
        recipient("+8613912340013", "Gus", "G-3003"),
    )

    status, result = _api(context, body)

    assert status == 200
    assert result["Failed"] == [{"PhoneNumber": "(86)13912340012", "Reason": "blacklisted"}]
    assert result["PhoneCount"] == 2
    assert result["SessionNos"] == [sandbox.accepted[0].session_no]
    assert [t["Phone"] for t in sandbox.accepted[0].targets] == [
        "(86)13912340011",
        "(86)13912340013",
    ]
    # The log line counts what was refused; the number itself goes only to the caller.
    [sent] = [line for line in log_lines(logs) if line["message"] == "message sent"]
    assert sent["result"]["FailedCount"] == 1
    assert "Failed" not in sent["result"]


def test_a_replayed_partial_result_names_the_same_refused_numbers(
    gateway: Gateway, sandbox: Sandbox, context: LocalContext, batch_logs_checked: Any
) -> None:
    sandbox.set_fault(Fault(kind="refuse", phones=("(86)13912340022",)))
    body = personal(
        recipient("+8613912340021", "Hana", "H-1001"),
        recipient("+8613912340022", "Ivan", "I-2002"),
        IdempotencyKey="order-22",
    )

    first = lambda_handler(dict(body), context)
    sandbox.clear_faults()
    replay = lambda_handler(dict(body), context)

    assert replay == {**first, "IdempotentReplay": True}
    assert replay["Failed"] == [
        {"PhoneNumber": "(86)13912340022", "Reason": "number unreachable (sandbox fault)"}
    ]
    assert len(sandbox.requests) == 1


def test_a_chunk_refused_whole_joins_failed_when_another_chunk_went_out(
    gateway: Gateway, sandbox: Sandbox, context: LocalContext, batch_logs_checked: Any
) -> None:
    numbers = _numbers(1_200)
    # Every number of the second chunk (the last 200) is unreachable.
    sandbox.set_fault(
        Fault(kind="refuse", phones=tuple(f"(86){_national(n)}" for n in numbers[1000:]))
    )
    body = personal(*(recipient(n, f"p-{i:05d}") for i, n in enumerate(numbers)))

    result = lambda_handler(body, context)

    assert result["PhoneCount"] == 1_000
    assert len(result["SessionNos"]) == 1
    assert [f["PhoneNumber"] for f in result["Failed"]] == [
        f"(86){_national(n)}" for n in numbers[1000:]
    ]


def test_all_refused_from_the_queue_is_parked_with_the_reasons(
    gateway: Gateway,
    aws: Aws,
    sandbox: Sandbox,
    context: LocalContext,
    batch_logs_checked: Any,
) -> None:
    sandbox.set_fault(Fault(kind="refuse", message="unsupported region"))
    record = sqs_record(
        personal(
            recipient("+8613912340031", "Jo", "J-1001"),
            recipient("+8613912340032", "Kai", "K-2002"),
        )
    )

    answer = lambda_handler(sqs_event(record), context)

    assert _failures(answer) == []  # permanent: not retried
    [parked] = aws.dead_letters()
    assert parked["Body"] == record["body"]
    attributes = parked["Attributes"]
    assert attributes["ErrorCode"] == "ProviderRefusedNumbers"
    reason = attributes["ErrorMessage"]
    assert "accepted none of the 2 numbers" in reason
    assert reason.count("unsupported region") == 2
    assert "*******0031" in reason  # named masked: this text is logged too
    assert sandbox.accepted == []


def test_all_refused_through_the_api_is_422(
    gateway: Gateway, sandbox: Sandbox, context: LocalContext, batch_logs_checked: Any
) -> None:
    sandbox.set_fault(Fault(kind="refuse"))

    status, body = _api(context, personal(recipient("+8613912340041", "Lee", "L-1001")))

    assert status == 422
    assert body["Error"]["Code"] == "ProviderRefusedNumbers"
    assert "number unreachable" in body["Error"]["Message"]
    [failed] = body["Error"]["Failed"]  # the caller learns which of its numbers, and why
    assert failed["PhoneNumber"] == "(86)13912340041"
    assert failed["Reason"].startswith("number unreachable")


def test_all_refused_direct_invoke_raises_a_permanent_error_with_each_number(
    gateway: Gateway, sandbox: Sandbox, context: LocalContext, batch_logs_checked: Any
) -> None:
    sandbox.set_fault(Fault(kind="refuse"))
    body = personal(recipient("+8613912340051", "Max", "M-1001"))

    with pytest.raises(NumbersRefusedError) as refused:
        lambda_handler(body, context)

    assert [(f.phone_number, f.reason) for f in refused.value.failed] == [
        ("(86)13912340051", "number unreachable (sandbox fault)")
    ]
    assert not refused.value.retryable


def test_an_all_refused_chunk_is_not_remembered_so_a_redrive_asks_again(
    gateway: Gateway,
    aws: Aws,
    sandbox: Sandbox,
    context: LocalContext,
    batch_logs_checked: Any,
) -> None:
    sandbox.set_fault(Fault(kind="refuse", count=1))
    record = sqs_record(personal(recipient("+8613912340061", "Ned", "N-1001")))

    lambda_handler(sqs_event(record), context)
    [parked] = aws.dead_letters()
    # Someone fixed the cause and redrives it: nothing was sent, so it is asked again.
    redriven = sqs_record(parked["Body"])
    answer = lambda_handler(sqs_event(redriven), context)

    assert _failures(answer) == []
    assert aws.dead_letters() == []
    assert [t["Phone"] for t in sandbox.accepted[0].targets] == ["(86)13912340061"]


# --- the USPEEDO_ACTION switch -------------------------------------------------------------


def test_the_switch_sends_an_ordinary_message_as_one_batch_task_with_the_same_result(
    batch_switched: Gateway, sandbox: Sandbox, context: LocalContext
) -> None:
    body = message("+8613912340071", "+8613912340072", params=["583920"], UserId="order-71")

    result = lambda_handler(body, context)

    [accepted] = sandbox.accepted
    assert accepted.action == BATCH
    assert accepted.body["TaskContent"] == [
        {
            "TemplateId": TEMPLATE_ID,
            "Target": [
                {"Phone": "(86)13912340071", "TemplateParams": ["583920"], "UserId": "order-71"},
                {"Phone": "(86)13912340072", "TemplateParams": ["583920"], "UserId": "order-71"},
            ],
        }
    ]
    # The same shape (and keys) as a SendUSMSMessage send's result.
    assert result == {
        "SessionNos": [accepted.session_no],
        "PhoneCount": 2,
        "UserId": "order-71",
        "IdempotentReplay": False,
    }


def test_without_the_switch_an_ordinary_message_keeps_send_usms_message(
    gateway: Gateway, sandbox: Sandbox, context: LocalContext
) -> None:
    lambda_handler(message("+8613912340081"), context)

    assert [m.action for m in sandbox.accepted] == ["SendUSMSMessage"]


# --- "unknown Action" ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("action", "body"),
    [
        ("SendUSMSMessage", message("+8613912340091")),
        (BATCH, personal(recipient("+8613912340092", "Oz", "O-1001"))),
    ],
)
def test_unknown_action_is_retried_and_counted_never_parked(
    gateway: Gateway,
    aws: Aws,
    sandbox: Sandbox,
    context: LocalContext,
    capsys: pytest.CaptureFixture[str],
    action: str,
    body: dict[str, Any],
) -> None:
    sandbox.set_fault(Fault(kind="retcode", ret_code=161, action=action))
    record = sqs_record(body)

    answer = lambda_handler(sqs_event(record), context)

    assert _failures(answer) == [record["messageId"]]  # the queue retries it
    assert aws.dead_letters() == []
    assert sandbox.accepted == []
    [main] = [b for b in _emf(capsys.readouterr().out) if "MessagesReceived" in b]
    assert main["ProviderActionUnknown"] == [1.0]

    sandbox.clear_faults()  # the configuration is fixed: the retry goes out
    assert _failures(lambda_handler(sqs_event(record), context)) == []
    assert [m.action for m in sandbox.accepted] == [action]


def test_unknown_action_through_the_switch_is_503(
    batch_switched: Gateway, sandbox: Sandbox, context: LocalContext
) -> None:
    sandbox.set_fault(Fault(kind="retcode", ret_code=160, action=BATCH))

    status, body = _api(context, message("+8613912340093"))

    assert status == 503
    assert body["Error"]["Code"] == "ProviderActionUnknown"


# --- the two forms ---------------------------------------------------------------------------


def test_both_forms_in_one_message_is_a_clear_400(
    gateway: Gateway, sandbox: Sandbox, context: LocalContext
) -> None:
    body = {
        "PhoneNumbers": ["+8613912340101"],
        "Recipients": [recipient("+8613912340102", "x")],
        "TemplateId": TEMPLATE_ID,
    }

    status, answer = _api(context, body)

    assert status == 400
    assert answer["Error"]["Code"] == "InvalidMessage"
    [error] = answer["Error"]["Fields"]
    assert (error["Field"], error["Rule"]) == ("Recipients", "conflicting_fields")
    assert "PhoneNumbers" in error["Message"]
    assert "Recipients" in error["Message"]
    assert sandbox.requests == []


def test_neither_form_is_a_400_naming_both(gateway: Gateway, context: LocalContext) -> None:
    status, answer = _api(context, {"TemplateId": TEMPLATE_ID})

    assert status == 400
    [error] = answer["Error"]["Fields"]
    assert (error["Field"], error["Rule"]) == ("PhoneNumbers", "required")
    assert "Recipients" in error["Message"]


def test_recipient_errors_name_the_recipient_and_its_field(
    gateway: Gateway, context: LocalContext
) -> None:
    body = personal(
        recipient("+8613912340111", "ok"),
        recipient("not a number", "x"),
        {"PhoneNumber": "+8613912340113", "ExtendCode": "1a"},
        TemplateParams=["shared"],
    )

    status, answer = _api(context, body)

    assert status == 400
    assert [(f["Field"], f["Rule"]) for f in answer["Error"]["Fields"]] == [
        ("TemplateParams", "conflicting_fields"),
        ("Recipients[1].PhoneNumber", "phone_bad_characters"),
        ("Recipients[2].ExtendCode", "not_digits"),
    ]
