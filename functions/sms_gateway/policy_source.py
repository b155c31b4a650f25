"""The traffic policy as the function reads it: from its SSM parameter, cached for at most
60 seconds, so a change takes effect within a minute with no deploy.

A document that does not parse or breaks a rule never disables protection: the source
keeps the last good policy it had and logs why; with none, nothing is sent
(`PolicyUnavailableError`: retried, and alarmed).
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Final

from sms_gateway.errors import PolicyUnavailableError
from sms_gateway.policy import PolicyError, TrafficPolicy, parse_policy

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.parameters import SSMProvider

logger = logging.getLogger(__name__)

# How long a read policy is used before the parameter is read again.
CACHE_SECONDS: Final = 60


class PolicySource:
    """The current policy of one SSM parameter; None as the parameter name means none."""

    def __init__(
        self,
        parameter_name: str | None,
        provider: SSMProvider | None = None,
        cache_seconds: int = CACHE_SECONDS,
    ) -> None:
        self.parameter_name = parameter_name
        self._provider = provider
        self._cache_seconds = cache_seconds
        self._force_read = False
        self._last_good: TrafficPolicy | None = None
        self._last_text: str | None = None
        self._lock = threading.Lock()

    def current(self) -> TrafficPolicy | None:
        """The policy in force (None when the gateway runs without one)."""
        if self.parameter_name is None:
            return None
        with self._lock:
            text = self._read()
            if text is not None and text != self._last_text:
                self._last_text = text
                try:
                    self._last_good = parse_policy(text)
                except PolicyError as exc:
                    logger.error(
                        "the traffic policy parameter holds an invalid document; keeping the "
                        "last good policy",
                        extra={"reason": str(exc), "has_last_good": self._last_good is not None},
                    )
            if self._last_good is None:
                raise PolicyUnavailableError("no valid traffic policy: nothing is sent")
            return self._last_good

    def refresh(self) -> None:
        """Read the parameter again on next use, cached or not (as a new container would):
        for the local run and its tests, which cannot wait out the cache."""
        with self._lock:
            self._force_read = True

    def _read(self) -> str | None:
        from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

        provider = self._provider
        if provider is None:
            from aws_lambda_powertools.utilities.parameters import SSMProvider

            provider = self._provider = SSMProvider()
        try:
            value = provider.get(
                self.parameter_name or "",
                max_age=self._cache_seconds,
                force_fetch=self._force_read,
            )
            self._force_read = False
        except GetParameterError as exc:
            logger.error("cannot read the traffic policy parameter", extra={"reason": str(exc)})
            return None
        return value if isinstance(value, str) else None
