"""Queue settings shared by the stack and the local run (`make local`), so they cannot drift.

Plain Python, no CDK import: the local run reads these without starting jsii.
"""

from __future__ import annotations

from typing import Final

# A message that failed transiently is received again after each visibility timeout; five
# receives (≈ 5 × 6 min) ride out a provider outage of about half an hour, which is also
# about as long as a one-time code stays useful. AWS's guidance for Lambda consumers is at
# least 5, so that a burst of throttling alone cannot push a message into the dead-letter
# queue. Idempotency makes each retry safe: numbers already sent are not sent again.
MAX_RECEIVE_COUNT: Final = 5
# Long enough for someone back from a holiday to look at, and redrive, what was parked.
DEAD_LETTER_RETENTION_DAYS: Final = 14
# The SNS subscription delivers the message itself, not SNS's JSON envelope.
RAW_MESSAGE_DELIVERY: Final = True
# A full SQS batch from the queue; the function sends its records concurrently.
BATCH_SIZE: Final = 10
