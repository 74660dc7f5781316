"""The customer page's routes (mounted under /page by deployments/receiver/customers.py).

Every read needs a proof of the order (a signed link `t`, made here once the customer gave the
order's number and email, or for a logged-in customer through the App Proxy); every form carries
a CSRF token; every request that asks the store about the order counts against the same
per-address limit as `POST /requests/...`; every request it sends goes through the receiver's own
customer path (stored in the ledger before the answer, deduplicated on the form's own key).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

from fastapi import APIRouter, BackgroundTasks, Depends, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from pydantic import ValidationError

from deployments.customer_page import CustomerDesk
from deployments.customer_page import security as sec
from deployments.customer_page.security import PageSettings
from deployments.customer_page.texts import CANCEL_REASONS, RETURN_REASONS, STEPS, TEXTS, Language, state_words, t
from domain.business_days import local_date
from domain.cancellation import refund_expected_by
from domain.case_state import ReturnData, facts_of
from domain.cases import is_terminal
from domain.inbound import (
    CustomerCancellationBody,
    CustomerReturnBody,
    ReturnItemBody,
    ReturnTrackingBody,
    normalise_order_number,
)
from domain.messages.context import format_date
from domain.orders import LineItem, Order
from domain.policy import CancellationReason, StorePolicy
from domain.returns import CONFORMITY_REASONS, EligibilityStatus, ReturnKind, ReturnReason, eligibility, handling
from ledger import cases, deadlines, inbox
from ledger import files as stored_files
from ledger.models import Case, utcnow
from tasks import runtime

log = logging.getLogger("aftersales.page")
HERE = Path(__file__).parent
COOKIE = "aftersales_csrf"
FORM_READ_SECONDS = 60.0  # a phone on a slow line sending photos; a stalled body is refused (408)
PROXY_PARAMS = ("shop", "logged_in_customer_id", "path_prefix", "timestamp", "signature")
_ENV = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(default=True),
                   trim_blocks=True, lstrip_blocks=True)
SECURITY_HEADERS = {
    # No script at all; the stylesheets are ours; images: ours, the store's logo (https).
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self' https:; form-action 'self'; "
                               "frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",  # the page's links carry the proof: never sent to another site
    "Cache-Control": "no-store",
}


class PageError(Exception):
    """A refusal shown as a page: its HTTP status and the sentence for the customer."""

    def __init__(self, status: int, message: str, **values: object) -> None:
        super().__init__(message)
        self.status, self.message, self.values = status, message, values  # message: a sentence, or a text's key


class StoreDown(PageError):
    """The store could not be asked about the order: the page keeps the customer's request anyway
    (stored first, like the JSON endpoints' unverified requests) and answers by email."""

    def __init__(self, order_number: str, token: str | None = None, email: str = "") -> None:
        super().__init__(503, "store_down")
        self.order_number, self.token, self.email = order_number, token, email


class Visit:
    """One request to the page: its language, whether it came through the App Proxy, its base URL."""

    def __init__(self, request: Request, settings: PageSettings, policy: StorePolicy, form: dict[str, str]) -> None:
        self.request, self.settings, self.policy, self.form = request, settings, policy, form
        params = list(request.query_params.multi_items())
        self.proxied = any(k == "signature" for k, _ in params)
        self.customer_id: str | None = None
        self.shop: str | None = None
        self.base = "/page"
        if self.proxied:
            self._check_proxy(params)
        self.language = self._language()

    def _check_proxy(self, params: list[tuple[str, str]]) -> None:
        shopify = runtime.shopify_settings()
        secret = "" if shopify.missing(["webhook_secret"]) else shopify.webhook_secret.get_secret_value()
        if not sec.proxy_signature_ok(params, secret):
            raise PageError(401, "forged")
        # Shopify's own parameters once each: a visitor may add `logged_in_customer_id=<someone>` to
        # the shop's URL, and Shopify signs it along with its own (values joined by commas), so a
        # repeated one is never read as "the last one wins".
        if any(sum(1 for k, _ in params if k == name) > 1 for name in PROXY_PARAMS):
            raise PageError(401, "forged")
        values = dict(params)
        if values.get("shop", "").lower() != runtime.store_id().lower():
            raise PageError(403, "forged")
        stamp = values.get("timestamp", "")
        if not sec.small_number(stamp) or abs(time.time() - int(stamp)) > self.settings.proxy_max_age_seconds:
            raise PageError(401, "forged")
        self.shop = values["shop"]
        self.customer_id = values.get("logged_in_customer_id") or None
        prefix = values.get("path_prefix", "")
        self.base = prefix.rstrip("/") if prefix.startswith("/") else "/page"

    def _language(self) -> Language:
        asked = self.request.query_params.get("lang") or self.form.get("lang")
        if asked in ("fr", "en"):
            return asked  # type: ignore[return-value]
        for part in self.request.headers.get("accept-language", "").split(","):
            code = part.split(";")[0].strip().lower()[:2]
            if code in ("fr", "en"):
                return code  # type: ignore[return-value]
        return self.policy.store.default_language

    def url(self, path: str, **query: str | None) -> str:
        kept = {k: v for k, v in query.items() if v}
        kept["lang"] = self.language
        return f"{self.base}{path}?{urlencode(kept)}"

    @property
    def binding(self) -> str:
        if self.proxied:
            return f"proxy:{self.shop}:{self.customer_id or ''}"
        return self.request.cookies.get(COOKIE, "")


def build_router(desk: CustomerDesk, settings: PageSettings | None = None) -> APIRouter:
    settings = settings or PageSettings()
    missing = settings.missing()  # fail closed: no signed link, no CSRF token without the secret
    secret = "" if missing else settings.link_secret.get_secret_value()
    router = APIRouter(prefix="/page", include_in_schema=False)

    # -- plumbing ---------------------------------------------------------------------------------

    async def read_form(request: Request) -> tuple[dict[str, str], dict[str, list[str]], list[tuple[str, bytes]]]:
        """(fields, repeated fields, files) of a urlencoded or multipart form, read within a bound."""
        ctype = request.headers.get("content-type", "")
        # Photos only in a multipart form; a plain form is a few fields.
        limit = settings.max_photo_bytes * settings.max_photos + 64_000 if ctype.startswith("multipart/") else 64_000
        too_large = PageError(413, "too_large", mb=limit // 1_000_000 or 1)  # said in the visitor's language
        declared = request.headers.get("content-length")
        if declared and declared.isascii() and declared.isdigit() and int(declared) > limit:
            raise too_large
        chunks, size = [], 0
        try:
            async with asyncio.timeout(FORM_READ_SECONDS):
                async for chunk in request.stream():
                    size += len(chunk)
                    if size > limit:
                        raise too_large
                    chunks.append(chunk)
        except TimeoutError:
            raise PageError(408, "bad_request") from None
        raw = b"".join(chunks)
        multi: dict[str, list[str]] = {}
        files: list[tuple[str, bytes]] = []
        if ctype.startswith("multipart/form-data"):
            try:
                parts = sec.split_multipart(raw, ctype)
            except sec.FormRefused:
                raise PageError(400, "bad_request") from None
            for name, filename, data in parts:
                if filename is not None:
                    if data:
                        files.append((filename[:100], data))
                else:
                    multi.setdefault(name, []).append(data.decode("utf-8", "replace"))
        else:
            for key, value in parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True):
                multi.setdefault(key, []).append(value)
        return {k: v[-1] for k, v in multi.items()}, multi, files

    def render(visit: Visit, template: str, *, status: int = 200, **context: Any) -> HTMLResponse:
        policy = visit.policy
        lang = visit.language
        cookie = None
        binding = visit.binding
        if not visit.proxied and not binding:
            cookie = binding = sec.new_cookie_value()
        switch = "en" if lang == "fr" else "fr"
        welcome = policy.page.welcome_fr if lang == "fr" else policy.page.welcome_en
        html = _ENV.get_template(template).render(
            lang=lang, tr=lambda key, **v: t(key, lang, **v), store=policy.store, look=policy.page,
            welcome=welcome or t("welcome", lang), base=visit.base, csrf=sec.csrf_token(secret, binding),
            switch_url=_switch_url(visit, switch), switch_lang=switch, **context)
        response = HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)
        if cookie:
            response.set_cookie(COOKIE, cookie, httponly=True, samesite="strict", path="/page",
                                secure=visit.request.url.scheme == "https")
        return response

    async def visit_of(request: Request, form: dict[str, str] | None = None) -> Visit:
        policy = await runtime.load_policy()
        return Visit(request, settings, policy, form or {})

    def check_csrf(visit: Visit) -> None:
        if not sec.csrf_ok(secret, visit.binding, visit.form.get("csrf")):
            raise PageError(403, "csrf")

    def proof_of(visit: Visit, token: str | None) -> sec.Proof:
        proof = sec.read_link(secret, token or "")
        if proof is None:
            raise PageError(403, "expired")
        return proof

    async def order_of(visit: Visit, proof: sec.Proof) -> Order:
        if not desk.allow(visit.request):
            raise PageError(429, t("too_many", visit.language))
        order, failure = await desk.lookup(proof.order_name)
        if failure is not None:
            raise StoreDown(proof.order_name, visit.form.get("t") or visit.request.query_params.get("t"),
                            signed_email(visit, proof))
        if not isinstance(order, Order) or order.legacy_id != proof.order_ref:
            raise PageError(403, t("expired", visit.language))
        return order

    def link(proof_name: str, ref: str) -> str:
        """The link the page gives once the order is proven: it stays in the browser's history (of
        a device that may be shared), so it lives hours (`proof_link_hours`), not the emails' days."""
        return sec.sign_link(secret, proof_name, ref, seconds=settings.proof_link_hours * 3600)

    def signed_email(visit: Visit, proof: sec.Proof) -> str:
        """The order's email the step 2 and 3 forms carry, when its signature fits this order."""
        email = visit.form.get("email", "").strip().lower()
        return email if sec.email_sig_ok(secret, proof.order_ref, email, visit.form.get("email_sig", "")) else ""

    def sig_of(order: Order) -> str | None:
        return sec.email_sig(secret, order.legacy_id, order.email) if order.email else None

    def later_form(visit: Visit, order_number: str, token: str | None, values: dict[str, Any], *,
                   status: int = 200, errors: dict[str, str] | None = None) -> HTMLResponse:
        """The store cannot be reached: what the customer wants, kept and answered by email."""
        lang = visit.language
        return render(visit, "later.html.j2", status=status, order_number=order_number,
                      token=token if token and sec.read_link(secret, token) else None, values=values,
                      errors=errors or {}, submission=visit.form.get("submission") or uuid.uuid4().hex,
                      cancel_reasons=[(r.value, CANCEL_REASONS[r.value][lang]) for r in CancellationReason],
                      return_reasons=[(r.value, RETURN_REASONS[r.value][lang]) for r in ReturnReason])

    async def keep_unchecked(visit: Visit, request: Request, background: BackgroundTasks, *, kind: str,
                             order_number: str, email: str, reason: str, message: str | None = None,
                             items: dict[str, int] | None = None, photo_ids: list[str] | None = None,
                             sealed: list[str] | None = None, exchange_for: str | None = None,
                             key: str | None = None, token: str | None = None) -> Response:
        """A request the store could not check: through the receiver's customer path all the same
        (stored in the ledger before the answer, marked unverified, the flow checks the order and
        the email), and the customer told it is kept and answered by email. Never a 5xx."""
        lang = visit.language
        wanted = list(items or {})
        try:
            body: CustomerCancellationBody | CustomerReturnBody
            if kind == "cancel":
                topic = "cancellation.requested"
                body = CustomerCancellationBody(order_number=order_number, email=email, reason=reason,
                                                message=message, items=wanted, language=lang)
            else:
                topic = "return.requested"
                body = CustomerReturnBody(
                    order_number=order_number, email=email, reason=reason, message=message,
                    items=[ReturnItemBody(sku=s, quantity=q) for s, q in (items or {}).items()],
                    photo_urls=[photo_url(visit, p) for p in photo_ids or []], sealed_skus=sealed or [],
                    exchange_for=exchange_for or None, language=lang)
        except ValidationError:
            raise PageError(422, t("bad_request", lang)) from None
        answer = await desk.submit(request, background, topic, body, body.model_dump_json().encode(), wanted,
                                   received=None, duplicate=None, key=key)
        refused = _refusal(visit, answer)
        if refused is not None:
            raise refused
        notes = [t("duplicate", lang)] if answer.status == "duplicate" else []
        # True either way: the store may have answered the receiver's own lookup just now.
        nxt = t("held_next" if answer.verified is False else "checked_next", lang, email=body.email)
        return render(visit, "done.html.j2", status=202, headline=t("held_saved", lang, order=body.order_number),
                      next=nxt, notes=notes,
                      token=token if token and sec.read_link(secret, token) else None)

    async def guarded(request: Request, handler: Any, *, form: bool = False) -> Response:
        """Run a page handler: the secret present, the App Proxy signature checked, the form read
        and its CSRF token checked; a refusal is a page with its status and reason."""
        fields: dict[str, str] = {}
        multi: dict[str, list[str]] = {}
        files: list[tuple[str, bytes]] = []
        visit: Visit | None = None
        try:
            if form and request.headers.get("content-type", "").startswith("multipart/"):
                # An upload is checked before a byte of it is read: the App Proxy signature, the
                # secret and the CSRF token (in the form's address: the page puts it there for
                # multipart forms), then its size while it is read (read_form).
                early = await visit_of(request, {})
                if missing:
                    log.error("customer page refused: set %s", ", ".join(missing))
                    raise PageError(503, t("not_configured", early.language,
                                           email=early.policy.store.support_email))
                if not sec.csrf_ok(secret, early.binding, request.query_params.get("csrf")):
                    visit = early
                    raise PageError(403, "csrf")
            if form:
                fields, multi, files = await read_form(request)
            visit = await visit_of(request, fields)
            if missing:
                log.error("customer page refused: set %s", ", ".join(missing))
                raise PageError(503, t("not_configured", visit.language, email=visit.policy.store.support_email))
            if form:
                check_csrf(visit)
            result: Response = await handler(visit, multi, files)
            return result
        except StoreDown as down:
            assert visit is not None
            return later_form(visit, down.order_number, down.token, {"email": down.email,
                                                                       **_asked(visit.form)})
        except PageError as err:
            if err.message in _KEPT_REASONS:
                # Promise 1, as for the JSON endpoints: a refused request (a forged App Proxy call, a
                # form without its CSRF token, a forged or expired link, too large, malformed) is
                # kept for inspection.
                topic = "page." + (request.url.path.rstrip("/").rsplit("/", 1)[-1] or "page")
                await desk.reject("customer", topic, b"", request, err.status, _KEPT_REASONS[err.message])
            if visit is None:
                try:
                    policy = await runtime.load_policy()
                except Exception:
                    return HTMLResponse("<p>temporarily unavailable</p>", status_code=503, headers=SECURITY_HEADERS)
                visit = Visit.__new__(Visit)
                visit.request, visit.settings, visit.policy, visit.form = request, settings, policy, fields
                visit.proxied, visit.customer_id, visit.shop, visit.base = False, None, None, "/page"
                visit.language = visit._language()
            message = t(err.message, visit.language, **err.values) if err.message in TEXTS else err.message
            # Back to the order (the proof kept) when the form carried a valid link: an expired form
            # costs the customer this step, never the proof.
            kept_link = fields.get("t") or ""
            retry = visit.url("/order", t=kept_link) if secret and kept_link and sec.read_link(secret, kept_link) \
                else None
            return render(visit, "error.html.j2", status=err.status, message=message, retry_url=retry)

    # -- static -------------------------------------------------------------------------------------

    @router.get("/static/page.css")
    async def stylesheet() -> FileResponse:
        return FileResponse(HERE / "static" / "page.css", media_type="text/css",
                            headers={"Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff"})

    @router.get("/theme.css")
    async def theme() -> Response:
        """The store's colours from its policy, with the text colour chosen for contrast."""
        look = (await runtime.load_policy()).page
        css = theme_css(look.primary_colour, look.background_colour)
        return Response(css, media_type="text/css", headers={"Cache-Control": "no-cache",
                                                               "X-Content-Type-Options": "nosniff"})

    # -- step 0: proof -------------------------------------------------------------------------------

    @router.get("")
    @router.get("/")
    async def start(request: Request) -> Response:
        async def handle(visit: Visit, *_: Any) -> Response:
            token = request.query_params.get("t")
            if token and sec.read_link(secret, token):
                return RedirectResponse(visit.url("/order", t=token), status_code=303, headers=SECURITY_HEADERS)
            expired = t("expired", visit.language) if token else None
            return render(visit, "proof.html.j2", status=403 if token else 200, error=expired,
                          logged_in=visit.customer_id is not None, values={})
        return await guarded(request, handle)

    @router.post("/proof")
    async def prove(request: Request) -> Response:
        async def handle(visit: Visit, *_: Any) -> Response:
            lang = visit.language
            number, email = visit.form.get("order_number", "").strip(), visit.form.get("email", "").strip().lower()
            errors: dict[str, str] = {}
            try:
                number = normalise_order_number(number)
            except ValueError:
                errors["order_number"] = t("not_found", lang)
            if visit.customer_id is None and "@" not in email:
                errors["email"] = t("not_found", lang)
            values = {"order_number": number, "email": email}
            if errors:
                await desk.reject("customer", "page.proof", b"", request, 422, "the proof form is incomplete")
                return render(visit, "proof.html.j2", status=422, errors=errors, values=values,
                              logged_in=visit.customer_id is not None)
            if not desk.allow(request):
                await desk.reject("customer", "page.proof", b"", request, 429, "too many requests, try again in a "
                                  "minute", retry_after=60)
                return render(visit, "proof.html.j2", status=429, error=t("too_many", lang), values=values,
                              logged_in=visit.customer_id is not None)
            if visit.customer_id is None and not desk.proof_allowed(email):
                # Order numbers are sequential: an email tried with number after number is stopped
                # (the same limit as the JSON endpoints'), whichever address the tries come from.
                await desk.reject("customer", "page.proof", number.encode(), request, 429,
                                  "too many order numbers tried with this email address", retry_after=3600)
                tries = t("too_many_tries", lang, email=visit.policy.store.support_email)
                return render(visit, "proof.html.j2", status=429, error=tries, values=values,
                              logged_in=False)
            order, failure = await desk.lookup(number)
            if failure is not None:  # the request is asked for and kept all the same (POST /page/later)
                raise StoreDown(number, None, email)
            if visit.customer_id is not None:
                proven = order is not None and (order.customer.id or "").rsplit("/", 1)[-1] == visit.customer_id
                reason, field = "not_yours", "order_number"
            else:
                proven = order is not None and (order.email or "").lower() == email
                reason, field = "not_found", "email"
            if not proven or order is None:
                if visit.customer_id is None:
                    desk.proof_failed(email)
                # Kept like every refusal of the JSON endpoints; never says which of the two was wrong.
                await desk.reject("customer", "page.proof", number.encode(), request, 404,
                                  "we could not find an order with this number and email address")
                return render(visit, "proof.html.j2", status=404, errors={field: t(reason, lang)}, values=values,
                              logged_in=visit.customer_id is not None)
            return RedirectResponse(visit.url("/order", t=link(order.name, order.legacy_id)), status_code=303,
                                    headers=SECURITY_HEADERS)
        return await guarded(request, handle, form=True)

    # -- step 1: cancel or return --------------------------------------------------------------------

    @router.get("/order")
    async def choose(request: Request) -> Response:
        async def handle(visit: Visit, *_: Any) -> Response:
            token = request.query_params.get("t")
            proof = proof_of(visit, token)
            order = await order_of(visit, proof)
            found = await cases.cases_for_order(runtime.db(), runtime.store_id(), order.legacy_id)
            return render(visit, "choose.html.j2", order=order, token=token, step=1,
                          cases=[c for c in found if c.kind in STEPS],
                          can_cancel=order.cancelled_at is None, can_return=order.has_shipped)
        return await guarded(request, handle)

    # -- step 2: items and reason --------------------------------------------------------------------

    def choices(visit: Visit, kind: str) -> list[tuple[str, str]]:
        lang = visit.language
        if kind == "cancel":
            return [(r.value, CANCEL_REASONS[r.value][lang]) for r in CancellationReason]
        return [(r.value, RETURN_REASONS[r.value][lang]) for r in ReturnReason]

    def selectable(order: Order, kind: str) -> list[LineItem]:
        return [li for li in order.line_items if li.sku and li.current_quantity > 0]

    def sealable(visit: Visit, items: list[LineItem]) -> list[str]:
        """R8, L221-28 5°: the SKUs excluded only once unsealed; the customer says if the seal is intact
        (the page never refuses them as "unsealed" without asking)."""
        rules = visit.policy.returns
        return [li.sku for li in items if li.sku and (rule := rules.exclusion_for(li)) is not None
                and rule.only_once_unsealed and not rule.needs_consent]

    @router.get("/request")
    async def ask(request: Request) -> Response:
        async def handle(visit: Visit, *_: Any) -> Response:
            token = request.query_params.get("t")
            kind = request.query_params.get("kind")
            if kind not in ("cancel", "return"):
                raise PageError(400, "bad_request")
            order = await order_of(visit, proof_of(visit, token))
            return render(visit, "request.html.j2", order=order, token=token, kind=kind, step=2,
                          email_sig=sig_of(order),
                          items=selectable(order, kind), reasons=choices(visit, kind), values={}, errors={},
                          sealable=sealable(visit, selectable(order, kind)) if kind == "return" else [],
                          submission=uuid.uuid4().hex, max_photos=settings.max_photos,
                          max_mb=settings.max_photo_bytes // 1_000_000)
        return await guarded(request, handle)

    # -- step 3: confirm -----------------------------------------------------------------------------

    def photo_errors(visit: Visit, files: list[tuple[str, bytes]]) -> tuple[list[tuple[str, bytes, str]], str | None]:
        lang = visit.language
        if len(files) > settings.max_photos:
            return [], t("photo_many", lang, n=settings.max_photos)
        checked = []
        for name, data in files:
            if len(data) > settings.max_photo_bytes:
                return [], t("photo_big", lang, name=name, mb=settings.max_photo_bytes // 1_000_000)
            kind = sec.photo_kind(data[:16])
            if kind is None:
                return [], t("photo_bad", lang, name=name)
            checked.append((name, data, kind))
        return checked, None

    async def keep_photos(photos: list[tuple[str, bytes, str]], order_ref: str, case_id: str | None = None
                          ) -> list[str]:
        """Each photo recorded in the ledger (`stored_file`, for erasure and retention: ledger/files.py)
        before it is written: the disk never holds a photo the ledger cannot find."""
        held = {row.name for row in await stored_files.live_files(runtime.db(), order_refs=[order_ref])
                if row.origin == "page"}
        new = {sec.photo_name(data, kind) for _, data, kind in photos} - held
        if len(held) + len(new) > settings.max_photos_per_order:
            raise PageError(413, "photos_full", n=settings.max_photos_per_order,
                            email=(await runtime.load_policy()).store.support_email)
        ids = []
        for _, data, kind in photos:
            name = sec.photo_name(data, kind)
            await stored_files.record_file(runtime.db(), origin="page", path=settings.upload_dir / name,
                                    store_id=runtime.store_id(), order_ref=order_ref, case_id=case_id)
            ids.append(sec.store_photo(settings.upload_dir, data, kind))
        return ids

    def photo_url(visit: Visit, photo_id: str) -> str:
        root = settings.public_url.rstrip("/") or str(visit.request.base_url).rstrip("/") + "/page"
        return f"{root}/operator/photos/{photo_id}"

    @router.post("/review")
    async def review(request: Request) -> Response:
        async def handle(visit: Visit, multi: dict[str, list[str]], files: list[tuple[str, bytes]]) -> Response:
            lang, form = visit.language, visit.form
            token, kind = form.get("t"), form.get("kind")
            if kind not in ("cancel", "return"):
                raise PageError(400, "bad_request")
            proof = proof_of(visit, token)
            try:
                order = await order_of(visit, proof)
            except StoreDown as down:
                # The store cannot be asked: the photos chosen are kept, and the customer says what
                # they want on the form that keeps the request (POST /page/later).
                photos, bad = photo_errors(visit, files) if kind == "return" else ([], None)
                kept = await keep_photos(photos, proof.order_ref) if not bad else []
                return later_form(visit, proof.order_name, token, {"email": down.email, **_asked(form),
                                                                     "photos": kept})
            offered = selectable(order, kind)
            skus = [s for s in multi.get("items", []) if s in {li.sku for li in offered}]
            can_seal = sealable(visit, offered) if kind == "return" else []
            sealed = [s for s in multi.get("sealed", []) if s in can_seal]
            errors: dict[str, str] = {}
            reason = form.get("reason", "")
            if reason not in {value for value, _ in choices(visit, kind)}:
                errors["reason"] = t("reason_missing", lang)
            photos, bad = photo_errors(visit, files) if kind == "return" else ([], None)
            if bad:
                errors["photos"] = bad
            values = {"items": skus, "reason": reason, "message": form.get("message", "")[:2000],
                      "exchange_for": form.get("exchange_for", "")[:200], "sealed": sealed}
            if errors:
                return render(visit, "request.html.j2", status=422, order=order, token=token, kind=kind, step=2,
                              email_sig=sig_of(order),
                              items=offered, reasons=choices(visit, kind), values=values, errors=errors,
                              sealable=can_seal, submission=form.get("submission") or uuid.uuid4().hex,
                              max_photos=settings.max_photos,
                              max_mb=settings.max_photo_bytes // 1_000_000)
            chosen = [li for li in offered if li.sku in skus]
            notes = await _outlook(visit, order, kind, reason, chosen, sealed)
            if notes.get("refusal"):
                return render(visit, "request.html.j2", status=422, order=order, token=token, kind=kind, step=2,
                              email_sig=sig_of(order),
                              items=offered, reasons=choices(visit, kind), values=values,
                              errors={"reason": notes["refusal"]}, sealable=can_seal,
                              submission=form.get("submission") or "",
                              max_photos=settings.max_photos, max_mb=settings.max_photo_bytes // 1_000_000)
            photo_ids = await keep_photos(photos, order.legacy_id)
            return render(visit, "review.html.j2", order=order, token=token, kind=kind, step=3, values=values,
                          email_sig=sig_of(order),
                          chosen=chosen, reason_text=dict(choices(visit, kind))[reason], photos=photo_ids,
                          submission=form.get("submission") or uuid.uuid4().hex, **notes)
        return await guarded(request, handle, form=True)

    async def _outlook(visit: Visit, order: Order, kind: str, reason: str, chosen: list[LineItem],
                       sealed: list[str] | None = None) -> dict[str, Any]:
        """What the customer is told before confirming: the retention offer (C6), a return out of
        its window (R1, D1), the keep-it outcome (R5) and who pays the postage (R4)."""
        policy, lang = visit.policy, visit.language
        if kind == "cancel":
            offer = policy.cancellation.retention
            if offer.enabled and reason in offer.reasons:
                code = t("offer_code", lang, code=offer.code) if offer.code else ""
                text = offer.description_fr if lang == "fr" else offer.description_en
                return {"offer": t("offer_text", lang, offer=text, code=code)}
            return {}
        why = ReturnReason(reason)
        items = chosen or [li for li in order.line_items if li.current_quantity > 0]
        verdict = eligibility(order, items, reason=why, now=utcnow(), tz=policy.store.timezone,
                              country=order.consumer_country(policy.store.country), policy=policy.returns,
                              supplier_windows=[s.return_window_days for s in policy.suppliers],
                              sealed_item_ids=[li.id for li in order.line_items if li.sku in (sealed or [])])
        ended = format_date(verdict.ended_on, lang) if verdict.ended_on else ""
        if verdict.status == EligibilityStatus.OUT_OF_WINDOW:
            key = "guarantee_over" if verdict.conformity else "out_of_window"
            return {"refusal": t(key, lang, date=ended, email=policy.store.support_email)}
        if verdict.status == EligibilityStatus.EXCLUDED:
            return {"refusal": t("excluded", lang, why="; ".join(e.why for e in verdict.excluded))}
        if verdict.status == EligibilityStatus.NOT_SHIPPED:
            return {"refusal": t("not_shipped", lang)}
        if not items:
            return {}
        plan = handling(why, items, return_shipping_cost=policy.returns.return_shipping_cost, policy=policy.returns)
        if plan.kind in (ReturnKind.KEEP_IT_REFUND, ReturnKind.KEEP_IT_REPLACEMENT):
            outcome = t("keep_it_replacement" if plan.kind == ReturnKind.KEEP_IT_REPLACEMENT else "keep_it_refund",
                        lang)
            return {"keep_it": t("keep_it", lang, outcome=outcome)}
        return {"postage": t("prepaid" if plan.prepaid_label else "customer_pays", lang)}

    @router.post("/confirm")
    async def confirm(request: Request, background: BackgroundTasks) -> Response:
        async def handle(visit: Visit, multi: dict[str, list[str]], _: Any) -> Response:
            lang, form, policy = visit.language, visit.form, visit.policy
            token, kind = form.get("t"), form.get("kind")
            proof = proof_of(visit, token)
            if kind not in ("cancel", "return"):
                raise PageError(400, "bad_request")
            skus = multi.get("items", [])
            message = form.get("message") or None
            key = f"page:{form.get('submission', '')[:64]}" if form.get("submission") else None
            try:
                order = await order_of(visit, proof)
            except StoreDown as down:
                if not down.email:
                    raise
                # Confirmed while the store cannot be reached: kept as sent, checked by the flow.
                quantities = {s: int(q) if sec.small_number(q := form.get(f"qty:{s}", "1")) and int(q) > 0 else 1
                              for s in skus}
                return await keep_unchecked(
                    visit, request, background, kind=kind, order_number=proof.order_name, email=down.email,
                    reason=form.get("reason", ""), message=message, items=quantities,
                    photo_ids=[p for p in multi.get("photos", []) if sec.photo_path(settings.upload_dir, p)],
                    sealed=multi.get("sealed", []), exchange_for=form.get("exchange_for"), key=key, token=token)
            email = (order.email or "").lower()
            keep = form.get("choice") == "keep"
            try:
                body: CustomerCancellationBody | CustomerReturnBody
                if kind == "cancel":
                    body = CustomerCancellationBody(
                        order_number=order.name, email=email, reason=form.get("reason", ""), message=message,
                        items=skus, keep_order=keep, insist=form.get("choice") == "insist", language=lang)
                    wanted = skus
                else:
                    photos = [p for p in multi.get("photos", []) if sec.photo_path(settings.upload_dir, p)]
                    body = CustomerReturnBody(
                        order_number=order.name, email=email, reason=form.get("reason", ""), message=message,
                        items=[ReturnItemBody(sku=s, quantity=_quantity(order, s)) for s in skus],
                        photo_urls=[photo_url(visit, p) for p in photos],
                        sealed_skus=[s for s in multi.get("sealed", []) if s in sealable(visit, order.line_items)],
                        exchange_for=form.get("exchange_for") or None, language=lang)
                    wanted = skus
            except ValidationError:
                raise PageError(422, t("bad_request", lang)) from None
            outlook: dict[str, Any] = {}
            if kind == "return":
                # The same rules as step 2, again: the answer below must be true for what is sent
                # (a form kept open past the window's last day, or sent without step 2).
                chosen = [li for li in selectable(order, kind) if li.sku in skus]
                outlook = await _outlook(visit, order, kind, form.get("reason", ""), chosen, multi.get("sealed", []))
                if outlook.get("refusal"):
                    raise PageError(422, outlook["refusal"])
            answer = await desk.submit(request, background, "cancellation.requested" if kind == "cancel"
                                       else "return.requested", body, body.model_dump_json().encode(), wanted,
                                       received=None, duplicate=None, key=key)
            refused = _refusal(visit, answer)
            if refused is not None:
                raise refused
            now = utcnow()
            answer_by = now + timedelta(hours=max((s.answer_delay_hours for s in policy.suppliers), default=48))
            when = format_date(local_date(answer_by, policy.store.timezone), lang)
            if kind == "cancel" and keep:
                headline, nxt = t("done_kept", lang, order=order.name), None
            elif kind == "cancel":
                refund = format_date(refund_expected_by(now, policy), lang)
                headline, nxt = t("done_cancel", lang, order=order.name), t("next_cancel", lang, answer=when,
                                                                              refund=refund)
            else:
                headline = t("done_return", lang, order=order.name)
                if outlook.get("keep_it"):  # R5: nothing to send back
                    nxt = t("next_keep_it", lang, answer=when)
                else:
                    nxt = t("next_return", lang, answer=when)
                    if ReturnReason(form.get("reason", "")) not in CONFORMITY_REASONS:
                        nxt = f"{nxt} {t('next_withdrawal', lang)}"
            notes = [t("duplicate", lang)] if answer.status == "duplicate" else []
            if answer.verified is False:
                notes.append(t("unverified", lang))
            return render(visit, "done.html.j2", order=order, token=token, headline=headline, next=nxt, notes=notes)
        return await guarded(request, handle, form=True)

    # -- follow a case --------------------------------------------------------------------------------

    async def case_page(visit: Visit, token: str, *, status: int = 200, done: str | None = None,
                        errors: dict[str, str] | None = None) -> Response:
        proof = proof_of(visit, token)
        lang, policy = visit.language, visit.policy
        found = [c for c in await cases.cases_for_order(runtime.db(), runtime.store_id(), proof.order_ref)
                 if c.kind in STEPS]
        shown = []
        for case in sorted(found, key=lambda c: c.opened_at, reverse=True):
            due = [d for d in await deadlines.deadlines_for_case(runtime.db(), case.id)
                   if d.status in ("open", "escalated")]
            nxt = min((d.due_at for d in due), default=None)
            shown.append(_case_view(case, nxt, policy, lang))
        return render(visit, "case.html.j2", status=status, order_name=proof.order_name, token=token,
                      dispatch_refund=policy.returns.refund_on_dispatch_proof,
                      cases=shown, done=done, errors=errors or {}, max_photos=settings.max_photos,
                      max_mb=settings.max_photo_bytes // 1_000_000)

    @router.get("/case")
    async def follow(request: Request) -> Response:
        async def handle(visit: Visit, *_: Any) -> Response:
            return await case_page(visit, request.query_params.get("t") or "")
        return await guarded(request, handle)

    @router.post("/tracking")
    async def tracking(request: Request, background: BackgroundTasks) -> Response:
        async def handle(visit: Visit, *_: Any) -> Response:
            lang, form = visit.language, visit.form
            token = form.get("t") or ""
            proof = proof_of(visit, token)
            try:
                order = await order_of(visit, proof)
            except StoreDown:
                # The store cannot be asked: the case in the ledger knows the customer's email.
                known = [c.customer_email for c in await cases.cases_for_order(runtime.db(), runtime.store_id(),
                                                                                proof.order_ref) if c.customer_email]
                if not known:
                    raise
                try:
                    held = ReturnTrackingBody(order_number=proof.order_name, email=known[0].lower(),
                                              tracking_number=form.get("tracking_number", "").strip(),
                                              carrier=form.get("carrier", "").strip() or None)
                except ValidationError:
                    return await case_page(visit, token, status=422,
                                           errors={"tracking_number": t("tracking_bad", lang)})
                answer = await desk.submit(request, background, "return.shipped", held, held.model_dump_json().encode(),
                                           [], received=None, duplicate=None)
                refused = _refusal(visit, answer)
                if refused is not None:
                    raise refused from None
                after = t("held_next" if answer.verified is False else "checked_next", lang, email=held.email)
                return await case_page(visit, token, status=202, done=f"{t('tracking_done', lang)} {after}")
            try:
                body = ReturnTrackingBody(order_number=order.name, email=(order.email or "").lower(),
                                          tracking_number=form.get("tracking_number", "").strip(),
                                          carrier=form.get("carrier", "").strip() or None)
            except ValidationError:
                return await case_page(visit, token, status=422, errors={"tracking_number": t("tracking_bad", lang)})
            answer = await desk.submit(request, background, "return.shipped", body, body.model_dump_json().encode(),
                                       [], received=None, duplicate=None)
            refused = _refusal(visit, answer)
            if refused is not None:
                raise refused
            return await case_page(visit, token, done=t("tracking_done", lang))
        return await guarded(request, handle, form=True)

    @router.post("/photos")
    async def add_photos(request: Request) -> Response:
        async def handle(visit: Visit, _: Any, files: list[tuple[str, bytes]]) -> Response:
            lang, form = visit.language, visit.form
            token = form.get("t") or ""
            proof = proof_of(visit, token)
            case_id = form.get("case", "")
            found = {c.id: c for c in await cases.cases_for_order(runtime.db(), runtime.store_id(), proof.order_ref)}
            case = found.get(case_id)
            if case is None or case.kind != "return" or is_terminal(case.kind, case.state):
                raise PageError(404, t("case_none", lang))
            photos, bad = photo_errors(visit, files)
            if bad or not photos:
                return await case_page(visit, token, status=422,
                                       errors={f"photos-{case.id}": bad or t("photos_none", lang)})
            if not desk.allow(request):
                raise PageError(429, t("too_many", lang))
            ids = await keep_photos(photos, proof.order_ref, case.id)
            urls = [photo_url(visit, p) for p in ids]
            # Promise 1: the photos' event is in the ledger before the customer is told "added";
            # the same photos sent again for the same case are the same event.
            digest = hashlib.sha256(",".join(sorted(ids)).encode()).hexdigest()[:32]
            row, created = await inbox.store_inbound(
                runtime.db(), source="customer", delivery_id=f"return.photos:{case.id}:{digest}",
                topic="return.photos", store_id=runtime.store_id(), order_ref=proof.order_ref,
                body=_json({"order_number": proof.order_name, "case_id": case.id, "photo_urls": urls}),
                headers={}, status="processed", reject_reason="kept: photos added on the customer page",
                http_status=200)
            if not created:
                return await case_page(visit, token, done=t("duplicate", lang))
            await cases.add_event(runtime.db(), case.id, "inbound", f"customer added {len(urls)} photo(s) on the page",
                                  {"photo_urls": urls, "inbound_event_id": row.id})
            return await case_page(visit, token, done=t("photos_done", lang, n=len(urls)))
        return await guarded(request, handle, form=True)

    @router.post("/later")
    async def later(request: Request, background: BackgroundTasks) -> Response:
        """The form shown when the store could not be reached: the request is kept all the same."""
        async def handle(visit: Visit, multi: dict[str, list[str]], _: Any) -> Response:
            lang, form = visit.language, visit.form
            number, email = form.get("order_number", "").strip(), form.get("email", "").strip().lower()
            kind, _, reason = form.get("choice", "").partition(":")
            message = form.get("message", "")[:2000]
            photos = [p for p in multi.get("photos", []) if sec.photo_path(settings.upload_dir, p)]
            values: dict[str, Any] = {"email": email, "choice": form.get("choice", ""), "message": message,
                                      "photos": photos}
            errors: dict[str, str] = {}
            try:
                number = normalise_order_number(number)
            except ValueError:
                raise PageError(400, "bad_request") from None
            if "@" not in email:
                errors["email"] = t("email_missing", lang)
            valid = {f"cancel:{r.value}" for r in CancellationReason} | {f"return:{r.value}" for r in ReturnReason}
            if form.get("choice") not in valid:
                errors["choice"] = t("later_missing", lang)
            if errors:
                return later_form(visit, number, form.get("t"), values, status=422, errors=errors)
            if not desk.allow(request):
                raise PageError(429, t("too_many", lang))
            key = f"page:{form.get('submission', '')[:64]}" if form.get("submission") else None
            return await keep_unchecked(visit, request, background, kind=kind, order_number=number, email=email,
                                        reason=reason, message=message or None,
                                        photo_ids=photos if kind == "return" else [], key=key,
                                        token=form.get("t"))
        return await guarded(request, handle, form=True)

    # -- photos, for the operator only ------------------------------------------------------------------

    @router.get("/operator/photos/{photo_id}", dependencies=[Depends(desk.operator)])
    async def photo(photo_id: str) -> Response:
        path = sec.photo_path(settings.upload_dir, photo_id)
        if path is None:
            return Response("no such photo", status_code=404, media_type="text/plain")
        kind = photo_id.rsplit(".", 1)[-1]
        return FileResponse(path, media_type=sec.PHOTO_TYPES[kind],
                            headers={"X-Content-Type-Options": "nosniff", "Cache-Control": "no-store",
                                     "Content-Security-Policy": "default-src 'none'"})

    return router


_KEPT_REASONS = {
    "forged": "App Proxy request not verified (signature, shop, timestamp or a repeated parameter)",
    "csrf": "the form's CSRF token is missing, expired or another visitor's",
    "too_large": "the form is too large",
    "photos_full": "the order already has as many photos as are kept for one order",
    "bad_request": "the form is malformed or was not sent in time",
    "expired": "the page's signed link is missing, forged, altered or expired",
}
_AFTER_POST = {"/proof": "", "/review": "/order", "/confirm": "/order", "/tracking": "/case", "/photos": "/case",
               "/later": ""}


def _asked(form: dict[str, str]) -> dict[str, Any]:
    """What the customer had already chosen, kept on the form shown when the store is unreachable."""
    kind, reason = form.get("kind", ""), form.get("reason", "")
    message = form.get("message", "")[:2000]
    if form.get("tracking_number"):
        message = f"{message}\n{form['tracking_number']} {form.get('carrier', '')}".strip()
    return {"choice": f"{kind}:{reason}" if kind and reason else "", "message": message}


def _switch_url(visit: Visit, language: str) -> str:
    """The same page in the other language: a GET page itself, a form's answer its step's page."""
    path = visit.request.url.path
    suffix = path[len("/page"):] if path.startswith("/page") else ""
    if visit.request.method == "GET":
        query = [(k, v) for k, v in visit.request.query_params.multi_items() if k not in (*PROXY_PARAMS, "lang")]
    else:
        suffix = _AFTER_POST.get(suffix, "")
        query = [("t", visit.form["t"])] if visit.form.get("t") and suffix else []
    return f"{visit.base}{suffix}?{urlencode([*query, ('lang', language)])}"


def _json(value: Any) -> str:
    import json

    return json.dumps(value, ensure_ascii=False)


def _quantity(order: Order, sku: str) -> int:
    return next((li.current_quantity for li in order.line_items if li.sku == sku and li.current_quantity > 0), 1)


def _refusal(visit: Visit, answer: Any) -> PageError | None:
    """The receiver's answer to a refused request, as a page: the same status and its reason."""
    if not isinstance(answer, Response) or answer.status_code < 400:
        return None
    import json

    lang, store = visit.language, visit.policy.store
    reason = str(json.loads(bytes(answer.body)).get("reason", ""))
    if answer.status_code == 404:
        return PageError(404, t("not_found", lang))
    if answer.status_code == 429:
        key = "too_many_tries" if "email address" in reason else "recent" if "order" in reason else "too_many"
        return PageError(429, t(key, lang, email=store.support_email))
    return PageError(answer.status_code, t("refused", lang, reason=reason))


def _case_view(case: Case, next_due: datetime | None, policy: StorePolicy, lang: Language) -> dict[str, Any]:
    steps = STEPS[case.kind]
    current = case.state
    position = steps.index(current) if current in steps else None
    shown_steps = [{"words": state_words(s, lang),
                    "status": "done" if position is not None and i < position else
                    "current" if i == position else "todo"} for i, s in enumerate(steps)]
    facts = facts_of(case.kind, case.data)
    returned = facts if isinstance(facts, ReturnData) else None  # only a return has instructions and tracking
    instructions = (returned.instructions if returned else None) or {}
    address = instructions.get("address")
    ship_by = instructions.get("ship_by")
    ship_day = None
    if ship_by:
        try:
            ship_day = format_date(local_date(datetime.fromisoformat(ship_by), policy.store.timezone), lang)
        except ValueError:
            ship_day = None
    terminal = is_terminal(case.kind, case.state)
    return {
        "id": case.id, "kind": t(f"kind_{case.kind}", lang), "is_return": case.kind == "return",
        "state": state_words(case.state, lang), "off_path": position is None, "steps": shown_steps,
        "opened": format_date(local_date(case.opened_at, policy.store.timezone), lang),
        "next_due": format_date(local_date(next_due, policy.store.timezone), lang)
        if next_due and not terminal else None,
        "address_lines": [p.strip() for chunk in str(address).splitlines() for p in chunk.split(",") if p.strip()]
        if address else [],
        "rma": instructions.get("rma"), "label_url": instructions.get("label_url"), "ship_by": ship_day,
        "wants_tracking": case.kind == "return" and case.state in ("received", "awaiting_supplier",
                                                                     "awaiting_shipment", "in_transit"),
        "open": not terminal,
        "tracking": ((returned.tracking if returned else None) or {}).get("number"),
    }


def _luminance(colour: str) -> float:
    def channel(c: int) -> float:
        s = c / 255
        return s / 12.92 if s <= 0.03928 else ((s + 0.055) / 1.055) ** 2.4

    r, g, b = (int(colour[i:i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def contrast(a: str, b: str) -> float:
    """The WCAG contrast ratio of two #rrggbb colours."""
    la, lb = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def _readable_on(colour: str) -> str:
    """Black or white, whichever has the higher WCAG contrast ratio on `colour`."""
    return "#000000" if contrast("#000000", colour) >= contrast("#ffffff", colour) else "#ffffff"


def _first_readable(candidates: tuple[str, ...], background: str) -> str:
    """The first colour that reads on `background` (WCAG AA, 4.5:1), else black or white."""
    return next((c for c in candidates if contrast(c, background) >= 4.5), _readable_on(background))


def theme_css(primary: str, background: str) -> str:
    """The store's colours, and every text colour on them chosen to read (WCAG AA): the ink, the
    hints' grey and the errors' red follow the background, which the store may make dark."""
    muted = _first_readable(("#4a4a4a", "#c8c8c8"), background)
    error = _first_readable(("#a4001d", "#ff9c9c"), background)
    good = _first_readable(("#0b5d1e", "#8fe0a0"), background)
    return (f":root{{--brand:{primary};--on-brand:{_readable_on(primary)};--bg:{background};"
            f"--ink:{_readable_on(background)};--muted:{muted};--error:{error};--good:{good};}}\n")
