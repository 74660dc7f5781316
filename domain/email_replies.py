"""Inbound email, read and understood (issue 18): pure functions, no I/O (docs/inbound-email.md).

`parse_email` turns the raw RFC 5322 bytes into what the product needs: the threading headers,
the sender, the text (an HTML-only mail is turned into text, never rendered), the reply itself
without the quoted history or the signature (`mail-parser-reply`, French and English markers),
the attachments with their type and size checked, and whether it is a bounce or an auto-reply.

`read_reply` reads the reply for the step its case is at. Rules, conservative: one clear reading
or none. A reading below `CONFIDENT` goes to the operator with the text and the suggestion.
"""

from __future__ import annotations

import hashlib
import html
import re
from dataclasses import dataclass, field
from email import errors
from email import policy as email_policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import getaddresses, parsedate_to_datetime
from enum import StrEnum

from mailparser_reply import EmailReplyParser

CONFIDENT = 0.8  # at or above: acted on; below: the operator confirms

# Attachments kept: photos of a damaged item, a PDF label. Anything else is noted, not kept.
ALLOWED_ATTACHMENT_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp", "image/heic",
                                      "application/pdf"})
_MAGIC: dict[str, tuple[bytes, ...]] = {
    "image/jpeg": (b"\xff\xd8\xff",), "image/png": (b"\x89PNG\r\n\x1a\n",), "image/gif": (b"GIF87a", b"GIF89a"),
    "application/pdf": (b"%PDF-",),  # WebP and HEIC: _looks_like
}


class MailKind(StrEnum):
    REPLY = "reply"
    AUTO_REPLY = "auto_reply"  # out of office, Auto-Submitted: logged, not an answer
    BOUNCE = "bounce"  # a delivery status notification: our email did not arrive


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str
    size: int
    sha256: str
    kept: bool
    reason: str | None = None  # why it was not kept
    data: bytes = field(default=b"", repr=False)


@dataclass(frozen=True)
class ParsedEmail:
    message_id: str | None
    in_reply_to: str | None
    references: tuple[str, ...]
    from_address: str
    subject: str
    text: str
    reply: str
    kind: MailKind
    bounce_reason: str | None = None
    attachments: tuple[Attachment, ...] = ()
    date: str | None = None
    spoofed: str | None = None  # the receiving server's SPF/DKIM/DMARC check failed: why (never acted on)

    @property
    def thread_ids(self) -> tuple[str, ...]:
        """The ids this mail answers, nearest first (In-Reply-To, then References newest first)."""
        ids = ([self.in_reply_to] if self.in_reply_to else []) + list(reversed(self.references))
        return tuple(dict.fromkeys(ids))


_MSGID = re.compile(r"<[^<>\s]+>")
# Linear in the size of the mail: a tag ends at the next ">" or "<" (a stray "<" is text), and an
# unclosed <script> drops the rest once. `<[^>]*>` and `<script.*?</script>` scanned to the end of
# the mail from every "<": 256 KB of "<script>" took 77 s, a 15 MB mail days, the poller held.
_TAGS = re.compile(r"<[^<>]*>")
_SCRIPT_OPEN = re.compile(r"<(script|style|head)\b", re.IGNORECASE)
_BLOCK = re.compile(r"<\s*(br|/p|/div|/tr|/li|/h\d|p|div|li|tr)\b[^<>]*>", re.IGNORECASE)
_BLANKS = re.compile(r"\n{3,}")
READ_LIMIT = 100_000  # characters of a mail's text read for its meaning; the whole mail stays in the ledger


def _drop_scripts(markup: str) -> str:
    kept: list[str] = []
    pos = 0
    while (opening := _SCRIPT_OPEN.search(markup, pos)) is not None:
        kept.append(markup[pos:opening.start()])
        closing = re.compile(rf"</{opening.group(1)}\s*>", re.IGNORECASE).search(markup, opening.end())
        pos = closing.end() if closing else len(markup)
    kept.append(markup[pos:])
    return "".join(kept)


def html_to_text(markup: str) -> str:
    """Text of an HTML body: tags dropped, entities decoded. Nothing is rendered or followed."""
    text = _drop_scripts(markup)
    text = _BLOCK.sub("\n", text)
    text = html.unescape(_TAGS.sub("", text))
    lines = [" ".join(line.split()) for line in text.splitlines()]
    return _BLANKS.sub("\n\n", "\n".join(lines)).strip()


def _ids(value: str | None) -> list[str]:
    return _MSGID.findall(value or "")


def _auto_kind(msg: EmailMessage, subject: str, sender: str) -> tuple[MailKind, str | None]:
    ctype = msg.get_content_type()
    if ctype == "multipart/report" and msg.get_param("report-type") == "delivery-status":
        return MailKind.BOUNCE, _dsn_reason(msg)
    if ctype == "multipart/report" and msg.get_param("report-type") == "disposition-notification":
        return MailKind.AUTO_REPLY, None  # a read receipt (RFC 8098, "Lu :", "Read:"): not an answer
    local = sender.split("@", 1)[0].lower()
    if local in {"mailer-daemon", "postmaster"} and re.search(
            r"undeliver|delivery (status|failure)|returned mail|non remis|échec de (la )?remise", subject, re.I):
        return MailKind.BOUNCE, subject
    auto = (msg.get("Auto-Submitted") or "no").strip().lower()
    if auto != "no" or msg.get("X-Autoreply") or msg.get("X-Autorespond") \
            or (msg.get("Precedence") or "").lower() in {"auto_reply", "bulk", "junk"} \
            or re.search(r"out of (the )?office|automatic reply|auto(matic)?[- ]?reply|"
                         r"réponse automatique|absent(e)? du bureau|message d'absence", subject, re.I):
        return MailKind.AUTO_REPLY, None
    return MailKind.REPLY, None


def _dsn_reason(msg: EmailMessage) -> str:
    for part in msg.walk():
        if part.get_content_type() == "message/delivery-status":
            payload = part.get_payload()
            blocks = [b for b in payload if not isinstance(b, str)] if isinstance(payload, list) else []
            fields: dict[str, str] = {}
            for block in blocks:
                for key, value in block.items():
                    fields[key.lower()] = str(value)
            if not blocks:
                raw = _payload(part)
                for line in raw.decode("utf-8", "replace").splitlines():
                    key, _, value = line.partition(":")
                    fields.setdefault(key.strip().lower(), value.strip())
            status = fields.get("status", "?")
            recipient = fields.get("final-recipient", fields.get("original-recipient", "")).split(";")[-1].strip()
            to = f" to {recipient}" if recipient else ""
            return f"status {status}{to}: {fields.get('diagnostic-code', fields.get('action', 'failed'))}"[:500]
    return "delivery failed"


def _returned_ids(msg: EmailMessage) -> list[str]:
    """The Message-ID of the mail a DSN returns (RFC 3462: its headers as text/rfc822-headers, or
    the whole mail as message/rfc822): a Postfix, OVH or Exchange bounce sets no In-Reply-To."""
    out: list[str] = []
    for part in msg.walk():
        ctype = part.get_content_type()
        if ctype == "message/rfc822":
            payload = part.get_payload()
            inner = payload[0] if isinstance(payload, list) and payload else None
            if inner is not None and not isinstance(inner, str):
                out += _ids(str(inner.get("Message-ID") or ""))
        elif ctype == "text/rfc822-headers":
            headers = BytesParser(policy=email_policy.default).parsebytes(_payload(part), headersonly=True)
            out += _ids(str(headers.get("Message-ID") or ""))
    return out


_AUTH_RESULT = re.compile(r"\b(spf|dkim|dmarc|compauth)\s*=\s*([a-z]+)", re.IGNORECASE)


def _failed_authentication(msg: EmailMessage) -> str | None:
    """Why the From address may not be the sender's, by the receiving server's own check
    (`Authentication-Results`, RFC 8601: Gmail, Microsoft 365, OVH, rspamd add it), or None.
    Only a failure is believed: anyone can write a header saying "pass" in the mail they send,
    nobody gains by adding a "fail" to it. DMARC fail, Microsoft's composite fail, or SPF failing
    with no DKIM pass (or DKIM failing with no SPF pass) in one header: the From may be forged."""
    for header in msg.get_all("Authentication-Results") or []:
        results: dict[str, str] = {}
        for method, result in _AUTH_RESULT.findall(str(header)):
            results.setdefault(method.lower(), result.lower())
        if results.get("dmarc") == "fail" or results.get("compauth") == "fail":
            return (f"the receiving server says dmarc={results.get('dmarc', '?')} "
                    f"compauth={results.get('compauth', '?')}")
        if results.get("spf") in {"fail", "softfail"} and results.get("dkim") != "pass":
            return f"the receiving server says spf={results['spf']} dkim={results.get('dkim', 'none')}"
        if results.get("dkim") == "fail" and results.get("spf") != "pass":
            return f"the receiving server says dkim=fail spf={results.get('spf', 'none')}"
    return None


def _ambiguous_from(msg: EmailMessage) -> str | None:
    """Why the From may name someone else than the receiving server checked, or None. Python reads
    `From: supplier@atelier.example <x@attacker.example>` (not RFC 5322) as the supplier, where the
    mail servers (SPF/DKIM/DMARC alignment) read the attacker's own domain, which passes: so a
    malformed From, two From headers or several addresses in it are believed by no one."""
    headers = msg.get_all("From") or []
    if len(headers) != 1:
        return f"{len(headers)} From headers"
    header = headers[0]
    addresses = getattr(header, "addresses", ())
    if len(addresses) != 1:
        return f"the From header names {len(addresses)} addresses"
    if any(isinstance(d, errors.InvalidHeaderDefect) for d in getattr(header, "defects", ())):
        return f"the From header is malformed: {str(header)[:120]!r}"
    return None


def _payload(part: EmailMessage) -> bytes:
    data = part.get_payload(decode=True)
    return data if isinstance(data, bytes) else b""


_HEIF_BRANDS = (b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1")


def _looks_like(ctype: str, data: bytes) -> bool:
    """The content starts like its type: WebP is a RIFF of form WEBP, HEIC an ISO BMFF `ftyp` box
    of a HEIF brand (any other bytes declared image/heic were kept before)."""
    if ctype == "image/webp":
        return data[:4] == b"RIFF" and data[8:12] == b"WEBP"
    if ctype == "image/heic":
        return data[4:8] == b"ftyp" and data[8:12] in _HEIF_BRANDS
    return any(data.startswith(m) for m in _MAGIC[ctype])


def photo_kind(head: bytes) -> str | None:
    """A photo's type from its first bytes, as the customer page checks its uploads (the name and
    the declared type are not believed): jpg, png, webp, heic, or None."""
    if head.startswith(b"\xff\xd8\xff"):
        return "jpg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head[4:8] == b"ftyp" and head[8:12] in (b"heic", b"heix", b"mif1", b"msf1", b"hevc"):
        return "heic"
    return None


def _check_attachment(part: EmailMessage, max_bytes: int) -> Attachment:
    data = _payload(part)
    ctype = part.get_content_type()
    name = (part.get_filename() or "attachment")[:200]
    digest = hashlib.sha256(data).hexdigest()
    reason = None
    if ctype not in ALLOWED_ATTACHMENT_TYPES:
        reason = f"type {ctype} not kept (photos and PDF only)"
    elif len(data) > max_bytes:
        reason = f"{len(data)} bytes, larger than {max_bytes}"
    elif not _looks_like(ctype, data):
        reason = f"the content is not a {ctype}"
    return Attachment(name, ctype, len(data), digest, reason is None, reason, data if reason is None else b"")


def parse_email(raw: bytes, *, max_attachment_bytes: int = 10 * 1024 * 1024) -> ParsedEmail:
    msg = BytesParser(policy=email_policy.default).parsebytes(raw)
    assert isinstance(msg, EmailMessage)
    subject = " ".join(str(msg.get("Subject") or "").split())
    senders = getaddresses([str(msg.get("From") or "")])
    sender = (senders[0][1] if senders else "").strip().lower()
    ambiguous = _ambiguous_from(msg)
    plain: list[str] = []
    markup: list[str] = []
    attachments: list[Attachment] = []
    for part in msg.walk():
        if part.is_multipart() or part.get_content_type() in {"message/delivery-status", "message/rfc822"}:
            continue
        disposition = part.get_content_disposition()
        ctype = part.get_content_type()
        if disposition == "attachment" or (disposition == "inline" and part.get_filename()) \
                or not ctype.startswith("text/"):
            attachments.append(_check_attachment(part, max_attachment_bytes))
        elif ctype == "text/plain":
            plain.append(str(part.get_content()))
        elif ctype == "text/html":
            markup.append(str(part.get_content()))
    text = "\n".join(plain).strip() if plain else html_to_text("\n".join(markup))
    text = text.replace("\r\n", "\n")
    kind, reason = _auto_kind(msg, subject, sender)
    in_reply = _ids(str(msg.get("In-Reply-To") or ""))
    mid = _ids(str(msg.get("Message-ID") or ""))
    date = None
    if msg.get("Date"):
        try:
            date = parsedate_to_datetime(str(msg["Date"])).isoformat()
        except (TypeError, ValueError):
            date = None
    references = _ids(str(msg.get("References") or ""))
    if kind == MailKind.BOUNCE:
        references += [i for i in _returned_ids(msg) if i not in references]
    return ParsedEmail(
        message_id=mid[0] if mid else None, in_reply_to=in_reply[0] if in_reply else None,
        references=tuple(references), from_address=sender, subject=subject,
        text=text, reply=reply_part(text[:READ_LIMIT]), kind=kind, bounce_reason=reason, attachments=tuple(attachments),
        date=date, spoofed=ambiguous or _failed_authentication(msg),
    )


_QUOTE_HEAD = re.compile(
    r"^(On .{5,200} wrote:|Le .{5,200} a écrit\s?:|-{2,}\s*(Original Message|Message d'origine|Forwarded message)"
    r"\s*-{2,}|From: .+|De\s?: .+|Sent from my .+|Envoyé de mon .+)\s*$", re.IGNORECASE | re.MULTILINE)


def reply_part(text: str) -> str:
    """The new text of a reply: quoted history (`>` lines, "On ... wrote:", "Le ... a écrit :")
    and signatures removed."""
    try:
        reply = EmailReplyParser(languages=["en", "fr", "de"]).parse_reply(text=text) or ""
    except Exception:  # the library must never lose a reply: our rules then
        reply = text
    lines = []
    for line in reply.splitlines():
        if line.lstrip().startswith(">"):
            continue
        lines.append(line)
    reply = "\n".join(lines)
    cut = _QUOTE_HEAD.search(reply)
    if cut and cut.start() > 0:
        reply = reply[: cut.start()]
    reply = re.split(r"^--\s*$", reply, maxsplit=1, flags=re.MULTILINE)[0]
    if reply.strip():
        return reply.strip()
    # Nothing left (a signature alone above the quote, a reply the library emptied): the text without
    # its quoted lines, never the quote itself: our own words quoted back ("je garde ma commande",
    # a tracking number we sent) would be read as the sender's.
    unquoted = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith(">"))
    cut = _QUOTE_HEAD.search(unquoted)
    return (unquoted[: cut.start()] if cut else unquoted).strip()


# -- Reading the reply ---------------------------------------------------------------------------


class Step(StrEnum):
    SUPPLIER_CANCELLATION = "supplier_cancellation"  # the supplier was asked to stop the order (C3)
    SUPPLIER_RETURN = "supplier_return"  # the supplier was asked for a return address (R6)
    CUSTOMER_RETURN = "customer_return"  # the customer was given return instructions (R3)
    CUSTOMER_OFFER = "customer_offer"  # the customer was offered an alternative to cancelling (C6)
    OTHER = "other"


class Reading(StrEnum):
    CANCEL_ACCEPTED = "cancel_accepted"
    CANCEL_REFUSED = "cancel_refused"  # already shipped / already produced
    RETURN_ACCEPTED = "return_accepted"  # an address, an RMA, a label
    RETURN_REFUSED = "return_refused"
    TRACKING = "tracking"  # the customer's return tracking number
    OFFER_ACCEPTED = "offer_accepted"  # the customer keeps the order with the alternative (C6)
    OFFER_DECLINED = "offer_declined"  # the customer still cancels (C6)
    UNCLEAR = "unclear"


@dataclass(frozen=True)
class ReplyReading:
    reading: Reading
    confidence: float
    why: str
    tracking_number: str | None = None
    address: str | None = None
    rma: str | None = None

    @property
    def confident(self) -> bool:
        return self.reading != Reading.UNCLEAR and self.confidence >= CONFIDENT


_NEGATION = re.compile(r"\b(?:not|never|no longer|ne|pas|jamais)\b|n't|\bn'", re.IGNORECASE)
_SAYS_NOT_YET = re.compile(r"^(?:\\bnot |\\bpas encore )")  # patterns built on "not yet shipped": no check


_NOT_YET_PART = re.compile(r"^.*?(?:shipped|sent|exp[ée]di[ée]*e?|envoy[ée]*e?)", re.IGNORECASE)


def _asked(text: str, end: int) -> bool:
    """The sentence the match ends goes on to a question mark: "Has it been cancelled?"."""
    stop = re.search(r"[.!?\n]", text[end:])
    return stop is not None and stop.group(0) == "?"


def _affirmed(patterns: list[str], text: str) -> str | None:
    """The first match not negated and not asked: "has not been cancelled", "has it been
    cancelled?" are no acceptance. A "not yet shipped ... cancel" pattern starts with its own
    negation: what follows "shipped" must not be negated ("not shipped and not cancelled")."""
    for pattern in patterns:
        for m in re.finditer(pattern, text, re.IGNORECASE):
            if _asked(text, m.end()):
                continue
            if _SAYS_NOT_YET.match(pattern):
                rest = _NOT_YET_PART.sub("", m.group(0), count=1)
                if not _NEGATION.search(rest):
                    return m.group(0)
                continue
            around = text[max(0, m.start() - 15):m.end()]
            if not _NEGATION.search(around):
                return m.group(0)
    return None


def _any(patterns: list[str], text: str) -> str | None:
    for pattern in patterns:
        m = re.search(pattern, text, re.IGNORECASE)
        if m:
            return m.group(0)
    return None


# "Your message was sent to the warehouse", "we already sent the refund": sent, but not the goods.
_NOT_THE_GOODS = re.compile(r"\b(?:refund(?:ed)?|money|payment|message|e-?mail|mail|invoice|catalog(?:ue)?|photos?|"
                            r"pictures?|reply|answer|quotation|remboursement|rembours[ée]+e?|paiement|facture|"
                            r"r[ée]ponse|devis)\b", re.IGNORECASE)


def _sentence(text: str, start: int, end: int) -> str:
    begin = max((text.rfind(c, 0, start) for c in ".!?\n"), default=-1) + 1
    stops = [i for i in (text.find(c, end) for c in ".!?\n") if i >= 0]
    return text[begin:min(stops) if stops else len(text)]


def _stated(patterns: list[str], text: str) -> str | None:
    """The first match that is not asked ("is it already shipped?" says nothing) and is about the
    goods (a refund or a message "sent" is no parcel shipped)."""
    for pattern in patterns:
        for m in re.finditer(pattern, text, re.IGNORECASE):
            if not _asked(text, m.end()) and not _NOT_THE_GOODS.search(_sentence(text, m.start(), m.end())) \
                    and not _denied_before(text, m.start()):
                return m.group(0)
    return None


_DENIAL = re.compile(r"\b(?:not|never|no|pas|ne|yet|encore|nothing|rien|aucun|aucune|none)\b|n't|\bn'", re.IGNORECASE)


def _denied_before(text: str, start: int) -> bool:
    """The clause says it did not happen: "Not in production yet", "n'est pas encore en production",
    "nothing is on its way". A refusal read there turned a cancellation into a return (C4)."""
    begin = max((text.rfind(c, 0, start) for c in ".!?\n;,:"), default=-1) + 1
    return _DENIAL.search(text[max(begin, start - 25):start]) is not None


_NEG_EN = r"(?:not|n't|never|unable to|impossible to)"
_CANCEL_OK = [
    r"\b(?:order|it|this|we)\b[^.\n]{0,40}\b(?:has|have|is|was|been)\s+(?:been\s+)?(?:successfully\s+)?cancel+ed\b",
    # past tense only: "we cancel only unshipped orders", "we stopped accepting cancellations" say nothing
    r"\bwe (?:have |had )?(?:already cancel+(?:ed)?|(?:already )?(?:cancel+ed|stopped|blocked|intercepted))\b"
    r"(?! (?:it )?(?:if|when|once))"
    r"(?!\s+\w+ing\b)",
    r"\b(?:cancel+ation|cancel)\s+(?:is\s+|was\s+|has been\s+)?(?:done|ok|okay|confirmed|successful|complete[d]?)\b",
    r"\bblocked before (?:shipping|shipment|dispatch)\b",
    r"\bnot (?:been )?(?:yet )?(?:shipped|sent)(?: yet)?[^.\n]{0,40}cancel",
    r"\bok(?:ay)?,? (?:we|i) (?:will )?cancel\b", r"\bcancel+(?:ed)? success(?:ful(?:ly)?)?\b",
    r"\bbeen cancel(?:l?ed)?\b", r"\bnous avons pu (?:l')?annuler\b", r"\bagree(?:d)? to cancel\b",
    r"\bcancel(?:led|ed)? for you\b", r"\b(?:order|commande)\s+(?:cancel+ed|annul[ée]+e?)\b",
    r"\b(?:commande|elle)\b[^.\n]{0,40}\b(?:est|a été|a bien été)\s+(?:bien\s+)?annul[ée]+e?\b",
    r"\bnous (?:avons|l'avons) (?:bien )?(?:annul[ée]+|bloqu[ée]+|stopp[ée]+|arr[êe]t[ée]+)",
    r"\bannulation (?:est )?(?:effectu[ée]+e|confirm[ée]+e|faite|ok)\b",
    r"\bbloqu[ée]+e? avant (?:l'|son )?(?:exp[ée]dition|envoi)\b", r"\bc'est annul[ée]+",
    r"\bpas encore (?:été )?(?:exp[ée]di[ée]+e?|envoy[ée]+e?)[^.\n]{0,40}annul",
]
_CANCEL_NO = [
    r"\b(?:already|has been|have been|was|were)\s+(?:been\s+)?(?:shipped|sent|dispatched|delivered|produced|"
    r"manufactured|customi[sz]ed|printed)\b",
    r"\balready\s+(?:been\s+)?(?:send|sent|ship|shipped|dispatch(?:ed)?|deliver(?:ed)?|produce[d]?|made)\b",
    r"\b(?:in|into) production\b", rf"\b(?:can|could)\s*{_NEG_EN}\s*(?:be\s+)?cancel", r"\bcannot (?:be )?cancel",
    r"\b(?:can't|couldn't|won't) (?:be )?(?:cancel|stop)",
    rf"{_NEG_EN} (?:possible|able) to cancel", r"\bcan't stop\b", r"\bno longer (?:be )?(?:cancel|stop)",
    r"\bunable to cancel\b", r"\bon (?:the|its) way\b", r"\bhanded (?:over )?to the (?:carrier|courier|logistics)\b",
    r"\bd[ée]j[àa]\s+(?:été\s+)?(?:exp[ée]di[ée]+e?s?|envoy[ée]+e?s?|produit[es]*|fabriqu[ée]+e?s?|livr[ée]+e?s?|"
    r"remis[es]* au transporteur|partie?s?)\b",
    r"(?<!mise )\ben (?:cours de )?(?:production|fabrication)\b",
    r"\b(?:ne )?(?:pouvons|peut|pouvez) (?:plus |pas )+annuler\b",
    r"\bimpossible d'annuler\b", r"\bn'est plus (?:possible|annulable)\b", r"\ben route\b",
    r"\bcancel+ation(?: request)?\s+(?:is\s+|was\s+|has been\s+)?(?:not possible|impossible|refused|rejected|"
    r"declined|denied)\b", r"\brequest (?:is |was )?(?:rejected|refused|declined|denied)\b",
    r"\b(?:annulation|demande) (?:est |a été )?(?:impossible|refus[ée]+e?|rejet[ée]+e?)\b",
]
_RETURN_NO = [
    r"\b(?:do|does|can|will)\s*(?:not|n't)\s+(?:accept|take)\s+(?:the |this |any )?returns?\b",
    r"\bno returns?\b", r"\bnot accept (?:the |any |this )?returns?\b",
    r"\breturns? (?:is |are )?not (?:accepted|possible)\b", r"\brefuse[sd]? (?:the )?return\b",
    r"\bn'acceptons pas (?:les |de |ce )?retours?\b", r"\bpas de retours?\b",
    r"\bretour (?:est )?(?:refus[ée]|impossible)\b",
    r"\brefusons (?:le |ce )?retour\b",
    # "do not send it back, we refund", "ne prend plus les retours": an address beside it is not one to use
    r"\b(?:do not|don't|no need to|not necessary to|never) (?:return|send (?:it |them |the item )?back)\b",
    r"\b(?:ne )?(?:prend|prenons|prennent|accepte|acceptons|acceptent) (?:plus|pas) (?:les |de |ce |le )?retours?\b",
    r"\binutile de (?:le |la |les )?(?:renvoyer|retourner)\b", r"\bne (?:le |la |les )?(?:renvoyez|retournez) pas\b",
]
# An acceptance said with a "but" may not stop the parcel: "we cancelled, but it was already picked
# up", "cancelled the wrong order by mistake", "we cancelled the express shipping, it leaves
# tomorrow". Refunding on it pays for goods that still leave (C3/C8): the operator reads it.
_RESERVATION = re.compile(
    r"\b(?:but|however|though|although|except|actually|mistake|wrong|partial(?:ly)?|refuse|mais|cependant|"
    r"toutefois|pourtant|sauf|par contre|en revanche|néanmoins|erreur|partiel(?:le)?|refusez|express)\b", re.IGNORECASE)
# The parcel moving, unless said not to or "before" it: "it left yesterday" is one, "blocked before
# it left the warehouse", "rien ne partira" are not.
_MOVING = re.compile(r"\b(?:picked up|left|leaves?|still|tracking|partira|partie?|parti|suivi|transporteur)\b",
                     re.IGNORECASE)
_MOVING_DENIED = re.compile(r"(?:\bbefore|\bavant|\bnot|n't|\bnever|\bne|\bn'|\brien|\bnothing)\b[^.!?\n]{0,20}$",
                            re.IGNORECASE)


def _reservation(text: str) -> str | None:
    """A "but", a mistake, or the parcel said to move, beside an acceptance: the operator reads it."""
    if (m := _RESERVATION.search(text)) is not None:
        return m.group(0)
    for m in _MOVING.finditer(text):
        if not _MOVING_DENIED.search(text[max(0, m.start() - 25):m.start()]):
            return m.group(0)
    return None


_QUESTION_ONLY = re.compile(r"\?\s*$")

_RMA = re.compile(r"\b(?:RMA\b|RA\b|return authori[sz]ation|autorisation de retour|n[°o]\s*de retour)"
                  r"\s*(?:number|num[ée]ro|no\.?|n[°o]|#)?\s*[:#-]?\s*([A-Z0-9][A-Z0-9-]{2,30})\b", re.IGNORECASE)
_ADDRESS_HEAD = re.compile(r"(?:^|\b)(?:return address|address|"
                           r"(?:send|ship|return|post) (?:it |them |the parcel |the item |the goods )?(?:back )?to|"
                           r"adresse(?: de retour)?|renvoyer? (?:le colis |l'article )?[àa])\s*:?\s*(.*)$",
                           re.IGNORECASE)
_POSTCODE = re.compile(r"\b\d{4,6}\b|\b[A-Z]{1,2}\d[A-Z\d]? ?\d[A-Z]{2}\b")  # digits, or a UK postcode

# Tracking numbers, the formats the carriers publish (validated, not guessed).
TRACKING_FORMATS: dict[str, re.Pattern[str]] = {
    "La Poste / Colissimo": re.compile(r"^(?:[0-9][A-Z][0-9]{11}|[A-Z]{2}[0-9]{9}[A-Z]{2}|[0-9]{13}|[0-9]{15})$"),
    "Chronopost": re.compile(r"^[A-Z]{2}[0-9]{9}[A-Z]{2}$"),
    "UPS": re.compile(r"^1Z[0-9A-Z]{16}$"),
    "DHL": re.compile(r"^(?:[0-9]{10}|JJD[0-9]{15,20}|JVGL[0-9]{10,20})$"),
    "FedEx": re.compile(r"^(?:[0-9]{12}|[0-9]{15}|[0-9]{20}|[0-9]{22})$"),
    "Mondial Relay": re.compile(r"^[0-9]{8}$"),
    "USPS": re.compile(r"^(?:9[0-9]{21,25}|[A-Z]{2}[0-9]{9}US)$"),
    "GLS": re.compile(r"^[0-9]{11,12}$"),
    "DPD": re.compile(r"^[0-9]{14}$"),
    "Yanwen / Cainiao": re.compile(r"^(?:Y[A-Z][0-9]{9}[A-Z]{2}|LP[0-9]{14,16}|UB[0-9]{9}[A-Z]{2}|YT[0-9]{16})$"),
}
# One unbroken token: a number typed with spaces ("6A 123 456 789 01") is for the operator.
_TRACKING_CANDIDATE = re.compile(r"\b(?=[A-Z]*[0-9])[A-Z0-9]{7,30}\b")
_TRACKING_WORDS = re.compile(r"tracking|colissimo|chronopost|la poste|mondial relay|\bDHL\b|\bUPS\b|\bGLS\b|"
                             r"\bDPD\b|fedex|usps|track(?:ing)? (?:number|no|#)|suivi|num[ée]ro de colis|colis|parcel|"
                             r"waybill|AWB|shipped|sent|envoy|exp[ée]di|d[ée]pos[ée]", re.IGNORECASE)


def tracking_numbers(text: str) -> list[tuple[str, str]]:
    """(number, carrier) for every token of the text that matches a carrier's published format."""
    found: dict[str, str] = {}
    for m in _TRACKING_CANDIDATE.finditer(text.upper()):
        token = m.group(0).replace(" ", "")
        for carrier_name, pattern in TRACKING_FORMATS.items():
            if pattern.match(token):
                found.setdefault(token, carrier_name)
                break
    return list(found.items())


# A number in a carrier's format is not always a tracking number: a French phone number has ten
# digits like a DHL waybill, an order number eight like Mondial Relay's; and a parcel not sent yet
# has no tracking. Any of these: the operator reads it (R3 starts from a real proof of shipment).
_PHONE_SHAPED = re.compile(r"^(?:0[1-9][0-9]{8}|33[1-9][0-9]{8})$")
_PHONE_WORDS = re.compile(r"(?:phone|t[ée]l(?:[ée]phone)?|mobile|portable|appel|call|joindre)\W", re.IGNORECASE)
_ORDER_WORDS = re.compile(r"(?:order|commande|cde|n[°o]\s*de\s*commande|#)\W{0,4}(?:n[°o]\W{0,3})?"
                          r"(?:(?:number |num[ée]ro )?(?:is|was|est|était|c'est)\W{0,3})?$", re.IGNORECASE)
# "the parcel I received", "le colis reçu abîmé": the delivery's own tracking, not the return's.
_RECEIVED = re.compile(r"\b(?:re[çc]u|re[çc]ue|received|got|arriv[ée]+e?|arrived|livr[ée]+e?|delivered)\b",
                       re.IGNORECASE)
_NOT_SENT_YET = re.compile(
    r"\bnot\b[^.\n]{0,25}\b(?:sent|shipped|posted|dropped|yet)\b|n't\b[^.\n]{0,25}\b(?:sent|shipped|posted|yet)\b|"
    r"\bpas encore\b|\bn'ai pas\b|\bne l'ai pas\b|\bwill (?:send|ship|post|drop|return)\b|"
    r"\bgoing to (?:send|ship|post)|"
    r"\btomorrow\b|\bdemain\b|\b(?:vais|allons|va) (?:l'|le |les )?(?:r?envoyer|d[ée]poser|exp[ée]dier)|"
    r"\b(?:r?enverrai|d[ée]poserai|exp[ée]dierai)\b|\br[ée]tract|\bwithdraw", re.IGNORECASE)


def _tracking_doubt(text: str, number: str) -> str | None:
    """Why the one carrier-shaped number may not be a return tracking number, or None."""
    if _NOT_SENT_YET.search(text):
        return "the parcel may not be sent yet"
    at = text.upper().find(number)
    before = text[max(0, at - 25):at] if at >= 0 else ""
    if _PHONE_SHAPED.match(number) or _PHONE_WORDS.search(before):
        return "it may be a phone number"
    if _ORDER_WORDS.search(before):
        return "it may be an order number"
    if _RECEIVED.search(text):
        return "it may be the tracking of the parcel the customer received"
    return None


def _address(text: str) -> str | None:
    lines = text.splitlines()
    for i, line in enumerate(lines):
        m = _ADDRESS_HEAD.search(line)
        if not m:
            continue
        inline = m.group(1)
        if (rma := _RMA.search(inline)) is not None:
            inline = inline[: rma.start()]
        block = [inline.strip(" .,;")] if inline.strip(" .,;") else []
        for nxt in lines[i + 1:]:
            if not nxt.strip():
                if block:
                    break
                continue
            if _RMA.search(nxt) or len(block) >= 6:
                break
            block.append(nxt.strip())
        address = ", ".join(b for b in block if b)
        if address and _plausible_address(address) and not _NEGATION.search(line[max(0, m.start() - 15):m.start(1)]):
            return address[:500]
    return None


# An address the customer will be told to post the parcel to: no question, no promise of one later,
# and a postcode that is not the order number.
_NOT_AN_ADDRESS = re.compile(r"\?|\b(?:will|tomorrow|later|soon|need|first|demain|plus tard|bient[ôo]t|besoin|"
                             r"d'abord|donnerons|donne)\b", re.IGNORECASE)


def _plausible_address(address: str) -> bool:
    if _NOT_AN_ADDRESS.search(address):
        return False
    return any(not _ORDER_WORDS.search(address[max(0, p.start() - 25):p.start()])
               for p in _POSTCODE.finditer(address))


def read_reply(step: Step, text: str, *, has_pdf: bool = False) -> ReplyReading:
    """What the reply says for the step its case is at. Conservative: two contrary signals, a
    question, or nothing recognised is UNCLEAR, for the operator."""
    body = text.strip()
    if step == Step.SUPPLIER_CANCELLATION:
        yes, no = _affirmed(_CANCEL_OK, body), _stated(_CANCEL_NO, body)
        numbers = tracking_numbers(body)
        if no and not yes:
            tracking = numbers[0][0] if len(numbers) == 1 else None
            return ReplyReading(Reading.CANCEL_REFUSED, 0.95 if tracking else 0.9, f"refusal: {no!r}",
                                tracking_number=tracking)
        reservation = _reservation(body)
        if yes and not no and not numbers and (reservation or len(order_numbers("", body)) > 1):
            return ReplyReading(Reading.CANCEL_ACCEPTED, 0.5, f"accepted: {yes!r}, but " + (
                f"with a reservation: {reservation!r}" if reservation else "several orders named"))
        if yes and not no and not numbers:
            return ReplyReading(Reading.CANCEL_ACCEPTED, 0.9, f"accepted: {yes!r}")
        return ReplyReading(Reading.UNCLEAR, 0.3 if (yes or no) else 0.0,
                            f"contrary signals: {yes!r} / {no!r}" if yes and no else
                            "a tracking number with an acceptance" if yes else "nothing recognised")
    if step == Step.SUPPLIER_RETURN:
        refused = _any(_RETURN_NO, body)
        address, rma = _address(body), _RMA.search(body)
        rma_text = rma.group(1).upper() if rma else None
        if refused and not address:
            return ReplyReading(Reading.RETURN_REFUSED, 0.85, f"refusal: {refused!r}")
        if address and not refused:
            return ReplyReading(Reading.RETURN_ACCEPTED, 0.9, "a return address", address=address, rma=rma_text)
        if has_pdf and not refused:
            return ReplyReading(Reading.RETURN_ACCEPTED, 0.6, "a PDF attached (a label?) without an address",
                                rma=rma_text)
        return ReplyReading(Reading.UNCLEAR, 0.0, "no address recognised" if not refused else "contrary signals",
                            rma=rma_text)
    if step == Step.CUSTOMER_RETURN:
        numbers = tracking_numbers(body)
        doubt = _tracking_doubt(body, numbers[0][0]) if len(numbers) == 1 else None
        if doubt:
            return ReplyReading(Reading.TRACKING, 0.5, f"{numbers[0][1]} format, but {doubt}",
                                tracking_number=numbers[0][0])
        if len(numbers) == 1 and _TRACKING_WORDS.search(body) and not _QUESTION_ONLY.search(body):
            return ReplyReading(Reading.TRACKING, 0.9, f"{numbers[0][1]} format", tracking_number=numbers[0][0])
        if len(numbers) == 1:
            return ReplyReading(Reading.TRACKING, 0.6, f"{numbers[0][1]} format, but not said to be the tracking",
                                tracking_number=numbers[0][0])
        return ReplyReading(Reading.UNCLEAR, 0.0, "several numbers" if numbers else "no tracking number")
    if step == Step.CUSTOMER_OFFER:
        return read_offer_reply(body)
    return ReplyReading(Reading.UNCLEAR, 0.0, "no question was pending")


# -- A customer's answer to the retention offer (C6) ---------------------------------------------
# The customer asked to cancel and was offered an alternative (a code, a discount) held for a few
# hours. Their reply keeps the order (the page's "I keep my order with this offer", keep_order) or
# still cancels (the page's "cancel anyway", insist). A reply that may be a withdrawal notice
# (L221-21: any unambiguous statement) is never read as keeping the order; with refusal or cancel
# words beside it (and no "keep" words, no hedge, no question) it is acted on as "cancel anyway",
# which honours it at once; otherwise the operator reads it (its date counts).

# What follows "je garde" / "je conserve" says whether the order is kept: "je garde pas" (spoken
# French drops the "ne"), "je garde mon argent", "je garde ma demande d'annulation", "je conserve mon
# droit d'annuler" keep the cancellation, not the order.
_NOT_THE_ORDER_KEPT = (r"(?!\s+(?:pas|plus|point|jamais|rien|mon\b|mes\b|ma\s+(?!commande\b)|"
                       r"l'annulation|le remboursement|l'argent))")

_KEEP = [
    r"\b(?:i|we)(?:'ll| will| shall|'d| would)? (?:happily |gladly )?keep (?:the|my|our|this) order\b",
    r"\b(?:i|we)(?:'ll| will)? keep it\b"
    r"(?!\s+(?:short|brief|simple|quick|in mind|clear|secret|up\b|for (?:later|next|another)))",
    r"\bi(?:'ll| will) keep (?:the|my) (?:lamp|item|rug|vase|parcel|purchase)\b",
    r"\b(?:i|we) (?:happily |gladly )?accept (?:the|your|this) (?:offer|discount|code|proposal|gesture)\b",
    r"\b(?:i|we)(?:'ll| will) (?:take|use) (?:the|your|this) (?:offer|discount|code|voucher|coupon)\b",
    r"\b(?:ok|okay|fine|deal|yes|great)[,!.]? (?:i|we)(?:'ll| will)? (?:keep|take|accept)\b",
    r"\bkeep (?:the|my) order (?:with|and use) (?:the|your|this) (?:offer|discount|code)\b",
    r"\b(?:don't|do not|no need to) cancel(?: it| the order| my order)?\b(?![^.\n]{0,20}\?)",
    r"\bforget (?:about )?(?:the|my) cancell?ation\b", r"\b(?:happy|glad) to keep (?:it|the order|my order)\b",
    r"\bje (?:la |le |vais |préfère |veux bien )?(?:garde|garder|conserve|conserver)\b" + _NOT_THE_ORDER_KEPT
    + r"(?: (?:ma|la|cette) commande)?",
    r"\bj'accepte (?:l'|votre |cette |la )?(?:offre|remise|réduction|proposition|geste|code)\b",
    r"\bje (?:prends|profite (?:de|du))(?: (?:l'|la |le |votre |cette ))?(?:offre|remise|réduction|code|geste)\b",
    r"\b(?:ok|d'accord|oui|parfait|entendu|va pour)[,!.]? (?:je (?:la |le )?(?:garde|conserve|prends|accepte)\b"
    + _NOT_THE_ORDER_KEPT + "|"
    r"pour (?:l'|la |le )(?:offre|remise|réduction|code))",
    r"\bva pour (?:l'|la |le )(?:offre|remise|réduction|code)\b",
    r"\bn'annulez (?:pas|plus)\b", r"\bne (?:l'|la )?annulez (?:pas|plus)\b",
    r"\boubliez (?:ma demande d'|l')annulation\b",
    r"\bje renonce à (?:l'|mon )?annulation\b", r"\bje ne (?:veux|souhaite) (?:plus|pas) annuler\b",
    r"\bi (?:no longer|don't) want to cancel\b",
]
_DECLINE = [
    r"\bno,? thanks?\b", r"\bno,? thank you\b", r"\bthanks?,? but no\b", r"\bnot interested\b",
    r"\b(?:please |just )?(?:go ahead and |still |please )?cancel(?: it)? anyway\b", r"\bstill (?:want to )?cancel\b",
    r"\bplease (?:go ahead and )?cancel(?: it| the order)?\b",
    r"\b(?:i|we) (?:still |really )?(?:want|would like|wish|prefer) to cancel\b", r"\bgo ahead (?:and|with the) cancel",
    r"\bproceed with (?:the|my) cancell?ation\b", r"\b(?:i|we) decline (?:the|your|this) offer\b",
    r"\b(?:i|we) (?:don't|do not) want (?:the|your|this|any) (?:offer|discount|code|voucher)\b",
    r"\bno discount\b", r"\bmy decision is final\b", r"\bcancel(?:lation)? (?:please|as requested|as asked)\b",
    r"\bnon,? merci\b", r"\bmerci,? mais non\b", r"\bpas intéressée?s?\b",
    r"\bannulez(?:-la| la commande| ma commande)?(?: quand même| s'il vous plaît| svp| comme prévu)?\b",
    r"\bannuler quand même\b", r"\bje (?:veux|souhaite|voudrais|préfère) (?:toujours |quand même |vraiment )?annuler\b",
    r"\bje (?:maintiens|confirme) (?:ma demande|l'annulation|mon annulation)\b",
    r"\bmaintenez (?:l'|mon |ma demande d')annulation\b",
    r"\bje refuse (?:l'|votre |cette )?(?:offre|proposition|remise)\b",
    r"\bje ne (?:veux|souhaite) pas (?:de |du |votre |l'|la )?(?:offre|remise|réduction|code|geste|bon)\b",
    r"\bma décision est prise\b", r"\bprocédez à l'annulation\b", r"\bpoursuivez l'annulation\b",
    r"\bje ne (?:la |le )?(?:garde|conserve)(?:rai)? pas\b", r"\bje (?:la |le )?garde(?:rai)? pas\b",
    r"\bje ne (?:veux|souhaite) pas (?:la |le )?(?:garder|conserver)\b",
    r"\b(?:i|we) (?:won't|will not|don't|do not|shall not) (?:want to )?keep (?:it|the order|my order|this order)\b",
    r"\bnot keeping (?:it|the order|my order)\b",
]


_HEDGE = re.compile(r"\b(?:maybe|perhaps|probably|not sure|unsure|i think|let me think|i'll think|depends|"
                    r"peut-être|peut-etre|probablement|je pense|je crois|pas sûre?|j'hésite|je vais réfléchir|"
                    r"je réfléchis|ça dépend|sauf si|unless|if|provided|as long as|si|à condition|pourvu)\b",
                    re.IGNORECASE)


def _said(patterns: list[str], text: str) -> str | None:
    """The first match not asked and not negated just before it in its sentence ("I don't
    think I'll keep it", "je ne pense pas garder"); a pattern may carry its own negation."""
    for pattern in patterns:
        for m in re.finditer(pattern, text, re.IGNORECASE):
            if _asked(text, m.end()):
                continue
            begin = max((text.rfind(c, 0, m.start()) for c in ".!?\n;,"), default=-1) + 1
            before = text[max(begin, m.start() - 25):m.start()]
            if not _NEGATION.search(before) and not re.search(r"\b(?:if|si|whether|unless|sauf si)\b", before, re.I):
                return m.group(0)
    return None


def read_offer_reply(text: str) -> ReplyReading:
    """The customer's answer to the alternative offered before cancelling (C6): keeps the order
    (OFFER_ACCEPTED), still cancels (OFFER_DECLINED) or UNCLEAR. Conservative: a question, both
    answers, or a possible withdrawal (never read as keeping the order) is for the operator."""
    body = text.strip()
    keep, decline = _said(_KEEP, body), _said(_DECLINE, body)
    withdrawal = withdrawal_statement(body)
    if withdrawal and (keep or not decline):
        return ReplyReading(Reading.UNCLEAR, 0.0, f"a possible withdrawal (L221-21): {withdrawal!r}"
                            + (f", with {keep!r}" if keep else ""))
    if withdrawal:
        # Refusal or cancel words, no "keep" words: going ahead with the customer's cancellation
        # never harms them (a withdrawal notice, L221-21, is honoured at once), so it is acted on
        # as "cancel anyway"; the withdrawal note stays on the timeline. Unsure ones wait.
        hedge = _HEDGE.search(body)
        if hedge or "?" in body:
            return ReplyReading(Reading.OFFER_DECLINED, 0.6, f"declined: {decline!r}, but unsure: "
                                f"{(hedge.group(0) if hedge else 'a question')!r}; a possible withdrawal (L221-21): "
                                f"{withdrawal!r}, for the operator")
        return ReplyReading(Reading.OFFER_DECLINED, 0.9, f"still cancels: {decline!r}; a possible withdrawal "
                            f"(L221-21): {withdrawal!r}, the cancellation goes ahead at once")
    if keep and decline:
        return ReplyReading(Reading.UNCLEAR, 0.3, f"contrary signals: {keep!r} / {decline!r}")
    hedge = _HEDGE.search(body)
    if hedge and (keep or decline):
        return ReplyReading(Reading.OFFER_ACCEPTED if keep else Reading.OFFER_DECLINED, 0.5,
                            f"{'keeps' if keep else 'cancels'}: {(keep or decline)!r}, but unsure: {hedge.group(0)!r}")
    if _QUESTION_ONLY.search(body) or re.search(r"\?\s*\n", body):
        return ReplyReading(Reading.UNCLEAR, 0.3 if (keep or decline) else 0.0, "a question")
    if keep:
        return ReplyReading(Reading.OFFER_ACCEPTED, 0.9, f"keeps the order: {keep!r}")
    if decline:
        return ReplyReading(Reading.OFFER_DECLINED, 0.9, f"still cancels: {decline!r}")
    return ReplyReading(Reading.UNCLEAR, 0.0, "nothing recognised")


# L221-21 Code de la consommation: the consumer may withdraw by any unambiguous statement, an email
# included. Not read as a request here (what was withdrawn, and when, is the operator's to say), but
# never left as an "unclear" reply among others: the operator's item says it may be one.
_WITHDRAWAL = re.compile(
    r"\br[ée]tract(?:e|er|ion|ation|ons)?\b|\bdroit de r[ée]tractation\b|"
    r"\b(?:annuler|annule|annulez|rembourser|renvoyer|retourner) (?:ma |la |cette |notre )?(?:commande|achat|article)|"
    r"\bje (?:ne )?(?:veux|souhaite|voudrais) (?:plus|pas) (?:de )?(?:cette |la |ma )?commande|"
    r"\bwithdr[ae]w(?:al|ing)?\b|\bright (?:of|to) withdraw|"
    r"\bcancel (?:my|the|this) (?:order|purchase)|\b(?:return|send back) (?:my|the|this) (?:order|item|purchase)|"
    r"\b(?:i|we) (?:no longer|don't|do not) want (?:the|this|my) (?:order|item)", re.IGNORECASE)


def withdrawal_statement(text: str) -> str | None:
    """The words of a possible withdrawal (L221-21) in a customer's mail, or None."""
    m = _WITHDRAWAL.search(text)
    return m.group(0) if m else None


_CASE_REFERENCE = re.compile(r"\bAS-([0-9A-F]{10})\b", re.IGNORECASE)


def case_references(subject: str, text: str) -> list[str]:
    """The case references we write in every supplier email ("réf. AS-1A2B3C4D5E", the first ten
    hex digits of the case id), subject first, lower-case as the ids are."""
    out: list[str] = []
    for source in (subject, text[:8000]):
        for m in _CASE_REFERENCE.finditer(source):
            if m.group(1).lower() not in out:
                out.append(m.group(1).lower())
    return out


_ORDER_IN_TEXT = re.compile(r"(?:order|commande|cde|n°|no\.?|#)\s*(?:n[°o]\s*)?[:#]?\s*(#?[A-Z]{0,6}-?\d{3,12})\b",
                            re.IGNORECASE)


def order_numbers(subject: str, text: str) -> list[str]:
    """The order numbers named in the subject, then the body ("#1001", "commande 1001")."""
    out: list[str] = []
    for source in (subject, text[:4000]):
        for m in _ORDER_IN_TEXT.finditer(source):
            value = m.group(1).upper()
            value = value if not value.lstrip("#").isdigit() else "#" + value.lstrip("#")
            if value not in out:
                out.append(value)
    return out
