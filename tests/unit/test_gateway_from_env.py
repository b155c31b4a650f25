"""The function's own wiring: the boto3 clients `gateway_from_env` makes."""

from __future__ import annotations

from typing import cast

from sms_gateway.gateway import CHUNK_WORKERS, DYNAMODB_CONNECTIONS, gateway_from_env
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
