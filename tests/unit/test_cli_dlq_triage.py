"""Triage of the dead-letter queue: `dlq list` by the producer's MessageId with the key,
UserId and reason; `dlq show` (numbers masked, parameters hidden unless `--reveal`); `dlq
purge` (asks first); and what `dlq redrive` does with each kind, as `dlq list` says."""

from __future__ import annotations

import io
import json

import pytest

from smsgw import dlq_kinds
from smsgw.cli import main
from smsgw.dead_letters import DeadLetter
from smsgw.dlq_purge import Selection, parse_age
from tests.unit.test_cli_harness import NATIONAL_PARTS, NUMBERS, Stack

CODE = "739201"  # a one-time code: a template parameter, never printed without --reveal
BODY = json.dumps(
    {
        "PhoneNumbers": list(NUMBERS),
        "TemplateId": "UTA1",
        "TemplateParams": [CODE],
        "UserId": "order-7",
    }
)
RECIPIENTS_BODY = json.dumps(
    {
        "Recipients": [
            {"PhoneNumber": NUMBERS[0], "TemplateParams": [CODE, "Ann"]},
            {"PhoneNumber": NUMBERS[1], "TemplateParams": ["482913"], "UserId": "u-2"},
        ],
        "TemplateId": "UTA1",
        "IdempotencyKey": "csv1-abc",
    }
)
# One of each kind the issue names, with the reason the gateway writes.
KINDS = {
    "InvalidMessage": "PhoneNumbers[1]: is not a valid phone number of its country",
    "IdempotencyKeyReused": "the key order-7 was used for another message",
    "Expired": "older than MaxAgeSeconds (3600 s)",
    "PolicyRefused": "every number refused: (**)*******8000 country_blocked",
    "ProviderUnavailable": "HTTP 503 after 5 receives",
}
LEFT = ("InvalidMessage", "IdempotencyKeyReused", "Expired", "PolicyRefused")


def _park_each_kind(stack: Stack) -> dict[str, str]:
    """A message of each kind, as the gateway parks it; the producer's MessageId by kind."""
    for code, reason in KINDS.items():
        stack.park(
            BODY.replace("order-7", f"user-{code}"),
            ErrorCode=code,
            ErrorMessage=reason,
            OriginalMessageId=f"producer-{code}",
            IdempotencyKey=f"key-{code}",
        )
    return {code: f"producer-{code}" for code in KINDS}


def _no_secret(text: str) -> bool:
    return not [n for n in (*NATIONAL_PARTS, CODE, "482913") if n in text]


def test_list_shows_the_producers_id_key_user_and_reason(
    stack: Stack, outputs: str, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = _park_each_kind(stack)
    fallback = stack.park(BODY, ErrorCode="ProviderUnavailable", ErrorMessage="HTTP 503")

    assert main(["--outputs", outputs, "dlq", "list"]) == 0

    out, err = capsys.readouterr()
    header, *lines = out.splitlines()
    assert header.split()[:3] == ["MessageId", "Parked", "(UTC)"]
    assert "IdempotencyKey" in header
    assert "UserId" in header
    rows = {line.split()[0]: line for line in lines}
    # The producer's MessageId, and the queue's own for a message parked without one.
    assert set(rows) == {*ids.values(), fallback}
    invalid = rows["producer-InvalidMessage"]
    assert "key-InvalidMessage" in invalid
    assert "user-InvalidMessage" in invalid
    assert "InvalidMessage" in invalid
    assert "is not a valid phone number" in invalid
    assert "order-7" in rows[fallback]  # the UserId from the body
    assert _no_secret(out + err)


def test_list_advises_by_kind_what_redrive_does(
    stack: Stack, outputs: str, capsys: pytest.CaptureFixture[str]
) -> None:
    _park_each_kind(stack)
    stack.park(BODY, ErrorCode="ProviderOutcomeUnknown", ErrorMessage="read timeout")

    assert main(["--outputs", outputs, "dlq", "list"]) == 0

    advice = {
        line.split()[0]: line
        for line in capsys.readouterr().err.splitlines()
        if line.startswith("  ")
    }
    cli = f"smsgw --outputs {outputs}"
    for code in LEFT:
        assert "redrive leaves them" in advice[code]
        assert "fix the cause" not in advice[code]
    for code in ("InvalidMessage", "IdempotencyKeyReused", "Expired"):
        assert f"`{cli} dlq purge --code {code}`" in advice[code]
    assert f"`{cli} dlq redrive --include PolicyRefused`" in advice["PolicyRefused"]
    assert f"`{cli} dlq redrive --resend-unknown`" in advice["ProviderOutcomeUnknown"]
    assert (
        f"fix the cause, then `{cli} dlq redrive` sends them again" in advice["ProviderUnavailable"]
    )


def test_list_json_has_the_producers_id_key_and_user(
    stack: Stack, outputs: str, capsys: pytest.CaptureFixture[str]
) -> None:
    dead_letter_id = stack.park(
        RECIPIENTS_BODY, ErrorCode="Expired", ErrorMessage="too old", OriginalMessageId="p-1"
    )

    assert main(["--outputs", outputs, "dlq", "list", "--json"]) == 0

    [listed] = json.loads(capsys.readouterr().out)
    assert listed["MessageId"] == "p-1"
    assert listed["DeadLetterMessageId"] == dead_letter_id
    assert listed["IdempotencyKey"] == "csv1-abc"  # the body's key: the gateway used it
    assert listed["UserId"] is None
    assert listed["Body"] == "2 recipients, template UTA1"


@pytest.mark.parametrize("code", sorted(KINDS))
def test_redrive_of_each_kind(
    code: str, stack: Stack, outputs: str, capsys: pytest.CaptureFixture[str]
) -> None:
    stack.park(BODY, ErrorCode=code, ErrorMessage=KINDS[code], OriginalMessageId="p-1")

    assert main(["--outputs", outputs, "dlq", "redrive"]) == 0

    out, err = capsys.readouterr()
    moved = stack.drain(stack.queue_url)
    if code in LEFT:
        assert "moved 0 message(s)" in out
        assert f"left 1 {code}: " in err
        assert dlq_kinds.advice(code, f"smsgw --outputs {outputs}") in err
        assert moved == []
        assert stack.count(stack.dead_letter_queue_url) == (1, 0)  # visible again at once
    else:
        assert "moved 1 message(s)" in out
        assert "left" not in err
        [back] = moved
        assert back["Body"] == BODY
        # The reason goes; the producer's id stays, to find it again if it is parked again.
        assert back["Attributes"] == {"OriginalMessageId": "p-1"}


def test_redrive_include_moves_the_kinds_named(
    stack: Stack, outputs: str, capsys: pytest.CaptureFixture[str]
) -> None:
    _park_each_kind(stack)

    including = ["--include", "PolicyRefused", "--include", "Expired"]
    code = main(["--outputs", outputs, "dlq", "redrive", *including])

    assert code == 0
    out, err = capsys.readouterr()
    assert "moved 3 message(s)" in out
    moved = {m["Attributes"]["OriginalMessageId"] for m in stack.drain(stack.queue_url)}
    assert moved == {"producer-PolicyRefused", "producer-Expired", "producer-ProviderUnavailable"}
    assert "left 1 InvalidMessage" in err
    assert "left 1 IdempotencyKeyReused" in err
    assert "PolicyRefused" not in err


def test_redrive_include_takes_only_the_kinds_it_leaves() -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["dlq", "redrive", "--include", "ProviderUnavailable"])
    assert stopped.value.code == 2


def test_show_masks_numbers_and_hides_parameters(
    stack: Stack, outputs: str, capsys: pytest.CaptureFixture[str]
) -> None:
    _park_each_kind(stack)

    assert main(["--outputs", outputs, "dlq", "show", "producer-PolicyRefused"]) == 0

    out = capsys.readouterr().out
    assert "MessageId:" in out
    assert "producer-PolicyRefused" in out
    assert "ErrorCode:" in out
    assert "PolicyRefused" in out
    assert "key-PolicyRefused" in out
    assert "*********8000" in out  # +8613800138000, all but the last 4 digits masked
    assert "(1 parameter hidden: --reveal shows them)" in out
    assert "producer-InvalidMessage" not in out  # only the one asked for
    assert _no_secret(out)


def test_show_masks_every_recipient(
    stack: Stack, outputs: str, capsys: pytest.CaptureFixture[str]
) -> None:
    stack.park(RECIPIENTS_BODY, ErrorCode="Expired", ErrorMessage="too old", OriginalMessageId="p")

    assert main(["--outputs", outputs, "dlq", "show", "p"]) == 0

    out = capsys.readouterr().out
    body = json.loads(out[out.index("Body:") + len("Body:") :])
    assert [r["PhoneNumber"] for r in body["Recipients"]] == ["+*********8000", "(**)*******9000"]
    assert body["Recipients"][0]["TemplateParams"] == "(2 parameters hidden: --reveal shows them)"
    assert body["Recipients"][1]["UserId"] == "u-2"
    assert _no_secret(out)


def test_show_reveal_prints_the_body_as_parked(
    stack: Stack, outputs: str, capsys: pytest.CaptureFixture[str]
) -> None:
    stack.park(RECIPIENTS_BODY, ErrorCode="Expired", ErrorMessage="too old", OriginalMessageId="p")

    assert main(["--outputs", outputs, "dlq", "show", "p", "--reveal"]) == 0

    out = capsys.readouterr().out
    assert json.loads(out[out.index("Body:") + len("Body:") :]) == json.loads(RECIPIENTS_BODY)


def test_show_finds_a_message_by_the_queues_own_id_and_hides_what_is_not_json(
    stack: Stack, outputs: str, capsys: pytest.CaptureFixture[str]
) -> None:
    own_id = stack.park(f"to {NUMBERS[0]}: {CODE}", ErrorCode="InvalidMessage", ErrorMessage="x")

    assert main(["--outputs", outputs, "dlq", "show", own_id]) == 0

    out = capsys.readouterr().out
    assert "(not a JSON message, 25 bytes: --reveal shows it)" in out
    assert _no_secret(out)


def test_show_of_an_unknown_id_exits_1(
    stack: Stack, outputs: str, capsys: pytest.CaptureFixture[str]
) -> None:
    _park_each_kind(stack)

    assert main(["--outputs", outputs, "dlq", "show", "nobody"]) == 1
    assert "no parked message has the MessageId nobody" in capsys.readouterr().err


def test_purge_by_code_asks_then_deletes_only_those(
    stack: Stack, outputs: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _park_each_kind(stack)
    stack.park(BODY, ErrorCode="InvalidMessage", ErrorMessage="again")
    monkeypatch.setattr("sys.stdin", io.StringIO("y\n"))

    assert main(["--outputs", outputs, "dlq", "purge", "--code", "InvalidMessage"]) == 0

    out, err = capsys.readouterr()
    assert "delete 2 parked message(s) for good (2 InvalidMessage)? [y/N]" in err
    assert out == "deleted 2 parked message(s)\n"
    left = {m["Attributes"]["OriginalMessageId"] for m in stack.drain(stack.dead_letter_queue_url)}
    assert left == {f"producer-{code}" for code in KINDS if code != "InvalidMessage"}


@pytest.mark.parametrize("answer", ["n\n", "", "maybe\n"])
def test_purge_deletes_nothing_unless_the_answer_is_yes(
    answer: str,
    stack: Stack,
    outputs: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _park_each_kind(stack)
    monkeypatch.setattr("sys.stdin", io.StringIO(answer))

    assert main(["--outputs", outputs, "dlq", "purge"]) == 1

    assert "nothing deleted" in capsys.readouterr().err
    assert stack.count(stack.dead_letter_queue_url) == (len(KINDS), 0)


def test_purge_yes_does_not_ask(
    stack: Stack, outputs: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _park_each_kind(stack)
    monkeypatch.setattr("sys.stdin", io.StringIO(""))  # asking would read "no"

    assert main(["--outputs", outputs, "dlq", "purge", "--yes"]) == 0

    assert f"deleted {len(KINDS)} parked message(s)" in capsys.readouterr().out
    assert stack.count(stack.dead_letter_queue_url) == (0, 0)


def test_purge_older_than_spares_what_was_parked_since(
    stack: Stack, outputs: str, capsys: pytest.CaptureFixture[str]
) -> None:
    _park_each_kind(stack)  # just now

    assert main(["--outputs", outputs, "dlq", "purge", "--older-than", "1h", "--yes"]) == 0

    assert "nothing to purge" in capsys.readouterr().out
    assert stack.count(stack.dead_letter_queue_url) == (len(KINDS), 0)


def test_an_age_is_a_number_and_a_unit() -> None:
    assert [parse_age(t) for t in ("45s", "30m", "2h", "7d")] == [45, 1800, 7200, 604800]
    for wrong in ("7", "1w", "-2h", "2 h x"):
        with pytest.raises(ValueError, match="not an age"):
            parse_age(wrong)


def _parked(code: str, at_ms: int | None) -> DeadLetter:
    attributes = {"ErrorCode": {"DataType": "String", "StringValue": code}}
    return DeadLetter("m", "h", "{}", attributes, sent_at_ms=at_ms)


def test_a_selection_matches_by_code_and_age() -> None:
    now_ms = 10 * 86_400_000
    two_hours_ago = now_ms - 2 * 3_600_000

    assert Selection("Expired", 3600).matches(_parked("Expired", two_hours_ago), now_ms)
    assert not Selection("Expired", 3 * 3600).matches(_parked("Expired", two_hours_ago), now_ms)
    assert not Selection("Expired").matches(_parked("InvalidMessage", two_hours_ago), now_ms)
    assert Selection().matches(_parked("InvalidMessage", None), now_ms)
    assert not Selection(None, 60).matches(_parked("Expired", None), now_ms)


def test_purge_takes_only_the_contracts_codes() -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["dlq", "purge", "--code", "Invalid"])
    assert stopped.value.code == 2
