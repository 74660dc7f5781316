"""The customer page in a real browser (Debian's chromium, driven by playwright; nothing is
downloaded), at a phone's width (390 px) and a desktop's, on a receiver of its own started on a
free port (`python -m deployments.receiver`, as in production) with the sandbox's fake store.

A cancellation, a return with a photo, following a case and giving the tracking number, a wrong
email, an order out of its window, the App Proxy's signature accepted and a forged one refused.

    AFTERSALES_SCREENSHOTS=docs/img uv run pytest tests/browser   # also writes the README's screenshots
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from sandbox.stack import free_port
from tests.flows.page_helpers import PNG, proxy_query

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = os.environ.get("AFTERSALES_SCREENSHOTS")
STORE = "maison-lumiere.myshopify.com"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


def _run(coro: Any) -> Any:
    """Run a coroutine on a loop of its own, in a thread (the test itself is synchronous)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


async def _seed_ledger(url: str, shop_url: str) -> None:
    """The policy as setup stores it, and a return case waiting for the customer's parcel (its
    address and label given by the supplier, R2; its shipping deadline, R3)."""
    from deployments.setup import DEFAULT_POLICY, read_policy
    from ledger import cases, deadlines, records
    from ledger.db import Database
    from ledger.models import utcnow

    db = Database(url)
    try:
        policy = read_policy(DEFAULT_POLICY)
        await records.save_policy(db, policy.store.id, policy.version(), policy.model_dump(mode="json"))
        async with httpx.AsyncClient(timeout=30) as http:
            order = (await http.get(f"{shop_url}/_control/orders/5840000001012")).json()
        ref = str(order.get("legacy_id") or order.get("id") or "5840000001012")
        case, _ = await cases.open_case(
            db, key=f"return:{STORE}:{ref}", kind="return", store_id=STORE, state="awaiting_shipment",
            order_ref=ref, order_name="#1012", customer_email="paul.roux@example.com", language="fr",
            data={"instructions": {"address": "Atelier Lyon, 12 quai Saint-Vincent, 69001 Lyon", "rma": "RMA-1012",
                                   "label_url": "https://labels.example/rma-1012.pdf",
                                   "ship_by": (utcnow() + timedelta(days=10)).isoformat()}})
        await deadlines.set_deadline(db, case_id=case.id, kind="return_shipping", due_at=utcnow() + timedelta(days=10),
                                     act_at=utcnow() + timedelta(days=9), action="remind")
    finally:
        await db.dispose()


async def _inbound(url: str, topic: str) -> list[dict[str, Any]]:
    from sqlmodel import select

    from ledger.db import Database
    from ledger.models import InboundEvent

    db = Database(url)
    try:
        async with db.session() as s:
            rows = (await s.exec(select(InboundEvent).where(InboundEvent.topic == topic))).all()
            return [{"status": r.status, "body": json.loads(r.body), "http_status": r.http_status,
                     "reject_reason": r.reject_reason} for r in rows]
    finally:
        await db.dispose()


@dataclass
class Stack:
    base: str
    db_url: str
    secret: str = "sandbox-webhook-secret"
    shop: Any = None  # the fake store (in this process): its faults can be queued


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    from ledger.migrate import upgrade
    from sandbox.seed import demo_orders
    from sandbox.shopify import start_fake_shopify

    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium")
    tmp = tmp_path_factory.mktemp("page")
    db_url = f"sqlite+aiosqlite:///{tmp / 'ledger.db'}"
    with ThreadPoolExecutor(1) as pool:
        pool.submit(upgrade, db_url).result()
    shop = start_fake_shopify(port=0, bucket_size=100_000.0, restore_rate=10_000.0)
    for order in demo_orders():
        httpx.post(f"{shop.base_url}/_control/orders", json=order, timeout=30).raise_for_status()
    _run(_seed_ledger(db_url, shop.base_url))
    port = free_port()
    env = {**os.environ, "AFTERSALES_SANDBOX": "1", "AFTERSALES_DATABASE_URL": db_url,
           "AFTERSALES_SHOPIFY_BASE_URL": shop.base_url, "AFTERSALES_RECEIVER_PORT": str(port),
           "AFTERSALES_RECEIVER_IP_REQUESTS_PER_MINUTE": "1000", "AFTERSALES_RECEIVER_ORDER_REQUESTS_PER_HOUR": "100",
           "AFTERSALES_PAGE_UPLOAD_DIR": str(tmp / "photos"),
           "PREFECT_API_URL": f"http://127.0.0.1:{free_port()}/api"}  # no Prefect: events wait in the ledger
    log = open(tmp / "receiver.log", "wb")
    receiver = subprocess.Popen([sys.executable, "-m", "deployments.receiver"], cwd=ROOT, env=env,
                                stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if receiver.poll() is not None:
                break
            time.sleep(0.5)
        else:
            pytest.fail("the receiver did not start")
        assert receiver.poll() is None, (tmp / "receiver.log").read_text()
        yield Stack(base, db_url, shop=shop)
    finally:
        receiver.terminate()
        receiver.wait(timeout=20)
        log.close()
        shop.stop()


@pytest.fixture(scope="module")
def browser(stack: Stack) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            yield b
        finally:
            b.close()


def _page(browser: Any, size: dict[str, int], lang: str) -> Any:
    context = browser.new_context(viewport=size, locale="fr-FR" if lang == "fr" else "en-GB",
                                  java_script_enabled=False)  # it must work without script
    page = context.new_page()
    page.set_default_timeout(20_000)
    return page


def _shot(page: Any, name: str) -> None:
    if SCREENSHOTS:
        folder = ROOT / SCREENSHOTS
        folder.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(folder / name), full_page=True)


def _prove(page: Any, stack: Stack, number: str, email: str, *, lang: str) -> None:
    page.goto(f"{stack.base}/page")
    labels = {"fr": ("Numéro de commande", "Adresse e-mail utilisée pour la commande", "Continuer"),
              "en": ("Order number", "Email address used for the order", "Continue")}[lang]
    page.get_by_label(labels[0]).fill(number)
    page.get_by_label(labels[1]).fill(email)
    page.get_by_role("button", name=labels[2]).click()


def test_a_cancellation_on_a_phone_in_french(stack: Stack, browser: Any) -> None:
    from playwright.sync_api import expect

    page = _page(browser, PHONE, "fr")
    page.goto(f"{stack.base}/page")
    expect(page.locator("html")).to_have_attribute("lang", "fr")  # from the browser's Accept-Language
    _shot(page, "page-proof-phone.png")
    _prove(page, stack, "#1001", "camille.durand@example.com", lang="fr")
    expect(page.get_by_role("heading", level=1)).to_contain_text("#1001")
    page.get_by_role("link", name="Annuler la commande").click()
    page.get_by_label("J'ai changé d'avis").check()
    _shot(page, "page-cancel-reason-phone.png")
    page.get_by_role("button", name="Vérifier ma demande").click()
    expect(page.get_by_role("heading", name="Avant d'annuler : une autre solution ?")).to_be_visible()  # C6
    _shot(page, "page-cancel-offer-phone.png")
    page.get_by_role("button", name="Non merci, j'annule").click()
    expect(page.get_by_role("status")).to_contain_text("Votre demande d'annulation de la commande #1001")
    expect(page.locator(".next")).to_contain_text("au plus tard le")
    _shot(page, "page-cancel-done-phone.png")
    rows = _run(_inbound(stack.db_url, "cancellation.requested"))
    assert [(r["body"]["order_number"], r["body"]["reason"], r["body"]["insist"]) for r in rows] == \
        [("#1001", "changed_mind", True)]
    box = page.locator("main").bounding_box()
    assert box is not None and box["width"] <= PHONE["width"]  # nothing wider than the phone


def test_a_return_with_a_photo_on_a_desktop_in_english(stack: Stack, browser: Any, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    photo = tmp_path / "clock.png"
    photo.write_bytes(PNG)
    page = _page(browser, DESKTOP, "en")
    _prove(page, stack, "#1012", "paul.roux@example.com", lang="en")
    page.get_by_role("link", name="Return an item").click()
    page.get_by_label("Horloge murale Méridienne").check()
    page.get_by_label("The item arrived damaged").check()
    page.get_by_label("Photos of the damaged or faulty item").set_input_files(str(photo))
    _shot(page, "page-return-desktop.png")
    page.get_by_role("button", name="Review my request").click()
    expect(page.get_by_text("The return is on us")).to_be_visible()
    page.get_by_role("button", name="Confirm the return").click()
    expect(page.get_by_role("status")).to_contain_text("Your return request for order #1012 is saved")
    rows = _run(_inbound(stack.db_url, "return.requested"))
    assert len(rows) == 1 and rows[0]["body"]["reason"] == "damaged" and len(rows[0]["body"]["photo_urls"]) == 1
    photo_url = rows[0]["body"]["photo_urls"][0]
    assert httpx.get(photo_url).status_code == 401  # never served publicly
    got = httpx.get(photo_url, headers={"Authorization": "Bearer sandbox-operator-token"})
    assert got.status_code == 200 and got.content == PNG


def test_following_a_case_and_giving_the_tracking_number(stack: Stack, browser: Any) -> None:
    from playwright.sync_api import expect

    for size, name in ((PHONE, "page-case-phone.png"), (DESKTOP, "page-case-desktop.png")):
        page = _page(browser, size, "en")
        _prove(page, stack, "#1012", "paul.roux@example.com", lang="en")
        page.get_by_role("link", name="Follow my request").click()
        expect(page.locator("address")).to_contain_text("12 quai Saint-Vincent")  # R2
        expect(page.get_by_role("link", name="Download the return label")).to_be_visible()
        expect(page.get_by_text("Next step expected by")).to_be_visible()
        _shot(page, name)
    page.get_by_label("Tracking number", exact=True).fill("6A99887766FR")
    page.get_by_role("button", name="Send").first.click()
    expect(page.get_by_role("status")).to_contain_text("we have your tracking number")
    _shot(page, "page-case-tracking-desktop.png")
    rows = _run(_inbound(stack.db_url, "return.shipped"))
    assert [r["body"]["tracking_number"] for r in rows] == ["6A99887766FR"]
    # The same page in French, from its language link, keeps the proof.
    page.get_by_role("link", name="Français").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Où en est votre demande ?")


def test_a_wrong_email_is_said_next_to_the_field(stack: Stack, browser: Any) -> None:
    from playwright.sync_api import expect

    page = _page(browser, PHONE, "en")
    _prove(page, stack, "#1012", "not.paul@example.com", lang="en")
    field = page.get_by_label("Email address used for the order")
    expect(field).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#email-error")).to_contain_text("could not find an order")
    expect(page.get_by_role("alert")).to_be_visible()
    assert "Horloge" not in page.content()
    _shot(page, "page-wrong-email-phone.png")
    # The keyboard reaches the skip link first, then the form.
    page.keyboard.press("Tab")
    expect(page.locator(".skip")).to_be_focused()


def test_an_order_out_of_its_window(stack: Stack, browser: Any) -> None:
    from playwright.sync_api import expect

    page = _page(browser, DESKTOP, "en")
    _prove(page, stack, "#1010", "oliver.hughes@example.com", lang="en")
    page.get_by_role("link", name="Return an item").click()
    page.get_by_label("I changed my mind").check()
    page.get_by_role("button", name="Review my request").click()
    expect(page.locator("#reason-error")).to_contain_text("The return window for this order ended on")
    _shot(page, "page-out-of-window-desktop.png")
    assert _run(_inbound(stack.db_url, "return.requested")) == [] or all(
        r["body"]["order_number"] != "#1010" for r in _run(_inbound(stack.db_url, "return.requested")))


def test_the_app_proxy_signature_accepted_and_a_forged_one_refused(stack: Stack, browser: Any) -> None:
    from playwright.sync_api import expect

    page = _page(browser, PHONE, "en")
    query = proxy_query(stack.secret, shop=STORE, customer_id="123")
    response = page.goto(f"{stack.base}/page?{query}")
    assert response is not None and response.status == 200
    expect(page.get_by_text("You are signed in to your customer account")).to_be_visible()
    expect(page.get_by_label("Email address used for the order")).to_have_count(0)  # no proof needed
    _shot(page, "page-app-proxy-phone.png")
    forged = query.replace("logged_in_customer_id=123", "logged_in_customer_id=124")
    response = page.goto(f"{stack.base}/page?{forged}")
    assert response is not None and response.status == 401
    expect(page.get_by_role("alert")).to_contain_text("could not be verified")
    _shot(page, "page-app-proxy-forged-phone.png")


def test_the_store_unreachable_keeps_the_request_on_a_phone_in_french(stack: Stack, browser: Any) -> None:
    from playwright.sync_api import expect

    httpx.post(f"{stack.shop.base_url}/_control/faults", json={"field": "orders", "kind": "http_500",
                                                              "count": 10_000}, timeout=30).raise_for_status()
    try:
        page = _page(browser, PHONE, "fr")
        _prove(page, stack, "#1002", "julien.moreau@example.com", lang="fr")
        expect(page.get_by_role("status")).to_contain_text("joindre la boutique")  # said, not a 503
        page.get_by_label("Votre demande").select_option("cancel:delivery_too_slow")
        page.get_by_label("Un mot pour nous (facultatif)").fill("Merci de faire vite")
        box = page.get_by_label("Votre demande").bounding_box()
        assert box is not None and box["x"] + box["width"] <= PHONE["width"]  # no horizontal scrolling
        _shot(page, "page-store-down-phone.png")
        page.get_by_role("button", name="Envoyer").click()
        expect(page.get_by_role("status")).to_contain_text("Votre demande pour la commande #1002 est bien enregistrée")
        expect(page.locator(".next")).to_contain_text("par e-mail à julien.moreau@example.com")
        _shot(page, "page-store-down-done-phone.png")
    finally:
        with stack.shop.state.lock:
            stack.shop.state.faults.clear()
    rows = [r for r in _run(_inbound(stack.db_url, "cancellation.requested")) if r["body"]["order_number"] == "#1002"]
    assert [(r["body"]["reason"], r["body"]["message"]) for r in rows] == [("delivery_too_slow", "Merci de faire vite")]
    assert rows[0]["reject_reason"].startswith("unverified:")  # stored first; the flow checks the order
