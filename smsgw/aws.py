"""boto3 clients pointed at the stack the outputs describe, and AWS errors turned into
messages that say what to do."""

from __future__ import annotations

import os
from typing import Any, Final

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
)

from smsgw.errors import FAILED, SETUP_ERROR, CliError
from smsgw.outputs import AWS_ENDPOINT_URL, TOPIC_ARN, Outputs

LOCAL_REGION: Final = "us-east-1"
FAKE_CREDENTIAL: Final = "testing"
# Error codes that mean "this resource is not there": the stack is not (or no longer) deployed.
_NOT_FOUND: Final = frozenset(
    {
        "AWS.SimpleQueueService.NonExistentQueue",
        "QueueDoesNotExist",
        "NotFound",
        "NotFoundException",
        "ResourceNotFoundException",
    }
)
# A CLI should answer or fail within seconds, not retry for a minute.
_CONFIG: Final = Config(connect_timeout=5, read_timeout=30, retries={"max_attempts": 3})


def client(outputs: Outputs, service: str) -> Any:
    """A boto3 client for `service`: the local moto server with `--local`, else the account
    and region the stack was deployed to."""
    if outputs.local:
        return _local_session().client(
            service, endpoint_url=outputs.get(AWS_ENDPOINT_URL), config=_CONFIG
        )
    return boto3.session.Session(region_name=_stack_region(outputs)).client(service, config=_CONFIG)


def _local_session() -> Any:
    # moto accepts any credentials; passing them explicitly also keeps boto3 from probing the
    # instance metadata service (a slow timeout off EC2) when none are configured.
    key_id = os.environ.get("AWS_ACCESS_KEY_ID") or FAKE_CREDENTIAL
    secret = os.environ.get("AWS_SECRET_ACCESS_KEY") or FAKE_CREDENTIAL
    token = os.environ.get("AWS_SESSION_TOKEN") if "AWS_ACCESS_KEY_ID" in os.environ else None
    return boto3.session.Session(
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
        aws_session_token=token,
        region_name=LOCAL_REGION,
    )


def _stack_region(outputs: Outputs) -> str | None:
    """The region in the topic's ARN: the stack's, whatever the shell's default is."""
    parts = (outputs.optional(TOPIC_ARN) or "").split(":")
    return parts[3] if len(parts) > 4 and parts[3] else None


def explain(error: Exception, outputs: Outputs) -> CliError:
    """A `CliError` for a boto3/botocore failure: exit 2 when the setup is wrong (no
    credentials, no region, nothing deployed, local gateway not running), else exit 1."""
    if outputs.local:
        where = f"the local gateway at {outputs.optional(AWS_ENDPOINT_URL)}"
        start = "start it with `make local` (it writes a fresh .local/outputs.json)"
    else:
        where = "AWS"
        start = "deploy it with `make deploy`, or run `make local` and pass --local"
    if isinstance(error, NoCredentialsError):
        return CliError(
            "no AWS credentials: run `aws configure` or set AWS_PROFILE, "
            "or use the local gateway with --local",
            SETUP_ERROR,
        )
    if isinstance(error, NoRegionError):
        return CliError(
            f"no AWS region: {outputs.path} has no {TOPIC_ARN} to take it from; set AWS_REGION",
            SETUP_ERROR,
        )
    if isinstance(error, EndpointConnectionError):
        return CliError(f"cannot reach {where}: {start}", SETUP_ERROR)
    if isinstance(error, ClientError):
        code = str(error.response.get("Error", {}).get("Code", ""))
        message = str(error.response.get("Error", {}).get("Message", ""))
        if code in _NOT_FOUND:
            return CliError(
                f"the stack in {outputs.path} is not deployed ({code}: {message}): {start}",
                SETUP_ERROR,
            )
        return CliError(f"{where} refused: {code}: {message}", FAILED)
    if isinstance(error, BotoCoreError):
        return CliError(f"talking to {where} failed: {error}", FAILED)
    return CliError(str(error), FAILED)
