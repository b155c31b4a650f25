"""How the gateway treats each USpeedo RetCode (shared/uspeedo-api.md, "RetCodes").

The provider publishes few codes; the rest come from UCloud, which USpeedo grew from. The
policy: retry what is the provider's trouble, refresh credentials once on what is ours,
never retry what is the message's fault.
"""

from __future__ import annotations

from enum import Enum

SUCCESS = 0


class Outcome(Enum):
    """What a caller should do about a RetCode."""

    SUCCESS = "success"
    TRANSIENT = "transient"  # retry later, with backoff
    CREDENTIALS = "credentials"  # refresh the secret once, then alarm
    UNKNOWN_ACTION = "unknown_action"  # a configuration error: alarm, retry like transient
    PERMANENT = "permanent"  # never retry: the request itself is refused


# Server error (215400), gateway unavailable (151, 200), service errors (18004, 18007).
TRANSIENT_RETCODES = frozenset({215400, 151, 200, 18004, 18007})
# Signature missing or wrong (170, 171), account problems (172, 173), bad key (215398).
CREDENTIALS_RETCODES = frozenset({170, 171, 172, 173, 215398})
# Of those, the ones about the account: when the message names its own AccountId, that
# account is the likely culprit, and no secret rotation will change the answer.
ACCOUNT_RETCODES = frozenset({172, 173})
# Action missing (160) or unknown (161): the provider retired or never had the action.
UNKNOWN_ACTION_RETCODES = frozenset({160, 161})

# The codes the sandbox answers with, named once so tests and sandbox agree.
PARAMETER_ERROR = 215392
MISSING_PARAMETER = 215397
SERVER_ERROR = 215400
BAD_ACCESS_KEY = 215398
SIGNATURE_MISSING = 170
SIGNATURE_WRONG = 171
ACCOUNT_PROBLEM = 172
ACTION_MISSING = 160
ACTION_UNKNOWN = 161
INVALID_NUMBERS = 18014
TEMPLATE_NOT_APPROVED = 18017
PARAMS_MISMATCH = 18018
TOO_MANY_NUMBERS = 18019


def classify(ret_code: int) -> Outcome:
    """The outcome class of a RetCode; any unlisted non-zero code is permanent."""
    if ret_code == SUCCESS:
        return Outcome.SUCCESS
    if ret_code in TRANSIENT_RETCODES:
        return Outcome.TRANSIENT
    if ret_code in CREDENTIALS_RETCODES:
        return Outcome.CREDENTIALS
    if ret_code in UNKNOWN_ACTION_RETCODES:
        return Outcome.UNKNOWN_ACTION
    return Outcome.PERMANENT
