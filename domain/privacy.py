"""Customer data kept out of the logs: email addresses are masked in every log record.

The flows and the receiver never log an email on purpose, but error messages do carry them (a
refused recipient, an address the mailer cannot use, a vendor's error text), and Prefect logs
those messages with the task's failure. `install_log_masking` makes every record the process
creates mask them, whatever the logger and the handler (console, Prefect's API handler, a file):
`paul.roux@example.com` becomes `p***@e***.com`. Message-IDs (`<uuid@domain>`) are kept: they
name an operation, not a person.

Database errors are scrubbed too: the engines never print a statement's parameters
(`hide_parameters`, ledger/db.py), but PostgreSQL itself quotes the refused row in its error
(`DETAIL:  Failing row contains (...)`, `Key (col)=(value) already exists`), i.e. a raw body with
a street address and a phone number. Those details are replaced in every record.

SQLAlchemy logs every fetched row at DEBUG (`Row (...)`, whatever `hide_parameters` says): a raw
body with the customer's address and phone as soon as anyone turns the root logger to DEBUG. The
row is hidden; the statement and its column names stay (the fuzz run's log scan found it).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Mapping
from typing import Any

_EMAIL = re.compile(r"(?<![\w.%+-])([\w.%+-]+)@([\w-]+(?:\.[\w-]+)*)(\.[\w-]{2,63})\b")
_DB_DETAIL = re.compile(r"(DETAIL:\s*|Failing row contains |Key \()[^\n]*")
_DB_HIDDEN = "[hidden: may hold customer data]"
_UUID = re.compile(r"^[0-9a-fA-F]{8}-?(?:[0-9a-fA-F]{4}-?){3}[0-9a-fA-F]{12}$")


def _masked(match: re.Match[str]) -> str:
    local, domain, tld = match.groups()
    if _UUID.match(local):  # a Message-ID, not a person
        return match.group(0)
    return f"{local[0]}***@{domain[0]}***{tld}"


def mask_emails(text: str) -> str:
    """`text` with every email address masked: `paul.roux@example.com` -> `p***@e***.com`."""
    return _EMAIL.sub(_masked, text) if "@" in text else text


def scrub_db_details(text: str) -> str:
    """`text` without the values a database error quotes (`DETAIL: Failing row contains (...)`)."""
    return _DB_DETAIL.sub(lambda m: m.group(1) + _DB_HIDDEN, text) if ("DETAIL" in text or "Key (" in text) else text


def mask_personal(text: str) -> str:
    """Both: emails masked, database error details hidden."""
    return mask_emails(scrub_db_details(text))


def _hides(text: str) -> bool:
    return "@" in text or "DETAIL" in text or "Key (" in text


class _MaskedValue:
    """A log argument whose str() / repr() carry an email, shown masked either way."""

    def __init__(self, value: object) -> None:
        self._str, self._repr = mask_personal(str(value)), mask_personal(repr(value))

    def __str__(self) -> str:
        return self._str

    def __repr__(self) -> str:
        return self._repr

    def __format__(self, spec: str) -> str:
        return format(self._str, spec)


def _mask_arg(value: Any) -> Any:
    if isinstance(value, str):
        return mask_personal(value)
    if value is None or isinstance(value, bool | int | float):
        return value
    try:
        return _MaskedValue(value) if _hides(str(value)) or _hides(repr(value)) else value
    except Exception:  # an object that cannot show itself: logging reports that, not us
        return value


def mask_log_record(record: logging.LogRecord) -> logging.LogRecord:
    """Mask the emails of one record in place: its message, its arguments, its traceback; hide
    the rows SQLAlchemy logs at DEBUG."""
    if record.msg == "Row %r" and record.name.startswith("sqlalchemy.engine"):
        record.args = (_DB_HIDDEN,)
        return record
    if isinstance(record.msg, str):
        record.msg = mask_personal(record.msg)
    if isinstance(record.args, Mapping):
        record.args = {k: _mask_arg(v) for k, v in record.args.items()}
    elif isinstance(record.args, tuple):
        record.args = tuple(_mask_arg(a) for a in record.args)
    if record.exc_info and record.exc_info[0] is not None and not record.exc_text:
        text = logging.Formatter().formatException(record.exc_info)
        if _hides(text):
            record.exc_text = mask_personal(text)  # what formatters print instead of re-rendering it
    return record


class EmailMaskingFilter(logging.Filter):
    """The same masking as a filter, for a handler or a logger configured by hand."""

    def filter(self, record: logging.LogRecord) -> bool:
        mask_log_record(record)
        return True


def install_log_masking() -> None:
    """Mask emails in every log record this process creates from now on (idempotent)."""
    factory = logging.getLogRecordFactory()
    if getattr(factory, "masks_emails", False):
        return

    def masking_factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        return mask_log_record(factory(*args, **kwargs))

    masking: Callable[..., logging.LogRecord] = masking_factory
    masking.masks_emails = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(masking)


# -- Erasure (GDPR art. 17; Shopify's customers/redact and shop/redact) -------------------------------

ERASED = "[erased]"
# Keys whose value is a person's data wherever they appear (Shopify, Stripe, PayPal, our own bodies).
PERSONAL_KEYS = frozenset({
    "email", "contact_email", "customer_email", "receipt_email", "payer_email", "email_address", "buyer_email",
    "phone", "phone_number", "first_name", "last_name", "given_name", "surname", "full_name",
    "customer_first_name", "address1", "address2", "zip", "postal_code", "line1", "line2", "company",
    "latitude", "longitude", "browser_ip", "client_ip", "note",
})
# Objects that describe a person or where they live: every text inside them is theirs.
PERSONAL_OBJECTS = frozenset({
    "customer", "billing_address", "shipping_address", "default_address", "addresses", "billing_details",
    "shipping", "buyer", "payer", "address", "seller_protection_address", "customer_address",
})
# Values that name one person wherever they appear: searched in every table. The weaker ones (a
# first name, a city, a postcode) are erased only in the rows about the customer.
STRONG_KEYS = frozenset({
    "email", "contact_email", "customer_email", "receipt_email", "payer_email", "email_address", "buyer_email",
    "phone", "phone_number", "address1", "address2", "line1", "line2", "full_name", "name",
})
MIN_TOKEN = 3  # shorter values ("FR", "75") name no one and would erase everyone's data


def personal_values(doc: Any, *, strong_only: bool = False) -> set[str]:
    """The personal strings of a JSON document (a raw webhook body, a case's data): names,
    addresses, phones, emails. They become the tokens erased elsewhere; `strong_only`: those
    that name one person wherever they appear (emails, phones, street lines, full names)."""
    found: set[str] = set()

    def walk(node: Any, inside: bool) -> None:
        if isinstance(node, Mapping):
            for key, value in node.items():
                k = str(key).lower()
                if isinstance(value, str):
                    personal = (inside and k not in ("id", "country_code", "province_code", "country")) or \
                        k in PERSONAL_KEYS
                    if personal and (not strong_only or (k in STRONG_KEYS and (inside or k != "name"))):
                        found.add(value.strip())
                else:
                    walk(value, inside or k in PERSONAL_OBJECTS)
        elif isinstance(node, list):
            for item in node:
                walk(item, inside)

    walk(doc, False)
    return {v for v in found if len(v) >= MIN_TOKEN and v != ERASED}


_LOOKS_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]{2,}$")
_LOOKS_PHONE = re.compile(r"^\+?\(?\d[\d\s().-]*\d$")
# A phone number as text writes it: "+33 6 12 34 56 78", "06.12.34.56.78", "(0)6 12-34-56-78".
_PHONE_RUN = re.compile(r"(?<![\w+])\+?\(?\d[\d\s().-]{5,}\d(?!\w)")
PHONE_CORE_DIGITS = 9  # the subscriber part, the same with or without a country code or a trunk 0


def looks_like_email(value: str) -> bool:
    return bool(_LOOKS_EMAIL.match(value.strip()))


def phone_core(value: str) -> str | None:
    """The digits that identify a phone number whatever its format: "06 12 34 56 78" and
    "+33612345678" are both "612345678". None when `value` is not a phone number (8-15 digits)."""
    value = value.strip()
    if not _LOOKS_PHONE.match(value):
        return None
    digits = re.sub(r"\D", "", value)
    if not 8 <= len(digits) <= 15:
        return None
    return digits[-PHONE_CORE_DIGITS:]


def looks_like_full_name_or_address(value: str) -> bool:
    """Two words or more ("Léa Moreau", "12 rue des Lilas"): one word ("defective", ".com") names no one."""
    words = value.split()
    return len(words) >= 2 and len(value.strip()) >= 6


def _redact_phones(text: str, cores: set[str]) -> str:
    if not cores or not any(ch.isdigit() for ch in text):
        return text

    def sub(match: re.Match[str]) -> str:
        core = phone_core(match.group(0))
        return ERASED if core is not None and core in cores else match.group(0)

    return _PHONE_RUN.sub(sub, text)


def _variants(token: str) -> set[str]:
    """A token as text shows it and as JSON escapes it (`Zoé` is `Zo\\u00e9` in an ASCII JSON dump)."""
    escaped = json.dumps(token)[1:-1]
    return {token, escaped}


def redact_text(text: str, tokens: set[str]) -> str:
    """`text` with every token (case-insensitive, also in its JSON-escaped form) replaced by ERASED;
    a phone token also in any other format ("06 12 34 56 78" for "+33612345678")."""
    pieces = sorted({v for t in tokens if len(t) >= MIN_TOKEN for v in _variants(t)}, key=len, reverse=True)
    if not pieces or not text:
        return text
    pattern = re.compile("|".join(re.escape(p) for p in pieces), re.IGNORECASE)
    cores = {c for t in tokens if (c := phone_core(t))}  # the same phone written another way
    return _redact_phones(pattern.sub(ERASED, text), cores)


def redact_json(doc: Any, tokens: set[str], *, inside: bool = False) -> Any:
    """A copy of a JSON document with its personal values erased: the values of personal keys, all
    text inside personal objects, and any token elsewhere. Numbers (amounts) and ids stay."""
    if isinstance(doc, Mapping):
        out: dict[str, Any] = {}
        for key, value in doc.items():
            k = str(key).lower()
            if isinstance(value, str) and value and (
                    k in PERSONAL_KEYS or (inside and k not in ("id", "country_code", "province_code", "country"))):
                out[key] = ERASED
            else:
                out[key] = redact_json(value, tokens, inside=inside or k in PERSONAL_OBJECTS)
        return out
    if isinstance(doc, list):
        return [redact_json(item, tokens, inside=inside) for item in doc]
    if isinstance(doc, str):
        return redact_text(doc, tokens)
    return doc


def redact_body(body: str, tokens: set[str]) -> str:
    """A stored raw body (JSON or not) with its personal data erased."""
    try:
        doc = json.loads(body)
    except (ValueError, RecursionError):
        return redact_text(body, tokens)
    if not isinstance(doc, dict | list):
        return redact_text(body, tokens)
    return json.dumps(redact_json(doc, tokens), ensure_ascii=False, separators=(",", ":"))
