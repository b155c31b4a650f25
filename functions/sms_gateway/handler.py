"""The Lambda entry point (contract: `sms_gateway.handler.lambda_handler`).

One function for SQS batches, SNS notifications, API Gateway proxy requests and direct
invocations of a bare message. Thin: it names the event's kind and hands it on.

A cold start imports what every message needs (the model, the sender, logs and metrics)
and the SQS batch utilities (the main door; see `queues` for why before the rest). The
REST resolver and its OpenAPI document wait for the first API Gateway event (`rest_api`);
boto3 and the secret's provider for the first invocation, which builds the gateway; the
receipts door for the first batch of receipt checks (`delivery_wiring`).
`make bench` measures each choice (benchmarks/RESULTS.md).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

# First, before pydantic is loaded by the model: see the queues module's docstring.
from sms_gateway.queues import process_sns, process_sqs  # isort: split

from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers

from sms_gateway.errors import UnsupportedEventError
from sms_gateway.event_kinds import EventKind, kind_of
from sms_gateway.gateway import Gateway, gateway_from_env
from sms_gateway.message import MESSAGE_FIELDS
from sms_gateway.telemetry import capture_lambda_handler, counters, logger, metrics

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler import APIGatewayRestResolver
    from aws_lambda_powertools.utilities.typing import LambdaContext

# The client and the sender log through the standard library; once every module is
# imported (so their loggers exist), give them the handler's JSON format and correlation ids.
copy_config_to_registered_loggers(source_logger=logger, include={"sms_gateway"})

_gateway: Gateway | None = None
_api: APIGatewayRestResolver | None = None


def gateway() -> Gateway:
    """The container's gateway, built on first use and kept while the container lives."""
    global _gateway  # one per container is the point
    if _gateway is None:
        _gateway = gateway_from_env()
    return _gateway


def use_gateway(instance: Gateway | None) -> None:
    """Put a gateway in place (tests, the local run); None rebuilds from the environment."""
    global _gateway
    _gateway = instance


def rest_api() -> APIGatewayRestResolver:
    """The REST API's resolver, built on the first API Gateway event: queue traffic never
    loads Powertools' event handler."""
    global _api  # one per container, like the gateway
    if _api is None:
        from sms_gateway.rest_api import build_api

        _api = build_api(gateway)
    return _api


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
@capture_lambda_handler
def lambda_handler(event: Any, context: LambdaContext) -> Any:
    """Dispatch on the event's shape. A direct invoke returns the result or raises; an
    event no door takes raises `UnsupportedEventError`, naming what it is."""
    kind = kind_of(event, MESSAGE_FIELDS)
    logger.append_keys(event_kind=kind.value)
    if not kind.supported:
        raise _unsupported(kind)
    current = gateway()
    current.register_lambda_context(context)
    if kind is EventKind.SQS:
        return process_sqs(event, context, current)
    if kind is EventKind.SNS:
        return process_sns(event, context, current)
    if kind is EventKind.API:
        logger.set_correlation_id(_request_id(event))
        return rest_api().resolve(event, context)  # a malformed event answers 400 (rest_api)
    # A direct invoke enters AWS as it is invoked: its age starts now.
    outcome = current.accept(
        event, remaining_ms=context.get_remaining_time_in_millis, entered_at=time.time()
    )
    return outcome.as_result()


def _unsupported(kind: EventKind) -> UnsupportedEventError:
    """Count and log an event no door takes (its type, never its content): the function is
    wired to a source it does not serve."""
    counters.count_by("UnsupportedEvents", "EventType", kind.value)
    logger.warning("event type not supported", extra={"event_type": kind.value})
    return UnsupportedEventError(kind.value, kind.description)


def _request_id(event: dict[str, Any]) -> str | None:
    """API Gateway's request id, when the event carries one (a malformed one may not)."""
    context = event.get("requestContext")
    request_id = context.get("requestId") if isinstance(context, dict) else None
    return request_id if isinstance(request_id, str) else None
