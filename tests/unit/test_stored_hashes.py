"""What the idempotency table keeps cannot give a one-time code back.

The attack: whoever reads the table (or a backup) knows the phone number and the template
and tries every six-digit code against the stored hashes. Unkeyed, it takes about a second.
Keyed with the gateway key, it fails without the key — and succeeds with it, which shows
the attack below is the real one."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from local_gateway.context import LocalContext
from local_gateway.resources import create_idempotency_table
from sms_gateway.gateway import AwsClients, Gateway
from sms_gateway.gateway_key import DEVELOPMENT_KEY, GatewayKey
from sms_gateway.idempotency import DynamoLedger
from sms_gateway.message_input import parse_message
from sms_gateway.settings import Settings
from tests.unit.conftest import Aws, fast_client
from uspeedo_sandbox import Sandbox

Item = dict[str, Any]  # one DynamoDB item as scan returns it
NUMBER = "+8613800138000"
CODE = "739201"
OTP = {"PhoneNumbers": [NUMBER], "TemplateId": "UTA-OTP", "TemplateParams": [CODE]}
KEY_A, KEY_B = "a" * 20 + "-gateway-key-one-A", "b" * 20 + "-gateway-key-two-B"
# The codes the attacker tries: a block that holds the real one (every six-digit code
# would take longer and prove no more).
CANDIDATES = [f"{code:06d}" for code in range(730_000, 750_000)]


def _send_through_a_gateway(aws: Aws, sandbox: Sandbox, table: str, key: str) -> list[Item]:
    """Send the one-time code through a gateway with its own key and table; the scan."""
    secret = aws.secretsmanager.create_secret(
        Name=f"gateway-key-{table}", SecretString=json.dumps({"Key": key})
    )["ARN"]
    create_idempotency_table(aws.dynamodb, table)
    settings = Settings(
        secret_id=aws.secret_arn,
        endpoint=sandbox.url,
        idempotency_table=table,
        dead_letter_queue_url=aws.dlq_url,
        gateway_key_secret_id=secret,
    )
    gateway = Gateway.from_settings(
        settings,
        AwsClients.of(aws.dynamodb, aws.secretsmanager, aws.sqs),
        client_factory=fast_client,
    )
    gateway.register_lambda_context(LocalContext())  # type: ignore[arg-type]
    try:
        gateway.accept(dict(OTP))
    finally:
        gateway.close()
    items: list[Item] = aws.dynamodb.scan(TableName=table)["Items"]
    return items


@pytest.fixture
def tables(aws: Aws, sandbox: Sandbox) -> tuple[list[Item], list[Item]]:
    return (
        _send_through_a_gateway(aws, sandbox, "idempotency-a", KEY_A),
        _send_through_a_gateway(aws, sandbox, "idempotency-b", KEY_B),
    )


def _values(item: Item) -> dict[str, str]:
    return {name: next(iter(value.values())) for name, value in item.items()}


def test_the_table_holds_neither_the_number_nor_the_code(
    tables: tuple[list[Item], list[Item]],
) -> None:
    for items in tables:
        text = json.dumps(items)
        assert len(items) == 1
        assert "13800138000" not in text
        assert CODE not in text


def test_no_stored_hash_is_shared_by_two_gateways_with_other_keys(
    tables: tuple[list[Item], list[Item]],
) -> None:
    (first,), (second,) = tables
    a, b = _values(first), _values(second)

    # The hashes the message decides — the record's key and its payload check — differ;
    # what both share is bookkeeping (status, times), never a value derived from the message.
    shared = {name for name in a.keys() & b.keys() if a[name] == b[name]}
    assert shared <= {"status", "expiration", "in_progress_expiration"}
    assert a["id"] != b["id"]
    assert a["validation"] != b["validation"]


def _guesses(store: DynamoLedger, fingerprint_of: Any) -> dict[str, str]:
    """validation hash → the code it was computed from, for every candidate code."""
    found = {}
    for code in CANDIDATES:
        candidate = parse_message({**OTP, "TemplateParams": [code]})
        found[store.store._generate_hash(fingerprint_of(candidate))] = code
    return found


def test_a_brute_force_of_the_code_fails_without_the_key(
    tables: tuple[list[Item], list[Item]], aws: Aws
) -> None:
    (record,), _ = tables
    stored = _values(record)["validation"]
    ledger = DynamoLedger("idempotency-a", 60, boto3_client=aws.dynamodb)

    def unkeyed(message: Any) -> str:
        return hashlib.sha256(message.canonical_text().encode()).hexdigest()

    attempts = {
        "unkeyed SHA-256": _guesses(ledger, unkeyed),
        "the public development key": _guesses(
            ledger, lambda m: m.fingerprint(GatewayKey(DEVELOPMENT_KEY))
        ),
        "another gateway's key": _guesses(ledger, lambda m: m.fingerprint(GatewayKey(KEY_B))),
    }
    for name, guesses in attempts.items():
        assert stored not in guesses, f"the code fell to a brute force with {name}"
    # With the key, the same attack finds it: the record really is this message's.
    assert _guesses(ledger, lambda m: m.fingerprint(GatewayKey(KEY_A)))[stored] == CODE
