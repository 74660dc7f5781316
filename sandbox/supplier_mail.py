"""The email supplier's stand-in (issue 18): it reads the mail the product sent it (the SMTP
catcher is its inbox) and answers it like a person at a workshop would: a real reply, with
`In-Reply-To`/`References` set to our Message-ID, `Re:` the subject, the request quoted below,
sent to the request's Reply-To and delivered into that mailbox (the sandbox's dovecot, IMAP
APPEND: a mail server's local delivery). Nothing in the product is told: the mailbox poller
(`read-mailbox`) finds it, reads it and moves the case.
"""

from __future__ import annotations

import asyncio
import os
import time
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from typing import Any

import httpx

from sandbox.imap_server import deliver

MAILS = os.environ.get("AFTERSALES_DEMO_MAILS", "http://127.0.0.1:8025")


def compose_reply(request: dict[str, Any], *, sender: str, text: str) -> bytes:
    """The answer to one caught mail (`GET /api/messages` of the SMTP catcher)."""
    headers = {k.lower(): v for k, v in request.get("headers", [])}
    their_id = request.get("message_id") or headers.get("message-id") or ""
    reply_to = headers.get("reply-to") or headers.get("from") or ""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = reply_to
    msg["Subject"] = f"Re: {request.get('subject') or ''}"
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = make_msgid(domain=sender.rsplit("@", 1)[-1])
    if their_id:
        msg["In-Reply-To"] = their_id
        msg["References"] = their_id
    quoted = "\n".join(f"> {line}" for line in (request.get("text") or "").splitlines())
    msg.set_content(f"{text}\n\nLe {formatdate(localtime=False)}, {parseaddr(reply_to)[1]} a écrit :\n{quoted}\n")
    return bytes(msg)


async def request_to(supplier: str, order_name: str, subject_starts: str, *, wait_s: float,
                     http: httpx.AsyncClient, mails: str = MAILS) -> dict[str, Any] | None:
    """The newest mail caught for `supplier` about `order_name` whose subject starts so, waiting
    up to `wait_s` for it to be sent."""
    deadline = time.monotonic() + wait_s
    while True:
        r = await http.get(f"{mails}/api/messages")
        r.raise_for_status()
        found = [m for m in r.json()
                 if supplier.lower() in [a.lower() for a in m.get("envelope_to", [])]
                 and order_name in (m.get("subject") or "")
                 and (m.get("subject") or "").startswith(subject_starts)]
        if found:
            return dict(max(found, key=lambda m: int(m["number"])))
        if time.monotonic() >= deadline:
            return None
        await asyncio.sleep(1)


async def answer(supplier: str, order_name: str, subject_starts: str, text: str, *, wait_s: float,
                 http: httpx.AsyncClient, mails: str = MAILS) -> str:
    """The supplier answers the product's request about `order_name` by email, into the store's
    mailbox (`AFTERSALES_MAILBOX_*`, as the demo sets them). Returns the reply's Message-ID."""
    request = await request_to(supplier, order_name, subject_starts, wait_s=wait_s, http=http, mails=mails)
    if request is None:
        raise RuntimeError(f"{order_name}: no '{subject_starts}' email reached {supplier}")
    raw = compose_reply(request, sender=supplier, text=text)
    env = os.environ
    await asyncio.to_thread(
        deliver, raw, host=env["AFTERSALES_MAILBOX_HOST"], port=int(env["AFTERSALES_MAILBOX_PORT"]),
        user=env["AFTERSALES_MAILBOX_USERNAME"], password=env["AFTERSALES_MAILBOX_PASSWORD"],
        ca_file=env["AFTERSALES_MAILBOX_CA_FILE"], folder=env.get("AFTERSALES_MAILBOX_FOLDER", "INBOX"))
    return _message_id(raw)


def _message_id(raw: bytes) -> str:
    from email.parser import BytesHeaderParser

    return str(BytesHeaderParser().parsebytes(raw).get("Message-ID") or "")
