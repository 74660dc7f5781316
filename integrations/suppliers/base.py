"""One interface for every supplier, whatever its channel (email or API).

A supplier is asked to stop an order (C3, C8) and, later, for return addresses (R6). The
flow does not care whether the answer comes at once (an API) or days later (an email reply
recorded by the operator or an inbound reply): `SupplierAnswer.PENDING` means "wait for it",
and the wait is a deadline in the ledger, never a sleeping flow (D3, D4).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field

from domain.money import Money


class SupplierOrderState(StrEnum):
    NOT_FOUND = "not_found"  # the supplier has no such order: it was never passed on
    CANCELLABLE = "cancellable"  # created / in cart / unpaid at the supplier: can be deleted
    PAID = "paid"  # paid at the supplier, not shipped: cancellation is a claim (CJ dispute)
    SHIPPED = "shipped"  # in transit: too late to stop (C4)
    DELIVERED = "delivered"
    CANCELLED = "cancelled"
    UNKNOWN = "unknown"  # an email supplier cannot be read


class SupplierOrderView(BaseModel):
    model_config = ConfigDict(frozen=True)

    state: SupplierOrderState
    supplier_order_id: str | None = None
    tracking_number: str | None = None
    raw_status: str | None = None


class CancellationItem(BaseModel):
    model_config = ConfigDict(frozen=True)

    line_item_id: str  # the store's line item id
    supplier_line_id: str | None = None
    title: str
    sku: str | None = None
    quantity: int
    unit_price: Money | None = None


class SupplierCancellationRequest(BaseModel):
    """What we ask of the supplier: stop these items of this order, for this reason."""

    model_config = ConfigDict(frozen=True)

    reference: str  # our reference, quoted in every exchange (and CJ's businessDisputeId)
    store_name: str
    order_name: str  # "#1001"
    order_id: str  # the store's numeric order id, the one passed to the supplier
    items: list[CancellationItem]
    reason_text: str  # short and clear, in the supplier's language
    reply_to: str  # where the supplier answers
    ship_to_city: str | None = None
    ship_to_country: str | None = None
    full_order: bool = True
    answer_by: datetime | None = None  # D3: when the supplier's answer is due


class SupplierAnswer(StrEnum):
    ACCEPTED = "accepted"  # stopped: nothing will ship
    REFUSED = "refused"  # too late (shipped / produced): C8 -> C4
    PENDING = "pending"  # asked; the answer will come later


class SupplierCancellationResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    answer: SupplierAnswer
    remote_id: str | None = None  # CJ dispute id, email Message-ID...
    detail: str | None = None
    refund: Money | None = None  # what the supplier credits back, when known
    extra: dict[str, str] = Field(default_factory=dict)


class SupplierChannel(Protocol):
    """Implemented by `integrations.suppliers.cj.CJSupplier` and `.email_supplier.EmailSupplier`."""

    async def order_status(self, order_id: str) -> SupplierOrderView:
        """Read the order at the supplier (read before write)."""
        ...

    async def request_cancellation(
        self, request: SupplierCancellationRequest, *, idempotency_key: str
    ) -> SupplierCancellationResult:
        """Ask the supplier to stop the order; the same key is sent on every retry."""
        ...

    async def cancellation_outcome(self, request: SupplierCancellationRequest) -> SupplierCancellationResult:
        """Poll for the answer to an earlier request (API suppliers); PENDING if none yet."""
        ...
