"""The HTTP layer: a keep-alive HTTP/1.1 server for the provider API (`POST /api`), the
faults applied to it, and the control API (`/_sandbox/*`)."""

from __future__ import annotations

import contextlib
import json
import socket
import socketserver
import struct
import sys
import threading
from collections.abc import Callable, Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from sms_gateway import retcodes
from uspeedo_sandbox.faults import Fault, FaultPlan, Pick
from uspeedo_sandbox.provider import Provider, response_action
from uspeedo_sandbox.store import RecordedRequest, Store

API_PATH = "/api"
CONTROL_PREFIX = "/_sandbox/"
MAX_BODY_BYTES = 1 << 20  # 1,000 numbers are ~20 KB; anything near 1 MiB is a mistake
IDLE_TIMEOUT_SECONDS = 120  # an idle keep-alive connection is closed after this
GARBAGE_BODY = b"<html><body><h1>502 Bad Gateway</h1></body></html>\n"
TRUNCATED_BODY = b'{"RetCode": 0, "Action": "SendUSMSMessageResponse", "Mess'
# Valid JSON too deep for a recursive parser or walker (Python 3.13's parser included).
NESTING_BOMB_DEPTH = 100_000
NESTED_BODY = b"[" * NESTING_BOMB_DEPTH + b"]" * NESTING_BOMB_DEPTH
_JSON = "application/json; charset=utf-8"


class SandboxHTTPServer(ThreadingHTTPServer):
    """A threaded HTTP server that tracks its open connections, so `close_connections` can
    end idle keep-alive ones at stop, and sets TCP_NODELAY on each."""

    daemon_threads = True
    # Don't join handler threads on close: a hung or idle keep-alive one would block stop().
    block_on_close = False
    request_queue_size = 128

    def __init__(
        self,
        address: tuple[str, int],
        provider: Provider,
        store: Store,
        faults: FaultPlan,
        clock: Callable[[], float],
        log_requests: bool,
    ) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.provider = provider
        self.store = store
        self.faults = faults
        self.clock = clock
        self.log_requests = log_requests
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__(address, SandboxHandler)

    def server_bind(self) -> None:
        """Bind without HTTPServer's getfqdn(), which can wait on DNS for seconds."""
        socketserver.TCPServer.server_bind(self)
        self.server_name = str(self.server_address[0])
        self.server_port = int(self.server_address[1])

    def get_request(self) -> tuple[socket.socket, Any]:
        """Accept a connection and set TCP_NODELAY on it."""
        sock, address = super().get_request()
        # Without it, a keep-alive request waits ~40 ms on the client's delayed ACK
        # (measured: 23 calls/s instead of 2,650).
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self._open_lock:
            self._open.add(sock)
        return sock, address

    def shutdown_request(self, request: Any) -> None:
        """Forget the connection, then close it."""
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Stay quiet when a client went away (or stop() shut its socket); else report."""
        if isinstance(sys.exc_info()[1], OSError):
            return
        super().handle_error(request, client_address)

    def close_connections(self) -> None:
        """Shut down every open connection: handler threads waiting on them return."""
        with self._open_lock:
            open_now = list(self._open)
        for sock in open_now:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class SandboxHandler(BaseHTTPRequestHandler):
    """One connection: provider API requests, with faults, and control API requests."""

    protocol_version = "HTTP/1.1"  # keep-alive, like the real API behind its load balancer
    server_version = "uspeedo-sandbox"
    sys_version = ""
    timeout = IDLE_TIMEOUT_SECONDS
    server: SandboxHTTPServer

    def setup(self) -> None:
        """Name the thread after the server, so a leaked or hung handler is easy to spot."""
        super().setup()
        threading.current_thread().name = f"uspeedo-sandbox:{self.server.server_port} handler"

    def do_GET(self) -> None:
        """Dispatch a GET."""
        self._dispatch()

    def do_POST(self) -> None:
        """Dispatch a POST."""
        self._dispatch()

    def do_DELETE(self) -> None:
        """Dispatch a DELETE."""
        self._dispatch()

    def do_PUT(self) -> None:
        """Dispatch a PUT (always refused)."""
        self._dispatch()

    def log_message(self, format: str, *args: Any) -> None:
        """Log to stderr only when asked: tests would drown in access lines."""
        if self.server.log_requests:
            super().log_message(format, *args)

    # --- routing -------------------------------------------------------------------------

    def _dispatch(self) -> None:
        path = urlsplit(self.path).path  # the SDK appends ?Action=…; it is ignored
        if path == API_PATH:
            if self.command == "POST":
                self.server.store.enter()
                try:
                    self._provider_api()
                finally:
                    self.server.store.leave()
            else:
                self._discard_body()
                self._send_json(405, {"Error": "use POST /api"}, [("Allow", "POST")])
        elif path.startswith(CONTROL_PREFIX):
            self._control_api(path[len(CONTROL_PREFIX) :])
        else:
            self._discard_body()
            self._send_json(404, {"Error": f"no such path: {path}"})

    # --- the provider API ----------------------------------------------------------------

    def _provider_api(self) -> None:
        raw = self._read_body()
        if raw is None:
            return
        received_at = self.server.clock()
        text = raw.decode("utf-8", errors="replace")
        try:
            parsed: Any = json.loads(text)
            parsed_ok = True
        except ValueError:
            parsed, parsed_ok = text, False
        action = parsed.get("Action") if isinstance(parsed, dict) else None
        action = action if isinstance(action, str) else None

        def record(ret_code: int | None, status: int | None, fault: str | None) -> None:
            self.server.store.record(
                RecordedRequest(
                    method=self.command,
                    path=self.path,
                    action=action,
                    headers=dict(self.headers.items()),
                    body=parsed,
                    body_is_json=parsed_ok,
                    ret_code=ret_code,
                    http_status=status,
                    fault=fault,
                    received_at=received_at,
                )
            )

        pick = self.server.faults.pick(action, _template_ids(parsed))
        if pick is not None and pick.fault.kind not in ("slow", "refuse"):
            self._apply_fault(pick, parsed, record)
            return
        if (
            pick is not None
            and pick.fault.kind == "slow"
            and not self.server.faults.sleep(pick.fault.delay)
        ):
            record(None, None, "slow")  # the server stopped while sleeping: no answer
            self.close_connection = True
            return
        headers = {name.lower(): value for name, value in self.headers.items()}
        refuse = pick.fault if pick is not None and pick.fault.kind == "refuse" else None
        answer = self.server.provider.handle(headers, parsed, parsed_ok, refuse)
        # Record before answering: a client that has its answer can already see the record.
        record(answer["RetCode"], 200, pick.fault.kind if pick else None)
        self._send_json(200, answer)

    def _apply_fault(
        self, pick: Pick, parsed: Any, record: Callable[[int | None, int | None, str], None]
    ) -> None:
        fault: Fault = pick.fault
        kind = fault.kind
        if kind == "status":
            record(retcodes.SERVER_ERROR, fault.status, kind)
            extra = [] if fault.retry_after is None else [("Retry-After", str(fault.retry_after))]
            message = fault.message or f"sandbox fault: HTTP {fault.status}"
            body = {"RetCode": retcodes.SERVER_ERROR, "Message": message}
            self._send_json(fault.status, body, extra)
        elif kind == "retcode":
            record(fault.ret_code, 200, kind)
            message = fault.message or f"sandbox fault: RetCode {fault.ret_code}"
            answer = {
                "RetCode": fault.ret_code,
                "Action": response_action(parsed),
                "Message": message,
            }
            self._send_json(200, answer)
        elif kind == "garbage":
            record(None, 200, kind)
            self._send(200, GARBAGE_BODY, "text/html")
        elif kind == "nested":
            record(None, 200, kind)
            self._send(200, NESTED_BODY, _JSON)
        elif kind == "truncated":
            record(None, 200, kind)
            self.close_connection = True
            self._send(200, TRUNCATED_BODY, _JSON, content_length=len(TRUNCATED_BODY) + 64)
        elif kind == "drop":
            record(None, None, kind)
            self._reset_connection()
        else:  # hang
            record(None, None, kind)
            self.server.faults.hold(pick.generation)
            # Released (faults cleared, or stopping): still no answer, just close.
            self.close_connection = True

    def _reset_connection(self) -> None:
        """Close the socket with SO_LINGER 0: the client gets an RST, not an answer."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        # rfile holds a reference to the socket: close both, or close() only drops a ref.
        self.rfile.close()
        self.connection.close()

    # --- the control API -----------------------------------------------------------------

    def _control_api(self, name: str) -> None:
        raw = self._read_body()
        if raw is None:
            return
        server = self.server
        route = (self.command, name)
        if route == ("GET", "messages"):
            messages = [m.to_json() for m in server.store.accepted()]
            self._send_json(200, {"Messages": messages})
        elif route == ("GET", "requests"):
            self._send_json(200, {"Requests": [r.to_json() for r in server.store.requests()]})
        elif route == ("GET", "faults"):
            self._send_json(200, {"Faults": [f.to_json() for f in server.faults.faults()]})
        elif route == ("POST", "faults"):
            try:
                data = json.loads(raw)
                if not isinstance(data, dict):
                    raise ValueError("a fault is a JSON object")
                fault = Fault.from_json(data)
            except (ValueError, TypeError) as error:
                self._send_json(400, {"Error": str(error)})
                return
            server.faults.add(fault)
            self._send_json(200, {"Faults": [f.to_json() for f in server.faults.faults()]})
        elif route == ("DELETE", "faults"):
            server.faults.clear()
            self._send_json(200, {"Faults": []})
        elif route == ("POST", "reset"):
            server.store.reset()
            server.faults.clear()
            self._send_json(200, {"Reset": True})
        elif name in {"messages", "requests", "faults", "reset"}:
            self._send_json(405, {"Error": f"{self.command} not allowed on /_sandbox/{name}"})
        else:
            self._send_json(404, {"Error": f"no such path: /_sandbox/{name}"})

    # --- reading and writing -------------------------------------------------------------

    def _read_body(self) -> bytes | None:
        """The request body (Content-Length or chunked); None if the connection is unusable
        (an error was answered or the client went away)."""
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            return self._read_chunked()
        length_header = self.headers.get("Content-Length")
        if length_header is None:
            return b""
        if not length_header.strip().isdigit():
            self._fail_request(400, "bad Content-Length")
            return None
        length = int(length_header)
        if length > MAX_BODY_BYTES:
            self._fail_request(413, "body too large")
            return None
        raw = self.rfile.read(length)
        if len(raw) < length:  # the client went away mid-body
            self.close_connection = True
            return None
        return raw

    def _read_chunked(self) -> bytes | None:
        chunks: list[bytes] = []
        total = 0
        while True:
            line = self.rfile.readline(1024)
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                self._fail_request(400, "bad chunk")
                return None
            if size == 0:
                break
            total += size
            if total > MAX_BODY_BYTES:
                self._fail_request(413, "body too large")
                return None
            chunk = self.rfile.read(size)
            if len(chunk) < size or self.rfile.readline(3) != b"\r\n":
                self.close_connection = True
                return None
            chunks.append(chunk)
        while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):  # trailers
            pass
        return b"".join(chunks)

    def _discard_body(self) -> None:
        # Keep-alive needs the next request to start where this one's body ends.
        if self._read_body() is None:
            self.close_connection = True

    def _fail_request(self, status: int, error: str) -> None:
        # The rest of the stream can't be trusted: answer, then close.
        self.close_connection = True
        self._send_json(status, {"Error": error})

    def _send_json(
        self, status: int, payload: dict[str, Any], extra: Iterable[tuple[str, str]] = ()
    ) -> None:
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        self._send(status, body, _JSON, extra)

    def _send(
        self,
        status: int,
        body: bytes,
        content_type: str,
        extra: Iterable[tuple[str, str]] = (),
        content_length: int | None = None,
    ) -> None:
        headers = [
            ("Server", self.server_version),
            ("Date", self.date_time_string()),
            ("Content-Type", content_type),
            ("Content-Length", str(len(body) if content_length is None else content_length)),
            *extra,
        ]
        if self.close_connection:
            headers.append(("Connection", "close"))
        reason = self.responses.get(status, ("",))[0]
        head = f"{self.protocol_version} {status} {reason}\r\n" + "".join(
            f"{name}: {value}\r\n" for name, value in headers
        )
        self.log_request(status, len(body))
        # One write per response (headers and body together): with TCP_NODELAY this keeps
        # keep-alive clients from waiting on delayed ACKs, even if one of the two is lost.
        self.wfile.write(head.encode("latin-1") + b"\r\n" + body)


def _template_ids(parsed: Any) -> tuple[Any, ...]:
    """The TemplateIds a request names: SendUSMSMessage's, or each batch task's."""
    if not isinstance(parsed, dict):
        return ()
    tasks = parsed.get("TaskContent")
    tasks = tasks if isinstance(tasks, list) else []
    in_tasks = [task.get("TemplateId") for task in tasks if isinstance(task, dict)]
    return (parsed.get("TemplateId"), *in_tasks)


def serve_forever_in_thread(server: SandboxHTTPServer) -> threading.Thread:
    """Run `server` on a daemon thread; a short poll interval keeps shutdown() quick."""
    thread = threading.Thread(
        target=server.serve_forever,
        kwargs={"poll_interval": 0.05},
        name=f"uspeedo-sandbox:{server.server_port}",
        daemon=True,
    )
    thread.start()
    return thread
