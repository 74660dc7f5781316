"""The Shopify Returns API: documents, mapping, and the client against the fake store (INTEGRATIONS.md 1.6, 1.9).

Every request is validated by the fake against the real 2026-01 SDL and executed there, so a
return the client reads back has exactly the shape Shopify would answer.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import graphql
import httpx
import pytest

from domain.errors import InvalidInput, NotFound, PermanentError, TransientError
from domain.money import Money
from domain.returns import ReturnReason
from integrations.shopify import RefundLine, RefundTransaction, ShopifyClient, verify_webhook
from integrations.shopify.documents import ALL_DOCUMENTS
from integrations.shopify.returns import (
    ReturnRequestItem,
    ReturnStatus,
    ShopifyReturn,
    our_reason,
    return_from_webhook,
    shopify_reason,
)
from sandbox.shopify import FakeShopifyServer, admin_schema
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
VASE_SKU, PLAID_SKU = "CJ-VASE-GALET-S", "CJ-PLAID-SAUGE"
LOCATION_GID = "gid://shopify/Location/7000000000001"  # the sandbox store's own location

RETURNS_DOCUMENTS = [
    "ReturnForAfterSales",
    "OrderReturns",
    "ReturnableFulfillments",
    "OrderFulfillmentLocations",
    "ReturnRequest",
    "ReturnApproveRequest",
    "ReturnDeclineRequest",
    "ReverseDeliveryCreateWithShipping",
    "ReturnProcess",
    "ReturnClose",
]


async def _delivered(control: sf.Control, **overrides: Any) -> tuple[str, str]:
    """Seed the delivered two-item order; return the (vase, plaid) line item gids."""
    raw = await control.seed(sf.delivered_order(NUMBER, **overrides))
    vase, plaid = raw["line_items"]
    return vase["id"], plaid["id"]


async def _requested(client: ShopifyClient, line_item_id: str, quantity: int = 1) -> ShopifyReturn:
    item = ReturnRequestItem(
        line_item_id=line_item_id, quantity=quantity, reason="DEFECTIVE", customer_note="fêlé"
    )
    return await client.returns.request(ORDER_ID, [item])


async def _graphql(
    store: FakeShopifyServer, http: httpx.AsyncClient, name: str, variables: dict[str, Any]
) -> Any:
    """Send one of the client's documents as is (for inputs the client never sends)."""
    response = await http.post(
        store.graphql_url(),
        json={"query": ALL_DOCUMENTS[name], "variables": variables, "operationName": name},
        headers={"X-Shopify-Access-Token": sf.ACCESS_TOKEN},
    )
    assert response.status_code == 200
    return response.json()


# ---------------------------------------------------------------------- documents (INTEGRATIONS.md 2)


@pytest.mark.parametrize("name", RETURNS_DOCUMENTS)
def test_returns_document_is_registered_and_validates(name: str) -> None:
    # Registered in ALL_DOCUMENTS, so test_shopify_documents also checks its name and cost.
    document = graphql.parse(ALL_DOCUMENTS[name])

    assert [e.message for e in graphql.validate(admin_schema(), document)] == []


def test_return_process_document_cannot_move_money() -> None:
    # F5: money moves only through the idempotent refundCreate; returnProcess has no @idempotent.
    document = ALL_DOCUMENTS["ReturnProcess"]

    assert "financialTransfer" not in document and "@idempotent" not in document


# ---------------------------------------------------------------------- reasons and webhook payloads


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        ("wrong_size", "OTHER"),
        ("wrong_colour", "COLOR"),
        ("changed_mind", "UNWANTED"),
        ("not_as_described", "NOT_AS_DESCRIBED"),
        ("damaged", "DEFECTIVE"),
        ("defective", "DEFECTIVE"),
        ("wrong_item", "WRONG_ITEM"),
        ("other", "OTHER"),
    ],
)
def test_our_reasons_map_to_shopify_and_back_with_the_note(ours: str, theirs: str) -> None:
    item = ReturnRequestItem.for_reason("gid://shopify/LineItem/1", 1, ours, "le client explique")

    assert shopify_reason(ours) == theirs == item.reason
    assert our_reason(item.reason, note=item.customer_note) == ReturnReason(ours)


@pytest.mark.parametrize(
    ("theirs", "ours"),
    [
        ("SIZE_TOO_SMALL", "wrong_size"),
        ("size_too_large", "wrong_size"),
        ("COLOR", "wrong_colour"),
        ("STYLE", "changed_mind"),
        ("unwanted", "changed_mind"),
        ("NOT_AS_DESCRIBED", "not_as_described"),
        ("DEFECTIVE", "defective"),
        ("WRONG_ITEM", "wrong_item"),
        ("UNKNOWN", "other"),
        ("OTHER", "other"),
        (None, "other"),
        ("SOMETHING_NEW", "other"),
    ],
)
def test_shopify_reasons_map_to_ours(theirs: str | None, ours: str) -> None:
    assert our_reason(theirs) == ours


def test_unknown_reason_of_ours_is_invalid_input() -> None:
    with pytest.raises(InvalidInput):
        shopify_reason("too_expensive")


def test_customer_note_is_cut_to_shopify_limit() -> None:
    item = ReturnRequestItem.for_reason("gid://shopify/LineItem/1", 1, "wrong_size", "x" * 400)

    assert item.customer_note is not None and len(item.customer_note) == 300
    assert item.customer_note.startswith("[wrong size] ")


@pytest.mark.parametrize(
    "payload",
    [
        {"id": 123, "admin_graphql_api_id": "gid://shopify/Return/123", "order": {"id": 456}},
        {"id": 123, "order": {"admin_graphql_api_id": "gid://shopify/Order/456"}},
        {"admin_graphql_api_id": "gid://shopify/Return/123", "order_id": 456},
        {"id": "123", "order_id": "gid://shopify/Order/456"},
    ],
)
def test_return_from_webhook_reads_the_ids_however_they_come(payload: dict[str, Any]) -> None:
    assert return_from_webhook(payload) == ("gid://shopify/Return/123", "gid://shopify/Order/456")


@pytest.mark.parametrize(
    ("payload", "missing"),
    [
        ({"order": {"id": 456}}, "no return id"),
        ({"id": 123, "admin_graphql_api_id": "gid://shopify/Order/9"}, "no order id"),
        ({"id": 123, "order": {"name": "#1001"}}, "no order id"),
        ({"id": True, "order_id": 456}, "no return id"),
    ],
)
def test_return_from_webhook_refuses_a_payload_without_ids(payload: dict[str, Any], missing: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        return_from_webhook(payload)
    assert missing in caught.value.reason


# ---------------------------------------------------------------------- the client against the fake store


async def test_a_return_from_request_to_closed(
    control: sf.Control, client: ShopifyClient, sink: sf.WebhookSink
) -> None:
    await control.reset(webhook_url=sink.url)
    vase, plaid = await _delivered(control)
    assert {(i.line_item_id, i.quantity) for i in await client.returns.returnable_items(ORDER_ID)} == {
        (vase, 1),
        (plaid, 1),
    }

    requested = await client.returns.request(
        ORDER_ID, [ReturnRequestItem.for_reason(vase, 1, "damaged", "Arrivé fêlé")]
    )

    assert (requested.status, requested.name, requested.order_id) == (
        ReturnStatus.REQUESTED,
        "#2001-R1",
        ORDER_GID,
    )
    [line] = requested.line_items
    assert (line.line_item_id, line.quantity, line.reason) == (vase, 1, "DEFECTIVE")
    assert line.note == "[damaged] Arrivé fêlé" and line.mapped_reason == ReturnReason.DAMAGED
    assert requested.reverse_fulfillment_orders == []

    approved = await client.returns.approve(requested.id)

    assert approved.status == ReturnStatus.OPEN
    [rfo] = approved.reverse_fulfillment_orders
    [rfo_line] = rfo.line_items
    assert (rfo.status, rfo_line.return_line_item_id, rfo_line.quantity) == ("OPEN", line.id, 1)
    assert rfo_line.fulfillment_line_item_id == line.fulfillment_line_item_id

    delivery_id = await client.returns.create_reverse_delivery(
        rfo.id,
        tracking_number="6A00000000777",
        tracking_url="https://www.laposte.fr/outils/suivre-vos-envois?code=6A00000000777",
        label_url="https://files.example.com/labels/2001-R1.pdf",
    )

    [delivery] = (await client.returns.get(requested.id)).reverse_fulfillment_orders[0].deliveries
    assert (delivery.id, delivery.tracking_number) == (delivery_id, "6A00000000777")
    assert delivery.tracking_url is not None and delivery.tracking_url.endswith("6A00000000777")
    assert delivery.label_url == "https://files.example.com/labels/2001-R1.pdf"

    processed = await client.returns.process(
        requested.id, [(line.id, 1)], disposition="RESTOCKED", note="reçu"
    )

    assert processed.status == ReturnStatus.CLOSED and processed.closed_at is not None
    assert processed.fully_processed and processed.line_items[0].processed_quantity == 1
    raw = await control.order(ORDER_ID)
    assert raw["restocked"] == {VASE_SKU: 1, PLAID_SKU: 0}
    assert raw["refunds"] == [] and raw["return_status"] == "RETURNED"  # no money moved
    [disposition] = raw["returns"][0]["reverse_fulfillment_orders"][0]["dispositions"]
    assert disposition == {"type": "RESTOCKED", "quantity": 1, "location_id": 7_000_000_000_001}
    [process_call] = await control.calls("returnProcess")
    assert "financialTransfer" not in process_call["variables"]["input"]
    assert (
        process_call["variables"]["input"]["returnLineItems"][0]["dispositions"][0]["locationId"]
        == LOCATION_GID
    )
    assert await asyncio.to_thread(sink.wait_for, lambda received: len(received) >= 4)
    topics = [headers["X-Shopify-Topic"] for headers, _ in sink.received]
    # Webhook delivery order is not guaranteed (Shopify's own promise, INTEGRATIONS.md 1.9).
    assert sorted(topics) == sorted(["returns/request", "returns/approve", "returns/process", "returns/close"])


async def test_returnable_quantities_shrink_after_a_request_and_come_back_after_a_decline(
    control: sf.Control, client: ShopifyClient
) -> None:
    vase, plaid = await _delivered(control)

    requested = await _requested(client, plaid)

    assert [(i.line_item_id, i.quantity) for i in await client.returns.returnable_items(ORDER_ID)] == [(vase, 1)]

    declined = await client.returns.decline(requested.id, "return_period_ended", "Délai de 30 jours dépassé")

    assert declined.status == ReturnStatus.DECLINED
    assert (declined.decline_reason, declined.decline_note) == (
        "RETURN_PERIOD_ENDED",
        "Délai de 30 jours dépassé",
    )
    assert {i.line_item_id for i in await client.returns.returnable_items(ORDER_ID)} == {vase, plaid}
    with pytest.raises(PermanentError) as caught:
        await client.returns.approve(requested.id)
    assert caught.value.code == "INVALID_STATE" and not caught.value.retryable


async def test_more_than_the_returnable_quantity_is_refused_before_any_mutation(
    control: sf.Control, client: ShopifyClient
) -> None:
    vase, _ = await _delivered(control)

    with pytest.raises(PermanentError) as caught:
        await _requested(client, vase, quantity=2)

    assert caught.value.code == "NOT_RETURNABLE" and "1 returnable" in caught.value.message
    assert await control.calls("returnRequest") == []


async def test_an_unshipped_order_has_nothing_to_return(control: sf.Control, client: ShopifyClient) -> None:
    raw = await control.seed(sf.two_item_order(NUMBER))

    assert await client.returns.returnable_items(ORDER_ID) == []
    with pytest.raises(PermanentError) as caught:
        await _requested(client, raw["line_items"][0]["id"])
    assert caught.value.code == "NOT_RETURNABLE"


async def test_an_empty_request_is_refused_before_any_call(
    control: sf.Control, client: ShopifyClient
) -> None:
    await _delivered(control)

    with pytest.raises(InvalidInput):
        await client.returns.request(ORDER_ID, [])
    assert await control.calls() == []


async def test_a_quantity_split_over_two_parcels_uses_both_fulfillment_lines(
    control: sf.Control, client: ShopifyClient
) -> None:
    raw = await control.seed(
        sf.two_item_order(
            NUMBER, line_items=[{"title": "Bougie", "sku": "CANDLE", "price": "12.00", "quantity": 3}]
        )
    )
    await control.fulfill(ORDER_ID, tracking_number="6A1", line_items={"CANDLE": 1})
    await control.fulfill(ORDER_ID, tracking_number="6A2", line_items={"CANDLE": 2})
    candle = raw["line_items"][0]["id"]

    requested = await _requested(client, candle, quantity=3)

    assert sorted(line.quantity for line in requested.line_items) == [1, 2]
    assert len({line.fulfillment_line_item_id for line in requested.line_items}) == 2
    assert await client.returns.returnable_items(ORDER_ID) == []


async def test_partial_processing_keeps_the_return_open_until_closed(
    control: sf.Control, client: ShopifyClient
) -> None:
    raw = await control.seed(
        sf.delivered_order(
            NUMBER, line_items=[{"title": "Bougie", "sku": "CANDLE", "price": "12.00", "quantity": 2}]
        )
    )
    approved = await client.returns.approve((await _requested(client, raw["line_items"][0]["id"], 2)).id)
    [line] = approved.line_items

    first = await client.returns.process(approved.id, [(line.id, 1)], disposition="NOT_RESTOCKED")

    assert first.status == ReturnStatus.OPEN
    assert (first.line_items[0].processed_quantity, first.line_items[0].unprocessed_quantity) == (1, 1)
    with pytest.raises(PermanentError) as caught:
        await client.returns.process(approved.id, [(line.id, 2)], disposition="MISSING")
    assert caught.value.code == "LESS_THAN_OR_EQUAL_TO"

    closed = await client.returns.close(approved.id)

    assert closed.status == ReturnStatus.CLOSED
    assert (await control.order(ORDER_ID))["restocked"] == {"CANDLE": 0}
    with pytest.raises(PermanentError) as again:
        await client.returns.close(approved.id)
    assert again.value.code == "INVALID_STATE"


async def test_processing_a_requested_return_is_refused_locally(
    control: sf.Control, client: ShopifyClient
) -> None:
    vase, _ = await _delivered(control)
    requested = await _requested(client, vase)

    with pytest.raises(PermanentError) as caught:
        await client.returns.process(requested.id, [(requested.line_items[0].id, 1)], disposition="RESTOCKED")

    assert caught.value.code == "INVALID_STATE"
    assert await control.calls("returnProcess") == []


async def test_process_refuses_lines_of_another_return(control: sf.Control, client: ShopifyClient) -> None:
    vase, _ = await _delivered(control)
    approved = await client.returns.approve((await _requested(client, vase)).id)

    with pytest.raises(InvalidInput):
        await client.returns.process(
            approved.id, [("gid://shopify/ReturnLineItem/1", 1)], disposition="MISSING"
        )
    with pytest.raises(InvalidInput):
        await client.returns.process(approved.id, [(approved.line_items[0].id, 1)], disposition="BURNED")


async def test_a_refund_after_the_return_keeps_the_units_unreturnable(
    control: sf.Control, client: ShopifyClient
) -> None:
    vase, plaid = await _delivered(control)
    approved = await client.returns.approve((await _requested(client, plaid)).id)
    await client.returns.process(approved.id, [(approved.line_items[0].id, 1)], disposition="RESTOCKED")
    order = await client.orders.get(ORDER_ID)
    sale = order.transactions[0]

    # Money moves through refundCreate (F5); NO_RESTOCK since the disposition restocked.
    await client.refunds.create(
        ORDER_ID,
        idempotency_key="refund:return:plaid",
        line_items=[RefundLine(line_item_id=plaid, quantity=1, restock_type="NO_RESTOCK")],
        transactions=[
            RefundTransaction(parent_id=sale.id, gateway=sale.gateway, amount=Money.of("49.00", "EUR"))
        ],
    )

    assert [(i.line_item_id, i.quantity) for i in await client.returns.returnable_items(ORDER_ID)] == [(vase, 1)]
    raw = await control.order(ORDER_ID)
    assert raw["refunded"] == "49.00" and raw["restocked"] == {VASE_SKU: 0, PLAID_SKU: 1}
    assert raw["returns"][0]["lines"][0]["refunded"] == 1


async def test_unknown_return_is_not_found(control: sf.Control, client: ShopifyClient) -> None:
    with pytest.raises(NotFound):
        await client.returns.get("gid://shopify/Return/1")
    with pytest.raises(NotFound) as caught:
        await client.returns.approve(1)
    assert caught.value.code == "NOT_FOUND"
    with pytest.raises(InvalidInput):
        await client.returns.get("gid://shopify/Order/1")


async def test_user_errors_on_return_mutations_are_permanent(
    control: sf.Control, client: ShopifyClient
) -> None:
    vase, _ = await _delivered(control)
    requested = await _requested(client, vase)
    await control.fault(
        "returnApproveRequest", "user_error", message="Missing permission.", code="MISSING_PERMISSION"
    )

    with pytest.raises(PermanentError) as caught:
        await client.returns.approve(requested.id)

    assert caught.value.code == "MISSING_PERMISSION" and not caught.value.retryable
    assert len(await control.calls("returnApproveRequest")) == 1
    assert (await client.returns.get(requested.id)).status == ReturnStatus.REQUESTED


# ---------------------------------------------------------------------- unclear answers are reconciled


async def test_request_answer_lost_after_commit_leaves_one_return_to_reconcile_with(
    control: sf.Control, client: ShopifyClient, sleep: sf.RecordingSleep
) -> None:
    vase, _ = await _delivered(control)
    await control.fault("returnRequest", "http_500_after_commit")

    with pytest.raises(TransientError) as caught:
        await _requested(client, vase)

    assert caught.value.ambiguous and not caught.value.retryable
    assert [c["status"] for c in await control.calls("returnRequest")] == [500]  # never resent
    assert sleep.calls == []
    [found] = await client.returns.of_order(ORDER_ID)
    assert found.status == ReturnStatus.REQUESTED
    assert [(line.line_item_id, line.quantity) for line in found.line_items] == [(vase, 1)]


async def test_approve_timeout_is_ambiguous_and_the_return_tells(
    control: sf.Control, store: FakeShopifyServer, http: httpx.AsyncClient, sleep: sf.RecordingSleep
) -> None:
    vase, _ = await _delivered(control)
    client = sf.make_client(store, http, sleep, timeout_seconds=0.3)
    requested = await _requested(client, vase)
    await control.fault("returnApproveRequest", "timeout", seconds=1.0)

    with pytest.raises(TransientError) as caught:
        await client.returns.approve(requested.id)

    assert caught.value.ambiguous
    assert len(await control.calls("returnApproveRequest")) == 1
    assert (await client.returns.get(requested.id)).status == ReturnStatus.OPEN


async def test_order_returns_lists_the_returns_oldest_first(
    control: sf.Control, client: ShopifyClient
) -> None:
    vase, plaid = await _delivered(control)
    first = await _requested(client, vase)
    await client.returns.decline(first.id, "OTHER")
    second = await _requested(client, plaid)

    returns = await client.returns.of_order(ORDER_ID)

    assert [(r.id, r.name, r.status) for r in returns] == [
        (first.id, "#2001-R1", ReturnStatus.DECLINED),
        (second.id, "#2001-R2", ReturnStatus.REQUESTED),
    ]
    with pytest.raises(NotFound):
        await client.returns.of_order(sf.legacy_id(2999))


# ---------------------------------------------------------------------- the customer account and webhooks (1.9)


async def test_customer_return_sends_a_signed_webhook_the_parser_reads(
    control: sf.Control, client: ShopifyClient, sink: sf.WebhookSink
) -> None:
    await control.reset(webhook_url=sink.url)
    _, plaid = await _delivered(control)

    created = await control.customer_return(
        ORDER_ID, {"sku": PLAID_SKU, "quantity": 1, "reason": "SIZE_TOO_SMALL", "customer_note": "Trop petit"}
    )

    assert [d["status"] for d in created["deliveries"]] == [200]
    # One delivery; under load a first attempt that outlived the 5 s timeout is sent again, as
    # Shopify does, under the same webhook id and with the same body (the receiver keeps one).
    sent = [(h, b) for h, b in sink.received if h["X-Shopify-Topic"] == "returns/request"]
    assert len({h["X-Shopify-Webhook-Id"] for h, _ in sent}) == 1 and len({b for _, b in sent}) == 1, sent
    headers, body = sent[0]
    assert verify_webhook(sf.WEBHOOK_SECRET, body, headers["X-Shopify-Hmac-Sha256"])
    payload = json.loads(body)
    assert return_from_webhook(payload) == (created["id"], ORDER_GID)
    assert payload["status"] == "requested" and payload["name"] == "#2001-R1"
    [line] = payload["return_line_items"]
    assert line["fulfillment_line_item"]["line_item"]["admin_graphql_api_id"] == plaid
    assert our_reason(line["return_reason"], note=line["customer_note"]) == ReturnReason.WRONG_SIZE
    ret = await client.returns.get(created["id"])
    assert ret.status == ReturnStatus.REQUESTED
    assert (ret.line_items[0].reason, ret.line_items[0].customer_note) == ("SIZE_TOO_SMALL", "Trop petit")


async def test_customer_return_of_more_than_was_shipped_is_refused(
    control: sf.Control, http: httpx.AsyncClient, store: FakeShopifyServer
) -> None:
    await _delivered(control)

    response = await http.post(
        f"{store.base_url}/_control/orders/{ORDER_ID}/returns",
        json={"items": [{"sku": VASE_SKU, "quantity": 2, "reason": "DEFECTIVE"}]},
    )

    assert response.status_code == 409 and "1 returnable" in response.json()["detail"]


# ---------------------------------------------------------------------- the fake refuses like Shopify


async def test_fake_return_request_user_errors(
    control: sf.Control, store: FakeShopifyServer, http: httpx.AsyncClient
) -> None:
    await control.seed(sf.delivered_order(NUMBER))

    blank = await _graphql(
        store, http, "ReturnRequest", {"input": {"orderId": ORDER_GID, "returnLineItems": []}}
    )
    unknown = await _graphql(
        store,
        http,
        "ReturnRequest",
        {
            "input": {
                "orderId": ORDER_GID,
                "returnLineItems": [
                    {"fulfillmentLineItemId": "gid://shopify/FulfillmentLineItem/1", "quantity": 1}
                ],
            }
        },
    )
    no_order = await _graphql(
        store, http, "ReturnRequest", {"input": {"orderId": "gid://shopify/Order/1", "returnLineItems": []}}
    )

    assert blank["data"]["returnRequest"]["userErrors"][0]["code"] == "BLANK"
    assert unknown["data"]["returnRequest"]["userErrors"][0]["code"] == "NOT_FOUND"
    assert no_order["data"]["returnRequest"]["userErrors"][0]["field"] == ["input", "orderId"]
    assert (await control.order(ORDER_ID))["returns"] == []


async def test_fake_return_process_with_a_financial_transfer_refunds_through_the_refund_machinery(
    control: sf.Control, client: ShopifyClient, store: FakeShopifyServer, http: httpx.AsyncClient
) -> None:
    # The client never sends financialTransfer (F5); the fake still models it, like Shopify.
    _, plaid = await _delivered(control)
    approved = await client.returns.approve((await _requested(client, plaid)).id)
    sale = (await client.orders.get(ORDER_ID)).transactions[0]
    [line] = approved.line_items
    [rfo_line] = approved.reverse_fulfillment_orders[0].line_items
    process_input = {
        "returnId": approved.id,
        "returnLineItems": [
            {
                "id": line.id,
                "quantity": 1,
                "dispositions": [
                    {
                        "reverseFulfillmentOrderLineItemId": rfo_line.id,
                        "quantity": 1,
                        "dispositionType": "RESTOCKED",
                        "locationId": LOCATION_GID,
                    }
                ],
            }
        ],
        "financialTransfer": {
            "issueRefund": {
                "orderTransactions": [
                    {"parentId": sale.id, "transactionAmount": {"amount": "49.00", "currencyCode": "EUR"}}
                ]
            }
        },
    }

    answer = await _graphql(store, http, "ReturnProcess", {"input": process_input})

    assert answer["data"]["returnProcess"]["userErrors"] == []
    assert answer["data"]["returnProcess"]["return"]["status"] == "CLOSED"
    raw = await control.order(ORDER_ID)
    [refund] = raw["refunds"]
    assert refund["total"] == "49.00" and raw["returns"][0]["refund_ids"] == [refund["id"]]
    assert refund["lines"] == [{"line_item_id": plaid, "quantity": 1, "restock_type": "NO_RESTOCK"}]
    assert raw["restocked"] == {VASE_SKU: 0, PLAID_SKU: 1}  # once, by the disposition


async def test_fake_restock_without_a_location_is_refused(
    control: sf.Control, client: ShopifyClient, store: FakeShopifyServer, http: httpx.AsyncClient
) -> None:
    vase, _ = await _delivered(control)
    approved = await client.returns.approve((await _requested(client, vase)).id)
    [rfo_line] = approved.reverse_fulfillment_orders[0].line_items
    disposition = {
        "reverseFulfillmentOrderLineItemId": rfo_line.id,
        "quantity": 1,
        "dispositionType": "RESTOCKED",
    }
    process_input = {
        "returnId": approved.id,
        "returnLineItems": [{"id": approved.line_items[0].id, "quantity": 1, "dispositions": [disposition]}],
    }

    answer = await _graphql(store, http, "ReturnProcess", {"input": process_input})

    [error] = answer["data"]["returnProcess"]["userErrors"]
    assert error["code"] == "BLANK" and error["field"][-1] == "locationId"
    assert (await client.returns.get(approved.id)).line_items[0].processed_quantity == 0


async def test_fake_reverse_delivery_needs_an_open_reverse_fulfillment_order(
    control: sf.Control, client: ShopifyClient
) -> None:
    vase, _ = await _delivered(control)
    approved = await client.returns.approve((await _requested(client, vase)).id)
    await client.returns.close(approved.id)

    with pytest.raises(PermanentError) as caught:
        await client.returns.create_reverse_delivery(approved.reverse_fulfillment_orders[0].id, tracking_number="6A9")

    assert caught.value.code == "INVALID_STATE"
    with pytest.raises(InvalidInput):
        await client.returns.create_reverse_delivery(approved.reverse_fulfillment_orders[0].id)
