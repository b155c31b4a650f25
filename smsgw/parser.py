"""The `smsgw` command line's grammar: every command, its options and their help (the
commands themselves are run by `smsgw.cli`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from sms_gateway.contract import ERROR_CODES
from smsgw import dlq_kinds, dlq_purge, events, optout
from smsgw.doors import DOORS, VIA_SNS
from smsgw.subcommands import Subcommands, positive_int, stack_options


def _age(text: str) -> int:
    try:
        return dlq_purge.parse_age(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _page_size(text: str) -> int:
    value = positive_int(text)
    if value > optout.MAX_PAGE:
        raise argparse.ArgumentTypeError(f"must be at most {optout.MAX_PAGE}, not {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The whole command line."""
    parser = argparse.ArgumentParser(
        prog="smsgw",
        description="Send SMS through the gateway, read delivery receipts, manage the "
        "dead-letter queue, the traffic policy and the opt-out list, watch delivery events, run "
        "the gateway locally.",
        parents=[stack_options(defaults=True)],
    )
    commands = Subcommands.of(parser)

    _add_send_command(commands)

    receipt = commands.add(
        "receipts",
        "delivery receipts of SessionNos",
        "Delivery receipts (phones masked). They arrive minutes after sending. "
        "Exit 1 when the provider knows none of a SessionNo.",
    )
    receipt.add_argument("session_nos", nargs="+", metavar="SESSIONNO")
    receipt.add_argument(
        "--json", action="store_true", help="print the API's JSON answer (phones masked)"
    )
    receipt.add_argument("--reveal", action="store_true", help="with --json: the phones in full")

    _add_dlq_commands(commands)
    _add_policy_commands(commands)
    _add_optout_commands(commands)
    events.add_commands(commands)

    commands.add_plain(
        "local",
        "run the gateway on this machine (other arguments go to it)",
        "Run `python -m local_gateway` with the arguments that follow.",
        # -h/--help go to the gateway too: its help lists the options `smsgw local` takes.
        add_help=False,
    )
    return parser


def _add_send_command(commands: Subcommands) -> None:
    """`send --to NUMBER… | --csv FILE`."""
    sending = commands.add(
        "send",
        "send a message, or one per row of a CSV file",
        "Send one message, or one SMS per row of a CSV file. Either is checked "
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


def _add_dlq_commands(commands: Subcommands) -> None:
    """`dlq list|show|purge|redrive`."""
    actions = commands.add_group(
        "dlq",
        "the dead-letter queue: list, show, purge or redrive",
        "The dead-letter queue: what the gateway parked, and why.",
    )
    listing = actions.add(
        "list",
        "show what waits, and why (without consuming it)",
        "Show the parked messages by the MessageId their producer got, with "
        "their key, UserId, ErrorCode and reason, and what to do about each kind (numbers "
        "never shown).",
    )
    listing.add_argument("--max", type=positive_int, metavar="N", help="show at most N")
    listing.add_argument("--json", action="store_true", help="print JSON")
    showing = actions.add(
        "show",
        "one parked message in full (numbers masked)",
        "Print one parked message: its reason, attributes and body, with phone "
        "numbers masked and template parameters hidden unless --reveal. Exit 1 when no "
        "parked message has that MessageId.",
    )
    showing.add_argument("message_id", metavar="ID", help="its MessageId, as `dlq list` shows it")
    showing.add_argument(
        "--reveal", action="store_true", help="the body as parked: numbers and parameters in full"
    )
    purging = actions.add(
        "purge",
        "delete parked messages for good (asks first)",
        "Delete parked messages for good: all, or those of one ErrorCode and/or "
        "parked at least D ago. Says how many of which kind and asks first, unless --yes.",
    )
    purging.add_argument("--code", choices=sorted(ERROR_CODES), metavar="CODE", help="ErrorCode")
    purging.add_argument(
        "--older-than", type=_age, metavar="D", help="parked at least this long ago: 30m, 2h, 7d"
    )
    purging.add_argument("--yes", action="store_true", help="do not ask")
    _add_redrive_command(actions)


def _add_redrive_command(actions: Subcommands) -> None:
    """`dlq redrive`."""
    redrive = actions.add(
        "redrive",
        "send parked messages back to the queue",
        "Move parked messages back to the queue, without the gateway's reason "
        "attributes, so the gateway tries them again. Left where they are, and counted: "
        f"{', '.join(dlq_kinds.NEVER_SUCCEED)} (they fail the same way again; --include "
        "one to move it anyway) and ProviderOutcomeUnknown (--resend-unknown).",
    )
    redrive.add_argument("--max", type=positive_int, metavar="N", help="move at most N")
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


def _add_policy_commands(commands: Subcommands) -> None:
    """`policy show|set|block|allow`."""
    actions = commands.add_group(
        "policy",
        "the traffic policy: show it, set it, block or allow countries",
        "The traffic policy (countries, rate limits, caps, expiry) in its SSM "
        "parameter (output PolicyParameterName). Every change is checked with the gateway's "
        "own rules before it is written, and printed as a diff; the gateway uses it within "
        "a minute.",
    )
    actions.add(
        "show",
        "print the policy as JSON",
        "Print the policy as JSON. Exit 1 (after printing it) when the gateway would not use it.",
    )
    setting = actions.add(
        "set",
        "replace the policy with a JSON document",
        "Replace the policy with the document in FILE. A document the gateway "
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
        action = actions.add(name, what, what[0].upper() + what[1:] + ".")
        action.add_argument(
            "countries",
            nargs="+",
            metavar="CC",
            help="ISO 3166-1 alpha-2 region codes as libphonenumber assigns them (RU, US, "
            "CA: US and CA apart), or * for every country",
        )


def _add_optout_commands(commands: Subcommands) -> None:
    """`optout add|remove|check|list`."""
    actions = commands.add_group(
        "optout",
        "the opt-out list: numbers never to text",
        "The opt-out list, through the gateway's API: numbers that are never "
        "texted. Any accepted form of a number works (+86…, 0086…, (86)…, national).",
    )
    adding = actions.add(
        "add",
        "opt numbers out",
        "Opt numbers out (adding one twice changes nothing).",
    )
    adding.add_argument("numbers", nargs="+", metavar="NUMBER", help="several, or comma-separated")
    removing = actions.add(
        "remove",
        "opt a number back in",
        "Opt a number back in. Exit 1 when it was not opted out.",
    )
    removing.add_argument("number", metavar="NUMBER")
    checking = actions.add(
        "check",
        "whether a number is opted out",
        "Whether a number is opted out: exit 0 when it is, 1 when it is not.",
    )
    checking.add_argument("number", metavar="NUMBER")
    listing = actions.add(
        "list",
        "print the opted-out numbers",
        "Print the opted-out numbers, one a line (in full: that is the list's "
        "purpose): one page, or every page with --all.",
    )
    listing.add_argument("--all", action="store_true", help="every page, not just the first")
    listing.add_argument(
        "--limit", type=_page_size, metavar="N", help="numbers a page (1 to 1000; default 100)"
    )
    listing.add_argument("--next", metavar="TOKEN", help="start at this page (as printed)")
