"""cdk-nag acknowledgements: each on the one resource it concerns, each with its reason.

cdk-nag v3 reads CDK's own acknowledgements (`Validations.of(construct).acknowledge`) on a
resource or on any of its parents, so one on a stack or a capability construct would hide
every future finding of that rule below it. Here they go on the CloudFormation resource
itself, next to the code that makes the resource, and nowhere else.
"""

from __future__ import annotations

import aws_cdk as cdk
from constructs import IConstruct

from infra.names import NAG_ACKNOWLEDGEMENTS_CONTEXT_KEY

# Long enough to say why, not just what.
MIN_REASON_LENGTH = 40


def acknowledgements_enabled(scope: IConstruct) -> bool:
    """False only when the app runs with `-c nagAcknowledgements=false` (diagnostics)."""
    value = scope.node.try_get_context(NAG_ACKNOWLEDGEMENTS_CONTEXT_KEY)
    return value not in (False, "false", "False", "0")


def acknowledge(construct: IConstruct, rule_id: str, reason: str) -> None:
    """Acknowledge one cdk-nag finding (`AwsSolutions-IAM5[Resource::*]`, …) on one resource.

    `construct` is the CloudFormation resource or the L2 construct that wraps it; the
    acknowledgement goes on the resource itself, so it can never cover a neighbour (an L2
    function, say, also holds its event source mappings and permissions).
    """
    resource = construct if isinstance(construct, cdk.CfnResource) else construct.node.default_child
    if not isinstance(resource, cdk.CfnResource):
        raise ValueError(f"{rule_id}: {construct.node.path} is not a single resource")
    if len(reason) < MIN_REASON_LENGTH:
        raise ValueError(
            f"{rule_id}: say why it is acceptable (at least {MIN_REASON_LENGTH} chars)"
        )
    if acknowledgements_enabled(resource):
        cdk.Validations.of(resource).acknowledge(cdk.Acknowledgment(id=rule_id, reason=reason))
