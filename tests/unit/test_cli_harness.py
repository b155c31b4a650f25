"""Shared by the `smsgw` CLI tests (it holds no tests itself): a gateway's queues in moto,
its outputs file, and a stand-in for its REST API on 127.0.0.1."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.server import ThreadedMotoServer

from smsgw import dead_letters
from tests.harness import drain_queue

API_KEY = "test-api-key-value-0123456789"
# The parts of numbers that must never show in what the CLI prints about parked messages.
NUMBERS = ("+8613800138000", "(86)13900139000")
NATIONAL_PARTS = ("13800138000", "13900139000")


@dataclass
class Stack:
    """The stack's queues and topic in moto, as `cdk-outputs.json` would name them."""

    topic_arn: str
    queue_url: str
    dead_letter_queue_url: str
    sqs: Any
    sns: Any

    def outputs(self, **extra: str) -> dict[str, str]:
        """The `SmsGateway` object of an outputs file."""
        return {
            "TopicArn": self.topic_arn,
            "QueueUrl": self.queue_url,
            "DeadLetterQueueUrl": self.dead_letter_queue_url,
            "ApiUrl": "http://127.0.0.1:9/v1/",
            "ApiKeyId": "nokey",
            "SecretArn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:uspeedo",
            "FunctionName": "sms-gateway",
            "AlarmTopicArn": "arn:aws:sns:us-east-1:123456789012:alarms",
            **extra,
        }

    def drain(self, queue_url: str) -> list[dict[str, Any]]:
        """Every message of a queue, in order, consumed: body and attributes as strings."""
        return drain_queue(self.sqs, queue_url)

    def count(self, queue_url: str) -> tuple[int, int]:
        """(visible, in flight) messages of a queue."""
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return (
            int(attributes["ApproximateNumberOfMessages"]),
            int(attributes["ApproximateNumberOfMessagesNotVisible"]),
        )

    def park(self, body: str, **attributes: str) -> str:
        """Put a message in the dead-letter queue as the gateway does; its MessageId."""
        answer = self.sqs.send_message(
            QueueUrl=self.dead_letter_queue_url,
            MessageBody=body,
            MessageAttributes=_shaped(attributes),
        )
        return str(answer["MessageId"])

    def park_all(self, messages: list[tuple[str, dict[str, str]]]) -> None:
        """`park` each (body, attributes), in order, ten a call (moto is slow per call)."""
        for start in range(0, len(messages), 10):
            self.sqs.send_message_batch(
                QueueUrl=self.dead_letter_queue_url,
                Entries=[
                    {"Id": str(i), "MessageBody": body, "MessageAttributes": _shaped(attributes)}
                    for i, (body, attributes) in enumerate(messages[start : start + 10])
                ],
            )


def _shaped(attributes: dict[str, str]) -> dict[str, dict[str, str]]:
    """Message attributes as the gateway writes them (`RetCode` is a Number)."""
    return {
        name: {"DataType": "Number" if name == "RetCode" else "String", "StringValue": value}
        for name, value in attributes.items()
    }


def create_stack(sqs: Any, sns: Any) -> Stack:
    """Topic → queue (raw delivery, as the stack subscribes it) and a dead-letter queue."""
    topic_arn = sns.create_topic(Name="sms-gateway")["TopicArn"]
    queue_url = sqs.create_queue(QueueName="sms-gateway")["QueueUrl"]
    dead_letter_queue_url = sqs.create_queue(QueueName="sms-gateway-dlq")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    sns.subscribe(
        TopicArn=topic_arn,
        Protocol="sqs",
        Endpoint=queue_arn,
        Attributes={"RawMessageDelivery": "true"},
    )
    return Stack(topic_arn, queue_url, dead_letter_queue_url, sqs, sns)


def fake_aws_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Credentials and a region for moto, and no way to find real ones."""
    for name, value in {
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_EC2_METADATA_DISABLED": "true",
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "AWS_REGION", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)


@contextmanager
def moto_stack(monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    """A stack in moto for one test. SQS long polls are cut to nothing: moto waits the
    whole WaitTimeSeconds on an empty queue, and every command ends on one."""
    fake_aws_environment(monkeypatch)
    monkeypatch.setattr(dead_letters, "WAIT_S", 0)
    with mock_aws():
        yield create_stack(boto3.client("sqs"), boto3.client("sns"))


def write_outputs(folder: Path, values: dict[str, str], name: str = "cdk-outputs.json") -> Path:
    """An outputs file as `cdk deploy --outputs-file` writes it."""
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"SmsGateway": values}, indent=2), encoding="utf-8")
    return path


@dataclass
class Request:
    """One request the fake API received."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class FakeApi:
    """The gateway's REST API on 127.0.0.1: checks `x-api-key` like API Gateway (403
    otherwise) and answers each route with the canned (status, JSON) set for it."""

    answers: dict[tuple[str, str], tuple[int, Any]] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    url: str = ""

    def answer(self, method: str, path: str, status: int, body: Any) -> None:
        """Answer `method path` (path without the stage, e.g. `/messages`) with this."""
        self.answers[(method, path)] = (status, body)


@contextmanager
def fake_api() -> Iterator[FakeApi]:
    """A running `FakeApi`; its `url` is like `ApiUrl` (stage `v1`, trailing slash)."""
    api = FakeApi()

    class Handler(BaseHTTPRequestHandler):
        def setup(self) -> None:
            super().setup()
            # Headers and body leave in two writes: without this, Nagle's algorithm and a
            # delayed ACK add 40 ms to every answer.
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def do_GET(self) -> None:
            self._answer()

        def do_POST(self) -> None:
            self._answer()

        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            api.requests.append(Request(self.command, self.path, headers, body))
            stage_path = self.path.removeprefix("/v1")
            if headers.get("x-api-key") != API_KEY:
                status, answer = 403, {"message": "Forbidden"}
            else:
                status, answer = api.answers.get(
                    (self.command, stage_path), (404, {"message": "no canned answer"})
                )
            payload = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            return  # keep the test output clean

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    # A short poll interval: shutdown() waits up to one.
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    api.url = f"http://127.0.0.1:{server.server_address[1]}/v1/"
    try:
        yield api
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@contextmanager
def running_moto_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A moto server on loopback, as `make local` runs one, and a shell without AWS
    credentials; yields its endpoint URL."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def local_client(endpoint: str, service: str) -> Any:
    """A boto3 client of the local moto server."""
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
