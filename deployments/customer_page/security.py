"""The customer page's safety parts, pure (no I/O but the upload folder): its settings, the
signed links, the CSRF tokens, Shopify's App Proxy signature and the photo checks.

- A signed link (`sign_link` / `read_link`) is the proof of an order the page gives once the
  customer proved it (number + email, or a logged-in customer through the App Proxy), and the
  link in the customer's emails: HMAC-SHA256 over the order's number and id and an expiry, with
  `AFTERSALES_PAGE_LINK_SECRET`. Outside sandbox mode the page refuses to work without that secret
  (fail closed: 503 naming it), never with the sandbox's public value.
- CSRF: every form carries a token bound to the visitor (a random cookie, or the App Proxy's shop
  and logged-in customer, since Shopify strips cookies from proxied requests) and to a time.
- The App Proxy signature is Shopify's: HMAC-SHA256, hex, of the query parameters other than
  `signature`, each `key=value` (repeated keys joined with commas), sorted, concatenated without
  separator, with the app's shared secret (shopify.dev, "Authenticate app proxies").
- Photos are checked by their first bytes (JPEG, PNG, WebP, HEIC), never by the name or the type
  the browser claims, and by size; they are stored under a name drawn from their content, outside any served folder.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from tasks.page_links import PageSettings, Proof, mac, read_link, sign_link

__all__ = ["PageSettings", "Proof", "read_link", "sign_link"]


CSRF_SECONDS = 2 * 3600


def csrf_token(secret: str, binding: str, *, now: float | None = None) -> str:
    issued = int(now if now is not None else time.time())
    return f"{issued}.{mac(secret, 'csrf', f'{binding}|{issued}')}"


def small_number(text: str) -> bool:
    """ASCII digits, at most 12: `int()` of anything else may raise (`"²".isdigit()` is true, and
    Python refuses more than 4300 digits), which would answer a visitor's typo with a 5xx."""
    return 0 < len(text) <= 12 and text.isascii() and text.isdigit()


def same(given: str, expected: str) -> bool:
    """`hmac.compare_digest` for what a visitor sent: it raises on a non-ASCII str, so that is False."""
    return given.isascii() and hmac.compare_digest(given, expected)


def csrf_ok(secret: str, binding: str, token: str | None, *, now: float | None = None) -> bool:
    issued, _, given = (token or "").partition(".")
    if not small_number(issued) or not binding:
        return False
    age = (now if now is not None else time.time()) - int(issued)
    return 0 <= age <= CSRF_SECONDS and same(given, mac(secret, "csrf", f"{binding}|{issued}"))


def email_sig(secret: str, order_ref: str, email: str) -> str:
    """The order's email carried by the step 2 and 3 forms, signed for that order: a request
    confirmed while the store cannot be reached is kept with it (the flow checks it later)."""
    return mac(secret, "email", f"{order_ref}|{email.strip().lower()}")


def email_sig_ok(secret: str, order_ref: str, email: str, sig: str) -> bool:
    return bool(email and sig) and same(sig, email_sig(secret, order_ref, email))


def new_cookie_value() -> str:
    return secrets.token_urlsafe(24)


# -- Shopify App Proxy -------------------------------------------------------------------------------


def proxy_message(params: Iterable[tuple[str, str]]) -> str:
    """What Shopify signs: every parameter but `signature`, `key=value` with a repeated key's values
    joined by commas (in their order), sorted, concatenated."""
    joined: dict[str, list[str]] = {}
    for key, value in params:
        if key != "signature":
            joined.setdefault(key, []).append(value)
    return "".join(sorted(f"{k}={','.join(v)}" for k, v in joined.items()))


def proxy_signature(params: Iterable[tuple[str, str]], secret: str) -> str:
    return hmac.new(secret.encode(), proxy_message(params).encode(), hashlib.sha256).hexdigest()


def proxy_signature_ok(params: list[tuple[str, str]], secret: str) -> bool:
    given = [v for k, v in params if k == "signature"]
    if len(given) != 1 or not secret:
        return False
    return same(given[0].lower(), proxy_signature(params, secret))


@dataclass(frozen=True)
class ProxyVisit:
    """A request Shopify forwarded through the App Proxy, its signature checked."""

    shop: str
    customer_id: str | None  # logged_in_customer_id: empty when nobody is logged in
    path_prefix: str  # where the customer sees the page, e.g. /apps/aftersales


# -- photos ----------------------------------------------------------------------------------------


def photo_kind(head: bytes) -> str | None:
    """The image type from its first bytes (the name and the declared type are not believed)."""
    if head.startswith(b"\xff\xd8\xff"):
        return "jpg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head[4:8] == b"ftyp" and head[8:12] in (b"heic", b"heix", b"mif1", b"msf1", b"hevc"):
        return "heic"
    return None


PHOTO_TYPES = {"jpg": "image/jpeg", "png": "image/png", "webp": "image/webp", "heic": "image/heic"}


def photo_name(data: bytes, kind: str) -> str:
    """A photo's id and file name (`<32 hex>.<kind>`), drawn from its content."""
    return f"{hashlib.sha256(data).hexdigest()[:32]}.{kind}"


def store_photo(folder: Path, data: bytes, kind: str) -> str:
    """Write the photo (0600) under a name drawn from its content, and return its id
    (`<32 hex>.<kind>`): the same photo sent twice is one file, and nobody can guess a name
    without having the photo."""
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    photo_id = photo_name(data, kind)
    path = folder / photo_id
    try:
        with open(path, "xb") as out:
            out.write(data)
    except FileExistsError:
        return photo_id
    path.chmod(0o600)
    return photo_id


def photo_path(folder: Path, photo_id: str) -> Path | None:
    """The stored photo for an id, or None: only ids this module made (no path tricks)."""
    name, _, kind = photo_id.partition(".")
    if len(name) != 32 or any(c not in "0123456789abcdef" for c in name) or kind not in PHOTO_TYPES:
        return None
    path = folder / photo_id
    return path if path.is_file() else None


# -- forms -----------------------------------------------------------------------------------------

MAX_FORM_PARTS = 400  # a step 2 form of a large order: its hidden fields, two per item, the photos
MAX_PART_HEADER = 4096


class FormRefused(ValueError):
    """A multipart body the page does not read: malformed, or more parts than any of its forms has."""


def split_multipart(raw: bytes, content_type: str, *, max_parts: int = MAX_FORM_PARTS
                    ) -> list[tuple[str, str | None, bytes]]:
    """(name, file name or None, data) of each part of a multipart/form-data body.

    Split on the boundary with `bytes` operations (C speed) and only each part's few header lines
    parsed: the standard `email` parser reads a body line by line in Python on the event loop, so
    25 MB of tiny parts or of newlines held the whole receiver (webhooks included) for minutes.
    Header lines are read as UTF-8, as browsers send a photo's file name (not as ASCII with
    surrogates, which could not be written back into the page's answer)."""
    from email.message import EmailMessage
    from email.parser import HeaderParser
    from email.policy import HTTP

    envelope = EmailMessage()
    envelope["content-type"] = content_type
    boundary = envelope.get_param("boundary")
    if not isinstance(boundary, str) or not 0 < len(boundary) <= 70 or not boundary.isascii():
        raise FormRefused("no boundary")
    chunks = (b"\r\n" + raw).split(b"\r\n--" + boundary.encode())
    if len(chunks) - 2 > max_parts:
        raise FormRefused("too many parts")
    parts: list[tuple[str, str | None, bytes]] = []
    for chunk in chunks[1:]:
        if chunk.startswith(b"--"):
            return parts  # the closing delimiter
        line_end = chunk.find(b"\r\n")
        if line_end < 0 or chunk[:line_end].strip(b" \t"):
            raise FormRefused("malformed delimiter line")
        rest = chunk[line_end + 2:]
        if rest.startswith(b"\r\n"):
            head, data = b"", rest[2:]
        else:
            end = rest.find(b"\r\n\r\n", 0, MAX_PART_HEADER)
            if end < 0:
                raise FormRefused("a part's headers are missing or too long")
            head, data = rest[:end], rest[end + 4:]
        headers = HeaderParser(policy=HTTP).parsestr(head.decode("utf-8", "replace") + "\r\n\r\n", headersonly=True)
        name = headers.get_param("name", header="content-disposition")
        if isinstance(name, str):
            parts.append((name, headers.get_filename(), data))
    raise FormRefused("no closing delimiter")
