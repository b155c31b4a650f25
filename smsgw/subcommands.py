"""How `smsgw` adds its sub-commands, and the argument types they share.

Every sub-command that talks to a gateway takes `--local`/`--outputs` after its name as
well as before it (`smsgw dlq list --local` reads like `smsgw --local dlq list`), so each
one is added with those options: `Subcommands.add` does that in one place.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def stack_options(defaults: bool) -> argparse.ArgumentParser:
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


class Subcommands:
    """The sub-commands of one parser: `smsgw COMMAND`, or a command's `ACTION`s.

    The chosen one's name lands in the namespace under `dest` (`command` at the top,
    `<command>_command` below it, e.g. `dlq_command`).
    """

    def __init__(
        self,
        parser: argparse.ArgumentParser,
        *,
        dest: str,
        metavar: str,
        after: argparse.ArgumentParser,
    ) -> None:
        self._parsers = parser.add_subparsers(dest=dest, required=True, metavar=metavar)
        self._after = after

    @classmethod
    def of(cls, parser: argparse.ArgumentParser) -> Subcommands:
        """The top-level commands of `parser`."""
        return cls(parser, dest="command", metavar="COMMAND", after=stack_options(defaults=False))

    def add(self, name: str, summary: str, description: str) -> argparse.ArgumentParser:
        """A sub-command that talks to a gateway: `--local`/`--outputs` work after it too.
        `summary` is its line in the parent's list, `description` the top of its --help."""
        return self._parsers.add_parser(
            name, parents=[self._after], help=summary, description=description
        )

    def add_group(self, name: str, summary: str, description: str) -> Subcommands:
        """A command made of actions (`smsgw NAME ACTION …`), each added with `add`."""
        parser = self._parsers.add_parser(name, help=summary, description=description)
        return Subcommands(parser, dest=f"{name}_command", metavar="ACTION", after=self._after)

    def add_plain(self, name: str, summary: str, description: str, **options: Any) -> None:
        """A sub-command that reads no outputs, with argparse's own `options`."""
        self._parsers.add_parser(name, help=summary, description=description, **options)


def positive_int(text: str) -> int:
    """An argument type: a whole number, 1 or more."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, not {value}")
    return value


def positive_float(text: str) -> float:
    """An argument type: a number more than 0."""
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be more than 0, not {text}")
    return value
