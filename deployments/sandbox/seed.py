"""Seed orders of the sandbox store "Maison Lumière" (home decor, EUR), one per demo scenario.

`demo_orders()` returns the simplified order JSON that `POST /_control/orders` of the fake
Shopify store accepts (see `deployments.sandbox.shopify_fake.SeedOrder`). Order numbers are
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
}


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


def demo_orders() -> list[dict[str, Any]]:
    """The six demo orders, #1001 to #1006 (module docstring: which scenario each serves)."""
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
