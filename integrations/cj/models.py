"""CJ Dropshipping API 2.0 wire models: the `data` of each answer, field names as in
INTEGRATIONS.md §4.2 / §4.3 (camelCase on the wire), and the envelope every answer comes in (§4.1).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic.alias_generators import to_camel

VENDOR = "cj"
CJ_CURRENCY = "USD"  # every CJ amount is in USD (§4.3)

BUSINESS_ID_MAX = 100  # §4.3 create: businessDisputeId ≤ 100
MESSAGE_TEXT_MAX = 500  # §4.3 create: messageText ≤ 500
EXPECT_REFUND, EXPECT_REISSUE = 1, 2  # §4.3 expectType 1 Refund, 2 Reissue
REFUND_TO_BALANCE = 1  # §4.3 refundType 1 CJ balance
DEAL_REFUND, DEAL_REISSUE, DEAL_REJECT = 1, 2, 3  # §4.3 getDisputeList finallyDeal


class _CJModel(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="ignore",
        frozen=True,
        coerce_numbers_to_str=True,
    )


def _list_or_empty(value: Any) -> Any:
    return [] if value is None else value


class CJOrderProduct(_CJModel):
    vid: str | None = None
    quantity: int = 0
    sell_price: Decimal | None = None
    line_item_id: str | None = None
    store_line_item_id: str | None = None


class CJOrderDetail(_CJModel):
    """`GET /shopping/order/getOrderDetail` data (§4.2)."""

    order_id: str
    order_num: str | None = None
    cj_order_id: str | None = None
    platform_order_id: str | None = None
    order_status: str | None = None
    logistic_name: str | None = None
    track_number: str | None = None
    tracking_url: str | None = None
    dispute_id: str | None = None
    order_amount: Decimal | None = None
    product_list: list[CJOrderProduct] = Field(default_factory=list)

    _none_is_empty = field_validator("product_list", mode="before")(_list_or_empty)


class CJDisputeProduct(_CJModel):
    """One line of `GET /disputes/disputeProducts` (§4.3 step 1)."""

    line_item_id: str
    cj_product_id: str | None = None
    cj_variant_id: str | None = None
    can_choose: bool = True
    price: Decimal = Decimal(0)
    quantity: int = 0
    cj_product_name: str | None = None
    sku: str | None = None
    supplier_name: str | None = None


class CJDisputeProducts(_CJModel):
    order_id: str
    order_number: str | None = None
    product_info_list: list[CJDisputeProduct] = Field(default_factory=list)

    _none_is_empty = field_validator("product_info_list", mode="before")(_list_or_empty)


class CJDisputeLine(_CJModel):
    """A line we claim in `disputeConfirmInfo` and `create`: CJ line id, quantity, unit price (USD)."""

    line_item_id: str
    quantity: int
    price: Decimal

    def wire(self) -> dict[str, Any]:
        # JSON has no decimal type; a 2-place USD amount survives float's shortest repr exactly.
        return {"lineItemId": self.line_item_id, "quantity": self.quantity, "price": float(self.price)}


class CJDisputeReason(_CJModel):
    dispute_reason_id: int
    reason_name: str


class CJDisputeConfirmInfo(_CJModel):
    """`POST /disputes/disputeConfirmInfo` data (§4.3 step 2)."""

    order_id: str
    order_number: str | None = None
    expect_result_option_list: list[str] = Field(default_factory=list)
    max_product_price: Decimal | None = None
    max_postage: Decimal | None = None
    max_amount: Decimal | None = None
    product_info_list: list[CJDisputeProduct] = Field(default_factory=list)
    dispute_reason_list: list[CJDisputeReason] = Field(default_factory=list)

    _none_is_empty = field_validator(
        "expect_result_option_list", "product_info_list", "dispute_reason_list", mode="before"
    )(_list_or_empty)


class CJDisputeListProduct(_CJModel):
    line_item_id: str | None = None
    cj_product_id: str | None = None
    cj_variant_id: str | None = None
    product_name: str | None = None
    price: Decimal | None = None
    supplier_name: str | None = None


class CJDispute(_CJModel):
    """One entry of `GET /disputes/getDisputeList` (§4.3 step 5)."""

    id: str
    status: str | None = None
    dispute_reason: str | None = None
    replacement_amount: Decimal | None = None
    resend_order_code: str | None = None
    money: Decimal | None = None
    finally_deal: int | None = None  # 1 refund, 2 reissue, 3 reject; None while undecided
    create_date: str | None = None
    product_list: list[CJDisputeListProduct] = Field(default_factory=list)

    _none_is_empty = field_validator("product_list", mode="before")(_list_or_empty)


class CJDisputePage(_CJModel):
    page_num: int = 1
    page_size: int = 10
    total: int = 0
    disputes: list[CJDispute] = Field(default_factory=list, alias="list")

    _none_is_empty = field_validator("disputes", mode="before")(_list_or_empty)


class Envelope(_CJModel):
    """Every answer: `{code, result, message, data, requestId}`; an error comes as a code in HTTP 200 (§4.1)."""

    code: int | None = None
    result: bool | None = None
    message: str | None = None
    data: Any = None
    request_id: str | None = None

