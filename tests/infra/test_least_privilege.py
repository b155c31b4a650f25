"""Least privilege and exposure, swept over the whole synthesized template (both synths:
every optional feature on, and an imported secret with command-line values).

Where the other infra tests check one grant each, these check every statement, every
queue, topic, API method, parameter, table and environment variable there is — so a new
resource cannot slip in with a wildcard. The few wildcards a managed integration needs are
listed below, each with its reason; anything else fails. The figures go to RELIABILITY.md.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Final

import pytest

from tests.infra.cfn import SynthesizedStack
from tests.infra.conftest import Gateway
from tests.reliability import figures

# Identity-policy actions that may have Resource "*": the service has no resource-level
# permissions for them.
WILDCARD_RESOURCE_ACTIONS: Final = {
    "xray:PutTraceSegments": "X-Ray has no resource-level permissions (AWS documents '*')",
    "xray:PutTelemetryRecords": "X-Ray has no resource-level permissions (AWS documents '*')",
}
# Wildcard actions allowed in KMS key policies, by principal.
KEY_POLICY_WILDCARD_ACTIONS: Final = {
    ("account", "kms:*"): (
        "the default key policy: it hands the key to the account, so IAM policies (checked "
        "here) decide who may use it"
    ),
    ("cloudwatch.amazonaws.com", "kms:GenerateDataKey*"): (
        "AWS's documented key policy for CloudWatch alarms publishing to an encrypted topic"
    ),
}
KEY_POLICY_RESOURCE_REASON: Final = "in a key policy, Resource '*' is the key itself"
# AWS managed policies a role may carry.
MANAGED_POLICIES: Final = {
    "AmazonAPIGatewayPushToCloudWatchLogs": (
        "API Gateway's account-wide role for writing the stage's access logs; API Gateway is "
        "its only principal"
    ),
}
SECRET_NAME_HINTS: Final = ("SECRET", "PASSWORD", "TOKEN", "ACCESS_KEY", "PRIVATE")
# What an identity policy may do with the stack's data: read the traffic policy's parameter;
# single items of a table, plus batch reads and scans (the opt-out list); use a table's key
# for DynamoDB. Never a Query, an index, table or key administration, ReEncrypt or a grant.
DATA_ACTIONS: Final = {
    "ssm": {"ssm:GetParameter"},
    "dynamodb": {
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",
        "dynamodb:BatchGetItem",
        "dynamodb:Scan",
    },
}
TABLE_KEY_ACTIONS: Final = {"kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:DescribeKey"}
CHECKS: Final = (
    "identity_actions",
    "identity_resources",
    "resource_policies",
    "managed_policies",
    "secrets",
    "plain_http",
    "api_keys",
    "invoke_permissions",
    "data_access",
)
Json = dict[str, Any]


@dataclass(frozen=True)
class Statement:
    """One policy statement and where it lives."""

    owner: str  # logical id of the resource holding the policy
    kind: str  # identity | queue | topic | key
    body: Json

    def listed(self, name: str) -> list[Any]:
        value = self.body.get(name, [])
        return value if isinstance(value, list) else [value]


@pytest.fixture(scope="module")
def tally() -> Iterator[dict[str, Any]]:
    """What each check covered; written for the report once every check passed."""
    collected: dict[str, Any] = {}
    yield collected
    figures.write_part(
        "privilege",
        {
            "checks": collected,
            "exceptions": {
                "wildcard_resources": WILDCARD_RESOURCE_ACTIONS,
                "key_policy_actions": {
                    f"{principal}: {action}": reason
                    for (principal, action), reason in KEY_POLICY_WILDCARD_ACTIONS.items()
                },
                "key_policy_resources": KEY_POLICY_RESOURCE_REASON,
                "managed_policies": MANAGED_POLICIES,
            },
        },
        complete=set(collected) == {f"{c}/{t}" for c in CHECKS for t in ("full", "imported")},
    )


@pytest.fixture(params=["full", "imported"])
def stack(
    request: pytest.FixtureRequest, gateway: Gateway, imported_secret_gateway: Gateway
) -> tuple[str, Gateway]:
    """Each synth in turn: every feature on; an imported secret with string values."""
    return request.param, gateway if request.param == "full" else imported_secret_gateway


def statements(stack: SynthesizedStack) -> Iterator[Statement]:
    """Every statement of every identity and resource policy in the template."""
    for owner, resource in stack.resources.items():
        kind, documents = _documents(resource)
        for document in documents:
            for statement in document["Statement"]:
                yield Statement(owner, kind, statement)


def _documents(resource: Json) -> tuple[str, list[Json]]:
    properties = resource.get("Properties", {})
    kinds = {
        "AWS::IAM::Policy": ("identity", [properties.get("PolicyDocument")]),
        "AWS::IAM::ManagedPolicy": ("identity", [properties.get("PolicyDocument")]),
        "AWS::IAM::Role": (
            "identity",
            [p["PolicyDocument"] for p in properties.get("Policies", [])],
        ),
        "AWS::SQS::QueuePolicy": ("queue", [properties.get("PolicyDocument")]),
        "AWS::SNS::TopicPolicy": ("topic", [properties.get("PolicyDocument")]),
        "AWS::KMS::Key": ("key", [properties.get("KeyPolicy")]),
    }
    kind, documents = kinds.get(resource["Type"], ("other", []))
    return kind, [d for d in documents if d]


def _principal(statement: Statement) -> str:
    """A statement's principal in short: a service, `account` (the account root), `*`."""
    principal = statement.body.get("Principal")
    if principal in ("*", {"AWS": "*"}):
        return "*"
    if isinstance(principal, dict) and "Service" in principal:
        return str(principal["Service"])
    text = json.dumps(principal)
    if ":root" in text and "AWS::AccountId" in text:
        return "account"
    return text


def _wildcard(action: str) -> bool:
    return "*" in action


def test_no_identity_policy_allows_a_wildcard_action(
    stack: tuple[str, Gateway], tally: dict[str, Any]
) -> None:
    name, template = stack
    checked = [s for s in statements(template) if s.kind == "identity"]

    assert checked
    assert wildcard_identity_actions(template) == []
    tally[f"identity_actions/{name}"] = {"statements": len(checked)}


def wildcard_identity_actions(template: SynthesizedStack) -> list[tuple[str, str]]:
    """(policy, action) for every wildcard action an identity policy allows."""
    return [
        (s.owner, action)
        for s in statements(template)
        if s.kind == "identity" and s.body["Effect"] == "Allow"
        for action in s.listed("Action")
        if _wildcard(action)
    ]


def test_wildcard_resources_only_where_the_service_has_no_other(
    stack: tuple[str, Gateway], tally: dict[str, Any]
) -> None:
    name, template = stack
    allows = [
        s for s in statements(template) if s.kind == "identity" and s.body["Effect"] == "Allow"
    ]

    on_everything = [s for s in allows if "*" in s.listed("Resource")]
    unexplained = {
        action
        for s in on_everything
        for action in s.listed("Action")
        if action not in WILDCARD_RESOURCE_ACTIONS
    }

    assert unexplained == set()
    # Nothing else comes near a wildcard resource: every other resource is a reference to
    # one of the stack's own resources, or a full ARN.
    loose = [
        (s.owner, r)
        for s in allows
        if s not in on_everything
        for r in s.listed("Resource")
        if isinstance(r, str) and not r.startswith("arn:")
    ]
    assert loose == []
    tally[f"identity_resources/{name}"] = {
        "statements": len(allows),
        "on_every_resource": len(on_everything),
    }


def test_resource_policies_open_nothing_to_everyone(
    stack: tuple[str, Gateway], tally: dict[str, Any]
) -> None:
    name, template = stack
    policies = [s for s in statements(template) if s.kind in ("queue", "topic", "key")]

    assert policies
    assert open_resource_grants(template) == []
    allows = [s for s in policies if s.body["Effect"] == "Allow"]
    tally[f"resource_policies/{name}"] = {"statements": len(policies), "allows": len(allows)}


def open_resource_grants(template: SynthesizedStack) -> list[tuple[str, str]]:
    """(resource, what is wrong) for every resource-policy grant wider than needed."""
    allows = [
        s
        for s in statements(template)
        if s.kind in ("queue", "topic", "key") and s.body["Effect"] == "Allow"
    ]
    public = [s.owner for s in allows if _principal(s) == "*"]
    wildcard_actions = [
        (s.owner, _principal(s), action)
        for s in allows
        for action in s.listed("Action")
        if _wildcard(action)
        and not (s.kind == "key" and (_principal(s), action) in KEY_POLICY_WILDCARD_ACTIONS)
    ]
    wildcard_resources = [
        s.owner for s in allows if "*" in s.listed("Resource") and s.kind != "key"
    ]
    # A service may use a queue or topic only on behalf of the stack's own resources (or
    # the topics it was told to subscribe to): every service grant names its source.
    unconditioned = [
        s.owner
        for s in allows
        if s.kind != "key" and "." in _principal(s) and "aws:SourceArn" not in json.dumps(s.body)
    ]
    return (
        [(owner, "anyone may use it") for owner in public]
        + [(owner, f"{principal} may {action}") for owner, principal, action in wildcard_actions]
        + [(owner, "on every resource") for owner in wildcard_resources]
        + [(owner, "a service grant without aws:SourceArn") for owner in unconditioned]
    )


def test_only_known_managed_policies_are_attached(
    stack: tuple[str, Gateway], tally: dict[str, Any]
) -> None:
    name, template = stack
    attached = [
        (logical_id, json.dumps(arn))
        for logical_id, role in template.of_type("AWS::IAM::Role").items()
        for arn in role["Properties"].get("ManagedPolicyArns", [])
    ]

    unknown = [
        (role, arn)
        for role, arn in attached
        if not any(f":iam::aws:policy/service-role/{m}" in arn for m in MANAGED_POLICIES)
    ]

    assert unknown == []
    tally[f"managed_policies/{name}"] = {
        "roles": len(template.of_type("AWS::IAM::Role")),
        "attached": len(attached),
    }


def test_secrets_travel_by_arn_only(stack: tuple[str, Gateway], tally: dict[str, Any]) -> None:
    name, template = stack
    text = json.dumps(template.template)
    secrets = template.of_type("AWS::SecretsManager::Secret")
    functions = template.of_type("AWS::Lambda::Function")

    # No secret value in the template: a created secret is a placeholder to fill in.
    for secret in secrets.values():
        placeholder = json.loads(secret["Properties"].get("SecretString", "{}"))
        assert all(value in ("", None) for value in placeholder.values())
    # No dynamic reference resolving a secret into a property (an environment variable).
    assert "resolve:secretsmanager" not in text
    assert "resolve:ssm-secure" not in text
    variables = 0
    for function in functions.values():
        environment = function["Properties"].get("Environment", {}).get("Variables", {})
        variables += len(environment)
        suspicious = {
            key for key in environment if any(hint in key.upper() for hint in SECRET_NAME_HINTS)
        }
        assert suspicious <= {"USPEEDO_SECRET_ID", "GATEWAY_KEY_SECRET_ID"}
        secret_id = environment["USPEEDO_SECRET_ID"]
        # The secret's ARN: a reference to the stack's secret, or the imported ARN.
        assert secret_id in [{"Ref": logical_id} for logical_id in secrets] or (
            isinstance(secret_id, str) and secret_id.startswith("arn:aws:secretsmanager:")
        )
        # The gateway key is always the stack's own.
        assert environment["GATEWAY_KEY_SECRET_ID"] in [
            {"Ref": logical_id} for logical_id in secrets
        ]
    # Whoever may read a secret may read that one secret only.
    reads = [
        s
        for s in statements(template)
        if any(a.startswith("secretsmanager:") for a in s.listed("Action"))
    ]
    assert reads
    for read in reads:
        [resource] = read.listed("Resource")
        assert resource in [{"Ref": logical_id} for logical_id in secrets] or (
            isinstance(resource, str)
            and resource.startswith("arn:aws:secretsmanager:")
            and "*" not in resource
        )
    tally[f"secrets/{name}"] = {
        "secrets_created": len(secrets),
        "environment_variables": variables,
        "secret_reads": len(reads),
    }


def _denies_plain_http(statement: Statement, actions: set[str]) -> bool:
    return (
        statement.body["Effect"] == "Deny"
        and statement.body.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}
        and _principal(statement) == "*"
        and bool(actions & set(statement.listed("Action")))
    )


def test_queues_and_topics_refuse_plain_http(
    stack: tuple[str, Gateway], tally: dict[str, Any]
) -> None:
    name, template = stack
    queues = template.of_type("AWS::SQS::Queue")
    topics = template.of_type("AWS::SNS::Topic")

    assert queues
    assert topics
    assert plain_http_exposures(template) == []
    tally[f"plain_http/{name}"] = {"queues": len(queues), "topics": len(topics)}


def plain_http_exposures(template: SynthesizedStack) -> list[str]:
    """Every queue and topic that does not refuse requests without TLS."""
    exposed: list[str] = []
    for logical_id in template.of_type("AWS::SQS::Queue"):
        arn = {"Fn::GetAtt": [logical_id, "Arn"]}
        policies = [
            p
            for p in template.of_type("AWS::SQS::QueuePolicy").values()
            if {"Ref": logical_id} in p["Properties"]["Queues"]
        ]
        denials = [
            Statement(logical_id, "queue", s)
            for p in policies
            for s in p["Properties"]["PolicyDocument"]["Statement"]
        ]
        if not any(
            _denies_plain_http(s, {"sqs:*", "*"}) and arn in s.listed("Resource") for s in denials
        ):
            exposed.append(f"queue {logical_id}")
    for logical_id in template.of_type("AWS::SNS::Topic"):
        policies = [
            p
            for p in template.of_type("AWS::SNS::TopicPolicy").values()
            if {"Ref": logical_id} in p["Properties"]["Topics"]
        ]
        denials = [
            Statement(logical_id, "topic", s)
            for p in policies
            for s in p["Properties"]["PolicyDocument"]["Statement"]
        ]
        # Publishing is how messages (numbers, codes) reach a topic; AWS's own guidance
        # for TLS-only topics denies exactly that.
        if not any(
            _denies_plain_http(s, {"sns:Publish", "sns:*", "*"})
            and {"Ref": logical_id} in s.listed("Resource")
            for s in denials
        ):
            exposed.append(f"topic {logical_id}")
    return exposed


def test_every_api_method_needs_a_key_that_a_usage_plan_enforces(
    stack: tuple[str, Gateway], tally: dict[str, Any]
) -> None:
    name, template = stack
    methods = template.of_type("AWS::ApiGateway::Method")
    stages = template.of_type("AWS::ApiGateway::Stage")

    assert {"POST", "GET"} <= {m["Properties"]["HttpMethod"] for m in methods.values()}
    assert keyless_access(template) == []
    tally[f"api_keys/{name}"] = {"methods": len(methods), "stages": len(stages)}


def keyless_access(template: SynthesizedStack) -> list[str]:
    """Every way into the API without an API key: a method that does not ask for one, a
    stage no usage plan covers (its keys are not checked), no key in any plan."""
    methods = template.of_type("AWS::ApiGateway::Method")
    apis = template.of_type("AWS::ApiGateway::RestApi")
    stages = template.of_type("AWS::ApiGateway::Stage")
    plans = template.of_type("AWS::ApiGateway::UsagePlan")
    keyless = [
        (logical_id, m["Properties"]["HttpMethod"])
        for logical_id, m in methods.items()
        if m["Properties"]["HttpMethod"] != "OPTIONS"
        and m["Properties"].get("ApiKeyRequired") is not True
    ]
    # A key is only checked on a stage that a usage plan covers.
    covered = {
        (json.dumps(stage["ApiId"]), json.dumps(stage["Stage"]))
        for plan in plans.values()
        for stage in plan["Properties"].get("ApiStages", [])
    }
    every_stage = {
        (json.dumps({"Ref": api}), json.dumps({"Ref": stage}))
        for stage, s in stages.items()
        for api in apis
        if s["Properties"]["RestApiId"] == {"Ref": api}
    }
    return (
        [f"{method} {logical_id} needs no key" for logical_id, method in keyless]
        + [f"stage {stage} is in no usage plan" for stage in sorted(every_stage - covered)]
        + ([] if template.of_type("AWS::ApiGateway::UsagePlanKey") else ["no key in a plan"])
    )


def test_only_named_sources_may_invoke_the_function(
    stack: tuple[str, Gateway], tally: dict[str, Any]
) -> None:
    name, template = stack
    permissions = template.of_type("AWS::Lambda::Permission")

    loose = [
        logical_id
        for logical_id, p in permissions.items()
        if p["Properties"]["Principal"] in ("*", {"AWS": "*"})
        or not str(p["Properties"]["Principal"]).endswith(".amazonaws.com")
        or "SourceArn" not in p["Properties"]
    ]

    assert permissions
    assert loose == []
    tally[f"invoke_permissions/{name}"] = {"permissions": len(permissions)}


def test_data_grants_name_the_stacks_own_parameter_tables_and_keys(
    stack: tuple[str, Gateway], tally: dict[str, Any]
) -> None:
    name, template = stack
    parameters = template.of_type("AWS::SSM::Parameter")
    tables = template.of_type("AWS::DynamoDB::Table")
    granted = data_resources(template)

    assert loose_data_grants(template) == []
    # The function reads one parameter (the traffic policy) and uses two tables
    # (idempotency, protection): each the stack's own, none left out, nothing else.
    assert len(parameters) == 1
    assert len(tables) == 2
    assert granted["ssm"] == {json.dumps({"Ref": p}) for p in parameters}
    assert granted["dynamodb"] == {json.dumps({"Fn::GetAtt": [t, "Arn"]}) for t in tables}
    tally[f"data_access/{name}"] = {
        "parameters": len(parameters),
        "tables": len(tables),
        "grants": sum(len(resources) for resources in granted.values()),
    }


def _data_service(action: str) -> str | None:
    service = action.split(":", 1)[0]
    return service if service in ("ssm", "dynamodb") else None


def data_resources(template: SynthesizedStack) -> dict[str, set[str]]:
    """{service: every resource an identity policy grants ssm or dynamodb actions on}."""
    granted: dict[str, set[str]] = {"ssm": set(), "dynamodb": set()}
    for s in statements(template):
        if s.kind != "identity" or s.body["Effect"] != "Allow":
            continue
        for service in {_data_service(a) for a in s.listed("Action")} - {None}:
            granted[str(service)] |= {_granted_resource(r) for r in s.listed("Resource")}
    return granted


def _granted_resource(resource: Any) -> str:
    """The parameter's `Ref` inside its ARN's `Fn::Join`, or the resource itself."""
    if isinstance(resource, dict) and "Fn::Join" in resource:
        refs = [p for p in resource["Fn::Join"][1] if isinstance(p, dict) and "Ref" in p]
        own = [r for r in refs if not r["Ref"].startswith("AWS::")]
        if len(own) == 1:
            return json.dumps(own[0])
    return json.dumps(resource)


def loose_data_grants(template: SynthesizedStack) -> list[tuple[str, str]]:
    """(policy, what is wrong) for every identity grant on a parameter, a table or a
    table's key beyond what the function uses, or on anything but the stack's own."""
    own = {
        "ssm": {json.dumps({"Ref": p}) for p in template.of_type("AWS::SSM::Parameter")},
        "dynamodb": {
            json.dumps({"Fn::GetAtt": [t, "Arn"]}) for t in template.of_type("AWS::DynamoDB::Table")
        },
    }
    table_keys = {
        json.dumps(table["Properties"]["SSESpecification"]["KMSMasterKeyId"])
        for table in template.of_type("AWS::DynamoDB::Table").values()
        if "KMSMasterKeyId" in table["Properties"].get("SSESpecification", {})
    }
    problems: list[tuple[str, str]] = []
    for s in statements(template):
        if s.kind != "identity" or s.body["Effect"] != "Allow":
            continue
        actions = s.listed("Action")
        for service in {_data_service(a) for a in actions} - {None}:
            extra = {a for a in actions if a.startswith(f"{service}:")} - DATA_ACTIONS[str(service)]
            problems += [(s.owner, f"{action} is not needed") for action in sorted(extra)]
            problems += [
                (s.owner, f"{service} on {_granted_resource(r)}, not the stack's own")
                for r in s.listed("Resource")
                if _granted_resource(r) not in own[str(service)]
            ]
        on_table_keys = [r for r in s.listed("Resource") if json.dumps(r) in table_keys]
        if on_table_keys:
            extra = set(actions) - TABLE_KEY_ACTIONS
            problems += [(s.owner, f"{action} on a table's key") for action in sorted(extra)]
            if "kms:ViaService" not in json.dumps(s.body.get("Condition", {})):
                problems.append((s.owner, "a table's key usable outside DynamoDB"))
    return problems


# --- the sweep bites: each check fails on a template broken on purpose --------------------


def _broken(template: Json, mutation: str) -> Json:
    broken: Json = json.loads(json.dumps(template))
    resources = broken["Resources"]
    policy = next(r for r in resources.values() if r["Type"] == "AWS::IAM::Policy")
    queue_policy = next(r for r in resources.values() if r["Type"] == "AWS::SQS::QueuePolicy")
    if mutation == "wildcard action":
        policy["Properties"]["PolicyDocument"]["Statement"].append(
            {"Effect": "Allow", "Action": "dynamodb:*", "Resource": "arn:aws:dynamodb:x"}
        )
    elif mutation == "public queue":
        queue_policy["Properties"]["PolicyDocument"]["Statement"].append(
            {"Effect": "Allow", "Principal": "*", "Action": "sqs:SendMessage", "Resource": "*"}
        )
    elif mutation == "queue over plain HTTP":
        document = queue_policy["Properties"]["PolicyDocument"]
        document["Statement"] = [s for s in document["Statement"] if s["Effect"] != "Deny"]
    elif mutation == "keyless method":
        method = next(r for r in resources.values() if r["Type"] == "AWS::ApiGateway::Method")
        method["Properties"]["ApiKeyRequired"] = False
    elif mutation == "every parameter":
        policy["Properties"]["PolicyDocument"]["Statement"].append(
            {"Effect": "Allow", "Action": "ssm:GetParameter", "Resource": "arn:aws:ssm:x:1:*"}
        )
    elif mutation == "table key outside DynamoDB":
        for statement in (
            statement
            for resource in resources.values()
            if resource["Type"] == "AWS::IAM::Policy"
            for statement in resource["Properties"]["PolicyDocument"]["Statement"]
        ):
            statement.pop("Condition", None)
    return broken


@pytest.mark.parametrize(
    ("mutation", "finds"),
    [
        ("wildcard action", wildcard_identity_actions),
        ("public queue", open_resource_grants),
        ("queue over plain HTTP", plain_http_exposures),
        ("keyless method", keyless_access),
        ("every parameter", loose_data_grants),
        ("table key outside DynamoDB", loose_data_grants),
    ],
)
def test_the_sweep_finds_a_template_broken_on_purpose(
    gateway: Gateway, mutation: str, finds: Any
) -> None:
    broken = SynthesizedStack(stack=gateway.stack, template=_broken(gateway.template, mutation))

    assert finds(gateway) == []
    assert finds(broken) != []
