"""The world a fault-matrix cell runs in: moto (in process) for AWS, the USpeedo sandbox, the
real handler — and the means to break each of them and to let time pass.

Two sets of boto3 clients share one moto backend: the gateway's (faults are injected into
them with botocore event hooks, exactly where a throttle or an outage would surface) and
the infrastructure's (the queue's redrive, Lambda's retries, the operator's fixes and the
checker's reads), which faults never touch.
"""

from __future__ import annotations

import functools
import io
import itertools
import json
import logging
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Final

from aws_lambda_powertools.utilities.parameters import SecretsProvider
from aws_lambda_powertools.utilities.parameters.base import ExpirableValue

from infra.queue_settings import MAX_RECEIVE_COUNT
from local_gateway.context import LocalContext
from local_gateway.resources import create_idempotency_table
from sms_gateway import handler, telemetry, time_budget
from sms_gateway.chunks import ChunkOutcome, ChunkRequest
from sms_gateway.gateway import AwsClients, Gateway
from sms_gateway.idempotency import DynamoLedger, SendChunk
from sms_gateway.settings import Settings
from sms_gateway.uspeedo_client import Credentials, Timeouts, UspeedoClient, new_pool
from tests.conftest import SANDBOX_ACCESS_KEY_ID, SANDBOX_ACCOUNT_ID, SANDBOX_SECRET
from tests.harness import drain_queue
from uspeedo_sandbox import Sandbox

# Read timeouts. Where the timeout is the fault (a hang, a late answer), a short one keeps
# the cell fast, and a slow machine cannot change its outcome (unknown either way).
# Everywhere else, a generous one: a sandbox slowed by a busy machine must not turn a
# clean 503 into an unknown outcome.
SHORT_READ_S: Final = 0.3
READ_S: Final = 2.0
LATE_ANSWER_S: Final = 2 * SHORT_READ_S
# The longest one upstream call may take in production: a call started with less time
# left than this can be cut by the Lambda timeout — how duplicates happen (time_budget).
WORST_CASE_CALL_MS: Final = int(time_budget.worst_case_call_s() * 1000)
STALE_SECRET: Final = "stale-secret"


@dataclass
class InvocationContext(LocalContext):
    """Lambda's context on a virtual clock: time in the invocation passes when a fault says
    so (`spend`: a slow Secrets Manager costs seconds that the test does not wait for)."""

    spent_ms: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def get_remaining_time_in_millis(self) -> int:
        return self.peek()

    def peek(self) -> int:
        """The remaining time."""
        with self._lock:
            return self.remaining_ms - self.spent_ms

    def spend(self, milliseconds: int) -> None:
        """Let `milliseconds` of the invocation pass."""
        with self._lock:
            self.spent_ms += milliseconds


class LogCapture:
    """Every line the gateway's loggers and Powertools' own utilities write, at DEBUG, for
    the whole suite — as if POWERTOOLS_LOG_LEVEL and POWERTOOLS_DEBUG were on.

    botocore's loggers are left out on purpose: at DEBUG they print every AWS request body
    by design (the dead-letter queue's SendMessage holds the message), and the function's
    log configuration keeps them at INFO. urllib3's (the provider's HTTP client) are in.
    """

    _EXTRA_LOGGERS: Final = ("aws_lambda_powertools", "urllib3")

    def __init__(self) -> None:
        self.buffer = io.StringIO()
        self._restore: list[Callable[[], None]] = []

    def start(self) -> None:
        """Route the loggers into the buffer at DEBUG."""
        gateway_handler = telemetry.logger.registered_handler
        assert hasattr(gateway_handler, "setStream")
        previous_stream = gateway_handler.setStream(self.buffer)
        previous_level = telemetry.logger.log_level
        telemetry.logger.setLevel("DEBUG")
        self._restore.append(lambda: gateway_handler.setStream(previous_stream))
        self._restore.append(lambda: telemetry.logger.setLevel(previous_level))
        # The client's and the sender's standard loggers share the handler above (the
        # handler module copied it to them) but keep their own level: INFO until now.
        names = [n for n in logging.root.manager.loggerDict if n.startswith("sms_gateway")]
        for name in names:
            self._set_level(logging.getLogger(name), logging.DEBUG)
        stream = logging.StreamHandler(self.buffer)
        stream.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        for name in self._EXTRA_LOGGERS:
            extra = logging.getLogger(name)
            self._set_level(extra, logging.DEBUG)
            extra.addHandler(stream)
            self._restore.append(functools.partial(extra.removeHandler, stream))

    def _set_level(self, target: logging.Logger, level: int) -> None:
        previous = target.level
        target.setLevel(level)
        self._restore.append(lambda: target.setLevel(previous))

    def stop(self) -> None:
        """Put every logger back as it was."""
        while self._restore:
            self._restore.pop()()

    def mark(self) -> int:
        """A position to read from later (`since`)."""
        return len(self.buffer.getvalue())

    def since(self, mark: int) -> str:
        """What was written after `mark`."""
        return self.buffer.getvalue()[mark:]

    def text(self) -> str:
        """Everything written so far."""
        return self.buffer.getvalue()

    def discard_since(self, mark: int) -> None:
        """Forget what was written after `mark` (a leak planted on purpose, once caught)."""
        self.buffer.seek(mark)
        self.buffer.truncate()


def leaked(text: str, numbers: set[str], params: set[str], secrets: set[str]) -> list[str]:
    """Which of the values reached `text`, by kind, each with where it was found (the value
    itself blanked out).

    A national number counts when a digit run ends with it (so `+86…` and `0086…` count
    too); a parameter only as a whole digit run (`12345678` inside an account id or a
    timestamp is not a leak), and never as the fraction of a decimal (`4.12345678 ms`).
    A secret counts anywhere.
    """
    runs = set(re.findall(r"(?<!\d)(?<!\d\.)\d+", text))
    suffixes = {run[-n:] for run in runs for n in range(7, len(run) + 1)}
    found = [(f"number …{n[-4:]}", n) for n in sorted(numbers) if n in suffixes]
    found += [(f"parameter #{i}", p) for i, p in enumerate(sorted(params)) if p in runs]
    found += [(f"secret #{i}", s) for i, s in enumerate(sorted(secrets)) if s in text]
    return [f"{kind} near {_context(text, value)!r}" for kind, value in found]


def _context(text: str, value: str) -> str:
    at = text.find(value)
    return text[max(0, at - 80) : at + len(value) + 40].replace(value, "<value>")


@dataclass
class Cell:
    """The AWS resources of one cell, and the state its faults and doors share."""

    name: str
    queue_url: str
    queue_arn: str
    dlq_url: str
    table: str
    secret_name: str
    # Where the gateway looks for its table (a fault may point it at one that is missing).
    gateway_table: str = ""
    secrets: SecretsProvider | None = None
    failed_attempts: int = 0
    recover_after: int | None = None
    recover: Callable[[], None] | None = None
    context: InvocationContext | None = None
    # The time left (ms) when each provider call started; and the API Gateway deadline's.
    call_starts: list[tuple[int, int | None]] = field(default_factory=list)
    api_deadline_ms: int | None = None
    hooks: list[tuple[Any, str, str]] = field(default_factory=list)
    # Chunks answered from their idempotency record instead of calling the provider.
    replays: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def replayed(self) -> None:
        """Count one chunk answered from its record (called from worker threads)."""
        with self._lock:
            self.replays += 1

    def attempt_failed(self) -> None:
        """One more invocation failed; the operator or the provider recovers after k."""
        self.failed_attempts += 1
        if self.recover is not None and self.failed_attempts == self.recover_after:
            self.recover()
            self.recover = None


class World:
    """moto, the sandbox, the log capture and what the suite used, for the whole package."""

    def __init__(
        self, gateway_clients: dict[str, Any], infra_clients: dict[str, Any], sandbox: Sandbox
    ) -> None:
        self.gw = gateway_clients
        self.infra = infra_clients
        self.sandbox = sandbox
        self.logs = LogCapture()
        self._serial = itertools.count(1)
        self.numbers: set[str] = set()
        self.params: set[str] = set()
        self.secrets: set[str] = {SANDBOX_SECRET, STALE_SECRET}
        # Digits the suite also used where logging them is allowed (a UserId): not leaks.
        self.public: set[str] = set()

    def sensitive(self) -> tuple[set[str], set[str], set[str]]:
        """The numbers, parameters and secrets that must never reach a log."""
        numbers = {n for n in self.numbers if not any(n in p for p in self.public)}
        return numbers, self.params - self.public, self.secrets

    def serial(self) -> int:
        """A number never handed out before in this run."""
        return next(self._serial)

    # --- resources ---------------------------------------------------------------------

    def new_cell(self, name: str, *, create_secret: bool = True) -> Cell:
        """A queue with the stack's redrive, its dead-letter queue, a table and a secret."""
        slug = re.sub(r"[^A-Za-z0-9-]", "-", name)[:40] + f"-{self.serial()}"
        sqs = self.infra["sqs"]
        dlq_url = sqs.create_queue(QueueName=f"dlq-{slug}")["QueueUrl"]
        dlq_arn = _queue_arn(sqs, dlq_url)
        redrive = {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(MAX_RECEIVE_COUNT)}
        queue_url = sqs.create_queue(
            QueueName=f"q-{slug}", Attributes={"RedrivePolicy": json.dumps(redrive)}
        )["QueueUrl"]
        table = f"idem-{slug}"
        create_idempotency_table(self.infra["dynamodb"], table)
        cell = Cell(
            name=name,
            queue_url=queue_url,
            queue_arn=_queue_arn(sqs, queue_url),
            dlq_url=dlq_url,
            table=table,
            secret_name=f"uspeedo-{slug}",
            gateway_table=table,
        )
        if create_secret:
            self.infra["secretsmanager"].create_secret(
                Name=cell.secret_name, SecretString=secret_json(SANDBOX_SECRET)
            )
        return cell

    def put_secret(self, cell: Cell, value: str) -> None:
        """The operator writes the secret (creating it if it does not exist yet)."""
        client = self.infra["secretsmanager"]
        try:
            client.put_secret_value(SecretId=cell.secret_name, SecretString=value)
        except client.exceptions.ResourceNotFoundException:
            client.create_secret(Name=cell.secret_name, SecretString=value)

    def hook(self, cell: Cell, service: str, event: str, handler_: Callable[..., Any]) -> None:
        """Run `handler_` on the gateway's `service` client at botocore `event` (raise in
        it to fail the call) until the cell ends."""
        client = self.gw[service]
        unique_id = f"{cell.name}-{self.serial()}"
        client.meta.events.register(event, handler_, unique_id=unique_id)
        cell.hooks.append((client, event, unique_id))

    def build_gateway(self, cell: Cell, read_timeout_s: float = READ_S) -> Gateway:
        """The gateway on this cell's resources and the gateway clients, as the handler's."""
        timeouts = Timeouts(
            connect_s=0.5,
            read_s=read_timeout_s,
            connect_retries=1,
            backoff_factor_s=0.01,
            backoff_max_s=0.02,
        )
        settings = Settings(
            secret_id=cell.secret_name,
            endpoint=self.sandbox.url,
            idempotency_table=cell.gateway_table,
            dead_letter_queue_url=cell.dlq_url,
        )
        cell.secrets = SecretsProvider(boto3_client=self.gw["secretsmanager"])

        def client_factory(credentials: Credentials, endpoint: str) -> UspeedoClient:
            return _ClockedClient(cell, credentials, endpoint, timeouts=timeouts, pool=new_pool())

        gateway = Gateway.from_settings(
            settings,
            AwsClients.of(self.gw["dynamodb"], self.gw["secretsmanager"], self.gw["sqs"]),
            ledger=_CountingLedger(
                cell,
                cell.gateway_table,
                settings.idempotency_ttl_s,
                boto3_client=self.gw["dynamodb"],
            ),
            secrets=cell.secrets,
            client_factory=client_factory,
        )
        handler.use_gateway(gateway)
        return gateway

    def end_cell(self, cell: Cell, gateway: Gateway | None) -> None:
        """Remove the cell's hooks and gateway; release the sandbox's hung requests."""
        for client, event, unique_id in cell.hooks:
            client.meta.events.unregister(event, unique_id=unique_id)
        cell.hooks.clear()
        handler.use_gateway(None)
        if gateway is not None:
            gateway.close()
        self.sandbox.reset()

    # --- time ----------------------------------------------------------------------------

    def time_passes(self, cell: Cell, seconds: float) -> None:
        """Let `seconds` pass between two invocations, for what remembers time here.

        An in-progress idempotency lock expires with the invocation that took it (its
        expiry is that invocation's remaining time), a record after its time to live, and
        the secret's cache after its max age. Rather than wait, every one of these
        deadlines is moved `seconds` earlier — the same as the clock moving on.
        """
        dynamodb = self.infra["dynamodb"]
        try:
            items = dynamodb.scan(TableName=cell.table)["Items"]
        except dynamodb.exceptions.ResourceNotFoundException:
            items = []
        for item in items:
            updates, values = [], {}
            for attribute, unit in (("in_progress_expiration", 1000), ("expiration", 1)):
                if attribute in item:
                    moved = int(item[attribute]["N"]) - int(seconds * unit)
                    updates.append(f"{attribute} = :{attribute}")
                    values[f":{attribute}"] = {"N": str(moved)}
            if updates:
                dynamodb.update_item(
                    TableName=cell.table,
                    Key={"id": item["id"]},
                    UpdateExpression="SET " + ", ".join(updates),
                    ExpressionAttributeValues=values,
                )
        if cell.secrets is not None:
            store = cell.secrets.store
            for key, cached in list(store.items()):
                store[key] = ExpirableValue(cached.value, cached.ttl - timedelta(seconds=seconds))

    # --- what happened -------------------------------------------------------------------

    def dead_letters(self, cell: Cell) -> list[dict[str, Any]]:
        """Everything in the cell's dead-letter queue (taken out): bodies and attributes."""
        return drain_queue(self.infra["sqs"], cell.dlq_url)


class _CountingLedger(DynamoLedger):
    """The real ledger, counting the chunks it answers from their record."""

    def __init__(self, cell: Cell, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._cell = cell

    def run(self, chunk: ChunkRequest, send: SendChunk) -> ChunkOutcome:
        result = super().run(chunk, send)
        if result.replayed:
            self._cell.replayed()
        return result


class _ClockedClient(UspeedoClient):
    """The real client, noting how much of the invocation was left when each call began."""

    def __init__(self, cell: Cell, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._cell = cell

    def call(self, action: str, fields: Any, *, partial_success: bool = False) -> dict[str, Any]:
        context = self._cell.context
        if context is not None:
            spent = context.spent_ms
            api_left = (
                None if self._cell.api_deadline_ms is None else self._cell.api_deadline_ms - spent
            )
            self._cell.call_starts.append((context.peek(), api_left))
        return super().call(action, fields, partial_success=partial_success)


def secret_json(access_key_secret: str) -> str:
    """The secret's contract shape with the sandbox's key id and account."""
    return json.dumps(
        {
            "AccessKeyId": SANDBOX_ACCESS_KEY_ID,
            "AccessKeySecret": access_key_secret,
            "AccountId": SANDBOX_ACCOUNT_ID,
        }
    )


def _queue_arn(sqs: Any, queue_url: str) -> str:
    arn: str = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    return arn
