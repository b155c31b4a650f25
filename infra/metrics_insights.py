"""Metrics Insights queries on the function's custom metrics, for alarms and graphs."""

from __future__ import annotations

from typing import Final

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch

from infra.names import METRICS_NAMESPACE, Metric

# A graph of one series per country (or reason) shows the ten largest.
TOP_SERIES: Final = 10


def metrics_insights(
    metric: Metric,
    period: cdk.Duration,
    aggregate: str = "SUM",
    *,
    where: tuple[str, str] | None = None,
    group_by: str | None = None,
    schema: tuple[str, ...] | None = None,
    label: str | None = None,
) -> cloudwatch.MathExpression:
    """One custom metric aggregated over all its dimensions (service, Reason, …).

    A Metrics Insights query, so the alarm does not depend on which dimensions the function
    attaches: a plain metric alarm matches one exact dimension set and would stay silent.
    `where` keeps the data points with one dimension's value (`("Reason", "cap_reached")`);
    `group_by` makes one series per value of a dimension (for graphs: an alarm needs one);
    `schema` reads only the series with exactly these dimensions (so a series summed over
    every country is not graphed as a country called "Other").
    """
    source = f'"{METRICS_NAMESPACE}"'
    if schema is not None:
        source = "SCHEMA(" + ", ".join(f'"{name}"' for name in (METRICS_NAMESPACE, *schema)) + ")"
    # Built from our own constants only, never from input.
    query = f'SELECT {aggregate}("{metric}") FROM {source}'  # noqa: S608
    if where is not None:
        dimension, value = where
        query += f" WHERE \"{dimension}\" = '{value}'"
    if group_by is not None:
        query += f' GROUP BY "{group_by}" ORDER BY {aggregate}() DESC LIMIT {TOP_SERIES}'
    return cloudwatch.MathExpression(
        expression=query,
        label=label or f"{metric} ({aggregate.lower()})",
        period=period,
        using_metrics={},
    )
