"""The `smsgw` command line: argparse, and one function per command.

    smsgw [--local] [--outputs PATH] send --to NUMBER… --template ID [--param P…] …
    smsgw [--local] [--outputs PATH] receipts SESSIONNO… [--json]
    smsgw [--local] [--outputs PATH] dlq list [--max N] [--json]
    smsgw [--local] [--outputs PATH] dlq redrive [--max N] [--resend-unknown]
    smsgw [--local] [--outputs PATH] policy show|set FILE|block CC…|allow CC…
    smsgw [--local] [--outputs PATH] optout add NUMBER…|remove NUMBER|check NUMBER|list [--all]
    smsgw local [ARGS…]

Exit codes: 0 done; 1 the gateway, the API or AWS refused (`policy set`: the document is
not a valid policy; `optout check`: the number is not opted out; `optout remove`: it was
not); 2 the command line or the setup is wrong (no outputs file, stack not deployed, no
credentials).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from smsgw import dlq, local, optout, policy, receipts, send
from smsgw.errors import CliError
from smsgw.outputs import Outputs, load

# 128 + SIGINT, as a shell reports a command stopped with Ctrl-C.
INTERRUPTED = 130


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, not {value}")
    return value


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
        "dead-letter queue, the traffic policy and the opt-out list, run the gateway locally.",
        parents=[_stack_options(defaults=True)],
    )
    after = [_stack_options(defaults=False)]
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    sending = commands.add_parser(
        "send", parents=after, help="send one message", description="Send one message."
    )
    sending.add_argument(
        "--to",
        nargs="+",
        action="extend",
        required=True,
        metavar="NUMBER",
        help="phone numbers, e.g. +8613800138000 (several, or comma-separated)",
    )
    sending.add_argument("--template", required=True, metavar="ID", help="the TemplateId")
    sending.add_argument(
        "--param",
        nargs="+",
        action="extend",
        default=[],
        metavar="P",
        help="template parameters, in order (sent as typed, as strings)",
    )
    sending.add_argument("--sender-id", metavar="S", help="SenderId (at most 11 characters)")
    sending.add_argument("--user-id", metavar="U", help="UserId, echoed in receipts")
    sending.add_argument(
        "--via",
        choices=send.DOORS,
        default=send.VIA_SNS,
        help="which door: the SNS topic (default), the SQS queue, or the API",
    )
    sending.add_argument(
        "--key",
        metavar="IDEMPOTENCY_KEY",
        help="idempotency key: the same key again within 24 h sends nothing",
    )

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

    dlq_parser = commands.add_parser(
        "dlq", help="the dead-letter queue: list or redrive", description="The dead-letter queue."
    )
    dlq_commands = dlq_parser.add_subparsers(dest="dlq_command", required=True, metavar="ACTION")
    listing = dlq_commands.add_parser(
        "list",
        parents=after,
        help="show what waits, and why (without consuming it)",
        description="Show the parked messages and why (numbers never shown).",
    )
    listing.add_argument("--max", type=_positive, metavar="N", help="show at most N")
    listing.add_argument("--json", action="store_true", help="print JSON")
    redrive = dlq_commands.add_parser(
        "redrive",
        parents=after,
        help="send every parked message back to the queue",
        description="Move parked messages back to the queue, without the gateway's reason "
        "attributes, so the gateway tries them again.",
    )
    redrive.add_argument("--max", type=_positive, metavar="N", help="move at most N")
    redrive.add_argument(
        "--resend-unknown",
        action="store_true",
        help="also messages whose outcome is unknown (the provider may have sent them), "
        "under a new idempotency key: only once you checked they were not sent",
    )

    _add_policy_commands(commands, after)
    _add_optout_commands(commands, after)

    commands.add_parser(
        "local",
        help="run the gateway on this machine (other arguments go to it)",
        description="Run `python -m local_gateway` with the arguments that follow.",
        # -h/--help go to the gateway too: its help lists the options `smsgw local` takes.
        add_help=False,
    )
    return parser


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
        message = send.build_message(
            args.to, args.template, args.param, args.sender_id, args.user_id
        )
        return send.send(outputs, message, args.via, args.key)
    if args.command == "receipts":
        return receipts.show(outputs, args.session_nos, as_json=args.json, reveal=args.reveal)
    if args.command == "policy":
        return _policy(outputs, args)
    if args.command == "optout":
        return _optout(outputs, args)
    if args.dlq_command == "list":
        return dlq.list_command(outputs, args.max, json_output=args.json)
    return dlq.redrive_command(outputs, args.max, resend_unknown=args.resend_unknown)


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
