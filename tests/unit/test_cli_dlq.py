"""`smsgw dlq list` (read without consuming, never a number) and `smsgw dlq redrive` (send
back with the producer's attributes, then delete; in order; nothing lost). What each kind
of parked message gets from them, `dlq show` and `dlq purge`: test_cli_dlq_triage.py."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from sms_gateway.contract import MESSAGE_FIELDS
from smsgw import aws, dead_letters, redrive
from smsgw.cli import main
from smsgw.dead_letters import DeadLetter, summarise
from smsgw.errors import CliError
from smsgw.progress import Progress
from smsgw.redrive import Redrive
from tests.unit.test_cli_harness import NATIONAL_PARTS, NUMBERS, Stack

VALID = json.dumps({"PhoneNumbers": list(NUMBERS), "TemplateId": "UTA1", "TemplateParams": ["7"]})
REASON = {"ErrorCode": "InvalidMessage", "ErrorMessage": "PhoneNumbers[1]: not a valid number"}
# A kind that redrive sends back: the provider was down until the retries ran out.
TRANSIENT = {"ErrorCode": "ProviderUnavailable", "ErrorMessage": "HTTP 503 after 5 receives"}


def test_list_shows_why_without_a_number(
    stack: Stack, outputs: str, capsys: pytest.CaptureFixture[str]
) -> None:
    invalid = stack.park(VALID, **REASON, IdempotencyKey="k-1")
    refused = stack.park(
        VALID,
        ErrorCode="ProviderRejected",
        # A provider's text may quote a number: it is masked too.
        ErrorMessage="number 8613800138000 is blacklisted",
        RetCode="215396",
    )
    garbage = stack.park("garbage", ErrorCode="InvalidMessage", ErrorMessage="not JSON")

    code = main(["--outputs", outputs, "dlq", "list"])

    out, err = capsys.readouterr()
    assert code == 0
    rows = {line.split()[0]: line for line in out.splitlines()[1:]}
    assert set(rows) == {invalid, refused, garbage}
    assert "InvalidMessage" in rows[invalid]
    assert "2 numbers, template UTA1, 1 param" in rows[invalid]
    assert "PhoneNumbers[1]: not a valid number" in rows[invalid]
    assert "215396" in rows[refused]
    assert "*********8000 is blacklisted" in rows[refused]
    assert "not JSON, 7 bytes" in rows[garbage]
    assert not [n for n in (*NATIONAL_PARTS, "8613800138000") if n in out + err]
    assert "3 shown" in err


def test_list_does_not_consume(stack: Stack, outputs: str) -> None:
    stack.park_all([(VALID, {**REASON, "IdempotencyKey": f"k-{i}"}) for i in range(25)])

    assert main(["--outputs", outputs, "dlq", "list"]) == 0
    # Every message is visible again at once, not after a visibility timeout.
    assert stack.count(stack.dead_letter_queue_url) == (25, 0)
    assert main(["--outputs", outputs, "dlq", "list", "--max", "5"]) == 0
    assert stack.count(stack.dead_letter_queue_url) == (25, 0)


def test_list_reads_each_message_once(
    stack: Stack, outputs: str, capsys: pytest.CaptureFixture[str]
) -> None:
    parked = [stack.park(VALID, **REASON, IdempotencyKey=f"k-{i}") for i in range(25)]

    assert main(["--outputs", outputs, "dlq", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert sorted(m["MessageId"] for m in listed) == sorted(parked)

    assert main(["--outputs", outputs, "dlq", "list", "--json", "--max", "12"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 12


def test_list_json_has_the_reason_and_the_producers_attributes(
    stack: Stack, outputs: str, capsys: pytest.CaptureFixture[str]
) -> None:
    message_id = stack.park(VALID, **REASON, RetCode="18019", IdempotencyKey="k-1")

    assert main(["--outputs", outputs, "dlq", "list", "--json"]) == 0

    [listed] = json.loads(capsys.readouterr().out)
    assert listed["MessageId"] == message_id
    assert listed["ErrorCode"] == "InvalidMessage"
    assert listed["RetCode"] == "18019"
    assert listed["ErrorMessage"] == REASON["ErrorMessage"]
    assert listed["Attributes"] == {"IdempotencyKey": "k-1"}
    assert listed["Body"] == "2 numbers, template UTA1, 1 param"
    assert listed["ParkedAt"].startswith("20")
    assert not [n for n in NATIONAL_PARTS if n in json.dumps(listed)]


def test_list_of_an_empty_queue(outputs: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--outputs", outputs, "dlq", "list"]) == 0
    assert capsys.readouterr().out == "the dead-letter queue is empty\n"


@pytest.mark.parametrize(
    ("body", "summary"),
    [
        (VALID, "2 numbers, template UTA1, 1 param"),
        ("", "not JSON, 0 bytes"),
        ("[1, 2]", "JSON list, not an object, 6 bytes"),
        ('{"TemplateId": "T"}', "no numbers, template T"),
        (
            '{"PhoneNumbers": ["1"], "Template": "x"}',
            "1 number, no template, other fields: Template",
        ),
        (
            json.dumps({"Recipients": [{"PhoneNumber": "+8613800138000"}], "TemplateId": "T"}),
            "1 recipient, template T",
        ),
        (
            json.dumps({"Type": "Notification", "Message": VALID}),
            "SNS envelope: 2 numbers, template UTA1, 1 param",
        ),
        # A number where the template should be is still a number: masked.
        ('{"PhoneNumbers": [], "TemplateId": "13800138000"}', "0 numbers, template *******8000"),
        # A nesting bomb (parked as InvalidMessage) is described, not a crash.
        ("[" * 100_000 + "]" * 100_000, "JSON nested too deep to read, 200000 bytes"),
    ],
    ids=lambda value: value[:20] if isinstance(value, str) else None,
)
def test_a_body_summary_names_no_number(body: str, summary: str) -> None:
    assert summarise(body) == summary


def test_every_message_field_is_known() -> None:
    body = json.dumps(dict.fromkeys(MESSAGE_FIELDS, "x"))

    assert "other fields" not in summarise(body)


def test_redrive_moves_everything_in_order_without_our_attributes(
    stack: Stack, outputs: str, capsys: pytest.CaptureFixture[str]
) -> None:
    bodies = [json.dumps({"PhoneNumbers": [NUMBERS[0]], "TemplateId": f"T{i}"}) for i in range(120)]
    stack.park_all(
        [
            (body, {**TRANSIENT, "RetCode": "18019", "IdempotencyKey": f"k-{i}", "Team": "ops"})
            for i, body in enumerate(bodies)
        ]
    )

    code = main(["--outputs", outputs, "dlq", "redrive"])

    out, err = capsys.readouterr()
    assert code == 0
    assert out == "moved 120 message(s) from the dead-letter queue back to the queue\n"
    assert "redriving: 100/120" in err  # stderr is not a terminal: a line per 100
    assert stack.count(stack.dead_letter_queue_url) == (0, 0)
    moved = stack.drain(stack.queue_url)
    assert [m["Body"] for m in moved] == bodies
    assert [m["Attributes"] for m in moved] == [
        {"IdempotencyKey": f"k-{i}", "Team": "ops"} for i in range(120)
    ]


def test_redrive_max_moves_that_many_and_leaves_the_rest_visible(
    stack: Stack, outputs: str, capsys: pytest.CaptureFixture[str]
) -> None:
    bodies = [f"body {i}" for i in range(25)]
    stack.park_all([(body, TRANSIENT) for body in bodies])

    assert main(["--outputs", outputs, "dlq", "redrive", "--max", "13"]) == 0

    assert "moved 13 message(s)" in capsys.readouterr().out
    assert [m["Body"] for m in stack.drain(stack.queue_url)] == bodies[:13]
    assert stack.count(stack.dead_letter_queue_url) == (12, 0)


UNKNOWN = {"ErrorCode": "ProviderOutcomeUnknown", "ErrorMessage": "read timeout"}


def test_redrive_keeps_what_may_have_been_sent(
    stack: Stack, outputs: str, capsys: pytest.CaptureFixture[str]
) -> None:
    stack.park_all(
        [(f"unknown {i}", UNKNOWN) for i in range(12)] + [("first", TRANSIENT), ("last", TRANSIENT)]
    )

    assert main(["--outputs", outputs, "dlq", "redrive"]) == 0

    out, err = capsys.readouterr()
    assert "moved 2 message(s)" in out
    assert "kept 12 whose outcome is unknown" in err
    assert "--resend-unknown" in err
    assert [m["Body"] for m in stack.drain(stack.queue_url)] == ["first", "last"]
    # Left where they were, and visible again at once for the next look.
    assert stack.count(stack.dead_letter_queue_url) == (12, 0)


def test_redrive_resend_unknown_sends_them_under_a_new_key(
    stack: Stack, outputs: str, capsys: pytest.CaptureFixture[str]
) -> None:
    stack.park("unknown", **UNKNOWN, IdempotencyKey="order-7", Team="ops")
    stack.park("transient", **TRANSIENT, IdempotencyKey="order-8")

    assert main(["--outputs", outputs, "dlq", "redrive", "--resend-unknown"]) == 0

    assert "moved 2 message(s)" in capsys.readouterr().out
    moved = {m["Body"]: m["Attributes"] for m in stack.drain(stack.queue_url)}
    assert moved["transient"] == {"IdempotencyKey": "order-8"}  # only the unknown gets a new key
    assert moved["unknown"]["Team"] == "ops"
    assert moved["unknown"]["IdempotencyKey"].startswith("redrive-")
    assert stack.count(stack.dead_letter_queue_url) == (0, 0)


def test_redrive_does_not_chase_what_comes_straight_back(
    stack: Stack, outputs: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # A gateway that refuses everything again at once: each message moved to the queue is
    # parked again before the redrive's next look at the dead-letter queue. (Up to 5 times
    # each, so that a redrive that does chase them ends, and fails this test, not hangs.)
    real_client = aws.client
    bounces: dict[str, int] = {}

    def refusing_gateway(outputs: Any, service: str) -> Any:
        client = real_client(outputs, service)
        moved: list[str] = []

        def park_again(**_: Any) -> None:
            while moved:
                body = moved.pop()
                bounces[body] = bounces.get(body, 0) + 1
                if bounces[body] <= 5:
                    stack.park(body, **TRANSIENT)

        client.meta.events.register(
            "provide-client-params.sqs.SendMessageBatch",
            lambda params, **_: moved.extend(e["MessageBody"] for e in params["Entries"]),
        )
        client.meta.events.register("after-call.sqs.SendMessageBatch", park_again)
        return client

    monkeypatch.setattr(aws, "client", refusing_gateway)
    stack.park_all([(f"still failing {i}", TRANSIENT) for i in range(3)])

    assert main(["--outputs", outputs, "dlq", "redrive"]) == 0

    out, err = capsys.readouterr()
    assert "moved 3 message(s)" in out
    assert "left 3 that came back during this run" in err
    assert stack.count(stack.dead_letter_queue_url) == (3, 0)
    assert len(stack.drain(stack.queue_url)) == 3


def test_redrive_of_an_empty_queue(outputs: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--outputs", outputs, "dlq", "redrive"]) == 0
    assert "moved 0 message(s)" in capsys.readouterr().out


def test_producer_attributes_drop_ours_and_keep_the_rest() -> None:
    message = DeadLetter(
        message_id="m",
        receipt_handle="h",
        body="b",
        attributes={
            "ErrorCode": {"DataType": "String", "StringValue": "X"},
            "ErrorMessage": {"DataType": "String", "StringValue": "Y"},
            "RetCode": {"DataType": "Number", "StringValue": "1"},
            "IdempotencyKey": {"DataType": "String", "StringValue": "k", "StringListValues": []},
            "Blob": {"DataType": "Binary", "BinaryValue": b"\x00"},
        },
    )

    assert message.producer_attributes() == {
        "IdempotencyKey": {"DataType": "String", "StringValue": "k"},
        "Blob": {"DataType": "Binary", "BinaryValue": b"\x00"},
    }


class FakeSqs:
    """Just enough SQS for `Redrive`: one dead-letter queue, a log of every call, and a
    queue that refuses bodies listed in `refuse`."""

    def __init__(self, bodies: list[str], refuse: set[str] | None = None) -> None:
        self.waiting = [
            {"MessageId": f"m{i}", "ReceiptHandle": f"h{i}", "Body": b}
            for i, b in enumerate(bodies)
        ]
        self.refuse = refuse or set()
        self.calls: list[tuple[str, list[str]]] = []
        self.queue: list[str] = []

    def receive_message(self, **kwargs: Any) -> dict[str, Any]:
        batch = self.waiting[: kwargs["MaxNumberOfMessages"]]
        self.waiting = self.waiting[len(batch) :]
        return {"Messages": batch}

    def send_message_batch(self, **kwargs: Any) -> dict[str, Any]:
        entries = kwargs["Entries"]
        self.calls.append(("send", [e["MessageBody"] for e in entries]))
        ok = [e for e in entries if e["MessageBody"] not in self.refuse]
        self.queue.extend(e["MessageBody"] for e in ok)
        failed = [
            {"Id": e["Id"], "Code": "InvalidParameterValue", "Message": "no", "SenderFault": True}
            for e in entries
            if e["MessageBody"] in self.refuse
        ]
        return {"Successful": [{"Id": e["Id"]} for e in ok], "Failed": failed}

    def delete_message_batch(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(("delete", [e["ReceiptHandle"] for e in kwargs["Entries"]]))
        return {"Successful": [{"Id": e["Id"]} for e in kwargs["Entries"]]}

    def change_message_visibility_batch(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(("release", [e["ReceiptHandle"] for e in kwargs["Entries"]]))
        return {}


def test_redrive_sends_before_it_deletes_and_stops_on_a_refusal() -> None:
    sqs = FakeSqs([f"b{i}" for i in range(15)], refuse={"b12"})
    mover = Redrive(sqs, "dlq", "queue", Progress("redriving", 15, io.StringIO(), tty=False))

    with pytest.raises(CliError, match="InvalidParameterValue"):
        mover.run()

    assert mover.moved == 14
    assert sqs.queue == [f"b{i}" for i in range(15) if i != 12]
    assert sqs.calls == [
        ("send", [f"b{i}" for i in range(10)]),
        ("delete", [f"h{i}" for i in range(10)]),
        ("send", [f"b{i}" for i in range(10, 15)]),
        ("delete", ["h10", "h11", "h13", "h14"]),
        ("release", ["h12"]),  # the refused one stays, visible again for the next try
    ]


def test_redrive_splits_batches_that_would_be_too_large() -> None:
    big = "x" * (redrive.BATCH_BYTES // 3)
    sqs = FakeSqs([f"{i}{big}" for i in range(5)])
    mover = Redrive(sqs, "dlq", "queue", Progress("redriving", 5, io.StringIO(), tty=False))

    mover.run()

    sends = [len(bodies) for name, bodies in sqs.calls if name == "send"]
    assert sends == [2, 2, 1]
    assert [body[0] for body in sqs.queue] == ["0", "1", "2", "3", "4"]


def test_redrive_reports_how_many_moved_before_a_refusal(
    stack: Stack, outputs: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for index in range(3):
        stack.park(f"body {index}", **TRANSIENT)

    def refuse(self: Redrive, group: Any) -> None:
        raise CliError("the queue refused 3 message(s)")

    monkeypatch.setattr(Redrive, "_move", refuse)

    code = main(["--outputs", outputs, "dlq", "redrive"])

    assert code == 1
    assert "moved 0, then stopped: the queue refused" in capsys.readouterr().err


class CyclingSqs:
    """A dead-letter queue read for longer than the visibility timeout: every receive
    answers the same messages again, each time with a new receipt handle."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.receives = 0
        self.released: list[str] = []

    def receive_message(self, **kwargs: Any) -> dict[str, Any]:
        self.receives += 1
        assert self.receives < 10, "peek keeps reading messages it has seen"
        batch = [
            {"MessageId": f"m{i}", "ReceiptHandle": f"h{i}-{self.receives}", "Body": "b"}
            for i in range(min(self.count, kwargs["MaxNumberOfMessages"]))
        ]
        return {"Messages": batch}

    def change_message_visibility_batch(self, **kwargs: Any) -> dict[str, Any]:
        self.released.extend(e["ReceiptHandle"] for e in kwargs["Entries"])
        return {}


def test_peek_stops_when_the_queue_comes_round_again() -> None:
    sqs = CyclingSqs(3)

    found = dead_letters.peek(sqs, "dlq")

    assert [m.message_id for m in found] == ["m0", "m1", "m2"]
    assert sqs.receives == 2
    # Only the newest receipt handle of a message still works.
    assert sqs.released == ["h0-2", "h1-2", "h2-2"]


def test_redrive_deletes_a_message_delivered_twice_without_sending_it_twice() -> None:
    sqs = FakeSqs([f"b{i}" for i in range(10)])
    # SQS delivers at least once: m0 comes again, after it was moved.
    sqs.waiting.append({"MessageId": "m0", "ReceiptHandle": "h0-again", "Body": "b0"})
    mover = Redrive(sqs, "dlq", "queue", Progress("redriving", 10, io.StringIO(), tty=False))

    mover.run()

    assert mover.moved == 10
    assert sqs.queue == [f"b{i}" for i in range(10)]
    assert sqs.calls[-1] == ("delete", ["h0-again"])
