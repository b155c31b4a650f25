"""The gateway's REST API with its key: `POST /messages`, `GET /messages/{SessionNo,…}`, and
the opt-out list (`POST|GET /optouts`, `GET|DELETE /optouts/{PhoneNumber}`)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import quote, urlencode

import urllib3

from sms_gateway.contract import IDEMPOTENCY_KEY_HEADER
from smsgw import aws
from smsgw.errors import FAILED, SETUP_ERROR, CliError
from smsgw.outputs import API_KEY, API_KEY_ID, API_URL, Outputs

API_KEY_HEADER: Final = "x-api-key"
# The function's own time budget stays below API Gateway's 29 s; a little more covers the hop.
TIMEOUT: Final = urllib3.Timeout(connect=5.0, read=35.0)
# Connecting again is safe (nothing was sent yet); reading again after a POST is not. An
# answer is shown as it came: urllib3 would otherwise retry a GET's or a DELETE's 503 that
# carries Retry-After (the API's do) and, with no status retries, fail as "too many 503s".
RETRIES: Final = urllib3.Retry(
    total=2, connect=2, read=0, status=0, redirect=0, respect_retry_after_header=False
)
# Failures before the request left: a POST that failed so can be sent again without doubt.
# (NewConnectionError and NameResolutionError are ConnectTimeoutErrors too.)
_NOTHING_SENT: Final = (
    urllib3.exceptions.ConnectTimeoutError,
    urllib3.exceptions.SSLError,
    urllib3.exceptions.ProxyError,
)


@dataclass(frozen=True)
class Answer:
    """An API answer: its status and its body (parsed JSON, or the text when not JSON)."""

    status: int
    body: Any

    @property
    def ok(self) -> bool:
        """Whether the status is 2xx."""
        return 200 <= self.status < 300


class GatewayApi:
    """A client for one deployment's API."""

    def __init__(self, base_url: str, api_key: str, pool: urllib3.PoolManager | None = None):
        # `ApiUrl` ends with the stage and usually a slash (`…/v1/`); accept it either way.
        self.base_url = base_url.rstrip("/") + "/"
        self._api_key = api_key
        self._pool = pool or urllib3.PoolManager(timeout=TIMEOUT, retries=RETRIES)

    def send(self, message: dict[str, Any], idempotency_key: str | None = None) -> Answer:
        """`POST /messages` with `message` as the JSON body."""
        headers = {"Content-Type": "application/json"}
        if idempotency_key:
            headers[IDEMPOTENCY_KEY_HEADER] = idempotency_key
        return self._call(
            "POST", "messages", headers, json.dumps(message).encode(), may_have_sent=True
        )

    def receipts(self, session_nos: list[str]) -> Answer:
        """`GET /messages/{SessionNo,…}` (the API takes at most 100 at a time)."""
        path = "messages/" + ",".join(quote(s, safe="") for s in session_nos)
        return self._call("GET", path, {}, None)

    def optout_add(self, numbers: list[str]) -> Answer:
        """`POST /optouts` (the API takes 1 to 1,000 numbers at a time)."""
        body = json.dumps({"PhoneNumbers": numbers}).encode()
        return self._call("POST", "optouts", {"Content-Type": "application/json"}, body)

    def optout_check(self, number: str) -> Answer:
        """`GET /optouts/{PhoneNumber}`: 200 opted out, 404 not."""
        return self._call("GET", _optout_path(number), {}, None)

    def optout_remove(self, number: str) -> Answer:
        """`DELETE /optouts/{PhoneNumber}`: 200 removed, 404 it was not opted out."""
        return self._call("DELETE", _optout_path(number), {}, None)

    def optout_page(self, limit: int | None = None, next_token: str | None = None) -> Answer:
        """`GET /optouts?limit=&next=`: one page of the list and the next page's token."""
        query = {"limit": limit, "next": next_token}
        given = urlencode({k: v for k, v in query.items() if v is not None})
        return self._call("GET", f"optouts?{given}" if given else "optouts", {}, None)

    def _call(
        self,
        method: str,
        path: str,
        headers: dict[str, str],
        body: bytes | None,
        *,
        may_have_sent: bool = False,
    ) -> Answer:
        """One request. `may_have_sent`: a request that may not be repeated blindly (a
        message), so a lost answer says so instead of "cannot reach"."""
        url = self.base_url + path
        try:
            response = self._pool.request(
                method, url, body=body, headers={**headers, API_KEY_HEADER: self._api_key}
            )
        except urllib3.exceptions.MaxRetryError as error:
            reason = error.reason
            if may_have_sent and not isinstance(reason, _NOTHING_SENT):
                raise CliError(
                    "no answer from the API in time: the message may have been sent; send it "
                    "again with the same --key to be sure it goes out once",
                    FAILED,
                ) from error
            raise CliError(
                f"cannot reach the API at {self.base_url}: {reason}", SETUP_ERROR
            ) from error
        except urllib3.exceptions.HTTPError as error:
            raise CliError(f"the API at {self.base_url} failed: {error}", FAILED) from error
        text = response.data.decode("utf-8", errors="replace")
        try:
            parsed: Any = json.loads(text)
        except json.JSONDecodeError:
            parsed = text
        return Answer(status=response.status, body=parsed)


def _optout_path(number: str) -> str:
    """`optouts/{PhoneNumber}`, the number as typed, URL-encoded (`+` is `%2B`)."""
    return "optouts/" + quote(number.strip(), safe="")


def for_outputs(outputs: Outputs) -> GatewayApi:
    """The API of the stack in `outputs`, with its key: written by `make local`, or read
    from API Gateway (`get_api_key … includeValue`) for a deployed stack."""
    base_url = outputs.get(API_URL)
    if outputs.local:
        return GatewayApi(base_url, outputs.get(API_KEY))
    key_id = outputs.get(API_KEY_ID)
    try:
        answer = aws.client(outputs, "apigateway").get_api_key(apiKey=key_id, includeValue=True)
    except Exception as error:
        raise aws.explain(error, outputs) from error
    return GatewayApi(base_url, str(answer["value"]))
