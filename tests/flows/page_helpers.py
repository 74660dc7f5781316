"""Reading the customer page as a browser without script would: its forms, their hidden fields
and their actions, so the tests submit what the page itself offers."""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlencode


@dataclass
class Form:
    action: str
    method: str
    enctype: str
    fields: list[tuple[str, str]] = field(default_factory=list)  # hidden inputs, in order
    names: list[str] = field(default_factory=list)  # every named control
    buttons: list[tuple[str, str]] = field(default_factory=list)  # (name, value) of named submit buttons

    def hidden(self, name: str) -> str:
        return next(v for k, v in self.fields if k == name)


class _Forms(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[Form] = []
        self.links: list[str] = []
        self._current: Form | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self._current = Form(a.get("action", ""), a.get("method", "get").lower(),
                                 a.get("enctype", "application/x-www-form-urlencoded"))
            self.forms.append(self._current)
        elif tag == "a" and "href" in a:
            self.links.append(a["href"])
        elif self._current is not None and tag in ("input", "textarea", "select", "button"):
            name = a.get("name")
            if not name:
                return
            if tag == "button":
                self._current.buttons.append((name, a.get("value", "")))
            elif a.get("type") == "hidden":
                self._current.fields.append((name, a.get("value", "")))
            self._current.names.append(name)

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._current = None


def forms(html: str) -> list[Form]:
    parser = _Forms()
    parser.feed(html)
    return parser.forms


def links(html: str) -> list[str]:
    parser = _Forms()
    parser.feed(html)
    return parser.links


def form_with(html: str, action_part: str) -> Form:
    return next(f for f in forms(html) if action_part in f.action)


def fill(form: Form, **values: Any) -> dict[str, str | list[str]]:
    """The form's hidden fields, then the values given (a list gives a repeated field)."""
    out: dict[str, list[str]] = {}
    for name, value in [*form.fields, *values.items()]:
        out.setdefault(name, []).extend(str(v) for v in (value if isinstance(value, list) else [value]))
    return {k: v[0] if len(v) == 1 else v for k, v in out.items()}


def proxy_query(secret: str, *, shop: str, customer_id: str = "", extra: list[tuple[str, str]] | None = None,
                timestamp: int | None = None, path_prefix: str = "/apps/aftersales") -> str:
    """A query string as Shopify's App Proxy forwards it, signed as Shopify documents: every
    parameter but `signature`, `key=value` (repeated values joined by commas), sorted, joined
    without separator, HMAC-SHA256 hex with the app's secret."""
    params = [*(extra or []), ("shop", shop), ("logged_in_customer_id", customer_id),
              ("path_prefix", path_prefix), ("timestamp", str(timestamp or int(time.time())))]
    joined: dict[str, list[str]] = {}
    for k, v in params:
        joined.setdefault(k, []).append(v)
    message = "".join(sorted(f"{k}={','.join(v)}" for k, v in joined.items()))
    signature = hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()
    return urlencode([*params, ("signature", signature)])


# Smallest valid images (their magic bytes are what the page checks).
PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
       b"\x00\x00\x00\rIDATx\x9cc\xf8\xcf\xc0\xf0\x1f\x00\x05\x00\x01\xff\x89\x99=\x1d\x00\x00\x00\x00IEND\xaeB`\x82")
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xff\xd9"
