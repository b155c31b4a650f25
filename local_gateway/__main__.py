"""`python -m local_gateway` (what `make local` runs): start, print how to use, wait for
Ctrl-C, stop cleanly."""

from __future__ import annotations

import argparse
import json
import logging
import os
import shlex
import signal
import sys
import threading
from pathlib import Path

from local_gateway.gateway import (
    DEFAULT_OUTPUTS,
    LocalConfig,
    LocalGateway,
    real_provider_credentials,
)
from sms_gateway.contract import DEFAULT_COUNTRY_CODE

TEMPLATE_ID = "UTA2211ABCDEF"
# One (number, code) per example: each example sends a message of its own. The same message
# twice is an idempotent replay (the gateway answers the first result and sends nothing), so
# a newcomer pasting two examples that said the same would see one SMS and wonder why.
EXAMPLE_RECIPIENTS = (
    ("+8613800138000", "739201"),
    ("+8613900139000", "482913"),
    ("+8613700137000", "915604"),
    ("+8615000150000", "260418"),
)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="make local", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--moto-port", type=int, default=4566, help="AWS stand-in (moto)")
    parser.add_argument("--sandbox-port", type=int, default=8990, help="USpeedo sandbox")
    parser.add_argument("--api-port", type=int, default=3000, help="the API endpoint")
    parser.add_argument("--outputs", type=Path, default=DEFAULT_OUTPUTS)
    parser.add_argument("--default-country-code", default=DEFAULT_COUNTRY_CODE)
    parser.add_argument("--sender-id", default="", help="DEFAULT_SENDER_ID")
    return parser.parse_args(argv)


def smsgw_command(outputs_path: Path) -> str:
    """How the banner calls the CLI: `--local` finds `.local/outputs.json` from the
    checkout's root (where `make local` runs); any other outputs file is named."""
    if outputs_path == DEFAULT_OUTPUTS:
        return "smsgw --local"
    return f"smsgw --outputs {shlex.quote(str(outputs_path))}"


def send_examples(outputs: dict[str, str], outputs_path: Path) -> list[str]:
    """One command per door, each sending a different message; they work as printed in a
    shell with `.venv/bin` on the PATH (`source .venv/bin/activate`) and nothing but what
    `make install` installs (curl aside, which every machine has)."""
    smsgw = smsgw_command(outputs_path)
    commands = [
        f"{smsgw} send --via {door} --to {number} --template {TEMPLATE_ID} --param {code}"
        for door, (number, code) in zip(("sns", "sqs", "api"), EXAMPLE_RECIPIENTS, strict=False)
    ]
    number, code = EXAMPLE_RECIPIENTS[3]
    body = json.dumps(
        {"PhoneNumbers": [number], "TemplateId": TEMPLATE_ID, "TemplateParams": [code]}
    )
    commands.append(
        f"curl -s -X POST {outputs['ApiUrl']}messages -H 'x-api-key: {outputs['ApiKey']}' "
        f"-H 'Content-Type: application/json' -d '{body}'"
    )
    return commands


def how_to_send(outputs: dict[str, str], outputs_path: Path = DEFAULT_OUTPUTS) -> str:
    """Copy-paste ways to send a message, one per door, and where to see what happened."""
    smsgw = smsgw_command(outputs_path)
    return "\n".join(
        [
            "Send a message (each door). In a new shell, first: source .venv/bin/activate",
            "Each example sends a different message: the same message again is an idempotent",
            "replay (answered from the first send; no second SMS goes out).",
            *(f"  {command}" for command in send_examples(outputs, outputs_path)),
            "See what the provider got:",
            f"  curl -s {outputs['UspeedoEndpoint'].removesuffix('/api')}/_sandbox/messages",
            f"And what was parked: {smsgw} dlq list",
        ]
    )


def how_to_change_the_policy(outputs_path: Path = DEFAULT_OUTPUTS) -> str:
    """Where the traffic policy is seen and changed (it takes effect within a minute)."""
    smsgw = smsgw_command(outputs_path)
    return "\n".join(
        [
            "See or change the traffic policy (limits, caps, blocked countries):",
            f"  {smsgw} policy show",
            f"  {smsgw} policy block RU",
        ]
    )


def banner(outputs: dict[str, str], outputs_path: Path, endpoint: str | None) -> str:
    """What `make local` prints once it runs: where everything is, and how to use it."""
    provider = "the real provider" if endpoint else "the USpeedo sandbox"
    return "\n".join(
        [
            "SMS gateway running on this machine (Ctrl-C to stop).",
            f"  AWS (moto):  {outputs['AwsEndpointUrl']}",
            f"  USpeedo:     {outputs['UspeedoEndpoint']} ({provider})",
            f"  API:         {outputs['ApiUrl']} (x-api-key: {outputs['ApiKey']})",
            f"  outputs:     {outputs_path}",
            f"  policy:      {outputs['PolicyParameterName']} (cdk.json's trafficPolicy)",
            f"  events:      bus {outputs['EventBusName']} (delivery status, 1 s after a send)",
            "",
            how_to_send(outputs, outputs_path),
            how_to_change_the_policy(outputs_path),
            how_to_watch_events(outputs_path),
        ]
    )


def how_to_watch_events(outputs_path: Path = DEFAULT_OUTPUTS) -> str:
    """How delivery status events are seen as they come (one per number sent)."""
    return "\n".join(
        [
            "Watch delivery status events (one per number sent, numbers masked):",
            f"  {smsgw_command(outputs_path)} events tail",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # The handler writes its own JSON lines (Powertools); ours go to stderr.
    own = logging.StreamHandler(sys.stderr)
    own.setFormatter(logging.Formatter("%(asctime)s local: %(message)s"))
    logging.getLogger("local_gateway").addHandler(own)
    logging.getLogger("local_gateway").setLevel(logging.INFO)
    endpoint = os.environ.get("USPEEDO_ENDPOINT")
    credentials = real_provider_credentials() if endpoint else None
    if endpoint and credentials is None:
        print(
            "USPEEDO_ENDPOINT is set: also set USPEEDO_ACCESS_KEY_ID and USPEEDO_ACCESS_KEY_SECRET",
            file=sys.stderr,
        )
        return 2
    config = LocalConfig(
        host=args.host,
        moto_port=args.moto_port,
        sandbox_port=args.sandbox_port,
        api_port=args.api_port,
        outputs_path=args.outputs,
        uspeedo_endpoint=endpoint,
        uspeedo_credentials=credentials,
        default_country_code=args.default_country_code,
        default_sender_id=args.sender_id,
    )
    stop = threading.Event()
    # Set explicitly: a shell starts background jobs with SIGINT ignored, and Python keeps it.
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    gateway = LocalGateway(config)
    try:
        gateway.start()
    except OSError as exc:
        print(
            f"cannot start the local gateway: {exc} (is another one running? try other --*-port)",
            file=sys.stderr,
        )
        gateway.stop()
        return 1
    print(banner(gateway.outputs, args.outputs, endpoint), flush=True)
    stop.wait()
    print("stopping…", file=sys.stderr)
    gateway.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
