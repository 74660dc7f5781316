"""Links to the customer page (issue 21): signed, so a link in an email proves the order.

A link carries the order's number and numeric id and an expiry, signed with HMAC-SHA256 and
`AFTERSALES_PAGE_LINK_SECRET` (deployments/customer_page checks it). Outside sandbox mode there is
no default secret: without it (or with the sandbox's public value) no link is made, and the page
refuses to work (fail closed). Here, below the flows, so the emails can carry the link.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar
from urllib.parse import urlencode

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from integrations.vendor_settings import VendorSettings


class PageSettings(VendorSettings):
    model_config = SettingsConfigDict(env_prefix="AFTERSALES_PAGE_", extra="ignore")
    SANDBOX: ClassVar[dict[str, str]] = {"link_secret": "sandbox-page-link-secret"}
    REQUIRED: ClassVar[tuple[str, ...]] = ("link_secret",)

    link_secret: SecretStr = SecretStr("")  # signs the page's links and CSRF tokens (fail closed)
    public_url: str = ""  # where customers reach the page, e.g. https://help.example.com/page (email links)
    link_days: int = 90  # how long a link from an email proves the order
    # How long the link the page itself gives right after the proof (number + email, or a logged-in
    # customer) proves the order: it sits in the address bar and the browser's history of a device
    # that may be shared, so hours, not the emails' days.
    proof_link_hours: int = Field(default=4, ge=1, le=72)
    upload_dir: Path = Path(".aftersales/customer-photos")  # photos, never served publicly
    max_photo_bytes: int = 5_000_000
    max_photos: int = 5
    # Photos kept for one order at most (live, not yet deleted): each form is bounded, but the
    # forms are not, and photos chosen at step 2 are kept even when never confirmed; without a
    # bound, one proven order could fill the disk at the per-address limit (20 forms of 25 MB a
    # minute, kept 90 days).
    max_photos_per_order: int = Field(default=30, ge=1)
    proxy_max_age_seconds: int = 3600  # an App Proxy request older than this is refused (replay)

    def configured(self) -> bool:
        """The store uses the page: its link secret or its public address is set. A public address
        alone is a page half set up (issue 22: it answered 503 to every customer and the emails
        said nothing of it, silently): the processes that serve it or link to it (the receiver,
        the worker, the order consumer) refuse to start naming AFTERSALES_PAGE_LINK_SECRET."""
        return super().configured() or bool(self.public_url.strip())


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def mac(secret: str, purpose: str, message: str) -> str:
    return hmac.new(secret.encode(), f"{purpose}|{message}".encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Proof:
    """An order the visitor has proven: its number, its numeric id, until when."""

    order_name: str
    order_ref: str
    expires: int


def sign_link(secret: str, order_name: str, order_ref: str, *, seconds: int, now: float | None = None) -> str:
    expires = int((now if now is not None else time.time()) + seconds)
    payload = _b64(json.dumps({"n": order_name, "r": order_ref, "x": expires}, separators=(",", ":")).encode())
    return f"{payload}.{mac(secret, 'link', payload)}"


def read_link(secret: str, token: str, *, now: float | None = None) -> Proof | None:
    """The proof in a link, or None when it is forged, altered, expired or malformed."""
    payload, _, given = token.partition(".")
    if not payload or not given or len(token) > 1000 or not token.isascii():
        return None  # (compare_digest raises on a non-ASCII str: a typo is no proof, never a 5xx)
    if not hmac.compare_digest(given, mac(secret, "link", payload)):
        return None
    try:
        data = json.loads(_unb64(payload))
        proof = Proof(str(data["n"]), str(data["r"]), int(data["x"]))
    except (ValueError, KeyError, TypeError):
        return None
    return proof if proof.expires > (now if now is not None else time.time()) else None


def case_link(order_name: str | None, order_ref: str | None, language: str,
              settings: PageSettings | None = None, *, path: str = "/case") -> str | None:
    """The signed link to follow this order's case on the page, for an email; None when the page
    has no public address or no secret (then the emails say nothing about it). `path` "" is the
    page's start, which opens the order (cancel, return, follow): for the order's own emails."""
    settings = settings or PageSettings()
    if not order_name or not order_ref or not settings.public_url or settings.missing():
        return None
    token = sign_link(settings.link_secret.get_secret_value(), order_name, order_ref,
                      seconds=settings.link_days * 86400)
    lang = language if language in ("fr", "en") else "fr"
    return f"{settings.public_url.rstrip('/')}{path}?{urlencode({'t': token, 'lang': lang})}"
