"""The real handler, invoked the way Lambda would: one invocation at a time (one
container), with a context whose remaining time counts down from the function timeout."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from typing import Any

from local_gateway.context import LocalContext
from sms_gateway import handler, time_budget
from sms_gateway.gateway import AwsClients, Gateway
from sms_gateway.settings import Settings


class LambdaRuntime:
    """Builds the gateway from the contract's environment variables, with boto3 clients
    bound to the moto server, and runs the real `lambda_handler`."""

    def __init__(
        self, environment: Mapping[str, str], clients: Mapping[str, Any], function_name: str
    ) -> None:
        self.gateway = Gateway.from_settings(
            Settings.from_env(environment),
            AwsClients.of(
                clients["dynamodb"],
                clients["secretsmanager"],
                clients["sqs"],
                ssm=clients["ssm"],
                events=clients["events"],
            ),
        )
        self.function_name = function_name
        # Lambda runs one invocation per container at a time; Powertools' logger and
        # metrics keep per-invocation state that relies on it.
        self._lock = threading.Lock()

    def invoke(self, event: Any) -> Any:
        """Invoke the handler; raises what it raises (a direct invoke's typed errors)."""
        with self._lock:
            handler.use_gateway(self.gateway)
            context = LocalContext(
                function_name=self.function_name,
                deadline=time.monotonic() + time_budget.FUNCTION_TIMEOUT_S,
                invoked_function_arn="",
                log_group_name="/aws/lambda/local",
                log_stream_name="local",
            )
            return handler.lambda_handler(event, context)

    def close(self) -> None:
        """Stop the gateway's worker threads."""
        handler.use_gateway(None)
        self.gateway.close()
