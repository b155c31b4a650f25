"""What the gateway tells CloudWatch: EMF metrics by reason, JSON logs, and no X-Ray cost
when tracing is off."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from local_gateway.context import LocalContext
from sms_gateway.gateway import Gateway
from sms_gateway.handler import lambda_handler
from tests.harness import message, sqs_event, sqs_record
from uspeedo_sandbox import Fault, Sandbox

ROOT = Path(__file__).resolve().parents[2]


def _emf_blobs(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith('{"_aws"')]


def test_metrics_count_received_sent_phones_rejections_by_reason_and_latency(
    gateway: Gateway,
    sandbox: Sandbox,
    context: LocalContext,
    capsys: pytest.CaptureFixture[str],
) -> None:
    sandbox.set_fault(Fault(kind="retcode", ret_code=18017, template_id="UTA-REFUSED"))
    records = [
        sqs_record(message("+8613800138000", "+8613800138001")),
        sqs_record(message("+8613800138002", TemplateId="UTA-REFUSED")),
        sqs_record("not json"),
    ]

    lambda_handler(sqs_event(*records), context)

    blobs = _emf_blobs(capsys.readouterr().out)
    main = next(b for b in blobs if "MessagesSent" in b)
    assert main["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "SmsGateway"
    assert sum(main["MessagesReceived"]) == 3
    assert sum(main["MessagesSent"]) == 1
    assert sum(main["PhonesSent"]) == 2
    assert len(main["ProviderLatency"]) >= 1
    reasons = {b.get("Reason"): b for b in blobs if "MessagesRejected" in b}
    assert set(reasons) == {"ProviderRejected", "InvalidMessage"}
    provider_errors = [b for b in blobs if "ProviderErrors" in b]
    assert [b["Reason"] for b in provider_errors] == ["18017"]


def test_replays_are_counted_apart_from_sends(
    gateway: Gateway, context: LocalContext, capsys: pytest.CaptureFixture[str]
) -> None:
    lambda_handler(message(), context)
    capsys.readouterr()
    lambda_handler(message(), context)

    [main] = [b for b in _emf_blobs(capsys.readouterr().out) if "MessagesReceived" in b]
    assert main["IdempotentReplays"] == [1.0]
    assert "MessagesSent" not in main


def test_log_lines_are_json_with_the_lambda_context_and_the_result(
    gateway: Gateway, context: LocalContext, logs: Any
) -> None:
    lambda_handler(message(UserId="order-9"), context)

    lines = [json.loads(line) for line in logs.getvalue().splitlines()]
    sent = next(line for line in lines if line["message"] == "message sent")
    assert sent["function_request_id"] == context.aws_request_id
    assert sent["event_kind"] == "direct"
    assert sent["result"]["UserId"] == "order-9"


def test_importing_the_handler_with_tracing_off_never_loads_the_xray_sdk() -> None:
    # Also what the cold-start work (benchmarks/RESULTS.md) moved out of the import: boto3
    # waits for the first invocation, and Powertools' parser models (≈75 ms) are never
    # built — which an import-order change in handler.py/queues.py would bring back.
    deferred = ["aws_xray_sdk", "boto3", "aws_lambda_powertools.utilities.parser.models"]
    code = (
        f"import sys, sms_gateway.handler; print(any(name in sys.modules for name in {deferred!r}))"
    )
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT / "functions"),
        "POWERTOOLS_TRACE_DISABLED": "true",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    found = subprocess.run(  # noqa: S603 - our own interpreter, fixed arguments
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )

    assert found.stdout.strip() == "False"
