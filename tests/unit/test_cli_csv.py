"""`smsgw send --csv FILE`: the header's rules, every row checked with the gateway's model
before anything is sent (errors by row and column, never a value), parameters in column
order, messages of at most 1,000 recipients, and keys that make a second run send nothing
twice."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import boto3
import pytest

from smsgw import csv_send
from smsgw.cli import main
from smsgw.csv_rows import GROUP_SIZE, KEY_PREFIX, RowsFile
from smsgw.csv_send import Options, send_file
from smsgw.doors import Outcome, Sink
from smsgw.errors import CliError
from tests.unit.test_cli_harness import API_KEY, FakeApi, Stack, write_outputs

CODE = "739201"


def number(index: int) -> str:
    """A distinct valid mainland mobile number per index."""
    return f"+86138{index:08d}"


def write_csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def recipients_file(path: Path, count: int) -> Path:
    return write_csv(
        path,
        ["PhoneNumber", "Code"],
        [[number(i), f"{i % 10**6:06d}"] for i in range(count)],
    )


def _send(outputs: str, path: Path, *extra: str) -> int:
    return main(["--outputs", outputs, "send", "--csv", str(path), "--template", "UTA1", *extra])


def _queued(stack: Stack) -> list[dict[str, Any]]:
    return [json.loads(m["Body"]) for m in stack.drain(stack.queue_url)]


# The header.


@pytest.mark.parametrize(
    ("header", "error"),
    [
        (["+8613800138000", CODE], "the first row must be a header naming the columns"),
        (["Phone", "Code"], "this one has no PhoneNumber column"),
        (
            ["phone_number", "Code"],
            "column 1 is named like PhoneNumber: write it PhoneNumber exactly",
        ),
        (["PhoneNumber", "userid"], "column 2 is named like UserId: write it UserId exactly"),
        (["PhoneNumber", "Extend Code"], "column 2 is named like ExtendCode"),
        (["PhoneNumber", "Code", "Code"], "column 3 repeats the name of an earlier one"),
        (["PhoneNumber", "", "Code"], "column 2 has no name"),
    ],
)
def test_a_header_that_is_missing_or_wrong_is_refused(
    header: list[str],
    error: str,
    stack: Stack,
    outputs: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = write_csv(tmp_path / "r.csv", header, [[number(1), CODE, "x"][: len(header)]])

    assert _send(outputs, path) == 1

    err = capsys.readouterr().err
    assert error in err
    assert "138000" not in err  # a data row taken for a header is not echoed
    assert CODE not in err
    assert _queued(stack) == []


def test_an_empty_file_is_refused(outputs: str, tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_text("", encoding="utf-8")

    assert _send(outputs, path) == 1


def test_a_header_without_rows_sends_nothing(
    stack: Stack, outputs: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_csv(tmp_path / "r.csv", ["PhoneNumber"], [])

    assert _send(outputs, path) == 1
    assert "the file has a header and no rows" in capsys.readouterr().err


# The rows.


def test_bad_rows_are_named_by_row_and_column_and_nothing_is_sent(
    stack: Stack, outputs: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = [[number(i), CODE, f"user-{i}", ""] for i in range(1_500)]
    rows[2][0] = "+86123"  # row 4 (the header is row 1)
    rows[1_200][2] = "it's"  # row 1,202: a quote in a UserId
    rows[1_300][3] = "12a"  # row 1,302: ExtendCode not digits
    rows[1_400] = [number(1_400), CODE]  # row 1,402: a cell short
    path = write_csv(tmp_path / "r.csv", ["PhoneNumber", "Code", "UserId", "ExtendCode"], rows)

    assert _send(outputs, path, "--via", "sqs") == 1

    err = capsys.readouterr().err
    assert "nothing sent: 4 problems:" in err
    assert "row 4, column PhoneNumber: is too short to be a phone number of its country" in err
    assert "row 1202, column UserId: must not contain single or double quotes" in err
    assert "row 1302, column ExtendCode: must be ASCII digits (0-9) only" in err
    assert "row 1402: has 2 cells, the header has 4" in err
    assert "+86123" not in err
    assert "it's" not in err
    assert "12a" not in err
    assert _queued(stack) == []


def test_a_bad_parameter_names_its_column(outputs: str, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "r.csv", ["PhoneNumber", "Name", "Code"], [[number(1), "A", CODE]])

    with pytest.raises(CliError) as refused:
        csv_send.check_file(path, Options(" "))

    assert "--template: must not be empty or whitespace only" in refused.value.message
    assert "1 problem:" in refused.value.message  # once, not once per message


def test_parameters_go_in_column_order_and_recipient_columns_are_their_own(
    stack: Stack, outputs: str, tmp_path: Path
) -> None:
    path = write_csv(
        tmp_path / "r.csv",
        ["Name", "PhoneNumber", "Code", "UserId", "City", "ExtendCode"],
        [
            ["Ann", number(1), "0123", "u-1", "Oslo", "42"],
            ["Bo", number(2), "004", "", "Rome", ""],
        ],
    )

    assert _send(outputs, path, "--via", "sqs", "--sender-id", "Acme") == 0

    [message] = _queued(stack)
    assert message["Recipients"] == [
        {
            "PhoneNumber": number(1),
            "TemplateParams": ["Ann", "0123", "Oslo"],
            "UserId": "u-1",
            "ExtendCode": "42",
        },
        {"PhoneNumber": number(2), "TemplateParams": ["Bo", "004", "Rome"]},
    ]
    assert message["TemplateId"] == "UTA1"
    assert message["SenderId"] == "Acme"
    assert message["IdempotencyKey"].startswith(KEY_PREFIX)


def test_blank_rows_are_skipped_and_rows_keep_their_numbers(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    path.write_text(
        f"\ufeffPhoneNumber,Code\n{number(1)},1\n,\n\n+86123,2\n", encoding="utf-8"
    )  # a spreadsheet's byte-order mark, and its empty rows

    with pytest.raises(CliError) as refused:
        csv_send.check_file(path, Options("T"))

    assert "row 5, column PhoneNumber" in refused.value.message


# Messages and keys.


def test_2500_rows_go_as_three_messages_of_at_most_1000(
    stack: Stack, outputs: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = recipients_file(tmp_path / "r.csv", 2_500)

    assert _send(outputs, path, "--via", "sqs") == 0

    messages = _queued(stack)
    assert [len(m["Recipients"]) for m in messages] == [1_000, 1_000, 500]
    assert [r["PhoneNumber"] for m in messages for r in m["Recipients"]] == [
        number(i) for i in range(2_500)
    ]
    assert len({m["IdempotencyKey"] for m in messages}) == 3
    out, err = capsys.readouterr()
    assert "2,500 rows in 3 message(s) sent to the queue" in out
    assert "sending: 1000/2500" in err  # not a terminal: a line per 100
    assert "138000" not in out + err


def test_long_rows_make_smaller_messages_that_sns_takes(
    stack: Stack, outputs: str, tmp_path: Path
) -> None:
    # 1,000 rows of 400 characters each: one message would be about 430 KB, past SNS's
    # 256 KiB. Split by size, every message goes through the topic.
    path = write_csv(
        tmp_path / "r.csv",
        ["PhoneNumber", "Text"],
        [[number(i), "x" * 400] for i in range(1_000)],
    )

    assert _send(outputs, path, "--via", "sns") == 0

    messages = [m["Body"] for m in stack.drain(stack.queue_url)]
    assert len(messages) == 2
    assert all(len(body.encode()) <= 256 * 1024 for body in messages)
    assert sum(len(json.loads(body)["Recipients"]) for body in messages) == 1_000


class Gateway:
    """The gateway's idempotency as far as this test needs it: a key sends once."""

    def __init__(self) -> None:
        self.sent: dict[str, int] = {}
        self.calls = 0

    def sink(self, crash_on_call: int | None = None) -> Sink:
        def accept(message: dict[str, Any], key: str | None) -> Outcome:
            self.calls += 1
            if self.calls == crash_on_call:
                raise KeyboardInterrupt  # the run dies here, as with Ctrl-C
            replay = message["IdempotencyKey"] in self.sent
            self.sent.setdefault(message["IdempotencyKey"], len(message["Recipients"]))
            return Outcome(True, status=200, body={"IdempotentReplay": replay})

        return accept


def test_2500_rows_are_sent_once_over_two_runs(tmp_path: Path) -> None:
    path = recipients_file(tmp_path / "r.csv", 2_500)
    gateway = Gateway()

    with pytest.raises(KeyboardInterrupt):
        send_file(path, Options("UTA1"), lambda: gateway.sink(crash_on_call=3), io.StringIO())
    assert sum(gateway.sent.values()) == 2_000  # two messages out, then the crash

    second = send_file(path, Options("UTA1"), gateway.sink, io.StringIO())

    assert sum(gateway.sent.values()) == 2_500  # the rest, and nothing twice
    assert len(gateway.sent) == 3
    assert (second.messages, second.replayed) == (3, 2)


def test_a_second_run_hands_the_gateway_the_same_keys(
    stack: Stack, outputs: str, tmp_path: Path
) -> None:
    path = recipients_file(tmp_path / "r.csv", 2_500)
    copy = tmp_path / "elsewhere" / "renamed.csv"
    copy.parent.mkdir()
    copy.write_bytes(path.read_bytes())

    assert _send(outputs, path, "--via", "sqs") == 0
    first = [m["IdempotencyKey"] for m in _queued(stack)]
    assert _send(outputs, copy, "--via", "sns") == 0  # another name, another door
    second = [m["IdempotencyKey"] for m in _queued(stack)]

    assert first == second
    assert len(set(first)) == 3


def test_a_key_changes_with_what_the_message_says(tmp_path: Path) -> None:
    path = recipients_file(tmp_path / "r.csv", 3)
    other_row = write_csv(
        tmp_path / "o.csv",
        ["PhoneNumber", "Code"],
        [[number(i), f"{i % 10**6:06d}" if i != 2 else "999999"] for i in range(3)],
    )
    gateway = Gateway()

    for file, options in [
        (path, Options("UTA1")),
        (path, Options("UTA1")),
        (path, Options("UTA2")),
        (path, Options("UTA1", sender_id="Acme")),
        (other_row, Options("UTA1")),
    ]:
        send_file(file, options, gateway.sink, io.StringIO())

    assert len(gateway.sent) == 4


def test_the_file_is_read_one_message_at_a_time() -> None:
    def lines() -> Iterator[str]:
        yield "PhoneNumber,Code\n"
        for index in range(GROUP_SIZE):
            yield f"{number(index)},1\n"
        raise AssertionError("read past the first message's rows before it was handed on")

    groups = RowsFile.open(cast(io.StringIO, lines())).groups()

    first = next(groups)
    assert len(getattr(first, "recipients", [])) == GROUP_SIZE


def test_a_file_changed_while_it_is_sent_stops_the_run(tmp_path: Path) -> None:
    path = recipients_file(tmp_path / "r.csv", 1_500)
    gateway = Gateway()
    inner = gateway.sink()

    def rewriting(message: dict[str, Any], key: str | None) -> Outcome:
        recipients_file(path, 1_600)  # someone saves the file again, with more rows
        return inner(message, key)

    with pytest.raises(CliError, match="changed since it was checked"):
        send_file(path, Options("UTA1"), lambda: rewriting, io.StringIO())

    assert len(gateway.sent) == 1  # the first message only: it was the one checked


# Through the API.


@pytest.fixture
def api_outputs(stack: Stack, api: FakeApi, tmp_path: Path) -> str:
    key_id = boto3.client("apigateway").create_api_key(name="k", value=API_KEY, enabled=True)["id"]
    return str(write_outputs(tmp_path / "api", stack.outputs(ApiUrl=api.url, ApiKeyId=key_id)))


def test_messages_the_api_refuses_are_listed_and_the_rest_still_sent(
    api: FakeApi, api_outputs: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    api.answer(
        "POST",
        "/messages",
        422,
        {"Error": {"Code": "PolicyRefused", "Message": "(86)13800000001 opted_out"}},
    )
    path = recipients_file(tmp_path / "r.csv", 1_500)

    assert _send(api_outputs, path, "--via", "api") == 1

    assert len(api.requests) == 2
    err = capsys.readouterr().err
    assert "rows 2–1001: refused: HTTP 422 PolicyRefused: (86)*******0001 opted_out" in err
    assert "rows 1002–1501: refused" in err


def test_an_unavailable_api_stops_the_run_and_says_to_run_it_again(
    api: FakeApi, api_outputs: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    api.answer("POST", "/messages", 503, {"Error": {"Code": "ProviderUnavailable", "Message": "x"}})
    path = recipients_file(tmp_path / "r.csv", 1_500)

    assert _send(api_outputs, path, "--via", "api") == 1

    assert len(api.requests) == 1
    err = capsys.readouterr().err
    assert "sent 0 of 2 messages, then the API answered HTTP 503 ProviderUnavailable" in err
    assert "run the same command again" in err


def test_api_posts_carry_the_key_in_the_body(
    api: FakeApi, api_outputs: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    api.answer("POST", "/messages", 200, {"SessionNos": ["S"], "IdempotentReplay": True})
    path = recipients_file(tmp_path / "r.csv", 10)

    assert _send(api_outputs, path, "--via", "api") == 0

    [request] = api.requests
    assert json.loads(request.body)["IdempotencyKey"].startswith(KEY_PREFIX)
    assert "1 had been sent before (nothing sent again)" in capsys.readouterr().out


@pytest.mark.parametrize("extra", [["--param", "1"], ["--key", "k"]])
def test_csv_takes_neither_params_nor_a_key(extra: list[str], outputs: str, tmp_path: Path) -> None:
    path = recipients_file(tmp_path / "r.csv", 1)

    assert _send(outputs, path, *extra) == 2


def test_to_and_csv_exclude_each_other(outputs: str, tmp_path: Path) -> None:
    path = recipients_file(tmp_path / "r.csv", 1)

    with pytest.raises(SystemExit) as stopped:
        _send(outputs, path, "--to", number(1))
    assert stopped.value.code == 2
