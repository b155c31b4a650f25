"""checkov (`make scan`): every acknowledgement sits on one resource and says why.

These run without checkov: they read the synthesized template's resource metadata, where
`infra.nag.acknowledge_checkov` writes each acknowledgement and checkov reads it. Whether
each one still suppresses a real finding needs checkov itself: `make scan` checks that
(`infra/scan.py`), and its comparison logic is tested here on a report of checkov's shape.
"""

from __future__ import annotations

import ast
import json
import re
import sys
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra import scan
from infra.nag import CHECKOV_METADATA_KEY, MIN_REASON_LENGTH, acknowledge_checkov
from tests.infra.conftest import Gateway

CHECK_ID = re.compile(r"^CKV2?_AWS_\d+$")
REASON = "A reason long enough to say why the finding is acceptable here."


@pytest.fixture(params=["full", "imported"])
def stack(
    request: pytest.FixtureRequest, gateway: Gateway, imported_secret_gateway: Gateway
) -> Gateway:
    """Each synth in turn: every feature on; an imported secret with string values."""
    return gateway if request.param == "full" else imported_secret_gateway


def _skips(resource: dict[str, Any]) -> list[dict[str, Any]]:
    skips: list[dict[str, Any]] = (
        resource.get("Metadata", {}).get(CHECKOV_METADATA_KEY, {}).get("skip", [])
    )
    return skips


def test_acknowledgements_are_on_resources_and_say_why(stack: Gateway) -> None:
    acknowledged = {
        logical_id: _skips(resource)
        for logical_id, resource in stack.resources.items()
        if _skips(resource)
    }

    assert acknowledged
    # Never on the stack: checkov would not read it there, and it would cover everything.
    assert CHECKOV_METADATA_KEY not in stack.template.get("Metadata", {})
    for logical_id, skips in acknowledged.items():
        ids = [skip["id"] for skip in skips]
        assert len(ids) == len(set(ids)), logical_id
        for skip in skips:
            assert set(skip) == {"id", "comment"}, logical_id
            assert CHECK_ID.match(skip["id"]), (logical_id, skip["id"])
            assert len(skip["comment"]) >= MIN_REASON_LENGTH, (logical_id, skip["id"])


def test_the_function_carries_its_own_acknowledgements_only(gateway: Gateway) -> None:
    sender = gateway.gateway.sender
    function = gateway.resource(sender.function)
    permissions = gateway.of_type("AWS::Lambda::Permission")
    mappings = gateway.of_type("AWS::Lambda::EventSourceMapping")

    assert {skip["id"] for skip in _skips(function)} == {
        "CKV_AWS_115",  # reserved concurrency
        "CKV_AWS_116",  # dead-letter queue
        "CKV_AWS_117",  # VPC
        "CKV_AWS_173",  # environment encryption
    }
    # The L2 function's neighbours (its permissions and mappings) are not covered.
    assert not [r for r in (*permissions.values(), *mappings.values()) if _skips(r)]


class _Group(Construct):
    """A construct holding two resources: no single resource to acknowledge on."""

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        sqs.Queue(self, "One")
        sqs.Queue(self, "Two")


def test_an_acknowledgement_needs_one_resource_and_a_reason() -> None:
    stack = cdk.Stack(cdk.App(), "Scratch")
    queue = sqs.Queue(stack, "Queue")
    group = _Group(stack, "Group")

    with pytest.raises(ValueError, match="not a single resource"):
        acknowledge_checkov(group, "CKV_AWS_27", REASON)
    with pytest.raises(ValueError, match="not a single resource"):
        acknowledge_checkov(stack, "CKV_AWS_27", REASON)
    with pytest.raises(ValueError, match="at least 40"):
        acknowledge_checkov(queue, "CKV_AWS_27", "It is fine.")
    acknowledge_checkov(queue, "CKV_AWS_27", REASON)
    acknowledge_checkov(queue, "CKV_AWS_28", REASON)
    with pytest.raises(ValueError, match="already acknowledged"):
        acknowledge_checkov(queue, "CKV_AWS_27", REASON)

    template = cdk.assertions.Template.from_stack(stack).to_json()
    [resource] = [r for r in template["Resources"].values() if _skips(r)]
    assert resource["Type"] == "AWS::SQS::Queue"
    assert _skips(resource) == [
        {"id": "CKV_AWS_27", "comment": REASON},
        {"id": "CKV_AWS_28", "comment": REASON},
    ]


# --- make scan's second step: stale acknowledgements ---------------------------------------


def _report(*failed: tuple[str, str]) -> dict[str, Any]:
    """A checkov JSON report (its shape, trimmed) with these (resource, check) failures."""
    return {
        "check_type": "cloudformation",
        "results": {
            "failed_checks": [
                {"check_id": check_id, "resource": f"AWS::Lambda::Function.{logical_id}"}
                for logical_id, check_id in failed
            ],
            "passed_checks": [],
            "skipped_checks": [],
        },
        "summary": {"passed": 0, "failed": len(failed), "skipped": 0},
    }


def test_the_scan_finds_acknowledgements_nothing_needs(gateway: Gateway) -> None:
    template = gateway.template
    acknowledged = scan.acknowledged(template)
    function = gateway.logical_id(gateway.gateway.sender.function)

    assert (function, "CKV_AWS_117") in acknowledged
    # Stripped for the raw run, and only the acknowledgements.
    raw = scan.without_acknowledgements(template)
    assert scan.acknowledged(raw) == set()
    assert scan.acknowledged(template) == acknowledged, "the original is left alone"
    assert json.dumps(raw).count('"aws:cdk:path"') == json.dumps(template).count('"aws:cdk:path"')
    # Every acknowledgement matched by a finding: none stale.
    assert scan.unneeded(template, scan.failed(_report(*acknowledged))) == []
    # One finding fixed since: its acknowledgement is stale.
    fixed = (function, "CKV_AWS_117")
    assert scan.unneeded(template, scan.failed(_report(*(acknowledged - {fixed})))) == [fixed]


def test_the_scan_reads_checkovs_report_in_either_shape() -> None:
    report = _report(("Fn", "CKV_AWS_117"))

    assert scan.failed(report) == {("Fn", "CKV_AWS_117")}
    # Several frameworks: a list of reports, one per framework.
    assert scan.failed([report, {**report, "check_type": "secrets"}]) == {("Fn", "CKV_AWS_117")}
    # No resource at all: checkov answers an empty summary.
    assert scan.failed({"passed": 0, "failed": 0}) == set()


def test_the_scan_runs_without_the_cdk() -> None:
    # It runs in .venv-scan, which has checkov and the standard library, nothing of ours.
    source = Path(scan.__file__).read_text()
    imported: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            imported |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, "no relative imports"
            assert node.module is not None
            imported.add(node.module)

    top_level = {name.split(".")[0] for name in imported}
    assert "json" in top_level
    assert top_level - {"__future__"} <= set(sys.stdlib_module_names)
