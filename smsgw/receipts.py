"""`smsgw receipts`: the delivery receipts of SessionNos, as a table or as the API's JSON."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Final

from sms_gateway.contract import mask_phone
from smsgw import gateway_api, table
from smsgw.errors import FAILED, SETUP_ERROR, CliError
from smsgw.outputs import Outputs

# The API answers at most 100 SessionNos a call (the provider's own limit).
MAX_PER_CALL: Final = 100
HEADERS: Final = ("SessionNo", "Phone", "Result", "Code", "Time (UTC)")
# Receipt times are Unix seconds; a value this large can only be milliseconds.
_MILLISECONDS_FROM: Final = 10**11


def show(
    outputs: Outputs, session_nos: Sequence[str], as_json: bool = False, reveal: bool = False
) -> int:
    """Fetch and print the receipts of `session_nos` (phones masked unless `reveal`).
    Returns the exit code: 1 when the provider knows none of some SessionNo."""
    wanted = list(dict.fromkeys(s for item in session_nos for s in item.split(",") if s))
    if not wanted:
        raise CliError(
            "give at least one SessionNo (as `smsgw send --via api` printed)", SETUP_ERROR
        )
    gateway = gateway_api.for_outputs(outputs)
    sessions: list[dict[str, Any]] = []
    for start in range(0, len(wanted), MAX_PER_CALL):
        answer = gateway.receipts(wanted[start : start + MAX_PER_CALL])
        if not answer.ok:
            print(f"the API answered HTTP {answer.status}:", file=sys.stderr)
            print(json.dumps(answer.body, indent=2, ensure_ascii=False), file=sys.stderr)
            return FAILED
        found = answer.body.get("Sessions") if isinstance(answer.body, dict) else None
        sessions.extend(s for s in found or [] if isinstance(s, dict))
    if as_json:
        shown = sessions if reveal else [_masked(session) for session in sessions]
        print(json.dumps({"Sessions": shown}, indent=2, ensure_ascii=False))
    else:
        print(table.render(HEADERS, rows(wanted, sessions)))
    known = {str(session.get("SessionNo")) for session in sessions}
    unknown = [session_no for session_no in wanted if session_no not in known]
    if unknown:
        print(f"the provider does not know: {', '.join(unknown)}", file=sys.stderr)
        return FAILED
    return 0


def _masked(session: dict[str, Any]) -> dict[str, Any]:
    """The session with each receipt's phone masked, as in the table and the logs."""
    receipts = [
        {**receipt, "Phone": mask_phone(str(receipt.get("Phone") or ""))}
        if isinstance(receipt, dict)
        else receipt
        for receipt in session.get("ReceiptSet") or []
    ]
    return {**session, "ReceiptSet": receipts}


def rows(wanted: Sequence[str], sessions: Sequence[dict[str, Any]]) -> list[list[str]]:
    """One row per receipt, phones masked; a row for a SessionNo without receipts yet (they
    take minutes) and for one the provider does not know (it leaves those out)."""
    by_session = {str(s.get("SessionNo")): s for s in sessions}
    result: list[list[str]] = []
    for session_no in wanted:
        session = by_session.get(session_no)
        if session is None:
            result.append([session_no, "", "(unknown SessionNo)", "", ""])
            continue
        receipts = [r for r in session.get("ReceiptSet") or [] if isinstance(r, dict)]
        if not receipts:
            result.append([session_no, "", "(no receipt yet)", "", ""])
        for receipt in receipts:
            result.append(
                [
                    session_no,
                    mask_phone(str(receipt.get("Phone") or "")),
                    str(receipt.get("ReceiptResult") or ""),
                    str(receipt.get("ReceiptCode") or ""),
                    _time(receipt.get("ReceiptTime")),
                ]
            )
    return result


def _time(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        return ""
    seconds = value / 1000 if value >= _MILLISECONDS_FROM else value
    return datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")
