"""The `smsgw` command line: argparse, and one function per command.

    smsgw [--local] [--outputs PATH] send --to NUMBER… --template ID [--param P…] …
    smsgw [--local] [--outputs PATH] send --csv FILE --template ID [--sender-id S] [--via …]
    smsgw [--local] [--outputs PATH] receipts SESSIONNO… [--json]
    smsgw [--local] [--outputs PATH] dlq list [--max N] [--json]
    smsgw [--local] [--outputs PATH] dlq show ID [--reveal]
    smsgw [--local] [--outputs PATH] dlq purge [--code CODE] [--older-than D] [--yes]
    smsgw [--local] [--outputs PATH] dlq redrive [--max N] [--include CODE…] [--resend-unknown]
    smsgw [--local] [--outputs PATH] policy show|set FILE|block CC…|allow CC…
    smsgw [--local] [--outputs PATH] optout add NUMBER…|remove NUMBER|check NUMBER|list [--all]
    smsgw [--local] [--outputs PATH] events tail [--count N] [--timeout S] [--status S…] [--json]
    smsgw local [ARGS…]

Exit codes: 0 done; 1 the gateway, the API or AWS refused (`send`: the message breaks the
gateway's rules, nothing sent; `policy set`: the document is not a valid policy; `optout
check`: the number is not opted out; `optout remove`: it was not; `dlq show`: no such
message; `dlq purge`: the question was answered no); 2 the command line or the setup is
wrong (no outputs file, stack not deployed, no credentials).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sms_gateway.contract import ERROR_CODES
from smsgw import (
    csv_send,
    dlq,
    dlq_kinds,
    dlq_purge,
    events,
    local,
    optout,
    policy,
    receipts,
    redrive,
    send,
)
from smsgw.doors import DOORS, VIA_SNS
from smsgw.errors import SETUP_ERROR, CliError
from smsgw.outputs import Outputs, load

# 128 + SIGINT, as a shell reports a command stopped with Ctrl-C.
INTERRUPTED = 130


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, not {value}")
    return value


def _age(text: str) -> int:
    try:
        return dlq_purge.parse_age(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _page_size(text: str) -> int:
    value = _positive(text)
    if value > optout.MAX_PAGE:
        raise argparse.ArgumentTypeError(f"must be at most {optout.MAX_PAGE}, not {value}")
    return value


def _stack_options(defaults: bool) -> argparse.ArgumentParser:
    """`--local`/`--outputs`, accepted before the command and after it. After it they
    default to SUPPRESS, so they do not undo what was given before."""
    options = argparse.ArgumentParser(add_help=False)
    where = options.add_argument_group("which gateway")
    where.add_argument(
        "--local",
        action="store_true",
        default=False if defaults else argparse.SUPPRESS,
        help="the local gateway (`make local`): read .local/outputs.json",
    )
    where.add_argument(
        "--outputs",
        type=Path,
        metavar="PATH",
        default=None if defaults else argparse.SUPPRESS,
        help="read the outputs from PATH, not from cdk-outputs.json (or .local/outputs.json) "
        "in this folder or the nearest above",
    )
    return options


def build_parser() -> argparse.ArgumentParser:
    """The whole command line."""
    parser = argparse.ArgumentParser(
        prog="smsgw",
        description="Send SMS through the gateway, read delivery receipts, manage the "
        "dead-letter queue, the traffic policy and the opt-out list, watch delivery events, run "
        "the gateway locally.",
        parents=[_stack_options(defaults=True)],
    )
    after = [_stack_options(defaults=False)]
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    _add_send_command(commands, after)

    receipt = commands.add_parser(
        "receipts",
        parents=after,
        help="delivery receipts of SessionNos",
        description="Delivery receipts (phones masked). They arrive minutes after sending. "
        "Exit 1 when the provider knows none of a SessionNo.",
    )
    receipt.add_argument("session_nos", nargs="+", metavar="SESSIONNO")
    receipt.add_argument(
        "--json", action="store_true", help="print the API's JSON answer (phones masked)"
    )
    receipt.add_argument("--reveal", action="store_true", help="with --json: the phones in full")

    _add_dlq_commands(commands, after)
    _add_policy_commands(commands, after)
    _add_optout_commands(commands, after)
    events.add_commands(commands, after)

    commands.add_parser(
        "local",
        help="run the gateway on this machine (other arguments go to it)",
        description="Run `python -m local_gateway` with the arguments that follow.",
        # -h/--help go to the gateway too: its help lists the options `smsgw local` takes.
        add_help=False,
    )
    return parser


def _add_send_command(commands: Any, after: list[argparse.ArgumentParser]) -> None:
    """`send --to NUMBER… | --csv FILE`."""
    sending = commands.add_parser(
        "send",
        parents=after,
        help="send a message, or one per row of a CSV file",
        description="Send one message, or one SMS per row of a CSV file. Either is checked "
        "with the gateway's own rules first: what it would refuse is not sent (exit 1).",
    )
    recipients = sending.add_mutually_exclusive_group(required=True)
    recipients.add_argument(
        "--to",
        nargs="+",
        action="extend",
        metavar="NUMBER",
        help="phone numbers, e.g. +8613800138000 (several, or comma-separated)",
    )
    recipients.add_argument(
        "--csv",
        type=Path,
        metavar="FILE",
        help="one SMS per row: a header row, a PhoneNumber column, UserId and ExtendCode "
        "columns if wanted, every other column a template parameter in column order. Sent "
        "as messages of up to 1,000 rows; running it again sends nothing twice",
    )
    sending.add_argument("--template", required=True, metavar="ID", help="the TemplateId")
    sending.add_argument(
        "--param",
        nargs="+",
        action="extend",
        default=[],
        metavar="P",
        help="with --to: template parameters, in order (sent as typed, as strings)",
    )
    sending.add_argument("--sender-id", metavar="S", help="SenderId (at most 11 characters)")
    sending.add_argument("--user-id", metavar="U", help="UserId, echoed in receipts")
    sending.add_argument(
        "--via",
        choices=DOORS,
        default=VIA_SNS,
        help="which door: the SNS topic (default), the SQS queue, or the API",
    )
    sending.add_argument(
        "--key",
        metavar="IDEMPOTENCY_KEY",
        help="with --to: idempotency key: the same key again within 24 h sends nothing "
        "(--csv makes one per message from its rows)",
    )


def _add_dlq_commands(commands: Any, after: list[argparse.ArgumentParser]) -> None:
    """`dlq list|show|purge|redrive`."""
    parser = commands.add_parser(
        "dlq",
        help="the dead-letter queue: list, show, purge or redrive",
        description="The dead-letter queue: what the gateway parked, and why.",
    )
    actions = parser.add_subparsers(dest="dlq_command", required=True, metavar="ACTION")
    listing = actions.add_parser(
        "list",
        parents=after,
        help="show what waits, and why (without consuming it)",
        description="Show the parked messages by the MessageId their producer got, with "
        "their key, UserId, ErrorCode and reason, and what to do about each kind (numbers "
        "never shown).",
    )
    listing.add_argument("--max", type=_positive, metavar="N", help="show at most N")
    listing.add_argument("--json", action="store_true", help="print JSON")
    showing = actions.add_parser(
        "show",
        parents=after,
        help="one parked message in full (numbers masked)",
        description="Print one parked message: its reason, attributes and body, with phone "
        "numbers masked and template parameters hidden unless --reveal. Exit 1 when no "
        "parked message has that MessageId.",
    )
    showing.add_argument("message_id", metavar="ID", help="its MessageId, as `dlq list` shows it")
    showing.add_argument(
        "--reveal", action="store_true", help="the body as parked: numbers and parameters in full"
    )
    purging = actions.add_parser(
        "purge",
        parents=after,
        help="delete parked messages for good (asks first)",
        description="Delete parked messages for good: all, or those of one ErrorCode and/or "
        "parked at least D ago. Says how many of which kind and asks first, unless --yes.",
    )
    purging.add_argument("--code", choices=sorted(ERROR_CODES), metavar="CODE", help="ErrorCode")
    purging.add_argument(
        "--older-than", type=_age, metavar="D", help="parked at least this long ago: 30m, 2h, 7d"
    )
    purging.add_argument("--yes", action="store_true", help="do not ask")
    _add_redrive_command(actions, after)


def _add_redrive_command(actions: Any, after: list[argparse.ArgumentParser]) -> None:
    """`dlq redrive`."""
    redrive = actions.add_parser(
        "redrive",
        parents=after,
        help="send parked messages back to the queue",
        description="Move parked messages back to the queue, without the gateway's reason "
        "attributes, so the gateway tries them again. Left where they are, and counted: "
        f"{', '.join(dlq_kinds.NEVER_SUCCEED)} (they fail the same way again; --include "
        "one to move it anyway) and ProviderOutcomeUnknown (--resend-unknown).",
    )
    redrive.add_argument("--max", type=_positive, metavar="N", help="move at most N")
    redrive.add_argument(
        "--include",
        action="append",
        default=[],
        choices=dlq_kinds.NEVER_SUCCEED,
        metavar="CODE",
        help="also move this kind (repeatable), e.g. PolicyRefused once the policy allows it",
    )
    redrive.add_argument(
        "--resend-unknown",
        action="store_true",
        help="also messages whose outcome is unknown (the provider may have sent them), "
        "under a new idempotency key: only once you checked they were not sent",
    )


def _add_policy_commands(commands: Any, after: list[argparse.ArgumentParser]) -> None:
    """`policy show|set|block|allow`."""
    parser = commands.add_parser(
        "policy",
        help="the traffic policy: show it, set it, block or allow countries",
        description="The traffic policy (countries, rate limits, caps, expiry) in its SSM "
        "parameter (output PolicyParameterName). Every change is checked with the gateway's "
        "own rules before it is written, and printed as a diff; the gateway uses it within "
        "a minute.",
    )
    actions = parser.add_subparsers(dest="policy_command", required=True, metavar="ACTION")
    actions.add_parser(
        "show",
        parents=after,
        help="print the policy as JSON",
        description="Print the policy as JSON. Exit 1 (after printing it) when the gateway "
        "would not use it.",
    )
    setting = actions.add_parser(
        "set",
        parents=after,
        help="replace the policy with a JSON document",
        description="Replace the policy with the document in FILE. A document the gateway "
        "would refuse is not written (exit 1, saying why).",
    )
    setting.add_argument("file", metavar="FILE", help="a JSON policy document (- reads stdin)")
    for name, what in (
        ("block", "add region codes to Countries.Block: numbers there are never sent"),
        (
            "allow",
            "remove region codes from Countries.Block and, unless Countries.Allow has *, "
            "add them to it",
        ),
    ):
        action = actions.add_parser(
            name, parents=after, help=what, description=what[0].upper() + what[1:] + "."
        )
        action.add_argument(
            "countries",
            nargs="+",
            metavar="CC",
            help="ISO 3166-1 alpha-2 region codes as libphonenumber assigns them (RU, US, "
            "CA: US and CA apart), or * for every country",
        )


def _add_optout_commands(commands: Any, after: list[argparse.ArgumentParser]) -> None:
    """`optout add|remove|check|list`."""
    parser = commands.add_parser(
        "optout",
        help="the opt-out list: numbers never to text",
        description="The opt-out list, through the gateway's API: numbers that are never "
        "texted. Any accepted form of a number works (+86…, 0086…, (86)…, national).",
    )
    actions = parser.add_subparsers(dest="optout_command", required=True, metavar="ACTION")
    adding = actions.add_parser(
        "add",
        parents=after,
        help="opt numbers out",
        description="Opt numbers out (adding one twice changes nothing).",
    )
    adding.add_argument("numbers", nargs="+", metavar="NUMBER", help="several, or comma-separated")
    removing = actions.add_parser(
        "remove",
        parents=after,
        help="opt a number back in",
        description="Opt a number back in. Exit 1 when it was not opted out.",
    )
    removing.add_argument("number", metavar="NUMBER")
    checking = actions.add_parser(
        "check",
        parents=after,
        help="whether a number is opted out",
        description="Whether a number is opted out: exit 0 when it is, 1 when it is not.",
    )
    checking.add_argument("number", metavar="NUMBER")
    listing = actions.add_parser(
        "list",
        parents=after,
        help="print the opted-out numbers",
        description="Print the opted-out numbers, one a line (in full: that is the list's "
        "purpose): one page, or every page with --all.",
    )
    listing.add_argument("--all", action="store_true", help="every page, not just the first")
    listing.add_argument(
        "--limit", type=_page_size, metavar="N", help="numbers a page (1 to 1000; default 100)"
    )
    listing.add_argument("--next", metavar="TOKEN", help="start at this page (as printed)")


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the exit code (argparse exits 2 itself on a bad line)."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if args.command != "local" and extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        return _run(args, extra)
    except CliError as error:
        print(f"smsgw: {error.message}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("smsgw: interrupted", file=sys.stderr)
        return INTERRUPTED


def _run(args: argparse.Namespace, extra: list[str]) -> int:
    if args.command == "local":
        return local.run(extra[1:] if extra[:1] == ["--"] else extra)
    outputs = _outputs(args)
    if args.command == "send":
        return _send(outputs, args)
    if args.command == "receipts":
        return receipts.show(outputs, args.session_nos, as_json=args.json, reveal=args.reveal)
    if args.command == "policy":
        return _policy(outputs, args)
    if args.command == "optout":
        return _optout(outputs, args)
    if args.command == "events":
        return events.run(outputs, args)
    return _dlq(outputs, args)


def _dlq(outputs: Outputs, args: argparse.Namespace) -> int:
    if args.dlq_command == "list":
        return dlq.list_command(outputs, args.max, json_output=args.json)
    if args.dlq_command == "show":
        return dlq.show_command(outputs, args.message_id, reveal=args.reveal)
    if args.dlq_command == "purge":
        selection = dlq_purge.Selection(args.code, args.older_than)
        return dlq_purge.purge_command(outputs, selection, yes=args.yes)
    return redrive.redrive_command(
        outputs,
        args.max,
        resend_unknown=args.resend_unknown,
        include=frozenset(args.include),
    )


def _send(outputs: Outputs, args: argparse.Namespace) -> int:
    if args.csv is None:
        message = send.build_message(
            args.to, args.template, args.param, args.sender_id, args.user_id
        )
        return send.send(outputs, message, args.via, args.key)
    if args.param or args.key:
        raise CliError(
            "--csv takes its parameters from the file's columns and makes its own keys: "
            "leave out --param and --key",
            SETUP_ERROR,
        )
    options = csv_send.Options(args.template, args.sender_id, args.user_id)
    return csv_send.run(outputs, args.csv, options, args.via)


def _policy(outputs: Outputs, args: argparse.Namespace) -> int:
    if args.policy_command == "show":
        return policy.show(outputs)
    if args.policy_command == "set":
        return policy.set_from_file(outputs, args.file)
    if args.policy_command == "block":
        return policy.block(outputs, args.countries)
    return policy.allow(outputs, args.countries)


def _optout(outputs: Outputs, args: argparse.Namespace) -> int:
    if args.optout_command == "add":
        return optout.add(outputs, args.numbers)
    if args.optout_command == "remove":
        return optout.remove(outputs, args.number)
    if args.optout_command == "check":
        return optout.check(outputs, args.number)
    return optout.list_numbers(outputs, all_pages=args.all, limit=args.limit, next_token=args.next)


def _outputs(args: argparse.Namespace) -> Outputs:
    return load(local=args.local, path=args.outputs)


if __name__ == "__main__":
    raise SystemExit(main())
