"""The app's settings, read once from CDK context and checked before anything is built.

Values come from `cdk.json` (typed JSON) or from `-c key=value` on the command line (always
strings), so every reader accepts both forms. A bad value fails the synth with a message
that names the key, instead of surfacing later as a broken deployment.
"""

from __future__ import annotations

import json
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

_SECRET_ARN = re.compile(r"^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[\w/+=.@-]+$")
# Secrets Manager appends "-" and six random characters to a secret's name in its full ARN.
_SECRET_ARN_SUFFIX = re.compile(r"-[A-Za-z0-9]{6}$")
_TOPIC_ARN = re.compile(r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[\w-]{1,256}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

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
            max_concurrency=_max_concurrency(lookup(ContextKey.MAX_CONCURRENCY)),
            alarm_email=_alarm_email(lookup(ContextKey.ALARM_EMAIL)),
            extra_topic_arns=_topic_arns(lookup(ContextKey.EXTRA_TOPIC_ARNS)),
            traffic_policy=read_traffic_policy(lookup(ContextKey.TRAFFIC_POLICY)),
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


def _max_concurrency(value: object) -> int:
    if value is None or value == "":
        return DEFAULT_MAX_CONCURRENCY
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    low, high = MAX_CONCURRENCY_RANGE
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise SettingsError(
            f"{ContextKey.MAX_CONCURRENCY}: an integer from {low} to {high}, got {value!r}"
        )
    return value


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
