"""`client.refunds` (INTEGRATIONS.md 1.5): Shopify's suggested refund, and `refundCreate` with
`@idempotent(key:)` fixed by the caller before the first attempt and resent unchanged (1.3)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from domain.errors import InvalidInput
from domain.money import Money
from domain.orders import SuggestedRefund
from integrations.shopify import documents
from integrations.shopify.mapping import money_bag, parse_datetime, suggested_refund_from_graphql
from integrations.shopify.transport import (
    Call,
    Transport,
    input_order_gid,
    mapped,
    read_node,
    refusal,
    root_payload,
    user_error,
)


class RefundLine(BaseModel):
    """One `RefundLineItemInput`: CANCEL for unfulfilled units, RETURN for returned ones (1.5)."""

    model_config = ConfigDict(frozen=True)

    line_item_id: str
    quantity: int
    restock_type: Literal["CANCEL", "RETURN", "NO_RESTOCK"] = "CANCEL"
    location_id: str | None = None


class RefundTransaction(BaseModel):
    """One `OrderTransactionInput`: money back to the parent SALE/CAPTURE transaction (1.5)."""

    model_config = ConfigDict(frozen=True)

    parent_id: str
    gateway: str
    amount: Money
    kind: Literal["REFUND"] = "REFUND"


class RefundResult(BaseModel):
    """The refund Shopify recorded (also what an idempotent replay returns)."""

    model_config = ConfigDict(frozen=True)

    id: str
    created_at: datetime
    amount: Money


class RefundsService:
    """Refunds of the store's orders: `client.refunds.suggest(...)`, `client.refunds.create(...)`."""

    def __init__(self, transport: Transport) -> None:
        self._transport = transport

    async def suggest(
        self,
        order_id: str | int,
        *,
        line_items: list[tuple[str, int]],
        refund_shipping: bool,
    ) -> SuggestedRefund:
        """Shopify's computation of a refund for these `(line item id, quantity)` pairs."""
        variables = {
            "id": input_order_gid(order_id),
            "refundLineItems": [{"lineItemId": line_id, "quantity": qty} for line_id, qty in line_items],
            "refundShipping": refund_shipping,
        }
        order, reply = await read_node(self._transport, "SuggestedRefund", documents.SUGGESTED_REFUND_QUERY,
                                       variables, "order", f"order {variables['id']}")
        suggested = order.get("suggestedRefund")
        if suggested is None:
            raise refusal("no suggested refund in the answer", reply, code="UNEXPECTED_PAYLOAD")
        return mapped(suggested_refund_from_graphql, suggested, reply)

    async def create(
        self,
        order_id: str | int,
        *,
        idempotency_key: str,
        line_items: list[RefundLine],
        transactions: list[RefundTransaction],
        shipping_full_refund: bool = False,
        note: str | None = None,
        notify: bool = False,
        currency: str | None = None,
        store_credit: Money | None = None,
    ) -> RefundResult:
        """`refundCreate` with `@idempotent(key: idempotency_key)` (1.3, 1.5).

        The same key with the same input returns the original refund, so a retry after a lost
        answer never refunds twice. `userErrors` (over-refund, wrong quantities) raise
        `PermanentError` and are never retried.
        """
        if not idempotency_key.strip():
            raise InvalidInput("refundCreate needs a non-empty idempotency key")
        gid = input_order_gid(order_id)
        refund_input = _refund_input(
            gid,
            line_items=line_items,
            transactions=transactions,
            shipping_full_refund=shipping_full_refund,
            note=note,
            notify=notify,
            currency=currency,
            store_credit=store_credit,
        )
        variables = {"input": refund_input, "idempotencyKey": idempotency_key}
        reply = await self._transport.execute(
            Call("RefundCreate", documents.REFUND_CREATE_MUTATION, variables, "idempotent")
        )
        payload = root_payload(reply, "refundCreate")
        errors = payload.get("userErrors") or []
        if errors:
            raise user_error("refundCreate", errors, reply, default_code="USER_ERROR")
        refund = payload.get("refund")
        if not refund:
            raise refusal("refundCreate returned no refund", reply, code="NO_REFUND")
        return mapped(_refund_result, refund, reply)


def _refund_result(node: Mapping[str, Any]) -> RefundResult:
    created_at = parse_datetime(node.get("createdAt"))
    if created_at is None:
        raise ValueError("refund without createdAt")
    return RefundResult(id=node["id"], created_at=created_at, amount=money_bag(node["totalRefundedSet"]))


def _refund_input(
    order_gid_: str,
    *,
    line_items: list[RefundLine],
    transactions: list[RefundTransaction],
    shipping_full_refund: bool,
    note: str | None,
    notify: bool,
    currency: str | None,
    store_credit: Money | None,
) -> dict[str, Any]:
    """`RefundInput` (1.5). All amounts must share one (presentment) currency."""
    currencies = {t.amount.currency for t in transactions}
    if store_credit is not None:
        currencies.add(store_credit.currency)
    if currency is not None:
        currencies.add(currency.upper())
    if len(currencies) > 1:
        raise InvalidInput(f"refund amounts in several currencies: {sorted(currencies)}")
    refund_input: dict[str, Any] = {
        "orderId": order_gid_,
        "notify": notify,
        "refundLineItems": [_refund_line_input(line) for line in line_items],
        "transactions": [
            {
                "orderId": order_gid_,
                "parentId": t.parent_id,
                "amount": str(t.amount.amount),
                "gateway": t.gateway,
                "kind": t.kind,
            }
            for t in transactions
        ],
    }
    if currencies:
        refund_input["currency"] = currencies.pop()
    if note is not None:
        refund_input["note"] = note
    if shipping_full_refund:
        refund_input["shipping"] = {"fullRefund": True}
    if store_credit is not None:
        refund_input["refundMethods"] = [
            {
                "storeCreditRefund": {
                    "amount": {"amount": str(store_credit.amount), "currencyCode": store_credit.currency}
                }
            }
        ]
    return refund_input


def _refund_line_input(line: RefundLine) -> dict[str, Any]:
    item: dict[str, Any] = {
        "lineItemId": line.line_item_id,
        "quantity": line.quantity,
        "restockType": line.restock_type,
    }
    if line.location_id is not None:
        item["locationId"] = line.location_id
    return item
