"""`make scan`, second step: every checkov acknowledgement must still suppress a finding.

checkov reports an acknowledged check as skipped whether or not it would fail, so a fix that
made an acknowledgement unnecessary would leave a stale reason in the code for good. This
runs checkov once more on a copy of the template with every acknowledgement removed and
compares: each acknowledgement must match a finding on its own resource (and each finding
an acknowledgement: the first step, checkov itself, already fails on those).

Runs in the scan's own virtual environment (`.venv-scan`, checkov and the standard library
only): `python -m infra.scan cdk.out/SmsGateway.template.json`.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Final

# Where CloudFormation resource metadata keeps checkov's suppressions (see infra.nag).
CHECKOV_METADATA_KEY: Final = "checkov"
CHECKOV_ARGS: Final = ("--framework", "cloudformation", "--skip-download", "--output", "json")

Json = dict[str, Any]
# (logical id, check id)
Finding = tuple[str, str]


def acknowledged(template: Json) -> set[Finding]:
    """Every (resource, check) acknowledged in the template's resource metadata."""
    return {
        (logical_id, skip["id"])
        for logical_id, resource in template.get("Resources", {}).items()
        for skip in resource.get("Metadata", {}).get(CHECKOV_METADATA_KEY, {}).get("skip", [])
    }


def without_acknowledgements(template: Json) -> Json:
    """A copy of `template` with every checkov acknowledgement removed."""
    copy: Json = json.loads(json.dumps(template))
    for resource in copy.get("Resources", {}).values():
        resource.get("Metadata", {}).pop(CHECKOV_METADATA_KEY, None)
    return copy


def failed(report: Any) -> set[Finding]:
    """(resource, check) of every failed check in checkov's JSON report."""
    reports = report if isinstance(report, list) else [report]
    return {
        (check["resource"].rsplit(".", 1)[-1], check["check_id"])
        for one in reports
        if one.get("check_type", "cloudformation") == "cloudformation"
        for check in one.get("results", {}).get("failed_checks", [])
    }


def run_checkov(checkov: Path, template_path: Path) -> Any:
    """checkov's JSON report on one template (its exit status says only: findings or not)."""
    result = subprocess.run(  # noqa: S603 (our own checkov, our own template)
        [str(checkov), *CHECKOV_ARGS, "--file", str(template_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode not in (0, 1):
        sys.stderr.write(result.stderr)
        raise SystemExit(f"checkov failed to run (exit status {result.returncode})")
    return json.loads(result.stdout)


def unneeded(template: Json, raw_findings: set[Finding]) -> list[Finding]:
    """Acknowledgements that match no finding of the unacknowledged template."""
    return sorted(acknowledged(template) - raw_findings)


def main(argv: list[str] | None = None) -> int:
    """Check the acknowledgements of one synthesized template; 1 when any is stale."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("template", type=Path)
    parser.add_argument(
        "--checkov",
        type=Path,
        default=Path(sys.executable).parent / "checkov",
        help="the checkov executable (default: the one beside this Python)",
    )
    args = parser.parse_args(argv)
    template: Json = json.loads(args.template.read_text())

    with tempfile.TemporaryDirectory() as directory:
        raw = Path(directory) / args.template.name
        raw.write_text(json.dumps(without_acknowledgements(template), indent=1))
        raw_findings = failed(run_checkov(args.checkov, raw))

    stale = unneeded(template, raw_findings)
    acknowledgements = acknowledged(template)
    print(
        f"checkov acknowledgements: {len(acknowledgements)} on "
        f"{len({logical_id for logical_id, _ in acknowledgements})} resources, "
        f"{len(acknowledgements) - len(stale)} still needed, {len(stale)} not"
    )
    for logical_id, check_id in stale:
        print(f"  not needed any more: {check_id} on {logical_id} (remove it)")
    return 1 if stale else 0


if __name__ == "__main__":
    raise SystemExit(main())
