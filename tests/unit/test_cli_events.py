"""`smsgw events tail`: delivery events printed as they arrive (numbers masked unless
--reveal); against a deployed stack through a temporary rule and queue that are gone
afterwards, however the tail ends."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from local_gateway.resources import create_delivery_events
from sms_gateway.delivery_events import DETAIL_TYPE, SOURCE
from smsgw import aws, events, temporary_route
from smsgw.cli import INTERRUPTED, main
from smsgw.outputs import Outputs
from tests.unit.test_cli_harness import (
    fake_aws_environment,
    local_client,
    running_moto_server,
    write_outputs,
)

BUS = "sms-gateway-events"
TOPIC_ARN = "arn:aws:sns:us-east-1:123456789012:sms-gateway"
FULL = "(86)13800138001"
NATIONAL = "13800138001"


def detail(**changes: Any) -> dict[str, Any]:
    """A delivery event's detail as the gateway publishes it (number masked)."""
    return {
        "EventId": "3f9c0d1e",
        "SessionNo": "session-1",
        "PhoneNumber": "(**)*******8002",
        "Country": "CN",
        "Status": "DELIVERED",
        "ReceiptCode": "DELIVRD",
        "ReceiptDesc": "delivered",
        "ReceiptTime": 1764499200,
        "CostCount": 1,
        "UserId": "order-17",
        **changes,
    }


def put(client: Any, bus: str, *details: dict[str, Any]) -> None:
    """Put events on the bus as the gateway does."""
    answer = client.put_events(
        Entries=[
            {
                "Source": SOURCE,
                "DetailType": DETAIL_TYPE,
                "Detail": json.dumps(d),
                "EventBusName": bus,
            }
            for d in details
        ]
    )
    assert answer["FailedEntryCount"] == 0


@dataclass
class Moto:
    """The bus in moto; `queue_url`: the local gateway's events queue."""

    sqs: Any
    events: Any
    queue_url: str
    bus: str

    def put(self, *details: dict[str, Any]) -> None:
        put(self.events, self.bus, *details)

    def waiting(self) -> int:
        """Messages left in the events queue, visible or not."""
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=self.queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return sum(int(value) for value in attributes.values())

    def temporary_rules(self, bus: str = BUS) -> list[dict[str, Any]]:
        answer = self.events.list_rules(NamePrefix=temporary_route.PREFIX, EventBusName=bus)
        return list(answer["Rules"])

    def temporary_queues(self) -> list[str]:
        answer = self.sqs.list_queues(QueueNamePrefix=temporary_route.PREFIX)
        return list(answer.get("QueueUrls") or [])


@pytest.fixture
def moto(monkeypatch: pytest.MonkeyPatch) -> Iterator[Moto]:
    """`make local`'s bus, rule and events queue in moto; the stack's bus beside it."""
    fake_aws_environment(monkeypatch)
    # moto waits the whole WaitTimeSeconds on an empty queue.
    monkeypatch.setattr(events, "WAIT_S", 1)
    with mock_aws():
        sqs, client = boto3.client("sqs"), boto3.client("events")
        made = create_delivery_events(sqs, client)
        client.create_event_bus(Name=BUS)
        yield Moto(sqs, client, made.events_queue_url, made.event_bus_name)


@pytest.fixture
def local_outputs(moto: Moto, tmp_path: Path) -> str:
    """Outputs with the events queue, as `make local` writes them (the clients stay on
    the in-process moto: no endpoint)."""
    values = {"TopicArn": TOPIC_ARN, "EventBusName": moto.bus, "EventsQueueUrl": moto.queue_url}
    return str(write_outputs(tmp_path, values))


@pytest.fixture
def stack_outputs(moto: Moto, tmp_path: Path) -> str:
    """Outputs of a deployed stack: a bus, no events queue."""
    return str(write_outputs(tmp_path, {"TopicArn": TOPIC_ARN, "EventBusName": BUS}))


def tail(outputs: str, *options: str) -> int:
    return main(["--outputs", outputs, "events", "tail", *options])


def test_local_prints_a_masked_line_per_event_and_deletes_it(
    moto: Moto, local_outputs: str, capsys: pytest.CaptureFixture[str]
) -> None:
    moto.put(detail(PhoneNumber=FULL), detail(SessionNo="session-2", UserId=None))

    assert tail(local_outputs, "--count", "2") == 0

    out, err = capsys.readouterr()
    header, first, second = out.splitlines()
    assert header == events.header()
    assert header.split()[2:] == [
        "Status",
        "Phone",
        "Country",
        "SessionNo",
        "ReceiptCode",
        "UserId",
    ]
    assert first.split()[2:] == [
        "DELIVERED",
        "(**)*******8001",
        "CN",
        "session-1",
        "DELIVRD",
        "order-17",
    ]
    assert first.split()[0].startswith("20")
    # No UserId: a dash keeps the columns countable.
    assert second.split()[2:] == ["DELIVERED", "(**)*******8002", "CN", "session-2", "DELIVRD", "-"]
    # Columns line up: each starts where the header's does.
    assert first.index("(**)") == second.index("(**)") == header.index("Phone")
    assert NATIONAL not in out + err
    assert "2 events shown" in err
    assert moto.waiting() == 0


def test_a_line_stays_one_line_whatever_the_user_id(
    moto: Moto, local_outputs: str, capsys: pytest.CaptureFixture[str]
) -> None:
    moto.put(detail(UserId="a\nb\x1b[2Jc"))

    assert tail(local_outputs, "--count", "1") == 0

    [_, line] = capsys.readouterr().out.splitlines()
    assert line.split()[-1] == "a?b?[2Jc"


def test_json_prints_each_detail_on_a_line_masked(
    moto: Moto, local_outputs: str, capsys: pytest.CaptureFixture[str]
) -> None:
    moto.put(detail(PhoneNumber=FULL), detail(Status="FAILED", ReceiptCode="UNDELIV"))

    assert tail(local_outputs, "--count", "2", "--json") == 0

    out, err = capsys.readouterr()
    assert [json.loads(line) for line in out.splitlines()] == [
        detail(PhoneNumber="(**)*******8001"),
        detail(Status="FAILED", ReceiptCode="UNDELIV"),
    ]
    assert NATIONAL not in out + err


@pytest.mark.parametrize("as_json", [False, True])
def test_reveal_prints_the_number_as_published(
    moto: Moto, local_outputs: str, capsys: pytest.CaptureFixture[str], as_json: bool
) -> None:
    moto.put(detail(PhoneNumber=FULL))

    assert tail(local_outputs, "--count", "1", "--reveal", *(["--json"] if as_json else [])) == 0

    out = capsys.readouterr().out
    assert FULL in out
    if as_json:
        assert json.loads(out)["PhoneNumber"] == FULL


def test_count_takes_no_more_than_it_prints(
    moto: Moto, local_outputs: str, capsys: pytest.CaptureFixture[str]
) -> None:
    moto.put(*(detail(SessionNo=f"session-{i}") for i in range(3)))

    assert tail(local_outputs, "--count", "2", "--json") == 0

    assert len(capsys.readouterr().out.splitlines()) == 2
    # The shared local queue keeps the third for the next tail, visible at once.
    assert moto.waiting() == 1
    assert tail(local_outputs, "--count", "1", "--json") == 0
    assert json.loads(capsys.readouterr().out)["SessionNo"] == "session-2"


def test_timeout_ends_a_quiet_tail(
    moto: Moto, local_outputs: str, capsys: pytest.CaptureFixture[str]
) -> None:
    started = time.monotonic()

    assert tail(local_outputs, "--timeout", "0.5") == 0

    assert time.monotonic() - started < 3
    out, err = capsys.readouterr()
    assert out.splitlines() == [events.header()]
    assert "0 events shown" in err


def test_timeout_counts_from_the_last_event(
    moto: Moto,
    local_outputs: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    def late_event() -> None:
        time.sleep(0.6)  # a long poll that answers after the --timeout
        moto.put(detail(SessionNo="late"))

    receiving(monkeypatch, late_event, lambda: moto.put(detail(SessionNo="next")))

    assert tail(local_outputs, "--timeout", "0.5", "--json") == 0

    shown = [json.loads(line)["SessionNo"] for line in capsys.readouterr().out.splitlines()]
    assert shown == ["late", "next"]


def test_status_filters_and_leaves_the_rest_on_the_shared_queue(
    moto: Moto, local_outputs: str, capsys: pytest.CaptureFixture[str]
) -> None:
    moto.put(
        detail(SessionNo="s-delivered"),
        detail(SessionNo="s-failed", Status="FAILED"),
        detail(SessionNo="s-unknown", Status="UNKNOWN", ReceiptTime=None, CostCount=None),
    )

    assert tail(local_outputs, "--status", "failed", "--status", "UNKNOWN", "--timeout", "1") == 0

    lines = capsys.readouterr().out.splitlines()[1:]
    assert sorted(line.split()[2] for line in lines) == ["FAILED", "UNKNOWN"]
    assert moto.waiting() == 1


def test_messages_that_are_not_delivery_events_are_skipped(
    moto: Moto, local_outputs: str, capsys: pytest.CaptureFixture[str]
) -> None:
    moto.sqs.send_message(QueueUrl=moto.queue_url, MessageBody="not json")
    moto.sqs.send_message(
        QueueUrl=moto.queue_url,
        MessageBody=json.dumps({"source": "other", "detail-type": DETAIL_TYPE, "detail": {}}),
    )
    moto.put(detail())

    assert tail(local_outputs, "--count", "1", "--json") == 0

    assert json.loads(capsys.readouterr().out) == detail()


def test_a_bad_status_is_a_usage_error(local_outputs: str) -> None:
    with pytest.raises(SystemExit) as exited:
        tail(local_outputs, "--status", "SENT")
    assert exited.value.code == 2


def test_without_a_bus_it_exits_1_saying_so(
    moto: Moto, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    outputs = write_outputs(tmp_path, {"TopicArn": TOPIC_ARN, "QueueUrl": "q"})

    assert tail(str(outputs), "--count", "1") == 1

    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1
    assert "has no SmsGateway.EventBusName" in err
    assert moto.temporary_queues() == []


def receiving(
    monkeypatch: pytest.MonkeyPatch, *actions: Callable[[], None]
) -> list[tuple[list[dict[str, Any]], list[str]]]:
    """Run `actions[i]` in the i-th long poll, before it reads the queue, and record the
    temporary rules and queues each poll saw."""
    real = events._receive
    seen: list[tuple[list[dict[str, Any]], list[str]]] = []
    client = boto3.client("events")
    sqs = boto3.client("sqs")

    def receive(*args: Any) -> list[dict[str, Any]]:
        rules = client.list_rules(NamePrefix=temporary_route.PREFIX, EventBusName=BUS)["Rules"]
        queues = sqs.list_queues(QueueNamePrefix=temporary_route.PREFIX).get("QueueUrls") or []
        seen.append((rules, queues))
        if len(seen) <= len(actions):
            actions[len(seen) - 1]()
        return real(*args)

    monkeypatch.setattr(events, "_receive", receive)
    return seen


def calls(monkeypatch: pytest.MonkeyPatch, service: str, operation: str) -> list[dict[str, Any]]:
    """The parameters of each `operation` call the CLI's `service` clients make."""
    made: list[dict[str, Any]] = []
    real = aws.client

    def client(outputs: Outputs, name: str) -> Any:
        built = real(outputs, name)
        if name == service:

            def record(params: dict[str, Any], **kwargs: Any) -> None:
                made.append(dict(params))

            built.meta.events.register(f"provide-client-params.{service}.{operation}", record)
        return built

    monkeypatch.setattr(aws, "client", client)
    return made


def test_deployed_tails_through_a_temporary_rule_and_queue_then_removes_them(
    moto: Moto,
    stack_outputs: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    attributes: dict[str, str] = {}

    def publish() -> None:
        [queue_url] = moto.temporary_queues()
        answer = moto.sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["All"])
        attributes.update(answer["Attributes"])
        put(moto.events, BUS, detail(PhoneNumber=FULL))

    seen = receiving(monkeypatch, publish)
    created = calls(monkeypatch, "sqs", "CreateQueue")

    assert tail(stack_outputs, "--count", "1", "--json") == 0

    out, err = capsys.readouterr()
    assert json.loads(out) == detail(PhoneNumber="(**)*******8001")
    [rule], [queue_url] = seen[0]
    name = rule["Name"]
    assert name.startswith(temporary_route.PREFIX)
    assert len(name) == len(temporary_route.PREFIX) + 8
    assert queue_url.endswith("/" + name)
    assert json.loads(rule["EventPattern"]) == {"source": [SOURCE], "detail-type": [DETAIL_TYPE]}
    # Asked for, not left to the default (moto's is on whatever the request says).
    [create_queue] = created
    assert create_queue["Attributes"]["SqsManagedSseEnabled"] == "true"
    assert attributes["SqsManagedSseEnabled"] == "true"
    [statement] = json.loads(attributes["Policy"])["Statement"]
    assert statement["Resource"] == attributes["QueueArn"]
    assert statement["Principal"] == {"Service": "events.amazonaws.com"}
    assert statement["Action"] == "sqs:SendMessage"
    assert statement["Condition"] == {"ArnEquals": {"aws:SourceArn": rule["Arn"]}}
    # Gone afterwards, and said so.
    assert moto.temporary_rules() == []
    assert moto.temporary_queues() == []
    assert f"removed the temporary rule and queue {name}" in err
    assert NATIONAL not in out + err


def test_two_tails_get_their_own_names(
    moto: Moto, stack_outputs: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    names = []
    real = events.follow

    def follow(feed: events.Feed, options: events.TailOptions) -> int:
        names.append(feed.queue_url.rsplit("/", 1)[-1])
        return real(feed, options)

    monkeypatch.setattr(events, "follow", follow)
    monkeypatch.setattr(events, "WAIT_S", 0)

    assert tail(stack_outputs, "--timeout", "0.01") == 0
    assert tail(stack_outputs, "--timeout", "0.01") == 0
    assert len(set(names)) == 2


def interrupt() -> None:
    raise KeyboardInterrupt


def terminate() -> None:
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(5)  # the handler raises in here
    pytest.fail("SIGTERM did not stop the tail")


def refuse() -> None:
    raise ClientError(
        {"Error": {"Code": "AccessDenied", "Message": "not allowed"}}, "ReceiveMessage"
    )


@pytest.mark.parametrize(
    ("stop", "code", "said"),
    [
        (interrupt, INTERRUPTED, "smsgw: interrupted"),
        (terminate, events.TERMINATED, "smsgw: terminated"),
        (refuse, 1, "AWS refused: AccessDenied: not allowed"),
    ],
)
def test_the_temporary_rule_and_queue_go_however_the_tail_ends(
    moto: Moto,
    stack_outputs: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    stop: Callable[[], None],
    code: int,
    said: str,
) -> None:
    seen = receiving(monkeypatch, stop)
    sigterm = signal.getsignal(signal.SIGTERM)

    assert tail(stack_outputs) == code

    [rule], [_] = seen[0]
    assert moto.temporary_rules() == []
    assert moto.temporary_queues() == []
    err = capsys.readouterr().err
    assert f"removed the temporary rule and queue {rule['Name']}" in err
    assert said in err
    assert "Traceback" not in err
    assert signal.getsignal(signal.SIGTERM) == sigterm


def test_a_failed_setup_removes_what_it_made(
    moto: Moto, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    outputs = write_outputs(tmp_path, {"TopicArn": TOPIC_ARN, "EventBusName": "no-such-bus"})

    assert tail(str(outputs), "--count", "1") == 2

    err = capsys.readouterr().err
    assert "ResourceNotFoundException" in err
    assert "removed the temporary queue smsgw-tail-" in err
    assert "Traceback" not in err
    assert moto.temporary_queues() == []


def test_a_cleanup_that_fails_says_what_is_left(
    moto: Moto,
    stack_outputs: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    def refused(events_client: Any, bus: str, name: str) -> None:
        raise ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "DeleteRule")

    monkeypatch.setattr(temporary_route, "remove_rule", refused)
    monkeypatch.setattr(events, "WAIT_S", 0)

    assert tail(stack_outputs, "--timeout", "0.01") == 0

    err = capsys.readouterr().err
    [rule] = moto.temporary_rules()
    assert "DeleteRule refused: AccessDenied" in err
    assert f"could not remove the temporary rule {rule['Name']}" in err
    assert "--cleanup-stale" in err
    assert moto.temporary_queues() == []


def test_a_second_ctrl_c_does_not_cut_the_cleanup_short(
    moto: Moto, stack_outputs: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = temporary_route.remove_rule

    def impatient(events_client: Any, bus: str, name: str) -> None:
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.2)  # where the KeyboardInterrupt would be raised
        real(events_client, bus, name)

    monkeypatch.setattr(temporary_route, "remove_rule", impatient)
    receiving(monkeypatch, interrupt)

    assert tail(stack_outputs) == INTERRUPTED

    assert moto.temporary_rules() == []
    assert moto.temporary_queues() == []
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_a_running_tail_keeps_its_queue_marked_alive(moto: Moto) -> None:
    temporary = temporary_route.TemporaryRoute("smsgw-tail-0123abcd", BUS, moto.sqs, moto.events)
    temporary.create()
    moto.sqs.tag_queue(QueueUrl=temporary.queue_url, Tags={temporary_route.HEARTBEAT_TAG: "1"})

    temporary.heartbeat()  # not due yet
    assert _heartbeat(moto, temporary.queue_url) == 1
    temporary.last_beat -= temporary_route.HEARTBEAT_S
    temporary.heartbeat()
    assert abs(_heartbeat(moto, temporary.queue_url) - time.time()) < 60

    temporary.remove()


def _heartbeat(moto: Moto, queue_url: str) -> int:
    return int(moto.sqs.list_queue_tags(QueueUrl=queue_url)["Tags"][temporary_route.HEARTBEAT_TAG])


def test_cleanup_stale_removes_what_killed_tails_left(
    moto: Moto, stack_outputs: str, capsys: pytest.CaptureFixture[str]
) -> None:
    now = int(time.time())
    for name, beat in (("smsgw-tail-0000dead", now - 7200), ("smsgw-tail-0000a11e", now - 60)):
        made = temporary_route.TemporaryRoute(name, BUS, moto.sqs, moto.events)
        made.create()
        moto.sqs.tag_queue(QueueUrl=made.queue_url, Tags={temporary_route.HEARTBEAT_TAG: str(beat)})
    # A tail killed while it removed its queue: a rule whose queue is gone.
    orphan = temporary_route.TemporaryRoute("smsgw-tail-00000fff", BUS, moto.sqs, moto.events)
    orphan.create()
    moto.sqs.delete_queue(QueueUrl=orphan.queue_url)
    # Not a tail's, though the prefix matches.
    moto.sqs.create_queue(QueueName="smsgw-tail-mine")

    assert tail(stack_outputs, "--cleanup-stale") == 0

    assert [rule["Name"] for rule in moto.temporary_rules()] == ["smsgw-tail-0000a11e"]
    assert sorted(url.rsplit("/", 1)[-1] for url in moto.temporary_queues()) == [
        "smsgw-tail-0000a11e",
        "smsgw-tail-mine",
    ]
    out = capsys.readouterr().out
    assert "removed 1 stale queue(s) and 2 stale rule(s)" in out
    assert "smsgw-tail-0000dead" in out
    assert "smsgw-tail-00000fff" in out


def test_local_flag_reads_the_local_gateways_queue(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(events, "WAIT_S", 1)
    with running_moto_server(monkeypatch) as endpoint:
        sqs, client = local_client(endpoint, "sqs"), local_client(endpoint, "events")
        made = create_delivery_events(sqs, client)
        values = {
            "AwsEndpointUrl": endpoint,
            "EventBusName": made.event_bus_name,
            "EventsQueueUrl": made.events_queue_url,
        }
        write_outputs(tmp_path / ".local", values, name="outputs.json")
        monkeypatch.chdir(tmp_path)
        put(client, made.event_bus_name, detail(PhoneNumber=FULL))

        assert main(["--local", "events", "tail", "--count", "1"]) == 0

    out = capsys.readouterr().out
    assert "(**)*******8001" in out.splitlines()[1]
    assert NATIONAL not in out
