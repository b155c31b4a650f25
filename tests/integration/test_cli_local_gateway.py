"""The `smsgw` CLI against the running local gateway: it sends through each door, and a
message parked for a cause that was then fixed is brought back by `dlq redrive` and sent."""

from __future__ import annotations

import json

import pytest

from local_gateway.gateway import LocalGateway
from smsgw.cli import main
from tests.harness import message
from tests.integration.conftest import outputs_file, queue_is_empty, sandbox_of, wait_until
from uspeedo_sandbox import Fault


def _smsgw(gateway: LocalGateway, *args: str) -> int:
    return main(["--outputs", str(outputs_file(gateway)), *args])


@pytest.mark.parametrize("door", ["sns", "sqs", "api"])
def test_send_through_each_door_reaches_the_provider_once(gateway: LocalGateway, door: str) -> None:
    code = _smsgw(
        gateway, "send", "--to", "+8613800138000", "--template", "UTA2211ABCDEF",
        "--param", "739201", "--user-id", f"cli-{door}", "--via", door,
    )  # fmt: skip

    assert code == 0
    sandbox = sandbox_of(gateway)
    wait_until(lambda: len(sandbox.accepted) == 1 and queue_is_empty(gateway))
    assert [m.body["UserId"] for m in sandbox.accepted] == [f"cli-{door}"]


def test_dlq_redrive_brings_a_fixed_message_back_and_it_is_sent(
    gateway: LocalGateway, capsys: pytest.CaptureFixture[str]
) -> None:
    sandbox = sandbox_of(gateway)
    # The provider refuses the template (not yet approved): the message is parked.
    sandbox.set_fault(Fault(kind="retcode", ret_code=18017, template_id="UTA-PENDING"))
    body = message("+8613800138000", TemplateId="UTA-PENDING", UserId="redrive-1")
    sqs = gateway.clients["sqs"]
    sqs.send_message(
        QueueUrl=gateway.outputs["QueueUrl"],
        MessageBody=json.dumps(body),
        MessageAttributes={"IdempotencyKey": {"DataType": "String", "StringValue": "redrive-1"}},
    )
    wait_until(lambda: _parked_count(gateway) == 1 and queue_is_empty(gateway))
    assert _smsgw(gateway, "dlq", "list") == 0
    assert "ProviderRejected" in capsys.readouterr().out

    sandbox.clear_faults()  # the template is approved now
    assert _smsgw(gateway, "dlq", "redrive") == 0

    wait_until(lambda: len(sandbox.accepted) == 1 and queue_is_empty(gateway))
    assert [m.body["UserId"] for m in sandbox.accepted] == ["redrive-1"]
    assert _parked_count(gateway) == 0


def test_a_message_whose_outcome_is_unknown_is_resent_only_when_asked(
    gateway: LocalGateway, capsys: pytest.CaptureFixture[str]
) -> None:
    sandbox = sandbox_of(gateway)
    # The provider takes the message and the answer is lost: it may have been sent.
    sandbox.set_fault(Fault(kind="drop", count=1))
    body = message("+8613800138000", UserId="unknown-1")
    gateway.clients["sqs"].send_message(
        QueueUrl=gateway.outputs["QueueUrl"], MessageBody=json.dumps(body)
    )
    wait_until(lambda: _parked_count(gateway) == 1 and queue_is_empty(gateway))
    calls = len(sandbox.requests)

    assert _smsgw(gateway, "dlq", "redrive") == 0
    assert "kept 1 whose outcome is unknown" in capsys.readouterr().err
    assert _parked_count(gateway) == 1
    assert len(sandbox.requests) == calls  # nothing went back to the provider

    # A person checked: it was not sent. Now it goes out, once, under a new key.
    assert _smsgw(gateway, "dlq", "redrive", "--resend-unknown") == 0
    wait_until(lambda: len(sandbox.accepted) == 1 and queue_is_empty(gateway))
    assert [m.body["UserId"] for m in sandbox.accepted] == ["unknown-1"]
    assert _parked_count(gateway) == 0


def _parked_count(gateway: LocalGateway) -> int:
    return gateway.depth(gateway.outputs["DeadLetterQueueUrl"])
