"""The speed-ups, each measured on its own: the way before against the way now, in fresh
processes, alternated. The whole effect is measured by the cold-start benchmark (the code
now against the code before, `--before`); these pairs say which change bought what. Each
pair is measured in the context of the code as it is now, so they overlap a little and do
not add up exactly to the whole.

`ROUNDS` rounds, not the run's 15: the changes are in and their figures settled (medians
and interquartile ranges move little from run to run), and fewer rounds keep `make bench`
within its time budget. Each figure is still the median of alternated rounds, shown with
its interquartile range and its number of rounds.
"""

from __future__ import annotations

import functools
import subprocess
import sys
from dataclasses import dataclass
from typing import Any, Final

from benchmarks.services import Services
from benchmarks.stats import Summary, alternate, paired_ratios

ROUNDS: Final = 7
# Each snippet prints the seconds its measured part took; what comes before `T0` is setup.
_TIMED: Final = (
    "import time\n{setup}\nT0 = time.perf_counter()\n{body}\nprint(time.perf_counter() - T0)\n"
)


@dataclass(frozen=True)
class Change:
    """One speed-up: where it is, what it does, and the two ways to time."""

    name: str
    files: str
    what: str
    setup: str
    before: str
    after: str
    effect: str  # what the saving means for a cold start


CHANGES: Final = (
    Change(
        "api_on_first_api_event",
        "handler.py",
        "The REST resolver (Powertools' event handler) and the API module are imported and "
        "built by the first API Gateway event, not by every cold start.",
        "",
        "import sms_gateway.handler, sms_gateway.rest_api\n"
        "sms_gateway.rest_api.build_api(sms_gateway.handler.gateway)",
        "import sms_gateway.handler",
        "saved on every cold start that does not begin with an API request",
    ),
    Change(
        "batch_before_pydantic",
        "queues.py, handler.py",
        "Powertools' batch utilities are imported before pydantic. Imported after it, they "
        "also build every Powertools parser model (for type aliases the code never uses).",
        "import aws_lambda_powertools",
        "import pydantic\nimport aws_lambda_powertools.utilities.batch",
        "import aws_lambda_powertools.utilities.batch\nimport pydantic",
        "saved on every cold start: the code before imported the utilities at every cold "
        "start too, after pydantic (the API module came first and pulled in the model)",
    ),
    Change(
        "aws_sdk_on_first_invocation",
        "credentials.py, idempotency.py, gateway.py",
        "boto3, Powertools parameters and idempotency are imported when the first "
        "invocation builds the gateway, not by the handler's import.",
        "",
        "import sms_gateway.handler\nimport boto3\n"
        "import aws_lambda_powertools.utilities.parameters\n"
        "import aws_lambda_powertools.utilities.idempotency",
        "import sms_gateway.handler",
        "moved from the import (init) to the first invocation, not saved: every message "
        "needs the secret. The import alone shrinks by this much",
    ),
    Change(
        "one_boto3_session",
        "gateway.py",
        "The boto3 clients share one session. Before, the DLQ's client came from boto3's "
        "default session and Powertools made a session for the secret's provider and one "
        "for the idempotency table: three sessions, each parsing botocore's endpoint data.",
        "import boto3",
        "boto3.client('sqs')\n"
        "boto3.session.Session().client('secretsmanager')\n"
        "boto3.session.Session().client('dynamodb')",
        "session = boto3.session.Session()\n"
        "session.client('secretsmanager')\nsession.client('dynamodb')\nsession.client('sqs')",
        "saved on every cold start",
    ),
    Change(
        "dead_letter_client_on_first_park",
        "dead_letter.py, gateway.py",
        "The dead-letter queue's SQS client is made when the first message is parked, not "
        "when the gateway is built (most containers never park one).",
        "import boto3\nsession = boto3.session.Session()",
        "session.client('secretsmanager')\nsession.client('dynamodb')\nsession.client('sqs')",
        "session.client('secretsmanager')\nsession.client('dynamodb')",
        "saved on every cold start that parks nothing",
    ),
)


def _time(snippet: str, env: dict[str, str]) -> float:
    done = subprocess.run(  # noqa: S603 (our interpreter, our snippets)
        [sys.executable, "-c", snippet], env=env, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"speed-up snippet failed:\n{snippet}\n{done.stderr[-2000:]}")
    return float(done.stdout.strip().splitlines()[-1])


def run(services: Services, runs: int) -> dict[str, Any]:
    """Every change: before and after, alternated `runs` times (`ROUNDS` at most)."""
    runs = min(runs, ROUNDS)
    env = services.env()
    found: dict[str, Any] = {}
    for change in CHANGES:
        before = _TIMED.format(setup=change.setup, body=change.before)
        after = _TIMED.format(setup=change.setup, body=change.after)
        samples = alternate(
            {
                "before": functools.partial(_time, before, env),
                "after": functools.partial(_time, after, env),
            },
            runs,
        )
        saved = [b - a for b, a in zip(samples["before"], samples["after"], strict=True)]
        found[change.name] = {
            "files": change.files,
            "what": change.what,
            "effect": change.effect,
            "before_s": Summary.of(samples["before"]).as_json(),
            "after_s": Summary.of(samples["after"]).as_json(),
            "after/before": Summary.of(
                paired_ratios(samples["after"], samples["before"])
            ).as_json(),
            "saved_s": Summary.of(saved).as_json(),
        }
    return found
