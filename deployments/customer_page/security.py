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
  the browser claims, and by size; they are stored under a random name outside any served folder.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from pydantic import SecretStr
from pydantic_settings import SettingsConfigDict

from integrations.vendor_settings import VendorSettings


class PageSettings(VendorSettings):
    model_config = SettingsConfigDict(env_prefix="AFTERSALES_PAGE_", extra="ignore")
    SANDBOX: ClassVar[dict[str, str]] = {"link_secret": "sandbox-page-link-secret"}
    REQUIRED: ClassVar[tuple[str, ...]] = ("link_secret",)

    link_secret: SecretStr = SecretStr("")  # signs the page's links and CSRF tokens (fail closed)
    public_url: str = ""  # where customers reach the page, e.g. https://help.example.com/page (email links)
    link_days: int = 90  # how long a link from an email proves the order
    upload_dir: Path = Path("data/customer-photos")  # photos, never served publicly
    max_photo_bytes: int = 5_000_000
    max_photos: int = 5
    proxy_max_age_seconds: int = 3600  # an App Proxy request older than this is refused (replay)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(secret: str, purpose: str, message: str) -> str:
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
    return f"{payload}.{_mac(secret, 'link', payload)}"


def read_link(secret: str, token: str, *, now: float | None = None) -> Proof | None:
    """The proof in a link, or None when it is forged, altered, expired or malformed."""
    payload, _, mac = token.partition(".")
    if not payload or not mac or len(token) > 1000:
        return None
    if not hmac.compare_digest(mac, _mac(secret, "link", payload)):
        return None
    try:
        data = json.loads(_unb64(payload))
        proof = Proof(str(data["n"]), str(data["r"]), int(data["x"]))
    except (ValueError, KeyError, TypeError):
        return None
    return proof if proof.expires > (now if now is not None else time.time()) else None


CSRF_SECONDS = 2 * 3600


def csrf_token(secret: str, binding: str, *, now: float | None = None) -> str:
    issued = int(now if now is not None else time.time())
    return f"{issued}.{_mac(secret, 'csrf', f'{binding}|{issued}')}"


def csrf_ok(secret: str, binding: str, token: str | None, *, now: float | None = None) -> bool:
    issued, _, mac = (token or "").partition(".")
    if not issued.isdigit() or not binding:
        return False
    age = (now if now is not None else time.time()) - int(issued)
    return 0 <= age <= CSRF_SECONDS and hmac.compare_digest(mac, _mac(secret, "csrf", f"{binding}|{issued}"))


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
    return hmac.compare_digest(given[0].lower(), proxy_signature(params, secret))


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


def store_photo(folder: Path, data: bytes, kind: str) -> str:
    """Write the photo under a random name (0600) and return its id (`<random>.<kind>`)."""
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    photo_id = f"{secrets.token_hex(16)}.{kind}"
    path = folder / photo_id
    with open(path, "xb") as out:
        out.write(data)
    path.chmod(0o600)
    return photo_id


def photo_path(folder: Path, photo_id: str) -> Path | None:
    """The stored photo for an id, or None: only ids this module made (no path tricks)."""
    name, _, kind = photo_id.partition(".")
    if len(name) != 32 or any(c not in "0123456789abcdef" for c in name) or kind not in PHOTO_TYPES:
        return None
    path = folder / photo_id
    return path if path.is_file() else None
