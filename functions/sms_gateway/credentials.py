"""USpeedo credentials from Secrets Manager, through Powertools parameters (cached).

Powertools' parameters package imports boto3 and all its providers: it is imported when a
source is made (the gateway is built by the first invocation), not with this module.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from sms_gateway.errors import ConfigurationError
from sms_gateway.uspeedo_client import Credentials

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.parameters import SecretsProvider

# Rotation takes effect within five minutes without a fetch per invocation; a credentials
# RetCode forces an early refresh anyway.
CACHE_SECONDS: Final = 300


class CredentialsSource:
    """Reads `{"AccessKeyId", "AccessKeySecret", "AccountId"?}` from one secret."""

    def __init__(self, secret_id: str, provider: SecretsProvider | None = None) -> None:
        if provider is None:
            from aws_lambda_powertools.utilities.parameters import SecretsProvider

            provider = SecretsProvider()
        self.secret_id = secret_id
        self._provider = provider

    def get(self, *, refresh: bool = False) -> Credentials:
        """The credentials, from the cache unless `refresh` (after a credentials RetCode)."""
        value = self._fetch(refresh)
        try:
            return parse_secret(value)
        except ConfigurationError:
            if refresh:
                raise
            # Powertools caches the secret as it was fetched, usable or not: without a
            # fresh read, an operator's fix would wait out the cache (5 min) while every
            # message failed. (Found by tests/reliability: secret-incomplete.)
            return parse_secret(self._fetch(refresh=True))

    def _fetch(self, refresh: bool) -> Any:
        from aws_lambda_powertools.utilities.parameters.exceptions import (
            GetParameterError,
            TransformParameterError,
        )

        try:
            value = self._provider.get(
                self.secret_id, transform="json", max_age=CACHE_SECONDS, force_fetch=refresh
            )
        except TransformParameterError:
            raise ConfigurationError("the USpeedo secret is not a JSON object") from None
        except GetParameterError as exc:
            # Secrets Manager unreachable or the secret missing: retry later, and alarm.
            raise ConfigurationError(f"cannot read the USpeedo secret: {exc}") from None
        return value


def parse_secret(value: Any) -> Credentials:
    """Check the secret's shape; errors name the key, never a value."""
    if not isinstance(value, dict):
        raise ConfigurationError("the USpeedo secret must be a JSON object")
    key_id = _required_text(value, "AccessKeyId")
    secret = _required_text(value, "AccessKeySecret")
    account = value.get("AccountId")
    if account is not None and (type(account) is not int or account <= 0):
        raise ConfigurationError("the USpeedo secret's AccountId must be a positive integer")
    return Credentials(access_key_id=key_id, access_key_secret=secret, account_id=account)


def _required_text(secret: dict[str, Any], name: str) -> str:
    item = secret.get(name)
    if not isinstance(item, str) or not item.strip():
        raise ConfigurationError(f"the USpeedo secret needs a non-empty string {name}")
    return item
