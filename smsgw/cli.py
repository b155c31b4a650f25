"""The `smsgw` command line: runs the command `smsgw.parser` parsed, one function each.

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

from smsgw import (
    csv_send,
    dlq,
    dlq_purge,
    events,
    local,
    optout,
    policy,
    receipts,
    redrive,
    send,
)
from smsgw.errors import SETUP_ERROR, CliError
from smsgw.outputs import Outputs, load
from smsgw.parser import build_parser

# 128 + SIGINT, as a shell reports a command stopped with Ctrl-C.
INTERRUPTED = 130


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
