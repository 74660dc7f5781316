"""The natural key of an order's delivery refund (D2, flows/returns.refund_delivery_left): one per
order of a store, the same whichever id of the order a run holds."""

from __future__ import annotations

from tasks.store import order_delivery_refund_key


def test_two_stores_orders_of_the_same_number_have_their_own_delivery_refund() -> None:
    one = order_delivery_refund_key("maison-lumiere.myshopify.com", "gid://shopify/Order/5001")
    other = order_delivery_refund_key("atelier-nord.myshopify.com", "gid://shopify/Order/5001")
    assert one != other


def test_the_order_s_gid_and_legacy_id_name_one_delivery_refund() -> None:
    store = "maison-lumiere.myshopify.com"
    assert order_delivery_refund_key(store, "gid://shopify/Order/5001") == order_delivery_refund_key(store, "5001")
