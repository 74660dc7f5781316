"""Seed orders of the sandbox store "Maison Lumière" (home decor, EUR), one per demo scenario.

`demo_orders()` returns the simplified order JSON that `POST /_control/orders` of the fake
Shopify store accepts (see `sandbox.shopify.SeedOrder`). Order numbers are
stable so the demo script, the supplier fakes and the tests can refer to them:

* **#1001**, scenario 1, unfulfilled order not yet passed on: Camille Durand (fr) ordered a
  table lamp from Atelier Lyon three hours ago; no `sent-to-supplier` tag, so the store cancels
  and refunds at once (C2).
* **#1002**, scenario 2, already passed to an email supplier: Julien Moreau (fr); `ATL-`
  products shipped by `atelier-lyon`, tagged `sent-to-supplier`. The supplier is asked first
  (C3/C8, policy `passed_on_orders: supplier_first`).
* **#1003**, scenario 3, passed to the CJ API supplier: Sophie Lefèvre (fr); vendor
  `CJ Dropshipping`, `CJ-` SKUs, fulfillment order accepted by the CJ fulfillment service.
* **#1004**, scenario 4, partial cancellation: Thomas Petit (fr), two CJ items, one of which
  (`CJ-PLAID-SAUGE`, see `OUT_OF_STOCK_SKUS`) is out of stock at the supplier; the missing item
  is refunded alone (refundCreate with restock CANCEL, after Order.suggestedRefund).
* **#1005**, scenario 5, already shipped with tracking: Emily Clarke (en-GB, London); a DHL
  parcel in transit, so cancellation becomes a return (C4).
* **#1006**, scenario 6, passed to a supplier that will refuse: Nathalie Rousseau (fr);
  `atelier-lyon` again (see `SUPPLIER_WILL_REFUSE`), so the request ends in C8 -> C4.

Return scenarios (delivered orders; the return rules R1-R9 and refunds F1-F5):

* **#1007**, wrong colour, email supplier: Léa Girard (fr), a linen curtain delivered 11 days
  ago; an exchange, return shipping paid by the customer (R4), address asked from
  `atelier-lyon` first (R6).
* **#1008**, damaged on arrival, CJ: Hugo Bernard (fr), a ceramic lamp delivered 2 days ago;
  the store pays, urgent prepaid label, CJ claimed through a dispute (R4).
* **#1009**, keep-it: Chloé Faure (fr), a 9.90 € candle holder that arrived cracked: not worth
  sending back (R5), a replacement without return.
* **#1010**, out of window: Oliver Hughes (en-GB), a vase delivered 45 days ago; a polite
  refusal with the store's alternatives (R1, D1).
* **#1011**, not as described, email supplier: Manon Lambert (fr), a rug delivered 6 days ago;
  the store takes it on, the supplier is claimed, the product is flagged (R4, R9); refunded when
  the goods are in, delivery included (D2).
* **#1012**, changed mind, whole order: Paul Roux (fr), a wall clock delivered 4 days ago;
  withdrawal (D1), tracking (R3), receipt, inspection (R7), refund with delivery (D2, F1-F3).

The operator's desk (issue 17): three cases the demo leaves open for a decision the operator
takes in the Prefect UI (the browser test takes each through its form):

* **#1021**, passed to the email supplier, whose answer the operator records: Inès Moulin (fr),
  a bedside lamp from `atelier-lyon`; the case waits for the supplier (C3/C8).
* **#1022**, a return to inspect: Lucas Fontaine (fr), a wall light sent back to `atelier-lyon`
  and received there; the case waits for the inspection's outcome (R7).
* **#1023**, a refund to approve: Sarah Chevalier (fr), a 289 € rattan armchair returned,
  received and inspected; its refund is above the demo's approval threshold (`refunds.approval_threshold`,
  set by deployments/demo.py), so the run waits, suspended, with its Resume form.

Only the carrier knows (issue 19):

* **#1031**, delivered per DHL only: Inès Carpentier (fr, Lille), a rattan lamp shipped by
  `atelier-lyon` with DHL 26 days ago; no scan of it ever reaches Shopify (the fulfilment stays
  IN_TRANSIT, no `deliveredAt`). Counted from the dispatch, the store's 20-day window has ended:
  only the delivery date can say whether the return is in time. DHL's tracking (the carriers'
  fake, `carrier_parcels`) says the parcel was held three weeks at the depot and delivered in
  Lille 3 days ago: the withdrawal runs from that date (D1). The return parcel is followed at DHL
  too, to the supplier's postcode: the goods are back at DHL's time (R6).

Customer emails use the reserved `example.com` domain; addresses are plausible but invented.
"""

from __future__ import annotations

from typing import Any

STORE_NAME = "Maison Lumière"
SHOP_DOMAIN = "maison-lumiere.myshopify.com"
SENT_TO_SUPPLIER_TAG = "sent-to-supplier"
ATELIER_LYON_VENDOR = "Atelier Lyon"
CJ_VENDOR = "CJ Dropshipping"

# Facts the supplier fakes and the demo script read, kept beside the orders they concern.
OUT_OF_STOCK_SKUS: frozenset[str] = frozenset({"CJ-PLAID-SAUGE"})  # scenario 4
SUPPLIER_WILL_REFUSE: frozenset[str] = frozenset({"#1006"})  # scenario 6

SCENARIOS: dict[str, str] = {
    "#1001": "unfulfilled order, not yet passed on",
    "#1002": "passed to the email supplier atelier-lyon",
    "#1003": "passed to the CJ API supplier",
    "#1004": "two items, one out of stock at the supplier (partial cancellation)",
    "#1005": "already shipped with tracking",
    "#1006": "passed to a supplier that will refuse",
    "#1007": "return: wrong colour, exchange (email supplier)",
    "#1008": "return: damaged on arrival (CJ dispute)",
    "#1009": "return: cheap item cracked, keep it (R5)",
    "#1010": "return: asked after the window, refused (R1)",
    "#1011": "return: not as described, refunded after return",
    "#1012": "return: changed mind, refunded after inspection",
    "#1013": "new order billed in Paris, shipped abroad: fraud signal (K6)",
    "#1014": "new order: confirmation, then tracking when it ships (K6)",
    "#1015": "Shopify Payments dispute: not received, delivered (K3)",
    "#1016": "Stripe dispute: fraudulent, 201 EUR, above the policy amount (K4)",
    "#1017": "PayPal dispute: not received, never shipped (K4)",
}
DESK_SCENARIOS: dict[str, str] = {  # the operator's desk (issue 17): left open for a decision in the UI
    "#1021": "passed to atelier-lyon: its answer, for the operator to record",
    "#1022": "return received at atelier-lyon: the inspection, to record",
    "#1023": "return inspected, 289 EUR refund above the threshold: to approve",
}
SCENARIOS |= DESK_SCENARIOS


# What the CJ supplier knows of the store's orders (its own status), for the CJ fake.
CJ_STATUS: dict[str, str] = {"#1003": "UNPAID", "#1004": "UNSHIPPED", "#1008": "DELIVERED", "#1009": "DELIVERED"}


def cj_orders(seeded: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """The CJ fake's `POST /_control/orders` bodies, from the store's seeded orders (by name)."""
    out = []
    for name, status in CJ_STATUS.items():
        raw = seeded[name]
        products = [{"lineItemId": f"cj-{li['sku']}", "vid": f"vid-{li['sku']}", "quantity": li["quantity"],
                     "sellPrice": "9.50", "sku": li["sku"], "storeLineItemId": li["id"]}
                    for li in raw["line_items"]]
        body: dict[str, Any] = {"orderId": str(raw["legacy_id"]), "status": status, "products": products}
        if status == "DELIVERED":
            body |= {"trackNumber": f"CJPKL{raw['legacy_id']}", "logisticName": "CJPacket"}
        out.append(body)
    return out


def _item(
    vendor: str, title: str, variant: str | None, sku: str, product_type: str, price: str, qty: int = 1
) -> dict[str, Any]:
    return {
        "title": title,
        "variant_title": variant,
        "sku": sku,
        "vendor": vendor,
        "product_type": product_type,
        "price": price,
        "quantity": qty,
    }


def _atelier(*args: Any, **kwargs: Any) -> dict[str, Any]:
    return _item(ATELIER_LYON_VENDOR, *args, **kwargs)


def _cj(*args: Any, **kwargs: Any) -> dict[str, Any]:
    return _item(CJ_VENDOR, *args, **kwargs)


def _customer(first: str, last: str, locale: str) -> dict[str, Any]:
    email = f"{first}.{last}".lower().replace("è", "e").replace("é", "e") + "@example.com"
    return {"first_name": first, "last_name": last, "email": email, "locale": locale}


def _address(address1: str, city: str, zip_code: str, country_code: str = "FR") -> dict[str, Any]:
    return {"address1": address1, "city": city, "zip": zip_code, "country_code": country_code}


def _delivered(days_ago: float, tracking: str, company: str = "Colissimo") -> dict[str, Any]:
    return {
        "tracking_company": company,
        "tracking_number": tracking,
        "tracking_url": f"https://www.laposte.fr/outils/suivre-vos-envois?code={tracking}",
        "shipped_hours_ago": days_ago * 24 + 48,
        "delivered_hours_ago": days_ago * 24,
        "display_status": "DELIVERED",
    }


def _colissimo_events(days_ago: float, city: str, province: str) -> list[dict[str, Any]]:
    """The carrier's events of a parcel handed over in Lyon 2 days before its delivery (as a
    tracking app records them on the fulfilment: `FulfillmentEvent`)."""
    hours = days_ago * 24
    return [
        {"status": "CARRIER_PICKED_UP", "hours_ago": hours + 47, "city": "Lyon", "province": "69", "country": "FR",
         "message": "Votre colis est pris en charge par La Poste"},
        {"status": "IN_TRANSIT", "hours_ago": hours + 30, "city": "Saint-Jacques-de-la-Lande", "province": province,
         "country": "FR", "message": "Votre colis est arrivé sur son site de distribution"},
        {"status": "OUT_FOR_DELIVERY", "hours_ago": hours + 4, "city": city, "province": province, "country": "FR",
         "message": "Votre colis est en cours de livraison"},
        {"status": "DELIVERED", "hours_ago": hours, "city": city, "province": province, "country": "FR",
         "message": "Votre colis est livré"},
    ]


def demo_orders() -> list[dict[str, Any]]:
    """The demo orders, #1001 to #1012 (module docstring: which scenario each serves)."""
    return cancellation_orders() + return_orders()


def return_orders() -> list[dict[str, Any]]:
    """#1007 to #1012: delivered orders for the return scenarios."""
    return [
        {
            "number": 1007,
            "customer": _customer("Léa", "Girard", "fr"),
            "line_items": [_atelier("Rideau en lin lavé", "Bleu orage, 140 × 260 cm", "ATL-RID-LIN-ORAGE", "Textile",
                                    "49.00")],
            "tags": [SENT_TO_SUPPLIER_TAG], "shipping_price": "4.90",
            "shipping_address": _address("9 rue Sainte-Catherine", "Bordeaux", "33000"),
            "fulfillment": _delivered(11, "6A20071107FR"), "placed_hours_ago": 17 * 24,
        },
        {
            "number": 1008,
            "customer": _customer("Hugo", "Bernard", "fr"),
            "line_items": [_cj("Lampe en céramique Dune", "Blanc sable", "CJ-LAMP-DUNE-BS", "Luminaires", "59.90")],
            "tags": [SENT_TO_SUPPLIER_TAG], "shipping_price": "4.90",
            "shipping_address": _address("12 rue de Metz", "Toulouse", "31000"),
            "fulfillment": _delivered(2, "CJPKL20081108", "CJPacket"), "placed_hours_ago": 12 * 24,
        },
        {
            "number": 1009,
            "customer": _customer("Chloé", "Faure", "fr"),
            "line_items": [_cj("Photophore en verre strié", "Ambre", "CJ-PHOTO-STRIE-A", "Décoration", "9.90")],
            "tags": [SENT_TO_SUPPLIER_TAG], "shipping_price": "4.90",
            "shipping_address": _address("5 place Bellecour", "Lyon", "69002"),
            "fulfillment": _delivered(3, "CJPKL20091109", "CJPacket"), "placed_hours_ago": 13 * 24,
        },
        {
            "number": 1010,
            "customer": _customer("Oliver", "Hughes", "en-GB"),
            "line_items": [_atelier("Vase soliflore Brume", "Gris perle", "ATL-VASE-BRUME-GP", "Décoration",
                                    "32.00")],
            "tags": [SENT_TO_SUPPLIER_TAG], "shipping_price": "12.00",
            "shipping_address": _address("8 Hope Street", "Liverpool", "L1 9BQ", country_code="GB"),
            "fulfillment": _delivered(45, "6A20101045FR"), "placed_hours_ago": 52 * 24,
        },
        {
            "number": 1011,
            "customer": _customer("Manon", "Lambert", "fr"),
            "line_items": [_atelier("Tapis berbère Atlas", "160 × 230 cm", "ATL-TAPIS-ATLAS-160", "Textile",
                                    "149.00")],
            "tags": [SENT_TO_SUPPLIER_TAG], "shipping_price": "0.00",
            "shipping_address": _address("30 rue Nationale", "Tours", "37000"),
            "fulfillment": _delivered(6, "6A20111106FR"), "placed_hours_ago": 12 * 24,
        },
        {
            "number": 1012,
            "customer": _customer("Paul", "Roux", "fr"),
            "line_items": [_atelier("Horloge murale Méridienne", "Noyer, Ø 40 cm", "ATL-HORL-MERID-40", "Décoration",
                                    "69.00")],
            "tags": [SENT_TO_SUPPLIER_TAG], "shipping_price": "4.90",
            "shipping_address": _address("2 rue du Palais", "Rennes", "35000"),
            "fulfillment": {**_delivered(4, "6A20121104FR"), "events": _colissimo_events(4, "Rennes", "35")},
            "placed_hours_ago": 9 * 24,
        },
    ]


def prevention_orders() -> list[dict[str, Any]]:
    """#1013 and #1014: new orders the demo announces with `orders/create` (K6). #1013 is billed in
    Paris and shipped to another country: held before the supplier, for the operator. #1014 is
    clean: confirmed, then its tracking sent when the supplier ships."""
    return [
        {
            "number": 1013,
            "customer": _customer("Nina", "Petit", "fr"),
            "line_items": [_atelier("Miroir rotin Soleil", "Ø 60 cm", "ATL-MIR-SOLEIL-60", "Décoration", "89.00")],
            "shipping_price": "9.90",
            "shipping_address": _address("14 rue Neuve", "Bruxelles", "1000", country_code="BE"),
            "billing_address": _address("3 rue des Martyrs", "Paris", "75009"),
        },
        {
            "number": 1014,
            "customer": _customer("Jules", "Mercier", "fr"),
            "line_items": [_atelier("Coussin lin lavé", "Terracotta, 45 × 45 cm", "ATL-COUS-LIN-TERRA", "Textile",
                                    "29.00")],
            "shipping_price": "4.90",
            "shipping_address": _address("21 quai de la Fosse", "Nantes", "44000"),
        },
    ]


def dispute_orders() -> list[dict[str, Any]]:
    """#1015 to #1017: delivered or unshipped orders the customers' banks dispute, one per
    processor (K1-K5): Shopify Payments, Stripe, PayPal."""
    return [
        {
            "number": 1015,
            "customer": _customer("Camille", "Blanc", "fr"),
            "line_items": [_atelier("Suspension en osier Nid", "Naturel, Ø 45 cm", "ATL-SUSP-NID-45", "Luminaires",
                                    "79.00")],
            "tags": [SENT_TO_SUPPLIER_TAG], "shipping_price": "4.90",
            "shipping_address": _address("7 rue de la République", "Marseille", "13002"),
            "fulfillment": _delivered(20, "6A20151120FR"), "placed_hours_ago": 26 * 24,
        },
        {
            "number": 1016,
            "customer": _customer("Emma", "Wilson", "en-GB"),
            "line_items": [_cj("Lampadaire laiton Arc", "Laiton brossé", "CJ-LAMPA-ARC-LB", "Luminaires", "189.00")],
            "tags": [SENT_TO_SUPPLIER_TAG], "shipping_price": "12.00", "gateway": "stripe",
            "shipping_address": _address("22 Rose Street", "Edinburgh", "EH2 2PR", country_code="GB"),
            "fulfillment": _delivered(15, "CJPKL20161115", "CJPacket"), "placed_hours_ago": 24 * 24,
        },
        {
            "number": 1017,
            "customer": _customer("Théo", "Garnier", "fr"),
            "line_items": [_atelier("Plaid en laine Alpage", "Écru", "ATL-PLAID-ALP-EC", "Textile", "45.00")],
            "tags": [SENT_TO_SUPPLIER_TAG], "shipping_price": "4.90", "gateway": "paypal",
            "shipping_address": _address("4 rue Gambetta", "Lille", "59000"), "placed_hours_ago": 30 * 24,
        },
    ]


CARRIER_SCENARIOS: dict[str, str] = {  # issue 19: only the carrier knows
    "#1031": "return: delivery known only from DHL (D1), the return parcel at DHL",
}
CARRIER_OUTBOUND = "3100310031"  # #1031's parcel at DHL (10 digits: a DHL Express waybill)
CARRIER_RETURN = "3100310032"  # ... and the return parcel the customer posts with DHL


def carrier_orders() -> list[dict[str, Any]]:
    """#1031: shipped with DHL; Shopify never hears of the delivery (issue 19)."""
    return [
        {
            "number": 1031,
            "customer": _customer("Inès", "Carpentier", "fr"),
            "line_items": [_atelier("Lampe à poser Rotin", "Naturel, H 42 cm", "ATL-LAMP-ROTIN-42", "Luminaires",
                                    "84.00")],
            "tags": [SENT_TO_SUPPLIER_TAG], "shipping_price": "4.90",
            "shipping_address": _address("14 rue Esquermoise", "Lille", "59800"),
            "fulfillment": {"tracking_company": "DHL Express", "tracking_number": CARRIER_OUTBOUND,
                            "tracking_url": f"https://www.dhl.com/fr-fr/home/suivi.html?tracking-id={CARRIER_OUTBOUND}",
                            "shipped_hours_ago": 26 * 24, "display_status": "IN_TRANSIT"},
            "placed_hours_ago": 28 * 24,
        },
    ]


def carrier_parcels(now_iso: Any) -> list[dict[str, Any]]:
    """What DHL's tracking says of #1031's parcel (the carriers' fake `POST /_control/parcels`):
    taken in Lyon 26 days ago, held three weeks at the Lesquin depot (an incomplete address),
    delivered by hand in Lille 3 days ago. `now_iso(hours_ago)` gives the ISO time so many hours
    ago."""
    return [{"carrier": "dhl", "number": CARRIER_OUTBOUND, "events": [
        {"code": "pre-transit", "at": now_iso(26 * 24 + 3), "city": "Lyon", "postcode": "69007", "country": "FR",
         "label": "Shipment information received"},
        {"code": "transit", "at": now_iso(26 * 24), "city": "Lyon", "postcode": "69007", "country": "FR",
         "label": "Shipment picked up"},
        {"code": "transit", "at": now_iso(25 * 24), "city": "Lesquin", "postcode": "59810", "country": "FR",
         "label": "Arrived at the delivery facility"},
        {"code": "failure", "at": now_iso(24 * 24), "city": "Lesquin", "postcode": "59810", "country": "FR",
         "label": "Shipment on hold: the address is incomplete"},
        {"code": "transit", "at": now_iso(4 * 24), "city": "Lesquin", "postcode": "59810", "country": "FR",
         "label": "Address corrected, shipment on its way"},
        {"code": "delivered", "at": now_iso(3 * 24), "city": "Lille", "postcode": "59800", "country": "FR",
         "label": "Delivered - signed for by the recipient"},
    ]}]


def cancellation_orders() -> list[dict[str, Any]]:
    """#1001 to #1006: the cancellation scenarios."""
    return [
        {
            "number": 1001,
            "customer": _customer("Camille", "Durand", "fr"),
            "line_items": [
                _atelier(
                    "Lampe à poser Céleste", "Laiton brossé", "ATL-LAMP-CELESTE-LB", "Luminaires", "89.00"
                ),
            ],
            "shipping_price": "4.90",
            "shipping_address": _address("18 rue des Capucins", "Lyon", "69001"),
            "placed_hours_ago": 3,
        },
        {
            "number": 1002,
            "customer": _customer("Julien", "Moreau", "fr"),
            "line_items": [
                _atelier("Miroir rond Soleil en rotin", "Ø 60 cm", "ATL-MIR-SOLEIL-60", "Miroirs", "129.00"),
                _atelier(
                    "Coussin en lin lavé", "Terracotta", "ATL-COUS-LIN-TERRA", "Textile", "34.50", qty=2
                ),
            ],
            "tags": [SENT_TO_SUPPLIER_TAG],
            "shipping_price": "0.00",
            "shipping_address": _address("7 cours de l'Intendance", "Bordeaux", "33000"),
            "placed_hours_ago": 30,
        },
        {
            "number": 1003,
            "customer": _customer("Sophie", "Lefèvre", "fr"),
            "line_items": [
                _cj(
                    "Guirlande lumineuse 10 m",
                    "100 LED, blanc chaud",
                    "CJ-GUIR-LED-10M",
                    "Luminaires",
                    "24.90",
                    2,
                ),
                _cj("Bougeoirs en verre fumé", "Lot de 3", "CJ-BOUG-VERRE-3", "Décoration", "29.90"),
            ],
            "tags": [SENT_TO_SUPPLIER_TAG],
            "shipping_price": "4.90",
            "shipping_address": _address("25 quai de la Fosse", "Nantes", "44000"),
            "fulfillment_service": {
                "location_name": CJ_VENDOR,
                "status": "IN_PROGRESS",
                "request_status": "ACCEPTED",
            },
            "placed_hours_ago": 20,
        },
        {
            "number": 1004,
            "customer": _customer("Thomas", "Petit", "fr"),
            "line_items": [
                _cj("Vase en céramique Galet", "Sable", "CJ-VASE-GALET-S", "Décoration", "39.90"),
                _cj("Plaid gaufré en coton", "Vert sauge", "CJ-PLAID-SAUGE", "Textile", "49.00"),
            ],
            "shipping_price": "4.90",
            "shipping_address": _address("3 place Rihour", "Lille", "59000"),
            "note": "CJ signale une rupture de stock sur le plaid vert sauge (CJ-PLAID-SAUGE).",
            "placed_hours_ago": 26,
        },
        {
            "number": 1005,
            "customer": _customer("Emily", "Clarke", "en-GB"),
            "line_items": [
                _atelier("Suspension Nuage en papier", "Ø 45 cm", "ATL-SUSP-NUAGE-45", "Luminaires", "79.00"),
            ],
            "tags": [SENT_TO_SUPPLIER_TAG],
            "shipping_price": "12.00",
            "shipping_address": _address("41 Elgin Crescent", "London", "W11 2JD", country_code="GB"),
            "fulfillment": {
                "tracking_company": "DHL Express",
                "tracking_number": "1234567890",
                "tracking_url": "https://www.dhl.com/gb-en/home/tracking.html?tracking-id=1234567890",
                "shipped_hours_ago": 50,
                "display_status": "IN_TRANSIT",
            },
            "placed_hours_ago": 96,
        },
        {
            "number": 1006,
            "customer": _customer("Nathalie", "Rousseau", "fr"),
            "line_items": [
                _atelier("Table d'appoint Atoll", "Chêne massif", "ATL-TABLE-ATOLL-CH", "Mobilier", "189.00"),
            ],
            "tags": [SENT_TO_SUPPLIER_TAG],
            "shipping_price": "9.90",
            "shipping_address": _address("60 rue de la République", "Marseille", "13002"),
            "placed_hours_ago": 44,
        },
    ]


def desk_orders() -> list[dict[str, Any]]:
    """#1021 to #1023: the cases the demo leaves open for the operator's desk (issue 17; module
    docstring)."""
    return [
        {
            "number": 1021,
            "customer": _customer("Inès", "Moulin", "fr"),
            "line_items": [_atelier("Lampe de chevet Perle", "Opaline blanche", "ATL-LAMP-PERLE-OB", "Luminaires",
                                    "59.00")],
            "tags": [SENT_TO_SUPPLIER_TAG], "shipping_price": "4.90",
            "shipping_address": _address("11 rue de la Part-Dieu", "Lyon", "69003"),
            "placed_hours_ago": 28,
        },
        {
            "number": 1022,
            "customer": _customer("Lucas", "Fontaine", "fr"),
            "line_items": [_atelier("Applique murale Onde", "Laiton, 30 cm", "ATL-APPL-ONDE-30", "Luminaires",
                                    "79.00")],
            "tags": [SENT_TO_SUPPLIER_TAG], "shipping_price": "4.90",
            "shipping_address": _address("8 rue Sainte-Catherine", "Bordeaux", "33000"),
            "fulfillment": _delivered(5, "6A20221105FR"), "placed_hours_ago": 10 * 24,
        },
        {
            "number": 1023,
            "customer": _customer("Sarah", "Chevalier", "fr"),
            "line_items": [_atelier("Fauteuil en rotin Riviera", "Naturel", "ATL-FAUT-RIVIERA-N", "Mobilier",
                                    "289.00")],
            "tags": [SENT_TO_SUPPLIER_TAG], "shipping_price": "0.00",
            "shipping_address": _address("15 rue Paradis", "Marseille", "13001"),
            "fulfillment": _delivered(6, "6A20231106FR"), "placed_hours_ago": 11 * 24,
        },
    ]
