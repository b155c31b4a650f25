"""The faults of the matrix: every failure the sandbox and moto can produce, each with the
fate the contract promises for its messages at a queue door (SQS, SNS) and at a door
whose caller waits (API, direct invoke).

"Transient" faults clear after k = 2 failed attempts (the provider recovers, or the
operator fixes the secret); "persistent" ones never do; "permanent" ones are the
provider's refusal of the message itself. Provider faults are installed per message (the
sandbox matches them on the message's TemplateId), so every message meets its fault,
whatever order a batch's records run in. AWS faults are botocore event hooks on the
gateway's own clients, raised where the real error would surface — after botocore's own
retries, which a hook does not go through.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from botocore.exceptions import ClientError, EndpointConnectionError

from tests.conftest import SANDBOX_ACCESS_KEY_ID, SANDBOX_ACCOUNT_ID, SANDBOX_SECRET
from tests.reliability.doors import ContextFactory
from tests.reliability.invariants import PARKED, REDRIVEN, REJECTED, SENT, UNKNOWN
from tests.reliability.world import (
    LATE_ANSWER_S,
    READ_S,
    SHORT_READ_S,
    STALE_SECRET,
    Cell,
    InvocationContext,
    World,
    secret_json,
)
from uspeedo_sandbox import Fault

K: Final = 2  # failed attempts before a transient fault clears
# Secrets Manager answering after 45 s (its SDK's retries and 60 s read timeout allow it):
# a function with 60 s could then start a provider call it has no time to finish.
SLOW_SECRET_MS: Final = 45_000

Recovery = Callable[[], None]
ProviderFault = Callable[[str], Fault]
Installer = Callable[[World, Cell], Recovery | None]


def default_contexts(door: str, attempt: int) -> InvocationContext:
    """A fresh invocation with Lambda's full minute."""
    return InvocationContext()


@dataclass(frozen=True)
class Scenario:
    """One fault, and the fate the contract promises each message that meets it."""

    id: str
    fault: str  # what goes wrong, as the report says it
    kind: str  # transient | persistent | permanent | unknown outcome | none
    expect_queue: str
    expect_caller: str
    provider: ProviderFault | None = None
    install: Installer | None = None
    create_secret: bool = True
    contexts: ContextFactory = default_contexts
    copies: int = 1
    # Sandbox fault kinds after which the provider may have sent the message.
    unknown_kinds: frozenset[str] = frozenset()
    # The error code (and RetCode) a refused message must carry.
    expect_code: str | None = None
    expect_ret_code: int | None = None
    settle_s: float = 0.0
    read_timeout_s: float = READ_S

    def expected(self, door: str) -> str:
        """The category every message of this scenario must end in at `door`."""
        return self.expect_queue if door in ("sqs", "sns") else self.expect_caller


# --- provider faults, one per message ---------------------------------------------------


def _status(status: int, *, count: int | None = K, retry_after: int | None = None) -> ProviderFault:
    def fault(template_id: str) -> Fault:
        return Fault(
            kind="status",
            status=status,
            template_id=template_id,
            count=count,
            retry_after=retry_after,
        )

    return fault


def _retcode(ret_code: int, *, count: int | None = K) -> ProviderFault:
    def fault(template_id: str) -> Fault:
        return Fault(kind="retcode", ret_code=ret_code, template_id=template_id, count=count)

    return fault


def _once(kind: str, **options: Any) -> ProviderFault:
    def fault(template_id: str) -> Fault:
        return Fault(kind=kind, template_id=template_id, count=1, **options)

    return fault


# --- AWS faults ---------------------------------------------------------------------------


class _Switch:
    """A fault that holds until the operator (or AWS) recovers."""

    def __init__(self) -> None:
        self.on = True

    def off(self) -> None:
        self.on = False


def _throttle(operation: str) -> ClientError:
    error = {"Code": "ProvisionedThroughputExceededException", "Message": "Rate exceeded"}
    return ClientError({"Error": error}, operation)


def _dynamodb_outage(error: Callable[[str], Exception]) -> Installer:
    def install(world: World, cell: Cell) -> Recovery:
        switch = _Switch()

        def fail(model: Any, **_: Any) -> None:
            if switch.on:
                raise error(model.name)

        world.hook(cell, "dynamodb", "before-call.dynamodb", fail)
        return switch.off

    return install


def _unreachable(service: str) -> Callable[[str], Exception]:
    def error(_operation: str) -> Exception:
        unreachable: Exception = EndpointConnectionError(
            endpoint_url=f"https://{service}.us-east-1.amazonaws.com/"
        )
        return unreachable

    return error


def _dynamodb_first_call_per_item_fails(operation: str) -> Installer:
    """`operation` fails the first time for each item (each chunk's record)."""

    def install(world: World, cell: Cell) -> None:
        failed: set[str] = set()

        def fail(params: dict[str, Any], **_: Any) -> None:
            item = json.dumps(params.get("Key") or params.get("Item", {}).get("id"))
            if item not in failed:
                failed.add(item)
                raise _throttle(operation)

        # The API's own parameters (which item) are seen before they are serialised.
        world.hook(cell, "dynamodb", f"before-parameter-build.dynamodb.{operation}", fail)

    return install


def _missing_table(world: World, cell: Cell) -> None:
    cell.gateway_table = f"{cell.table}-never-created"


def _secret_later(value: str) -> Installer:
    """The secret holds `value` until the operator fixes it."""

    def install(world: World, cell: Cell) -> Recovery:
        world.put_secret(cell, value)
        return lambda: world.put_secret(cell, secret_json(SANDBOX_SECRET))

    return install


def _secret_created_later(world: World, cell: Cell) -> Recovery:
    return lambda: world.put_secret(cell, secret_json(SANDBOX_SECRET))


def _secrets_manager_unreachable(world: World, cell: Cell) -> Recovery:
    switch = _Switch()

    def fail(**_: Any) -> None:
        if switch.on:
            raise _unreachable("secretsmanager")("GetSecretValue")

    world.hook(cell, "secretsmanager", "before-call.secrets-manager.GetSecretValue", fail)
    return switch.off


def _slow_secret(world: World, cell: Cell) -> None:
    def slow(**_: Any) -> None:
        if cell.context is not None:
            cell.context.spend(SLOW_SECRET_MS)

    world.hook(cell, "secretsmanager", "before-call.secrets-manager.GetSecretValue", slow)


def _dead_letter_queue_unreachable(world: World, cell: Cell) -> Recovery:
    switch = _Switch()

    def fail(params: dict[str, Any], **_: Any) -> None:
        if switch.on and params.get("QueueUrl") == cell.dlq_url:
            raise _unreachable("sqs")("SendMessage")

    world.hook(cell, "sqs", "before-parameter-build.sqs.SendMessage", fail)
    return switch.off


def _out_of_time(door: str, attempt: int) -> InvocationContext:
    # The first invocation has 5 s of its 60 left, too little for one worst-case call:
    # every record (or message) it holds is given back unsent, and the retry sends it.
    return InvocationContext(remaining_ms=5_000) if attempt == 1 else InvocationContext()


_UNANSWERED: Final = frozenset({"drop", "hang", "garbage", "truncated"})

SCENARIOS: Final = (
    Scenario("none", "no fault (control)", "none", SENT, SENT),
    Scenario(
        "duplicate-delivery",
        "every message delivered twice (at-least-once; a caller asking again)",
        "none",
        SENT,
        SENT,
        copies=2,
    ),
    *(
        Scenario(
            f"http-{status}",
            f"provider answers HTTP {status}, then recovers",
            "transient",
            SENT,
            SENT,
            provider=_status(status, retry_after=1 if status == 429 else None),
        )
        for status in (500, 502, 503, 504, 429)
    ),
    Scenario(
        "retcode-215400",
        "provider RetCode 215400 (server error), then recovers",
        "transient",
        SENT,
        SENT,
        provider=_retcode(215400),
    ),
    Scenario(
        "retcode-171",
        "provider RetCode 171 (signature refused), then accepts",
        "transient",
        SENT,
        SENT,
        provider=_retcode(171),
    ),
    Scenario(
        "retcode-161",
        "provider RetCode 161 (unknown Action), then accepts",
        "transient",
        SENT,
        SENT,
        provider=_retcode(161),
    ),
    Scenario(
        "retcode-215392",
        "provider RetCode 215392 (parameter error)",
        "permanent",
        PARKED,
        REJECTED,
        provider=_retcode(215392, count=None),
        expect_code="ProviderRejected",
        expect_ret_code=215392,
    ),
    Scenario(
        "retcode-18017",
        "provider RetCode 18017 (template not approved)",
        "permanent",
        PARKED,
        REJECTED,
        provider=_retcode(18017, count=None),
        expect_code="ProviderRejected",
        expect_ret_code=18017,
    ),
    Scenario(
        "numbers-refused",
        "provider refuses every number (18014 / FailContent)",
        "permanent",
        PARKED,
        REJECTED,
        provider=lambda template_id: Fault(kind="refuse", template_id=template_id),
    ),
    Scenario(
        "dropped-connection",
        "connection reset after the request was sent",
        "unknown outcome",
        UNKNOWN,
        UNKNOWN,
        provider=_once("drop"),
        unknown_kinds=_UNANSWERED,
        expect_code="ProviderOutcomeUnknown",
    ),
    Scenario(
        "hang",
        "provider never answers (read timeout after the send)",
        "unknown outcome",
        UNKNOWN,
        UNKNOWN,
        provider=_once("hang"),
        unknown_kinds=_UNANSWERED,
        expect_code="ProviderOutcomeUnknown",
        read_timeout_s=SHORT_READ_S,
    ),
    Scenario(
        "late-answer",
        f"provider sends the SMS but answers after the read timeout ({LATE_ANSWER_S} s)",
        "unknown outcome",
        UNKNOWN,
        UNKNOWN,
        provider=_once("slow", delay=LATE_ANSWER_S),
        unknown_kinds=frozenset({"slow"}),
        expect_code="ProviderOutcomeUnknown",
        settle_s=LATE_ANSWER_S + 0.2,
        read_timeout_s=SHORT_READ_S,
    ),
    Scenario(
        "garbage-answer",
        "HTTP 200 with a body that is not JSON",
        "unknown outcome",
        UNKNOWN,
        UNKNOWN,
        provider=_once("garbage"),
        unknown_kinds=_UNANSWERED,
        expect_code="ProviderOutcomeUnknown",
    ),
    Scenario(
        "truncated-answer",
        "HTTP 200 whose body is cut short",
        "unknown outcome",
        UNKNOWN,
        UNKNOWN,
        provider=_once("truncated"),
        unknown_kinds=_UNANSWERED,
        expect_code="ProviderOutcomeUnknown",
    ),
    Scenario(
        "http-503-persistent",
        "provider answers HTTP 503 and never recovers",
        "persistent",
        REDRIVEN,
        REJECTED,
        provider=_status(503, count=None),
        expect_code="ProviderUnavailable",
    ),
    Scenario(
        "retcode-161-persistent",
        "provider never knows the Action (configuration error)",
        "persistent",
        REDRIVEN,
        REJECTED,
        provider=_retcode(161, count=None),
        expect_code="ProviderActionUnknown",
    ),
    Scenario(
        "slow-secret",
        f"Secrets Manager answers after {SLOW_SECRET_MS // 1000} s of a 60 s invocation",
        "transient",
        SENT,
        SENT,
        install=_slow_secret,
    ),
    Scenario(
        "secret-missing",
        "the secret does not exist, then is created",
        "transient",
        SENT,
        SENT,
        install=_secret_created_later,
        create_secret=False,
    ),
    Scenario(
        "secret-not-json",
        "the secret is not JSON, then is fixed",
        "transient",
        SENT,
        SENT,
        install=_secret_later("AccessKeyId=AKIDSANDBOX;AccessKeySecret=?"),
    ),
    Scenario(
        "secret-incomplete",
        "the secret lacks AccessKeySecret, then is fixed",
        "transient",
        SENT,
        SENT,
        install=_secret_later(
            json.dumps({"AccessKeyId": SANDBOX_ACCESS_KEY_ID, "AccountId": SANDBOX_ACCOUNT_ID})
        ),
    ),
    Scenario(
        "wrong-credentials",
        "the secret holds a stale key, then is rotated",
        "transient",
        SENT,
        SENT,
        install=_secret_later(secret_json(STALE_SECRET)),
    ),
    Scenario(
        "secrets-manager-unreachable",
        "Secrets Manager unreachable, then back",
        "transient",
        SENT,
        SENT,
        install=_secrets_manager_unreachable,
    ),
    Scenario(
        "dynamodb-throttled",
        "DynamoDB throttles every call, then recovers",
        "transient",
        SENT,
        SENT,
        install=_dynamodb_outage(lambda op: _throttle(op)),
    ),
    Scenario(
        "dynamodb-unreachable",
        "DynamoDB unreachable, then back",
        "transient",
        SENT,
        SENT,
        install=_dynamodb_outage(_unreachable("dynamodb")),
    ),
    Scenario(
        "dynamodb-success-write",
        "DynamoDB throttles the write that records a send, after the send",
        "transient",
        SENT,
        SENT,
        install=_dynamodb_first_call_per_item_fails("UpdateItem"),
    ),
    Scenario(
        "dynamodb-lock-release",
        "provider 503, and DynamoDB fails to release the message's lock",
        "transient",
        SENT,
        SENT,
        provider=_status(503, count=1),
        install=_dynamodb_first_call_per_item_fails("DeleteItem"),
    ),
    Scenario(
        "table-missing",
        "the idempotency table does not exist",
        "persistent",
        REDRIVEN,
        REJECTED,
        install=_missing_table,
        expect_code="IdempotencyStoreUnavailable",
    ),
    Scenario(
        "dead-letter-queue-unreachable",
        "provider refuses (18017) while the dead-letter queue is unreachable, then back",
        "permanent",
        PARKED,
        REJECTED,
        provider=_retcode(18017, count=None),
        install=_dead_letter_queue_unreachable,
        expect_code="ProviderRejected",
        expect_ret_code=18017,
    ),
    Scenario(
        "out-of-time",
        "the invocation has too little time left for a provider call",
        "transient",
        SENT,
        SENT,
        contexts=_out_of_time,
    ),
)
