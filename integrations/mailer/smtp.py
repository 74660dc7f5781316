"""The SMTP mailer: sends one `OutgoingEmail` and says exactly what the server answered.

Rules served: M5 (every message sent is evidence, so the caller records the receipt) and
STYLE.md "Side effects happen once" point 5 (deterministic `Message-ID`) and "Errors".

Unlike the `emails` call in full-stack-fastapi-template, which only logs a failure, `send`
either returns a `SendReceipt` (the server answered 250 to the message data) or raises a
`MailDeliveryError` that tells the retry machinery what to do:

| what happened                                         | retryable | ambiguous |
|-------------------------------------------------------|-----------|-----------|
| 4xx at any stage, connection refused/reset/timed out  | yes       | no        |
| before the message data was sent                      |           |           |
| 5xx at any stage, bad address, TLS certificate refused | no        | no        |
| disconnect or timeout after the message data was sent | no        | yes       |

An ambiguous send may have been delivered: the caller reconciles (looks the Message-ID up,
asks the operator) and never resends blindly.

The message is built with `emails.Message` and spoken over SMTP with `emails`' own client
class, with three changes (see `_SmtpClient`): certificates are verified, implicit TLS opens
one connection, and the client records whether the message data went out. `emails`'
`SMTPBackend.sendmail` is deliberately not used: it resends once on a disconnect, which is a
blind resend of a message that may already have been delivered.
"""

from __future__ import annotations

import asyncio
import logging
import re
import smtplib
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from emails.backend.response import SMTPResponse
from emails.backend.smtp.client import SMTPClientWithResponse
from emails.message import Message

from domain.errors import MailDeliveryError
from domain.messages.render import one_line
from integrations.mailer.message import OutgoingEmail, SendReceipt
from integrations.mailer.settings import SmtpSettings

logger = logging.getLogger(__name__)

_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_TLD = r"(?:[A-Za-z]{2,63}|xn--[A-Za-z0-9-]{1,59})"
_ADDR_SPEC = re.compile(rf"{_ATEXT}(?:\.{_ATEXT})*@(?:{_LABEL}\.)+{_TLD}")
# RFC 5322 msg-id: "<" id-left "@" id-right ">", printable ASCII without "<", ">", "@".
_MSG_ID_PART = r"[!-;=?A-~]+"
_MSG_ID = re.compile(rf"<{_MSG_ID_PART}@{_MSG_ID_PART}>")
_HEADER_NAME = re.compile(r"[!-9;-~]+")  # RFC 5322 ftext: printable ASCII except ":"
_MIME_TYPE = re.compile(r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*")
_ENHANCED_CODE = re.compile(r"^([245]\.\d{1,3}\.\d{1,3})\b")
# Headers the mailer writes itself from OutgoingEmail fields; `headers` cannot override them.
_RESERVED_HEADERS = frozenset(
    {
        "bcc",
        "cc",
        "content-transfer-encoding",
        "content-type",
        "date",
        "from",
        "in-reply-to",
        "message-id",
        "mime-version",
        "reply-to",
        "return-path",
        "sender",
        "subject",
        "to",
    }
)


def _invalid(code: str, message: str) -> MailDeliveryError:
    return MailDeliveryError(message, retryable=False, code=code)


def checked_address(value: str, *, field: str = "address") -> str:
    """Return `value` as one plain addr-spec (`local@domain`), or raise.

    Refuses anything that could smuggle a second recipient or a header (CR/LF, commas,
    display names, angle brackets, spaces). An internationalised domain is converted to its
    ASCII (IDNA) form; local parts are ASCII only (no SMTPUTF8). Raises
    `MailDeliveryError(retryable=False, code="invalid_address")`.
    """
    if any(ch in value for ch in "\r\n,;<>"):
        raise _invalid("invalid_address", f"{field}: not a single plain address: {value!r}")
    local, at, domain = value.strip().rpartition("@")
    if not at or not local or not domain:
        raise _invalid("invalid_address", f"{field}: not an address: {value!r}")
    try:
        ascii_domain = domain.encode("idna").decode("ascii")
    except UnicodeError as exc:
        raise _invalid("invalid_address", f"{field}: bad domain in {value!r}") from exc
    address = f"{local}@{ascii_domain}"
    if len(local) > 64 or len(address) > 254 or not _ADDR_SPEC.fullmatch(address):
        raise _invalid("invalid_address", f"{field}: not a valid address: {value!r}")
    return address


def checked_message_id(value: str, *, field: str = "message_id") -> str:
    """Return `value` as one RFC 5322 msg-id in angle brackets (added when missing), or raise."""
    candidate = value.strip()
    if not candidate.startswith("<"):
        candidate = f"<{candidate}>"
    if not _MSG_ID.fullmatch(candidate):
        raise _invalid("invalid_message_id", f"{field}: not a Message-ID: {value!r}")
    return candidate


def _checked_headers(headers: dict[str, str], in_reply_to: str | None) -> dict[str, str]:
    """Extra headers, plus In-Reply-To/References for threading; values folded to one line."""
    result: dict[str, str] = {}
    for name, value in headers.items():
        if not _HEADER_NAME.fullmatch(name) or name.lower() in _RESERVED_HEADERS:
            raise _invalid("invalid_header", f"header name not allowed: {name!r}")
        result[name] = one_line(value)
    if in_reply_to is not None:
        parent = checked_message_id(in_reply_to, field="in_reply_to")
        result["In-Reply-To"] = parent
        if not any(name.lower() == "references" for name in result):
            result["References"] = parent
    return result


def _attach_all(message: Message, attachments: list[tuple[str, bytes, str]]) -> None:
    for filename, data, mime_type in attachments:
        if not _MIME_TYPE.fullmatch(mime_type):
            raise _invalid("invalid_attachment", f"attachment {filename!r}: bad MIME type {mime_type!r}")
        message.attach(data=data, filename=one_line(filename) or "attachment", mime_type=mime_type)


@dataclass(frozen=True)
class PreparedMessage:
    """A validated message, ready for the wire: envelope and RFC 5322 bytes."""

    message_id: str
    envelope_from: str
    recipient: str
    data: bytes


def build_message(email: OutgoingEmail, settings: SmtpSettings) -> PreparedMessage:
    """Validate and build the MIME message (text + HTML alternatives, attachments).

    Header injection is impossible by construction: display names, the subject and extra
    header values are folded to one line (`one_line`), addresses are single addr-specs
    (`checked_address`), and the only envelope recipient is `email.to_address`.
    """
    if not email.text and not email.html:
        raise _invalid("invalid_message", "a message needs a text or an HTML part")
    recipient = checked_address(email.to_address, field="to_address")
    sender = checked_address(email.from_address, field="from_address")
    reply_to = checked_address(email.reply_to, field="reply_to") if email.reply_to else None
    message_id = checked_message_id(email.message_id)
    message = Message(
        message_id=message_id,
        subject=one_line(email.subject),
        mail_from=(one_line(email.from_name or "") or None, sender),
        mail_to=(one_line(email.to_name or "") or None, recipient),
        reply_to=reply_to,
        headers=_checked_headers(email.headers, email.in_reply_to),
        text=email.text,
        html=email.html,
    )
    _attach_all(message, email.attachments)
    return PreparedMessage(
        message_id=message_id,
        envelope_from=sender,
        recipient=recipient,
        data=message.as_bytes(),
    )


class _ResponseFactory:
    """The one thing `emails`' client needs from its parent backend: response objects."""

    def make_response(self, exception: Exception | None = None) -> SMTPResponse:
        return SMTPResponse(exception=exception, backend=self)


class _SmtpClient(SMTPClientWithResponse):
    """`emails`' SMTP client with the changes this product needs.

    - STARTTLS and implicit TLS use a verifying `ssl.SSLContext` (smtplib's default context
      does not check certificates, which would hand the SMTP password to anyone in between);
    - implicit TLS wraps the one socket (emails' SSL client connects twice);
    - `message_sent` becomes true once the message data has gone out, which is what makes a
      later disconnect or timeout ambiguous rather than retryable;
    - `quit` never raises: after a 250, a failed QUIT must not turn success into failure.
    """

    def __init__(self, *, tls_context: ssl.SSLContext | None, implicit_tls: bool, **kwargs: Any) -> None:
        self._tls_context = tls_context
        self._implicit_tls = implicit_tls
        self._in_data = False
        self.message_sent = False
        super().__init__(parent=_ResponseFactory(), **kwargs)  # type: ignore[no-untyped-call]

    # smtplib's own hook for the connection socket, the one SMTP_SSL overrides the same way.
    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        sock: socket.socket = super()._get_socket(host, port, timeout)  # type: ignore[misc]
        if not self._implicit_tls:
            return sock
        assert self._tls_context is not None
        try:
            return self._tls_context.wrap_socket(sock, server_hostname=host)
        except BaseException:
            sock.close()
            raise

    def starttls(self, *args: Any, **kwargs: Any) -> tuple[int, bytes]:
        """Upgrade with the verifying context (emails calls `starttls()` without arguments)."""
        return super().starttls(context=self._tls_context)

    def data(self, msg: Any) -> tuple[int, bytes]:
        self._in_data = True
        try:
            reply: tuple[int, bytes] = super().data(msg)
            return reply
        finally:
            self._in_data = False

    def send(self, s: Any) -> None:
        super().send(s)
        # smtplib sends commands as str and the message data (ending "\r\n.\r\n") as bytes.
        if self._in_data and not isinstance(s, str):
            self.message_sent = True

    def quit(self) -> tuple[int, bytes]:
        try:
            return smtplib.SMTP.quit(self)
        except (smtplib.SMTPException, OSError):
            self.close()
            return (-1, b"connection already closed")


def _text(value: bytes | str | None) -> str:
    if value is None:
        return ""
    return value.decode("utf-8", errors="replace") if isinstance(value, bytes) else value


def _refusal(code: int, text: bytes | str | None, *, stage: str) -> MailDeliveryError:
    """An SMTP reply other than success: 4xx can be retried, anything else cannot."""
    reply = _text(text).strip()
    enhanced = _ENHANCED_CODE.match(reply)
    return MailDeliveryError(
        f"{stage} refused: {code} {reply}".rstrip(),
        retryable=400 <= code < 500,
        code=enhanced.group(1) if enhanced else str(code),
        status_code=code,
    )


def _stage(exc: smtplib.SMTPResponseException) -> str:
    if isinstance(exc, smtplib.SMTPSenderRefused):
        return "sender"
    if isinstance(exc, smtplib.SMTPDataError):
        return "message"
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return "login"
    if isinstance(exc, smtplib.SMTPConnectError | smtplib.SMTPHeloError):
        return "connection"
    return "command"


def classify_failure(exc: BaseException, *, message_sent: bool) -> MailDeliveryError:
    """Map an smtplib / socket failure to a `MailDeliveryError` (see the module table)."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        code, text = next(iter(exc.recipients.values()))
        return _refusal(code, text, stage="recipient")
    if isinstance(exc, smtplib.SMTPResponseException):
        return _refusal(exc.smtp_code, exc.smtp_error, stage=_stage(exc))
    if isinstance(exc, ssl.SSLCertVerificationError):
        return MailDeliveryError(
            f"TLS certificate refused: {exc.verify_message}", retryable=False, code="tls_verification_failed"
        )
    if isinstance(exc, smtplib.SMTPServerDisconnected | OSError):
        if message_sent:
            return MailDeliveryError(
                f"no answer after the message data was sent ({exc!r}): it may have been delivered",
                retryable=False,
                ambiguous=True,
                code="unconfirmed",
            )
        return MailDeliveryError(f"connection failed: {exc!r}", retryable=True, code="connection_failed")
    return MailDeliveryError(f"SMTP error: {exc!r}", retryable=False, code="smtp_error")


@lru_cache(maxsize=8)
def _tls_context(cafile: str | None) -> ssl.SSLContext:
    """One verifying context per CA file and process: loading the CA bundle costs 30 to 60 ms of
    CPU, and a `Mailer` is built for each email (integrations/httpclients.py says the same of httpx)."""
    return ssl.create_default_context(cafile=cafile)


class Mailer:
    """Sends `OutgoingEmail`s over SMTP with the `emails` package (STYLE.md "Errors").

    One connection per message: the mailer is used a few times per case, and a fresh
    connection keeps a failure confined to the message that met it.
    """

    def __init__(
        self,
        settings: SmtpSettings | None = None,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._settings = settings or SmtpSettings()
        self._clock = clock
        self._tls_context = self._make_tls_context(self._settings)

    @staticmethod
    def _make_tls_context(settings: SmtpSettings) -> ssl.SSLContext | None:
        if settings.security == "none":
            return None
        return _tls_context(str(settings.ca_file) if settings.ca_file is not None else None)

    async def send(self, email: OutgoingEmail) -> SendReceipt:
        """Send one message; return the server's 250 as a receipt or raise `MailDeliveryError`.

        Validation errors (`invalid_address`, `invalid_message_id`, `invalid_header`,
        `invalid_attachment`, `invalid_message`) are raised before any connection is opened. The blocking SMTP
        conversation runs in a worker thread.
        """
        prepared = build_message(email, self._settings)
        return await asyncio.to_thread(self._deliver, prepared)

    def _connect(self) -> _SmtpClient:
        settings = self._settings
        return _SmtpClient(
            tls_context=self._tls_context,
            implicit_tls=settings.security == "tls",
            host=settings.host,
            port=settings.port,
            timeout=settings.timeout_seconds,
            tls=settings.security == "starttls",
            user=settings.username.get_secret_value() if settings.username else None,
            password=settings.password.get_secret_value() if settings.password else None,
        )

    def _deliver(self, prepared: PreparedMessage) -> SendReceipt:
        try:
            client = self._connect()
        except (smtplib.SMTPException, OSError) as exc:
            raise classify_failure(exc, message_sent=False) from exc
        try:
            response: SMTPResponse | None = client.sendmail(
                from_addr=prepared.envelope_from, to_addrs=[prepared.recipient], msg=prepared.data
            )
        except (smtplib.SMTPException, OSError) as exc:
            raise classify_failure(exc, message_sent=client.message_sent) from exc
        finally:
            client.quit()
        return self._receipt(prepared, response)

    def _receipt(self, prepared: PreparedMessage, response: SMTPResponse | None) -> SendReceipt:
        if response is not None and response.error is not None:
            raise classify_failure(response.error, message_sent=False) from response.error
        if response is None or not response.success or response.status_code is None:
            raise MailDeliveryError(
                f"the server did not confirm the message: {response!r}",
                retryable=False,
                code="unconfirmed_reply",
            )
        logger.info(
            "SMTP accepted %s: %s %s", prepared.message_id, response.status_code, response.status_text
        )
        return SendReceipt(
            message_id=prepared.message_id,
            smtp_code=response.status_code,
            smtp_text=_text(response.status_text).strip(),
            accepted_at=self._clock(),
        )
