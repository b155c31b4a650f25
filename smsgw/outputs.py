"""Finding and reading the stack's outputs: `cdk-outputs.json` (written by `make deploy`) or
`.local/outputs.json` (written by `make local`)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from smsgw.errors import SETUP_ERROR, CliError

STACK_NAME: Final = "SmsGateway"
DEPLOYED_FILE: Final = Path("cdk-outputs.json")
LOCAL_FILE: Final = Path(".local") / "outputs.json"

# Output keys (contract: the stack's outputs, plus three that only `make local` writes).
TOPIC_ARN: Final = "TopicArn"
QUEUE_URL: Final = "QueueUrl"
DEAD_LETTER_QUEUE_URL: Final = "DeadLetterQueueUrl"
API_URL: Final = "ApiUrl"
API_KEY_ID: Final = "ApiKeyId"
POLICY_PARAMETER_NAME: Final = "PolicyParameterName"
AWS_ENDPOINT_URL: Final = "AwsEndpointUrl"
API_KEY: Final = "ApiKey"

MISSING_DEPLOYED: Final = (
    "no cdk-outputs.json here: deploy with `make deploy`, or run `make local` and pass --local"
)
MISSING_LOCAL: Final = (
    "no .local/outputs.json here: start the local gateway with `make local` (or `smsgw local`)"
)


@dataclass(frozen=True)
class Outputs:
    """One stack's outputs and where they came from."""

    path: Path
    values: dict[str, str]
    local: bool
    explicit: bool = False  # the path came from `--outputs`

    def cli(self) -> str:
        """How to call the CLI again for the same stack, for hints."""
        if self.explicit:
            return f"smsgw --outputs {self.path}"
        return "smsgw --local" if self.local else "smsgw"

    def get(self, key: str) -> str:
        """The output `key`, or a `CliError` that names the file and says how to fix it."""
        value = self.values.get(key)
        if not value:
            fix = "restart `make local`" if self.local else "redeploy with `make deploy`"
            raise CliError(f"{self.path} has no {STACK_NAME}.{key}: {fix}", SETUP_ERROR)
        return value

    def optional(self, key: str) -> str | None:
        """The output `key` when present (the local-only ones are absent when deployed)."""
        return self.values.get(key) or None


def find(local: bool, start: Path | None = None) -> Path | None:
    """The outputs file in `start` (default: the working directory) or the nearest parent
    that has one, so the CLI works from any folder of the checkout."""
    relative = LOCAL_FILE if local else DEPLOYED_FILE
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / relative
        if candidate.is_file():
            return candidate
    return None


def load(local: bool, path: Path | None = None) -> Outputs:
    """Read the outputs from `path`, or from the file `find` picks.

    Raises `CliError` (exit 2) when there is no file, it is not JSON, or it has no
    `SmsGateway` object.
    """
    explicit = path is not None
    if path is None:
        path = find(local)
        if path is None:
            raise CliError(MISSING_LOCAL if local else MISSING_DEPLOYED, SETUP_ERROR)
    elif not path.is_file():
        raise CliError(f"no outputs file at {path}", SETUP_ERROR)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CliError(f"cannot read {path}: {error}", SETUP_ERROR) from error
    stack = document.get(STACK_NAME) if isinstance(document, dict) else None
    if not isinstance(stack, dict):
        raise CliError(
            f"{path} has no {STACK_NAME} stack: is it the outputs file of this project?",
            SETUP_ERROR,
        )
    values = {str(k): str(v) for k, v in stack.items() if isinstance(v, str | int)}
    # `--outputs .local/outputs.json` without `--local` still means the local gateway.
    return Outputs(
        path=path, values=values, local=local or AWS_ENDPOINT_URL in values, explicit=explicit
    )
