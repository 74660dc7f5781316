"""`client.holds` (K6, INTEGRATIONS.md 1.7): hold a fulfillment order until the operator decides,
release our own holds. `fulfillmentOrderHold` is not `@idempotent` in 2026-01: its `handle` makes
a repeat a user error and callers read the order's holds before holding again."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from integrations.shopify import documents
from integrations.shopify.transport import Call, Transport, refusal, root_payload, typed_gid, user_error


class HoldsService:
    """Fulfillment holds: `client.holds.hold(...)`, `client.holds.release(...)`."""

    def __init__(self, transport: Transport) -> None:
        self._transport = transport

    async def hold(self, fulfillment_order_id: str, *, handle: str, reason: str, notes: str | None = None) -> str:
        """`fulfillmentOrderHold` (K6): the fulfillment order stops until released; returns the
        hold's id. Not `@idempotent` in 2026-01: `handle` makes a repeat a user error
        (`DUPLICATE_FULFILLMENT_HOLD_HANDLE`), and callers read `FulfillmentOrderInfo.holds`
        before holding again. `userErrors` raise `PermanentError` with Shopify's code."""
        hold: dict[str, Any] = {"handle": handle[:64], "reason": reason, "notifyMerchant": True}
        if notes:
            hold["reasonNotes"] = notes[:255]
        reply = await self._transport.execute(Call(
            "FulfillmentOrderHold", documents.FULFILLMENT_ORDER_HOLD_MUTATION,
            {"id": typed_gid(fulfillment_order_id, "FulfillmentOrder"), "fulfillmentHold": hold}, "unsafe"))
        payload = root_payload(reply, "fulfillmentOrderHold")
        errors = payload.get("userErrors") or []
        if errors:
            raise user_error("fulfillmentOrderHold", errors, reply, default_code="USER_ERROR")
        placed = payload.get("fulfillmentHold") or {}
        if not placed.get("id"):
            raise refusal("fulfillmentOrderHold returned no hold", reply, code="NO_HOLD")
        return str(placed["id"])

    async def release(self, fulfillment_order_id: str, hold_ids: Sequence[str]) -> str:
        """`fulfillmentOrderReleaseHold` of our own holds (by id); returns the order's new status.
        Releasing a hold already released changes nothing, so a retry is harmless."""
        reply = await self._transport.execute(Call(
            "FulfillmentOrderReleaseHold", documents.FULFILLMENT_ORDER_RELEASE_HOLD_MUTATION,
            {"id": typed_gid(fulfillment_order_id, "FulfillmentOrder"), "holdIds": list(hold_ids)}, "unsafe"))
        payload = root_payload(reply, "fulfillmentOrderReleaseHold")
        errors = payload.get("userErrors") or []
        if errors:
            raise user_error("fulfillmentOrderReleaseHold", errors, reply, default_code="USER_ERROR")
        return str((payload.get("fulfillmentOrder") or {}).get("status") or "")
