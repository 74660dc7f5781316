"""The demo's scenarios, played through the real entry points: six cancellations (#1001-#1006),
six returns (#1007-#1012), two new orders screened (#1013-#1014, K6) and one dispute from each
processor (#1015 Shopify Payments, #1016 Stripe, #1017 PayPal); three cases left open for the
operator's desk (#1021-#1023, issue 17): a supplier's answer to record, a return to inspect, a
refund to approve, each decided in the Prefect UI (the browser test does it); and one return only
the carrier knows about (#1031, issue 19): delivered per DHL alone, its return parcel followed at DHL.

Each scenario seeds its order in the sandbox store (and at the CJ supplier when it ships
it), then acts as the outside world would: the customer cancels or asks for a return on the
customer page as their browser would (sandbox/customer_browser.py; or asks in the
Shopify customer account) and gives the return's tracking number there; the email supplier
answers by email, into the store's mailbox, where the mailbox reader finds it (issue 18,
sandbox/supplier_mail.py); the operator records a parcel's receipt and inspection;
CJ decides its disputes; the sandbox store fires its own signed webhooks.
Then it waits for the case to reach the state the rulebook expects. Scenarios that do not depend
on each other are played at the same time.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from deployments.customer_page.texts import Language
from ledger import cases, records
from ledger.db import get_database
from ledger.models import Case
from sandbox import supplier_mail
from sandbox.customer_browser import CustomerBrowser
from sandbox.seed import (
    CARRIER_RETURN,
    CARRIER_SCENARIOS,
    OUT_OF_STOCK_SKUS,
    SCENARIOS,
    carrier_orders,
    carrier_parcels,
    cj_orders,
    demo_orders,
    desk_orders,
    dispute_orders,
    prevention_orders,
)

RECEIVER = os.environ.get("AFTERSALES_DEMO_RECEIVER", "http://127.0.0.1:8000")
SHOPIFY = os.environ.get("AFTERSALES_SHOPIFY_BASE_URL", "http://127.0.0.1:8081")
CJ = os.environ.get("AFTERSALES_CJ_BASE_URL", "http://127.0.0.1:8082/api2.0/v1").rsplit("/api2.0", 1)[0]
STRIPE = os.environ.get("AFTERSALES_STRIPE_BASE_URL", "http://127.0.0.1:8083")
PAYPAL = os.environ.get("AFTERSALES_PAYPAL_BASE_URL", "http://127.0.0.1:8084")
MAILS = os.environ.get("AFTERSALES_DEMO_MAILS", "http://127.0.0.1:8025")
CARRIERS = os.environ.get("AFTERSALES_DHL_BASE_URL", "http://127.0.0.1:8085/dhl").rsplit("/dhl", 1)[0]
OPERATOR = {"Authorization": f"Bearer {os.environ.get('AFTERSALES_RECEIVER_OPERATOR_TOKEN', 'sandbox-operator-token')}"}
STORE = "maison-lumiere.myshopify.com"
RETURNS = ("#1007", "#1008", "#1009", "#1010", "#1011", "#1012")
NEW_ORDERS = ("#1013", "#1014")
DISPUTES = ("#1015", "#1016", "#1017")
ATELIER_RETURNS = "Atelier Lyon Luminaires, Service retours, 12 rue des Tanneurs, 69007 Lyon, France"
ATELIER_EMAIL = "commandes@atelier-lyon.example"  # the email supplier (policy.yaml), answers by email
# What the email supplier writes back (issue 18), read by the mailbox reader with no one typing it.
SUPPLIER_SAYS_BLOCKED = ("Bonjour,\n\nC'est fait : nous avons bloqué la commande avant expédition, "
                         "elle ne partira pas.\n\nBonne journée,\nMei, Atelier Lyon Luminaires")
SUPPLIER_SAYS_SHIPPED = ("Bonjour,\n\nDésolés, la commande est déjà partie ce matin, colis Colissimo "
                         "6A10061234567.\n\nCordialement,\nMei, Atelier Lyon Luminaires")


def supplier_gives_address(rma: str) -> str:
    """The email supplier's return instructions (R6): its address and the RMA, by email."""
    street = ATELIER_RETURNS.split(", ")
    return ("Bonjour,\n\nRetour accepté. Adresse de retour :\n" + ", ".join(street[:2]) + "\n"
            + "\n".join(street[2:]) + f"\nNuméro RMA : {rma}\n\nMerci d'indiquer la référence sur le colis."
            "\n\nCordialement,\nMei, Atelier Lyon Luminaires")

# The state each case ends in, and (returns) the amount refunded.
EXPECTED: dict[str, tuple[str, str | None]] = {
    "#1001": ("closed", None), "#1002": ("closed", None), "#1003": ("closed", None), "#1004": ("closed", None),
    "#1005": ("converted_to_return", None), "#1006": ("converted_to_return", None),
    "#1007": ("done", "-"), "#1008": ("done", "-"), "#1009": ("done", "-"), "#1010": ("refused", "-"),
    "#1011": ("done", "149.00 EUR"), "#1012": ("done", "73.90 EUR"),
    "#1013": ("held", "-"), "#1014": ("shipped", "-"),
    "#1015": ("submitted", "-"), "#1016": ("awaiting_decision", "-"), "#1017": ("accepted", "-"),
}
# The operator's desk (issue 17): each stops where the operator decides, in the Prefect UI.
DESK: dict[str, str] = {"#1021": "cancellation", "#1022": "return", "#1023": "return"}  # order -> case kind
EXPECTED |= {"#1021": ("awaiting_supplier", "-"), "#1022": ("inspecting", "-"), "#1023": ("refunding", "-")}
# Only the carrier knows (issue 19): the return goes on from DHL's delivery date, and is refunded
# with the delivery once DHL delivered the return parcel to the supplier and it was inspected.
CARRIER_ONLY: dict[str, str] = {"#1031": "return"}  # order -> case kind
EXPECTED |= {"#1031": ("done", "88.90 EUR")}


@dataclass
class Outcome:
    order: str
    scenario: str
    expected: str
    state: str | None
    detail: str = ""
    expected_refund: str | None = None  # "-" for none; None: not checked
    refunded: str = "-"

    @property
    def ok(self) -> bool:
        return self.state == self.expected and self.expected_refund in (None, self.refunded)


async def _seed(http: httpx.AsyncClient) -> dict[str, dict[str, Any]]:
    seeded: dict[str, dict[str, Any]] = {}
    for order in demo_orders() + prevention_orders() + dispute_orders() + desk_orders() + carrier_orders():
        r = await http.post(f"{SHOPIFY}/_control/orders", json=order)
        r.raise_for_status()
        raw = r.json()
        seeded[raw["name"]] = raw
    for parcel in carrier_parcels(_hours_ago):  # what DHL alone knows (the carriers' fake, issue 19)
        (await http.post(f"{CARRIERS}/_control/parcels", json=parcel)).raise_for_status()
    # The CJ supplier's side: #1003 not paid yet, #1004 paid, #1008 and #1009 delivered.
    for body in cj_orders(seeded):
        (await http.post(f"{CJ}/_control/orders", json=body)).raise_for_status()
    return seeded


def _hours_ago(hours: float) -> str:
    return (datetime.now(UTC) - timedelta(hours=hours)).replace(microsecond=0).isoformat()


def _email(name: str) -> str:
    for order in demo_orders() + prevention_orders() + dispute_orders() + desk_orders() + carrier_orders():
        if f"#{order['number']}" == name:
            return str(order["customer"]["email"])
    raise KeyError(name)


def _language(name: str) -> Language:
    """The language of the customer's browser: their locale at the store (fr-FR, en-GB...)."""
    for order in demo_orders() + prevention_orders() + dispute_orders() + desk_orders() + carrier_orders():
        if f"#{order['number']}" == name:
            return "en" if str(order["customer"].get("locale", "fr")).lower().startswith("en") else "fr"
    raise KeyError(name)


def _browser(name: str, language: Language | None = None, token: str | None = None) -> CustomerBrowser:
    """The customer's own browser on the customer page (its own cookies), in their language."""
    return CustomerBrowser(RECEIVER, name, _email(name), language or _language(name), token=token)


async def _customer_cancels(name: str, reason: str, message: str | None = None, *,
                            language: Language | None = None, twice: bool = False) -> list[str]:
    """The customer cancels on the page (proof, reason and note, confirm; "cancel anyway" when
    the retention offer C6 is shown: no scenario keeps its order). `twice`: the confirmation is
    sent a second time. The page's answers ("received", "duplicate")."""
    async with _browser(name, language) as browser:
        answers = [await browser.cancel(reason, message, offer="insist")]
        if twice:
            answers.append(await browser.send_again())
    return [a.status for a in answers]


def _kind(name: str) -> str:
    if name in DESK:
        return DESK[name]
    if name in CARRIER_ONLY:
        return CARRIER_ONLY[name]
    if name in NEW_ORDERS:
        return "order"
    if name in DISPUTES:
        return "dispute"
    return "return" if name in RETURNS else "cancellation"


async def _case_for(name: str, seeded: dict[str, dict[str, Any]]) -> Case | None:
    legacy = str(seeded[name]["legacy_id"])
    if name in DISPUTES:  # keyed by the processor's dispute id: found through its order
        return await cases.latest_case(get_database(), STORE, legacy, "dispute")
    return await cases.find_case(get_database(), f"{_kind(name)}:{STORE}:{legacy}")


async def _wait_state(name: str, seeded: dict[str, dict[str, Any]], states: set[str], wait_s: float, *,
                      unlocked: bool = False) -> Case | None:
    """Poll the ledger until the case is in one of `states` (and, with `unlocked`, no run holds
    it any more), or `wait_s` has passed; the case as last seen."""
    deadline = time.monotonic() + wait_s
    case = None
    while True:
        case = await _case_for(name, seeded)
        if case is not None and case.state in states and not (unlocked and case.lock_owner):
            return case
        if time.monotonic() >= deadline:
            return case
        await asyncio.sleep(1)


def _left(deadline: float) -> float:
    return max(deadline - time.monotonic(), 0.0)


async def _sweep_until(name: str, seeded: dict[str, dict[str, Any]], states: set[str], deadline: float) -> None:
    """The deadline check, run by the Prefect server's scheduler (the demo sets its interval to a
    minute with `deployments.setup --sweep-every`), polls an API supplier (CJ) for the cases no
    run holds: wait for it to have moved the case on."""
    await _wait_state(name, seeded, states, _left(deadline))


# -- the cancellation scenarios (#1001-#1006) ------------------------------------------------------

async def _play_cancellations(http: httpx.AsyncClient, seeded: dict[str, dict[str, Any]],
                              deadline: float) -> dict[str, str]:
    # 1. Not passed on yet: cancelled and refunded at once. The customer double-submits.
    answers = await _customer_cancels("#1001", "ordering_mistake",
                                      "Je me suis trompée de couleur, je préfère annuler. Merci !", language="fr",
                                      twice=True)
    # 2. Passed to the email supplier: asked first; it answers yes.
    await _customer_cancels("#1002", "delivery_too_slow", "Le délai annoncé est trop long pour moi.")
    # 3. Passed to CJ (not paid there yet): deleted at CJ after the store cancel.
    await _customer_cancels("#1003", "better_offer")
    # 4. CJ cannot supply one item: partial cancellation reported by the operator.
    r = await http.post(f"{RECEIVER}/operator/out-of-stock", headers=OPERATOR,
                        json={"order_number": "#1004", "skus": sorted(OUT_OF_STOCK_SKUS), "supplier_id": "cj",
                              "note": "CJ: rupture de stock sur le plaid vert sauge"})
    r.raise_for_status()
    # 5. Already shipped: becomes a return.
    await _customer_cancels("#1005", "changed_mind", "Sorry, I changed my mind.", language="en")
    # 6. Passed to the email supplier, which refuses: C8 -> C4 and the operator is alerted.
    await _customer_cancels("#1006", "changed_mind")

    # 2 and 6 (continued): the email supplier answers by email, into the store's mailbox; the
    # mailbox reader (read-mailbox, on its schedule) reads it and moves the case (issue 18).
    for name, text in (("#1002", SUPPLIER_SAYS_BLOCKED), ("#1006", SUPPLIER_SAYS_SHIPPED)):
        case = await _wait_state(name, seeded, {"awaiting_supplier"}, _left(deadline))
        if case is not None and case.state == "awaiting_supplier":
            await supplier_mail.answer(ATELIER_EMAIL, name, "Demande d'annulation", text, wait_s=_left(deadline),
                                       http=http)

    # 4 (continued): CJ settles the dispute for the missing item; the check polls it.
    case = await _wait_state("#1004", seeded, {"awaiting_supplier", "closed"}, _left(deadline), unlocked=True)
    if case is not None and case.state == "awaiting_supplier":
        await http.post(f"{CJ}/_control/disputes/{seeded['#1004']['legacy_id']}/resolve",
                        json={"finallyDeal": 1, "money": "9.50"})
        await _sweep_until("#1004", seeded, {"closed"}, deadline)
    return {"#1001": f"the confirmation sent twice on the page, answered {', '.join(repr(a) for a in answers)}"}


# -- the return scenarios (#1007-#1012) ------------------------------------------------------------

class _Stuck(Exception):
    """A return scenario waited for a state that did not come: it stops there (the report says)."""


class _Return:
    """One return played in turn by the customer, the supplier (recorded by the operator) and CJ,
    each acting once the case waits for them."""

    def __init__(self, http: httpx.AsyncClient, seeded: dict[str, dict[str, Any]], name: str,
                 deadline: float) -> None:
        self.http, self.seeded, self.name, self.deadline = http, seeded, name, deadline
        self.legacy_id = seeded[name]["legacy_id"]
        self.token: str | None = None  # the customer page's signed link for this order, once proven

    async def when(self, state: str, *, unlocked: bool = False) -> None:
        case = await _wait_state(self.name, self.seeded, {state}, _left(self.deadline), unlocked=unlocked)
        if case is None or case.state != state:
            raise _Stuck(f"waited for '{state}', the case was {case.state if case else 'never opened'}")

    async def asks(self, reason: str, message: str | None = None, *, photos: list[str] | None = None) -> None:
        """The customer asks for the return on the page (proof, reason, note, photos, confirm); the
        signed link the page gave is kept, as the emails carry it, to give the tracking number."""
        async with _browser(self.name) as browser:
            await browser.ask_return(reason, message, photos=photos)
            self.token = browser.token

    async def asks_by_json(self, reason: str, message: str | None = None, **extra: Any) -> None:
        """The store's own return form posting JSON (`POST /requests/return`), for the one request
        the page never sends: a return out of its window (the page refuses it at step 2, R1)."""
        await self._post(f"{RECEIVER}/requests/return", {"order_number": self.name, "email": _email(self.name),
                                                          "reason": reason, "message": message, **extra})

    async def sends_tracking(self, number: str, carrier: str = "Colissimo") -> None:
        """On the page: the case (through the link from the request, else the proof) and its
        tracking number field (R3)."""
        async with _browser(self.name, token=self.token) as browser:
            await browser.send_tracking(number, carrier)
            self.token = browser.token

    async def supplier_says(self, supplier_id: str, event: str, **extra: Any) -> None:
        await self._post(f"{RECEIVER}/operator/return-updates",
                         {"order_number": self.name, "event": event, "supplier_id": supplier_id, **extra}, OPERATOR)

    async def sweep_until(self, state: str) -> None:
        await _sweep_until(self.name, self.seeded, {state}, self.deadline)
        await self.when(state)

    async def _post(self, url: str, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        r = await self.http.post(url, json=body, headers=headers)
        if r.status_code != 202:
            raise RuntimeError(f"{self.name}: {url} answered {r.status_code}: {r.text}")


async def _back_to_atelier(r: _Return, *, rma: str, tracking: str, receipt_apart: bool = True) -> None:
    """R6 with the email supplier: its address and RMA, the parcel, its receipt, the inspection
    (or, `receipt_apart` False, one report of both: an inspection implies the goods are in)."""
    await r.when("awaiting_supplier")
    await supplier_mail.answer(ATELIER_EMAIL, r.name, "Demande de retour", supplier_gives_address(rma),
                               wait_s=_left(r.deadline), http=r.http)  # by email, read by the mailbox reader
    await r.when("awaiting_shipment")
    await r.sends_tracking(tracking)
    await r.when("in_transit")
    if receipt_apart:
        await r.supplier_says("atelier-lyon", "received", note="Colis reçu à l'atelier.")
        await r.when("inspecting")
    await r.supplier_says("atelier-lyon", "inspected", outcome="resellable", note="Article intact, revendable.")


async def _wrong_colour(r: _Return) -> None:
    """#1007: asked in the Shopify customer account (returns/request); an exchange (R4)."""
    resp = await r.http.post(f"{SHOPIFY}/_control/orders/{r.legacy_id}/returns",
                             json={"items": [{"sku": "ATL-RID-LIN-ORAGE", "quantity": 1, "reason": "COLOR",
                                              "customer_note": "Le bleu est beaucoup plus foncé que sur le site, "
                                                               "je voudrais le gris perle."}]})
    resp.raise_for_status()
    if not any(d.get("status") == 200 for d in resp.json().get("deliveries", [])):
        raise RuntimeError(f"#1007: the store's returns/request webhook was not delivered: {resp.text}")
    await _back_to_atelier(r, rma="RMA-1007", tracking="6A30071107FR", receipt_apart=False)
    await r.when("replacing")
    await r.supplier_says("atelier-lyon", "replacement_shipped", tracking_number="6A30071199FR",
                          note="Rideau gris perle expédié.")


async def _damaged(r: _Return) -> None:
    """#1008: CJ claimed through a return dispute; CJ reissues, the customer sends the lamp back."""
    await r.asks("damaged", "La lampe est arrivée fêlée sur le côté, photos jointes.",
                 photos=["lampe-dune-felure.png", "lampe-dune-carton.png"])
    await r.when("awaiting_supplier", unlocked=True)  # the dispute is open at CJ
    resp = await r.http.post(f"{CJ}/_control/disputes/{r.legacy_id}/resolve",
                             json={"finallyDeal": 2, "resendOrderCode": "SD2508011008000001"})
    resp.raise_for_status()
    await r.sweep_until("awaiting_shipment")  # the check polls CJ: accepted, CJ's return address sent
    await r.sends_tracking("6A30081108FR")
    await r.when("in_transit")
    await r.supplier_says("cj", "inspected", outcome="resellable",
                          note="CJ EU returns: parcel received, transport damage confirmed, no misuse.")


async def _keep_it(r: _Return) -> None:
    """#1009: a 9.90 item not worth the label: kept, replaced, CJ claimed (R5)."""
    await r.asks("damaged", "Le photophore est arrivé fendu.",
                 photos=["photophore-fendu.png"])
    await r.when("replacing")
    await r.supplier_says("cj", "replacement_shipped", tracking_number="CJPKL30091109",
                          note="CJ reissued the candle holder.")


async def _out_of_window(r: _Return) -> None:
    """#1010: asked 45 days after delivery: refused with the store's alternatives (R1)."""
    # Kept on the JSON endpoint: the page refuses a return out of its window before anything is
    # sent (step 2 names the window's last day and the legal guarantee), so no case would open;
    # this scenario shows the flow's own refusal (the case refused, the store's alternatives).
    await r.asks_by_json("changed_mind", "I'd like to send the vase back, it doesn't suit the room.", language="en")


async def _not_as_described(r: _Return) -> None:
    """#1011: the store pays the return, the supplier is claimed, refunded once inspected (R4, R7)."""
    await r.asks("not_as_described", "Les couleurs sont bien plus ternes que sur les photos du site.",
                 photos=["tapis-atlas.png"])
    await _back_to_atelier(r, rma="RMA-1011", tracking="6A30111106FR")


async def _changed_mind(r: _Return) -> None:
    """#1012: withdrawal of the whole order: refunded with the delivery once inspected (D2, R7)."""
    await r.asks("changed_mind", "Finalement elle ne va pas dans mon salon.")
    await _back_to_atelier(r, rma="RMA-1012", tracking="6A30121104FR")


RETURN_SCRIPTS: dict[str, Callable[[_Return], Awaitable[None]]] = {
    "#1007": _wrong_colour, "#1008": _damaged, "#1009": _keep_it, "#1010": _out_of_window,
    "#1011": _not_as_described, "#1012": _changed_mind,
}


async def _play_return(http: httpx.AsyncClient, seeded: dict[str, dict[str, Any]], name: str,
                       deadline: float) -> dict[str, str]:
    try:
        await RETURN_SCRIPTS[name](_Return(http, seeded, name, deadline))
    except _Stuck as exc:
        return {name: f"stopped: {exc}"}
    return {}


# -- new orders (#1013-#1014, K6) and disputes (#1015-#1017, K1-K5) -----------------------------

async def _play_new_orders(http: httpx.AsyncClient, seeded: dict[str, dict[str, Any]],
                           deadline: float) -> dict[str, str]:
    """The store announces both orders (orders/create, signed by the sandbox store). #1013 is held
    for the operator (its run waits in the Prefect UI); #1014 ships and its tracking goes out."""
    for name in NEW_ORDERS:
        r = await http.post(f"{SHOPIFY}/_control/webhooks/send",
                            json={"topic": "orders/create", "order_id": seeded[name]["legacy_id"]})
        r.raise_for_status()
    case = await _wait_state("#1014", seeded, {"awaiting_shipment"}, _left(deadline), unlocked=True)
    if case is None or case.state != "awaiting_shipment":
        return {"#1014": f"stopped: waited for 'awaiting_shipment', the case was {case.state if case else 'none'}"}
    r = await http.post(f"{SHOPIFY}/_control/orders/{seeded['#1014']['legacy_id']}/fulfill",
                        json={"tracking_company": "Colissimo", "tracking_number": "6A20141122FR",
                              "tracking_url": "https://www.laposte.fr/outils/suivre-vos-envois?code=6A20141122FR"})
    r.raise_for_status()  # the store sends fulfillments/create: the tracking email follows
    return {}


async def _play_disputes(http: httpx.AsyncClient, seeded: dict[str, dict[str, Any]]) -> dict[str, str]:
    """One dispute from each processor; each processor sends its own signed webhook."""
    r = await http.post(f"{SHOPIFY}/_control/orders/{seeded['#1015']['legacy_id']}/disputes",
                        json={"reason": "PRODUCT_NOT_RECEIVED", "evidence_due_in_days": 7})
    r.raise_for_status()
    r = await http.post(f"{STRIPE}/_control/disputes", json={
        "amount": 20100, "currency": "eur", "reason": "fraudulent", "due_in_days": 10,
        "order_id": str(seeded["#1016"]["legacy_id"]), "receipt_email": _email("#1016")})
    r.raise_for_status()
    r = await http.post(f"{PAYPAL}/_control/disputes", json={
        "reason": "MERCHANDISE_OR_SERVICE_NOT_RECEIVED", "amount": "49.90", "currency": "EUR",
        "invoice_number": "#1017", "buyer_name": "Théo Garnier"})
    r.raise_for_status()
    return {}


# -- the operator's desk (#1021-#1023, issue 17): cases left open for a decision in the UI ------

async def _play_desk(http: httpx.AsyncClient, seeded: dict[str, dict[str, Any]], deadline: float) -> dict[str, str]:
    """Three cases played up to the operator's decision, and left there: the operator takes it in
    the Prefect UI (record-supplier-answer, record-return-inspection, the refund's Resume form)."""
    async def cancelled() -> dict[str, str]:
        # #1021: cancelled by the customer on the page; atelier-lyon is asked first and answers by
        # email: the operator records its answer.
        await _customer_cancels("#1021", "changed_mind", "Finalement je n'en ai plus besoin, merci.")
        return {}

    async def received(name: str, rma: str, tracking: str) -> dict[str, str]:
        r = _Return(http, seeded, name, deadline)
        try:
            await r.asks("changed_mind", "Finalement il ne va pas avec le reste de la pièce.")
            await r.when("awaiting_supplier")
            await supplier_mail.answer(ATELIER_EMAIL, r.name, "Demande de retour", supplier_gives_address(rma),
                                       wait_s=_left(r.deadline), http=r.http)  # by email (issue 18)
            await r.when("awaiting_shipment")
            await r.sends_tracking(tracking)
            await r.when("in_transit")
            await r.supplier_says("atelier-lyon", "received", note="Colis reçu à l'atelier.")
            await r.when("inspecting")
            if name == "#1023":  # inspected: the 289 EUR refund is above the threshold, its run waits
                await r.supplier_says("atelier-lyon", "inspected", outcome="resellable",
                                      note="Fauteuil intact, revendable.")
        except _Stuck as exc:
            return {name: f"stopped: {exc}"}
        return {}

    notes: dict[str, str] = {}
    for played in await asyncio.gather(cancelled(), received("#1022", "RMA-1022", "6A30221105FR"),
                                       received("#1023", "RMA-1023", "6A30231106FR")):
        notes |= played
    return notes


# -- only the carrier knows (#1031, issue 19) ---------------------------------------------------

async def _play_carrier_only(http: httpx.AsyncClient, seeded: dict[str, dict[str, Any]],
                             deadline: float) -> dict[str, str]:
    """#1031: Shopify has no delivery date, so the return first waits for the operator; the
    deadline check reads DHL, whose delivery date starts the withdrawal (D1), and the return goes
    on by itself. The customer posts the parcel back with DHL; DHL delivers it at the supplier's
    postcode (its return address), which the check reads as the goods back (R6). The supplier
    inspects it; the refund follows, delivery included (D2)."""
    r = _Return(http, seeded, "#1031", deadline)
    try:
        await r.asks("changed_mind", "Elle est plus petite que je ne pensais, je préfère la renvoyer.")
        await r.sweep_until("awaiting_supplier")  # DHL's delivery read by the check: D1
        await supplier_mail.answer(ATELIER_EMAIL, r.name, "Demande de retour", supplier_gives_address("RMA-1031"),
                                   wait_s=_left(r.deadline), http=r.http)  # by email (issue 18)
        await r.when("awaiting_shipment")
        # Posted with DHL and delivered at the supplier's postcode (the return address) before the
        # customer gives the number: the check's first read of it finds the goods back.
        (await http.post(f"{CARRIERS}/_control/parcels", json={"carrier": "dhl", "number": CARRIER_RETURN, "events": [
            {"code": "transit", "at": _hours_ago(0.01), "city": "Lille", "postcode": "59800", "country": "FR",
             "label": "Shipment picked up"},
            {"code": "delivered", "at": _hours_ago(0), "city": "Lyon", "postcode": "69007", "country": "FR",
             "label": "Delivered - signed for by the recipient"}]})).raise_for_status()
        await r.sends_tracking(CARRIER_RETURN, "DHL Express")
        await r.sweep_until("inspecting")  # DHL's delivery at the return address, read by the check (R6)
        await r.supplier_says("atelier-lyon", "inspected", outcome="resellable", note="Lampe intacte, revendable.")
    except _Stuck as exc:
        return {"#1031": f"stopped: {exc}"}
    return {"#1031": "delivered per DHL only: D1 and the return parcel's arrival read at the carrier"}


# -- the report ----------------------------------------------------------------------------------

async def _details(http: httpx.AsyncClient, name: str, seeded: dict[str, dict[str, Any]],
                   case: Case) -> tuple[list[str], str]:
    """What the case did, for the report: refunds, messages by party, operator items; for a
    return also its outcome, the store's Return and the CJ dispute. (lines, refunded)."""
    db = get_database()
    refunds = await records.refunds_for_case(db, case.id)
    msgs = await records.messages_for_case(db, case.id)
    reviews = await records.reviews_for_case(db, case.id)
    refunded = ", ".join(f"{r.amount} {r.currency}" for r in refunds) or "-"
    parties = Counter(m.party for m in msgs)
    by_party = f" ({', '.join(f'{p} {n}' for p, n in sorted(parties.items()))})" if msgs else ""
    lines = [f"refunds: {refunded}; messages: {len(msgs)}{by_party}; "
             f"operator: {', '.join(r.reason_code for r in reviews) or '-'}"]
    if name not in RETURNS and name not in CARRIER_ONLY:
        return lines, refunded
    facts = []
    for number, said in (case.data.get("carrier_delivery") or {}).items():  # D1 read at the carrier (issue 19)
        facts.append(f"D1 from {said.get('carrier')} {number}: {str(said.get('at'))[:16]} in {said.get('city')}")
    if back := case.data.get("return_delivery"):
        facts.append(f"return parcel delivered per {back.get('carrier')} in {back.get('postcode')} {back.get('city')}")
    if plan := case.data.get("plan"):
        facts.append(f"plan: {plan.get('kind')}")
    if outcome := case.data.get("outcome"):
        replacement = (case.data.get("replacement") or {}).get("tracking")
        facts.append(f"outcome: {outcome}" + (f" ({replacement})" if replacement else ""))
    order = (await http.get(f"{SHOPIFY}/_control/orders/{seeded[name]['legacy_id']}")).json()
    facts.append("store return: " + (", ".join(f"{r['name']} {r['status']}" for r in order.get("returns", []))
                                     or "-"))
    disputes = [d for d in (await http.get(f"{CJ}/_control/disputes")).json().get("disputes", [])
                if str(d.get("orderId")) == str(seeded[name]["legacy_id"])]
    deals = {None: "open", 1: "refund", 2: "reissue", 3: "rejected"}
    if disputes:
        facts.append("CJ dispute: " + ", ".join(
            deals.get(d.get("finallyDeal"), "?") + (f" {d['resendOrderCode']}" if d.get("resendOrderCode") else "")
            for d in disputes))
    lines.append("; ".join(facts))
    others = [c for c in await cases.cases_for_order(db, STORE, str(seeded[name]["legacy_id"]))
              if c.kind == "return" and c.id != case.id]
    for other in others:  # one return was asked for: another case is a duplicate the customer may hear from
        sent = len(await records.messages_for_case(db, other.id))
        lines.append(f"another return case for this order: {other.key.split(':', 2)[-1]} ({other.state}, "
                     f"opened from the {other.origin}, messages: {sent})")
    return lines, refunded


_PLAYED: dict[str, Any] = {}  # what `play` seeded and noted, for `recheck`


async def play(wait_s: float = 480) -> list[Outcome]:
    """Play every scenario, the independent ones at the same time; `wait_s` bounds the whole."""
    deadline = time.monotonic() + wait_s
    async with httpx.AsyncClient(timeout=30) as http:
        seeded = await _seed(http)
        notes: dict[str, str] = {}
        for played in await asyncio.gather(_play_cancellations(http, seeded, deadline),
                                           *(_play_return(http, seeded, name, deadline) for name in RETURNS),
                                           _play_new_orders(http, seeded, deadline),
                                           _play_disputes(http, seeded),
                                           _play_desk(http, seeded, deadline),
                                           _play_carrier_only(http, seeded, deadline)):
            notes |= played
        _PLAYED.update(seeded=seeded, notes=notes)
        return await _outcomes(http, list(EXPECTED), deadline)


async def recheck(names: list[str], wait_s: float) -> list[Outcome]:
    """The rows `play` left unfinished, looked at again (waiting up to `wait_s` for them)."""
    async with httpx.AsyncClient(timeout=30) as http:
        return await _outcomes(http, names, time.monotonic() + wait_s)


async def _outcomes(http: httpx.AsyncClient, names: list[str], deadline: float) -> list[Outcome]:
    seeded, notes = _PLAYED["seeded"], _PLAYED["notes"]
    outcomes = []
    for name in names:
        state, refund = EXPECTED[name]
        case = await _wait_state(name, seeded, {state}, _left(deadline))
        lines, refunded = (await _details(http, name, seeded, case)) if case is not None else ([], "-")
        if name in notes:
            lines.append(notes[name])
        outcomes.append(Outcome(name, {**SCENARIOS, **CARRIER_SCENARIOS}[name], state, case.state if case else None,
                                "\n".join(lines), expected_refund=refund, refunded=refunded))
    return outcomes


def report(outcomes: list[Outcome]) -> str:
    lines = ["", f"{'order':7} {'scenario':62} {'expected':20} {'now':20} ok", "-" * 116]
    for o in outcomes:
        lines.append(f"{o.order:7} {o.scenario[:62]:62} {o.expected:20} {o.state or '-':20} "
                     f"{'yes' if o.ok else 'NO'}")
        lines.extend(f"{'':8}{line}" for line in o.detail.splitlines())
        if o.expected_refund is not None and o.refunded != o.expected_refund:
            lines.append(f"{'':8}expected refunds: {o.expected_refund}")
    return "\n".join(lines)
