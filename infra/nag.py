"""Acknowledged findings of the two scanners: cdk-nag (every synth) and checkov (`make scan`).

Each acknowledgement sits on the one resource it concerns, with its reason, next to the
code that makes the resource, and nowhere else.

cdk-nag v3 reads CDK's own acknowledgements (`Validations.of(construct).acknowledge`) on a
resource or on any of its parents, so one on a stack or a capability construct would hide
every future finding of that rule below it. checkov reads a resource's template metadata
(`Metadata: {"checkov": {"skip": [{"id", "comment"}]}}`) and nothing at stack level.
"""

from __future__ import annotations

from typing import Any, Final

import aws_cdk as cdk
from constructs import IConstruct

from infra.names import NAG_ACKNOWLEDGEMENTS_CONTEXT_KEY

# Long enough to say why, not just what.
MIN_REASON_LENGTH: Final = 40
# The resource metadata checkov reads its suppressions from.
CHECKOV_METADATA_KEY: Final = "checkov"


def acknowledgements_enabled(scope: IConstruct) -> bool:
    """False only when the app runs with `-c nagAcknowledgements=false` (diagnostics)."""
    value = scope.node.try_get_context(NAG_ACKNOWLEDGEMENTS_CONTEXT_KEY)
    return value not in (False, "false", "False", "0")


def _resource(construct: IConstruct, rule_id: str, reason: str) -> cdk.CfnResource:
    """The one CloudFormation resource `construct` is (or wraps), once the reason is checked."""
    resource = construct if isinstance(construct, cdk.CfnResource) else construct.node.default_child
    if not isinstance(resource, cdk.CfnResource):
        raise ValueError(f"{rule_id}: {construct.node.path} is not a single resource")
    if len(reason) < MIN_REASON_LENGTH:
        raise ValueError(
            f"{rule_id}: say why it is acceptable (at least {MIN_REASON_LENGTH} chars)"
        )
    return resource


def acknowledge(construct: IConstruct, rule_id: str, reason: str) -> None:
    """Acknowledge one cdk-nag finding (`AwsSolutions-IAM5[Resource::*]`, …) on one resource.

    `construct` is the CloudFormation resource or the L2 construct that wraps it; the
    acknowledgement goes on the resource itself, so it can never cover a neighbour (an L2
    function, say, also holds its event source mappings and permissions).
    """
    resource = _resource(construct, rule_id, reason)
    if acknowledgements_enabled(resource):
        cdk.Validations.of(resource).acknowledge(cdk.Acknowledgment(id=rule_id, reason=reason))


def acknowledge_checkov(construct: IConstruct, check_id: str, reason: str) -> None:
    """Acknowledge one checkov finding (`CKV_AWS_117`, …) on one resource, for `make scan`.

    Written into the resource's template metadata, where checkov reports it as skipped
    with `reason` as its comment. Like `acknowledge`, it goes on the CloudFormation resource
    itself (an L2 construct's default child), never on a stack or a group of resources.
    """
    resource = _resource(construct, check_id, reason)
    metadata: Any = resource.get_metadata(CHECKOV_METADATA_KEY) or {}
    skips: list[dict[str, str]] = list(metadata.get("skip", []))
    if any(skip["id"] == check_id for skip in skips):
        raise ValueError(f"{check_id}: already acknowledged on {resource.node.path}")
    skips.append({"id": check_id, "comment": reason})
    resource.add_metadata(CHECKOV_METADATA_KEY, {**metadata, "skip": skips})
