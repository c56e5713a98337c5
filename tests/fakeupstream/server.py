"""Run the fake upstream with uvicorn, in a background thread (tests) or in the foreground (benchmarks)."""

from __future__ import annotations

import socket
import threading
import time
from types import TracebackType

import uvicorn

from .app import FakeUpstreamApp
from .state import FakeState


def make_server(state: FakeState, *, log_level: str = "warning") -> uvicorn.Server:
    config = uvicorn.Config(
        FakeUpstreamApp(state),
        lifespan="off",
        ws="none",  # no websockets: avoids importing (and warnings from) the websockets package
        log_level=log_level,
        access_log=False,
        server_header=False,  # each API sets its own Server header
        # Requests still hanging on a "timeout" fault must not hold up shutdown for long.
        timeout_graceful_shutdown=1,
    )
    return uvicorn.Server(config)


class FakeUpstream:
    """GitHub REST + GraphQL and PyPI on one loopback port, for the duration of a ``with`` block."""

    def __init__(self, state: FakeState | None = None, *, port: int = 0) -> None:
        self.state = state or FakeState()
        self._port = port
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None
        self._bound_port: int | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def github_api_url(self) -> str:
        return f"{self.base_url}/github"

    @property
    def github_graphql_url(self) -> str:
        return f"{self.base_url}/github/graphql"

    @property
    def pypi_url(self) -> str:
        return f"{self.base_url}/pypi"

    @property
    def port(self) -> int:
        if self._bound_port is None:
            raise RuntimeError("FakeUpstream has not been started")
        return self._bound_port

    def __enter__(self) -> FakeUpstream:
        # Bind first (port 0 = any free port), so the URL is known before the server thread starts.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self._port))
        self._socket = sock
        self._bound_port = int(sock.getsockname()[1])
        self._server = make_server(self.state)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name="fake-upstream", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self._close()
                raise RuntimeError("the fake upstream server did not start")
            time.sleep(0.005)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._close()

    def _close(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._socket is not None:
            self._socket.close()
        self._server, self._thread, self._socket = None, None, None
