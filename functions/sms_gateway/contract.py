"""The gateway's contract in names and values, defined once for the function, the CLI
(`smsgw`), the local gateway and the stack.

Standard library only: the CLI imports this module without the function's dependencies
(pydantic, Powertools), so keep it that way.
"""

from __future__ import annotations

from typing import Final

# --- The message ----------------------------------------------------------------------

# The message's field names: SendUSMSMessage's own, plus Recipients and IdempotencyKey (the
# order is the model's).
MESSAGE_FIELDS: Final = (
    "PhoneNumbers",
    "Recipients",
    "TemplateId",
    "TemplateParams",
    "SenderId",
    "ExtendCode",
    "UserId",
    "AccountId",
    "Action",
    "IdempotencyKey",
    "TimeToLive",
)
# Numbers written without a country code belong to China unless DEFAULT_COUNTRY_CODE says
# otherwise (bare digits).
DEFAULT_COUNTRY_CODE: Final = "86"

# --- Idempotency ----------------------------------------------------------------------

# The message attribute (SNS, SQS) a producer names a message's idempotency key with; the
# same name as the message's own field.
IDEMPOTENCY_KEY_ATTRIBUTE: Final = "IdempotencyKey"
# The API's request header for the same key.
IDEMPOTENCY_KEY_HEADER: Final = "Idempotency-Key"

# --- The dead-letter queue ------------------------------------------------------------

# A parked message keeps its body unchanged; the reason is in these message attributes,
# beside the producer's own.
ERROR_CODE_ATTRIBUTE: Final = "ErrorCode"
ERROR_MESSAGE_ATTRIBUTE: Final = "ErrorMessage"
RET_CODE_ATTRIBUTE: Final = "RetCode"
# The MessageId the producer got (SQS's, or SNS's for a notification): a parked message
# can be found by what was sent. A redrive keeps it, so parked again it still names it.
ORIGINAL_MESSAGE_ID_ATTRIBUTE: Final = "OriginalMessageId"
DEAD_LETTER_ATTRIBUTES: Final = frozenset(
    {ERROR_CODE_ATTRIBUTE, ERROR_MESSAGE_ATTRIBUTE, RET_CODE_ATTRIBUTE}
)

# --- Error codes (a parked message's ErrorCode, an API error's code) ------------------

GATEWAY_ERROR: Final = "GatewayError"
INVALID_MESSAGE: Final = "InvalidMessage"
PROVIDER_ERROR: Final = "ProviderError"
PROVIDER_UNAVAILABLE: Final = "ProviderUnavailable"
PROVIDER_ACTION_UNKNOWN: Final = "ProviderActionUnknown"
PROVIDER_CREDENTIALS_REJECTED: Final = "ProviderCredentialsRejected"
PROVIDER_REJECTED: Final = "ProviderRejected"
PROVIDER_REFUSED_NUMBERS: Final = "ProviderRefusedNumbers"
# The call was written but no usable answer came back: the provider may have sent it.
PROVIDER_OUTCOME_UNKNOWN: Final = "ProviderOutcomeUnknown"
IDEMPOTENCY_KEY_REUSED: Final = "IdempotencyKeyReused"
MESSAGE_IN_PROGRESS: Final = "MessageInProgress"
INVOCATION_OUT_OF_TIME: Final = "InvocationOutOfTime"
GATEWAY_MISCONFIGURED: Final = "GatewayMisconfigured"
IDEMPOTENCY_STORE_UNAVAILABLE: Final = "IdempotencyStoreUnavailable"
UNSUPPORTED_EVENT: Final = "UnsupportedEvent"
# Protection: every number refused by the traffic policy or the opt-out list; too old to
# send; no usable policy at all.
POLICY_REFUSED: Final = "PolicyRefused"
EXPIRED: Final = "Expired"
POLICY_UNAVAILABLE: Final = "PolicyUnavailable"
ERROR_CODES: Final = frozenset(
    {
        GATEWAY_ERROR,
        INVALID_MESSAGE,
        PROVIDER_ERROR,
        PROVIDER_UNAVAILABLE,
        PROVIDER_ACTION_UNKNOWN,
        PROVIDER_CREDENTIALS_REJECTED,
        PROVIDER_REJECTED,
        PROVIDER_REFUSED_NUMBERS,
        PROVIDER_OUTCOME_UNKNOWN,
        IDEMPOTENCY_KEY_REUSED,
        MESSAGE_IN_PROGRESS,
        INVOCATION_OUT_OF_TIME,
        GATEWAY_MISCONFIGURED,
        IDEMPOTENCY_STORE_UNAVAILABLE,
        UNSUPPORTED_EVENT,
        POLICY_REFUSED,
        EXPIRED,
        POLICY_UNAVAILABLE,
    }
)

# --- Protection -----------------------------------------------------------------------

# Why the gateway refused one number (a `Failed` entry's `Reason`), checked in this order.
OPTED_OUT: Final = "opted_out"
COUNTRY_BLOCKED: Final = "country_blocked"
RATE_LIMITED: Final = "rate_limited"  # a Number or Prefix limit
CAP_REACHED: Final = "cap_reached"  # a Country or Global limit
POLICY_REASONS: Final = (OPTED_OUT, COUNTRY_BLOCKED, RATE_LIMITED, CAP_REACHED)
# `GET`/`DELETE /optouts/{PhoneNumber}` of a number that is not opted out (404).
NOT_OPTED_OUT: Final = "NotOptedOut"
# A message's own expiry, in seconds from when it entered AWS.
TIME_TO_LIVE_FIELD: Final = "TimeToLive"

# --- Delivery status events (EventBridge) ---------------------------------------------

EVENT_SOURCE: Final = "sms-gateway"
EVENT_DETAIL_TYPE: Final = "SMS Delivery Status"
DELIVERED: Final = "DELIVERED"
FAILED: Final = "FAILED"
UNKNOWN_STATUS: Final = "UNKNOWN"
DELIVERY_STATUSES: Final = (DELIVERED, FAILED, UNKNOWN_STATUS)

# --- Masking --------------------------------------------------------------------------

# What is shown of a phone number anywhere (logs, dead-letter reasons, the CLI's output).
MASK_KEEP_DIGITS: Final = 4


def mask_phone(number: str) -> str:
    """Mask all but the last 4 digits with `*`, keeping every other character in place.

    `(86)13800138000` → `(**)*******8000`; `+14155550100` → `+*******0100`; a number of 4
    digits or fewer has nothing to mask (`123` → `123`).
    """
    total_digits = sum(ch.isdigit() for ch in number)
    masked = total_digits - MASK_KEEP_DIGITS
    out = []
    digits_seen = 0
    for ch in number:
        if ch.isdigit():
            digits_seen += 1
            out.append("*" if digits_seen <= masked else ch)
        else:
            out.append(ch)
    return "".join(out)
