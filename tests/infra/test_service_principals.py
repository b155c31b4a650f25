"""Confused deputy: every grant to an AWS service names whose behalf the service acts on.

A resource policy that lets `cloudwatch.amazonaws.com` (or SNS, or API Gateway) use a key, a
queue or the function with no condition lets that service do so for *any* account's
resources: anyone could point their alarm, topic or API at ours. Each such statement must
carry a source condition (`aws:SourceAccount`, `aws:SourceArn`, `aws:SourceOwner`, or, for
CloudWatch Logs, `kms:EncryptionContext:aws:logs:arn`); a Lambda permission its
`SourceArn` or `SourceAccount`. Swept over both synths, like the least-privilege tests.
Role trust policies are left out: they say who may assume a role, not on whose behalf.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Final

import pytest

from tests.infra.cfn import SynthesizedStack
from tests.infra.conftest import Gateway

Json = dict[str, Any]

SOURCE_CONDITION_KEYS: Final = frozenset({"aws:sourceaccount", "aws:sourcearn", "aws:sourceowner"})
# CloudWatch Logs names the log group in the encryption context instead.
LOGS_CONDITION_KEY: Final = "kms:encryptioncontext:aws:logs:arn"
# Resource types whose policy document grants access to the resource, and where it lives.
POLICY_DOCUMENTS: Final = {
    "AWS::KMS::Key": "KeyPolicy",
    "AWS::SNS::TopicPolicy": "PolicyDocument",
    "AWS::SQS::QueuePolicy": "PolicyDocument",
    "AWS::SecretsManager::ResourcePolicy": "ResourcePolicy",
    "AWS::Events::EventBusPolicy": "Statement",
}


@dataclass(frozen=True)
class ServiceGrant:
    """One Allow to a service principal, in a resource policy or a Lambda permission."""

    owner: str  # logical id of the resource holding it
    services: tuple[str, ...]
    condition_keys: frozenset[str]  # lower case: IAM condition keys are case-insensitive


def _services(principal: Any) -> tuple[str, ...]:
    if not isinstance(principal, dict) or "Service" not in principal:
        return ()
    service = principal["Service"]
    return tuple(service) if isinstance(service, list) else (service,)


def _condition_keys(statement: Json) -> frozenset[str]:
    return frozenset(
        key.lower() for operator in statement.get("Condition", {}).values() for key in operator
    )


def _statements(resource: Json) -> list[Json]:
    document = resource.get("Properties", {}).get(POLICY_DOCUMENTS[resource["Type"]])
    if document is None:
        return []
    if resource["Type"] == "AWS::Events::EventBusPolicy":
        return [document]  # one statement, not a document
    statements = document.get("Statement", []) if isinstance(document, dict) else []
    return statements if isinstance(statements, list) else [statements]


def service_grants(template: SynthesizedStack) -> list[ServiceGrant]:
    """Every Allow to a service principal in the template's resource policies."""
    grants: list[ServiceGrant] = []
    for owner, resource in template.resources.items():
        if resource["Type"] in POLICY_DOCUMENTS:
            for statement in _statements(resource):
                services = _services(statement.get("Principal"))
                if statement.get("Effect") == "Allow" and services:
                    grants.append(ServiceGrant(owner, services, _condition_keys(statement)))
        elif resource["Type"] == "AWS::Lambda::Permission":
            properties = resource["Properties"]
            principal = properties["Principal"]
            if isinstance(principal, str) and principal.endswith(".amazonaws.com"):
                keys = {
                    f"aws:{name.lower()}"
                    for name in ("SourceArn", "SourceAccount")
                    if name in properties
                }
                grants.append(ServiceGrant(owner, (principal,), frozenset(keys)))
    return grants


def _has_source_condition(grant: ServiceGrant) -> bool:
    if grant.condition_keys & SOURCE_CONDITION_KEYS:
        return True
    logs_only = all(service.startswith("logs.") for service in grant.services)
    return logs_only and LOGS_CONDITION_KEY in grant.condition_keys


def unconditioned_service_grants(template: SynthesizedStack) -> list[tuple[str, str]]:
    """(resource, service) for every service grant that does not name its source."""
    return [
        (grant.owner, service)
        for grant in service_grants(template)
        if not _has_source_condition(grant)
        for service in grant.services
    ]


@pytest.fixture(params=["full", "imported"])
def template(
    request: pytest.FixtureRequest, gateway: Gateway, imported_secret_gateway: Gateway
) -> Gateway:
    """Each synth in turn: every feature on; an imported secret with string values."""
    return gateway if request.param == "full" else imported_secret_gateway


def test_every_service_grant_names_its_source(template: Gateway) -> None:
    grants = service_grants(template)
    key_grants = [g for g in grants if template.resources[g.owner]["Type"] == "AWS::KMS::Key"]

    # The sweep sees what it is meant to: CloudWatch on the topic key, SNS on the queues'.
    assert {"cloudwatch.amazonaws.com", "sns.amazonaws.com"} <= {
        service for grant in key_grants for service in grant.services
    }
    assert unconditioned_service_grants(template) == []


def test_cloudwatch_may_use_the_topic_key_for_this_accounts_alarms_only(
    gateway: Gateway,
) -> None:
    key_policy = gateway.properties(gateway.gateway.ingress.topic_key)["KeyPolicy"]
    [statement] = [
        s
        for s in key_policy["Statement"]
        if s.get("Principal") == {"Service": "cloudwatch.amazonaws.com"}
    ]

    assert statement["Condition"]["StringEquals"] == {
        "aws:SourceAccount": {"Ref": "AWS::AccountId"}
    }
    alarms = json.dumps(statement["Condition"]["ArnLike"]["aws:SourceArn"])
    assert ':cloudwatch:", {"Ref": "AWS::Region"}' in alarms
    assert alarms.endswith('":alarm:*"]]}')


def test_the_sweep_finds_a_service_grant_without_a_condition(gateway: Gateway) -> None:
    broken: Json = json.loads(json.dumps(gateway.template))
    key = broken["Resources"][gateway.logical_id(gateway.gateway.ingress.queue_key)]
    for statement in key["Properties"]["KeyPolicy"]["Statement"]:
        statement.pop("Condition", None)
    broken_stack = SynthesizedStack(stack=gateway.stack, template=broken)

    assert unconditioned_service_grants(gateway) == []
    assert unconditioned_service_grants(broken_stack) != []


@pytest.mark.parametrize(
    ("services", "condition_keys", "named"),
    [
        (("sns.amazonaws.com",), {"aws:SourceArn"}, True),
        (("cloudwatch.amazonaws.com",), {"AWS:SOURCEACCOUNT"}, True),
        (("s3.amazonaws.com",), {"aws:SourceOwner"}, True),
        (("logs.ap-southeast-1.amazonaws.com",), {"kms:EncryptionContext:aws:logs:arn"}, True),
        (("sns.amazonaws.com",), {"kms:EncryptionContext:aws:logs:arn"}, False),
        (("cloudwatch.amazonaws.com",), {"aws:SecureTransport"}, False),
        (("cloudwatch.amazonaws.com",), set(), False),
    ],
)
def test_what_counts_as_naming_the_source(
    services: tuple[str, ...], condition_keys: set[str], named: bool
) -> None:
    grant = ServiceGrant("Key", services, frozenset(k.lower() for k in condition_keys))

    assert _has_source_condition(grant) is named
