"""One interface for every supplier, whatever its channel (email or API).

A supplier is asked to stop an order (C3, C8) and, later, for its return address, RMA or label,
and for a refund or a replacement when the goods are on it (R4, R6). The
flow does not care whether the answer comes at once (an API) or days later (an email reply
recorded by the operator or an inbound reply): `SupplierAnswer.PENDING` means "wait for it",
and the wait is a deadline in the ledger, never a sleeping flow (D3, D4).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from domain.money import Money
from domain.returns import ReturnReason


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
    # What the supplier's answer to our ask named, kept by the case for the polls (issue 20): the
    # supplier's id of our claim (a CJ dispute id) and the supplier's lines it claims. A supplier
    # lists its claims by order (CJ's getDisputeList echoes no businessDisputeId): these tell ours
    # from an earlier case's on the same order.
    supplier_claim_id: str | None = None
    supplier_claim_lines: tuple[str, ...] = ()

    def with_claim(self, result: SupplierCancellationResult | None) -> SupplierCancellationRequest:
        """This request with the claim the supplier's pending answer named, for the polls that follow."""
        return self if result is None else self.model_copy(update=_claim_of(result.answer, result.extra))


# Keys of a result's `extra` naming the claim a pending answer opened (`with_claim` of a request).
CLAIM_ID, CLAIM_LINES = "dispute_id", "claim_line_ids"


def _claim_of(answer: SupplierAnswer, extra: dict[str, str]) -> dict[str, object]:
    """The claim a PENDING answer named (`CLAIM_ID`, `CLAIM_LINES` in its `extra`), as request fields."""
    if answer is not SupplierAnswer.PENDING:
        return {}
    lines = tuple(line for line in extra.get(CLAIM_LINES, "").split(",") if line)
    return {"supplier_claim_id": extra.get(CLAIM_ID) or None, "supplier_claim_lines": lines}


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


class ReturnItem(BaseModel):
    """One line the customer sends back (or keeps, R5), as the supplier should see it."""

    model_config = ConfigDict(frozen=True)

    line_item_id: str  # the store's line item id
    title: str
    sku: str | None = None
    quantity: int = Field(ge=1)
    unit_price: Money | None = None
    supplier_line_id: str | None = None  # the supplier's own line id, when known (CJ lineItemId)


ReturnClaim = Literal["refund", "replacement"]


class SupplierReturnRequest(BaseModel):
    """What we ask of the supplier for a return (R6): where and how the goods go back (return
    address, RMA number or prepaid label) and, when the goods are on it (R4), a refund or a
    replacement."""

    model_config = ConfigDict(frozen=True)

    reference: str  # our reference, quoted in every exchange (and CJ's businessDisputeId source)
    store_name: str
    order_name: str  # "#1001"
    order_id: str  # the store's numeric order id, the one passed to the supplier
    items: list[ReturnItem]
    reason: ReturnReason  # R9 taxonomy: wrong_size, damaged, not_as_described...
    reason_text: str  # short and clear, in the supplier's language
    customer_note: str | None = None  # the customer's own words (may hold several lines)
    photo_urls: list[str] = Field(default_factory=list)  # evidence (R4 damaged / defective)
    claim: ReturnClaim | None = None  # None: only the return address / RMA / label is asked
    reply_to: str  # where the supplier answers
    answer_by: datetime | None = None  # D3: when the supplier's answer is due
    customer_country: str | None = None  # where the parcel leaves from (ISO code), for the label
    # The claim the supplier's pending answer named (a CJ dispute's id and lines), kept by the case
    # for the polls: an earlier return dispute on the same order is never read as ours (issue 20).
    supplier_claim_id: str | None = None
    supplier_claim_lines: tuple[str, ...] = ()

    def with_claim(self, result: SupplierReturnResult | None) -> SupplierReturnRequest:
        """This request with the claim the supplier's pending answer named, for the polls that follow."""
        return self if result is None else self.model_copy(update=_claim_of(result.answer, result.extra))


class SupplierReturnResult(BaseModel):
    """The supplier's answer to a return request (R6): PENDING until it decides."""

    model_config = ConfigDict(frozen=True)

    answer: SupplierAnswer  # ACCEPTED: the return (and the claim) is agreed; REFUSED: it is not
    remote_id: str | None = None  # CJ dispute id, email Message-ID...
    address: str | None = None  # R2: for the customer only once ACCEPTED, never published
    rma: str | None = None
    label_url: str | None = None
    detail: str | None = None
    refund: Money | None = None  # what the supplier credits back, when known
    replacement_tracking: str | None = None  # the replacement's tracking or resend order code
    extra: dict[str, str] = Field(default_factory=dict)


@dataclass(frozen=True)
class SendMemo:
    """What the earlier attempts of one operation kept before their call (`noted`), and how this
    attempt keeps more (`keep`, into the operation row: ledger.operations.note_attempt). A resend
    after a lost answer needs it where the supplier neither dedupes on our key nor echoes it back
    (CJ, INTEGRATIONS.md §4.3): what was there before our first call is not ours."""

    noted: Mapping[str, Any]
    keep: Callable[[dict[str, Any]], Awaitable[None]]
    # How many attempts of the operation ran before this one: an earlier attempt that noted nothing
    # ran code from before the memo (in flight at a deploy), or failed before its call.
    earlier_attempts: int = 0


class SupplierChannel(Protocol):
    """Implemented by `integrations.cj.supplier.CJSupplier` and
    `integrations.suppliers.email_supplier.EmailSupplier`."""

    async def order_status(self, order_id: str) -> SupplierOrderView:
        """Read the order at the supplier (read before write)."""
        ...

    async def request_cancellation(
        self, request: SupplierCancellationRequest, *, idempotency_key: str, memo: SendMemo | None = None
    ) -> SupplierCancellationResult:
        """Ask the supplier to stop the order; the same key is sent on every retry."""
        ...

    async def cancellation_outcome(self, request: SupplierCancellationRequest) -> SupplierCancellationResult:
        """Poll for the answer to an earlier request (API suppliers); PENDING if none yet."""
        ...

    async def request_return(
        self, request: SupplierReturnRequest, *, idempotency_key: str, memo: SendMemo | None = None
    ) -> SupplierReturnResult:
        """Ask the supplier for its return address / RMA / label and, if any, the claim (R4, R6);
        the same key is sent on every retry."""
        ...

    async def return_outcome(self, request: SupplierReturnRequest) -> SupplierReturnResult:
        """Poll for the answer to an earlier return request; PENDING if none yet."""
        ...
