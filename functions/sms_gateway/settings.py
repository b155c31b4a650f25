"""The function's environment (the variables the README lists), read and checked once."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from sms_gateway.contract import DEFAULT_COUNTRY_CODE
from sms_gateway.errors import ConfigurationError
from sms_gateway.phone import validate_country_code
from sms_gateway.uspeedo_client import BATCH_ACTION, DEFAULT_ENDPOINT, SEND_ACTION

# How ordinary messages go upstream: SendUSMSMessage (the seed's action, the default) or
# SendBatchUSMSMessage (one task whose targets share the parameters) for the day the
# provider retires the first. Personalised messages always use the batch action.
SUPPORTED_ACTIONS: Final = frozenset({SEND_ACTION, BATCH_ACTION})
# Long enough for SNS's and SQS's own duplicates and a day of redrives; short enough that
# a person sending the same text to the same number again tomorrow is not silently deduped.
DEFAULT_IDEMPOTENCY_TTL_S: Final = 24 * 60 * 60
# The first receipt check's delay: receipts are usually final 5–10 minutes after a send.
DEFAULT_RECEIPT_DELAY_S: Final = 300
# An SQS message's longest delay (DelaySeconds).
MAX_RECEIPT_DELAY_S: Final = 900


@dataclass(frozen=True)
class Settings:
    """Where the secrets, the provider, the table and the dead-letter queue are."""

    secret_id: str
    endpoint: str = DEFAULT_ENDPOINT
    action: str = SEND_ACTION
    idempotency_table: str | None = None
    dead_letter_queue_url: str | None = None
    default_sender_id: str | None = None
    default_country_code: str = DEFAULT_COUNTRY_CODE
    idempotency_ttl_s: int = DEFAULT_IDEMPOTENCY_TTL_S
    gateway_key_secret_id: str | None = None
    traffic_policy_parameter: str | None = None
    protection_table: str | None = None
    # Seconds a read traffic policy is used before the parameter is read again.
    policy_cache_s: int = 60
    # Delivery status events: where receipt checks are queued and events published.
    receipts_queue_url: str | None = None
    receipt_delay_s: int = DEFAULT_RECEIPT_DELAY_S
    event_bus_name: str | None = None
    events_with_phone_numbers: bool = False

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read the contract's variables; a bad one raises `ConfigurationError` naming it."""
        env = os.environ if environ is None else environ

        def optional(name: str) -> str | None:
            value = env.get(name, "").strip()
            return value or None

        secret_id = optional("USPEEDO_SECRET_ID")
        if secret_id is None:
            raise ConfigurationError("USPEEDO_SECRET_ID is required: the secret's name or ARN")
        action = optional("USPEEDO_ACTION") or SEND_ACTION
        if action not in SUPPORTED_ACTIONS:
            raise ConfigurationError(
                f"USPEEDO_ACTION must be one of {', '.join(sorted(SUPPORTED_ACTIONS))}"
            )
        try:
            country_code = validate_country_code(
                optional("DEFAULT_COUNTRY_CODE") or DEFAULT_COUNTRY_CODE
            )
        except ValueError as exc:
            raise ConfigurationError(f"DEFAULT_COUNTRY_CODE: {exc}") from None
        receipt_delay_s = _receipt_delay(optional("RECEIPT_DELAY_SECONDS"))
        with_numbers = (optional("EVENTS_WITH_PHONE_NUMBERS") or "false").lower()
        if with_numbers not in ("true", "false"):
            raise ConfigurationError("EVENTS_WITH_PHONE_NUMBERS must be true or false")
        ttl_text = optional("IDEMPOTENCY_TTL_SECONDS")
        if ttl_text is not None and not ttl_text.isdigit():
            raise ConfigurationError("IDEMPOTENCY_TTL_SECONDS must be a whole number of seconds")
        return cls(
            secret_id=secret_id,
            endpoint=optional("USPEEDO_ENDPOINT") or DEFAULT_ENDPOINT,
            action=action,
            idempotency_table=optional("IDEMPOTENCY_TABLE"),
            dead_letter_queue_url=optional("DEAD_LETTER_QUEUE_URL"),
            default_sender_id=optional("DEFAULT_SENDER_ID"),
            default_country_code=country_code,
            idempotency_ttl_s=int(ttl_text) if ttl_text else DEFAULT_IDEMPOTENCY_TTL_S,
            gateway_key_secret_id=optional("GATEWAY_KEY_SECRET_ID"),
            traffic_policy_parameter=optional("TRAFFIC_POLICY_PARAMETER"),
            protection_table=optional("PROTECTION_TABLE"),
            receipts_queue_url=optional("RECEIPTS_QUEUE_URL"),
            receipt_delay_s=receipt_delay_s,
            event_bus_name=optional("EVENT_BUS_NAME"),
            events_with_phone_numbers=with_numbers == "true",
        )


def _receipt_delay(text: str | None) -> int:
    """RECEIPT_DELAY_SECONDS: an SQS delay, 1 to 900 seconds."""
    if text is None:
        return DEFAULT_RECEIPT_DELAY_S
    if not text.isdigit() or not 1 <= int(text) <= MAX_RECEIPT_DELAY_S:
        raise ConfigurationError(
            f"RECEIPT_DELAY_SECONDS must be a whole number of seconds, 1 to {MAX_RECEIPT_DELAY_S}"
        )
    return int(text)
