"""cdk-nag: no finding is left unacknowledged, every acknowledgement sits on the resource it
concerns with a reason, and every acknowledgement still suppresses a real finding."""

from __future__ import annotations

from dataclasses import dataclass

import aws_cdk as cdk
import pytest
from cdk_nag import AwsSolutionsChecks
from constructs import IConstruct

from infra.nag import MIN_REASON_LENGTH
from tests.infra.conftest import Finding, Gateway

# aws-cdk-lib stores rule ids without a well-known prefix under "Annotation::".
_ANNOTATION_PREFIX = "annotation::"


@dataclass(frozen=True)
class Acknowledgement:
    """One acknowledgement as the construct tree records it."""

    construct: IConstruct
    rule_id: str
    reason: str


@pytest.fixture(scope="module")
def acknowledgements(gateway: Gateway) -> list[Acknowledgement]:
    """Every acknowledgement recorded in the full-featured app's construct tree."""
    found = []
    for construct in gateway.app.node.find_all():
        for entry in construct.node.metadata:
            if entry.type != cdk.Validations.ACKNOWLEDGED_RULES_METADATA_KEY:
                continue
            for rule_id, reason in dict(entry.data).items():
                if rule_id.lower().startswith(_ANNOTATION_PREFIX):
                    rule_id = rule_id[len(_ANNOTATION_PREFIX) :]
                found.append(Acknowledgement(construct, rule_id, str(reason)))
    return found


def _covers(construct: IConstruct, finding: Finding) -> bool:
    """cdk-nag honours an acknowledgement on the resource or on any of its parents."""
    path = construct.node.path
    return finding.construct_path == path or finding.construct_path.startswith(path + "/")


def test_no_finding_is_left_unacknowledged(gateway: Gateway) -> None:
    report = AwsSolutionsChecks().validate_scope(gateway.app)

    assert [
        (violation.rule_name, [r.construct_path for r in violation.violating_resources])
        for violation in report.violations
    ] == []


def test_acknowledgements_are_on_resources_and_say_why(
    acknowledgements: list[Acknowledgement],
) -> None:

    assert acknowledgements
    for acknowledgement in acknowledgements:
        construct = acknowledgement.construct
        # On one CloudFormation resource: never a stack, a capability construct or an L2
        # whose children (permissions, mappings) it would cover too.
        assert isinstance(construct, cdk.CfnResource), construct.node.path
        assert construct.node.children == [], construct.node.path
        assert len(acknowledgement.reason) >= MIN_REASON_LENGTH


def test_every_acknowledgement_is_still_needed(
    acknowledgements: list[Acknowledgement], raw_findings: frozenset[Finding]
) -> None:

    # Without acknowledgements, each one's rule fires on the resource it sits on.
    unneeded = [
        f"{a.rule_id} on {a.construct.node.path}"
        for a in acknowledgements
        if not any(
            finding.rule_id == a.rule_id and _covers(a.construct, finding)
            for finding in raw_findings
        )
    ]
    assert acknowledgements
    assert unneeded == []


def test_acknowledgements_cover_exactly_the_raw_findings(
    acknowledgements: list[Acknowledgement], raw_findings: frozenset[Finding]
) -> None:

    uncovered = [
        finding
        for finding in raw_findings
        if not any(
            a.rule_id == finding.rule_id and _covers(a.construct, finding) for a in acknowledgements
        )
    ]
    assert raw_findings
    assert uncovered == []


def test_the_gateway_keys_rotation_finding_is_acknowledged_on_it_alone(
    gateway: Gateway,
    acknowledgements: list[Acknowledgement],
    raw_findings: frozenset[Finding],
) -> None:
    sender = gateway.gateway.sender
    key = sender.gateway_key.node.default_child
    assert isinstance(key, cdk.CfnResource)
    on_the_key = [a for a in acknowledgements if a.construct.node.path == key.node.path]

    # Not rotated, on purpose, and said so on this secret only (the USpeedo secret's
    # acknowledgement has its own reason).
    assert [a.rule_id for a in on_the_key] == ["AwsSolutions-SMG4"]
    assert "idempotency" in on_the_key[0].reason
    # The finding it answers is real: with acknowledgements off, cdk-nag reports it here.
    assert Finding("AwsSolutions-SMG4", key.node.path) in raw_findings
