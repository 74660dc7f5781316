"""The customer's own page (issue 21), driven as a browser without script would: every form is
the page's own, with its hidden fields and CSRF token. What is stored in the ledger is read back,
so each test fails if the page stops going through the receiver's customer path."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
import pytest

from deployments.customer_page import security as sec
from ledger import cases, deadlines, inbox
from ledger.models import InboundEvent, utcnow
from tests.flows.conftest import World
from tests.flows.page_helpers import JPEG, PNG, fill, form_with, links, proxy_query

STORE = "maison-lumiere.myshopify.com"
PAUL = "paul.roux@example.com"  # #1012, delivered 4 days ago
CAMILLE = "camille.durand@example.com"  # #1001, not shipped
OLIVER = "oliver.hughes@example.com"  # #1010, delivered 45 days ago
OPERATOR = {"Authorization": "Bearer sandbox-operator-token"}
LINK_SECRET = "sandbox-page-link-secret"


async def _rows(db: Any, topic: str) -> list[InboundEvent]:
    from sqlmodel import select

    async with db.session() as s:
        return list((await s.exec(select(InboundEvent).where(InboundEvent.topic == topic))).all())


async def _prove(world: World, number: str, email: str, *, lang: str = "en") -> httpx.Response:
    start = await world.receiver.get(f"/page?lang={lang}")
    assert start.status_code == 200, start.text
    form = form_with(start.text, "/proof")
    return await world.receiver.post(form.action, data=fill(form, order_number=number, email=email))


async def _token(world: World, number: str, email: str) -> str:
    r = await _prove(world, number, email)
    assert r.status_code == 303, r.text
    return parse_qs(urlparse(r.headers["location"]).query)["t"][0]


async def _step2(world: World, token: str, kind: str) -> httpx.Response:
    r = await world.receiver.get("/page/request", params={"t": token, "kind": kind, "lang": "en"})
    assert r.status_code == 200, r.text
    return r


# -- the proof ---------------------------------------------------------------------------------------

async def test_the_page_is_safe_and_speaks_the_customers_language(world: World) -> None:
    r = await world.receiver.get("/page", headers={"Accept-Language": "en-GB,en;q=0.9,fr;q=0.5"})
    assert r.status_code == 200
    assert '<html lang="en">' in r.text and "Let&#39;s find your order" in r.text
    assert "script-src" not in r.headers["content-security-policy"]  # no script allowed at all
    assert "default-src 'none'" in r.headers["content-security-policy"]
    assert r.headers["x-frame-options"] == "DENY" and r.headers["referrer-policy"] == "no-referrer"
    assert "<script" not in r.text
    assert '<label for="order_number">' in r.text and '<label for="email">' in r.text
    assert "/page?lang=fr" in links(r.text)[-1] or any("lang=fr" in a for a in links(r.text))
    fr = await world.receiver.get("/page?lang=fr", headers={"Accept-Language": "en"})
    assert '<html lang="fr">' in fr.text and "Retrouvons votre commande" in fr.text
    theme = await world.receiver.get("/page/theme.css")
    assert "--brand:" in theme.text and theme.headers["content-type"].startswith("text/css")


async def test_a_wrong_email_is_refused_tied_to_its_field_and_kept(world: World, db: Any) -> None:
    r = await _prove(world, "#1012", "someone.else@example.com")
    assert r.status_code == 404
    assert 'aria-invalid="true" aria-describedby="email-error"' in r.text
    assert 'id="email-error"' in r.text and "could not find an order" in r.text
    kept = await _rows(db, "page.proof")
    assert [(k.status, k.http_status) for k in kept] == [("rejected", 404)]
    assert PAUL not in r.text  # nothing about the order is shown


async def test_a_form_without_its_csrf_token_is_refused(world: World) -> None:
    await world.receiver.get("/page")  # the cookie the token is bound to
    r = await world.receiver.post("/page/proof?lang=en", data={"order_number": "#1012", "email": PAUL,
                                                               "csrf": "1.forged"})
    assert r.status_code == 403 and "This page expired" in r.text
    other = httpx.AsyncClient(transport=world.receiver._transport, base_url="http://receiver")
    async with other:  # a token taken from another visitor's page does not fit this visitor
        page = await world.receiver.get("/page")
        token = form_with(page.text, "/proof").hidden("csrf")
        await other.get("/page")
        r = await other.post("/page/proof", data={"order_number": "#1012", "email": PAUL, "csrf": token})
    assert r.status_code == 403


async def test_no_case_data_without_a_valid_link(world: World) -> None:
    token = await _token(world, "#1012", PAUL)
    payload, _, mac = token.partition(".")
    for bad in (f"{payload}.{'0' * len(mac)}", "", sec.sign_link(LINK_SECRET, "#1012", "1", seconds=-10),
                sec.sign_link("another-secret", "#1012", world.legacy("#1012"), seconds=600)):
        for path in ("/page/order", "/page/case"):
            r = await world.receiver.get(path, params={"t": bad})
            assert r.status_code == 403, (path, bad)
            assert "Horloge" not in r.text and "#1012" not in r.text
    ok = await world.receiver.get("/page/case", params={"t": token})
    assert ok.status_code == 200 and "#1012" in ok.text


# -- cancel --------------------------------------------------------------------------------------------

async def test_a_cancellation_in_three_steps_is_stored_before_the_answer(world: World, db: Any) -> None:
    token = await _token(world, "#1001", CAMILLE)
    choose = await world.receiver.get("/page/order", params={"t": token, "lang": "en"})
    assert "Cancel the order" in choose.text and "Step 1 of 3" in choose.text
    step2 = await _step2(world, token, "cancel")
    assert "I changed my mind" in step2.text and "The delivery is too slow" in step2.text  # C1, plain words
    review = await world.receiver.post("/page/review", data=fill(form_with(step2.text, "/review"),
                                                                   reason="changed_mind"))
    assert review.status_code == 200, review.text
    assert "Before you cancel" in review.text and "ECHANGE10" in review.text  # C6, from the policy
    confirm = form_with(review.text, "/confirm")
    assert ("choice", "keep") in confirm.buttons and ("choice", "insist") in confirm.buttons
    done = await world.receiver.post("/page/confirm", data=fill(confirm, choice="insist"))
    assert done.status_code == 200, done.text
    assert "Your request to cancel order #1001 is saved" in done.text
    assert "at the latest" in done.text and "refund is made by" in done.text  # what next, and by when (M3)
    rows = await _rows(db, "cancellation.requested")
    assert len(rows) == 1 and rows[0].status in ("received", "emitted") and rows[0].order_ref == world.legacy("#1001")
    body = json.loads(rows[0].body)
    assert (body["reason"], body["insist"], body["email"], body["language"]) == ("changed_mind", True, CAMILLE, "en")
    assert rows[0].delivery_id == f"cancellation.requested:page:{confirm.hidden('submission')}"
    again = await world.receiver.post("/page/confirm", data=fill(confirm, choice="insist"))
    assert "We already had this request" in again.text
    assert len(await _rows(db, "cancellation.requested")) == 1  # deduplicated on the form's key


async def test_keeping_the_order_with_the_offer_is_sent_as_such(world: World, db: Any) -> None:
    token = await _token(world, "#1001", CAMILLE)
    step2 = await _step2(world, token, "cancel")
    review = await world.receiver.post("/page/review", data=fill(form_with(step2.text, "/review"),
                                                                   reason="better_offer"))
    done = await world.receiver.post("/page/confirm", data=fill(form_with(review.text, "/confirm"), choice="keep"))
    assert "you keep order #1001 with the offer" in done.text
    [row] = await _rows(db, "cancellation.requested")
    body = json.loads(row.body)
    assert (body["keep_order"], body["insist"], body["reason"]) == (True, False, "better_offer")


async def test_no_offer_for_a_reason_the_policy_does_not_name(world: World) -> None:
    token = await _token(world, "#1001", CAMILLE)
    step2 = await _step2(world, token, "cancel")
    review = await world.receiver.post("/page/review", data=fill(form_with(step2.text, "/review"),
                                                                   reason="delivery_too_slow"))
    assert "Before you cancel" not in review.text and "Confirm the cancellation" in review.text


async def test_too_large_forms_are_refused_while_they_are_read(world: World) -> None:
    page = await world.receiver.get("/page")
    form = form_with(page.text, "/proof")
    r = await world.receiver.post("/page/proof?lang=en", data=fill(form, order_number="1" * 70_000, email=PAUL))
    assert r.status_code == 413 and "too large" in r.text


async def test_the_link_given_after_the_proof_lives_hours_and_the_emails_links_days(world: World) -> None:
    from tasks.page_links import PageSettings, case_link

    settings = PageSettings()
    assert settings.proof_link_hours == 4 and settings.link_days == 90  # the documented defaults
    token = await _token(world, "#1012", PAUL)
    proof = sec.read_link(LINK_SECRET, token)
    assert proof is not None and proof.expires <= time.time() + 4 * 3600 + 5
    assert sec.read_link(LINK_SECRET, token, now=time.time() + 4 * 3600 + 60) is None  # gone within hours
    email = case_link("#1012", world.legacy("#1012"), "en", PageSettings(public_url="https://help.example.com/page"))
    assert email is not None
    from_email = sec.read_link(LINK_SECRET, parse_qs(urlparse(email).query)["t"][0])
    assert from_email is not None and from_email.expires >= time.time() + 89 * 86400  # the emails keep 90 days
    # The proof's link carries on through the steps, and still opens the case now.
    assert (await world.receiver.get("/page/case", params={"t": token})).status_code == 200


async def test_an_upload_is_refused_on_its_token_before_its_body_is_read(world: World, db: Any) -> None:
    token = await _token(world, "#1012", PAUL)
    form = form_with((await _step2(world, token, "return")).text, "/review")
    assert "csrf=" in form.action  # the token where it can be checked before the body
    sent = 0

    async def huge() -> Any:  # 40 MB, chunked (no Content-Length to refuse it on), more than the limit
        nonlocal sent
        for _ in range(40):
            sent += 1
            yield b"--b\r\nContent-Disposition: form-data; name=\"photos\"; filename=\"a.jpg\"\r\n\r\n" \
                + b"x" * 1_000_000
    multipart = {"content-type": "multipart/form-data; boundary=b"}
    forged = form.action.split("&csrf=")[0] + "&csrf=1.forged"
    r = await world.receiver.post(forged, content=huge(), headers=multipart)
    assert r.status_code == 403 and "nothing was sent" in r.text
    assert sent <= 1, f"{sent} MB read before the token was checked"
    kept = await _rows(db, "page.review")
    assert [(k.status, k.http_status, k.body) for k in kept] == [("rejected", 403, "")]
    # With the right token, the size limit cuts it while it is read: never read whole, never parsed.
    sent = 0
    r = await world.receiver.post(form.action, content=huge(), headers=multipart)
    assert r.status_code == 413 and sent < 40
    assert [k.http_status for k in await _rows(db, "page.review")] == [403, 413]


async def test_a_reason_is_required_and_the_error_is_tied_to_it(world: World) -> None:
    token = await _token(world, "#1001", CAMILLE)
    step2 = await _step2(world, token, "cancel")
    r = await world.receiver.post("/page/review", data=fill(form_with(step2.text, "/review")))
    assert r.status_code == 422
    assert 'aria-describedby="reason-error"' in r.text and 'id="reason-error"' in r.text


# -- return --------------------------------------------------------------------------------------------

async def test_a_return_with_a_photo_keeps_the_photo_for_the_operator_only(world: World, db: Any) -> None:
    token = await _token(world, "#1012", PAUL)
    step2 = await _step2(world, token, "return")
    form = form_with(step2.text, "/review")
    assert form.enctype == "multipart/form-data"
    review = await world.receiver.post(form.action, data=fill(form, reason="damaged", items="ATL-HORL-MERID-40"),
                                       files=[("photos", ("clock.png", PNG, "image/png"))])
    assert review.status_code == 200, review.text
    assert "The return is on us" in review.text  # R4: damaged, the store pays
    confirm = form_with(review.text, "/confirm")
    done = await world.receiver.post("/page/confirm", data=fill(confirm))
    assert "Your return request for order #1012 is saved" in done.text, done.text
    rows = await _rows(db, "return.requested")
    assert len(rows) == 1
    body = json.loads(rows[0].body)
    assert body["reason"] == "damaged" and body["items"] == [{"sku": "ATL-HORL-MERID-40", "quantity": 1}]
    [url] = body["photo_urls"]
    path = urlparse(url).path
    assert path.startswith("/page/operator/photos/")
    assert (await world.receiver.get(path)).status_code == 401  # not served publicly
    photo = await world.receiver.get(path, headers=OPERATOR)
    assert photo.status_code == 200 and photo.content == PNG and photo.headers["content-type"] == "image/png"


async def test_a_file_that_is_not_a_photo_is_refused_whatever_its_name(world: World, db: Any) -> None:
    token = await _token(world, "#1012", PAUL)
    form = form_with((await _step2(world, token, "return")).text, "/review")
    r = await world.receiver.post(form.action, data=fill(form, reason="damaged"),
                                  files=[("photos", ("clock.jpg", b"<?php echo 1; ?>", "image/jpeg"))])
    assert r.status_code == 422 and 'id="photos-error"' in r.text and "clock.jpg" in r.text
    big = JPEG + b"\0" * 5_000_001
    r = await world.receiver.post(form.action, data=fill(form, reason="damaged"),
                                  files=[("photos", ("big.jpg", big, "image/jpeg"))])
    assert r.status_code == 422 and "too large" in r.text
    assert await _rows(db, "return.requested") == []


async def test_a_return_out_of_window_is_explained_before_anything_is_sent(world: World, db: Any) -> None:
    token = await _token(world, "#1010", OLIVER)
    form = form_with((await _step2(world, token, "return")).text, "/review")
    r = await world.receiver.post("/page/review", data=fill(form, reason="changed_mind"))
    assert r.status_code == 422
    assert "The return window for this order ended on" in r.text and "legal guarantee" in r.text
    # L217-3 ff.: every conformity reason is named (not only damaged and faulty), from delivery.
    assert "not as described" in r.text and "not the one you ordered" in r.text and "from delivery" in r.text
    # L616-1: the refusal names the consumer mediator the store belongs to, with its website.
    assert "consumer mediator" in r.text and "CM2C" in r.text and "https://www.cm2c.net" in r.text
    assert await _rows(db, "return.requested") == []
    # A faulty item is still covered (legal guarantee, two years): the same order can go on.
    ok = await world.receiver.post("/page/review", data=fill(form, reason="defective"))
    assert ok.status_code == 200 and "/confirm" in ok.text
    # The confirmation checks the window again: sent without step 2's answer, nothing is stored
    # and the page never says "we send you the return address".
    sneaked = fill(form_with(ok.text, "/confirm"))
    sneaked["reason"] = "changed_mind"
    r = await world.receiver.post("/page/confirm", data=sneaked)
    assert r.status_code == 422 and "The return window for this order ended on" in r.text
    assert "return address" not in r.text
    assert await _rows(db, "return.requested") == []


async def test_a_sealed_item_is_never_refused_as_unsealed_without_asking(world: World, db: Any) -> None:
    """R8, L221-28 5°: hygiene or cosmetic goods lose the withdrawal right only once unsealed. The
    page asks whether the seal is intact and sends the answer, instead of refusing them outright."""
    from ledger import records
    from tests.flows.conftest import load_sandbox_policy

    policy = await load_sandbox_policy()
    document = policy.model_dump(mode="json")
    document["returns"]["excluded_product_types"].append(
        {"product_type": "Décoration", "why": "objet descellé après la livraison (L221-28 5°)"})
    policy = policy.model_validate(document)
    await records.save_policy(db, policy.store.id, policy.version(), policy.model_dump(mode="json"))
    token = await _token(world, "#1012", PAUL)
    step2 = await _step2(world, token, "return")
    form = form_with(step2.text, "/review")
    assert "sealed" in form.names and "still sealed" in step2.text
    unsealed = await world.receiver.post("/page/review", data=fill(form, reason="changed_mind"))
    assert unsealed.status_code == 422 and "cannot be returned" in unsealed.text
    sealed = await world.receiver.post("/page/review", data=fill(form, reason="changed_mind",
                                                                   sealed="ATL-HORL-MERID-40"))
    assert sealed.status_code == 200, sealed.text
    done = await world.receiver.post("/page/confirm", data=fill(form_with(sealed.text, "/confirm")))
    assert "Your return request for order #1012 is saved" in done.text
    [row] = await _rows(db, "return.requested")
    assert json.loads(row.body)["sealed_skus"] == ["ATL-HORL-MERID-40"]


# -- follow a case ---------------------------------------------------------------------------------------

async def _return_case(world: World, db: Any) -> Any:
    case, _ = await cases.open_case(
        db, key=f"return:{STORE}:{world.legacy('#1012')}", kind="return", store_id=STORE, state="awaiting_shipment",
        order_ref=world.legacy("#1012"), order_name="#1012", customer_email=PAUL, language="fr",
        data={"instructions": {"address": "Atelier Lyon, 12 quai Saint-Vincent, 69001 Lyon", "rma": "RMA-77",
                               "label_url": "https://labels.example/rma-77.pdf",
                               "ship_by": (utcnow() + timedelta(days=10)).isoformat()}})
    await deadlines.set_deadline(db, case_id=case.id, kind="return_shipping", due_at=utcnow() + timedelta(days=10),
                                 act_at=utcnow() + timedelta(days=9), action="remind")
    return case


async def test_following_a_case_shows_the_address_and_takes_the_tracking_number(world: World, db: Any) -> None:
    case = await _return_case(world, db)
    token = await _token(world, "#1012", PAUL)
    page = await world.receiver.get("/page/case", params={"t": token, "lang": "fr"})
    assert page.status_code == 200
    assert "12 quai Saint-Vincent" in page.text and "RMA-77" in page.text and "rma-77.pdf" in page.text
    assert "Prochaine étape attendue au plus tard le" in page.text
    assert 'aria-current="step"' in page.text and "envoyez le colis" in page.text
    bad = await world.receiver.post("/page/tracking", data=fill(form_with(page.text, "/tracking"),
                                                                  tracking_number="x"))
    assert bad.status_code == 422 and 'id="tracking_number-error"' in bad.text
    r = await world.receiver.post("/page/tracking", data=fill(form_with(page.text, "/tracking"),
                                                                tracking_number="6A99887766FR", carrier="Colissimo"))
    assert r.status_code == 200 and "nous avons votre numéro de suivi" in r.text
    rows = await _rows(db, "return.shipped")
    assert len(rows) == 1 and json.loads(rows[0].body)["tracking_number"] == "6A99887766FR"
    # Photos added later reach the case's timeline and the ledger, never a public address.
    photos = form_with(r.text, "/photos")
    assert photos.hidden("case") == case.id
    added = await world.receiver.post(photos.action, data=fill(photos),
                                      files=[("photos", ("a.jpg", JPEG, "image/jpeg"))])
    assert added.status_code == 200 and "1 photo(s)" in added.text
    events = [e.summary for e in await cases.timeline(db, case.id)]
    assert any("added 1 photo" in s for s in events)
    assert len(await _rows(db, "return.photos")) == 1
    again = await world.receiver.post(photos.action, data=fill(photos),
                                      files=[("photos", ("a.jpg", JPEG, "image/jpeg"))])
    assert "envoyé deux fois" in again.text  # « rien n'a été envoyé deux fois »
    assert len(await _rows(db, "return.photos")) == 1  # the same photo again: the same event


async def test_a_signed_link_from_an_email_opens_the_case_without_the_form(world: World, db: Any) -> None:
    await _return_case(world, db)
    link = sec.sign_link(LINK_SECRET, "#1012", world.legacy("#1012"), seconds=3600)
    r = await world.receiver.get("/page/case", params={"t": link, "lang": "en"})
    assert r.status_code == 200 and "Return address" in r.text
    again = await world.receiver.get("/page", params={"t": link})
    assert again.status_code == 303 and "/page/order" in again.headers["location"]


# -- Shopify App Proxy --------------------------------------------------------------------------------

def test_the_signature_matches_shopifys_documented_example() -> None:
    """shopify.dev, "Authenticate app proxies": secret `hush`, this query, this signature."""
    query = ("extra=1&extra=2&shop=shop-name.myshopify.com&logged_in_customer_id=1"
             "&path_prefix=%2Fapps%2Fawesome_reviews&timestamp=1317327555"
             "&signature=4c68c8624d737112c91818c11017d24d334b524cb5c2b8ba08daa056f7395ddb")
    from urllib.parse import parse_qsl

    params = parse_qsl(query, keep_blank_values=True)
    assert sec.proxy_message(params) == ("extra=1,2logged_in_customer_id=1path_prefix=/apps/awesome_reviews"
                                         "shop=shop-name.myshopify.comtimestamp=1317327555")
    assert sec.proxy_signature_ok(params, "hush")
    assert not sec.proxy_signature_ok(params, "another secret")
    forged = [(k, "2" if k == "logged_in_customer_id" else v) for k, v in params]
    assert not sec.proxy_signature_ok(forged, "hush")


async def _customer_id(name: str) -> str:
    from tasks import clients

    async with clients.shopify() as shopify:
        order = await shopify.orders.find_by_name(name)
    assert order is not None and order.customer.id
    return order.customer.id.rsplit("/", 1)[-1]


async def test_a_logged_in_customer_through_the_app_proxy_needs_only_the_order_number(world: World) -> None:
    secret = "sandbox-webhook-secret"  # the app's shared secret (AFTERSALES_SHOPIFY_WEBHOOK_SECRET)
    customer = await _customer_id("#1012")
    page = await world.receiver.get(f"/page?{proxy_query(secret, shop=STORE, customer_id=customer)}",
                                    headers={"Accept-Language": "en"})
    assert page.status_code == 200, page.text
    assert "signed in" in page.text or "connecté" in page.text
    form = form_with(page.text, "/proof")
    assert form.action.startswith("/apps/aftersales/proof") and "email" not in form.names
    # The browser posts to the shop; Shopify forwards it, signed again.
    q = proxy_query(secret, shop=STORE, customer_id=customer)
    r = await world.receiver.post(f"/page/proof?{q}", data=fill(form, order_number="#1012"))
    assert r.status_code == 303 and r.headers["location"].startswith("/apps/aftersales/order?")
    # Another customer's order is not theirs, even with its number.
    q = proxy_query(secret, shop=STORE, customer_id=customer)
    other = await world.receiver.post(f"/page/proof?{q}", data=fill(form, order_number="#1001"),
                                      headers={"Accept-Language": "en"})
    assert other.status_code == 404 and "not linked to your customer account" in other.text


async def test_a_forged_or_stale_app_proxy_request_is_refused(world: World) -> None:
    good = proxy_query("sandbox-webhook-secret", shop=STORE, customer_id="1")
    forged = good.replace("logged_in_customer_id=1", "logged_in_customer_id=2")
    r = await world.receiver.get(f"/page?{forged}", headers={"Accept-Language": "en"})
    assert r.status_code == 401 and "could not be verified" in r.text
    wrong_secret = proxy_query("not-the-secret", shop=STORE, customer_id="1")
    assert (await world.receiver.get(f"/page?{wrong_secret}")).status_code == 401
    stale = proxy_query("sandbox-webhook-secret", shop=STORE, timestamp=int(time.time()) - 86_400)
    assert (await world.receiver.get(f"/page?{stale}")).status_code == 401
    other_shop = proxy_query("sandbox-webhook-secret", shop="another.myshopify.com")
    assert (await world.receiver.get(f"/page?{other_shop}")).status_code == 403


async def test_a_repeated_app_proxy_parameter_is_refused_and_kept(world: World, db: Any) -> None:
    """A visitor can add `logged_in_customer_id=<someone>` to the shop's URL; Shopify signs it with
    its own value (joined by commas). The page never picks one of the two: it refuses."""
    import hashlib
    import hmac
    from urllib.parse import urlencode

    secret = "sandbox-webhook-secret"
    victim = await _customer_id("#1012")
    stamp = str(int(time.time()))
    for params in (
        [("shop", STORE), ("logged_in_customer_id", ""), ("path_prefix", "/apps/aftersales"),
         ("timestamp", stamp), ("logged_in_customer_id", victim)],
        [("logged_in_customer_id", victim), ("shop", STORE), ("logged_in_customer_id", ""),
         ("path_prefix", "/apps/aftersales"), ("timestamp", stamp)],
    ):
        joined: dict[str, list[str]] = {}
        for k, v in params:
            joined.setdefault(k, []).append(v)
        message = "".join(sorted(f"{k}={','.join(v)}" for k, v in joined.items()))
        signature = hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()
        r = await world.receiver.get(f"/page?{urlencode([*params, ('signature', signature)])}",
                                     headers={"Accept-Language": "en"})
        assert r.status_code == 401, r.text
        assert "signed in" not in r.text
    kept = await _rows(db, "page.page")
    assert [(k.status, k.http_status) for k in kept] == [("rejected", 401), ("rejected", 401)]


async def test_an_expired_form_is_refused_kept_and_keeps_the_proof(world: World, db: Any) -> None:
    token = await _token(world, "#1001", CAMILLE)
    step2 = await _step2(world, token, "cancel")
    review = await world.receiver.post("/page/review", data=fill(form_with(step2.text, "/review"),
                                                                   reason="delivery_too_slow"))
    confirm = fill(form_with(review.text, "/confirm"))
    confirm["csrf"] = f"{int(time.time()) - 3 * 3600}.{'0' * 64}"  # a form left open too long
    r = await world.receiver.post("/page/confirm?lang=en", data=confirm)
    assert r.status_code == 403
    assert "nothing was sent" in r.text and "We reloaded it" not in r.text  # true: nothing was reloaded
    assert any(link.startswith("/page/order?") and "t=" in link for link in links(r.text))  # the proof kept
    kept = await _rows(db, "page.confirm")
    assert [(k.status, k.http_status) for k in kept] == [("rejected", 403)]
    assert await _rows(db, "cancellation.requested") == []


# -- what a visitor sends, however odd: a 4xx with a reason, never a 5xx (promise 1; review of issue 21) --

async def test_odd_characters_in_a_link_a_token_or_a_signature_are_refused_never_a_5xx(world: World, db: Any) -> None:
    """`hmac.compare_digest` raises on a non-ASCII str and `int("²")` raises though `"²".isdigit()`:
    a mistyped or tampered link, CSRF token or App Proxy signature answered 503 and was not kept."""
    r = await world.receiver.get("/page/case", params={"t": "eyJuIjoiIzEwMTIifQ.é", "lang": "en"})
    assert r.status_code == 403 and "no longer valid" in r.text
    start = await world.receiver.get("/page?lang=en")
    form = fill(form_with(start.text, "/proof"), order_number="#1012", email=PAUL)
    for bad in ("1.é", "².0", "9" * 5000 + ".0"):
        r = await world.receiver.post("/page/proof?lang=en", data={**form, "csrf": bad})
        assert r.status_code == 403 and "nothing was sent" in r.text, bad
    r = await world.receiver.get("/page", params={"shop": STORE, "signature": "é", "lang": "en"})
    assert r.status_code == 401 and "could not be verified" in r.text
    kept = [k.http_status for topic in ("page.proof", "page.page") for k in await _rows(db, topic)]
    assert sorted(kept) == [401, 403, 403, 403]


async def test_a_photo_named_in_french_that_is_not_a_photo_is_named_back(world: World) -> None:
    """Browsers send a file name as raw UTF-8: it is read as such and said back, never a 5xx."""
    token = await _token(world, "#1012", PAUL)
    form = form_with((await _step2(world, token, "return")).text, "/review")
    raw = (b'--b\r\nContent-Disposition: form-data; name="photos"; filename="\xc3\xa9t\xc3\xa9.jpg"\r\n'
           b"Content-Type: image/jpeg\r\n\r\nnot a photo\r\n")
    for name, value in fill(form, reason="damaged").items():
        raw += f'--b\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
    r = await world.receiver.post(form.action, content=raw + b"--b--\r\n",
                                  headers={"content-type": "multipart/form-data; boundary=b"})
    assert r.status_code == 422 and "“été.jpg” is not a photo" in r.text


async def test_a_form_of_thousands_of_parts_is_refused_unparsed(world: World, db: Any) -> None:
    """The `email` parser read a multipart body line by line on the event loop: 1 MB of tiny parts
    held the whole receiver 5 s, 25 MB (the photos' limit) minutes. More parts than any form of the
    page has is refused before anything is parsed."""
    token = await _token(world, "#1012", PAUL)
    form = form_with((await _step2(world, token, "return")).text, "/review")
    raw = b"".join(f'--b\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
                   for name, value in fill(form, reason="damaged").items())
    raw += b'--b\r\nContent-Disposition: form-data; name="x"\r\n\r\ny\r\n' * 2000
    r = await world.receiver.post(form.action, content=raw + b"--b--\r\n",
                                  headers={"content-type": "multipart/form-data; boundary=b"})
    assert r.status_code == 400 and "did not understand" in r.text
    assert [k.http_status for k in await _rows(db, "page.review")] == [400]


async def test_one_order_cannot_fill_the_disk_with_photos(world: World, db: Any) -> None:
    """Photos chosen at step 2 are kept (90 days) even when never confirmed, and each form is
    bounded but the forms were not: one proven order could store 25 MB per form, form after form.
    Past `max_photos_per_order` live photos the page refuses (413, kept) and says whom to write to;
    the same photos sent again are not counted twice."""
    token = await _token(world, "#1012", PAUL)
    form = form_with((await _step2(world, token, "return")).text, "/review")

    def photos(batch: int) -> list[tuple[str, tuple[str, bytes, str]]]:
        return [("photos", (f"p{batch}-{i}.jpg", JPEG + bytes([batch, i]), "image/jpeg")) for i in range(5)]

    for batch in range(6):  # 30 photos: the default bound
        r = await world.receiver.post(form.action, data=fill(form, reason="damaged"), files=photos(batch))
        assert r.status_code == 200, (batch, r.text)
    again = await world.receiver.post(form.action, data=fill(form, reason="damaged"), files=photos(0))
    assert again.status_code == 200  # already kept: nothing new on the disk
    r = await world.receiver.post(form.action, data=fill(form, reason="damaged"), files=photos(6))
    assert r.status_code == 413 and "We already have 30 photos for this order" in r.text
    from ledger import files as stored_files

    assert len(await stored_files.live_files(db, order_refs=[world.legacy("#1012")])) == 30
    assert [k.http_status for k in await _rows(db, "page.review")] == [413]


async def test_trying_order_numbers_with_one_email_is_stopped_on_the_page_and_the_json_endpoints(
        world: World, db: Any) -> None:
    """Order numbers are sequential and a customer's email is often known: number after number
    with one email found their order (the per-address limit only slows one address down), and on
    the JSON endpoints filed a request on it. After 10 failed proofs in an hour an email is refused
    (429, kept) whatever the number, wherever the tries come from; other customers are not."""
    start = await world.receiver.get("/page?lang=en")
    form = form_with(start.text, "/proof")
    for n in range(10):
        r = await world.receiver.post(form.action, data=fill(form, order_number=f"#{5000 + n}", email=PAUL))
        assert r.status_code == 404, n
    r = await world.receiver.post(form.action, data=fill(form, order_number="#1012", email=PAUL))
    assert r.status_code == 429 and "Too many order numbers tried with this email address" in r.text
    assert "location" not in r.headers
    r = await world.receiver.post("/requests/cancellation",
                                  json={"order_number": "#1012", "email": PAUL, "reason": "changed_mind"})
    assert r.status_code == 429 and "email address" in r.json()["reason"]
    assert await _rows(db, "cancellation.requested") == [] or all(
        k.status == "rejected" for k in await _rows(db, "cancellation.requested"))
    assert (await _prove(world, "#1001", CAMILLE)).status_code == 303  # another customer is not stopped
    assert sorted(k.http_status for k in await _rows(db, "page.proof")) == [404] * 10 + [429]


# -- fail closed --------------------------------------------------------------------------------------

def test_outside_sandbox_mode_the_link_secret_is_required(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AFTERSALES_SANDBOX", raising=False)
    monkeypatch.delenv("AFTERSALES_PAGE_LINK_SECRET", raising=False)
    assert sec.PageSettings().missing() == ["AFTERSALES_PAGE_LINK_SECRET"]
    monkeypatch.setenv("AFTERSALES_PAGE_LINK_SECRET", "sandbox-page-link-secret")  # the public value: refused
    assert sec.PageSettings().missing() == ["AFTERSALES_PAGE_LINK_SECRET"]
    monkeypatch.setenv("AFTERSALES_PAGE_LINK_SECRET", "a-real-secret")
    assert sec.PageSettings().missing() == []


async def test_without_its_secret_the_page_refuses_to_work(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    from fastapi import FastAPI

    from deployments.customer_page import CustomerDesk, mount_customer_page

    monkeypatch.delenv("AFTERSALES_SANDBOX", raising=False)
    settings = sec.PageSettings()
    monkeypatch.setenv("AFTERSALES_SANDBOX", "1")

    async def never(*_: Any, **__: Any) -> Any:
        raise AssertionError("the page must not reach the store or the ledger without its secret")

    app = FastAPI()
    mount_customer_page(app, CustomerDesk(allow=lambda _: True, lookup=never, submit=never, reject=never,
                                          emit=never, operator=never), settings)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://x") as client:
        r = await client.get("/page?lang=en")
        assert r.status_code == 503 and "not available yet" in r.text
        r = await client.get("/page/case", params={"t": sec.sign_link("", "#1012", "1", seconds=60)})
        assert r.status_code == 503


async def test_the_json_endpoints_are_unchanged(world: World, db: Any) -> None:
    r = await world.receiver.post("/requests/return", json={"order_number": "#1012", "email": PAUL,
                                                            "reason": "changed_mind"})
    assert r.status_code == 202 and r.json()["status"] == "received"
    assert (await inbox.get_inbound(db, r.json()["event_id"])) is not None


# -- the store cannot be reached ------------------------------------------------------------------------

async def _store_down(world: World) -> None:
    r = await world.http.post(f"{world.sandbox.shopify.base_url}/_control/faults",
                              json={"field": "orders", "kind": "http_500", "count": 10_000})
    assert r.status_code == 201, r.text


async def _unverified(db: Any, topic: str) -> InboundEvent:
    [row] = await _rows(db, topic)
    assert row.status in ("received", "emitted") and row.event_name  # stored, handed to the flow
    assert row.reject_reason is not None and row.reject_reason.startswith("unverified:")  # the flow checks
    return row


async def test_with_the_store_down_the_proof_asks_the_request_and_keeps_it(world: World, db: Any) -> None:
    await _store_down(world)
    r = await _prove(world, "#1001", CAMILLE, lang="fr")
    assert r.status_code == 200, r.text  # never a 5xx: the customer says what they want
    assert "arrivons pas à joindre la boutique" in r.text and "#1001" in r.text
    form = form_with(r.text, "/later")
    assert form.hidden("order_number") == "#1001" and f'value="{CAMILLE}"' in r.text  # what was typed, kept
    missing = await world.receiver.post(form.action, data=fill(form, email=CAMILLE, message="erreur de taille"))
    assert missing.status_code == 422 and 'id="choice-error"' in missing.text
    assert await _rows(db, "cancellation.requested") == []
    done = await world.receiver.post(form.action, data=fill(form, email=CAMILLE, choice="cancel:ordering_mistake",
                                                            message="erreur de taille"))
    assert done.status_code == 202, done.text
    assert "Votre demande pour la commande #1001 est bien enregistrée" in done.text
    assert f"par e-mail à {CAMILLE}" in done.text and "Inutile de renvoyer" in done.text
    row = await _unverified(db, "cancellation.requested")
    body = json.loads(row.body)
    assert (body["email"], body["reason"], body["message"], body["language"]) == (
        CAMILLE, "ordering_mistake", "erreur de taille", "fr")
    again = await world.receiver.post(form.action, data=fill(form, email=CAMILLE, choice="cancel:ordering_mistake",
                                                             message="erreur de taille"))
    assert again.status_code == 202 and len(await _rows(db, "cancellation.requested")) == 1  # one request


async def test_a_return_confirmed_while_the_store_is_down_is_kept_with_its_photo(world: World, db: Any) -> None:
    token = await _token(world, "#1012", PAUL)
    form = form_with((await _step2(world, token, "return")).text, "/review")
    review = await world.receiver.post(form.action, data=fill(form, reason="damaged", items="ATL-HORL-MERID-40"),
                                       files=[("photos", ("clock.png", PNG, "image/png"))])
    assert review.status_code == 200, review.text
    await _store_down(world)
    done = await world.receiver.post("/page/confirm", data=fill(form_with(review.text, "/confirm")))
    assert done.status_code == 202, done.text
    assert "Your request for order #1012 is saved" in done.text and f"by email at {PAUL}" in done.text
    assert "return address" not in done.text  # nothing promised the store has not confirmed
    row = await _unverified(db, "return.requested")
    body = json.loads(row.body)
    assert body["email"] == PAUL and body["reason"] == "damaged"
    assert body["items"] == [{"sku": "ATL-HORL-MERID-40", "quantity": 1}] and len(body["photo_urls"]) == 1


async def test_with_the_store_down_a_link_asks_the_email_it_will_answer_at(world: World, db: Any) -> None:
    token = await _token(world, "#1012", PAUL)
    await _store_down(world)
    r = await world.receiver.get("/page/order", params={"t": token, "lang": "en"})
    assert r.status_code == 200 and "We cannot reach the store" in r.text
    form = form_with(r.text, "/later")
    bad = await world.receiver.post(form.action, data=fill(form, choice="return:changed_mind"))
    assert bad.status_code == 422 and 'id="email-error"' in bad.text
    done = await world.receiver.post(form.action, data=fill(form, email=PAUL, choice="return:changed_mind"))
    assert done.status_code == 202 and "Your request for order #1012 is saved" in done.text
    assert json.loads((await _unverified(db, "return.requested")).body)["reason"] == "changed_mind"


async def test_a_tracking_number_given_while_the_store_is_down_is_kept(world: World, db: Any) -> None:
    await _return_case(world, db)
    token = await _token(world, "#1012", PAUL)
    page = await world.receiver.get("/page/case", params={"t": token, "lang": "en"})
    await _store_down(world)
    r = await world.receiver.post("/page/tracking", data=fill(form_with(page.text, "/tracking"),
                                                                tracking_number="6A99887766FR"))
    assert r.status_code == 202 and f"by email at {PAUL}" in r.text
    assert json.loads((await _unverified(db, "return.shipped")).body)["tracking_number"] == "6A99887766FR"


async def test_the_store_back_before_the_form_is_sent_is_said_as_it_is(world: World, db: Any) -> None:
    """M5: the answer is true either way; the receiver asks the store again when the form is sent."""
    await _store_down(world)
    r = await _prove(world, "#1001", CAMILLE)
    form = form_with(r.text, "/later")
    shop = world.sandbox.shopify.state
    with shop.lock:
        shop.faults.clear()  # the store answers again
    done = await world.receiver.post(form.action, data=fill(form, email=CAMILLE, choice="cancel:changed_mind"))
    assert done.status_code == 202 and "your order is checked" in done.text
    assert "did not answer" not in done.text
    [row] = await _rows(db, "cancellation.requested")
    assert row.reject_reason is None and row.order_ref == world.legacy("#1001")  # checked, as any request
    wrong = await world.receiver.post(form.action, data=fill(form, email="someone@example.com",
                                                             choice="cancel:changed_mind", submission="other"))
    assert wrong.status_code == 404  # checked like any request: the wrong email refused, and kept
    kept, refused = sorted((r.status for r in await _rows(db, "cancellation.requested")), key=lambda s: s == "rejected")
    assert kept in ("received", "emitted") and refused == "rejected"


async def test_every_customer_email_links_to_the_page(world: World, db: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 21: the link in every email, added where the email is sent (tasks.notify): the order's
    page for the order's own emails, the case's page for a cancellation or a return."""
    from domain.messages.context import store_context
    from tasks.notify import send_customer_email
    from tests.flows.conftest import load_sandbox_policy

    monkeypatch.setenv("AFTERSALES_PAGE_PUBLIC_URL", "https://help.example.com/page")
    store = store_context((await load_sandbox_policy()).store, "fr")
    order, _ = await cases.open_case(db, key=f"order:{STORE}:{world.legacy('#1012')}", kind="order", store_id=STORE,
                                     state="shipped", order_ref=world.legacy("#1012"), order_name="#1012",
                                     customer_email=PAUL, language="fr")
    ctx = {"customer_first_name": "Paul", "order_name": "#1012", "store": store, "items": [],
           "carrier": "Colissimo", "tracking_number": "6A12345678FR", "tracking_url": None, "more_to_come": False}
    await send_customer_email.fn(order.id, "shipped", "order_shipped", "fr", ctx, PAUL)
    [mail] = world.mails(PAUL)
    assert "votre page : https://help.example.com/page?t=" in mail.text
    link = mail.text.split("votre page : ")[1].split()[0]
    opened = await world.receiver.get(urlparse(link).path,
                                      params=parse_qs(urlparse(link).query))
    assert opened.status_code == 303 and "/page/order" in opened.headers["location"]  # the order, proven
    case = await _return_case(world, db)
    await send_customer_email.fn(case.id, "follow", "return_follow_up", "fr",
                                 {"customer_first_name": "Paul", "order_name": "#1012", "store": store,
                                  "outcome": "refunded", "survey": None}, PAUL)
    follow = [m for m in world.mails(PAUL) if m is not mail]
    assert len(follow) == 1 and "https://help.example.com/page/case?t=" in follow[0].text
