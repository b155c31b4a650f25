"""Session-wide synths shared by every infra test (bundling skipped).

Starting the CDK's JavaScript runtime and the first synth cost seconds (≈5 s); later builds
in the same process cost ≈0.2 s each. So the session builds once per configuration, through
`app.build` exactly as `cdk synth` does:

- `gateway`: the stack with the features that are off by default turned on (alarm e-mail,
  an extra topic, a sender id, events with full numbers), values typed as in `cdk.json`;
- `imported_secret_gateway`: an imported secret and an existing event bus, and values given
  as strings, as `-c key=value` gives them (the traffic policy too: a JSON string);
- `raw_findings`: the same app as `gateway` with every cdk-nag acknowledgement switched off,
  checked but not synthesized, to prove each acknowledgement is still needed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from cdk_nag import AwsSolutionsChecks

import app as cdk_app
from infra.names import NAG_ACKNOWLEDGEMENTS_CONTEXT_KEY, STACK_ID
from infra.stack import SmsGatewayStack
from tests.infra.cfn import SynthesizedStack

REPO_ROOT = Path(__file__).resolve().parents[2]
EXTRA_TOPIC_ARN = "arn:aws:sns:ap-southeast-1:123456789012:existing-notifications"
IMPORTED_SECRET_ARN = (
    "arn:aws:secretsmanager:ap-southeast-1:123456789012:secret:prod/uspeedo-AbC123"
)
ALARM_EMAIL = "sms-oncall@example.com"
EXISTING_EVENT_BUS = "existing"
# A traffic policy other than cdk.json's, given as `-c trafficPolicy='…'` gives it.
COMMAND_LINE_POLICY: Mapping[str, Any] = {
    "Mode": "Monitor",
    "Countries": {"Allow": ["*"], "Block": ["RU", "NG"]},
    "Limits": [{"Scope": "Country", "Count": 500, "Seconds": 3600, "Countries": ["CN"]}],
}

# The stack's features that are off by default, on; typed values, as in cdk.json.
FULL_FEATURES: Mapping[str, Any] = {
    "alarmEmail": ALARM_EMAIL,
    "extraTopicArns": [EXTRA_TOPIC_ARN],
    "senderId": "Acme",
    "maxConcurrency": 7,
    "eventsWithPhoneNumbers": True,
    "receiptDelaySeconds": 240,
    "deliveryRateAlarm": 0.9,
}
# An imported secret and bus, and every value a string, as `-c key=value` passes it.
IMPORTED_SECRET: Mapping[str, Any] = {
    "secretArn": IMPORTED_SECRET_ARN,
    "maxConcurrency": "3",
    "defaultCountryCode": "44",
    "uspeedoAction": "SendBatchUSMSMessage",
    "extraTopicArns": "",
    "alarmEmail": "",
    "trafficPolicy": json.dumps(COMMAND_LINE_POLICY),
    "eventBusName": EXISTING_EVENT_BUS,
    "receiptDelaySeconds": "60",
    "eventsWithPhoneNumbers": "false",
    "deliveryRateAlarm": "0.75",
}


def cdk_json_context() -> dict[str, Any]:
    """The context `cdk synth` reads from `cdk.json` (defaults and feature flags)."""
    context: dict[str, Any] = json.loads((REPO_ROOT / "cdk.json").read_text())["context"]
    return context


def app_context(overrides: Mapping[str, Any]) -> dict[str, Any]:
    """cdk.json's context plus `overrides`, with bundling skipped for every stack."""
    return {**cdk_json_context(), **overrides, "aws:cdk:bundling-stacks": []}


@dataclass(frozen=True)
class Gateway(SynthesizedStack):
    """The app (for cdk-nag and acknowledgements) and its one synthesized stack."""

    app: cdk.App
    gateway: SmsGatewayStack


def synth_gateway(overrides: Mapping[str, Any], outdir: Path) -> Gateway:
    """cdk.json's context plus `overrides`, built and synthesized as `cdk synth` does."""
    app = cdk.App(context=app_context(overrides), outdir=str(outdir))
    stack = cdk_app.build(app)
    assembly = app.synth()  # fails here on any unacknowledged cdk-nag finding
    template: dict[str, Any] = assembly.get_stack_by_name(STACK_ID).template
    return Gateway(stack=stack, template=template, app=app, gateway=stack)


@pytest.fixture(scope="session")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Gateway:
    """The stack with every optional feature on."""
    return synth_gateway(FULL_FEATURES, tmp_path_factory.mktemp("cdk.out"))


@pytest.fixture(scope="session")
def imported_secret_gateway(tmp_path_factory: pytest.TempPathFactory) -> Gateway:
    """The stack with an imported secret and bus, and command-line (string) values."""
    return synth_gateway(IMPORTED_SECRET, tmp_path_factory.mktemp("cdk.out"))


@dataclass(frozen=True)
class Finding:
    """One cdk-nag finding: the rule (with its finding id) and the resource's path."""

    rule_id: str
    construct_path: str


@pytest.fixture(scope="session")
def raw_findings() -> frozenset[Finding]:
    """cdk-nag's findings on the full-featured app with no acknowledgement applied."""
    app = cdk.App(context=app_context({**FULL_FEATURES, NAG_ACKNOWLEDGEMENTS_CONTEXT_KEY: False}))
    cdk_app.build(app)
    report = AwsSolutionsChecks().validate_scope(app)
    return frozenset(
        Finding(violation.rule_name, resource.construct_path or "")
        for violation in report.violations
        for resource in violation.violating_resources
    )
