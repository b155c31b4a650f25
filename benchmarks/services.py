"""The loopback stand-ins every benchmark talks to, each in a process of its own.

A moto server plays Secrets Manager, DynamoDB and SQS; the USpeedo sandbox plays the
provider. Both run as separate processes so their work never competes for the GIL of the
process being measured (the sandbox answering 100 calls is not the gateway's cost).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Final

from local_gateway.resources import (
    create_gateway_key_secret,
    create_idempotency_table,
    create_policy_parameter,
    create_protection_table,
    default_policy_document,
)

REPO: Final = Path(__file__).resolve().parent.parent
FUNCTIONS: Final = REPO / "functions"
REGION: Final = "us-east-1"
SECRET_NAME: Final = "uspeedo-bench"  # noqa: S105 (a name, not a secret)
TABLE: Final = "sms-gateway-bench-idempotency"
DLQ_NAME: Final = "sms-gateway-bench-dlq"
PROTECTION_TABLE: Final = "sms-gateway-bench-protection"
PROTECTION_ON: Final = os.environ.get("BENCH_PROTECTION", "on") != "off"
POLICY_PARAMETER: Final = "/sms-gateway-bench/traffic-policy"
# Delivery status events, on as deployed: the send path queues one receipt check a message.
# The checks are due after SQS's longest delay, so none is answered during a benchmark.
RECEIPTS_QUEUE: Final = "sms-gateway-bench-receipts"
EVENT_BUS: Final = "sms-gateway-bench-events"
RECEIPT_DELAY_S: Final = "900"
# The sandbox's defaults (uspeedo_sandbox.DEFAULT_*), the secret the gateway reads.
ACCESS_KEY_ID: Final = "AKIDSANDBOX"
ACCESS_KEY_SECRET: Final = "sandbox-secret"  # noqa: S105 (the sandbox's well-known key)
ACCOUNT_ID: Final = 123
FAKE_AWS: Final = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": REGION,
}
# What a child inherits from this process; everything else (AWS_PROFILE, …) stays out.
_INHERITED: Final = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "PYENV_ROOT", "XDG_CACHE_HOME")


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _wait_for_port(port: int, process: subprocess.Popen[Any], what: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with code {process.returncode} while starting")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not listen on port {port} within 60 s")


def _stop(process: subprocess.Popen[Any]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def base_env() -> dict[str, str]:
    """A clean environment for child processes: no AWS settings of the person running it."""
    env = {name: os.environ[name] for name in _INHERITED if name in os.environ}
    env["PYTHONPATH"] = os.pathsep.join([str(FUNCTIONS), str(REPO)])
    return env


class SandboxControl:
    """The sandbox's control API (`/_sandbox/…`) over HTTP."""

    def __init__(self, api_url: str) -> None:
        self.api_url = api_url
        self.base_url = api_url.rsplit("/", 1)[0]

    def _call(self, method: str, name: str, body: dict[str, Any] | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(  # noqa: S310 (our loopback sandbox, http on purpose)
            f"{self.base_url}/_sandbox/{name}",
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=60) as answer:  # noqa: S310
            return json.loads(answer.read())

    def reset(self, slow_s: float = 0.0) -> None:
        """Forget records and faults; then, with `slow_s`, answer every call that late."""
        self._call("POST", "reset")
        if slow_s > 0:
            self._call("POST", "faults", {"kind": "slow", "delay": slow_s})

    def accepted_count(self) -> int:
        """How many messages the sandbox accepted since the last reset."""
        return len(self._call("GET", "messages")["Messages"])


@dataclass(frozen=True)
class Services:
    """Where the stand-ins listen and the resources made on them."""

    aws_url: str
    sandbox: SandboxControl
    secret_arn: str
    gateway_key_arn: str
    table: str
    dlq_url: str
    policy_parameter: str = ""
    protection_table: str = ""
    receipts_queue_url: str = ""

    def env(self, **overrides: str) -> dict[str, str]:
        """The environment the Lambda would have, pointed at the stand-ins."""
        env = base_env()
        env.update(FAKE_AWS)
        env.update(
            {
                "AWS_ENDPOINT_URL": self.aws_url,
                "USPEEDO_SECRET_ID": self.secret_arn,
                "GATEWAY_KEY_SECRET_ID": self.gateway_key_arn,
                # Protection on, as the stack deploys it (cdk.json's trafficPolicy), unless
                # BENCH_PROTECTION=off (to see what the rest costs on its own).
                "TRAFFIC_POLICY_PARAMETER": self.policy_parameter if PROTECTION_ON else "",
                "PROTECTION_TABLE": self.protection_table if PROTECTION_ON else "",
                "RECEIPTS_QUEUE_URL": self.receipts_queue_url,
                "RECEIPT_DELAY_SECONDS": RECEIPT_DELAY_S,
                "EVENT_BUS_NAME": EVENT_BUS if self.receipts_queue_url else "",
                "USPEEDO_ENDPOINT": self.sandbox.api_url,
                "IDEMPOTENCY_TABLE": self.table,
                "DEAD_LETTER_QUEUE_URL": self.dlq_url,
                "POWERTOOLS_SERVICE_NAME": "sms-gateway",
                "POWERTOOLS_METRICS_NAMESPACE": "SmsGateway",
                # X-Ray is measured apart: without a daemon its SDK only logs errors.
                "POWERTOOLS_TRACE_DISABLED": "true",
            }
        )
        env.update(overrides)
        return env

    def dead_letter_count(self) -> int:
        """Messages in the dead-letter queue (a parked message is not a send)."""
        sqs = _client("sqs", self.aws_url)
        answer = sqs.get_queue_attributes(
            QueueUrl=self.dlq_url, AttributeNames=["ApproximateNumberOfMessages"]
        )
        return int(answer["Attributes"]["ApproximateNumberOfMessages"])


def _client(service: str, url: str) -> Any:
    import boto3  # the runner needs it only here

    return boto3.client(
        service,
        endpoint_url=url,
        region_name=REGION,
        aws_access_key_id=FAKE_AWS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=FAKE_AWS["AWS_SECRET_ACCESS_KEY"],
    )


def _create_resources(aws_url: str) -> tuple[str, str, str, str]:
    secrets = _client("secretsmanager", aws_url)
    secret = {
        "AccessKeyId": ACCESS_KEY_ID,
        "AccessKeySecret": ACCESS_KEY_SECRET,
        "AccountId": ACCOUNT_ID,
    }
    arn: str = secrets.create_secret(Name=SECRET_NAME, SecretString=json.dumps(secret))["ARN"]
    dynamodb = _client("dynamodb", aws_url)
    create_idempotency_table(dynamodb, TABLE)
    dlq_url: str = _client("sqs", aws_url).create_queue(QueueName=DLQ_NAME)["QueueUrl"]
    gateway_key_arn = create_gateway_key_secret(secrets, f"{SECRET_NAME}-gateway-key")
    create_protection_table(dynamodb, PROTECTION_TABLE)
    create_policy_parameter(_client("ssm", aws_url), POLICY_PARAMETER, default_policy_document())
    receipts_url: str = _client("sqs", aws_url).create_queue(QueueName=RECEIPTS_QUEUE)["QueueUrl"]
    _client("events", aws_url).create_event_bus(Name=EVENT_BUS)
    return arn, gateway_key_arn, dlq_url, receipts_url


def _start_sandbox(log: IO[str]) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "uspeedo_sandbox", "--host", "127.0.0.1", "--port", "0"],
        cwd=REPO,
        env=base_env(),
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
    )
    assert process.stdout is not None
    url = process.stdout.readline().strip()  # contract: the API URL alone on the first line
    if not url.startswith("http"):
        _stop(process)
        raise RuntimeError("the sandbox did not print its URL")
    return process, url


@contextlib.contextmanager
def running(log_dir: Path) -> Iterator[Services]:
    """Start moto and the sandbox, make the secret, table and queue; stop both after."""
    log_dir.mkdir(parents=True, exist_ok=True)
    with (
        open(log_dir / "moto.log", "w") as moto_log,
        open(log_dir / "sandbox.log", "w") as sandbox_log,
    ):
        port = free_port()
        moto = subprocess.Popen(  # noqa: S603 (our interpreter, fixed arguments)
            [sys.executable, "-m", "local_gateway.moto_server", "-H", "127.0.0.1", "-p", str(port)],
            env=base_env(),
            stdout=moto_log,
            stderr=subprocess.STDOUT,
        )
        sandbox: subprocess.Popen[str] | None = None
        try:
            _wait_for_port(port, moto, "the moto server")
            aws_url = f"http://127.0.0.1:{port}"
            sandbox, sandbox_url = _start_sandbox(sandbox_log)
            arn, gateway_key_arn, dlq_url, receipts_url = _create_resources(aws_url)
            yield Services(
                aws_url,
                SandboxControl(sandbox_url),
                arn,
                gateway_key_arn,
                TABLE,
                dlq_url,
                POLICY_PARAMETER,
                PROTECTION_TABLE,
                receipts_url,
            )
        finally:
            if sandbox is not None:
                _stop(sandbox)
            _stop(moto)
