"""A customer's browser on the customer page (docs/customer-page.md), for the demo's scenarios.

It does what a browser without script does: one cookie jar per customer, every form read from
the page's own HTML (its action, its hidden fields and CSRF token), then sent with the values a
customer would type or tick. The path is the page's: `GET /page`, `POST /page/proof` (303 to the
order with its signed link `t`), `GET /page/request`, `POST /page/review`, `POST /page/confirm`
(with `choice` when the retention offer C6 is shown); and to follow a case, `GET /page/case` then
`POST /page/tracking`. Any answer the path does not expect raises `PageRefused` with the page's
status and the error it shows.
"""

from __future__ import annotations

import binascii
import hashlib
import struct
import zlib
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any, Literal
from urllib.parse import parse_qs, urlparse

import httpx
from markupsafe import escape

from deployments.customer_page.texts import Language, t


class PageRefused(RuntimeError):
    """The page answered a step with something else than the next step: its status and text."""

    def __init__(self, who: str, step: str, status: int, text: str) -> None:
        super().__init__(f"{who}: the customer page answered {step} with {status}: {text or '(no error shown)'}")
        self.status, self.text = status, text


@dataclass
class Form:
    action: str
    enctype: str
    hidden: list[tuple[str, str]] = field(default_factory=list)
    buttons: list[tuple[str, str]] = field(default_factory=list)  # named submit buttons (name, value)


class _Page(HTMLParser):
    """The forms of a page, and the text of its errors (role="alert" and each field's error)."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[Form] = []
        self.errors: list[str] = []
        self._form: Form | None = None
        self._depth = 0  # >0 while inside an error element
        self._stack: list[bool] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self._form = Form(a.get("action", ""), a.get("enctype", "application/x-www-form-urlencoded"))
            self.forms.append(self._form)
        elif self._form is not None and a.get("name"):
            if tag == "input" and a.get("type") == "hidden":
                self._form.hidden.append((a["name"], a.get("value", "")))
            elif tag == "button":
                self._form.buttons.append((a["name"], a.get("value", "")))
        if tag in ("input", "br", "img", "meta", "link"):
            return  # void elements: no end tag
        error = a.get("role") == "alert" or "error" in a.get("class", "").split()
        self._stack.append(error)
        if error:
            self._depth += 1
            self.errors.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._form = None
        if tag in ("input", "br", "img", "meta", "link") or not self._stack:
            return
        if self._stack.pop():
            self._depth -= 1

    def handle_data(self, data: str) -> None:
        if self._depth and self.errors:
            self.errors[-1] += data


def read_page(text: str) -> _Page:
    page = _Page()
    page.feed(text)
    return page


def error_text(text: str) -> str:
    """What the page says is wrong, in one line (the alert first, then the fields' errors)."""
    seen: list[str] = []
    for err in read_page(text).errors:
        words = " ".join(err.split())
        if words and not any(words in s for s in seen):
            seen.append(words)
    return " | ".join(seen)


def png(seed: str, size: int = 16) -> bytes:
    """A small, valid PNG of one colour drawn from `seed` (two names, two different photos)."""
    r, g, b = hashlib.sha256(seed.encode()).digest()[:3]
    raw = b"".join(b"\x00" + bytes((r, g, b)) * size for _ in range(size))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", binascii.crc32(kind + data))

    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


@dataclass
class Answer:
    status: Literal["received", "duplicate"]
    text: str  # the page's answer (HTML)


class CustomerBrowser:
    """One customer on the page: `async with CustomerBrowser(base, "#1001", email, "fr") as b:`."""

    def __init__(self, base: str, order: str, email: str, lang: Language, *, token: str | None = None,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.base, self.order, self.email, self.lang = base.rstrip("/"), order, email, lang
        self.token = token  # the signed link: from the proof, or the one an email carries
        self._last: tuple[str, dict[str, Any]] | None = None  # the confirmation last sent, to send it again
        kwargs: dict[str, Any] = {"transport": transport} if transport is not None else {}
        self.http = httpx.AsyncClient(base_url=self.base, timeout=30, follow_redirects=False, **kwargs)

    async def __aenter__(self) -> CustomerBrowser:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.http.aclose()

    # -- the steps ---------------------------------------------------------------------------------

    async def prove(self) -> str:
        """Step 0: the order number and email; the signed link the page gives (kept for later)."""
        start = await self._get("GET /page", "/page", params={"lang": self.lang})
        form = self._form(start, "/proof", "GET /page")
        r = await self.http.post(form.action, data=self._fill(form, order_number=self.order, email=self.email))
        location = r.headers.get("location", "")
        token = str(parse_qs(urlparse(location).query).get("t", [""])[0])
        if r.status_code != 303 or not token:
            raise PageRefused(self.order, "POST /page/proof", r.status_code, error_text(r.text))
        self.token = token
        return token

    async def cancel(self, reason: str, message: str | None = None, *, items: list[str] | None = None,
                     offer: Literal["insist", "keep"] = "insist") -> Answer:
        """Steps 2 and 3 for a cancellation; `offer`: the button pressed if the C6 offer is shown."""
        return await self._request("cancel", offer, reason=reason, message=message or "", items=items or [])

    async def ask_return(self, reason: str, message: str | None = None, *, items: list[str] | None = None,
                         photos: list[str] | None = None, exchange_for: str | None = None) -> Answer:
        """Steps 2 and 3 for a return; `photos`: the names of the photos chosen (small PNGs made here)."""
        files = [("photos", (name, png(f"{self.order}:{name}"), "image/png")) for name in photos or []]
        return await self._request("return", None, files=files or [("photos", ("", b"", "application/octet-stream"))],
                                   reason=reason, message=message or "", items=items or [],
                                   exchange_for=exchange_for or "")

    async def send_again(self) -> Answer:
        """The same confirmation sent a second time (a double click, the back button)."""
        if self._last is None:
            raise RuntimeError(f"{self.order}: nothing was confirmed yet")
        action, data = self._last
        return await self._answer(await self.http.post(action, data=data), "POST /page/confirm (again)")

    async def send_tracking(self, number: str, carrier: str | None = None) -> str:
        """Follow the case (`GET /page/case`) and give the return's tracking number (R3); the page's
        answer."""
        token = self.token or await self.prove()
        case = await self._get("GET /page/case", "/page/case", params={"t": token, "lang": self.lang})
        form = self._form(case, "/tracking", "GET /page/case (no tracking form: the case does not wait for it)")
        r = await self.http.post(form.action, data=self._fill(form, tracking_number=number, carrier=carrier or ""))
        done = str(escape(t("tracking_done", self.lang)))
        if r.status_code != 200 or done not in r.text:
            raise PageRefused(self.order, "POST /page/tracking", r.status_code, error_text(r.text))
        return r.text

    # -- plumbing ----------------------------------------------------------------------------------

    async def _request(self, kind: str, offer: str | None, *, files: list[Any] | None = None,
                       **values: Any) -> Answer:
        token = self.token or await self.prove()
        step2 = await self._get("GET /page/request", "/page/request",
                                params={"t": token, "kind": kind, "lang": self.lang})
        form = self._form(step2, "/review", "GET /page/request")
        data = self._fill(form, **values)
        multipart = form.enctype.startswith("multipart/")
        r = await self.http.post(form.action, data=data, files=files if multipart else None)
        if r.status_code != 200:
            raise PageRefused(self.order, "POST /page/review", r.status_code, error_text(r.text))
        confirm = self._form(r, "/confirm", "POST /page/review")
        extra: dict[str, Any] = {}
        if confirm.buttons:  # the retention offer (C6): keep the order, or cancel anyway
            if offer is None or ("choice", offer) not in confirm.buttons:
                raise PageRefused(self.order, "POST /page/review", r.status_code,
                                  f"the confirmation offers {confirm.buttons}, not choice={offer}")
            extra["choice"] = offer
        data = self._fill(confirm, **extra)
        self._last = (confirm.action, data)
        return await self._answer(await self.http.post(confirm.action, data=data), "POST /page/confirm")

    async def _answer(self, r: httpx.Response, step: str) -> Answer:
        # 202: the store did not answer the page's order lookup in time (a busy machine): the page
        # kept the request as sent, unverified, and the flow checks the order (issue 21). A customer
        # sees it kept all the same; the scenario goes on from there.
        if r.status_code not in (200, 202) or 'class="notice notice-good"' not in r.text:
            raise PageRefused(self.order, step, r.status_code, error_text(r.text))
        again = str(escape(t("duplicate", self.lang)))
        return Answer("duplicate" if again in r.text else "received", r.text)

    async def _get(self, step: str, path: str, **kwargs: Any) -> httpx.Response:
        r = await self.http.get(path, **kwargs)
        if r.status_code != 200:
            raise PageRefused(self.order, step, r.status_code, error_text(r.text))
        return r

    def _form(self, r: httpx.Response, action: str, step: str) -> Form:
        for form in read_page(r.text).forms:
            if action in urlparse(form.action).path:
                return form
        raise PageRefused(self.order, step, r.status_code, error_text(r.text) or f"no form to {action}")

    @staticmethod
    def _fill(form: Form, **values: Any) -> dict[str, Any]:
        """The form's hidden fields, then the values given (a list: a repeated field)."""
        out: dict[str, list[str]] = {}
        for name, value in [*form.hidden, *values.items()]:
            if value == []:
                continue
            out.setdefault(name, []).extend(str(v) for v in (value if isinstance(value, list) else [value]))
        return {k: v[0] if len(v) == 1 else v for k, v in out.items()}
