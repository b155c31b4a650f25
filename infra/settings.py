"""The app's settings, read once from CDK context and checked before anything is built.

Values come from `cdk.json` (typed JSON) or from `-c key=value` on the command line (always
strings), so every reader accepts both forms. A bad value fails the synth with a message
that names the key, instead of surfacing later as a broken deployment.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from infra.names import ContextKey
from sms_gateway.contract import DEFAULT_COUNTRY_CODE
from sms_gateway.policy import PolicyError, TrafficPolicy, parse_policy

DEFAULT_USPEEDO_ENDPOINT: Final = "https://api.uspeedo.com/api"
USPEEDO_ACTIONS: Final = ("SendUSMSMessage", "SendBatchUSMSMessage")
# Five concurrent batches of ten: enough for bursts of one-time codes, few enough that a
# flood on the queue cannot exhaust the account's Lambda concurrency or the provider's limits.
DEFAULT_MAX_CONCURRENCY: Final = 5
# The event source mapping's own bounds for MaximumConcurrency.
MAX_CONCURRENCY_RANGE: Final = (2, 1000)
SENDER_ID_MAX_LENGTH: Final = 11  # the message contract's limit on SenderId
# The traffic policy when `trafficPolicy` is absent (`cdk.json` holds the same document):
# every country allowed, velocity limits that a person never meets and a pumping bot soon
# does, volume caps that bound the bill, and no SMS sent after an hour. README explains
# each number.
DEFAULT_TRAFFIC_POLICY: Final[dict[str, Any]] = {
    "Mode": "Enforce",
    "Countries": {"Allow": ["*"], "Block": []},
    "Limits": [
        {"Scope": "Number", "Count": 5, "Seconds": 600},
        {"Scope": "Number", "Count": 20, "Seconds": 86400},
        {"Scope": "Prefix", "Digits": 2, "Count": 20, "Seconds": 3600},
        {"Scope": "Country", "Count": 20000, "Seconds": 3600},
        {"Scope": "Global", "Count": 200000, "Seconds": 86400},
    ],
    "MaxAgeSeconds": 3600,
}
# A Standard-tier SSM parameter holds at most 4 KB (the Advanced tier is billed monthly).
TRAFFIC_POLICY_MAX_LENGTH: Final = 4096
# USpeedo's receipts are usually final 5 to 10 minutes after sending: the first check waits
# five, so most numbers are settled by their first check.
DEFAULT_RECEIPT_DELAY_SECONDS: Final = 300
# SQS DelaySeconds' own ceiling is 900; 0 would ask before the provider knows anything.
RECEIPT_DELAY_RANGE: Final = (1, 900)
# Below four numbers in five delivered over an hour, something beyond the odd unreachable
# phone is wrong: a blocked sender id, a template the carriers filter, a route down.
DEFAULT_DELIVERY_RATE_ALARM: Final = 0.8

_SECRET_ARN = re.compile(r"^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[\w/+=.@-]+$")
# Secrets Manager appends "-" and six random characters to a secret's name in its full ARN.
_SECRET_ARN_SUFFIX = re.compile(r"-[A-Za-z0-9]{6}$")
_TOPIC_ARN = re.compile(r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[\w-]{1,256}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# EventBridge's own rule for a custom bus's name, less "/" (only partner buses, which the
# gateway cannot publish to, have one), or "default".
_EVENT_BUS_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,256}$")
_EVENT_BUS_ARN = re.compile(
    r"^arn:aws[a-z-]*:events:[a-z0-9-]+:[0-9]{12}:event-bus/[A-Za-z0-9_.-]{1,256}$"
)

ContextLookup = Callable[[str], object]


class SettingsError(ValueError):
    """A context value is missing its form; the message names the key and the rule."""


@dataclass(frozen=True)
class GatewaySettings:
    """Everything the stack needs to know about this deployment."""

    secret_arn: str | None
    sender_id: str | None
    default_country_code: str
    uspeedo_endpoint: str
    uspeedo_action: str
    max_concurrency: int
    alarm_email: str | None
    extra_topic_arns: tuple[str, ...]
    traffic_policy: TrafficPolicy
    event_bus_name: str | None  # a name or an ARN; None: the stack creates the bus
    receipt_delay_seconds: int
    events_with_phone_numbers: bool
    delivery_rate_alarm: float

    @property
    def traffic_policy_document(self) -> str:
        """The policy as the SSM parameter holds it: its JSON document, every key written."""
        return traffic_policy_text(self.traffic_policy)

    @property
    def secret_arn_is_complete(self) -> bool:
        """True when `secret_arn` carries the random suffix Secrets Manager appends."""
        return self.secret_arn is not None and bool(_SECRET_ARN_SUFFIX.search(self.secret_arn))

    @classmethod
    def from_context(cls, lookup: ContextLookup) -> GatewaySettings:
        """Read and check every key; `lookup` is `node.try_get_context` (or a dict's `get`)."""
        return cls(
            secret_arn=_secret_arn(lookup(ContextKey.SECRET_ARN)),
            sender_id=_sender_id(lookup(ContextKey.SENDER_ID)),
            default_country_code=_country_code(lookup(ContextKey.DEFAULT_COUNTRY_CODE)),
            uspeedo_endpoint=_endpoint(lookup(ContextKey.USPEEDO_ENDPOINT)),
            uspeedo_action=_action(lookup(ContextKey.USPEEDO_ACTION)),
            max_concurrency=_integer(
                ContextKey.MAX_CONCURRENCY,
                lookup(ContextKey.MAX_CONCURRENCY),
                DEFAULT_MAX_CONCURRENCY,
                MAX_CONCURRENCY_RANGE,
            ),
            alarm_email=_alarm_email(lookup(ContextKey.ALARM_EMAIL)),
            extra_topic_arns=_topic_arns(lookup(ContextKey.EXTRA_TOPIC_ARNS)),
            traffic_policy=read_traffic_policy(lookup(ContextKey.TRAFFIC_POLICY)),
            event_bus_name=_event_bus(lookup(ContextKey.EVENT_BUS_NAME)),
            receipt_delay_seconds=_integer(
                ContextKey.RECEIPT_DELAY_SECONDS,
                lookup(ContextKey.RECEIPT_DELAY_SECONDS),
                DEFAULT_RECEIPT_DELAY_SECONDS,
                RECEIPT_DELAY_RANGE,
            ),
            events_with_phone_numbers=_flag(
                ContextKey.EVENTS_WITH_PHONE_NUMBERS,
                lookup(ContextKey.EVENTS_WITH_PHONE_NUMBERS),
            ),
            delivery_rate_alarm=_share(
                ContextKey.DELIVERY_RATE_ALARM,
                lookup(ContextKey.DELIVERY_RATE_ALARM),
                DEFAULT_DELIVERY_RATE_ALARM,
            ),
        )


def traffic_policy_text(policy: TrafficPolicy) -> str:
    """The JSON text of `policy` as its parameter holds it (`make local` writes the same)."""
    return json.dumps(policy.as_document())


def _text(key: str, value: object) -> str | None:
    """A string value, with an empty one (the `cdk.json` default) meaning unset."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise SettingsError(f"{key}: expected a string, got {type(value).__name__}")
    value = value.strip()
    return value or None


def _secret_arn(value: object) -> str | None:
    arn = _text(ContextKey.SECRET_ARN, value)
    if arn is not None and not _SECRET_ARN.match(arn):
        raise SettingsError(
            f"{ContextKey.SECRET_ARN}: not a Secrets Manager secret ARN: {arn!r} "
            "(leave it empty to have the stack create the secret)"
        )
    return arn


def _sender_id(value: object) -> str | None:
    sender_id = _text(ContextKey.SENDER_ID, value)
    if sender_id is not None and len(sender_id) > SENDER_ID_MAX_LENGTH:
        raise SettingsError(
            f"{ContextKey.SENDER_ID}: at most {SENDER_ID_MAX_LENGTH} characters, "
            f"got {len(sender_id)}"
        )
    return sender_id


def _country_code(value: object) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    code = _text(ContextKey.DEFAULT_COUNTRY_CODE, value) or DEFAULT_COUNTRY_CODE
    if not re.fullmatch(r"[1-9]\d{0,2}", code):
        raise SettingsError(
            f"{ContextKey.DEFAULT_COUNTRY_CODE}: 1 to 3 digits without a leading 0 or +, "
            f"got {code!r}"
        )
    return code


def _endpoint(value: object) -> str:
    endpoint = _text(ContextKey.USPEEDO_ENDPOINT, value) or DEFAULT_USPEEDO_ENDPOINT
    # Credentials are signed, not encrypted: the body (phone numbers) must never travel in clear.
    if not re.match(r"^https://[^/\s]+", endpoint):
        raise SettingsError(f"{ContextKey.USPEEDO_ENDPOINT}: must be an https:// URL")
    return endpoint


def _action(value: object) -> str:
    action = _text(ContextKey.USPEEDO_ACTION, value) or USPEEDO_ACTIONS[0]
    if action not in USPEEDO_ACTIONS:
        raise SettingsError(
            f"{ContextKey.USPEEDO_ACTION}: one of {', '.join(USPEEDO_ACTIONS)}, got {action!r}"
        )
    return action


def _integer(key: str, value: object, default: int, bounds: tuple[int, int]) -> int:
    """A whole number within `bounds` (inclusive), as a JSON number or a string of digits."""
    if value is None or value == "":
        return default
    # ASCII digits only: str.isdigit() also takes "²", which int() refuses.
    if isinstance(value, str) and re.fullmatch(r"[0-9]+", value.strip()):
        value = int(value)
    low, high = bounds
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise SettingsError(f"{key}: an integer from {low} to {high}, got {value!r}")
    return value


def _flag(key: str, value: object) -> bool:
    """A JSON boolean, or `true`/`false` (any case) as `-c` passes it; unset is false."""
    if value is None or value == "":
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise SettingsError(f"{key}: true or false, got {value!r}")


def _share(key: str, value: object, default: float) -> float:
    """A fraction from 0 to 1, as a JSON number or a string (`0.8`)."""
    if value is None or value == "":
        return default
    share: float | None = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        share = float(value)
    elif isinstance(value, str):
        try:
            share = float(value.strip())
        except ValueError:
            share = None
    if share is None or not math.isfinite(share) or not 0 <= share <= 1:
        raise SettingsError(f"{key}: a share from 0 to 1 (0.8 is 80 %), got {value!r}")
    return share


def _event_bus(value: object) -> str | None:
    """An existing bus of this account and region, by name or ARN; empty: the stack's own."""
    bus = _text(ContextKey.EVENT_BUS_NAME, value)
    if bus is None:
        return None
    pattern = _EVENT_BUS_ARN if bus.startswith("arn:") else _EVENT_BUS_NAME
    if not pattern.match(bus):
        raise SettingsError(
            f"{ContextKey.EVENT_BUS_NAME}: not an EventBridge event bus name or ARN: {bus!r} "
            "(leave it empty to have the stack create the bus)"
        )
    return bus


def _alarm_email(value: object) -> str | None:
    email = _text(ContextKey.ALARM_EMAIL, value)
    if email is not None and not _EMAIL.match(email):
        raise SettingsError(f"{ContextKey.ALARM_EMAIL}: not an e-mail address: {email!r}")
    return email


def _topic_arns(value: object) -> tuple[str, ...]:
    """A JSON list in `cdk.json`; on the command line a JSON list or comma-separated ARNs."""
    if value is None or value == "":
        return ()
    items: object = value
    if isinstance(value, str):
        text = value.strip()
        items = json.loads(text) if text.startswith("[") else text.split(",")
    if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
        raise SettingsError(f"{ContextKey.EXTRA_TOPIC_ARNS}: a list of SNS topic ARNs")
    arns = tuple(dict.fromkeys(item.strip() for item in items if item.strip()))
    for arn in arns:
        if not _TOPIC_ARN.match(arn):
            raise SettingsError(f"{ContextKey.EXTRA_TOPIC_ARNS}: not an SNS topic ARN: {arn!r}")
    return arns


def read_traffic_policy(value: object) -> TrafficPolicy:
    """A JSON object in `cdk.json`, a JSON string with `-c`; checked by the function's own
    model (`sms_gateway.policy`), so the stack never deploys a policy the gateway refuses.
    `make local` reads `cdk.json`'s through here too."""
    key = ContextKey.TRAFFIC_POLICY
    if value is None or (isinstance(value, str) and not value.strip()):
        value = DEFAULT_TRAFFIC_POLICY
    if not isinstance(value, str | dict):
        raise SettingsError(f"{key}: a JSON object, got {type(value).__name__}")
    try:
        policy = parse_policy(value)
    except PolicyError as exc:
        raise SettingsError(f"{key}: {exc}") from None
    length = len(traffic_policy_text(policy))
    if length > TRAFFIC_POLICY_MAX_LENGTH:
        raise SettingsError(
            f"{key}: the document is {length} characters written out; its SSM parameter "
            f"holds at most {TRAFFIC_POLICY_MAX_LENGTH}"
        )
    return policy
