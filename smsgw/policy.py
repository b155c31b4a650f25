"""`smsgw policy show|set FILE|block CC…|allow CC…`: the traffic policy in its SSM parameter
(the output `PolicyParameterName`). The gateway reads it at most 60 s late: a change takes
effect within a minute, with no deploy.

Every write is checked first with the gateway's own model (`sms_gateway.policy`), so a
document the gateway would refuse never reaches the parameter, and prints what changed as
a unified diff of the pretty JSON. The model needs pydantic: it is imported only by these
commands, so the rest of the CLI runs without the function's dependencies.
"""

from __future__ import annotations

import copy
import difflib
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from smsgw import aws
from smsgw.errors import FAILED, SETUP_ERROR, CliError
from smsgw.outputs import POLICY_PARAMETER_NAME, Outputs

# A Standard-tier SSM parameter's limit: refused before writing, not by AWS afterwards.
MAX_PARAMETER_BYTES: Final = 4096

ALL_COUNTRIES: Final = "*"
STDIN: Final = "-"
TAKES_EFFECT: Final = "the gateway uses it within a minute"


@dataclass(frozen=True)
class Stored:
    """The parameter's name and its current text."""

    name: str
    text: str


def show(outputs: Outputs) -> int:
    """Print the policy as pretty JSON. Exit 1 (after printing it) when the gateway would
    not use it: it then keeps the last good policy it had."""
    stored = _read(outputs)
    print(_pretty(stored.text))
    problem = _problem(stored.text)
    if problem is not None:
        print(
            f"smsgw: the gateway does not use this document ({problem}); it keeps the last "
            f"good policy it read. Fix it with `{outputs.cli()} policy set FILE`",
            file=sys.stderr,
        )
        return FAILED
    return 0


def set_from_file(outputs: Outputs, file: str) -> int:
    """Check the document in `file` (`-`: standard input), write it, print the change."""
    text = _read_file(file)
    problem = _problem(text)
    if problem is not None:
        raise CliError(f"{file}: not written: {problem}", FAILED)
    return _write(outputs, _read(outputs), json.loads(text))


def block(outputs: Outputs, codes: Sequence[str]) -> int:
    """Add region codes to `Countries.Block`."""
    return _edit(outputs, _region_codes(codes), blocking=True)


def allow(outputs: Outputs, codes: Sequence[str]) -> int:
    """Remove region codes from `Countries.Block` and, unless `Countries.Allow` has `*`
    already, add them to it."""
    return _edit(outputs, _region_codes(codes), blocking=False)


def edit_countries(
    document: dict[str, Any], codes: Sequence[str], *, blocking: bool
) -> dict[str, Any]:
    """A copy of `document` with `codes` blocked (`blocking`) or allowed; keys it had not
    written stay unwritten (an absent `Allow` is `["*"]`, an absent `Block` is `[]`)."""
    edited = copy.deepcopy(document)
    countries = edited.setdefault("Countries", {})
    if not isinstance(countries, dict):
        return edited  # the model refuses it, and says why
    blocked = countries.get("Block", [])
    allowed = countries.get("Allow", [ALL_COUNTRIES])
    if not isinstance(blocked, list) or not isinstance(allowed, list):
        return edited
    if blocking:
        countries["Block"] = blocked + [c for c in codes if c not in blocked]
        return edited
    if "Block" in countries:
        countries["Block"] = [c for c in blocked if c not in codes]
    if ALL_COUNTRIES not in allowed:
        countries["Allow"] = allowed + [c for c in codes if c not in allowed]
    if not countries:
        del edited["Countries"]
    return edited


def diff(name: str, old_text: str, new_text: str) -> list[str]:
    """The unified diff of the two documents' pretty JSON (their formatting aside)."""
    return list(
        difflib.unified_diff(
            _pretty(old_text).splitlines(),
            _pretty(new_text).splitlines(),
            fromfile=f"{name} (before)",
            tofile=f"{name} (after)",
            lineterm="",
        )
    )


def _edit(outputs: Outputs, codes: list[str], *, blocking: bool) -> int:
    stored = _read(outputs)
    problem = _problem(stored.text)
    if problem is not None:
        raise CliError(
            f"the policy in {stored.name} is not valid ({problem}): fix it with "
            f"`{outputs.cli()} policy set FILE` first",
            FAILED,
        )
    edited = edit_countries(json.loads(stored.text), codes, blocking=blocking)
    problem = _problem(json.dumps(edited))
    if problem is not None:
        raise CliError(f"not written: {problem}", FAILED)
    if not blocking and ALL_COUNTRIES in (edited.get("Countries") or {}).get("Block", []):
        print(f"note: Block has {ALL_COUNTRIES}: every country stays blocked", file=sys.stderr)
    return _write(outputs, stored, edited)


def _write(outputs: Outputs, stored: Stored, document: Any) -> int:
    """Write `document` unless it is what the parameter holds; print the diff."""
    new_text = json.dumps(document, ensure_ascii=False)
    if len(new_text.encode()) > MAX_PARAMETER_BYTES:
        raise CliError(
            f"not written: the policy is {len(new_text.encode()):,} bytes; the parameter "
            f"takes at most {MAX_PARAMETER_BYTES:,} (a Standard SSM parameter)",
            FAILED,
        )
    changes = diff(stored.name, stored.text, new_text)
    if not changes:
        print(f"no change: {stored.name} holds that policy already")
        return 0
    try:
        aws.client(outputs, "ssm").put_parameter(Name=stored.name, Value=new_text, Overwrite=True)
    except Exception as error:
        raise aws.explain(error, outputs) from error
    print("\n".join(changes))
    print(f"written to {stored.name}: {TAKES_EFFECT}", file=sys.stderr)
    return 0


def _read(outputs: Outputs) -> Stored:
    """The policy parameter's name (from the outputs) and its text."""
    name = outputs.get(POLICY_PARAMETER_NAME)
    try:
        answer = aws.client(outputs, "ssm").get_parameter(Name=name)
    except Exception as error:
        if _code(error) == "ParameterNotFound":
            fix = "restart `make local`" if outputs.local else "redeploy with `make deploy`"
            raise CliError(f"there is no parameter {name}: {fix}", SETUP_ERROR) from error
        raise aws.explain(error, outputs) from error
    return Stored(name, str(answer["Parameter"]["Value"]))


def _read_file(file: str) -> str:
    if file == STDIN:
        return sys.stdin.read()
    try:
        return Path(file).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise CliError(f"cannot read {file}: {error}", SETUP_ERROR) from error


def _problem(text: str) -> str | None:
    """Why the gateway would refuse the document `text` (its own model's words), or None."""
    policy = _policy_model()
    try:
        policy.parse_policy(text)
    except policy.PolicyError as error:
        return str(error)
    return None


def _region_codes(codes: Sequence[str]) -> list[str]:
    """The codes, upper-cased, each once; each checked by the model's own rule (ISO 3166-1
    alpha-2, or `*`). A code no number belongs to (`UK` for `GB`) is let through, as the
    model lets it, with a warning: it would never match."""
    wanted = list(dict.fromkeys(c.strip().upper() for c in codes if c.strip()))
    if not wanted:
        raise CliError("give at least one region code, e.g. RU", SETUP_ERROR)
    for code in wanted:
        if _problem(json.dumps({"Countries": {"Block": [code]}})) is not None:
            raise CliError(
                f"{code!r} is not a region code: give ISO 3166-1 alpha-2 codes as "
                f"libphonenumber assigns them (RU, US, CA, …), or {ALL_COUNTRIES} for every "
                "country",
                SETUP_ERROR,
            )
    known = _known_regions()
    unknown = [c for c in wanted if c != ALL_COUNTRIES and known is not None and c not in known]
    if unknown:
        print(
            f"warning: no phone number belongs to {', '.join(unknown)} "
            "(libphonenumber knows no such region): it will never match",
            file=sys.stderr,
        )
    return wanted


def _known_regions() -> frozenset[str] | None:
    """The regions libphonenumber assigns numbers to (None without it: no warning then)."""
    try:
        import phonenumbers
    except ImportError:
        return None
    return frozenset(phonenumbers.SUPPORTED_REGIONS)


def _policy_model() -> Any:
    """`sms_gateway.policy`, imported on first use (it needs pydantic)."""
    try:
        from sms_gateway import policy
    except ImportError as error:
        raise CliError(
            f"checking a policy needs the function's dependencies ({error.name} is missing): "
            "pip install -r requirements.txt",
            SETUP_ERROR,
        ) from error
    return policy


def _pretty(text: str) -> str:
    """`text` as indented JSON, or as it is when it is not JSON."""
    try:
        return json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    except ValueError:
        return text


def _code(error: Exception) -> str:
    response = getattr(error, "response", None)
    return str((response or {}).get("Error", {}).get("Code", "")) if response else ""
