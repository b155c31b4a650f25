"""`smsgw optout add NUMBER…|remove NUMBER|check NUMBER|list [--all]`: the opt-out list,
through the gateway's API (the same key as `POST /messages`).

The API normalises every number as it normalises a message's, so any accepted form works.
What this prints shows numbers masked, except `list`: listing the numbers is its purpose.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Sequence
from typing import Any, Final

from sms_gateway.contract import NOT_OPTED_OUT, mask_phone
from smsgw import gateway_api
from smsgw.errors import FAILED, SETUP_ERROR, CliError
from smsgw.gateway_api import Answer
from smsgw.outputs import Outputs

# The API's limit per `POST /optouts`; longer lists go in parts.
MAX_PER_CALL: Final = 1000
MAX_PAGE: Final = 1000
# The API's 404 code for a number that is not opted out (a missing route says `NotFound`).
_INDEXED_FIELD: Final = re.compile(r"^PhoneNumbers\[(\d+)\]$")
NOT_OPTED_OUT_EXIT: Final = 1


def add(outputs: Outputs, numbers: Sequence[str]) -> int:
    """Opt the numbers out (several arguments, or comma-separated), 1,000 a request."""
    wanted = [n.strip() for item in numbers for n in item.split(",") if n.strip()]
    if not wanted:
        raise CliError("give at least one phone number", SETUP_ERROR)
    api = gateway_api.for_outputs(outputs)
    added = 0
    for start in range(0, len(wanted), MAX_PER_CALL):
        part = wanted[start : start + MAX_PER_CALL]
        answer = api.optout_add(part)
        if not answer.ok:
            _refused(answer, part, start)
            if added:
                print(f"smsgw: {_count(added)} opted out before this refusal", file=sys.stderr)
            return FAILED
        added += len(_body(answer).get("PhoneNumbers") or [])
    print(f"{_count(added)} opted out")
    return 0


def remove(outputs: Outputs, number: str) -> int:
    """Opt one number back in. Exit 1 when it was not opted out."""
    answer = gateway_api.for_outputs(outputs).optout_remove(number)
    if _is_not_opted_out(answer):
        print("smsgw: not opted out: nothing removed", file=sys.stderr)
        return FAILED
    if not answer.ok:
        return _failed(answer)
    print(f"opted back in: {mask_phone(str(_body(answer).get('PhoneNumber', '')))}")
    return 0


def check(outputs: Outputs, number: str) -> int:
    """Print whether a number is opted out. Exit 0 when it is, 1 when it is not (like
    `grep -q`, for scripts), 1 with the API's error on stderr when the API refused."""
    answer = gateway_api.for_outputs(outputs).optout_check(number)
    if _is_not_opted_out(answer):
        print("not opted out")
        return NOT_OPTED_OUT_EXIT
    if not answer.ok:
        return _failed(answer)
    print(f"opted out: {mask_phone(str(_body(answer).get('PhoneNumber', '')))}")
    return 0


def list_numbers(
    outputs: Outputs,
    *,
    all_pages: bool = False,
    limit: int | None = None,
    next_token: str | None = None,
) -> int:
    """Print the opted-out numbers, one a line: one page (of `limit`, the API's default
    100), or every page with `all_pages`. When more remain, stderr says how to go on."""
    api = gateway_api.for_outputs(outputs)
    token = next_token
    try:
        while True:
            answer = api.optout_page(limit, token)
            if not answer.ok:
                return _failed(answer)
            page = _body(answer)
            for number in page.get("PhoneNumbers") or []:
                print(number)
            token = page.get("Next")
            if not token:
                return 0
            if not all_pages:
                print(
                    f"more: {outputs.cli()} optout list --next={token} (or --all)",
                    file=sys.stderr,
                )
                return 0
    except BrokenPipeError:
        # `… | head`: the reader has what it wanted. Quiet the interpreter's final flush.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0


def _is_not_opted_out(answer: Answer) -> bool:
    error = _body(answer).get("Error")
    return answer.status == 404 and isinstance(error, dict) and error.get("Code") == NOT_OPTED_OUT


def _refused(answer: Answer, part: Sequence[str], offset: int) -> None:
    """Say which numbers the API refused (position and masked), or print its answer."""
    error = _body(answer).get("Error")
    fields = error.get("Fields") if isinstance(error, dict) else None
    indexed = [
        (int(match[1]), field)
        for field in fields or []
        if isinstance(field, dict) and (match := _INDEXED_FIELD.match(str(field.get("Field"))))
    ]
    if answer.status != 400 or not indexed:
        _failed(answer)
        return
    print(
        f"smsgw: the API refused these numbers, so none of the {len(part)} of this request "
        "was opted out:",
        file=sys.stderr,
    )
    for index, field in indexed:
        typed = mask_phone(part[index]) if index < len(part) else "?"
        print(
            f"  number {offset + index + 1} ({typed}): {field.get('Message')} "
            f"[{field.get('Rule')}]",
            file=sys.stderr,
        )


def _failed(answer: Answer) -> int:
    print(f"smsgw: the API answered HTTP {answer.status}:", file=sys.stderr)
    print(json.dumps(answer.body, indent=2, ensure_ascii=False), file=sys.stderr)
    return FAILED


def _body(answer: Answer) -> dict[str, Any]:
    return answer.body if isinstance(answer.body, dict) else {}


def _count(n: int) -> str:
    return f"{n} number" if n == 1 else f"{n} numbers"
