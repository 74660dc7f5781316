"""What comes in: the bodies we accept from customers and operators, and how each inbound
topic becomes a Prefect event (names: `<domain>.<object>.<past tense>`, STYLE.md)."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from domain.cancellation import RefundMethod
from domain.policy import CancellationReason

_EMAIL = re.compile(r"^[^@\s,;<>\"']+@[^@\s,;<>\"']+\.[^@\s,;<>\"']+$")
_ORDER_NUMBER = re.compile(r"^#?\d{1,20}$")


def normalise_order_number(value: str) -> str:
    value = value.strip()
    if not _ORDER_NUMBER.match(value):
        raise ValueError("an order number is digits, optionally after '#', e.g. #1001")
    return "#" + value.lstrip("#")


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class CustomerCancellationBody(_Body):
    """A cancellation request from the store's contact form, email or chat (seed 002)."""

    order_number: str = Field(description="The order number the customer received, e.g. #1001")
    email: str = Field(description="The email address used for the order (proves the order)")
    reason: CancellationReason = Field(description="C1 taxonomy")
    message: str | None = Field(default=None, max_length=2000)
    refund_method: RefundMethod = RefundMethod.ORIGINAL
    items: list[str] = Field(default_factory=list, max_length=50,
                             description="SKUs to cancel; empty means the whole order")
    insist: bool = Field(default=False, description="The customer wants no alternative (C6)")
    keep_order: bool = Field(default=False, description="The customer takes the alternative offered (C6)")
    language: Literal["fr", "en"] | None = None

    @field_validator("order_number")
    @classmethod
    def _order(cls, v: str) -> str:
        return normalise_order_number(v)

    @field_validator("email")
    @classmethod
    def _email(cls, v: str) -> str:
        if len(v) > 254 or not _EMAIL.match(v):
            raise ValueError("not a valid email address")
        return v.lower()


class SupplierReplyBody(_Body):
    """The supplier's answer to a cancellation request, recorded by the operator or parsed
    from an inbound reply (C8)."""

    order_number: str
    supplier_id: str
    answer: Literal["accepted", "refused"]
    note: str | None = Field(default=None, max_length=2000)
    tracking_number: str | None = Field(default=None, max_length=100)

    @field_validator("order_number")
    @classmethod
    def _order(cls, v: str) -> str:
        return normalise_order_number(v)


class StockMissingBody(_Body):
    """A supplier reports items it cannot supply: partial cancellation (C5)."""

    order_number: str
    skus: list[str] = Field(min_length=1, max_length=50)
    supplier_id: str | None = None
    note: str | None = Field(default=None, max_length=2000)

    @field_validator("order_number")
    @classmethod
    def _order(cls, v: str) -> str:
        return normalise_order_number(v)


# (source, topic) -> Prefect event name. Anything else is stored and rejected with a reason.
EVENT_NAMES: dict[tuple[str, str], str] = {
    ("shopify", "orders/cancelled"): "store.order.cancelled",
    ("shopify", "orders/updated"): "store.order.updated",
    ("shopify", "fulfillments/create"): "store.fulfillment.created",
    ("shopify", "fulfillments/update"): "store.fulfillment.updated",
    ("customer", "cancellation.requested"): "customer.cancellation.requested",
    ("operator", "supplier.reply"): "supplier.reply.received",
    ("operator", "stock.missing"): "supplier.stock.missing",
}

# Topics that only matter when a case is already open for the order.
FOLLOW_UP_TOPICS = {"orders/updated", "fulfillments/create", "fulfillments/update"}


def order_resource_id(order_ref: str) -> str:
    return f"store.order.{order_ref}"
