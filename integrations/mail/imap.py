"""The merchant's mailbox, read over IMAP with `imapclient` (docs/inbound-email.md).

Why imapclient: maintained since 2009, on top of the standard library's imaplib (no C code, no
event loop of its own: each call runs in a worker thread here), it speaks everything this needs
and says it plainly: implicit TLS and STARTTLS with an `ssl.SSLContext` we build, LOGIN and
XOAUTH2 (`oauth2_login`, Gmail and Microsoft 365), UIDVALIDITY from SELECT, `BODY.PEEK[]` (reading
a message does not mark it read), flags by UID, MOVE where the server has it, IDLE.

The contract with the caller (tasks.inbound_mail) is the one of promise 1: `fetch_new` only reads
(above the folder's mark, or within the SINCE window on a first poll);
`mark_stored` flags \\Seen (or moves to the processed folder) and is called only for messages
already in the ledger. A process that dies between the two leaves the message unread: it is read
again next time, and the ledger's unique (source, delivery_id) makes the second store a no-op.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, Literal

from imapclient import IMAPClient
from imapclient.exceptions import LoginError
from pydantic import SecretStr
from pydantic_settings import SettingsConfigDict

from integrations.mail.oauth2 import TOKENS, RefreshConfig
from integrations.vendor_settings import MissingSecrets, VendorSettings, sandbox_mode

MICROSOFT_IMAP_SCOPE = "https://outlook.office.com/IMAP.AccessAsUser.All offline_access"


class MailboxSettings(VendorSettings):
    """`AFTERSALES_MAILBOX_*`. Optional: a store without a mailbox leaves `host` empty and every
    reply is typed in by the operator as before. With a host, the login is required (fail closed):
    a password (or an app password) or an OAuth2 access token (XOAUTH2)."""

    model_config = SettingsConfigDict(env_prefix="AFTERSALES_MAILBOX_", extra="ignore")
    SANDBOX: ClassVar[dict[str, str]] = {}
    REQUIRED: ClassVar[tuple[str, ...]] = ("host",)

    host: str = ""
    port: int | None = None  # 993 for tls, 143 for starttls
    security: Literal["tls", "starttls", "plain"] = "tls"  # plain: sandbox mode only
    username: str = ""
    password: SecretStr = SecretStr("")  # password or app password (LOGIN)
    oauth2_token: SecretStr = SecretStr("")  # an OAuth2 access token: XOAUTH2 instead of LOGIN
    # Or refreshed by aftersales (integrations.mail.oauth2): all of url, client id and refresh token.
    oauth2_token_url: str = ""  # https://oauth2.googleapis.com/token, https://login.microsoftonline.com/<tenant>/oauth2/v2.0/token
    oauth2_client_id: str = ""
    oauth2_client_secret: SecretStr = SecretStr("")  # empty only for a public client (Microsoft)
    oauth2_refresh_token: SecretStr = SecretStr("")
    oauth2_scope: str = ""  # empty: Microsoft's IMAP scope for a microsoftonline.com URL, none otherwise
    folder: str = "INBOX"
    processed_folder: str = ""  # empty: stored messages are flagged (below); else moved there
    mark_seen: bool = True  # flag stored messages \Seen too (False: the merchant still sees them unread)
    since_days: int = 14  # a first poll (no mark yet) reads this recent mail only, not years of it
    ca_file: str = ""  # a private CA (a self-hosted server); the system's CAs otherwise
    timeout_seconds: float = 30.0
    max_message_bytes: int = 15 * 1024 * 1024  # larger: kept truncated, for the operator
    max_messages_per_poll: int = 200
    max_attachment_bytes: int = 10 * 1024 * 1024
    attachment_dir: str = ".aftersales/mail-attachments"  # like the reports and privacy folders

    def configured(self) -> bool:
        return bool(self.host.strip())

    def check(self) -> None:
        """Fail closed: a configured mailbox without a login, or read in clear outside sandbox."""
        missing = []
        if not self.username:
            missing.append(self.variable("username"))
        refresh = {"oauth2_token_url": self.oauth2_token_url, "oauth2_client_id": self.oauth2_client_id,
                   "oauth2_refresh_token": self.oauth2_refresh_token.get_secret_value()}
        if any(refresh.values()) or self.oauth2_client_secret.get_secret_value():
            missing += [self.variable(name) for name, value in refresh.items() if not value]  # all or none
            if self.oauth2_token_url and not self.oauth2_token_url.startswith("https://") and not sandbox_mode():
                missing.append(self.variable("oauth2_token_url") + "=https://...")
        elif not self.password.get_secret_value() and not self.oauth2_token.get_secret_value():
            missing.append(self.variable("password") + " or " + self.variable("oauth2_token") + " or "
                           + self.variable("oauth2_refresh_token"))
        if self.security == "plain" and not sandbox_mode():  # named with the rest: fixed at once
            missing.append(self.variable("security") + "=tls or starttls")
        if missing:
            raise MissingSecrets(missing, "the mailbox poller")

    def refresh_config(self) -> RefreshConfig | None:
        """The refresh grant when one is set (check() has made sure it is whole)."""
        if not self.oauth2_refresh_token.get_secret_value():
            return None
        scope = self.oauth2_scope
        if not scope and "login.microsoftonline.com" in self.oauth2_token_url:
            scope = MICROSOFT_IMAP_SCOPE
        return RefreshConfig(self.oauth2_token_url, self.oauth2_client_id,
                             self.oauth2_client_secret.get_secret_value(),
                             self.oauth2_refresh_token.get_secret_value(), scope, self.timeout_seconds)

    @property
    def effective_port(self) -> int:
        return self.port or {"tls": 993, "starttls": 143, "plain": 143}[self.security]


@dataclass(frozen=True)
class FetchedMessage:
    uidvalidity: int
    uid: int
    raw: bytes
    truncated_from: int | None  # the size on the server when it was larger than the limit
    # When the mail reached the mailbox (IMAP INTERNALDATE), aware: not when a poll read it. A
    # withdrawal (L221-21) is known to the merchant from then (L221-24's 14 days run from it).
    arrived_at: datetime | None = None


def _context(settings: MailboxSettings) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=settings.ca_file or None)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    return ctx


@contextmanager
def connect(settings: MailboxSettings) -> Iterator[IMAPClient]:
    """A logged-in client on the configured folder (selected read-write)."""
    settings.check()
    ctx = _context(settings)
    client = IMAPClient(settings.host, port=settings.effective_port, ssl=settings.security == "tls",
                        ssl_context=ctx, timeout=settings.timeout_seconds)
    try:
        if settings.security == "starttls":
            client.starttls(ctx)
        _login(client, settings)
        yield client
    finally:
        try:
            client.logout()
        except Exception:  # the connection may already be gone
            client.shutdown()


def _login(client: IMAPClient, settings: MailboxSettings) -> None:
    """XOAUTH2 with the refreshed token (fetched again once if the server refuses it), else
    XOAUTH2 with the given token, else LOGIN."""
    refresh = settings.refresh_config()
    if refresh is not None:
        try:
            client.oauth2_login(settings.username, TOKENS.access_token(refresh))
        except LoginError:  # revoked or cut short before its expires_in: one new token, one more try
            client.oauth2_login(settings.username, TOKENS.access_token(refresh, force=True))
        return
    token = settings.oauth2_token.get_secret_value()
    if token:
        client.oauth2_login(settings.username, token)
    else:
        client.login(settings.username, settings.password.get_secret_value())


# Our own keyword on every stored message: a message the merchant opened (\Seen) in a mail client
# before the poll is still read; servers that refuse keywords fall back to \Seen alone.
STORED_KEYWORD = b"$AftersalesStored"


def _keywords_allowed(selected: dict[bytes, Any]) -> bool:
    return b"\\*" in tuple(selected.get(b"PERMANENTFLAGS", ()))


@dataclass(frozen=True)
class FetchedBatch:
    """One poll's messages, and how far the folder was read: every UID up to `read_up_to` (with
    this UIDVALIDITY) is in `messages` or did not need reading (stored before, or older than a
    first poll's window). The caller records it as the mailbox's mark once the batch is stored
    and marked (tasks.inbound_mail, ledger.models.MailboxMark)."""

    uidvalidity: int
    messages: list[FetchedMessage]
    read_up_to: int | None  # None: a first poll cut by max_messages_per_poll (no mark until one is whole)


def mailbox_key(settings: MailboxSettings) -> str:
    """The mailbox folder a mark belongs to: server, login, folder."""
    return f"{settings.host.strip().lower()}:{settings.effective_port}|{settings.username}|{settings.folder}"[:255]


def _criteria(settings: MailboxSettings, selected: dict[bytes, Any], after_uid: int | None) -> list[Any]:
    """Above the mark when there is one (however long the poller was stopped); the SINCE window
    only on a first poll (no mark for this UIDVALIDITY): it does not take years of mail in."""
    if after_uid is not None:
        window: list[Any] = ["UID", f"{after_uid + 1}:*"]
    else:
        window = ["SINCE", (datetime.now(UTC) - timedelta(days=settings.since_days)).date()]
    if settings.processed_folder:
        return window  # whatever is still in the folder was not stored yet (or not marked)
    if _keywords_allowed(selected):
        return ["NOT", "KEYWORD", STORED_KEYWORD.decode(), *window]
    return ["UNSEEN", *window]


def _aware(value: object) -> datetime | None:
    """imapclient gives INTERNALDATE naive in this machine's local time (normalise_times): aware."""
    if not isinstance(value, datetime):
        return None
    return value.astimezone(UTC)  # a naive datetime is read as local time


def _fetch_new(settings: MailboxSettings, marks: dict[int, int]) -> FetchedBatch:
    with connect(settings) as client:
        selected = client.select_folder(settings.folder)
        uidvalidity = int(selected[b"UIDVALIDITY"])
        uidnext = int(selected.get(b"UIDNEXT", 0) or 0)  # SELECT comes before SEARCH: a later arrival is above
        after = marks.get(uidvalidity)
        uids = sorted(client.search(_criteria(settings, selected, after)))
        if after is not None:
            uids = [u for u in uids if u > after]  # "n:*" always takes the last message, even below n
        whole = len(uids) <= settings.max_messages_per_poll
        uids = uids[: settings.max_messages_per_poll]
        read_up_to: int | None
        if whole and uidnext:
            read_up_to = max(uidnext - 1, after or 0)
        elif after is None and not whole:  # a mark now would let the next poll read past the window
            read_up_to = None
        else:
            read_up_to = max(uids, default=after or 0)
        out: list[FetchedMessage] = []
        if not uids:
            return FetchedBatch(uidvalidity, out, read_up_to)
        sizes = client.fetch(uids, ["RFC822.SIZE"])
        small = [u for u in uids if int(sizes.get(u, {}).get(b"RFC822.SIZE", 0)) <= settings.max_message_bytes]
        big = [u for u in uids if u not in small]
        if small:
            for uid, data in client.fetch(small, ["BODY.PEEK[]", "INTERNALDATE"]).items():
                out.append(FetchedMessage(uidvalidity, uid, bytes(data[b"BODY[]"]), None,
                                          _aware(data.get(b"INTERNALDATE"))))
        for uid in big:  # only the head and the start: the operator sees what it was
            part = client.fetch([uid], [f"BODY.PEEK[]<0.{settings.max_message_bytes}>", "INTERNALDATE"])[uid]
            raw = next((bytes(v) for k, v in part.items() if k.startswith(b"BODY[]")), b"")
            out.append(FetchedMessage(uidvalidity, uid, raw, int(sizes[uid][b"RFC822.SIZE"]),
                                      _aware(part.get(b"INTERNALDATE"))))
        return FetchedBatch(uidvalidity, sorted(out, key=lambda m: m.uid), read_up_to)


def _mark_stored(settings: MailboxSettings, uidvalidity: int, uids: list[int]) -> None:
    if not uids:
        return
    with connect(settings) as client:
        selected = client.select_folder(settings.folder)
        if int(selected[b"UIDVALIDITY"]) != uidvalidity:
            return  # the folder was rebuilt: the UIDs mean other messages now; they are read again
        if settings.processed_folder:
            if not client.folder_exists(settings.processed_folder):
                client.create_folder(settings.processed_folder)
            if client.has_capability("MOVE"):
                client.move(uids, settings.processed_folder)
            else:  # RFC 3501: copy, then remove from the folder
                client.copy(uids, settings.processed_folder)
                client.add_flags(uids, [b"\\Deleted"])
                if client.has_capability("UIDPLUS"):
                    client.uid_expunge(uids)
                else:
                    client.expunge()
            return
        flags = [b"\\Seen"] if settings.mark_seen else []
        if _keywords_allowed(selected):
            flags.append(STORED_KEYWORD)
        if not flags:  # no keyword and \Seen not wanted: nothing would say it was stored
            flags = [b"\\Seen"]
        client.add_flags(uids, flags)


def _wait_for_new(settings: MailboxSettings, seconds: float) -> bool:
    """IDLE (RFC 2177) on the folder until a message arrives or `seconds` pass. False at once on
    a server without IDLE (the schedule's next poll then reads it)."""
    with connect(settings) as client:
        client.select_folder(settings.folder, readonly=True)
        if not client.has_capability("IDLE") or seconds <= 0:
            return False
        client.idle()
        try:
            responses = client.idle_check(timeout=seconds)
        finally:
            client.idle_done()
        return any(len(r) > 1 and r[1] in (b"EXISTS", b"RECENT") for r in responses)


async def wait_for_new(settings: MailboxSettings, seconds: float) -> bool:
    """True when the server said a message arrived within `seconds` (IDLE)."""
    return await asyncio.to_thread(_wait_for_new, settings, seconds)


async def fetch_new(settings: MailboxSettings, marks: dict[int, int] | None = None) -> FetchedBatch:
    """The messages not yet handled (unread, or still in the folder when they are moved), read
    without marking them read: above the folder's mark (`marks`: UIDVALIDITY -> last UID stored),
    or within the SINCE window when the folder has none yet."""
    return await asyncio.to_thread(_fetch_new, settings, marks or {})


async def mark_stored(settings: MailboxSettings, uidvalidity: int, uids: list[int]) -> None:
    """Flag \\Seen or move: call only for messages already in the ledger."""
    await asyncio.to_thread(_mark_stored, settings, uidvalidity, uids)
