"""The Lambda entry point (contract: `sms_gateway.handler.lambda_handler`).

One function for SQS batches, SNS notifications, API Gateway proxy requests and direct
invocations of a bare message. Thin: it names the event's kind and hands it on.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.utilities.typing import LambdaContext

from sms_gateway.api import build_api
from sms_gateway.event_kinds import EventKind, kind_of
from sms_gateway.gateway import Gateway
from sms_gateway.queues import process_sns, process_sqs
from sms_gateway.telemetry import capture_lambda_handler, logger, metrics

# The client and the sender log through the standard library; once every module is
# imported (so their loggers exist), give them the handler's JSON format and correlation ids.
copy_config_to_registered_loggers(source_logger=logger, include={"sms_gateway"})

_gateway: Gateway | None = None


def gateway() -> Gateway:
    """The container's gateway, built on first use and kept while the container lives."""
    global _gateway  # one per container is the point
    if _gateway is None:
        _gateway = Gateway.from_env()
    return _gateway


def use_gateway(instance: Gateway | None) -> None:
    """Put a gateway in place (tests, the local run); None rebuilds from the environment."""
    global _gateway
    _gateway = instance


api = build_api(gateway)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
@capture_lambda_handler
def lambda_handler(event: Any, context: LambdaContext) -> Any:
    """Dispatch on the event's shape. A direct invoke returns the result or raises."""
    current = gateway()
    current.register_lambda_context(context)
    kind = kind_of(event)
    logger.append_keys(event_kind=kind.value)
    if kind is EventKind.SQS:
        return process_sqs(event, context, current)
    if kind is EventKind.SNS:
        return process_sns(event, context, current)
    if kind is EventKind.API:
        logger.set_correlation_id(event.get("requestContext", {}).get("requestId"))
        return api.resolve(event, context)
    outcome = current.accept(event, remaining_ms=context.get_remaining_time_in_millis)
    return outcome.as_result()
