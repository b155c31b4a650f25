"""`python -m uspeedo_sandbox`: serve the sandbox until Ctrl-C (or SIGTERM).

Prints the API URL (the USPEEDO_ENDPOINT) alone on the first line of stdout, so scripts can
read it; the credentials and the control API go to stderr.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from collections.abc import Sequence
from types import FrameType

from uspeedo_sandbox.sandbox import (
    DEFAULT_ACCESS_KEY_ID,
    DEFAULT_ACCOUNT_ID,
    DEFAULT_SECRET,
    Sandbox,
)


def _template(text: str) -> tuple[str, int]:
    template_id, sep, count = text.rpartition("=")
    if not sep or not template_id or not count.isdigit():
        raise argparse.ArgumentTypeError(f"expected TEMPLATE_ID=PARAM_COUNT, got {text!r}")
    return template_id, int(count)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(
        prog="python -m uspeedo_sandbox", description="A local stand-in for USpeedo's SMS API."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8990, help="0 picks a free port")
    parser.add_argument("--access-key-id", default=DEFAULT_ACCESS_KEY_ID)
    parser.add_argument("--secret", default=DEFAULT_SECRET)
    parser.add_argument(
        "--account-id",
        type=int,
        default=DEFAULT_ACCOUNT_ID,
        help="the AccountId bound to the key; a negative value binds none (any is accepted)",
    )
    parser.add_argument(
        "--template",
        type=_template,
        action="append",
        metavar="ID=N",
        help="register a template taking N params (repeatable); without any, all are accepted",
    )
    parser.add_argument("--log", action="store_true", help="log each request to stderr")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Serve until SIGINT or SIGTERM; 0 on a clean stop."""
    args = parse_args(argv)
    account_id = args.account_id if args.account_id >= 0 else None
    templates = dict(args.template) if args.template else None

    def on_signal(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    # SIGTERM stops it exactly as Ctrl-C does. SIGINT is set explicitly too: a shell starts
    # background jobs with SIGINT ignored, and Python keeps an inherited "ignore".
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    sandbox = Sandbox(
        credentials={args.access_key_id: (args.secret, account_id)},
        templates=templates,
        host=args.host,
        port=args.port,
        log_requests=args.log,
    )
    try:
        sandbox.start()
    except OSError as error:
        print(
            f"uspeedo_sandbox: cannot listen on {args.host}:{args.port}: {error}", file=sys.stderr
        )
        return 1
    try:
        print(sandbox.url, flush=True)
        print(
            f"USpeedo sandbox: access key {args.access_key_id}, secret {args.secret}, "
            f"account {account_id}; accepted messages at {sandbox.base_url}/_sandbox/messages. "
            "Ctrl-C stops it.",
            file=sys.stderr,
            flush=True,
        )
        while True:
            time.sleep(3600)  # interrupted by KeyboardInterrupt: Ctrl-C or SIGTERM
    except KeyboardInterrupt:
        pass  # the normal way out: no traceback
    finally:
        sandbox.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
