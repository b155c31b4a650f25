"""API Gateway on one machine: requires the API key, turns each request into a REST proxy
event for the real handler, and answers what the handler returned."""

from __future__ import annotations

import base64
import json
import socket
import threading
import time
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Final
from urllib.parse import parse_qs, urlsplit

API_KEY_HEADER: Final = "x-api-key"
STAGE: Final = "local"
_MAX_BODY: Final = 10 * 1024 * 1024  # API Gateway's own payload limit


def proxy_event(
    method: str, target: str, headers: dict[str, str], body: bytes, api_key: str
) -> dict[str, Any]:
    """A REST API proxy event as API Gateway builds it."""
    parts = urlsplit(target)
    query = parse_qs(parts.query, keep_blank_values=True)
    try:
        text: str | None = body.decode("utf-8") if body else None
        is_base64 = False
    except UnicodeDecodeError:
        text, is_base64 = base64.b64encode(body).decode(), True
    now = time.time()
    return {
        "resource": parts.path,
        "path": parts.path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": {k: v[-1] for k, v in query.items()} or None,
        "multiValueQueryStringParameters": query or None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": parts.path,
            "httpMethod": method,
            "path": f"/{STAGE}{parts.path}",
            "stage": STAGE,
            "requestId": str(uuid.uuid4()),
            "requestTimeEpoch": int(now * 1000),
            "protocol": "HTTP/1.1",
            "identity": {
                "apiKey": api_key,
                "sourceIp": "127.0.0.1",
                "userAgent": headers.get("User-Agent"),
            },
            "accountId": "123456789012",
            "apiId": "local",
        },
        "body": text,
        "isBase64Encoded": is_base64,
    }


class _Handler(BaseHTTPRequestHandler):
    server: ApiServer
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        # Without it, keep-alive requests stall 40 ms on delayed ACKs.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_GET(self) -> None:
        self._proxy()

    def do_POST(self) -> None:
        self._proxy()

    def do_PUT(self) -> None:
        self._proxy()

    def do_DELETE(self) -> None:
        self._proxy()

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the handler's own JSON logs say what happened."""

    def _proxy(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length > _MAX_BODY:
            self._answer(413, {"Error": {"Code": "PayloadTooLarge", "Message": "body over 10 MB"}})
            return
        body = self.rfile.read(length) if length else b""
        headers = dict(self.headers.items())
        given = next((v for k, v in headers.items() if k.lower() == API_KEY_HEADER), None)
        if given != self.server.api_key:
            # API Gateway refuses before the function runs; the stack answers in this shape.
            self._answer(
                403, {"Error": {"Code": "Forbidden", "Message": "missing or wrong API key"}}
            )
            return
        event = proxy_event(self.command, self.path, headers, body, self.server.api_key)
        try:
            result = self.server.invoke(event)
        except Exception:
            self._answer(
                502, {"Error": {"Code": "InternalError", "Message": "the function failed"}}
            )
            return
        payload = result.get("body") or ""
        data = base64.b64decode(payload) if result.get("isBase64Encoded") else payload.encode()
        answer_headers = dict(result.get("headers") or {})
        for name, values in (result.get("multiValueHeaders") or {}).items():
            answer_headers.setdefault(name, values[-1])
        self._send(int(result.get("statusCode", 200)), data, answer_headers)

    def _answer(self, status: int, body: dict[str, Any]) -> None:
        self._send(status, json.dumps(body).encode(), {"Content-Type": "application/json"})

    def _send(self, status: int, data: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for name, value in headers.items():
            if name.lower() not in ("content-length", "connection"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class ApiServer(ThreadingHTTPServer):
    """The local API endpoint on 127.0.0.1."""

    daemon_threads = True

    def __init__(
        self,
        invoke: Callable[[dict[str, Any]], Any],
        api_key: str,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        super().__init__((host, port), _Handler)
        self.invoke = invoke
        self.api_key = api_key
        self.host = host
        self._thread = threading.Thread(target=self.serve_forever, name="local-api", daemon=True)

    @property
    def url(self) -> str:
        """The API's base URL, like the stack's `ApiUrl` output (ends with a slash)."""
        return f"http://{self.host}:{self.server_address[1]}/"

    def start(self) -> None:
        """Serve on a thread."""
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self.shutdown()
        self.server_close()
