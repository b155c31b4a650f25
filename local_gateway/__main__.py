"""`python -m local_gateway` (what `make local` runs): start, print how to use, wait for
Ctrl-C, stop cleanly."""

from __future__ import annotations

import argparse
import json
import logging
import os
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

EXAMPLE = {
    "PhoneNumbers": ["+8613800138000"],
    "TemplateId": "UTA2211ABCDEF",
    "TemplateParams": ["739201"],
}


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


def how_to_send(outputs: dict[str, str]) -> str:
    """Three copy-paste ways to send a message, one per door."""
    body = json.dumps(EXAMPLE)
    aws = (
        "AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing "
        f"aws --endpoint-url {outputs['AwsEndpointUrl']} --region us-east-1"
    )
    return "\n".join(
        [
            "Send a message (each door):",
            "  .venv/bin/smsgw --local send --to +8613800138000 --template UTA2211ABCDEF"
            " --param 739201 --via sns",
            f"  {aws} sqs send-message --queue-url {outputs['QueueUrl']} --message-body '{body}'",
            f"  curl -s -X POST {outputs['ApiUrl']}messages -H 'x-api-key: {outputs['ApiKey']}' "
            f"-H 'Content-Type: application/json' -d '{body}'",
            "See what the provider got:",
            f"  curl -s {outputs['UspeedoEndpoint'].removesuffix('/api')}/_sandbox/messages",
            "And what was parked: .venv/bin/smsgw --local dlq list",
        ]
    )


def how_to_change_the_policy() -> str:
    """Where the traffic policy is seen and changed (it takes effect within a minute)."""
    return "\n".join(
        [
            "See or change the traffic policy (limits, caps, blocked countries):",
            "  .venv/bin/smsgw --local policy show",
            "  .venv/bin/smsgw --local policy block RU",
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
    outputs = gateway.outputs
    provider = "the real provider" if endpoint else "the USpeedo sandbox"
    print(
        "\n".join(
            [
                "SMS gateway running on this machine (Ctrl-C to stop).",
                f"  AWS (moto):  {outputs['AwsEndpointUrl']}",
                f"  USpeedo:     {outputs['UspeedoEndpoint']} ({provider})",
                f"  API:         {outputs['ApiUrl']} (x-api-key: {outputs['ApiKey']})",
                f"  outputs:     {args.outputs}",
                f"  policy:      {outputs['PolicyParameterName']} (cdk.json's trafficPolicy)",
                "",
                how_to_send(outputs),
                how_to_change_the_policy(),
            ]
        ),
        flush=True,
    )
    stop.wait()
    print("stopping…", file=sys.stderr)
    gateway.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
