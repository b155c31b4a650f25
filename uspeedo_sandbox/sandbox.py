"""`Sandbox`: start, inspect, misbehave on demand and stop the USpeedo stand-in."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Self

from uspeedo_sandbox.faults import Fault, FaultPlan
from uspeedo_sandbox.provider import Credential, Provider
from uspeedo_sandbox.server import SandboxHTTPServer, serve_forever_in_thread
from uspeedo_sandbox.store import AcceptedMessage, RecordedRequest, Store

DEFAULT_ACCESS_KEY_ID = "AKIDSANDBOX"
DEFAULT_SECRET = "sandbox-secret"  # noqa: S105 (a well-known sandbox credential)
DEFAULT_ACCOUNT_ID = 123


class Sandbox:
    """A local USpeedo API on 127.0.0.1, for tests and `make local`.

    `credentials` maps AccessKeyId → (AccessKeySecret, AccountId or None); None means the
    one default key. `templates` maps TemplateId → number of TemplateParams; when given,
    other TemplateIds are refused (18017) and a wrong count too (18018); None accepts any.
    `clock` (Unix seconds) checks timestamps and nonces; tests may pass their own.
    """

    def __init__(
        self,
        credentials: Mapping[str, tuple[str, int | None]] | None = None,
        templates: Mapping[str, int] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        clock: Callable[[], float] = time.time,
        log_requests: bool = False,
    ) -> None:
        if credentials is None:
            credentials = {DEFAULT_ACCESS_KEY_ID: (DEFAULT_SECRET, DEFAULT_ACCOUNT_ID)}
        self.credentials = {
            key: Credential(secret, account_id) for key, (secret, account_id) in credentials.items()
        }
        self.templates = dict(templates) if templates is not None else None
        self.host = host
        self.port = port
        self._clock = clock
        self._log_requests = log_requests
        self._store = Store()
        self._faults = FaultPlan()
        self._provider = Provider(
            self.credentials,
            self.templates,
            self._store,
            clock,
            receipt_faults=self._faults.receipt_results,
        )
        self._server: SandboxHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle -----------------------------------------------------------------------

    def start(self) -> Self:
        """Bind and serve on a background thread; port 0 picks a free port. Returns self."""
        if self._server is not None:
            raise RuntimeError("the sandbox is already running")
        self._faults.stopping(False)
        server = SandboxHTTPServer(
            (self.host, self.port),
            provider=self._provider,
            store=self._store,
            faults=self._faults,
            clock=self._clock,
            log_requests=self._log_requests,
        )
        self.port = server.server_port
        self._server = server
        self._thread = serve_forever_in_thread(server)
        return self

    def stop(self) -> None:
        """Stop serving and close every connection, promptly even with requests hanging."""
        server, thread = self._server, self._thread
        if server is None:
            return
        self._server = self._thread = None
        self._faults.stopping(True)  # wakes hung and slow requests
        server.shutdown()  # stops accepting; returns within the poll interval
        server.close_connections()  # idle keep-alive connections would otherwise linger
        server.server_close()
        if thread is not None:
            thread.join(timeout=1)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        """Whether the sandbox is serving."""
        return self._server is not None

    @property
    def base_url(self) -> str:
        """`http://HOST:PORT`, where the control API lives under `/_sandbox/`."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def url(self) -> str:
        """The provider API endpoint, `http://HOST:PORT/api` (the USPEEDO_ENDPOINT)."""
        return f"{self.base_url}/api"

    # --- records -------------------------------------------------------------------------

    @property
    def accepted(self) -> list[AcceptedMessage]:
        """The accepted sends (SendUSMSMessage, and SendBatchUSMSMessage that took at least
        one number), newest last (a copy); `targets` of each is what every number got."""
        return self._store.accepted()

    @property
    def max_in_flight(self) -> int:
        """The most provider requests handled at once since the last reset."""
        return self._store.max_in_flight

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every provider API request whose body was read, newest last (a copy)."""
        return self._store.requests()

    # --- faults --------------------------------------------------------------------------

    @property
    def faults(self) -> list[Fault]:
        """The faults still installed, in the order they are tried."""
        return self._faults.faults()

    def set_fault(self, fault: Fault) -> None:
        """Replace the installed faults with `fault`."""
        self._faults.set(fault)

    def add_fault(self, fault: Fault) -> None:
        """Install `fault` after the others; the first that matches a request applies."""
        self._faults.add(fault)

    def clear_faults(self) -> None:
        """Remove every fault; requests hung by a `hang` fault are closed unanswered."""
        self._faults.clear()

    def reset(self) -> None:
        """Forget records, accepted messages, used nonces, and remove every fault."""
        self._store.reset()
        self._faults.clear()
