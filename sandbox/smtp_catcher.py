"""A local SMTP catcher for the sandbox demo and the tests: every mail it receives can be read.

An aiosmtpd server on 127.0.0.1 keeps each message (envelope, parsed headers, subject, text
and HTML bodies, Message-ID, time received) in memory and, when a path is given, appends it to
a JSONL file. A small FastAPI viewer shows them:

- `GET /`: the mails, newest first; `GET /messages/{n}`: one mail, text and HTML (the HTML in a
  sandboxed iframe: no scripts, no remote content);
- `GET /api/messages`, `GET /api/messages/{n}`, `DELETE /api/messages`: the same as JSON;
- `GET|POST /api/faults` `{"mode": ..., "count": n}`: make the next n messages fail, so the
  mailer's error handling can be shown and tested against a real SMTP conversation:
  `tempfail` answers 451, `reject` answers 554, `drop` closes the connection after the data
  without answering (the mail is kept: the server got it, the sender cannot know),
  `stall` never answers until the client gives up (also kept), `ok` clears the switch.

Run it: `python -m sandbox.smtp_catcher --smtp-port 1025 --http-port 8025`
(add `--jsonl var/mails.jsonl` to keep the mails). In tests: `start_smtp_catcher()` runs it in
a background thread with its own event loop and returns a `RunningCatcher`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import email
import email.policy
import html
import json
import logging
import signal
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Literal

import uvicorn
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from fastapi import FastAPI, HTTPException, Response
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, ConfigDict, Field

logger = logging.getLogger(__name__)

FaultMode = Literal["ok", "tempfail", "reject", "drop", "stall"]
_SERVER_NAME = "smtp-catcher.localhost"
_VIEWER_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-src 'self'"


class CaughtAttachment(BaseModel):
    model_config = ConfigDict(frozen=True)

    filename: str | None
    content_type: str
    size: int


class CaughtMail(BaseModel):
    """One received message, as the recipient's mail client would show it."""

    model_config = ConfigDict(frozen=True)

    number: int
    received_at: datetime
    envelope_from: str
    envelope_to: list[str]
    authenticated_as: str | None
    headers: list[tuple[str, str]]
    subject: str | None
    message_id: str | None
    text: str | None
    html: str | None
    attachments: list[CaughtAttachment]
    raw: str

    def header(self, name: str) -> str | None:
        """The first header of that name (case-insensitive), decoded."""
        values = self.header_all(name)
        return values[0] if values else None

    def header_all(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key.lower() == name.lower()]


class FaultState(BaseModel):
    model_config = ConfigDict(frozen=True)

    mode: FaultMode = "ok"
    count: int = Field(default=1, ge=1)


class FaultSwitch:
    """The next `count` messages get `mode`; then back to normal. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._mode: FaultMode = "ok"
        self._remaining = 0

    def set(self, mode: FaultMode, count: int = 1) -> FaultState:
        if count < 1:
            raise ValueError("count must be at least 1")
        with self._lock:
            self._mode, self._remaining = (mode, count) if mode != "ok" else ("ok", 0)
            return self._state()

    def take(self) -> FaultMode:
        """The mode for the message being received now (consumes one use)."""
        with self._lock:
            if self._mode == "ok" or self._remaining < 1:
                return "ok"
            mode = self._mode
            self._remaining -= 1
            if self._remaining == 0:
                self._mode = "ok"
            return mode

    def state(self) -> FaultState:
        with self._lock:
            return self._state()

    def _state(self) -> FaultState:
        return FaultState(mode=self._mode, count=max(self._remaining, 1))


def _body(message: EmailMessage, subtype: str) -> str | None:
    part = message.get_body(preferencelist=(subtype,))
    if part is None or part.get_content_subtype() != subtype:
        return None
    content = part.get_content()
    return content if isinstance(content, str) else None


def _attachments(message: EmailMessage) -> list[CaughtAttachment]:
    found: list[CaughtAttachment] = []
    for part in message.iter_attachments():
        if not isinstance(part, EmailMessage):
            continue
        payload = part.get_payload(decode=True)
        size = len(payload) if isinstance(payload, bytes) else 0
        found.append(
            CaughtAttachment(filename=part.get_filename(), content_type=part.get_content_type(), size=size)
        )
    return found


def parse_mail(
    number: int,
    data: bytes,
    *,
    envelope_from: str,
    envelope_to: list[str],
    received_at: datetime,
    authenticated_as: str | None = None,
) -> CaughtMail:
    """Parse raw RFC 5322 bytes the way a mail client would (modern `email.policy.default`)."""
    parsed = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    subject = parsed.get("Subject")
    message_id = parsed.get("Message-ID")
    return CaughtMail(
        number=number,
        received_at=received_at,
        envelope_from=envelope_from,
        envelope_to=list(envelope_to),
        authenticated_as=authenticated_as,
        headers=[(key, str(value)) for key, value in parsed.items()],
        subject=str(subject) if subject is not None else None,
        message_id=str(message_id).strip() if message_id is not None else None,
        text=_body(parsed, "plain"),
        html=_body(parsed, "html"),
        attachments=_attachments(parsed),
        raw=data.decode("utf-8", errors="replace"),
    )


class MailStore:
    """Received mails in memory (and appended to a JSONL file when a path is given). Thread-safe."""

    def __init__(self, jsonl_path: Path | None = None) -> None:
        self._lock = threading.Lock()
        self._mails: list[CaughtMail] = []
        self._next = 1
        self._jsonl_path = jsonl_path

    def add(self, build: Callable[[int], CaughtMail]) -> CaughtMail:
        """Number the next mail, keep it, and append it to the JSONL file."""
        with self._lock:
            mail = build(self._next)
            self._next += 1
            self._mails.append(mail)
            if self._jsonl_path is not None:
                self._jsonl_path.parent.mkdir(parents=True, exist_ok=True)
                with self._jsonl_path.open("a", encoding="utf-8") as out:
                    out.write(mail.model_dump_json() + "\n")
            return mail

    def all(self) -> list[CaughtMail]:
        """Every mail kept, oldest first."""
        with self._lock:
            return list(self._mails)

    def get(self, number: int) -> CaughtMail | None:
        with self._lock:
            return next((m for m in self._mails if m.number == number), None)

    def clear(self) -> None:
        """Forget the mails in memory (numbers keep increasing; the JSONL file is kept)."""
        with self._lock:
            self._mails.clear()


class _QuietLoginDataDeprecation(logging.Filter):
    """aiosmtpd 1.4 logs a deprecation of `Session.login_data` on every successful AUTH, from
    its own code (we read `session.auth_data`). Drop exactly that record, nothing else."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Session.login_data is deprecated")


def _quiet_login_data_deprecation() -> None:
    aiosmtpd_log = logging.getLogger("mail.log")
    if not any(isinstance(f, _QuietLoginDataDeprecation) for f in aiosmtpd_log.filters):
        aiosmtpd_log.addFilter(_QuietLoginDataDeprecation())


class _Handler:
    """aiosmtpd handler: applies the fault switch, then keeps the message."""

    def __init__(self, store: MailStore, faults: FaultSwitch, credentials: tuple[str, str] | None) -> None:
        self._store = store
        self._faults = faults
        self._credentials = credentials

    def authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        """aiosmtpd authenticator: accepts exactly the configured login and password."""
        if self._credentials is None or not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        login, password = self._credentials
        ok = auth_data.login.decode() == login and auth_data.password.decode() == password
        return AuthResult(success=ok, handled=False, auth_data=login if ok else None)

    async def handle_exception(self, error: Exception) -> str:
        """A session broken by the client (e.g. it refused our certificate): one log line."""
        logger.warning("SMTP session ended by an error: %r", error)
        return f"500 Error: ({type(error).__name__}) {error}"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        fault = self._faults.take()
        if fault == "tempfail":
            return "451 4.3.0 Temporary failure, please try again later (fault injected)"
        if fault == "reject":
            return "554 5.7.1 Message rejected (fault injected)"
        mail = await asyncio.to_thread(self._store.add, self._builder(session, envelope))
        if fault == "drop" and server.transport is not None:
            # Close without answering; aiosmtpd's reply then goes nowhere.
            server.transport.close()
        if fault == "stall":
            # Never answer: the client times out and hangs up, which cancels this handler.
            await asyncio.get_running_loop().create_future()
        return f"250 2.0.0 Ok: queued as {mail.number}"

    @staticmethod
    def _builder(session: Session, envelope: Envelope) -> Callable[[int], CaughtMail]:
        data = envelope.original_content or b""
        sender = envelope.mail_from or ""
        recipients = list(envelope.rcpt_tos)
        login = session.auth_data if isinstance(session.auth_data, str) else None
        received_at = datetime.now(UTC)

        def build(number: int) -> CaughtMail:
            return parse_mail(
                number,
                data,
                envelope_from=sender,
                envelope_to=recipients,
                received_at=received_at,
                authenticated_as=login,
            )

        return build


def _page(title: str, body: str) -> str:
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title>"
        "<style>body{font-family:system-ui,sans-serif;margin:2rem;color:#222}"
        "table{border-collapse:collapse;width:100%}td,th{padding:.4rem .6rem;border-bottom:1px solid #ddd;"
        "text-align:left;vertical-align:top}pre{white-space:pre-wrap;background:#f6f6f6;padding:1rem}"
        "iframe{width:100%;height:40rem;border:1px solid #ddd}</style></head>"
        f"<body>{body}</body></html>"
    )


def _index_page(mails: list[CaughtMail]) -> str:
    rows = "".join(
        f"<tr><td>{m.number}</td><td>{html.escape(m.received_at.isoformat(timespec='seconds'))}</td>"
        f"<td>{html.escape(', '.join(m.envelope_to))}</td>"
        f"<td><a href='/messages/{m.number}'>{html.escape(m.subject or '(no subject)')}</a></td></tr>"
        for m in reversed(mails)
    )
    table = (
        f"<table><tr><th>#</th><th>Received</th><th>To</th><th>Subject</th></tr>{rows}</table>"
        if mails
        else "<p>No mail yet.</p>"
    )
    return _page("SMTP catcher", f"<h1>SMTP catcher</h1><p>{len(mails)} mail(s)</p>{table}")


def _message_page(mail: CaughtMail) -> str:
    headers = "".join(
        f"<tr><th>{html.escape(key)}</th><td>{html.escape(value)}</td></tr>" for key, value in mail.headers
    )
    envelope = (
        f"<tr><th>Envelope from</th><td>{html.escape(mail.envelope_from)}</td></tr>"
        f"<tr><th>Envelope to</th><td>{html.escape(', '.join(mail.envelope_to))}</td></tr>"
    )
    parts = [
        "<p><a href='/'>&larr; all mails</a></p>",
        f"<h1>{html.escape(mail.subject or '(no subject)')}</h1>",
        f"<table>{envelope}{headers}</table>",
    ]
    if mail.text is not None:
        parts.append(f"<h2>Text</h2><pre>{html.escape(mail.text)}</pre>")
    if mail.html is not None:
        parts.append(
            f"<h2>HTML</h2><iframe sandbox='' srcdoc=\"{html.escape(mail.html, quote=True)}\"></iframe>"
        )
    if mail.attachments:
        items = "".join(
            f"<li>{html.escape(a.filename or '(unnamed)')} "
            f"({html.escape(a.content_type)}, {a.size} bytes)</li>"
            for a in mail.attachments
        )
        parts.append(f"<h2>Attachments</h2><ul>{items}</ul>")
    return _page(mail.subject or "mail", "".join(parts))


def create_viewer_app(store: MailStore, faults: FaultSwitch) -> FastAPI:
    """The HTTP viewer and JSON API over one store and fault switch."""
    app = FastAPI(title="aftersales SMTP catcher", docs_url=None, redoc_url=None, openapi_url=None)
    headers = {"Content-Security-Policy": _VIEWER_CSP}

    @app.get("/", response_class=HTMLResponse)
    async def index() -> HTMLResponse:
        return HTMLResponse(_index_page(store.all()), headers=headers)

    @app.get("/messages/{number}", response_class=HTMLResponse)
    async def show(number: int) -> HTMLResponse:
        mail = store.get(number)
        if mail is None:
            raise HTTPException(status_code=404, detail=f"no mail #{number}")
        return HTMLResponse(_message_page(mail), headers=headers)

    @app.get("/api/messages")
    async def list_messages() -> list[CaughtMail]:
        return list(reversed(store.all()))

    @app.get("/api/messages/{number}")
    async def get_message(number: int) -> CaughtMail:
        mail = store.get(number)
        if mail is None:
            raise HTTPException(status_code=404, detail=f"no mail #{number}")
        return mail

    @app.delete("/api/messages", status_code=204)
    async def clear_messages() -> Response:
        store.clear()
        return Response(status_code=204)

    @app.get("/api/faults")
    async def get_faults() -> FaultState:
        return faults.state()

    @app.post("/api/faults")
    async def set_faults(request: FaultState) -> FaultState:
        return faults.set(request.mode, request.count)

    return app


class _ViewerServer(uvicorn.Server):
    """uvicorn without its own signal handling: the catcher stops SMTP and viewer together."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@dataclass(frozen=True)
class CatcherTls:
    """TLS for the catcher: `implicit` (SMTPS, like port 465) or STARTTLS, which is then required."""

    context: ssl.SSLContext
    implicit: bool = False


def _listening_socket(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(100)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


class SmtpCatcher:
    """The SMTP server and the HTTP viewer, on the event loop that calls `start`."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        jsonl_path: Path | None = None,
        tls: CatcherTls | None = None,
        credentials: tuple[str, str] | None = None,
    ) -> None:
        self.host = host
        self.store = MailStore(jsonl_path)
        self.faults = FaultSwitch()
        self.app = create_viewer_app(self.store, self.faults)
        self._tls = tls
        self._handler = _Handler(self.store, self.faults, credentials)
        if credentials is not None:
            _quiet_login_data_deprecation()
        self._smtp_server: asyncio.Server | None = None
        self._protocols: list[SMTP] = []
        self._http: uvicorn.Server | None = None
        self.http_task: asyncio.Task[None] | None = None

    def _protocol(self) -> SMTP:
        loop = asyncio.get_running_loop()
        starttls = self._tls is not None and not self._tls.implicit
        protocol = SMTP(
            self._handler,
            hostname=_SERVER_NAME,
            tls_context=self._tls.context if starttls and self._tls is not None else None,
            require_starttls=starttls,
            # AUTH is offered only over TLS: after STARTTLS, or at once on an implicit TLS port.
            auth_require_tls=not (self._tls is not None and self._tls.implicit),
            authenticator=self._handler.authenticate,
            loop=loop,
        )
        self._protocols = [p for p in self._protocols if p.transport is not None]
        self._protocols.append(protocol)
        return protocol

    async def start_smtp(self, port: int = 1025) -> int:
        """Listen for SMTP; returns the bound port (useful with port 0)."""
        loop = asyncio.get_running_loop()
        implicit = self._tls.context if self._tls is not None and self._tls.implicit else None
        self._smtp_server = await loop.create_server(
            self._protocol, sock=_listening_socket(self.host, port), ssl=implicit
        )
        bound: int = self._smtp_server.sockets[0].getsockname()[1]
        return bound

    async def start_http(self, port: int = 8025) -> int:
        """Serve the viewer with uvicorn on this loop; returns the bound port."""
        sock = _listening_socket(self.host, port)
        config = uvicorn.Config(self.app, log_level="warning", lifespan="off", ws="none", access_log=False)
        self._http = _ViewerServer(config)
        self.http_task = asyncio.get_running_loop().create_task(self._http.serve(sockets=[sock]))
        while not self._http.started:
            if self.http_task.done():
                self.http_task.result()
                raise RuntimeError("the HTTP viewer stopped while starting")
            await asyncio.sleep(0.01)
        bound: int = sock.getsockname()[1]
        return bound

    async def aclose(self) -> None:
        """Stop listening, hang up on connected clients, stop the viewer."""
        if self._http is not None and self.http_task is not None:
            self._http.should_exit = True
            await self.http_task
        if self._smtp_server is not None:
            self._smtp_server.close()
            await self._smtp_server.wait_closed()
        for protocol in self._protocols:
            if protocol.transport is not None:
                protocol.transport.close()
        current = asyncio.current_task()
        pending = [t for t in asyncio.all_tasks() if t is not current and not t.done()]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)


class RunningCatcher:
    """A catcher running in a background thread with its own event loop (for tests and demos)."""

    def __init__(
        self, catcher: SmtpCatcher, loop: asyncio.AbstractEventLoop, thread: threading.Thread
    ) -> None:
        self.catcher = catcher
        self._loop = loop
        self._thread = thread
        self.host = catcher.host
        self.smtp_port = 0
        self.http_port: int | None = None

    @property
    def messages(self) -> list[CaughtMail]:
        """Every mail received so far, oldest first."""
        return self.catcher.store.all()

    def set_fault(self, mode: FaultMode, count: int = 1) -> FaultState:
        return self.catcher.faults.set(mode, count)

    def clear(self) -> None:
        """Forget the mails and clear the fault switch."""
        self.catcher.store.clear()
        self.catcher.faults.set("ok")

    def call(self, coro: Any, timeout: float = 10.0) -> Any:
        """Run a coroutine on the catcher's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def stop(self) -> None:
        if not self._thread.is_alive():
            return
        try:
            self.call(self.catcher.aclose())
            self.call(self._loop.shutdown_default_executor())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
            self._loop.close()

    def __enter__(self) -> RunningCatcher:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def start_smtp_catcher(
    smtp_port: int = 0,
    http_port: int | None = None,
    *,
    host: str = "127.0.0.1",
    jsonl_path: Path | None = None,
    tls: CatcherTls | None = None,
    credentials: tuple[str, str] | None = None,
) -> RunningCatcher:
    """Start a catcher in a background thread; port 0 picks a free port (read `.smtp_port`).

    `http_port=None` runs no HTTP viewer (the `RunningCatcher` gives the same access).
    `credentials` (login, password) enables AUTH, which is offered over TLS only.
    """
    catcher = SmtpCatcher(host=host, jsonl_path=jsonl_path, tls=tls, credentials=credentials)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="smtp-catcher", daemon=True)
    thread.start()
    running = RunningCatcher(catcher, loop, thread)
    try:
        running.smtp_port = running.call(catcher.start_smtp(smtp_port))
        if http_port is not None:
            running.http_port = running.call(catcher.start_http(http_port))
    except BaseException:
        running.stop()
        raise
    return running


@contextlib.contextmanager
def running_smtp_catcher(**kwargs: Any) -> Iterator[RunningCatcher]:
    """`start_smtp_catcher` as a context manager that always stops it."""
    running = start_smtp_catcher(**kwargs)
    try:
        yield running
    finally:
        running.stop()


async def _serve(args: argparse.Namespace) -> None:
    catcher = SmtpCatcher(host=args.host, jsonl_path=args.jsonl)
    smtp_port = await catcher.start_smtp(args.smtp_port)
    http_port = await catcher.start_http(args.http_port)
    print(
        json.dumps({"smtp": f"{args.host}:{smtp_port}", "viewer": f"http://{args.host}:{http_port}/"}),
        flush=True,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    assert catcher.http_task is not None
    catcher.http_task.add_done_callback(lambda _: stop.set())
    try:
        await stop.wait()
    finally:
        await catcher.aclose()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Local SMTP catcher with a web viewer (sandbox and tests).")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--smtp-port", type=int, default=1025)
    parser.add_argument("--http-port", type=int, default=8025)
    parser.add_argument("--jsonl", type=Path, default=None, help="append every received mail to this file")
    asyncio.run(_serve(parser.parse_args(argv)))


if __name__ == "__main__":
    main()
