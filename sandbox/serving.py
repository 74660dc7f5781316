"""A fake's app served in a background thread of this process (the tests, the fault lab, the
demo's `python -m sandbox.run`): one way for the fakes of Shopify, Stripe, PayPal, CJ and the
carriers.

    state = FakeStripeState(...)
    served = serve_in_thread(create_app(state), "127.0.0.1", 0, "fake-stripe", "the fake Stripe server")
    running = RunningFakeStripe(*served, state=state)
    ... running.root_url ...
    running.stop()
"""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Self

import uvicorn


@dataclass
class RunningApp:
    """An app served by uvicorn in a daemon thread, on a socket of its own."""

    host: str
    port: int
    _server: uvicorn.Server = field(repr=False)
    _thread: threading.Thread = field(repr=False)
    _socket: socket.socket = field(repr=False)

    @property
    def root_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """Where the product's client for this vendor points (its `..._BASE_URL`): the root, unless
        the vendor's paths start lower (CJ)."""
        return self.root_url

    def stop(self, timeout: float = 10.0) -> None:
        self._server.should_exit = True
        self._thread.join(timeout)
        self._socket.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def serve_in_thread(app: Any, host: str, port: int, name: str, what: str, limit_s: float = 10.0,
                    **options: Any) -> tuple[str, int, uvicorn.Server, threading.Thread, socket.socket]:
    """Serve `app` on `host:port` (0: a free port) in a daemon thread called `name`; once it
    answers, the `RunningApp` fields (`host`, the bound port, the server, the thread, the socket).
    An app that does not start in `limit_s` seconds is a RuntimeError ("`what` did not start", its
    socket closed). `options`: uvicorn's, over these defaults."""
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets that say so (else ~40 ms a call).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    settings: dict[str, Any] = {"log_level": "warning", "lifespan": "off", "ws": "none", "access_log": False,
                                "timeout_graceful_shutdown": 1, **options}
    server = uvicorn.Server(uvicorn.Config(app, **settings))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name=name, daemon=True)
    thread.start()
    deadline = time.monotonic() + limit_s
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            sock.close()
            raise RuntimeError(f"{what} did not start")
        time.sleep(0.01)
    return host, int(sock.getsockname()[1]), server, thread, sock
