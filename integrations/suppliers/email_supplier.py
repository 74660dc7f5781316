"""Suppliers reached only by email (AliExpress-style): the `SupplierChannel` for them.

Rule C3 asks for "a short, clear message with the reason" to the supplier once an order was passed
on; this channel writes it (template `supplier_cancellation_request`, in the supplier's language).
Rule R6 asks the supplier for its return address, RMA number or label, and R4 claims a refund or
a replacement when the goods are on it (template `supplier_return_request`). Either way it sends
exactly one email per operation: its `Message-ID` is derived from the operation's
idempotency key (STYLE.md "Side effects happen once", point 5), so a resend is recognisable and
the supplier's reply threads onto it. Such a supplier cannot be read, so its order state is
UNKNOWN and its answer is always PENDING here: it arrives as an inbound reply or is recorded by
the operator, against the answer deadline (C8, D3).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from domain.messages.render import RenderedMessage, one_line, render
from domain.policy import SupplierPolicy
from domain.returns import SUPPLIER_CLAIM_REASONS
from integrations.mailer.message import OutgoingEmail, SendReceipt
from integrations.suppliers.base import (
    SendMemo,
    SupplierAnswer,
    SupplierCancellationRequest,
    SupplierCancellationResult,
    SupplierOrderState,
    SupplierOrderView,
    SupplierReturnRequest,
    SupplierReturnResult,
)

TEMPLATE = "supplier_cancellation_request"
RETURN_TEMPLATE = "supplier_return_request"
_WEB_LINK = re.compile(r"https?://[^\s<>\"']+", re.IGNORECASE)

# RFC 5322 dot-atom-text: what may stand left of the "@" in a Message-ID as it is.
_DOT_ATOM = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")
_NOT_ATEXT = re.compile(r"[^A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+")
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_DOMAIN = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")
_LINE_BREAK = re.compile(r"[\r\n\x0b\x0c\u2028\u2029]")

_MONTHS = {
    "fr": (
        "janvier",
        "février",
        "mars",
        "avril",
        "mai",
        "juin",
        "juillet",
        "août",
        "septembre",
        "octobre",
        "novembre",
        "décembre",
    ),
    "en": (
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ),
}

Send = Callable[[OutgoingEmail], Awaitable[SendReceipt]]


def message_id_for(idempotency_key: str, sender_domain: str) -> str:
    """`<{key}@{domain}>`, stable across retries. A key that is not a valid Message-ID part
    (spaces, colons, line breaks...) is folded to one that is, with a hash so keys stay distinct."""
    if _DOT_ATOM.fullmatch(idempotency_key):
        return f"<{idempotency_key}@{sender_domain}>"
    safe = _NOT_ATEXT.sub("-", idempotency_key).strip("-")[:64] or "op"
    digest = hashlib.sha256(idempotency_key.encode()).hexdigest()[:16]
    return f"<{safe}.{digest}@{sender_domain}>"


def format_deadline(when: datetime, language: str) -> str:
    """The answer deadline in words, with its UTC offset: `12 mars 2026 à 18:00 (UTC+01:00)`."""
    offset = when.utcoffset()
    if offset is None:
        raise ValueError("answer_by must be timezone-aware")
    month = _MONTHS.get(language, _MONTHS["en"])[when.month - 1]
    zone = _zone_label(offset)
    if language == "fr":
        return f"{when.day} {month} {when.year} à {when:%H:%M} ({zone})"
    return f"{when.day} {month} {when.year}, {when:%H:%M} ({zone})"


def _zone_label(offset: timedelta) -> str:
    if offset == timedelta(0):
        return "UTC"
    sign = "+" if offset > timedelta(0) else "-"
    minutes = abs(int(offset.total_seconds())) // 60
    return f"UTC{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def _header_value(value: str, what: str) -> str:
    """A value that goes into a header as it is: a line break there is an injection, not data."""
    if _LINE_BREAK.search(value):
        raise ValueError(f"{what} contains a line break: {value!r}")
    return value.strip()


class EmailSupplier:
    """`SupplierChannel` for a supplier reached only by email (C3, C8; returns R4, R6)."""

    def __init__(
        self,
        policy: SupplierPolicy,
        send: Send,
        *,
        sender_address: str,
        sender_domain: str,
        sender_name: str | None = None,
    ) -> None:
        if not policy.email:
            raise ValueError(f"supplier {policy.id} has no email address")
        if not _DOMAIN.fullmatch(sender_domain):
            raise ValueError(f"not a domain name: {sender_domain!r}")
        self._policy = policy
        self._send = send
        self._to = _header_value(policy.email, "supplier email")
        self._sender_address = _header_value(sender_address, "sender address")
        self._sender_domain = sender_domain
        self._sender_name = one_line(sender_name or "") or None

    async def order_status(self, order_id: str) -> SupplierOrderView:
        """An email supplier cannot be read: UNKNOWN, always."""
        return SupplierOrderView(state=SupplierOrderState.UNKNOWN)

    def build_cancellation_email(
        self,
        request: SupplierCancellationRequest,
        *,
        idempotency_key: str,
        answer_by: datetime | None = None,
    ) -> OutgoingEmail:
        """The email, ready to send: the lead can plan (and record) it before sending (C3).
        The answer deadline is `answer_by`, else the request's own (D3)."""
        language = self._policy.language
        due = answer_by if answer_by is not None else request.answer_by
        rendered = render(TEMPLATE, language, self._context(request, language, due))
        return self._email(rendered, request.reference, request.reply_to, idempotency_key)

    def build_return_email(
        self,
        request: SupplierReturnRequest,
        idempotency_key: str,
        *,
        answer_by: datetime | None = None,
    ) -> OutgoingEmail:
        """The return request, ready to send (R6; R4 claim): the lead plans and records it before
        sending. The answer deadline is `answer_by`, else the request's own (D3)."""
        language = self._policy.language
        due = answer_by if answer_by is not None else request.answer_by
        rendered = render(RETURN_TEMPLATE, language, self._return_context(request, language, due))
        return self._email(rendered, request.reference, request.reply_to, idempotency_key)

    def _email(
        self, rendered: RenderedMessage, reference: str, reply_to: str, idempotency_key: str
    ) -> OutgoingEmail:
        answer_to = one_line(reply_to) or self._sender_address
        return OutgoingEmail(
            from_address=self._sender_address,
            from_name=self._sender_name,
            to_address=self._to,
            to_name=one_line(self._policy.name) or None,
            subject=one_line(rendered.subject),
            text=rendered.text,
            html=rendered.html,
            message_id=message_id_for(idempotency_key, self._sender_domain),
            reply_to=_header_value(answer_to, "reply-to address"),
            headers={
                "X-Aftersales-Reference": one_line(reference),
                "X-Aftersales-Supplier": one_line(self._policy.id),
            },
        )

    async def request_cancellation(
        self,
        request: SupplierCancellationRequest,
        *,
        idempotency_key: str,
        answer_by: datetime | None = None,
        memo: SendMemo | None = None,  # an email is sent once or goes to the operator: nothing to note
    ) -> SupplierCancellationResult:
        """Send ONE cancellation request; the answer comes later (PENDING, remote id = Message-ID)."""
        email = self.build_cancellation_email(request, idempotency_key=idempotency_key, answer_by=answer_by)
        receipt = await self._send(email)
        return SupplierCancellationResult(
            answer=SupplierAnswer.PENDING,
            remote_id=email.message_id,
            detail=f"cancellation request emailed to {email.to_address} (SMTP {receipt.smtp_code})",
            extra={
                "message_id": email.message_id,
                "to": email.to_address,
                "smtp_code": str(receipt.smtp_code),
                "accepted_at": receipt.accepted_at.isoformat(),
            },
        )

    async def cancellation_outcome(self, request: SupplierCancellationRequest) -> SupplierCancellationResult:
        """Nothing to poll: the supplier's reply is recorded by the inbound mail or the operator."""
        return SupplierCancellationResult(
            answer=SupplierAnswer.PENDING,
            detail=f"waiting for {self._policy.name}'s email reply (ref {request.reference})",
        )

    async def request_return(
        self,
        request: SupplierReturnRequest,
        *,
        idempotency_key: str,
        answer_by: datetime | None = None,
        memo: SendMemo | None = None,  # an email is sent once or goes to the operator: nothing to note
    ) -> SupplierReturnResult:
        """Send ONE return request; the answer (address, RMA, label) comes later (PENDING,
        remote id = Message-ID) and is recorded by the operator or the inbound mail."""
        email = self.build_return_email(request, idempotency_key, answer_by=answer_by)
        receipt = await self._send(email)
        return SupplierReturnResult(
            answer=SupplierAnswer.PENDING,
            remote_id=email.message_id,
            detail=f"return request emailed to {email.to_address} (SMTP {receipt.smtp_code})",
            extra={
                "message_id": email.message_id,
                "to": email.to_address,
                "smtp_code": str(receipt.smtp_code),
                "accepted_at": receipt.accepted_at.isoformat(),
            },
        )

    async def return_outcome(self, request: SupplierReturnRequest) -> SupplierReturnResult:
        """Nothing to poll: the supplier's reply is recorded by the inbound mail or the operator."""
        return SupplierReturnResult(
            answer=SupplierAnswer.PENDING,
            detail=f"waiting for {self._policy.name}'s email reply to the return request (ref {request.reference})",
        )

    def _context(
        self, request: SupplierCancellationRequest, language: str, answer_by: datetime | None
    ) -> dict[str, Any]:
        ship_to = ", ".join(one_line(p) for p in (request.ship_to_city, request.ship_to_country) if p)
        return {
            "supplier_name": one_line(self._policy.name),
            "store_name": one_line(request.store_name),
            "order_name": one_line(request.order_name),
            "order_id": one_line(request.order_id),
            "ship_to": ship_to or None,
            "items": [
                {
                    "title": one_line(item.title),
                    "sku": one_line(item.sku or "") or None,
                    "quantity": item.quantity,
                }
                for item in request.items
            ],
            "full_order": request.full_order,
            "reason_text": one_line(request.reason_text),
            "reference": one_line(request.reference),
            "answer_by": format_deadline(answer_by, language) if answer_by is not None else None,
            "answer_delay_hours": self._policy.answer_delay_hours,
            "reply_to": one_line(request.reply_to) or self._sender_address,
        }

    def _return_context(
        self, request: SupplierReturnRequest, language: str, answer_by: datetime | None
    ) -> dict[str, Any]:
        note_lines = [one_line(line) for line in (request.customer_note or "").splitlines()]
        photos = [one_line(url) for url in request.photo_urls]
        return {
            "supplier_name": one_line(self._policy.name),
            "store_name": one_line(request.store_name),
            "order_name": one_line(request.order_name),
            "order_id": one_line(request.order_id),
            "customer_country": one_line(request.customer_country or "") or None,
            "items": [
                {
                    "title": one_line(item.title),
                    "sku": one_line(item.sku or "") or None,
                    "quantity": item.quantity,
                    "unit_price": item.unit_price.format(language) if item.unit_price is not None else None,
                }
                for item in request.items
            ],
            "reason_text": one_line(request.reason_text),
            "customer_note": [line for line in note_lines if line],
            # Only http(s) addresses become links; anything else is shown as plain text.
            "photos": [{"url": url, "link": bool(_WEB_LINK.fullmatch(url))} for url in photos if url],
            "claim": request.claim,
            "supplier_fault": request.reason in SUPPLIER_CLAIM_REASONS,
            "reference": one_line(request.reference),
            "answer_by": format_deadline(answer_by, language) if answer_by is not None else None,
            "answer_delay_hours": self._policy.answer_delay_hours,
            "reply_to": one_line(request.reply_to) or self._sender_address,
        }
