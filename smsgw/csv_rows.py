"""Reading a recipients file for `smsgw send --csv`: its header, its rows as `Recipients`
entries, the rows grouped into messages, and each message's idempotency key.

The file: UTF-8 (a spreadsheet's byte-order mark is fine), comma-separated, a header row
first. The column `PhoneNumber` holds the number; `UserId` and `ExtendCode`, when present,
are the recipient's own; every other column is a template parameter, in column order.
Rows are numbered as a spreadsheet shows them: the header is row 1. Nothing here ever puts
a cell's value in an error: cells are phone numbers and one-time codes.

The file is read as a stream, one message's rows at a time, so its size does not matter.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import json
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Final, TextIO

from smsgw.errors import FAILED, CliError

PHONE_COLUMN: Final = "PhoneNumber"
USER_ID_COLUMN: Final = "UserId"
EXTEND_CODE_COLUMN: Final = "ExtendCode"
RECIPIENT_COLUMNS: Final = (PHONE_COLUMN, USER_ID_COLUMN, EXTEND_CODE_COLUMN)
# One message a provider call: SendBatchUSMSMessage takes 1,000 targets, so a message of
# 1,000 recipients is one call and one idempotency record, sent or not as a whole.
GROUP_SIZE: Final = 1_000
# SNS takes a message of at most 256 KiB (SQS the same by default): a group also closes
# before its recipients' JSON passes this, leaving room for the message's other fields.
GROUP_BYTES: Final = 240 * 1024
# Keys name what was sent: the same rows, template and sender give the same key, so a second
# run (after a crash, or by mistake) is an idempotent replay at the gateway. Versioned, so a
# change of this recipe cannot collide with keys made by the old one.
KEY_PREFIX: Final = "csv1-"
_KEY_BYTES: Final = 20  # 160 bits: no two different messages share a key
_LETTERS = re.compile(r"[^a-z]")
_RECIPIENT_FIELD = re.compile(r"^Recipients\[(\d+)\](?:\.(.+))?$")


@dataclass(frozen=True)
class Columns:
    """What each column of the header is."""

    names: tuple[str, ...]
    phone: int
    user_id: int | None
    extend_code: int | None
    params: tuple[int, ...]

    @classmethod
    def from_header(cls, header: Sequence[str]) -> Columns:
        """Read a header row; `CliError` when it is not a usable one (names no cell)."""
        names = tuple(name.strip() for name in header)
        _check_names(names)
        index = {name: i for i, name in enumerate(names)}
        return cls(
            names=names,
            phone=index[PHONE_COLUMN],
            user_id=index.get(USER_ID_COLUMN),
            extend_code=index.get(EXTEND_CODE_COLUMN),
            params=tuple(i for i, name in enumerate(names) if name not in RECIPIENT_COLUMNS),
        )

    def recipient(self, cells: Sequence[str]) -> dict[str, Any]:
        """One row as a `Recipients` entry; empty UserId and ExtendCode cells are absent."""
        entry: dict[str, Any] = {PHONE_COLUMN: cells[self.phone]}
        if self.params:
            entry["TemplateParams"] = [cells[i] for i in self.params]
        for name, at in ((USER_ID_COLUMN, self.user_id), (EXTEND_CODE_COLUMN, self.extend_code)):
            if at is not None and cells[at].strip():
                entry[name] = cells[at]
        return entry

    def column_of(self, field: str) -> str:
        """The column a recipient's field comes from: `TemplateParams[1]` → its column."""
        if field.startswith("TemplateParams["):
            position = int(field[len("TemplateParams[") :].split("]")[0])
            return self.names[self.params[position]] if position < len(self.params) else field
        return field


def _check_names(names: tuple[str, ...]) -> None:
    """The header's rules. Names are shown only by position: when the first row is data
    rather than a header, its cells are a number and a code."""
    if PHONE_COLUMN not in names:
        raise CliError(
            f"the first row must be a header naming the columns, one of them {PHONE_COLUMN} "
            "(then UserId and ExtendCode if wanted, and one column per template parameter); "
            f"this one has no {PHONE_COLUMN} column" + _lookalike_hint(names),
            FAILED,
        )
    for position, name in enumerate(names, start=1):
        if not name:
            raise CliError(f"header: column {position} has no name", FAILED)
        if names.index(name) != position - 1:
            raise CliError(f"header: column {position} repeats the name of an earlier one", FAILED)
    hint = _lookalike_hint(names)
    if hint:
        raise CliError("header:" + hint.removeprefix(";"), FAILED)


def _lookalike_hint(names: tuple[str, ...]) -> str:
    """A column named almost like a recipient's field (`userid`, `Phone Number`) would be
    taken for a template parameter and its values sent in the text: refuse it by name."""
    for position, name in enumerate(names, start=1):
        folded = _LETTERS.sub("", name.casefold())
        for field in RECIPIENT_COLUMNS:
            if name != field and folded == field.casefold():
                return f"; column {position} is named like {field}: write it {field} exactly"
    return ""


@dataclass(frozen=True)
class Group:
    """Rows that go as one message: each recipient and its row's number."""

    rows: list[int]
    recipients: list[dict[str, Any]]


@dataclass
class RowsFile:
    """One pass over a recipients file."""

    columns: Columns
    rows: Iterator[tuple[int, list[str]]]

    @classmethod
    def open(cls, stream: TextIO) -> RowsFile:
        """Read the header; the rows follow as they are iterated."""
        reader = csv.reader(stream)
        try:
            header = next(reader)
        except StopIteration:
            raise CliError(
                "the file is empty: it needs a header row and a row per recipient"
            ) from None
        except csv.Error as error:
            raise CliError(f"row 1: not CSV ({error})") from None
        return cls(Columns.from_header(header), _numbered(reader))

    def groups(self, size: int = GROUP_SIZE) -> Iterator[Group | RowError]:
        """Each message's rows, in order (at most `size` rows and about GROUP_BYTES of
        JSON), and a `RowError` for each row of the wrong shape, in its place: the rows
        around it still make their messages."""
        numbers: list[int] = []
        batch: list[dict[str, Any]] = []
        room = GROUP_BYTES
        for number, cells in self.rows:
            if len(cells) != len(self.columns.names):
                yield RowError(
                    number,
                    None,
                    f"has {len(cells)} cells, the header has {len(self.columns.names)}",
                )
                continue
            recipient = self.columns.recipient(cells)
            weight = len(json.dumps(recipient, ensure_ascii=False).encode()) + 2
            if batch and weight > room:
                yield Group(numbers, batch)
                numbers, batch, room = [], [], GROUP_BYTES
            numbers.append(number)
            batch.append(recipient)
            room -= weight
            if len(batch) == size:
                yield Group(numbers, batch)
                numbers, batch, room = [], [], GROUP_BYTES
        if batch:
            yield Group(numbers, batch)


def _numbered(reader: Iterable[list[str]]) -> Iterator[tuple[int, list[str]]]:
    """Data rows with their spreadsheet number (the header is 1); blank rows are skipped
    (spreadsheets end files with them)."""
    number = 1
    try:
        for cells in reader:
            number += 1
            if any(cell.strip() for cell in cells):
                yield number, cells
    except csv.Error as error:
        raise CliError(f"row {number + 1}: not CSV ({error})") from None


@dataclass(frozen=True)
class RowError:
    """One broken rule, by row and column (`column` None: the row as a whole; `row` None:
    an option of the command line, named in `column`)."""

    row: int | None
    column: str | None
    message: str

    def __str__(self) -> str:
        if self.row is None:
            return f"{self.column}: {self.message}"
        where = f"row {self.row}" + (f", column {self.column}" if self.column else "")
        return f"{where}: {self.message}"


# The message's own fields come from the command line, not from the file.
_OPTIONS: Final = {"TemplateId": "--template", "SenderId": "--sender-id", "UserId": "--user-id"}


def message_of(
    group: Group, template_id: str, sender_id: str | None, user_id: str | None
) -> dict[str, Any]:
    """The message for a group of rows, with its idempotency key."""
    message: dict[str, Any] = {"Recipients": group.recipients, "TemplateId": template_id}
    if sender_id:
        message["SenderId"] = sender_id
    if user_id:
        message["UserId"] = user_id
    message["IdempotencyKey"] = idempotency_key(message)
    return message


def idempotency_key(message: dict[str, Any]) -> str:
    """A key derived from what the message says (not from the file's name or place): a
    digest of its canonical JSON. The gateway stores only an HMAC of a key under its own
    secret, so the digest itself is never kept."""
    content = {name: value for name, value in message.items() if name != "IdempotencyKey"}
    canonical = json.dumps(content, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    digest = hashlib.sha256(canonical.encode()).digest()[:_KEY_BYTES]
    # Base32 letters, not hex: `dlq list` masks runs of 7 digits (they may be numbers).
    return KEY_PREFIX + base64.b32encode(digest).decode().rstrip("=").lower()


def row_errors(group: Group, columns: Columns, field_errors: Iterable[Any]) -> list[RowError]:
    """The model's errors about a group's message, by row and column. Errors about the
    message as a whole (`TemplateId`, `SenderId`) name the option they came from."""
    found: list[RowError] = []
    for error in field_errors:
        match = _RECIPIENT_FIELD.match(error.field)
        if match is None:
            found.append(RowError(None, _OPTIONS.get(error.field, error.field), error.message))
            continue
        row = group.rows[int(match.group(1))]
        column = columns.column_of(match.group(2)) if match.group(2) else None
        found.append(RowError(row, column, error.message))
    return found
