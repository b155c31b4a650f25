"""Protection, the stack side: the traffic policy's parameter (from `trafficPolicy`, checked
at synth), the protection table and its key, the function's grants on exactly those, the
alarms and dashboard on the refusal metrics, the opt-out routes, and the output."""

from __future__ import annotations

import json
from typing import Any

import aws_cdk as cdk
import pytest
from jsonschema import Draft4Validator

import app as cdk_app
from infra.json_schema_draft4 import to_draft4
from infra.lambda_code import opt_outs_json_schema
from infra.settings import SettingsError
from local_gateway.resources import default_policy_document
from sms_gateway import contract
from sms_gateway.policy import parse_policy
from tests.infra.conftest import COMMAND_LINE_POLICY, Gateway, app_context, cdk_json_context

Json = dict[str, Any]

TABLE_ACTIONS = {
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:BatchGetItem",
    "dynamodb:Scan",
}
FUNCTION_KEY_ACTIONS = {"kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:DescribeKey"}
# What would let a principal read the opt-out list outside DynamoDB, or hand itself a grant.
KEY_USE_ACTIONS = {
    "kms:Decrypt",
    "kms:Encrypt",
    "kms:GenerateDataKey",
    "kms:GenerateDataKeyWithoutPlaintext",
    "kms:ReEncryptFrom",
    "kms:ReEncryptTo",
    "kms:CreateGrant",
}
VIA_DYNAMODB = {
    "Fn::Join": ["", ["dynamodb.", {"Ref": "AWS::Region"}, ".", {"Ref": "AWS::URLSuffix"}]]
}


def _parameter(gateway: Gateway) -> Json:
    return gateway.properties(gateway.gateway.protection.policy_parameter)


def _environment(gateway: Gateway) -> Json:
    variables: Json = gateway.properties(gateway.gateway.sender.function)["Environment"][
        "Variables"
    ]
    return variables


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


# --- the policy's parameter ---------------------------------------------------------------


def test_the_parameter_holds_cdk_jsons_policy_and_the_function_reads_it(gateway: Gateway) -> None:
    parameter = _parameter(gateway)
    environment = _environment(gateway)
    protection = gateway.gateway.protection

    assert parameter["Type"] == "String"
    assert parameter["Tier"] == "Standard"
    assert parameter["Name"] == "/SmsGateway/traffic-policy"
    # The document, every key written out, as the function's model reads it.
    expected = parse_policy(cdk_json_context()["trafficPolicy"]).as_document()
    assert json.loads(parameter["Value"]) == expected
    assert parse_policy(parameter["Value"]).as_document() == expected
    assert environment["TRAFFIC_POLICY_PARAMETER"] == gateway.ref(protection.policy_parameter)
    assert environment["PROTECTION_TABLE"] == gateway.ref(protection.table)


def test_a_policy_given_as_a_json_string_reaches_the_parameter(
    imported_secret_gateway: Gateway,
) -> None:
    value = _parameter(imported_secret_gateway)["Value"]

    assert json.loads(value) == parse_policy(dict(COMMAND_LINE_POLICY)).as_document()
    assert json.loads(value)["Mode"] == "Monitor"


def test_make_local_starts_with_the_policy_the_stack_deploys(gateway: Gateway) -> None:
    assert default_policy_document() == _parameter(gateway)["Value"]


@pytest.mark.parametrize(
    ("policy", "named"),
    [
        ('{"Mode":"x"}', "Mode"),
        ({"Limits": [{"Scope": "Prefix", "Count": 20, "Seconds": 3600}]}, "Digits"),
        ({"Limits": [{"Scope": "Number", "Count": 0, "Seconds": 60}]}, "Limits.0.Count"),
        ({"Countries": {"Allow": ["*"], "Block": ["Russia"]}}, "Countries.Block.0"),
        ({"MaxAgeSeconds": 3600, "MaxAge": 60}, "MaxAge"),
        ("not json", "not valid JSON"),
    ],
)
def test_a_bad_policy_fails_the_synth_naming_the_rule(policy: object, named: str) -> None:
    app = cdk.App(context=app_context({"trafficPolicy": policy}))

    with pytest.raises(SettingsError, match=r"^trafficPolicy: ") as failure:
        cdk_app.build(app)
    assert named in str(failure.value)


# --- the table and its key ----------------------------------------------------------------


def test_the_table_has_the_contracts_shape_and_point_in_time_recovery(gateway: Gateway) -> None:
    table = gateway.resource(gateway.gateway.protection.table)
    properties = table["Properties"]

    assert properties["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]
    assert properties["AttributeDefinitions"] == [{"AttributeName": "id", "AttributeType": "S"}]
    assert properties["TimeToLiveSpecification"] == {"AttributeName": "expiration", "Enabled": True}
    assert properties["BillingMode"] == "PAY_PER_REQUEST"
    assert properties["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    # No index: the function reads by key, and scans for the opt-out list only.
    assert "GlobalSecondaryIndexes" not in properties


def test_the_table_is_encrypted_with_the_stacks_own_rotated_key(gateway: Gateway) -> None:
    protection = gateway.gateway.protection
    sse = gateway.properties(protection.table)["SSESpecification"]
    key = gateway.resource(protection.key)

    assert sse == {
        "SSEEnabled": True,
        "SSEType": "KMS",
        "KMSMasterKeyId": gateway.get_att(protection.key, "Arn"),
    }
    assert key["Properties"]["EnableKeyRotation"] is True
    # Its own key: no queue, topic or other table uses it.
    key_arn = json.dumps(gateway.get_att(protection.key, "Arn"))
    users = [
        logical_id
        for logical_id, resource in gateway.resources.items()
        if resource["Type"] != "AWS::IAM::Policy" and key_arn in json.dumps(resource)
    ]
    assert users == [gateway.logical_id(protection.table)]


def test_the_key_can_be_used_through_dynamodb_only(gateway: Gateway) -> None:
    statements = gateway.properties(gateway.gateway.protection.key)["KeyPolicy"]["Statement"]
    account_root = {
        "Fn::Join": [
            "",
            ["arn:", {"Ref": "AWS::Partition"}, ":iam::", {"Ref": "AWS::AccountId"}, ":root"],
        ]
    }

    assert all(s["Effect"] == "Allow" for s in statements)
    # The account only (its IAM policies decide who), never a wildcard action.
    assert all(s["Principal"] == {"AWS": account_root} for s in statements)
    actions = [a for s in statements for a in _listed(s["Action"])]
    assert not [a for a in actions if "*" in a]
    # Using the key (decrypting the opt-out list's table key, granting) only via DynamoDB,
    # in this account.
    for statement in statements:
        uses = KEY_USE_ACTIONS & set(_listed(statement["Action"]))
        if uses:
            assert statement["Condition"] == {
                "StringEquals": {
                    "kms:ViaService": VIA_DYNAMODB,
                    "kms:CallerAccount": {"Ref": "AWS::AccountId"},
                }
            }, uses
    # And the account can still administer it (no key locked out of its own policy).
    assert {"kms:PutKeyPolicy", "kms:ScheduleKeyDeletion", "kms:EnableKeyRotation"} <= set(actions)


# --- the function's grants ----------------------------------------------------------------


def test_the_function_reads_the_one_parameter_only(gateway: Gateway) -> None:
    parameter = gateway.ref(gateway.gateway.protection.policy_parameter)
    grants = [s for s in gateway.iam_statements() if any(a.startswith("ssm:") for a in s.actions)]

    assert len(grants) == 1
    (grant,) = grants
    assert grant.actions == ("ssm:GetParameter",)
    (resource,) = grant.resources
    # arn:…:parameter/SmsGateway/traffic-policy: this parameter's ARN, nothing wider.
    assert json.dumps(parameter) in json.dumps(resource)
    assert "*" not in json.dumps(resource)


def test_the_function_uses_the_protection_table_with_exactly_its_actions(
    gateway: Gateway,
) -> None:
    protection = gateway.gateway.protection
    table_arn = gateway.get_att(protection.table, "Arn")
    grants = [s for s in gateway.iam_statements() if table_arn in s.resources]

    assert len(grants) == 1
    (grant,) = grants
    assert grant.resources == (table_arn,)
    assert set(grant.actions) == TABLE_ACTIONS
    # Scans and batch reads on the protection table only, never on the idempotency table.
    wider = [
        s
        for s in gateway.iam_statements()
        if {"dynamodb:Scan", "dynamodb:BatchGetItem"} & set(s.actions)
    ]
    assert wider == [grant]


def test_the_function_uses_the_key_through_dynamodb_only(gateway: Gateway) -> None:
    key_arn = gateway.get_att(gateway.gateway.protection.key, "Arn")
    function_policy = gateway.logical_id(
        gateway.gateway.sender.role.node.find_child("DefaultPolicy")
    )
    grants = [s for s in gateway.iam_statements() if key_arn in s.resources]
    document = gateway.resources[function_policy]["Properties"]["PolicyDocument"]
    (statement,) = [s for s in document["Statement"] if s["Resource"] == key_arn]

    # One identity grant on the key in the whole template: the function's.
    assert [(g.policy, g.resources) for g in grants] == [(function_policy, (key_arn,))]
    assert set(_listed(statement["Action"])) == FUNCTION_KEY_ACTIONS
    assert statement["Condition"]["StringEquals"]["kms:ViaService"] == VIA_DYNAMODB


# --- alarms and the dashboard -------------------------------------------------------------


def _alarm_queries(gateway: Gateway) -> dict[str, Json]:
    """{Metrics Insights query: the alarm's properties} for every query alarm."""
    return {
        query["Expression"]: alarm["Properties"]
        for alarm in gateway.of_type("AWS::CloudWatch::Alarm").values()
        for query in alarm["Properties"].get("Metrics", [])
        if "Expression" in query
    }


def test_a_country_or_global_cap_reached_raises_an_alarm(gateway: Gateway) -> None:
    # Whatever the country: Metrics Insights over the namespace, filtered on the reason.
    query = """SELECT SUM("PolicyRefused") FROM "SmsGateway" WHERE "Reason" = 'cap_reached'"""
    alarm = _alarm_queries(gateway)[query]

    assert contract.CAP_REACHED in query
    assert alarm["Threshold"] == 1
    assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    assert alarm["Metrics"][0]["Period"] == 300


def test_a_spike_of_refusals_raises_an_alarm(gateway: Gateway) -> None:
    # Every reason, every country.
    alarm = _alarm_queries(gateway)['SELECT SUM("PolicyRefused") FROM "SmsGateway"']

    assert alarm["Threshold"] == 100
    assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    assert alarm["Metrics"][0]["Period"] == 300


def test_no_valid_policy_raises_an_alarm(gateway: Gateway) -> None:
    query = (
        """SELECT SUM("MessagesRetried") FROM "SmsGateway" WHERE "Reason" = 'PolicyUnavailable'"""
    )
    alarm = _alarm_queries(gateway)[query]

    assert contract.POLICY_UNAVAILABLE in query
    assert alarm["Threshold"] == 1
    assert "NOTHING is sent" in alarm["AlarmDescription"]


def _dashboard_expressions(gateway: Gateway) -> list[str]:
    """Every expression graphed on the dashboard (its body joined, references blanked)."""
    (dashboard,) = gateway.of_type("AWS::CloudWatch::Dashboard").values()
    parts = dashboard["Properties"]["DashboardBody"]["Fn::Join"][1]
    body = json.loads("".join(p if isinstance(p, str) else "x" for p in parts))
    return [
        entry["expression"]
        for widget in body["widgets"]
        for line in widget["properties"].get("metrics", [])
        for entry in line
        if isinstance(entry, dict) and "expression" in entry
    ]


def test_the_dashboard_shows_refusals_by_reason_and_by_country(gateway: Gateway) -> None:
    expressions = _dashboard_expressions(gateway)
    graphs = [
        'SELECT SUM("PolicyRefused") FROM "SmsGateway" GROUP BY "Reason"',
        'SELECT SUM("PolicyRefused") FROM "SmsGateway" GROUP BY "Country"',
        # Monitor mode: what Enforce would have refused.
        'SELECT SUM("PolicyWouldRefuse") FROM "SmsGateway" GROUP BY "Reason"',
        'SELECT SUM("PolicyWouldRefuse") FROM "SmsGateway" GROUP BY "Country"',
    ]

    for graph in graphs:
        assert [e for e in expressions if e.startswith(graph)], graph


# --- the opt-out routes -------------------------------------------------------------------


def _methods(gateway: Gateway) -> dict[tuple[str, str], Json]:
    """{(path, HTTP method): properties} of every API method."""

    def path_of(ref: Json) -> str:
        parts: list[str] = []
        while "Ref" in ref:
            resource = gateway.resources[ref["Ref"]]["Properties"]
            parts.insert(0, resource["PathPart"])
            ref = resource["ParentId"]
        return "/" + "/".join(parts)

    return {
        (path_of(m["Properties"]["ResourceId"]), m["Properties"]["HttpMethod"]): m["Properties"]
        for m in gateway.of_type("AWS::ApiGateway::Method").values()
    }


def test_the_opt_out_routes_need_the_api_key_and_reach_the_sender(gateway: Gateway) -> None:
    methods = _methods(gateway)
    function_arn = json.dumps(gateway.get_att(gateway.gateway.sender.function, "Arn"))
    routes = [
        ("/optouts", "POST"),
        ("/optouts", "GET"),
        ("/optouts/{PhoneNumber}", "GET"),
        ("/optouts/{PhoneNumber}", "DELETE"),
    ]

    for route in routes:
        method = methods[route]
        assert method["ApiKeyRequired"] is True, route
        assert method["Integration"]["Type"] == "AWS_PROXY", route
        assert function_arn in json.dumps(method["Integration"]["Uri"]), route
    one = "method.request.path.PhoneNumber"
    assert methods[("/optouts/{PhoneNumber}", "GET")]["RequestParameters"] == {one: True}
    assert methods[("/optouts/{PhoneNumber}", "DELETE")]["RequestParameters"] == {one: True}
    # Paging is optional.
    assert methods[("/optouts", "GET")]["RequestParameters"] == {
        "method.request.querystring.limit": False,
        "method.request.querystring.next": False,
    }
    for route in routes:
        validator_ref = methods[route]["RequestValidatorId"]["Ref"]
        validator = gateway.resources[validator_ref]["Properties"]
        assert validator["ValidateRequestParameters"] is True, route
        assert validator.get("ValidateRequestBody", False) is (route[1] == "POST"), route


def _opt_outs_schema(gateway: Gateway) -> Json:
    post = _methods(gateway)[("/optouts", "POST")]
    model = gateway.resources[post["RequestModels"]["application/json"]["Ref"]]["Properties"]
    assert model["ContentType"] == "application/json"
    schema: Json = model["Schema"]
    return schema


@pytest.mark.parametrize(
    ("body", "valid"),
    [
        ({"PhoneNumbers": ["+8613800138000"]}, True),
        ({"PhoneNumbers": ["008613800138000", "(1)4155550100"]}, True),
        ({"PhoneNumbers": ["+86138" + f"{n:08d}" for n in range(1000)]}, True),
        ({"PhoneNumbers": ["+86138" + f"{n:08d}" for n in range(1001)]}, False),
        ({"PhoneNumbers": []}, False),
        ({"PhoneNumbers": [""]}, False),
        ({"PhoneNumbers": [8613800138000]}, False),
        ({"PhoneNumbers": ["call me"]}, False),
        ({"PhoneNumbers": ["+8613800138000"], "Colour": "red"}, False),
        ({"PhoneNumbers": "+8613800138000"}, False),
        ({}, False),
    ],
)
def test_the_opt_out_body_is_validated_by_its_model(
    gateway: Gateway, body: Json, valid: bool
) -> None:
    schema = _opt_outs_schema(gateway)
    Draft4Validator.check_schema(schema)

    # The function's own description of the body (its OpenAPI document), in draft 4.
    assert schema == to_draft4(opt_outs_json_schema())
    assert schema["$schema"] == "http://json-schema.org/draft-04/schema#"
    assert Draft4Validator(schema).is_valid(body) is valid


# --- the output ---------------------------------------------------------------------------


def test_the_policy_parameters_name_is_an_output(gateway: Gateway) -> None:
    output = gateway.template["Outputs"]["PolicyParameterName"]

    assert output["Value"] == gateway.ref(gateway.gateway.protection.policy_parameter)
    assert "smsgw policy" in output["Description"]
