"""ShopifyClient against the fake store over real HTTP (INTEGRATIONS.md 1.2 to 1.5, 1.7, 1.9).

Every request the client sends is validated by the fake against the real 2026-01 SDL and
executed against it, so these tests also prove the documents and the mapping fit the contract.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from decimal import Decimal

import httpx
import pytest

from domain.errors import (
    AuthenticationFailed,
    InvalidInput,
    NotFound,
    PermanentError,
    RateLimited,
    TransientError,
)
from domain.money import Money
from domain.orders import FulfillmentState, Order, TransactionKind
from integrations.shopify import (
    RefundLine,
    RefundResult,
    RefundTransaction,
    ShopifyClient,
    ShopifySettings,
    verify_webhook,
)
from sandbox.seed import demo_orders
from sandbox.shopify import FakeShopifyServer
from tests.integration import shopify_fixtures as sf
from tests.integration.shopify_fixtures import (  # noqa: F401 - fixtures, registered by import
    client_fixture,
    control_fixture,
    http_fixture,
    sink_fixture,
    sleep_fixture,
    store_fixture,
)

NUMBER = 2001
ORDER_ID = sf.legacy_id(NUMBER)
ORDER_GID = f"gid://shopify/Order/{ORDER_ID}"


async def _seeded(control: sf.Control, **overrides: object) -> dict[str, object]:
    return await control.seed(sf.two_item_order(NUMBER, **overrides))


async def _cancel(client: ShopifyClient, *, store_credit: bool = False, restock: bool = True) -> str:
    """Cancel the seeded order for a customer request (C2), returning the Job id."""
    return await client.orders.cancel(
        ORDER_ID,
        reason="CUSTOMER",
        refund_to_store_credit=store_credit,
        restock=restock,
        notify_customer=False,
        staff_note=None,
    )


async def _refund_plaid(
    client: ShopifyClient, order: Order, key: str, amount: Decimal = sf.PLAID_PRICE
) -> RefundResult:
    """Refund the plaid (second line) of a freshly read two-item order, restock CANCEL."""
    plaid, sale = order.line_items[1], order.transactions[0]
    return await client.refunds.create(
        order.id,
        idempotency_key=key,
        line_items=[RefundLine(line_item_id=plaid.id, quantity=1, restock_type="CANCEL")],
        transactions=[
            RefundTransaction(
                parent_id=sale.id, gateway=sale.gateway, amount=Money.of(amount, order.currency)
            )
        ],
        note="Plaid en rupture chez le fournisseur",
    )


# ---------------------------------------------------------------------- reading orders (1.7)


async def test_get_order_reads_everything_the_domain_needs(
    control: sf.Control, client: ShopifyClient
) -> None:
    await _seeded(control)

    order = await client.orders.get(ORDER_GID)

    assert (order.id, order.legacy_id, order.name) == (ORDER_GID, str(ORDER_ID), "#2001")
    assert (order.customer.first_name, order.customer.last_name, order.customer.locale) == (
        "Léa",
        "Fontaine",
        "fr",
    )
    assert order.email == order.customer.email == "lea.fontaine@example.com"
    assert order.locale == "fr"
    assert order.tags == ["sent-to-supplier"]
    assert order.currency == "EUR"
    assert order.total_price == order.total_received == Money.of("93.80", "EUR")
    assert order.total_refunded.is_zero()
    assert (order.financial_status, order.fulfillment_status) == ("PAID", "UNFULFILLED")
    assert order.payment_gateways == ["shopify_payments"]
    vase, plaid = order.line_items
    assert (plaid.sku, plaid.vendor, plaid.product_type) == ("CJ-PLAID-SAUGE", "CJ Dropshipping", "Textile")
    assert plaid.unit_price == Money.of("49.00", "EUR")
    assert (
        plaid.quantity,
        plaid.current_quantity,
        plaid.unfulfilled_quantity,
        plaid.refundable_quantity,
    ) == (1, 1, 1, 1)
    assert plaid.product_id is not None and plaid.product_id.startswith("gid://shopify/Product/")
    [sale] = order.transactions
    assert (sale.kind, sale.status, sale.amount) == (
        TransactionKind.SALE,
        "SUCCESS",
        Money.of("93.80", "EUR"),
    )
    assert sale.maximum_refundable == Money.of("93.80", "EUR")
    [fulfillment_order] = order.fulfillment_orders
    assert fulfillment_order.line_item_quantities == {vase.id: 1, plaid.id: 1}
    assert order.shipping_address is not None and order.shipping_address.city == "Lille"
    assert order.shipping_address.first_name == "Léa"
    assert order.suggested_refund is not None and order.suggested_refund.amount == Money.of("93.80", "EUR")
    assert not order.has_shipped and not order.is_cancelled


async def test_numeric_id_and_gid_read_the_same_order(control: sf.Control, client: ShopifyClient) -> None:
    await _seeded(control)

    assert await client.orders.get(ORDER_ID) == await client.orders.get(str(ORDER_ID))
    assert (await client.orders.get(ORDER_ID)).id == ORDER_GID


async def test_shipped_order_exposes_tracking_and_delivery(
    control: sf.Control, client: ShopifyClient
) -> None:
    await _seeded(control)
    await control.fulfill(
        ORDER_ID,
        tracking_company="Colissimo",
        tracking_number="6A12345678901",
        tracking_url="https://www.laposte.fr/outils/suivre-vos-envois?code=6A12345678901",
        delivered_hours_ago=2,
    )

    order = await client.orders.get(ORDER_ID)

    assert order.has_shipped
    [fulfillment] = order.fulfillments
    assert fulfillment.status == FulfillmentState.SUCCESS
    assert fulfillment.display_status == "DELIVERED" and fulfillment.delivered_at is not None
    assert fulfillment.tracking[0].number == "6A12345678901"
    assert sum(fulfillment.line_item_quantities.values()) == 2
    assert order.fulfillment_status == "FULFILLED"
    assert all(li.unfulfilled_quantity == 0 for li in order.line_items)


async def test_the_carrier_events_of_a_parcel_are_read_oldest_first(
    control: sf.Control, client: ShopifyClient
) -> None:
    """Issue 15: `Fulfillment.events` (FulfillmentEvent: status, happenedAt, city, country,
    message), the timeline a "not received" answer shows; none recorded: an empty list."""
    await _seeded(control)
    await control.fulfill(ORDER_ID, tracking_company="Colissimo", tracking_number="6A12345678901", events=[
        {"status": "IN_TRANSIT", "hours_ago": 30, "city": "Lyon", "country": "FR", "message": "En transit"},
        {"status": "CARRIER_PICKED_UP", "hours_ago": 40, "city": "Lyon", "country": "FR"},
    ])
    [bare] = (await client.orders.get(ORDER_ID)).fulfillments
    await control._call("POST", f"/orders/{ORDER_ID}/deliver")

    [fulfillment] = (await client.orders.get(ORDER_ID)).fulfillments

    assert [e.status for e in bare.events] == ["CARRIER_PICKED_UP", "IN_TRANSIT"]
    assert [e.status for e in fulfillment.events] == ["CARRIER_PICKED_UP", "IN_TRANSIT", "DELIVERED"]
    assert fulfillment.events[1].message == "En transit" and fulfillment.events[1].city == "Lyon"
    assert fulfillment.events[0].happened_at < fulfillment.events[1].happened_at < fulfillment.events[2].happened_at
    assert fulfillment.events[2].happened_at == fulfillment.delivered_at


async def test_unknown_order_is_not_found(control: sf.Control, client: ShopifyClient) -> None:
    with pytest.raises(NotFound) as caught:
        await client.orders.get(ORDER_ID)
    assert caught.value.vendor == "shopify" and not caught.value.retryable
    assert caught.value.request_id


async def test_malformed_order_id_is_refused_before_any_call(
    control: sf.Control, client: ShopifyClient
) -> None:
    with pytest.raises(InvalidInput):
        await client.orders.get("gid://shopify/Customer/12")
    assert await control.calls() == []


@pytest.mark.parametrize("name", ["2001", "#2001", " #2001 "])
async def test_find_order_by_name(control: sf.Control, client: ShopifyClient, name: str) -> None:
    await _seeded(control)
    await control.seed(sf.two_item_order(2002))

    order = await client.orders.find_by_name(name)

    assert order is not None and order.name == "#2001"
    [call] = await control.calls("orders")
    assert call["variables"] == {"query": "name:#2001"}


async def test_find_order_by_unknown_name_is_none(control: sf.Control, client: ShopifyClient) -> None:
    await _seeded(control)

    assert await client.orders.find_by_name("#9999") is None


async def test_find_order_by_payment_matches_the_processor_payment_id(control: sf.Control,
                                                                     client: ShopifyClient) -> None:
    """Issue 15: a PayPal dispute that names only its transaction is tied through the store's
    transactions (`paymentId`), among the orders paid by PayPal around the payment's time."""
    await _seeded(control, gateway="paypal", payment_id="3BC38643YC807283D")
    await control.seed(sf.two_item_order(2002, gateway="paypal", payment_id="9XF14200T8003681K"))
    await control.seed(sf.two_item_order(2003))  # Shopify Payments: not searched

    found = await client.orders.find_by_payment("9XF14200T8003681K", gateway="paypal", paid_at=datetime.now(UTC))

    assert found is not None and found.name == "#2002"
    assert [t.payment_id for t in found.transactions] == ["9XF14200T8003681K"]
    assert await client.orders.find_by_payment("0000000000000000X", gateway="paypal",
                                              paid_at=datetime.now(UTC)) is None
    search = [c["variables"]["query"] for c in await control.calls("orders")]
    assert search and all(q.startswith("gateway:paypal created_at:>=") for q in search)


# ---------------------------------------------------------------------- cancellation (1.4)


async def test_cancel_then_poll_the_job_until_done(
    control: sf.Control, client: ShopifyClient, sleep: sf.RecordingSleep
) -> None:
    await control.reset(job_polls_until_done=3)
    await _seeded(control)

    job_id = await client.orders.cancel(
        ORDER_ID,
        reason="customer",
        refund_to_store_credit=False,
        restock=True,
        notify_customer=False,
        staff_note="C2: annulation demandée par la cliente",
    )
    assert job_id.startswith("gid://shopify/Job/")
    assert await client.orders.job_done(job_id) is False  # poll 1 of 3
    await client.orders.wait_for_job(job_id)  # poll 2 (not done), pause, poll 3 (done)

    assert sleep.calls == [0.5]
    order = await client.orders.get(ORDER_ID)
    assert order.is_cancelled and order.cancel_reason == "CUSTOMER"
    assert order.total_refunded == order.total_received == Money.of("93.80", "EUR")
    assert order.financial_status == "REFUNDED"
    assert all(li.current_quantity == 0 and li.unfulfilled_quantity == 0 for li in order.line_items)
    raw = await control.order(ORDER_ID)
    [refund] = raw["refunds"]
    assert (refund["source"], refund["total"], refund["store_credit"]) == ("orderCancel", "93.80", False)
    assert raw["restocked"] == {"CJ-VASE-GALET-S": 1, "CJ-PLAID-SAUGE": 1}
    assert raw["staff_note"] == "C2: annulation demandée par la cliente"
    [cancel_call] = await control.calls("orderCancel")
    assert cancel_call["variables"]["refundMethod"] == {"originalPaymentMethodsRefund": True}
    assert cancel_call["variables"]["reason"] == "CUSTOMER"


async def test_cancel_to_store_credit_without_restock(control: sf.Control, client: ShopifyClient) -> None:
    await _seeded(control)

    job_id = await client.orders.cancel(
        ORDER_ID,
        reason="INVENTORY",
        refund_to_store_credit=True,
        restock=False,
        notify_customer=False,
        staff_note=None,
    )
    await client.orders.wait_for_job(job_id)

    raw = await control.order(ORDER_ID)
    [refund] = raw["refunds"]
    assert refund["store_credit"] is True and refund["total"] == "93.80"
    assert raw["restocked"] == {"CJ-VASE-GALET-S": 0, "CJ-PLAID-SAUGE": 0}
    assert raw["cancel_reason"] == "INVENTORY"


async def test_wait_for_job_gives_up_after_its_timeout(
    control: sf.Control, client: ShopifyClient, sleep: sf.RecordingSleep
) -> None:
    await control.reset(job_polls_until_done=100)
    await _seeded(control)
    job_id = await _cancel(client)

    with pytest.raises(TransientError) as caught:
        await client.orders.wait_for_job(job_id, timeout=1.0)

    assert caught.value.code == "JOB_NOT_DONE" and caught.value.retryable
    assert sum(sleep.calls) == pytest.approx(1.0)


async def test_cancelling_twice_is_a_permanent_error(control: sf.Control, client: ShopifyClient) -> None:
    await _seeded(control)
    await client.orders.wait_for_job(await _cancel(client))

    with pytest.raises(PermanentError) as caught:
        await _cancel(client)

    assert caught.value.code == "INVALID" and "already been cancelled" in caught.value.message
    assert len(await control.calls("orderCancel")) == 2  # refused, and never resent


async def test_shipped_order_cannot_be_cancelled(control: sf.Control, client: ShopifyClient) -> None:
    await _seeded(control)
    await control.fulfill(ORDER_ID, tracking_company="Colissimo", tracking_number="6A00000000001")

    with pytest.raises(PermanentError) as caught:
        await _cancel(client)

    assert caught.value.code == "INVALID"
    assert (await control.order(ORDER_ID))["cancelled"] is False


async def test_cancel_user_error_is_permanent_and_not_retried(
    control: sf.Control, client: ShopifyClient
) -> None:
    await _seeded(control)
    await control.fault(
        "orderCancel", "user_error", message="No refund permission.", code="NO_REFUND_PERMISSION"
    )

    with pytest.raises(PermanentError) as caught:
        await _cancel(client)

    assert caught.value.code == "NO_REFUND_PERMISSION" and not caught.value.retryable
    assert len(await control.calls("orderCancel")) == 1


async def test_cancel_timeout_is_ambiguous_and_not_resent(
    control: sf.Control, store: FakeShopifyServer, http: httpx.AsyncClient, sleep: sf.RecordingSleep
) -> None:
    await _seeded(control)
    await control.fault("orderCancel", "timeout", seconds=1.0)
    client = sf.make_client(store, http, sleep, timeout_seconds=0.3)

    with pytest.raises(TransientError) as caught:
        await _cancel(client)

    assert caught.value.ambiguous and not caught.value.retryable
    assert len(await control.calls("orderCancel")) == 1
    assert sleep.calls == []
    # Reconciliation: the caller reads the order and learns the cancellation went through.
    assert (await client.orders.get(ORDER_ID)).is_cancelled


async def test_cancel_server_error_is_ambiguous_and_not_resent(
    control: sf.Control, client: ShopifyClient
) -> None:
    await _seeded(control)
    await control.fault("orderCancel", "http_500")

    with pytest.raises(TransientError) as caught:
        await _cancel(client)

    assert caught.value.ambiguous and caught.value.status_code == 500
    [call] = await control.calls("orderCancel")
    assert caught.value.request_id == call["request_id"]
    assert not (await client.orders.get(ORDER_ID)).is_cancelled


# ---------------------------------------------------------------------- refunds (1.3, 1.5)


async def test_suggested_refund_for_one_missing_item(control: sf.Control, client: ShopifyClient) -> None:
    await _seeded(control)
    order = await client.orders.get(ORDER_ID)
    plaid = order.line_items[1]

    suggestion = await client.refunds.suggest(ORDER_ID, line_items=[(plaid.id, 1)], refund_shipping=False)

    assert suggestion.amount == Money.of("49.00", "EUR")
    [transaction] = suggestion.transactions
    assert transaction.parent_id == order.transactions[0].id
    assert (transaction.gateway, transaction.kind) == ("shopify_payments", TransactionKind.SUGGESTED_REFUND)
    assert transaction.amount == Money.of("49.00", "EUR")


async def test_partial_refund_with_cancel_restock_reduces_the_line(
    control: sf.Control, client: ShopifyClient
) -> None:
    await _seeded(control)
    order = await client.orders.get(ORDER_ID)

    result = await _refund_plaid(client, order, "refund:case-1:plaid")

    assert result.amount == Money.of("49.00", "EUR") and result.id.startswith("gid://shopify/Refund/")
    after = await client.orders.get(ORDER_ID)
    vase_after, plaid_after = after.line_items
    assert (
        plaid_after.current_quantity,
        plaid_after.unfulfilled_quantity,
        plaid_after.refundable_quantity,
    ) == (0, 0, 0)
    assert (vase_after.current_quantity, vase_after.unfulfilled_quantity) == (1, 1)
    assert after.total_refunded == Money.of("49.00", "EUR")
    assert after.financial_status == "PARTIALLY_REFUNDED"
    assert (
        after.refunds[0].id == result.id and after.refunds[0].note == "Plaid en rupture chez le fournisseur"
    )


async def test_same_idempotency_key_twice_gives_one_refund(
    control: sf.Control, client: ShopifyClient
) -> None:
    await _seeded(control)
    order = await client.orders.get(ORDER_ID)

    first = await _refund_plaid(client, order, "refund:case-2:plaid")
    second = await _refund_plaid(client, order, "refund:case-2:plaid")

    assert second == first
    raw = await control.order(ORDER_ID)
    assert len(raw["refunds"]) == 1 and raw["refunded"] == "49.00"
    calls = await control.calls("refundCreate")
    assert [c["idempotency_key"] for c in calls] == ["refund:case-2:plaid", "refund:case-2:plaid"]


async def test_same_key_with_another_input_is_refused(control: sf.Control, client: ShopifyClient) -> None:
    await _seeded(control)
    order = await client.orders.get(ORDER_ID)
    await _refund_plaid(client, order, "refund:case-3")

    with pytest.raises(PermanentError) as caught:
        await _refund_plaid(client, order, "refund:case-3", Decimal("10.00"))

    assert caught.value.code == "IDEMPOTENCY_KEY_PARAMETER_MISMATCH"
    assert len((await control.order(ORDER_ID))["refunds"]) == 1


async def test_refund_user_errors_are_permanent_and_not_retried(
    control: sf.Control, client: ShopifyClient, sleep: sf.RecordingSleep
) -> None:
    await _seeded(control)
    order = await client.orders.get(ORDER_ID)

    with pytest.raises(PermanentError) as caught:
        await _refund_plaid(client, order, "refund:case-4", Decimal("150.00"))

    assert caught.value.code == "USER_ERROR" and not caught.value.retryable
    assert "exceeds the refundable amount" in caught.value.message
    assert len(await control.calls("refundCreate")) == 1
    assert sleep.calls == []
    assert (await control.order(ORDER_ID))["refunds"] == []


async def test_refund_answer_lost_after_commit_is_retried_with_the_same_key(
    control: sf.Control, client: ShopifyClient, sleep: sf.RecordingSleep
) -> None:
    await _seeded(control)
    order = await client.orders.get(ORDER_ID)
    await control.fault("refundCreate", "http_500_after_commit")

    result = await _refund_plaid(client, order, "refund:case-5:plaid")

    calls = await control.calls("refundCreate")
    assert [(c["status"], c["idempotency_key"]) for c in calls] == [
        (500, "refund:case-5:plaid"),
        (200, "refund:case-5:plaid"),
    ]
    raw = await control.order(ORDER_ID)
    [refund] = raw["refunds"]
    assert refund["id"] == result.id and raw["refunded"] == "49.00"
    assert sleep.calls == [0.5]


async def test_refund_timeout_is_resent_with_the_same_key_and_refunds_once(
    control: sf.Control, store: FakeShopifyServer, http: httpx.AsyncClient, sleep: sf.RecordingSleep
) -> None:
    await _seeded(control)
    client = sf.make_client(store, http, sleep, timeout_seconds=0.3)
    order = await client.orders.get(ORDER_ID)
    await control.fault("refundCreate", "timeout", seconds=1.0)

    result = await _refund_plaid(client, order, "refund:case-6:plaid")

    calls = await control.calls("refundCreate")
    assert [c["outcome"] for c in calls] == ["fault:timeout", "ok"]
    assert {c["idempotency_key"] for c in calls} == {"refund:case-6:plaid"}
    [refund] = (await control.order(ORDER_ID))["refunds"]
    assert refund["id"] == result.id


# ---------------------------------------------------------------------- limits and failures (1.1, 1.2)


async def test_throttled_then_success_waits_the_computed_time(
    control: sf.Control, client: ShopifyClient, sleep: sf.RecordingSleep
) -> None:
    await control.reset(bucket_size=100_000.0, restore_rate=50.0)
    await _seeded(control)
    await control.fault("order", "throttled", available=100)

    order = await client.orders.get(ORDER_ID)

    assert order.name == "#2001"
    throttled, ok = await control.calls("order")
    assert (throttled["outcome"], ok["outcome"]) == ("fault:throttled", "ok")
    cost = throttled["cost"]
    expected = (cost["requestedQueryCost"] - cost["throttleStatus"]["currentlyAvailable"]) / 50.0
    assert cost["throttleStatus"]["currentlyAvailable"] == 100
    assert sleep.calls == [pytest.approx(expected)]


async def test_throttling_beyond_the_wait_budget_raises_rate_limited(
    control: sf.Control, client: ShopifyClient, sleep: sf.RecordingSleep
) -> None:
    # A bucket smaller than one order read: the store can never serve it right now.
    await control.reset(bucket_size=500.0, restore_rate=10.0)
    await _seeded(control)

    with pytest.raises(RateLimited) as caught:
        await client.orders.get(ORDER_ID)

    calls = await control.calls("order")
    assert {c["outcome"] for c in calls} == {"throttled"}
    requested = calls[0]["cost"]["requestedQueryCost"]
    wait = (requested - 500) / 10.0
    assert sleep.calls == [pytest.approx(wait)] * len(sleep.calls)
    assert sum(sleep.calls) <= 20.0 < sum(sleep.calls) + wait
    assert caught.value.retry_after == pytest.approx(wait)
    assert caught.value.code == "THROTTLED" and caught.value.retryable


async def test_http_429_is_rate_limited_with_retry_after(control: sf.Control, client: ShopifyClient) -> None:
    await _seeded(control)
    await control.fault("order", "http_429", retry_after=7)

    with pytest.raises(RateLimited) as caught:
        await client.orders.get(ORDER_ID)

    assert caught.value.retry_after == 7.0 and caught.value.status_code == 429
    assert len(await control.calls("order")) == 1


async def test_query_server_errors_are_resent_briefly(
    control: sf.Control, client: ShopifyClient, sleep: sf.RecordingSleep
) -> None:
    await _seeded(control)
    await control.fault("order", "http_500", count=2)

    order = await client.orders.get(ORDER_ID)

    assert order.name == "#2001"
    assert [c["status"] for c in await control.calls("order")] == [500, 500, 200]
    assert sleep.calls == [0.5, 1.5]


async def test_the_resend_waits_are_the_clients_setting(
    control: sf.Control, store: FakeShopifyServer, http: httpx.AsyncClient, sleep: sf.RecordingSleep
) -> None:
    """tasks/clients.py passes the waits scaled like the task retries' (zero in the suite): the
    same resends, after the waits it was given."""
    settings = ShopifySettings(base_url=store.base_url, access_token=sf.ACCESS_TOKEN)
    client = ShopifyClient(settings, http, sleep=sleep, resend_backoff=(0.0, 0.25))
    await _seeded(control)
    await control.fault("order", "http_500", count=2)

    assert (await client.orders.get(ORDER_ID)).name == "#2001"
    assert [c["status"] for c in await control.calls("order")] == [500, 500, 200]
    assert sleep.calls == [0.0, 0.25]


async def test_query_server_errors_beyond_two_resends_raise_transient(
    control: sf.Control, client: ShopifyClient
) -> None:
    await _seeded(control)
    await control.fault("order", "http_500", count=3)

    with pytest.raises(TransientError) as caught:
        await client.orders.get(ORDER_ID)

    assert caught.value.retryable and not caught.value.ambiguous
    calls = await control.calls("order")
    assert len(calls) == 3
    assert caught.value.request_id == calls[-1]["request_id"]


async def test_wrong_token_is_authentication_failed(
    control: sf.Control, store: FakeShopifyServer, http: httpx.AsyncClient, sleep: sf.RecordingSleep
) -> None:
    client = sf.make_client(store, http, sleep, access_token="shpat_wrong")

    with pytest.raises(AuthenticationFailed) as caught:
        await client.orders.get(ORDER_ID)

    assert caught.value.status_code == 401 and caught.value.request_id
    assert sleep.calls == []


async def test_unreachable_store_is_transient(http: httpx.AsyncClient, sleep: sf.RecordingSleep) -> None:
    settings = ShopifySettings(base_url="http://127.0.0.1:9", access_token=sf.ACCESS_TOKEN)
    client = ShopifyClient(settings, http, sleep=sleep)

    with pytest.raises(TransientError) as caught:
        await _cancel(client)

    assert caught.value.code == "NETWORK" and not caught.value.ambiguous  # never reached the store


# ---------------------------------------------------------------------- the sandbox store's webhooks (1.9)


async def test_cancellation_sends_a_signed_orders_cancelled_webhook(
    control: sf.Control, client: ShopifyClient, sink: sf.WebhookSink
) -> None:
    await control.reset(webhook_url=sink.url)
    await _seeded(control)

    await client.orders.wait_for_job(await _cancel(client))

    assert await asyncio.to_thread(sink.wait_for, lambda received: len(received) >= 1)
    [(headers, body)] = sink.received
    assert headers["X-Shopify-Topic"] == "orders/cancelled"
    assert headers["X-Shopify-Shop-Domain"] == "maison-lumiere.myshopify.com"
    assert headers["X-Shopify-API-Version"] == "2026-01"
    assert (
        headers["X-Shopify-Webhook-Id"]
        and headers["X-Shopify-Event-Id"]
        and headers["X-Shopify-Triggered-At"]
    )
    assert verify_webhook(sf.WEBHOOK_SECRET, body, headers["X-Shopify-Hmac-Sha256"])
    payload = json.loads(body)
    assert (payload["id"], payload["admin_graphql_api_id"], payload["name"]) == (ORDER_ID, ORDER_GID, "#2001")
    assert payload["cancelled_at"] is not None and payload["cancel_reason"] == "customer"
    assert payload["financial_status"] == "refunded" and payload["email"] == "lea.fontaine@example.com"
    assert [li["current_quantity"] for li in payload["line_items"]] == [0, 0]


async def test_fulfil_sends_fulfillment_and_order_webhooks(control: sf.Control, sink: sf.WebhookSink) -> None:
    await control.reset(webhook_url=sink.url)
    await _seeded(control)

    result = await control.fulfill(ORDER_ID, tracking_company="Colissimo", tracking_number="6A99999999999")

    assert [d["status"] for d in result["deliveries"]] == [200, 200]
    topics = [headers["X-Shopify-Topic"] for headers, _ in sink.received]
    assert topics == ["fulfillments/create", "orders/updated"]
    fulfillment = json.loads(sink.received[0][1])
    assert fulfillment["order_id"] == ORDER_ID and fulfillment["tracking_number"] == "6A99999999999"
    assert len({headers["X-Shopify-Webhook-Id"] for headers, _ in sink.received}) == 2


async def test_duplicate_deliveries_share_one_webhook_id(control: sf.Control, sink: sf.WebhookSink) -> None:
    await control.reset(webhook_url=sink.url)
    await _seeded(control)

    deliveries = await control.send_webhook("orders/updated", ORDER_ID, times=2)

    assert [d["status"] for d in deliveries] == [200, 200]
    (first, body1), (second, body2) = sink.received
    assert first["X-Shopify-Webhook-Id"] == second["X-Shopify-Webhook-Id"]
    assert first["X-Shopify-Event-Id"] == second["X-Shopify-Event-Id"]
    assert body1 == body2 and verify_webhook(sf.WEBHOOK_SECRET, body2, second["X-Shopify-Hmac-Sha256"])


# ---------------------------------------------------------------------- the demo seed


async def test_demo_seed_serves_the_six_scenarios(control: sf.Control, client: ShopifyClient) -> None:
    for seed in demo_orders():
        await control.seed(seed)

    orders = {n: await client.orders.find_by_name(str(n)) for n in range(1001, 1007)}

    assert all(order is not None for order in orders.values())
    o1, o2, o3, o4, o5, o6 = (orders[n] for n in range(1001, 1007))
    assert o1 is not None and "sent-to-supplier" not in o1.tags and o1.locale == "fr"
    assert o2 is not None and "sent-to-supplier" in o2.tags
    assert all((li.sku or "").startswith("ATL-") for li in o2.line_items)
    assert o3 is not None and {li.vendor for li in o3.line_items} == {"CJ Dropshipping"}
    assert o3.fulfillment_orders[0].location_name == "CJ Dropshipping"
    assert o3.fulfillment_orders[0].request_status == "ACCEPTED"
    assert o4 is not None and len(o4.line_items) == 2
    assert o5 is not None and o5.has_shipped and o5.fulfillments[0].tracking[0].number
    assert o5.locale == "en-GB" and not o5.is_cancelled
    assert o6 is not None and "sent-to-supplier" in o6.tags and o6.customer.last_name != o2.customer.last_name
    assert all(order is not None and order.currency == "EUR" for order in orders.values())
