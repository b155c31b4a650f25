"""The API: POST /messages with an API key and a validated body, GET /messages/{SessionNo},
per-stage and per-key throttling, access logs without personal data, and tracing."""

from __future__ import annotations

import json
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_lambda as lambda_

from infra.json_schema_draft4 import to_draft4
from infra.lambda_code import message_json_schema, opt_outs_json_schema
from infra.rest_api import Api
from tests.infra.conftest import Gateway


def _method(gateway: Gateway, http_method: str) -> dict[str, Any]:
    api = gateway.gateway.api
    method = api.post_message if http_method == "POST" else api.get_receipts
    properties = gateway.properties(method)
    assert properties["HttpMethod"] == http_method
    return properties


def _path_of(gateway: Gateway, resource_ref: dict[str, Any]) -> str:
    """`/messages/{SessionNo}` for a method's ResourceId, from the template's resources."""
    parts: list[str] = []
    ref = resource_ref
    while "Ref" in ref:
        resource = gateway.resources[ref["Ref"]]["Properties"]
        parts.insert(0, resource["PathPart"])
        ref = resource["ParentId"]
    return "/" + "/".join(parts)


def _stage(gateway: Gateway) -> dict[str, Any]:
    return gateway.properties(gateway.gateway.api.rest_api.deployment_stage)


def test_post_messages_requires_an_api_key_and_a_valid_body(gateway: Gateway) -> None:
    method = _method(gateway, "POST")
    validator = gateway.resources[method["RequestValidatorId"]["Ref"]]["Properties"]
    model = gateway.resources[method["RequestModels"]["application/json"]["Ref"]]["Properties"]

    assert _path_of(gateway, method["ResourceId"]) == "/messages"
    assert method["ApiKeyRequired"] is True
    assert validator["ValidateRequestBody"] is True
    assert model["ContentType"] == "application/json"
    # The optional header the function reads for idempotency.
    assert method["RequestParameters"] == {"method.request.header.Idempotency-Key": False}


def _as_javascript_numbers(value: Any) -> Any:
    """The template passes through JavaScript: integers beyond 2**53 arrive as doubles."""
    if isinstance(value, dict):
        return {key: _as_javascript_numbers(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_as_javascript_numbers(item) for item in value]
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 2**53:
        return float(value)
    return value


def test_request_model_is_the_message_models_schema_in_draft_4(gateway: Gateway) -> None:
    method = _method(gateway, "POST")
    model = gateway.resources[method["RequestModels"]["application/json"]["Ref"]]["Properties"]

    assert _as_javascript_numbers(model["Schema"]) == _as_javascript_numbers(
        to_draft4(message_json_schema())
    )
    assert model["Schema"]["$schema"] == "http://json-schema.org/draft-04/schema#"


def _deployment_ids(
    message_schema: dict[str, Any], opt_outs_schema: dict[str, Any] | None = None
) -> set[str]:
    """The API deployment's logical id for the schemas, from a small stack of its own."""
    app = cdk.App()
    stack = cdk.Stack(app, "ApiOnly")
    function = lambda_.Function(
        stack,
        "Function",
        runtime=lambda_.Runtime.PYTHON_3_13,
        handler="index.handler",
        code=lambda_.Code.from_inline("def handler(event, context): pass"),
    )
    Api(
        stack,
        "Api",
        function=function,
        message_schema=message_schema,
        opt_outs_schema=opt_outs_schema or opt_outs_json_schema(),
    )
    template = app.synth().get_stack_by_name("ApiOnly").template
    return {
        logical_id
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == "AWS::ApiGateway::Deployment"
    }


def test_a_new_schema_redeploys_the_api() -> None:
    # CloudFormation creates a new deployment (and the stage serves the new model) only
    # when the deployment's logical id changes; the model is outside CDK's own hash.
    schema = {"type": "object", "properties": {"TemplateId": {"type": "string"}}}
    stricter = {**schema, "required": ["TemplateId"]}

    before, after = _deployment_ids(schema), _deployment_ids(stricter)
    opt_outs_stricter = {**opt_outs_json_schema(), "maxProperties": 1}

    assert len(before) == len(after) == 1
    assert before != after
    # The opt-outs model too.
    assert _deployment_ids(schema, opt_outs_stricter) != before


def test_get_receipts_requires_an_api_key_and_the_session_number(gateway: Gateway) -> None:
    method = _method(gateway, "GET")
    validator = gateway.resources[method["RequestValidatorId"]["Ref"]]["Properties"]

    assert _path_of(gateway, method["ResourceId"]) == "/messages/{SessionNo}"
    assert method["ApiKeyRequired"] is True
    assert method["RequestParameters"] == {"method.request.path.SessionNo": True}
    assert validator["ValidateRequestParameters"] is True


def test_every_method_needs_an_api_key_and_proxies_to_the_sender(gateway: Gateway) -> None:
    function_arn = json.dumps(gateway.get_att(gateway.gateway.sender.function, "Arn"))
    methods = {
        (_path_of(gateway, m["Properties"]["ResourceId"]), m["Properties"]["HttpMethod"]): m[
            "Properties"
        ]
        for m in gateway.of_type("AWS::ApiGateway::Method").values()
    }

    assert set(methods) == {
        ("/messages", "POST"),
        ("/messages/{SessionNo}", "GET"),
        ("/openapi.json", "GET"),
        ("/optouts", "POST"),
        ("/optouts", "GET"),
        ("/optouts/{PhoneNumber}", "GET"),
        ("/optouts/{PhoneNumber}", "DELETE"),
    }
    for method in methods.values():
        assert method["ApiKeyRequired"] is True
        assert method["Integration"]["Type"] == "AWS_PROXY"
        assert function_arn in json.dumps(method["Integration"]["Uri"])


def test_stage_throttles_logs_access_and_traces(gateway: Gateway) -> None:
    stage = _stage(gateway)
    (settings,) = stage["MethodSettings"]

    assert (settings["ResourcePath"], settings["HttpMethod"]) == ("/*", "*")
    assert settings["ThrottlingRateLimit"] > 0
    assert settings["ThrottlingBurstLimit"] >= settings["ThrottlingRateLimit"]
    assert stage["TracingEnabled"] is True
    assert json.dumps(gateway.ref(gateway.gateway.api.access_logs)) in json.dumps(
        stage["AccessLogSetting"]["DestinationArn"]
    )


def test_logs_never_hold_request_data(gateway: Gateway) -> None:
    stage = _stage(gateway)
    (settings,) = stage["MethodSettings"]
    access_log_fields = json.loads(stage["AccessLogSetting"]["Format"])

    # Bodies, queries and validation details can carry phone numbers and one-time codes.
    assert settings["DataTraceEnabled"] is False
    assert settings["LoggingLevel"] == "ERROR"
    logged = " ".join(access_log_fields.values())
    for personal in ("requestBody", "validationErrorString", "requestOverride", "path"):
        assert f"$context.{personal}" not in logged
    assert "$context.requestId" in logged


def test_each_key_is_throttled_by_a_usage_plan_on_the_stage(gateway: Gateway) -> None:
    api = gateway.gateway.api
    plans = [p["Properties"] for p in gateway.of_type("AWS::ApiGateway::UsagePlan").values()]
    plan_keys = [k["Properties"] for k in gateway.of_type("AWS::ApiGateway::UsagePlanKey").values()]
    stage = _stage(gateway)
    (stage_settings,) = stage["MethodSettings"]

    assert len(plans) == 1
    (plan,) = plans
    assert plan["ApiStages"][0]["ApiId"] == gateway.ref(api.rest_api)
    assert plan["ApiStages"][0]["Stage"] == gateway.ref(api.rest_api.deployment_stage)
    assert 0 < plan["Throttle"]["RateLimit"] <= stage_settings["ThrottlingRateLimit"]
    assert 0 < plan["Throttle"]["BurstLimit"] <= stage_settings["ThrottlingBurstLimit"]
    assert [k["KeyId"] for k in plan_keys] == [gateway.ref(api.api_key)]


def test_gateway_refusals_use_the_contracts_error_shape(gateway: Gateway) -> None:
    responses = {
        r["Properties"]["ResponseType"]: r["Properties"]["ResponseTemplates"]["application/json"]
        for r in gateway.of_type("AWS::ApiGateway::GatewayResponse").values()
    }

    assert set(responses) == {"BAD_REQUEST_BODY", "DEFAULT_4XX", "DEFAULT_5XX"}
    # What API Gateway renders: `$context.error.messageString` is a quoted JSON string.
    for template in responses.values():
        rendered = template.replace("$context.error.messageString", '"Forbidden"').replace(
            "$context.error.responseType", "INVALID_API_KEY"
        )
        assert set(json.loads(rendered)["Error"]) == {"Code", "Message"}
    assert '"Code": "InvalidMessage"' in responses["BAD_REQUEST_BODY"]


def test_api_is_regional(gateway: Gateway) -> None:
    api = gateway.properties(gateway.gateway.api.rest_api)

    assert api["EndpointConfiguration"] == {"Types": ["REGIONAL"]}
