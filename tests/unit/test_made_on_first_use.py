"""Made on first use, then shared: `lazy.once`, the container's one SQS client, the door."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from local_gateway.context import LocalContext
from sms_gateway import handler
from sms_gateway.gateway import AwsClients, Gateway
from sms_gateway.gateway_key import DEVELOPMENT_KEY, GatewayKey
from sms_gateway.handler import lambda_handler
from sms_gateway.lazy import once
from sms_gateway.receipt_checks import ReceiptCheck, SessionCheck
from sms_gateway.settings import Settings
from tests.harness import drain_queue, message, sqs_event, sqs_record
from tests.unit.conftest import TABLE, Aws, fast_client
from uspeedo_sandbox import Sandbox


def test_nothing_is_made_before_the_first_use_and_the_same_object_after() -> None:
    made: list[object] = []

    def make() -> object:
        made.append(object())
        return made[-1]

    get = once(make)

    assert made == []
    first = get()
    assert get() is first
    assert made == [first]


def test_threads_asking_at_once_get_one_object() -> None:
    made: list[object] = []
    start = threading.Barrier(8)

    def make() -> object:
        made.append(object())
        time.sleep(0.05)  # long enough for every other thread to ask meanwhile
        return made[-1]

    get = once(make)

    def ask(_: int) -> object:
        start.wait()
        return get()

    with ThreadPoolExecutor(8) as pool:
        got = list(pool.map(ask, range(8)))

    assert len(made) == 1
    assert all(item is made[0] for item in got)


class CountingFactory:
    """A client factory that counts the clients it makes."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.made = 0

    def __call__(self) -> Any:
        self.made += 1
        return self.client


@pytest.fixture
def receipts_url(aws: Aws) -> str:
    url: str = aws.sqs.create_queue(QueueName="receipts")["QueueUrl"]
    return url


def _install(aws: Aws, sandbox: Sandbox, clients: AwsClients, **settings: Any) -> Gateway:
    config = Settings(
        secret_id=aws.secret_arn,
        endpoint=sandbox.url,
        idempotency_table=TABLE,
        dead_letter_queue_url=aws.dlq_url,
        **settings,
    )
    gateway = Gateway.from_settings(config, clients, client_factory=fast_client)
    handler.use_gateway(gateway)
    return gateway


@pytest.fixture
def counted_sqs(aws: Aws, sandbox: Sandbox, receipts_url: str) -> Iterator[CountingFactory]:
    """A gateway whose SQS clients come from a factory that counts them."""
    sqs = CountingFactory(aws.sqs)
    clients = AwsClients(dynamodb=aws.dynamodb, secretsmanager=aws.secretsmanager, sqs=sqs)
    # Checks due at once, so the test can read the one it scheduled.
    gateway = _install(aws, sandbox, clients, receipts_queue_url=receipts_url, receipt_delay_s=0)
    yield sqs
    handler.use_gateway(None)
    gateway.close()


def test_the_dead_letter_queue_and_the_receipt_checks_share_one_sqs_client(
    aws: Aws, receipts_url: str, counted_sqs: CountingFactory, context: LocalContext
) -> None:
    assert counted_sqs.made == 0  # building the gateway makes none

    sent, parked = sqs_record(message()), sqs_record("not json")
    answer = lambda_handler(sqs_event(sent, parked), context)

    assert answer == {"batchItemFailures": []}
    assert len(aws.dead_letters()) == 1
    assert len(drain_queue(aws.sqs, receipts_url)) == 1
    assert counted_sqs.made == 1


def test_without_a_bus_there_is_no_door_and_checks_wait_for_the_queue(
    aws: Aws, sandbox: Sandbox, receipts_url: str, context: LocalContext
) -> None:
    clients = AwsClients.of(aws.dynamodb, aws.secretsmanager, aws.sqs)
    gateway = _install(aws, sandbox, clients, receipts_queue_url=receipts_url)
    session = SessionCheck("1234", ("(86)13800138001",), (None,))
    check = sqs_record(
        ReceiptCheck(time.time(), 1, (session,)).to_body(GatewayKey(DEVELOPMENT_KEY))
    )
    try:
        answer = lambda_handler(sqs_event(check), context)
    finally:
        handler.use_gateway(None)
        gateway.close()

    assert gateway.receipt_door() is None
    assert answer == {"batchItemFailures": [{"itemIdentifier": check["messageId"]}]}


def test_with_a_bus_the_door_is_made_once(aws: Aws, sandbox: Sandbox, receipts_url: str) -> None:
    events = CountingFactory(object())
    clients = AwsClients(
        dynamodb=aws.dynamodb, secretsmanager=aws.secretsmanager, sqs=lambda: aws.sqs, events=events
    )
    gateway = _install(aws, sandbox, clients, receipts_queue_url=receipts_url, event_bus_name="b")
    try:
        door = gateway.receipt_door()
        assert door is not None
        assert gateway.receipt_door() is door
        assert events.made == 0  # EventBridge's client waits for the first event
    finally:
        handler.use_gateway(None)
        gateway.close()
