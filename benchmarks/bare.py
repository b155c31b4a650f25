"""The bare minimum: USpeedo's signed call written by hand with urllib3, no gateway code.

This is the floor the gateway is measured against — what one would write in a hurry: sign
the body (USpeedo's documented SHA-1 scheme), POST it, check RetCode. No validation, no
timeouts policy, no typed errors. Only the standard library and urllib3 are imported.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from typing import Any

import urllib3


def _encode(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int):
        return str(value)
    if isinstance(value, list):
        return "".join(_encode(item) for item in value)
    if isinstance(value, dict):
        return "".join(f"{key}{_encode(value[key])}" for key in sorted(value))
    raise TypeError(f"cannot sign a {type(value).__name__}")


def sign(body: dict[str, Any], secret: str) -> str:
    """USpeedo's signature: sorted `key + value` pairs, then the secret, SHA-1 hex."""
    text = "".join(f"{key}{_encode(body[key])}" for key in sorted(body)) + secret
    return hashlib.sha1(text.encode("utf-8")).hexdigest()  # noqa: S324 (the provider's scheme)


class BareSender:
    """SendUSMSMessage over one keep-alive pool."""

    def __init__(
        self,
        endpoint: str,
        key_id: str,
        secret: str,
        account_id: int | None,
        pool: urllib3.PoolManager | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.key_id = key_id
        self.secret = secret
        self.account_id = account_id
        self.pool = pool or urllib3.PoolManager(maxsize=16)

    def send(self, fields: dict[str, Any]) -> str:
        """Send; the SessionNo. Raises RuntimeError when the provider did not accept it."""
        body: dict[str, Any] = {"Action": "SendUSMSMessage", **fields}
        if self.account_id is not None:
            body.setdefault("AccountId", self.account_id)
        response = self.pool.request(
            "POST",
            self.endpoint,
            body=json.dumps(body, separators=(",", ":")).encode(),
            headers={
                "Content-Type": "application/json",
                "X-Access-Key-Id": self.key_id,
                "X-Signature": sign(body, self.secret),
                "X-Timestamp": str(int(time.time())),
                "X-Nonce": secrets.token_hex(16),
            },
            timeout=urllib3.Timeout(connect=3, read=10),
        )
        answer = json.loads(response.data)
        if response.status != 200 or answer.get("RetCode") != 0:
            raise RuntimeError(f"not accepted: HTTP {response.status}, {answer.get('RetCode')}")
        return str(answer.get("SessionNo", ""))
