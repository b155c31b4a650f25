"""The REST API behind an API key: `POST /messages`, `GET /messages/{SessionNo}`, and the
opt-out list (`POST|GET /optouts`, `GET|DELETE /optouts/{PhoneNumber}`)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final

import aws_cdk as cdk
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra.json_schema_draft4 import to_draft4
from infra.nag import acknowledge, acknowledge_checkov
from infra.names import (
    API_STAGE_NAME,
    MESSAGE_MODEL_NAME,
    MESSAGES_PATH,
    OPENAPI_PATH,
    OPT_OUTS_MODEL_NAME,
    OPT_OUTS_PATH,
    OPT_OUTS_QUERY_PARAMETERS,
    PHONE_NUMBER_PARAMETER,
    SESSION_NO_PARAMETER,
    ConstructId,
)
from sms_gateway.contract import IDEMPOTENCY_KEY_HEADER

# Stage-wide limits protect the function, the provider and the bill; each API key gets a
# share, so one runaway client cannot starve the others. Bulk sends belong on the queue.
STAGE_RATE_LIMIT: Final = 50
STAGE_BURST_LIMIT: Final = 100
KEY_RATE_LIMIT: Final = 25
KEY_BURST_LIMIT: Final = 50
ACCESS_LOG_RETENTION: Final = logs.RetentionDays.THREE_MONTHS
JSON: Final = "application/json"

# Who called what, when, and how it went. Never the body, the query or
# `$context.error.validationErrorString`: they can hold phone numbers.
_ACCESS_LOG_FIELDS: Final = {
    "requestId": apigw.AccessLogField.context_request_id(),
    "requestTime": apigw.AccessLogField.context_request_time(),
    "sourceIp": apigw.AccessLogField.context_identity_source_ip(),
    "apiKeyId": apigw.AccessLogField.context_identity_api_key_id(),
    "httpMethod": apigw.AccessLogField.context_http_method(),
    "resourcePath": apigw.AccessLogField.context_resource_path(),
    "status": apigw.AccessLogField.context_status(),
    "responseLength": apigw.AccessLogField.context_response_length(),
    "responseLatency": apigw.AccessLogField.context_response_latency(),
    "integrationLatency": apigw.AccessLogField.context_integration_latency(),
    "integrationStatus": apigw.AccessLogField.context_integration_status(),
    "errorType": apigw.AccessLogField.context_error_response_type(),
    "xrayTraceId": apigw.AccessLogField.context_xray_trace_id(),
}

# The gateway's own refusals (bad key, throttled, invalid body) in the contract's error shape,
# `{"Error": {"Code", "Message"}}`, like the function's. `messageString` is already quoted.
_ERROR_TEMPLATE: Final = '{"Error": {"Code": "%s", "Message": $context.error.messageString}}'


class Api(Construct):
    """A regional REST API in front of the function, with keys, limits, logs and traces."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        function: lambda_.IFunction,
        message_schema: Mapping[str, Any],
        opt_outs_schema: Mapping[str, Any],
    ) -> None:
        super().__init__(scope, construct_id)

        self.access_logs = logs.LogGroup(
            self,
            ConstructId.ACCESS_LOGS,
            retention=ACCESS_LOG_RETENTION,
            removal_policy=cdk.RemovalPolicy.DESTROY,
        )
        self.rest_api = apigw.RestApi(
            self,
            ConstructId.REST_API,
            description="SMS gateway: send messages through USpeedo, read delivery receipts",
            endpoint_types=[apigw.EndpointType.REGIONAL],
            # API Gateway logs through an account-wide role; without one, a stage with logs
            # cannot be created. CDK keeps the role when the stack is deleted (other APIs
            # of the account may rely on it).
            cloud_watch_role=True,
            deploy_options=apigw.StageOptions(
                stage_name=API_STAGE_NAME,
                throttling_rate_limit=STAGE_RATE_LIMIT,
                throttling_burst_limit=STAGE_BURST_LIMIT,
                access_log_destination=apigw.LogGroupLogDestination(self.access_logs),
                access_log_format=apigw.AccessLogFormat.custom(
                    json.dumps({name: str(field) for name, field in _ACCESS_LOG_FIELDS.items()})
                ),
                tracing_enabled=True,
                metrics_enabled=True,
                # Execution logs for errors only, and never the request data: bodies hold
                # phone numbers and one-time codes.
                logging_level=apigw.MethodLoggingLevel.ERROR,
                data_trace_enabled=False,
            ),
        )
        # The stack's own `ApiUrl` output (contract) is the one to read; CDK's default
        # duplicate would be a ninth output under a generated name.
        self.rest_api.node.try_remove_child("Endpoint")
        self._gateway_responses()

        message_model = self._model(
            ConstructId.MESSAGE_MODEL,
            MESSAGE_MODEL_NAME,
            "A message, as the function's model exports it (converted to draft 4)",
            message_schema,
        )
        opt_outs_model = self._model(
            ConstructId.OPT_OUTS_MODEL,
            OPT_OUTS_MODEL_NAME,
            "Numbers to opt out, as the function's OpenAPI document describes them",
            opt_outs_schema,
        )

        body_validator = apigw.RequestValidator(
            self,
            ConstructId.BODY_VALIDATOR,
            rest_api=self.rest_api,
            validate_request_body=True,
            validate_request_parameters=True,
        )
        parameters_validator = apigw.RequestValidator(
            self,
            ConstructId.PARAMETERS_VALIDATOR,
            rest_api=self.rest_api,
            validate_request_parameters=True,
        )
        # Proxy integration: the function reads the method, path and headers itself. No
        # test-invoke permission: the console's test button is not worth a wider grant.
        integration = apigw.LambdaIntegration(function, allow_test_invoke=False)

        messages = self.rest_api.root.add_resource(MESSAGES_PATH)
        self.post_message = messages.add_method(
            "POST",
            integration,
            api_key_required=True,
            request_validator=body_validator,
            request_models={JSON: message_model},
            request_parameters={f"method.request.header.{IDEMPOTENCY_KEY_HEADER}": False},
        )
        self.get_receipts = messages.add_resource(f"{{{SESSION_NO_PARAMETER}}}").add_method(
            "GET",
            integration,
            api_key_required=True,
            request_validator=parameters_validator,
            request_parameters={f"method.request.path.{SESSION_NO_PARAMETER}": True},
        )

        # The function's own OpenAPI description of the two routes above.
        self.get_openapi = self.rest_api.root.add_resource(OPENAPI_PATH).add_method(
            "GET", integration, api_key_required=True
        )
        self.opt_out_methods = self._opt_outs(
            integration, opt_outs_model, body_validator, parameters_validator
        )

        self.api_key = apigw.ApiKey(
            self,
            ConstructId.API_KEY,
            description="SMS gateway: the first client's key (read it with get-api-key)",
        )
        usage_plan = apigw.UsagePlan(
            self,
            ConstructId.USAGE_PLAN,
            description="SMS gateway: per-key limits",
            throttle=apigw.ThrottleSettings(rate_limit=KEY_RATE_LIMIT, burst_limit=KEY_BURST_LIMIT),
            api_stages=[
                apigw.UsagePlanPerApiStage(api=self.rest_api, stage=self.rest_api.deployment_stage)
            ],
        )
        usage_plan.add_api_key(self.api_key)
        self._acknowledge()

    def _model(
        self, construct_id: str, name: str, description: str, schema: Mapping[str, Any]
    ) -> apigw.IModel:
        """A request model from a schema the function exports, converted to draft 4."""
        draft4_schema = to_draft4(schema)
        model = apigw.CfnModel(
            self,
            construct_id,
            rest_api_id=self.rest_api.rest_api_id,
            name=name,
            content_type=JSON,
            description=description,
            schema=draft4_schema,
        )
        # The L1 model is outside CDK's deployment hash: a new schema must still redeploy.
        deployment = self.rest_api.latest_deployment
        if deployment is None:
            raise RuntimeError("the REST API has no deployment to attach its model to")
        deployment.add_to_logical_id(draft4_schema)
        return apigw.Model.from_model_name(self, f"{construct_id}Name", model.ref)

    def _opt_outs(
        self,
        integration: apigw.LambdaIntegration,
        model: apigw.IModel,
        body_validator: apigw.RequestValidator,
        parameters_validator: apigw.RequestValidator,
    ) -> list[apigw.Method]:
        """The opt-out list, served by the same function under the same key: add numbers,
        list them (paginated), check, remove one."""
        opt_outs = self.rest_api.root.add_resource(OPT_OUTS_PATH)
        one = opt_outs.add_resource(f"{{{PHONE_NUMBER_PARAMETER}}}")
        path_parameter = {f"method.request.path.{PHONE_NUMBER_PARAMETER}": True}
        return [
            opt_outs.add_method(
                "POST",
                integration,
                api_key_required=True,
                request_validator=body_validator,
                request_models={JSON: model},
            ),
            opt_outs.add_method(
                "GET",
                integration,
                api_key_required=True,
                request_validator=parameters_validator,
                request_parameters={
                    f"method.request.querystring.{name}": False
                    for name in OPT_OUTS_QUERY_PARAMETERS
                },
            ),
            one.add_method(
                "GET",
                integration,
                api_key_required=True,
                request_validator=parameters_validator,
                request_parameters=path_parameter,
            ),
            one.add_method(
                "DELETE",
                integration,
                api_key_required=True,
                request_validator=parameters_validator,
                request_parameters=path_parameter,
            ),
        ]

    def _gateway_responses(self) -> None:
        for response_id, response_type, code in (
            ("BadRequestBody", apigw.ResponseType.BAD_REQUEST_BODY, "InvalidMessage"),
            ("Default4xx", apigw.ResponseType.DEFAULT_4_XX, "$context.error.responseType"),
            ("Default5xx", apigw.ResponseType.DEFAULT_5_XX, "$context.error.responseType"),
        ):
            self.rest_api.add_gateway_response(
                response_id,
                type=response_type,
                templates={JSON: _ERROR_TEMPLATE % code},
            )

    def _acknowledge(self) -> None:
        for method in (
            self.post_message,
            self.get_receipts,
            self.get_openapi,
            *self.opt_out_methods,
        ):
            acknowledge(
                method,
                "AwsSolutions-APIG4",
                "Callers are services, not users: the contract authenticates them with API "
                "keys (required on every method) and limits each key through a usage plan.",
            )
            acknowledge(
                method,
                "AwsSolutions-COG4",
                "No Cognito user pool: callers are services holding API keys, not end users "
                "signing in; a user pool would add a second identity system to operate.",
            )
        acknowledge(
            self.rest_api.deployment_stage,
            "AwsSolutions-APIG3",
            "No WAF web ACL by default (it costs more than the gateway itself at low volume): "
            "API keys, stage and per-key throttling and body validation bound what reaches "
            "the function. Associate a web ACL with the stage where the API is exposed widely.",
        )
        acknowledge_checkov(
            self.rest_api.deployment_stage,
            "CKV_AWS_120",
            "No cache, on purpose: every POST /messages must reach the function (each may send "
            "an SMS) and receipts change until they are final. A stage cache would also bill an "
            "always-on cache cluster by the hour.",
        )
        acknowledge_checkov(
            self.access_logs,
            "CKV_AWS_158",
            "CloudWatch Logs encrypts log data at rest. The access log records who called what "
            "and how it went (request and key ids, status, latencies), never a body, a query or "
            "a phone number, so a customer-managed key would guard nothing sensitive.",
        )
        cloud_watch_role = self.rest_api.node.find_child("CloudWatchRole")
        acknowledge(
            cloud_watch_role,
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
            "AmazonAPIGatewayPushToCloudWatchLogs]",
            "The account-wide role API Gateway logs with; AWS's managed policy is the documented "
            "one and is kept current by AWS as API Gateway's logging needs change.",
        )
