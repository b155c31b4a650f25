"""Delivery status in CloudWatch: the share of numbers delivered, and outcomes by country.

The function counts each number's final status once (`Delivered`, `DeliveryFailed`,
`DeliveryUnknown`), by country and summed over countries (see `Metric.DELIVERED`). The
alarm divides the sums; the graphs by country read the per-country series.
"""

from __future__ import annotations

from typing import Final

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch

from infra.metrics_insights import metrics_insights
from infra.names import (
    COUNTRY_DIMENSION,
    DELIVERY_COUNTRY_DIMENSIONS,
    METRICS_NAMESPACE,
    SERVICE_DIMENSION,
    SERVICE_NAME,
    Metric,
)

# The alarm's window: receipts are usually final 5 to 10 minutes after sending, and an hour
# holds enough of them to be a share rather than a handful of anecdotes.
DELIVERY_WINDOW: Final = cdk.Duration.hours(1)
# Final receipts an hour must hold before its share delivered can raise the alarm. With
# fewer, one or two numbers that could not be reached (a phone off for the day, a mistyped
# number) move the share by 5 to 10 points, and the alarm would wake someone at a quiet
# hour for nothing. With 20, each failure is 5 points: below 80 % takes five failures.
MIN_RECEIPTS: Final = 20
OUTCOMES: Final = (Metric.DELIVERED, Metric.DELIVERY_FAILED, Metric.DELIVERY_UNKNOWN)
GRAPH_TITLES: Final = {
    Metric.DELIVERED: "Numbers delivered by country",
    Metric.DELIVERY_FAILED: "Numbers failed by country",
    Metric.DELIVERY_UNKNOWN: "Numbers unknown after 12 h by country",
}
GRAPH_PERIOD: Final = cdk.Duration.minutes(5)


def _summed_over_countries(metric: Metric, period: cdk.Duration) -> cloudwatch.Metric:
    """The series the function emits with the service dimension alone."""
    return cloudwatch.Metric(
        namespace=METRICS_NAMESPACE,
        metric_name=metric,
        dimensions_map={SERVICE_DIMENSION: SERVICE_NAME},
        statistic=cloudwatch.Stats.SUM,
        period=period,
        label=str(metric),
    )


def _receipts(period: cdk.Duration) -> tuple[cloudwatch.Metric, cloudwatch.MathExpression]:
    """(numbers delivered, numbers with a final status), each summed over countries.

    A series with no data point in a window (no failure at all, say) counts as 0 there.
    """
    delivered, failed, unknown = (_summed_over_countries(m, period) for m in OUTCOMES)
    receipts = cloudwatch.MathExpression(
        expression="FILL(delivered, 0) + FILL(failed, 0) + FILL(unknown, 0)",
        using_metrics={"delivered": delivered, "failed": failed, "unknown": unknown},
        label="Final receipts",
        period=period,
    )
    return delivered, receipts


def delivery_rate_alarm_metric() -> cloudwatch.MathExpression:
    """The share delivered over the last hour, or 1 (nothing to say) with too few receipts.

    1 rather than no data, so that a quiet hour reads as fine whatever the alarm's missing
    data setting; the division is taken only where there are receipts to divide by.
    """
    delivered, receipts = _receipts(DELIVERY_WINDOW)
    return cloudwatch.MathExpression(
        expression=f"IF(receipts >= {MIN_RECEIPTS}, FILL(delivered, 0) / receipts, 1)",
        using_metrics={"delivered": delivered, "receipts": receipts},
        label=f"Delivered share (1 below {MIN_RECEIPTS} receipts)",
        period=DELIVERY_WINDOW,
    )


def delivery_widgets(threshold: float) -> list[cloudwatch.IWidget]:
    """Outcomes by country (the ten largest each), and the share delivered with the
    alarm's threshold drawn on it."""
    by_country = [
        cloudwatch.GraphWidget(
            title=GRAPH_TITLES[metric],
            left=[
                metrics_insights(
                    metric,
                    GRAPH_PERIOD,
                    group_by=COUNTRY_DIMENSION,
                    schema=DELIVERY_COUNTRY_DIMENSIONS,
                    label="${LABEL}",
                )
            ],
            width=6,
        )
        for metric in OUTCOMES
    ]
    delivered, receipts = _receipts(DELIVERY_WINDOW)
    share = cloudwatch.MathExpression(
        expression="FILL(delivered, 0) / receipts",
        using_metrics={"delivered": delivered, "receipts": receipts},
        label="Delivered share",
        period=DELIVERY_WINDOW,
    )
    rate = cloudwatch.GraphWidget(
        title="Delivery rate per hour (all countries)",
        left=[share],
        left_y_axis=cloudwatch.YAxisProps(min=0, max=1, show_units=False),
        left_annotations=[
            cloudwatch.HorizontalAnnotation(value=threshold, label="alarm below this")
        ],
        right=[receipts],
        width=6,
    )
    return [*by_country, rate]
