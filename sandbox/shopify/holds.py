"""Fulfillment holds (K6): holding and releasing a fulfillment order."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sandbox.shopify.models import FakeHold, FakeOrder, _coded_error, _gid_tail
from sandbox.shopify.schema import Json
from sandbox.shopify.store import _StoreCore


class _Holds(_StoreCore):
    def hold_fulfillment_order(self, gid: Any, hold: Mapping[str, Any]) -> tuple[FakeOrder | None, FakeHold | None,
                                                                                  list[Json]]:
        """`fulfillmentOrderHold`: an open fulfillment order stops shipping until released. A
        second hold with the same `handle` is refused (DUPLICATE_FULFILLMENT_HOLD_HANDLE)."""
        with self.lock:
            order = self.order_by_fulfillment_order(gid)
            if order is None:
                return None, None, [_coded_error(["id"], "Fulfillment order does not exist.",
                                                 "FULFILLMENT_ORDER_NOT_FOUND")]
            status = order.fulfillment_order_status()
            if status not in ("OPEN", "SCHEDULED", "ON_HOLD"):
                return order, None, [{"field": ["id"], "code": None,
                                      "message": f"The fulfillment order cannot be held while {status}."}]
            handle = str(hold.get("handle") or "")
            if any(h.handle == handle for h in order.fulfillment_order.holds):
                return order, None, [_coded_error(["fulfillmentHold", "handle"],
                                                  "The handle provided for the fulfillment hold is already in use "
                                                  "by this app for another hold on this fulfillment order.",
                                                  "DUPLICATE_FULFILLMENT_HOLD_HANDLE")]
            if len(order.fulfillment_order.holds) >= 10:
                return order, None, [_coded_error(["id"], "The maximum number of fulfillment holds for this "
                                                  "fulfillment order has been reached.",
                                                  "FULFILLMENT_ORDER_HOLD_LIMIT_REACHED")]
            placed = FakeHold(id=self.next_id(), handle=handle, reason=str(hold["reason"]),
                              reason_notes=hold.get("reasonNotes"), created_at=self.clock())
            order.fulfillment_order.holds.append(placed)
            order.updated_at = self.clock()
            return order, placed, []

    def release_holds(self, gid: Any, hold_ids: Sequence[Any] | None) -> tuple[FakeOrder | None, list[Json]]:
        """`fulfillmentOrderReleaseHold`: the given holds (all when none are given) are lifted."""
        with self.lock:
            order = self.order_by_fulfillment_order(gid)
            if order is None:
                return None, [_coded_error(["id"], "Fulfillment order does not exist.",
                                           "FULFILLMENT_ORDER_NOT_FOUND")]
            wanted = None if not hold_ids else {_gid_tail(h, "FulfillmentHold") for h in hold_ids}
            order.fulfillment_order.holds = [h for h in order.fulfillment_order.holds
                                             if wanted is not None and h.id not in wanted]
            order.updated_at = self.clock()
            return order, []
