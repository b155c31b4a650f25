"""The local gateway: every piece started in order, stopped in reverse."""

from __future__ import annotations

import functools
import json
import logging
import os
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import boto3
import urllib3

from infra.names import STACK_ID
from infra.settings import read_traffic_policy, traffic_policy_text
from local_gateway.api_server import ApiServer
from local_gateway.moto_server import PARENT_PID_ENV
from local_gateway.pump import REGION, EventPump, Invoke
from local_gateway.resources import (
    FUNCTION_NAME,
    LocalResources,
    create,
    default_policy_document,
)
from local_gateway.runtime import LambdaRuntime
from sms_gateway.contract import DEFAULT_COUNTRY_CODE
from uspeedo_sandbox import DEFAULT_ACCESS_KEY_ID, DEFAULT_ACCOUNT_ID, DEFAULT_SECRET, Sandbox

logger = logging.getLogger(__name__)

_REPO: Final = Path(__file__).resolve().parent.parent
DEFAULT_OUTPUTS: Final = Path(".local/outputs.json")
MOTO_START_TIMEOUT_S: Final = 30
# moto needs credentials to sign with, and must never be handed a real key by accident.
_FAKE_CREDENTIALS: Final = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
# The AWS services the gateway uses, all served by the one moto server.
AWS_SERVICES: Final = ("sns", "sqs", "secretsmanager", "dynamodb", "ssm", "events")
# The first receipt check's delay locally: a receipt from the sandbox needs no wait, and a
# run should show its delivery events within seconds (the stack's default is 300 s).
LOCAL_RECEIPT_DELAY_S: Final = 1
# moto refuses a second PurgeQueue within 60 s, as SQS does; the tests' resets purge the
# delivery events' queues before and after every test.
_MOTO_ENVIRONMENT: Final = {"MOTO_SQS_ENFORCE_STRICT_QUEUE_PURGE_BEHAVIOUR": "false"}


@dataclass(frozen=True)
class LocalConfig:
    """Where things listen. Port 0 picks a free port. With `uspeedo_endpoint` set, the real
    provider (or any other) is used with `uspeedo_credentials` instead of the sandbox.
    `traffic_policy` is the policy document to start with; by default `cdk.json`'s
    `trafficPolicy`, as the stack deploys it. `receipt_delay_seconds` is the function's
    RECEIPT_DELAY_SECONDS (1 to 900)."""

    host: str = "127.0.0.1"
    moto_port: int = 4566
    sandbox_port: int = 8990
    api_port: int = 3000
    outputs_path: Path | None = DEFAULT_OUTPUTS
    uspeedo_endpoint: str | None = None
    uspeedo_credentials: dict[str, Any] | None = None
    default_country_code: str = DEFAULT_COUNTRY_CODE
    default_sender_id: str = ""
    traffic_policy: Mapping[str, Any] | None = None
    receipt_delay_seconds: int = LOCAL_RECEIPT_DELAY_S

    def policy_document(self) -> str:
        """The starting policy's JSON, checked as the stack checks it."""
        if self.traffic_policy is None:
            return default_policy_document()
        return traffic_policy_text(read_traffic_policy(dict(self.traffic_policy)))


class LocalGateway:
    """moto + the sandbox + the real handler behind an event pump and a local API."""

    def __init__(self, config: LocalConfig | None = None) -> None:
        self.config = config or LocalConfig()
        self.sandbox: Sandbox | None = None
        self.resources: LocalResources | None = None
        self.outputs: dict[str, str] = {}
        # The function's environment variables, once started.
        self.environment: dict[str, str] = {}
        self._moto: subprocess.Popen[bytes] | None = None
        self._runtime: LambdaRuntime | None = None
        self._pump: EventPump | None = None
        self._receipts_pump: EventPump | None = None
        self._api: ApiServer | None = None
        self.clients: dict[str, Any] = {}

    def start(self) -> LocalGateway:
        """Start everything and write the outputs file; returns self. If any piece fails to
        start, the pieces already started are stopped before the error propagates."""
        try:
            return self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> LocalGateway:
        config = self.config
        self._moto, aws_endpoint = _start_moto(config.host, config.moto_port)
        self.clients = {
            name: boto3.client(
                name, endpoint_url=aws_endpoint, region_name=REGION, **_FAKE_CREDENTIALS
            )
            for name in AWS_SERVICES
        }

        if config.uspeedo_endpoint:
            endpoint, credentials = config.uspeedo_endpoint, dict(config.uspeedo_credentials or {})
        else:
            self.sandbox = Sandbox(host=config.host, port=config.sandbox_port).start()
            endpoint = self.sandbox.url
            credentials = {
                "AccessKeyId": DEFAULT_ACCESS_KEY_ID,
                "AccessKeySecret": DEFAULT_SECRET,
                "AccountId": DEFAULT_ACCOUNT_ID,
            }

        self.resources = resources = create(self.clients, credentials, config.policy_document())
        self.environment = self._environment(resources, endpoint)
        self._runtime = LambdaRuntime(self.environment, self.clients, FUNCTION_NAME)
        invoke = self._runtime.invoke
        self._pump = self._start_pump(invoke, resources.queue_url, resources.queue_arn, "messages")
        delivery = resources.delivery
        self._receipts_pump = self._start_pump(
            invoke, delivery.receipts_queue_url, delivery.receipts_queue_arn, "receipts"
        )
        self._api = ApiServer(invoke, resources.api_key, config.host, config.api_port)
        self._api.start()

        self.outputs = resources.outputs(self._api.url, aws_endpoint, endpoint)
        if config.outputs_path is not None:
            config.outputs_path.parent.mkdir(parents=True, exist_ok=True)
            config.outputs_path.write_text(json.dumps({STACK_ID: self.outputs}, indent=2) + "\n")
        return self

    def _environment(self, resources: LocalResources, endpoint: str) -> dict[str, str]:
        """The function's environment (the contract's variables), bound to what `create`
        made."""
        config = self.config
        return {
            "USPEEDO_SECRET_ID": resources.secret_arn,
            "GATEWAY_KEY_SECRET_ID": resources.gateway_key_secret_arn,
            "USPEEDO_ENDPOINT": endpoint,
            "IDEMPOTENCY_TABLE": resources.table_name,
            "DEAD_LETTER_QUEUE_URL": resources.dead_letter_queue_url,
            "DEFAULT_COUNTRY_CODE": config.default_country_code,
            "DEFAULT_SENDER_ID": config.default_sender_id,
            "TRAFFIC_POLICY_PARAMETER": resources.policy_parameter_name,
            "PROTECTION_TABLE": resources.protection_table_name,
            "RECEIPTS_QUEUE_URL": resources.delivery.receipts_queue_url,
            "RECEIPT_DELAY_SECONDS": str(config.receipt_delay_seconds),
            "EVENT_BUS_NAME": resources.delivery.event_bus_name,
            "EVENTS_WITH_PHONE_NUMBERS": "false",
        }

    def _start_pump(self, invoke: Invoke, queue_url: str, queue_arn: str, name: str) -> EventPump:
        pump = EventPump(
            self.clients["sqs"],
            queue_url,
            queue_arn,
            invoke,
            functools.partial(_log_batch, name),
            name=f"event-pump:{name}",
        )
        pump.start()
        return pump

    @property
    def pumps(self) -> dict[str, EventPump]:
        """The event pumps by the queue they serve, `messages` and `receipts` (tests swap
        their handler with `EventPump.handled_by`)."""
        if self._pump is None or self._receipts_pump is None:
            raise RuntimeError("the local gateway is not running")
        return {"messages": self._pump, "receipts": self._receipts_pump}

    def invoke(self, event: Any) -> Any:
        """Invoke the handler directly (a direct invoke of a bare message, for example)."""
        if self._runtime is None:
            raise RuntimeError("the local gateway is not running")
        return self._runtime.invoke(event)

    def depth(self, queue_url: str) -> int:
        """Messages in a queue, waiting, in flight or delayed (SQS's approximate counts,
        exact in moto): a receipt check due later still counts."""
        attributes = self.clients["sqs"].get_queue_attributes(
            QueueUrl=queue_url,
            AttributeNames=[
                "ApproximateNumberOfMessages",
                "ApproximateNumberOfMessagesNotVisible",
                "ApproximateNumberOfMessagesDelayed",
            ],
        )["Attributes"]
        return sum(int(v) for v in attributes.values())

    def refresh_policy(self) -> None:
        """Have the function read the traffic policy again now, as a new container would,
        instead of within the minute its cache allows (for runs that cannot wait)."""
        if self._runtime is None or self._runtime.gateway.policies is None:
            raise RuntimeError("the local gateway is not running with a traffic policy")
        self._runtime.gateway.policies.refresh()

    def reset_protection(self) -> None:
        """Empty the protection table (the traffic policy's counters, and the opt-outs), as
        a fresh start would leave it: for tests that send to the same numbers one after
        another and must not meet each other's rate limits."""
        if self.resources is None:
            raise RuntimeError("the local gateway is not running")
        dynamodb, table = self.clients["dynamodb"], self.resources.protection_table_name
        for page in dynamodb.get_paginator("scan").paginate(
            TableName=table, ProjectionExpression="id"
        ):
            for item in page["Items"]:
                dynamodb.delete_item(TableName=table, Key={"id": item["id"]})

    def reset_delivery_events(self) -> None:
        """Empty the receipts queue (checks waiting, delayed or in flight), its dead-letter
        queue and the events queue, and wait for a batch of checks being handled: for
        tests that count their own sends' checks, events and provider requests only (reset
        the sandbox after this, so a check that was running leaves no request behind)."""
        if self.resources is None or self._receipts_pump is None:
            raise RuntimeError("the local gateway is not running")
        delivery, sqs = self.resources.delivery, self.clients["sqs"]
        sqs.purge_queue(QueueUrl=delivery.receipts_queue_url)
        self._receipts_pump.wait_idle()
        # A check that was running may have scheduled the next one: purge again.
        for url in (
            delivery.receipts_queue_url,
            delivery.receipts_dead_letter_queue_url,
            delivery.events_queue_url,
        ):
            sqs.purge_queue(QueueUrl=url)

    def stop(self) -> None:
        """Stop in reverse order; safe to call twice."""
        if self._api is not None:
            self._api.stop()
            self._api = None
        pumps = [p for p in (self._pump, self._receipts_pump) if p is not None]
        for pump in pumps:  # both at once: each may be in a poll of up to a second
            pump.request_stop()
        for pump in pumps:
            pump.stop()
        self._pump = self._receipts_pump = None
        if self._runtime is not None:
            self._runtime.close()
            self._runtime = None
        if self.sandbox is not None:
            self.sandbox.stop()
            self.sandbox = None
        if self._moto is not None:
            self._moto.terminate()
            self._moto.wait(timeout=10)
            self._moto = None

    def __enter__(self) -> LocalGateway:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()


def _start_moto(host: str, port: int) -> tuple[subprocess.Popen[bytes], str]:
    """moto's server (sped up: see `local_gateway.moto_server`) in a process of its own: in
    this one it would share the GIL with the handler, the pump and the sandbox, and every AWS
    call would queue behind them (measured: a 10-record batch took as long as 10 single
    messages)."""
    if port == 0:
        with socket.socket() as probe:
            probe.bind((host, 0))
            port = int(probe.getsockname()[1])
    process = subprocess.Popen(  # noqa: S603 - our own interpreter, fixed arguments
        [sys.executable, "-m", "local_gateway.moto_server", "-H", host, "-p", str(port)],
        cwd=_REPO,
        # It exits by itself if this process dies without stopping it (kill -9, a crash).
        env={**os.environ, **_MOTO_ENVIRONMENT, PARENT_PID_ENV: str(os.getpid())},
        # Out of the terminal's process group: Ctrl-C reaches only this process, which
        # stops the pump before moto. (In the group, moto died first and the pump's last
        # poll failed with a traceback.)
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://{host}:{port}"
    deadline = time.monotonic() + MOTO_START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise OSError(f"the moto server exited at start (port {port} taken?)")
        try:
            urllib3.request("GET", f"{endpoint}/moto-api/", timeout=1, retries=False)
            return process, endpoint
        except urllib3.exceptions.HTTPError:
            time.sleep(0.1)
    process.terminate()
    raise OSError(f"the moto server did not answer on {endpoint} within {MOTO_START_TIMEOUT_S} s")


def real_provider_credentials() -> dict[str, Any] | None:
    """USpeedo credentials from the environment, for pointing the local run at the real API."""
    key_id = os.environ.get("USPEEDO_ACCESS_KEY_ID")
    secret = os.environ.get("USPEEDO_ACCESS_KEY_SECRET")
    if not key_id or not secret:
        return None
    credentials: dict[str, Any] = {"AccessKeyId": key_id, "AccessKeySecret": secret}
    account = os.environ.get("USPEEDO_ACCOUNT_ID")
    if account:
        credentials["AccountId"] = int(account)
    return credentials


def _log_batch(queue: str, done: int, failed: int) -> None:
    if failed:
        logger.warning("%s batch: %d done, %d left for redelivery", queue, done, failed)
    else:
        logger.info("%s batch: %d done", queue, done)
