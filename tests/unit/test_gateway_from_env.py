"""The function's own wiring: the boto3 clients `gateway_from_env` makes."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import cast

from sms_gateway.gateway import (
    CHUNK_WORKERS,
    DYNAMODB_CONNECTIONS,
    gateway_from_env,
    made_one_at_a_time,
)
from sms_gateway.idempotency import DynamoLedger
from tests.unit.conftest import TABLE, Aws


def test_the_dynamodb_client_keeps_a_connection_for_every_call_in_flight(aws: Aws) -> None:
    # Each chunk worker claims or completes a record while the protection pool updates
    # counters: with botocore's default 10 connections, the rest would be opened and thrown
    # away again, call after call.
    gateway = gateway_from_env({"USPEEDO_SECRET_ID": aws.secret_arn, "IDEMPOTENCY_TABLE": TABLE})
    try:
        client = cast(DynamoLedger, gateway.ledger).store.client
        assert client.meta.config.max_pool_connections == DYNAMODB_CONNECTIONS
        assert DYNAMODB_CONNECTIONS > CHUNK_WORKERS
    finally:
        gateway.close()


class _Session:
    """Counts the clients it is making at once; each takes a while, as botocore's do."""

    def __init__(self) -> None:
        self.making = 0
        self.most_at_once = 0
        self._count = threading.Lock()

    def client(self, service: str) -> str:
        with self._count:
            self.making += 1
            self.most_at_once = max(self.most_at_once, self.making)
        time.sleep(0.05)
        with self._count:
            self.making -= 1
        return service


def test_the_session_never_makes_two_clients_at_once() -> None:
    # The SQS and EventBridge clients of one batch of receipt checks can be asked for from
    # two worker threads together; a boto3 session must not make them side by side.
    session = _Session()
    later = made_one_at_a_time(session)
    factories = [later("sqs"), later("events"), later("sqs")]

    with ThreadPoolExecutor(len(factories)) as pool:
        made = list(pool.map(lambda make: make(), factories))

    assert made == ["sqs", "events", "sqs"]
    assert session.most_at_once == 1
