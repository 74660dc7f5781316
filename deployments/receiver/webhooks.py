"""The vendors' webhooks: Shopify (with its GDPR compliance topics), Stripe, PayPal, AfterShip.

Each route checks who sent the delivery (signature) and its shape, then asks domain/routing.py
where it goes: received (an event for a process), ignored with a reason, or refused. Nothing is
processed here: the flows do that, from the ledger.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, BackgroundTasks, Request

from deployments.receiver.intake import Accepted, Intake, Reject, client_address, kept_headers, text
from deployments.receiver.settings import stripe_secret, stripe_tolerance
from domain.case_state import CancellationData, ReturnData, facts_of
from domain.cases import CaseKind, is_terminal
from domain.inbound import COMPLIANCE_TOPICS, InboundSource, InboundTopic, dispute_resource_id, order_resource_id
from domain.routing import Ask, Fact, Outcome, Process, route
from integrations.httpclients import async_client
from integrations.paypal.webhooks import PayPalWebhookVerifier
from integrations.shopify.webhooks import verify_webhook
from ledger import cases, inbox, operations, privacy
from tasks import runtime


def webhook_order_ref(topic: str, body: dict[str, Any]) -> str | None:
    """The numeric order id of a webhook: the resource itself for orders/*, its order for the
    rest (a Return's id is not an order id). As the ledger stores text (a lone surrogate escaped),
    so the lookups on it can be asked it."""
    if topic.startswith("returns/"):
        order = body.get("order")
        ref = (order.get("id") if isinstance(order, dict) else None) or body.get("order_id")
    elif topic.startswith("orders/"):
        ref = body.get("id")
    else:
        ref = body.get("order_id") or body.get("id")
    return inbox.storable_text(str(ref)) if ref not in (None, "") else None


async def _has_open_case(order_ref: str, kind: CaseKind = CaseKind.CANCELLATION) -> bool:
    found = await cases.latest_case(runtime.db(), runtime.store_id(), order_ref, kind)
    facts = facts_of(found.kind, found.data) if found is not None else None
    if isinstance(facts, CancellationData) and facts.return_case:  # converted: its return case follows it
        found = await cases.get_case(runtime.db(), facts.return_case)
    return found is not None and not is_terminal(found.kind, found.state)


async def _awaits_delivery_date(order_ref: str) -> bool:
    """A return waits for the carrier: a delivery scan (D1), or a refused / returned-to-sender
    event for a cancellation that became a return (D2)."""
    found = await cases.latest_case(runtime.db(), runtime.store_id(), order_ref, CaseKind.RETURN)
    if found is None or is_terminal(found.kind, found.state):
        return False
    facts = ReturnData.load(found.data)
    return facts.needs_delivery_date or facts.awaits_carrier


def build_router(intake: Intake) -> APIRouter:
    router = APIRouter()
    state = intake.state

    # -- Shopify -------------------------------------------------------------------------------

    @router.post("/webhooks/shopify", response_model=Accepted, responses={400: {}, 401: {}, 413: {}})
    async def shopify_webhook(request: Request, background: BackgroundTasks) -> Any:
        """Shopify webhooks: HMAC over the raw body, dedupe on X-Shopify-Webhook-Id."""
        topic = request.headers.get("x-shopify-topic", "")
        try:
            raw = await intake.body(request)
        except Reject as rej:
            return await intake.reject("shopify", topic, b"", request, rej.status, rej.reason)
        shopify_settings = runtime.shopify_settings()
        secret = shopify_settings.webhook_secret.get_secret_value()
        if shopify_settings.missing(["webhook_secret"]) or not verify_webhook(
                secret, raw, request.headers.get("x-shopify-hmac-sha256")):
            # No delivery id on purpose: a forged request must not block the real delivery.
            return await intake.reject("shopify", topic, raw, request, 401, "invalid or missing X-Shopify-Hmac-Sha256")
        delivery_id = request.headers.get("x-shopify-webhook-id")
        if not delivery_id:
            return await intake.reject("shopify", topic, raw, request, 400, "missing X-Shopify-Webhook-Id")
        if (too_long := intake.too_long(**{"X-Shopify-Webhook-Id": delivery_id})) is not None:
            return await intake.reject("shopify", topic, raw, request, 400, too_long)
        if not topic:
            return await intake.reject("shopify", topic, raw, request, 400, "missing X-Shopify-Topic")
        try:
            body = json.loads(raw)
            if not isinstance(body, dict):
                raise ValueError("not an object")
        except (ValueError, RecursionError):  # RecursionError: nested too deep to be an object
            return await intake.reject("shopify", topic, raw, request, 400, "body is not a JSON object", delivery_id)
        if topic in COMPLIANCE_TOPICS:  # GDPR: customers/data_request, customers/redact, shop/redact
            return await _compliance(topic, delivery_id, body, raw, request)
        # The shop's domain is a header the signature does not cover: a signed body replayed under
        # another domain (and a new webhook id) must not open a second case for this store's order
        # (a second confirmation, a second screen). This receiver serves one store: another shop's
        # webhook is kept for inspection and acts on nothing.
        named = (request.headers.get("x-shopify-shop-domain") or "").strip().lower()
        if named and named != runtime.store_id().lower():
            row, created = await inbox.store_inbound(
                runtime.db(), source="shopify", delivery_id=delivery_id, topic=topic, store_id=None, order_ref=None,
                body=text(raw), headers=kept_headers(request), status="ignored",
                reject_reason="kept: a webhook for another shop, not this store (nothing done)", http_status=200)
            return Accepted(status="ignored" if created else "duplicate", event_id=row.id, message="not this store")
        order_ref = webhook_order_ref(topic, body)
        resource = body.get("id")  # a dispute's, a return's, a fulfillment event's id: stored and looked up
        if (too_long := intake.too_long(**{"order id": order_ref,
                                           "resource id": str(resource) if resource not in (None, "") else None,
                                           "X-Shopify-Shop-Domain": request.headers.get("x-shopify-shop-domain")})):
            return await intake.reject("shopify", topic, raw, request, 400, too_long, delivery_id)
        # Where it goes (domain/routing.py), with the facts about the order's cases looked up only
        # when the decision depends on them.
        own_case: str | None = None
        facts: dict[Fact, bool] = {}
        while isinstance(decided := route(InboundSource.SHOPIFY, topic, has_order_ref=order_ref is not None,
                                          has_id=bool(body.get("id")), facts=facts), Ask):
            assert order_ref is not None  # every fact is about the order
            if decided.fact == Fact.OWN_CANCEL:
                own_case = await operations.order_cancel_by_a_case(runtime.db(), runtime.store_id(), order_ref)
                facts[Fact.OWN_CANCEL] = own_case is not None
            elif decided.fact == Fact.OPEN_CASE:
                facts[Fact.OPEN_CASE] = await _has_open_case(order_ref)
            elif decided.fact == Fact.OPEN_ORDER_CASE:
                facts[Fact.OPEN_ORDER_CASE] = await _has_open_case(order_ref, CaseKind.ORDER)
            else:
                facts[Fact.AWAITS_DELIVERY] = await _awaits_delivery_date(order_ref)
        if decided.outcome == Outcome.REJECTED:
            return await intake.reject("shopify", topic, raw, request, 400, decided.reason or "", delivery_id)
        status, reason = decided.outcome.value, decided.reason
        row, created = await inbox.store_inbound(
            runtime.db(), source="shopify", delivery_id=delivery_id, topic=topic,
            store_id=runtime.store_id(), order_ref=order_ref,
            body=text(raw), headers=kept_headers(request), status=status,
            reject_reason=reason, http_status=200, event_name=decided.event,
            resource_id=(dispute_resource_id("shopify_payments", str(body.get("id", "")))
                         if topic.startswith("disputes/") else order_resource_id(order_ref) if order_ref else None),
        )
        if not created:
            return Accepted(status="duplicate", event_id=row.id)
        if own_case is not None:  # the echo of the case's own cancel (C3), ignored above
            # That case's run records the result, and the deadline check brings back a run that
            # died; kept for inspection and on the case's timeline, no run.
            await cases.add_event(runtime.db(), own_case, "inbound",
                                  "store confirmed: order cancelled (orders/cancelled)", {"inbound_event_id": row.id})
        background.add_task(intake.emit_later, row)
        return Accepted(status=row.status, event_id=row.id, message=reason)

    # -- GDPR: Shopify's mandatory compliance webhooks ------------------------------------------------

    async def _compliance(topic: str, delivery_id: str, body: dict[str, Any], raw: bytes, request: Request) -> Any:
        """customers/data_request, customers/redact, shop/redact: HMAC-verified like every Shopify
        webhook (above), stored, then recorded as a privacy request with its 30-day deadline; the
        scheduled check carries it out (tasks/privacy.py). Answered 200 once both are stored."""
        ours = runtime.store_id()
        named = {str(v).strip().lower() for v in (body.get("shop_domain"), request.headers.get("x-shopify-shop-domain"))
                 if v}
        if named - {ours.lower()}:  # another shop's request (or a replay of one): kept, erases nothing
            row, created = await inbox.store_inbound(
                runtime.db(), source="shopify", delivery_id=delivery_id, topic=topic, store_id=None, order_ref=None,
                body=text(raw), headers=kept_headers(request), status="ignored",
                reject_reason="kept: a compliance webhook for another shop, not this store (nothing done)",
                http_status=200)
            return Accepted(status="ignored" if created else "duplicate", event_id=row.id, message="not this store")
        shop = ours
        found = body.get("customer")
        customer: dict[str, Any] = found if isinstance(found, dict) else {}
        email, phone = customer.get("email"), customer.get("phone")
        orders = body.get("orders_requested" if topic == InboundTopic.CUSTOMERS_DATA_REQUEST
                          else "orders_to_redact") or []
        if topic != InboundTopic.SHOP_REDACT and not (isinstance(email, str) and email) and not customer.get("id"):
            return await intake.reject("shopify", topic, raw, request, 400, "payload has no customer email or id",
                                       delivery_id)
        if not isinstance(orders, list):
            return await intake.reject("shopify", topic, raw, request, 400, "orders list is not a list", delivery_id)
        ids = {"customer id": str(customer["id"]) if customer.get("id") else None,
               **{f"order id {i}": str(o) for i, o in enumerate(orders) if isinstance(o, int | str)}}
        if (too_long := intake.too_long(**ids)) is not None:
            return await intake.reject("shopify", topic, raw, request, 400, too_long, delivery_id)
        decided = route(InboundSource.SHOPIFY, topic)
        assert not isinstance(decided, Ask) and decided.process == Process.PRIVACY, topic
        row, created = await inbox.store_inbound(
            runtime.db(), source="shopify", delivery_id=delivery_id, topic=topic, store_id=shop, order_ref=None,
            body=text(raw), headers=kept_headers(request), status=decided.outcome.value,
            reject_reason=decided.reason, http_status=200)
        policy = await runtime.load_policy()
        subject = privacy.Subject(
            email=inbox.storable_text(email.strip().lower()) if isinstance(email, str) and email else None,
            phone=inbox.storable_text(phone) if isinstance(phone, str) and phone else None,
            customer_ref=str(customer["id"]) if customer.get("id") else None,
            order_refs=[inbox.storable_text(str(o)) for o in orders if isinstance(o, int | str)], store_id=shop,
            whole_shop=topic == InboundTopic.SHOP_REDACT)
        kind = COMPLIANCE_TOPICS[InboundTopic(topic)]
        await privacy.record_request(
            runtime.db(), key=f"shopify:{delivery_id}", kind=kind, origin="shopify", subject=subject,
            due_at=row.received_at + timedelta(days=policy.privacy.request_deadline_days), inbound_event_id=row.id,
            received_at=row.received_at)
        return Accepted(status="received" if created else "duplicate", event_id=row.id,
                        message=f"privacy request recorded ({kind})")

    # -- Payment processors (disputes, K1) --------------------------------------------------------

    async def _processor_event(source: str, topic: str, event_id: str, dispute_id: str, raw: bytes,
                               request: Request, background: BackgroundTasks) -> Any:
        if (too_long := intake.too_long(**{"event id": event_id, "dispute id": dispute_id})) is not None:
            return await intake.reject(source, topic, raw, request, 400, too_long)
        decided = route(source, topic)  # a dispute event, or a topic not handled (kept, ignored)
        assert not isinstance(decided, Ask)
        row, created = await inbox.store_inbound(
            runtime.db(), source=source, delivery_id=event_id, topic=topic, store_id=runtime.store_id(),
            order_ref=None, body=text(raw), headers=kept_headers(request),
            status=decided.outcome.value, reject_reason=decided.reason,
            http_status=200, event_name=decided.event, resource_id=dispute_resource_id(source, dispute_id),
        )
        if not created:
            return Accepted(status="duplicate", event_id=row.id)
        background.add_task(intake.emit_later, row)
        return Accepted(status=row.status, event_id=row.id)

    @router.post("/webhooks/stripe", response_model=Accepted, responses={400: {}, 401: {}})
    async def stripe_webhook(request: Request, background: BackgroundTasks) -> Any:
        """Stripe events: Stripe-Signature (t=, v1=, AFTERSALES_STRIPE_WEBHOOK_TOLERANCE_SECONDS, 300 s by
        default, constant time), dedupe on event.id."""
        from integrations.stripe.webhooks import SignatureError, SignatureFailure, verify_signature

        try:
            raw = await intake.body(request)
        except Reject as rej:
            return await intake.reject("stripe", "unknown", b"", request, rej.status, rej.reason)
        secret = stripe_secret()
        if not secret:  # Stripe not configured for this store: no signature can be checked
            return await intake.reject("stripe", "unknown", raw, request, 401,
                                       "Stripe webhooks are not configured (AFTERSALES_STRIPE_WEBHOOK_SECRET)")
        try:
            event = verify_signature(raw, request.headers.get("stripe-signature"), secret,
                                     tolerance=stripe_tolerance())
        except SignatureError as exc:  # unsigned, forged or replayed: 401; signed but not an event: 400
            status = 400 if exc.reason == SignatureFailure.NOT_AN_EVENT else 401
            return await intake.reject("stripe", "unknown", raw, request, status, f"Stripe-Signature: {exc.reason}")
        topic = str(event.get("type", ""))
        data = event.get("data")
        obj = (data.get("object") if isinstance(data, dict) else None) or {}
        if not event.get("id") or not isinstance(obj, dict) or not obj.get("id"):
            return await intake.reject("stripe", topic, raw, request, 400, "event without id or data.object.id")
        return await _processor_event("stripe", topic, str(event["id"]), str(obj["id"]), raw, request, background)

    @router.post("/webhooks/paypal", response_model=Accepted, responses={400: {}, 401: {}, 429: {}})
    async def paypal_webhook(request: Request, background: BackgroundTasks) -> Any:
        """PayPal CUSTOMER.DISPUTE.* events: the signature is verified offline (PayPal's certificate,
        integrations/paypal/webhooks.py) BEFORE the event is stored as received and deduplicated on
        its event id. An unverified delivery is kept under source `paypal-unverified` with no
        delivery id, so it can never take the id of a genuine one; it starts no run and costs no
        PayPal call. Failures are rate-limited per client address."""
        from integrations.paypal.webhooks import parse_dispute_event

        try:
            raw = await intake.body(request)
        except Reject as rej:
            return await intake.reject("paypal-unverified", "unknown", b"", request, rej.status, rej.reason)
        client = client_address(request)
        if not intake.paypal_failures.allow_peek(client):
            return await intake.reject("paypal-unverified", "unknown", raw, request, 429,
                                       "too many unverified PayPal deliveries from this address, try again later")
        http = state.get("http")  # the app's client; a short-lived one when run without its lifespan
        if http is None:
            async with async_client(timeout=5) as tmp:
                checked = await _paypal_verifier().verify(tmp, request.headers, raw)
        else:
            checked = await _paypal_verifier().verify(http, request.headers, raw)
        if not checked.ok:
            # Unverified, whatever the cause (forged, or the certificate could not be fetched): 401 and
            # kept. PayPal delivers again after any answer that is not 2xx, for three days, so a genuine
            # delivery refused while its certificate host was unreachable comes back.
            intake.paypal_failures.allow(client)
            return await intake.reject("paypal-unverified", "unknown", raw, request, 401, checked.reason)
        try:
            parsed = parse_dispute_event(raw)
        except Exception as exc:
            return await intake.reject("paypal", "unknown", raw, request, 400, f"not a dispute event: {exc}")
        return await _processor_event("paypal", parsed.event_type, parsed.event_id, parsed.dispute_id, raw, request,
                                      background)

    @router.post("/webhooks/aftership", response_model=Accepted, responses={400: {}, 401: {}})
    async def aftership_webhook(request: Request, background: BackgroundTasks) -> Any:
        """AfterShip Tracking webhooks (issue 19): `aftership-hmac-sha256` (base64 HMAC-SHA256 of the
        raw body with the account's webhook secret) checked BEFORE the event is stored as received;
        deduplicated on `event_id`. A refused delivery is kept under `aftership-unverified`. The
        events are kept in the ledger after the answer, and the parcel's next read brought forward
        (tasks/tracking.py); nothing else is decided here."""
        from tasks.tracking import check_aftership_signature, ingest_aftership_webhook

        try:
            raw = await intake.body(request)
        except Reject as rej:
            return await intake.reject("aftership-unverified", "unknown", b"", request, rej.status, rej.reason)
        refused = check_aftership_signature(raw, request.headers.get("aftership-hmac-sha256"))
        if refused is not None:
            return await intake.reject("aftership-unverified", "unknown", raw, request, 401, refused)
        try:
            event = json.loads(raw)
        except ValueError:
            return await intake.reject("aftership", "unknown", raw, request, 400, "body is not JSON")
        msg = event.get("msg") if isinstance(event, dict) else None
        topic = str(event.get("event") or "unknown") if isinstance(event, dict) else "unknown"
        if not isinstance(event, dict) or not event.get("event_id") or not isinstance(msg, dict) \
                or not msg.get("tracking_number"):
            return await intake.reject("aftership", topic, raw, request, 400,
                                       "event without event_id or msg.tracking_number")
        if (too_long := intake.too_long(**{"event id": str(event["event_id"])})) is not None:
            return await intake.reject("aftership", topic, raw, request, 400, too_long)
        decided = route(InboundSource.AFTERSHIP, topic)  # tracking_update: the tracking ingest; else kept
        assert not isinstance(decided, Ask)
        handled = decided.process == Process.TRACKING
        row, created = await inbox.store_inbound(
            runtime.db(), source="aftership", delivery_id=str(event["event_id"]), topic=topic,
            store_id=runtime.store_id(), body=text(raw), headers=kept_headers(request),
            status=decided.outcome.value, reject_reason=decided.reason, http_status=200,
            resource_id=f"carrier.parcel.{str(msg['tracking_number']).upper()}"[:255],
        )
        if not created:
            return Accepted(status="duplicate", event_id=row.id)
        if handled:
            background.add_task(ingest_aftership_webhook, row.id)
        return Accepted(status=row.status, event_id=row.id)

    def _paypal_verifier() -> PayPalWebhookVerifier:
        verifier = state.get("paypal_verifier")
        if verifier is None:
            from integrations.paypal.settings import PayPalSettings

            pp = PayPalSettings()
            verifier = state["paypal_verifier"] = PayPalWebhookVerifier(pp.webhook_id,
                                                                        extra_cert_hosts=pp.cert_hosts())
        return verifier

    return router
