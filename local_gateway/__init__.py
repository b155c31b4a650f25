"""`make local`: the whole gateway on one machine — no AWS account, no Docker.

A moto server stands in for SNS, SQS, Secrets Manager, DynamoDB and SSM (the traffic
policy's parameter); the USpeedo sandbox for the provider; an event pump for Lambda's SQS
event source; a small HTTP server for API Gateway. The real handler
(`sms_gateway.handler.lambda_handler`) does the work.
"""

from __future__ import annotations

import sys
from pathlib import Path

try:
    import sms_gateway  # noqa: F401
except ModuleNotFoundError:
    # The handler lives in the Lambda's code root `functions/`; `python -m local_gateway`
    # from the repository root does not have it on the path. Add it here, once.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "functions"))
