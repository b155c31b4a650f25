"""Logs, metrics and traces — Powertools' Logger, Metrics and (only when on) Tracer.

Nothing here ever receives a phone number or a template parameter: callers log counts,
SessionNos, RetCodes and masked numbers only.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping
from typing import Any, Final, TypeVar, cast

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit, single_metric

SERVICE: Final = os.environ.get("POWERTOOLS_SERVICE_NAME", "sms-gateway")
NAMESPACE: Final = os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "SmsGateway")

logger = Logger(service=SERVICE)
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)

F = TypeVar("F", bound=Callable[..., Any])


def tracing_enabled() -> bool:
    """X-Ray only inside Lambda and when not switched off: importing the X-Ray SDK costs
    tens of milliseconds of every cold start, so it is never imported when unused."""
    disabled = os.environ.get("POWERTOOLS_TRACE_DISABLED", "").lower() in ("1", "true")
    return bool(os.environ.get("AWS_LAMBDA_FUNCTION_NAME")) and not disabled


def capture_lambda_handler(handler: F) -> F:
    """Powertools' Tracer decorator when tracing is on; the bare handler otherwise."""
    if not tracing_enabled():
        return handler
    from aws_lambda_powertools import Tracer  # here, not at the top: see tracing_enabled

    tracer = Tracer(service=SERVICE)
    return cast(F, tracer.capture_lambda_handler(handler, capture_response=False))


class Counters:
    """Thread-safe metric recording: a batch's records are sent from worker threads, and
    Powertools' Metrics keeps one shared, unlocked set per invocation."""

    def __init__(self) -> None:
        self._lock = threading.Lock()

    def count(self, name: str, value: float = 1) -> None:
        """Add to a metric without dimensions (flushed with the invocation)."""
        with self._lock:
            metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)

    def latency(self, name: str, milliseconds: float) -> None:
        """Record a latency sample."""
        with self._lock:
            metrics.add_metric(name=name, unit=MetricUnit.Milliseconds, value=milliseconds)

    def count_by(self, name: str, dimension: str, value: str) -> None:
        """A count with its own dimension (e.g. rejections by reason), written at once."""
        with (
            self._lock,
            single_metric(name=name, unit=MetricUnit.Count, value=1, namespace=NAMESPACE) as metric,
        ):
            metric.add_dimension(name="service", value=SERVICE)
            metric.add_dimension(name=dimension, value=value)

    def count_with(self, name: str, dimensions: Mapping[str, str], value: float = 1) -> None:
        """A count with dimensions of its own (e.g. refusals by reason and country)."""
        with (
            self._lock,
            single_metric(
                name=name, unit=MetricUnit.Count, value=value, namespace=NAMESPACE
            ) as metric,
        ):
            metric.add_dimension(name="service", value=SERVICE)
            for dimension, dimension_value in dimensions.items():
                metric.add_dimension(name=dimension, value=dimension_value)


counters = Counters()
