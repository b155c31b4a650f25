"""Fixtures for handler tests: moto for AWS, the sandbox for USpeedo, captured logs; and
for the CLI tests: the stack in moto, its outputs file, a stand-in for its API."""

from __future__ import annotations

import io
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from aws_lambda_powertools.utilities import parameters
from moto import mock_aws

from local_gateway.context import LocalContext
from local_gateway.moto_dynamodb import fast_transactions
from local_gateway.resources import create_idempotency_table
from sms_gateway import handler, telemetry
from sms_gateway.gateway import AwsClients, Gateway
from sms_gateway.settings import Settings
from sms_gateway.uspeedo_client import Credentials, Timeouts, UspeedoClient, new_pool
from tests.conftest import SANDBOX_ACCESS_KEY_ID, SANDBOX_ACCOUNT_ID, SANDBOX_SECRET
from tests.harness import drain_queue
from uspeedo_sandbox import Sandbox

if TYPE_CHECKING:  # the CLI's harness loads the CLI: imported by its fixtures only, so the
    # runtime's tests (Python 3.13, without the CLI's packages) never load it
    from tests.unit.test_cli_harness import FakeApi, Stack

TABLE = "sms-gateway-idempotency"
# Short enough that a hang test waits little; long enough that a loaded CI machine does not
# turn an ordinary sandbox answer into a read timeout (seen at 0.5 s).
FAST = Timeouts(
    connect_s=0.5, read_s=1.5, connect_retries=1, backoff_factor_s=0.01, backoff_max_s=0.02
)


@dataclass
class Aws:
    """The moto-backed resources of one test."""

    secret_arn: str
    dlq_url: str
    sqs: Any
    dynamodb: Any
    secretsmanager: Any

    def dead_letters(self) -> list[dict[str, Any]]:
        """Everything in the dead-letter queue, with attributes flattened to strings."""
        return drain_queue(self.sqs, self.dlq_url)

    def put_secret(self, secret: str) -> None:
        """Rotate the secret's value."""
        self.secretsmanager.put_secret_value(
            SecretId=self.secret_arn,
            SecretString=json.dumps(
                {
                    "AccessKeyId": SANDBOX_ACCESS_KEY_ID,
                    "AccessKeySecret": secret,
                    "AccountId": SANDBOX_ACCOUNT_ID,
                }
            ),
        )


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Aws]:
    for name, value in {
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
    }.items():
        monkeypatch.setenv(name, value)
    parameters.clear_caches()  # type: ignore[no-untyped-call]  # Powertools leaves it untyped
    with mock_aws(), fast_transactions():
        sqs = boto3.client("sqs")
        dynamodb = boto3.client("dynamodb")
        secretsmanager = boto3.client("secretsmanager")
        arn = secretsmanager.create_secret(Name="uspeedo", SecretString="{}")["ARN"]
        dlq_url = sqs.create_queue(QueueName="sms-gateway-dlq")["QueueUrl"]
        create_idempotency_table(dynamodb, TABLE)
        resources = Aws(arn, dlq_url, sqs, dynamodb, secretsmanager)
        resources.put_secret(SANDBOX_SECRET)
        yield resources
    parameters.clear_caches()  # type: ignore[no-untyped-call]  # Powertools leaves it untyped


def fast_client(credentials: Credentials, endpoint: str) -> UspeedoClient:
    """Short timeouts and a pool of its own, so no test waits long or shares a socket."""
    return UspeedoClient(credentials, endpoint, timeouts=FAST, pool=new_pool())


def build_gateway(aws: Aws, sandbox: Sandbox, **settings: Any) -> Gateway:
    """A gateway on moto and the sandbox, installed as the handler's."""
    config = Settings(
        secret_id=aws.secret_arn,
        endpoint=sandbox.url,
        idempotency_table=TABLE,
        dead_letter_queue_url=aws.dlq_url,
        **settings,
    )
    gateway = Gateway.from_settings(
        config,
        AwsClients.of(aws.dynamodb, aws.secretsmanager, aws.sqs),
        client_factory=fast_client,
    )
    handler.use_gateway(gateway)
    return gateway


# Values that must never reach a log, beyond those the sandbox saw in a test.
SECRETS = (SANDBOX_SECRET, "stale-secret")
HARNESS_NUMBERS = ("13800138000", "13900139000", "13700137000", "4155550100")


@pytest.fixture
def gateway(aws: Aws, sandbox: Sandbox, logs: io.StringIO) -> Iterator[Gateway]:
    """A gateway for the handler; afterwards, its DEBUG logs are checked for leaks: no
    phone number, template parameter or secret that this test used may appear."""
    built = build_gateway(aws, sandbox)
    yield built
    handler.use_gateway(None)
    built.close()
    assert_nothing_personal_in(logs.getvalue(), sandbox)


def assert_nothing_personal_in(text: str, sandbox: Sandbox) -> None:
    """No number (national part), parameter (4+ characters) or secret in `text`."""
    sensitive = set(SECRETS) | set(HARNESS_NUMBERS)
    for request in sandbox.requests:
        body = request.body if isinstance(request.body, dict) else {}
        # SendUSMSMessage's numbers and parameters, and SendBatchUSMSMessage's targets'.
        targets = [body] + [
            {"PhoneNumbers": [t.get("Phone", "")], "TemplateParams": t.get("TemplateParams", [])}
            for task in body.get("TaskContent") or []
            for t in task.get("Target") or []
        ]
        for target in targets:
            sensitive |= {str(n).split(")")[-1] for n in target.get("PhoneNumbers", [])}
            sensitive |= {str(p) for p in target.get("TemplateParams", []) if len(str(p)) >= 4}
    leaked = values_in(text, sensitive)
    assert not leaked, f"{len(leaked)} personal or secret values reached the logs"


# A random identifier or a digest (a request id, a message id, a SessionNo, an idempotency
# key's MD5) is not a leak however its hex digits fall: a 6-digit code turns up inside one
# of a thousand log lines' ids often enough to fail a run now and then. Such a token — a
# UUID, or 16+ hex characters in a row — is masked whole when it holds a letter a-f; a run
# of digits alone, however long or hyphenated, is still searched. The port of a loopback
# server is masked too (urllib3 logs it on every connection): it is random, five digits.
_HEX_ID = re.compile(
    r"""(?<![0-9a-z])
    (?: (?=[0-9a-f-]{0,35}[a-f]) [0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}
      | (?=[0-9a-f]*[a-f]) [0-9a-f]{16,} )
    (?![0-9a-z])""",
    re.IGNORECASE | re.VERBOSE,
)
_LOOPBACK_PORT = re.compile(r"(?<=127\.0\.0\.1:)\d+")


def values_in(text: str, sensitive: set[str]) -> list[str]:
    """Which of `sensitive` occur in `text`, outside random identifiers and digests."""
    text = _LOOPBACK_PORT.sub("<port>", _HEX_ID.sub("<id>", text))
    # Digits count only as a whole run: "123456" inside an account id is not a leak.
    return sorted(v for v in sensitive if re.search(rf"(?<!\d){re.escape(v)}(?!\d)", text))


@pytest.fixture
def context() -> LocalContext:
    return LocalContext()


@pytest.fixture
def logs() -> Iterator[io.StringIO]:
    """Everything the gateway's loggers write (Powertools' JSON lines), at DEBUG."""
    buffer = io.StringIO()
    stream_handler = telemetry.logger.registered_handler
    assert hasattr(stream_handler, "setStream")
    previous = stream_handler.setStream(buffer)
    level = telemetry.logger.log_level
    telemetry.logger.setLevel("DEBUG")
    try:
        yield buffer
    finally:
        stream_handler.setStream(previous)
        telemetry.logger.setLevel(level)


def log_lines(buffer: io.StringIO) -> list[dict[str, Any]]:
    """The JSON log lines written so far."""
    return [json.loads(line) for line in buffer.getvalue().splitlines() if line.startswith("{")]


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    """The stack's topic and queues in moto, for the CLI."""
    from tests.unit.test_cli_harness import moto_stack

    with moto_stack(monkeypatch) as created:
        yield created


@pytest.fixture
def outputs(stack: Stack, tmp_path: Path) -> str:
    """The path of an outputs file naming `stack`, as `--outputs` takes it."""
    from tests.unit.test_cli_harness import write_outputs

    return str(write_outputs(tmp_path, stack.outputs()))


@pytest.fixture
def api() -> Iterator[FakeApi]:
    """A stand-in for the gateway's REST API, with no answers set."""
    from tests.unit.test_cli_harness import fake_api

    with fake_api() as running:
        yield running


os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
