"""`smsgw send --csv FILE`: one SMS per row, sent as `Recipients` messages of at most 1,000.

Two passes over the file, neither holding more than one message's rows:
1. check: every row against the gateway's own model (nothing is sent while any row is
   wrong), each message's idempotency key noted (one short string per 1,000 rows);
2. send: the same messages again, with a progress bar, each to the sink (a door of the
   gateway). A message whose key differs from the first pass's means the file changed in
   between: the run stops rather than send rows that were never checked.

Resumable: a key derives from the message's rows, template and sender, so running the same
command again — after a crash, a Ctrl-C, or twice by mistake — hands the gateway the same
keys, and its idempotency sends nothing twice.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, TextIO

from sms_gateway.redact import redact_text
from smsgw.csv_rows import Group, RowError, RowsFile, message_of, row_errors
from smsgw.doors import VIA_API, VIA_SNS, VIA_SQS, Outcome, Sink, open_door
from smsgw.errors import FAILED, CliError
from smsgw.model_check import ModelCheck
from smsgw.outputs import Outputs
from smsgw.progress import Progress

MAX_ERRORS_SHOWN: Final = 20
RESUME: Final = (
    "run the same command again to send the rest: what went already is not sent twice "
    "(each message's IdempotencyKey derives from its rows)"
)


@dataclass(frozen=True)
class Options:
    """What the command line adds to every message of the file."""

    template_id: str
    sender_id: str | None = None
    user_id: str | None = None

    def message(self, group: Group) -> dict[str, Any]:
        """The message for `group`, with its key."""
        return message_of(group, self.template_id, self.sender_id, self.user_id)


@dataclass
class Plan:
    """What the checking pass found: the rows to send and each message's key, in order."""

    rows: int = 0
    keys: list[str] = field(default_factory=list)


@dataclass
class Report:
    """What the sending pass did."""

    rows: int = 0
    messages: int = 0
    replayed: int = 0
    refused: list[str] = field(default_factory=list)


@contextmanager
def _reading(path: Path) -> Iterator[TextIO]:
    try:
        # utf-8-sig: a spreadsheet's byte-order mark would otherwise join the first name.
        with path.open(encoding="utf-8-sig", newline="") as stream:
            yield stream
    except OSError as error:
        raise CliError(f"cannot read {path}: {error.strerror or error}") from None
    except UnicodeDecodeError:
        raise CliError(f"{path} is not UTF-8 text: save it as CSV UTF-8") from None


def check_file(path: Path, options: Options, checker: ModelCheck | None = None) -> Plan:
    """Pass 1: `CliError` listing what is wrong (by row and column, never a value), or the
    plan. Nothing is sent."""
    checker = checker or ModelCheck()
    plan = Plan()
    errors: list[RowError] = []
    with _reading(path) as stream:
        rows = RowsFile.open(stream)
        for item in rows.groups():
            if isinstance(item, RowError):
                errors.append(item)
                continue
            message = options.message(item)
            errors += row_errors(item, rows.columns, checker.problems(message))
            plan.keys.append(message["IdempotencyKey"])
            plan.rows += len(item.recipients)
    if errors:
        raise CliError(f"{path}: nothing sent: " + _listed(errors), FAILED)
    if not plan.rows:
        raise CliError(f"{path}: nothing to send: the file has a header and no rows", FAILED)
    return plan


def _listed(errors: list[RowError]) -> str:
    """Each error once (one about an option comes with every message), those about the
    options first, at most MAX_ERRORS_SHOWN."""
    unique = list(dict.fromkeys(str(e) for e in errors if e.row is None))
    unique += [str(e) for e in errors if e.row is not None]
    shown = unique[:MAX_ERRORS_SHOWN]
    more = len(unique) - len(shown)
    tail = [f"  … and {more} more"] if more else []
    count = f"{len(unique)} problem" + ("" if len(unique) == 1 else "s")
    return "\n".join([count + ":", *(f"  {line}" for line in shown), *tail])


def send_file(
    path: Path,
    options: Options,
    open_sink: Callable[[], Sink],
    progress_stream: TextIO | None = None,
) -> Report:
    """Check the whole file, then send it message by message through the sink `open_sink`
    makes (only once the file is known to be good: a mistake in it needs no stack)."""
    plan = check_file(path, options)
    sink = open_sink()
    report = Report()
    progress = Progress("sending", plan.rows, progress_stream, unit="row")
    try:
        with _reading(path) as stream:
            for index, item in enumerate(RowsFile.open(stream).groups()):
                message = _unchanged(path, plan, index, item, options)
                _record(report, item, _deliver(sink, message, report, plan))
                progress.advance(len(message["Recipients"]))
    except KeyboardInterrupt:
        progress.close()
        print(
            f"stopped after {report.messages} of {len(plan.keys)} messages; {RESUME}",
            file=sys.stderr,
        )
        raise
    finally:
        progress.close()  # before any error is printed, so it does not land on the bar
    return report


def _unchanged(
    path: Path, plan: Plan, index: int, item: Group | RowError, options: Options
) -> dict[str, Any]:
    """The message of `item`, if it is the one the first pass checked."""
    message = options.message(item) if isinstance(item, Group) else None
    if message is None or index >= len(plan.keys) or message["IdempotencyKey"] != plan.keys[index]:
        raise CliError(f"{path} changed since it was checked: nothing more sent; {RESUME}")
    return message


def _deliver(sink: Sink, message: dict[str, Any], report: Report, plan: Plan) -> Outcome:
    """One message to the sink; a failure stops the run with where it got to."""
    try:
        outcome = sink(message, None)
    except CliError as error:
        raise CliError(
            f"sent {report.messages} of {len(plan.keys)} messages, then: {error.message}; "
            + RESUME,
            error.exit_code,
        ) from error
    if not outcome.accepted and _transient(outcome):
        raise CliError(
            f"sent {report.messages} of {len(plan.keys)} messages, then the API answered "
            f"{_refusal(outcome)}; " + RESUME
        )
    return outcome


def _transient(outcome: Outcome) -> bool:
    """Answers that a later try may turn into a send (throttled, unavailable, unknown)."""
    return outcome.status is not None and (outcome.status == 429 or outcome.status >= 500)


def _record(report: Report, group: Group | RowError, outcome: Outcome) -> None:
    assert isinstance(group, Group)
    report.messages += 1
    report.rows += len(group.recipients)
    if outcome.replayed:
        report.replayed += 1
    if not outcome.accepted:
        report.refused.append(
            f"rows {group.rows[0]}–{group.rows[-1]}: refused: {_refusal(outcome)}"
        )


def _refusal(outcome: Outcome) -> str:
    """`HTTP 422 PolicyRefused: …` (digit runs masked: a reason may quote a number)."""
    error = outcome.body.get("Error") if isinstance(outcome.body, dict) else None
    if not isinstance(error, dict):
        return f"HTTP {outcome.status}"
    return redact_text(f"HTTP {outcome.status} {error.get('Code')}: {error.get('Message')}")


def run(outputs: Outputs, path: Path, options: Options, via: str) -> int:
    """`smsgw send --csv`: send the file through the door `via`. Returns the exit code."""
    report = send_file(path, options, lambda: open_door(outputs, via))
    return print_report(path, report, _DOOR_WORDS[via], outputs.cli())


_DOOR_WORDS: Final = {
    VIA_SNS: "published to the topic",
    VIA_SQS: "sent to the queue",
    VIA_API: "sent through the API",
}


def print_report(path: Path, report: Report, door: str, cli: str) -> int:
    """What was sent, on stdout; refusals on stderr. Returns the exit code."""
    replays = (
        f"; {report.replayed} had been sent before (nothing sent again)" if report.replayed else ""
    )
    print(f"{path}: {report.rows:,} rows in {report.messages} message(s) {door}{replays}")
    for line in report.refused:
        print(line, file=sys.stderr)
    if report.refused:
        return FAILED
    if door != _DOOR_WORDS[VIA_API]:
        print(
            f"the gateway sends them in a moment; if some do not arrive: {cli} dlq list",
            file=sys.stderr,
        )
    return 0
