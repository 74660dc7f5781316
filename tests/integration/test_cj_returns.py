"""Returns at CJ against the fake CJ server over real HTTP (INTEGRATIONS.md §4.3).

Rules: R6 (the supplier is asked for its return address / RMA / label, accepts, and the address
goes to the customer), R4 (damaged, defective, wrong item, not as described: CJ is claimed for a
refund or a replacement) and STYLE.md "Side effects happen once" (the same key gives one dispute).
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from domain.errors import PermanentError, TransientError
from domain.money import Money
from domain.returns import ReturnReason
from integrations.cj import CJClient, CJSupplier
from integrations.cj.supplier import return_dispute_message
from integrations.suppliers.base import (
    CancellationItem,
    ReturnClaim,
    ReturnItem,
    SupplierAnswer,
    SupplierCancellationRequest,
    SupplierChannel,
    SupplierReturnRequest,
)
from sandbox.cj_fake import RunningFakeCJ
from tests.integration.cj_fixtures import (  # noqa: F401 - fixtures, registered by import
    CJControl,
    cj_client_fixture,
    cj_control_fixture,
    cj_fake_fixture,
    cj_http_fixture,
    cj_server_fixture,
    cj_supplier_fixture,
)

ORDER = "5550001"
KEY = "supplier-return:case-77:cj"
RETURN_ADDRESS = "CJ Returns, 12 Rue du Port, 93200 Saint-Denis, France"
PHOTOS = ["https://cdn.example/case-77/box.jpg", "https://cdn.example/case-77/lamp.jpg"]
LAMP = {
    "lineItemId": "900001",
    "vid": "V-LAMP",
    "quantity": 1,
    "sellPrice": "7.25",
    "sku": "CJLAMP01",
    "storeLineItemId": "111",
    "productName": "Nordic lamp",
}
BULBS = {
    "lineItemId": "900002",
    "vid": "V-BULB",
    "quantity": 2,
    "sellPrice": "2.50",
    "sku": "CJBULB02",
    "storeLineItemId": "222",
    "productName": "LED bulb",
}
LAMP_ITEM = ReturnItem(line_item_id="gid://shopify/LineItem/111", title="Nordic lamp", sku="LMP-01", quantity=1)
BULB_ITEM = ReturnItem(line_item_id="gid://shopify/LineItem/222", title="LED bulb", sku="BLB-02", quantity=2)


def a_return(
    reason: ReturnReason = ReturnReason.DAMAGED,
    claim: ReturnClaim | None = "refund",
    *,
    items: list[ReturnItem] | None = None,
    order_id: str = ORDER,
    note: str | None = "The lamp arrived with its base cracked.",
) -> SupplierReturnRequest:
    return SupplierReturnRequest(
        reference="CASE-77",
        store_name="Maison Lumière",
        order_name="#1001",
        order_id=order_id,
        items=items or [LAMP_ITEM],
        reason=reason,
        reason_text="Item arrived damaged.",
        customer_note=note,
        photo_urls=PHOTOS,
        claim=claim,
        reply_to="support@maison-lumiere.example",
        customer_country="FR",
    )


@pytest.fixture(name="returns_supplier")
def returns_supplier_fixture(cj_client: CJClient) -> CJSupplier:
    supplier = CJSupplier(cj_client, return_address=RETURN_ADDRESS)
    channel: SupplierChannel = supplier  # mypy checks the interface, returns included
    assert channel is supplier
    return supplier


async def resolve(
    cj_fake: RunningFakeCJ, http: httpx.AsyncClient, finally_deal: int, **extra: Any
) -> dict[str, Any]:
    """The fake's control call, with the optional fields (`money`, `resendOrderCode`, `disputeId`)."""
    response = await http.post(
        f"{cj_fake.root_url}/_control/disputes/{ORDER}/resolve", json={"finallyDeal": finally_deal, **extra}
    )
    response.raise_for_status()
    dispute: dict[str, Any] = response.json()["dispute"]
    return dispute


def paths(calls: list[dict[str, Any]]) -> list[str]:
    return [c["path"] for c in calls]


# ---- request_return: one dispute, the right reason and expectType (R4, R6) ----------------------


@pytest.mark.parametrize(
    ("reason", "claim", "cj_reason", "expect_type"),
    [
        (ReturnReason.DAMAGED, "refund", "Product damaged", 1),
        (ReturnReason.DEFECTIVE, "replacement", "Quality problem", 2),
        (ReturnReason.WRONG_ITEM, "replacement", "Wrong product received", 2),
        (ReturnReason.NOT_AS_DESCRIBED, "refund", "Not as described", 1),
        (ReturnReason.WRONG_SIZE, None, "Other", 1),
        (ReturnReason.CHANGED_MIND, None, "Other", 1),
    ],
)
async def test_return_opens_one_dispute_with_the_matching_reason_and_expect_type(
    cj_control: CJControl,
    returns_supplier: CJSupplier,
    reason: ReturnReason,
    claim: ReturnClaim | None,
    cj_reason: str,
    expect_type: int,
) -> None:
    await cj_control.seed(ORDER, "DELIVERED", [LAMP, BULBS], trackNumber="LP123456789FR")

    result = await returns_supplier.request_return(a_return(reason, claim), idempotency_key=KEY)

    [dispute] = await cj_control.disputes()
    assert result.answer is SupplierAnswer.PENDING
    assert result.remote_id == dispute["id"]
    assert result.address is None  # R2: only once CJ accepts
    assert dispute["businessDisputeId"] == KEY
    assert dispute["disputeReason"] == cj_reason
    assert (dispute["expectType"], dispute["refundType"]) == (expect_type, 1)
    assert dispute["imageUrl"] == PHOTOS
    assert [(p["lineItemId"], p["quantity"]) for p in dispute["productList"]] == [("900001", 1)]
    message = dispute["messageText"]
    assert message.startswith("Ref CASE-77") and len(message) <= 500
    assert "return address" in message and "RMA" in message and "cracked" in message
    assert result.extra["expect_type"] == str(expect_type)


async def test_the_same_key_twice_gives_one_dispute(cj_control: CJControl, returns_supplier: CJSupplier) -> None:
    await cj_control.seed(ORDER, "DELIVERED", [LAMP, BULBS])

    first = await returns_supplier.request_return(a_return(), idempotency_key=KEY)
    again = await returns_supplier.request_return(a_return(), idempotency_key=KEY)

    [dispute] = await cj_control.disputes()
    assert first.answer is again.answer is SupplierAnswer.PENDING
    assert first.remote_id == again.remote_id == dispute["id"]
    assert len(await cj_control.calls("/disputes/create")) == 1  # the open dispute was found, not redone


async def test_resend_after_a_lost_create_answer_gives_one_dispute(
    cj_control: CJControl, returns_supplier: CJSupplier
) -> None:
    await cj_control.seed(ORDER, "SHIPPED", [LAMP])
    await cj_control.fault("/disputes/create", "http_500_after_commit")

    with pytest.raises(TransientError):
        await returns_supplier.request_return(a_return(), idempotency_key=KEY)
    retried = await returns_supplier.request_return(a_return(), idempotency_key=KEY)

    [dispute] = await cj_control.disputes()
    assert retried.answer is SupplierAnswer.PENDING and retried.remote_id == dispute["id"]


async def test_a_resend_after_cj_decided_is_deduplicated_and_gives_the_decision(
    cj_control: CJControl, cj_fake: RunningFakeCJ, cj_http: httpx.AsyncClient, returns_supplier: CJSupplier
) -> None:
    """Once decided, CJ lets the lines be chosen again: only `businessDisputeId` stops a second dispute."""
    await cj_control.seed(ORDER, "DELIVERED", [LAMP])
    await returns_supplier.request_return(a_return(), idempotency_key=KEY)
    await resolve(cj_fake, cj_http, 3)

    again = await returns_supplier.request_return(a_return(), idempotency_key=KEY)

    assert len(await cj_control.disputes()) == 1
    assert [c["code"] for c in await cj_control.calls("/disputes/create")] == [200, 200]
    assert again.answer is SupplierAnswer.REFUSED


async def test_only_the_returned_lines_are_claimed(cj_control: CJControl, returns_supplier: CJSupplier) -> None:
    await cj_control.seed(ORDER, "DELIVERED", [LAMP, BULBS])
    one_bulb = BULB_ITEM.model_copy(update={"quantity": 1})

    await returns_supplier.request_return(a_return(items=[one_bulb]), idempotency_key=KEY)

    [dispute] = await cj_control.disputes()
    assert [(p["lineItemId"], p["quantity"]) for p in dispute["productList"]] == [("900002", 1)]
    assert dispute["claimed"] == 2.5


async def test_an_order_cj_never_shipped_or_never_had_is_refused_without_a_dispute(
    cj_control: CJControl, returns_supplier: CJSupplier
) -> None:
    await cj_control.seed(ORDER, "UNSHIPPED", [LAMP])

    unshipped = await returns_supplier.request_return(a_return(), idempotency_key=KEY)
    missing = await returns_supplier.request_return(a_return(order_id="never-sent"), idempotency_key=KEY)

    assert unshipped.answer is SupplierAnswer.REFUSED and "cancellation" in (unshipped.detail or "")
    assert missing.answer is SupplierAnswer.REFUSED and "never passed on" in (missing.detail or "")
    assert "/disputes/create" not in paths(await cj_control.calls())


async def test_no_matching_reason_stops_for_the_operator(
    cj_control: CJControl, cj_fake: RunningFakeCJ, returns_supplier: CJSupplier
) -> None:
    cj_fake.state.reset(dispute_reasons=((1, "Product damaged"), (8, "Unfulfilled Order Cancellation")))
    await cj_control.seed(ORDER, "DELIVERED", [LAMP])

    with pytest.raises(PermanentError) as caught:
        await returns_supplier.request_return(a_return(ReturnReason.WRONG_SIZE, None), idempotency_key=KEY)

    assert caught.value.code == "no_return_reason" and not caught.value.retryable
    assert await cj_control.disputes() == []


def test_message_text_keeps_the_reference_and_the_ask_when_the_note_is_long() -> None:
    text = return_dispute_message(a_return(claim="replacement", note="blah " * 300))
    assert len(text) <= 500
    assert text.startswith("Ref CASE-77: customer return on store order #1001")
    assert "return address" in text and "send a replacement" in text and "LMP-01 x1" in text


# ---- return_outcome: PENDING, then CJ's decision (R6) ------------------------------------------


async def test_refund_accepted_gives_the_amount_and_the_configured_return_address(
    cj_control: CJControl, cj_fake: RunningFakeCJ, cj_http: httpx.AsyncClient, returns_supplier: CJSupplier
) -> None:
    await cj_control.seed(ORDER, "DELIVERED", [LAMP, BULBS])
    opened = await returns_supplier.request_return(a_return(), idempotency_key=KEY)
    pending = await returns_supplier.return_outcome(a_return())
    assert pending.answer is SupplierAnswer.PENDING and pending.remote_id == opened.remote_id
    assert pending.address is None

    await resolve(cj_fake, cj_http, 1, money="7.25")
    outcome = await returns_supplier.return_outcome(a_return())

    assert outcome.answer is SupplierAnswer.ACCEPTED
    assert outcome.remote_id == opened.remote_id
    assert outcome.refund == Money.of("7.25", "USD")
    assert outcome.address == RETURN_ADDRESS
    assert outcome.replacement_tracking is None
    assert (await cj_control.order(ORDER))["orderStatus"] == "DELIVERED"


async def test_reissue_accepted_gives_the_resend_order(
    cj_control: CJControl, cj_fake: RunningFakeCJ, cj_http: httpx.AsyncClient, returns_supplier: CJSupplier
) -> None:
    await cj_control.seed(ORDER, "DELIVERED", [LAMP])
    await returns_supplier.request_return(a_return(ReturnReason.DEFECTIVE, "replacement"), idempotency_key=KEY)
    await resolve(cj_fake, cj_http, 2, resendOrderCode="SD2508010928260329701")

    outcome = await returns_supplier.return_outcome(a_return(ReturnReason.DEFECTIVE, "replacement"))

    assert outcome.answer is SupplierAnswer.ACCEPTED
    assert outcome.replacement_tracking == "SD2508010928260329701"
    assert outcome.refund is None
    assert outcome.address == RETURN_ADDRESS


async def test_rejected_return_is_refused_without_an_address(
    cj_control: CJControl, cj_fake: RunningFakeCJ, cj_http: httpx.AsyncClient, returns_supplier: CJSupplier
) -> None:
    await cj_control.seed(ORDER, "DELIVERED", [LAMP])
    opened = await returns_supplier.request_return(a_return(), idempotency_key=KEY)
    await resolve(cj_fake, cj_http, 3)

    outcome = await returns_supplier.return_outcome(a_return())

    assert outcome.answer is SupplierAnswer.REFUSED
    assert outcome.remote_id == opened.remote_id
    assert outcome.address is None and outcome.refund is None
    assert outcome.detail is not None and "rejected" in outcome.detail


async def test_without_a_configured_return_address_the_acceptance_says_so(
    cj_control: CJControl, cj_client: CJClient
) -> None:
    supplier = CJSupplier(cj_client)
    await cj_control.seed(ORDER, "DELIVERED", [LAMP])
    await supplier.request_return(a_return(), idempotency_key=KEY)
    await cj_control.resolve(ORDER, 1)

    outcome = await supplier.return_outcome(a_return())

    assert outcome.answer is SupplierAnswer.ACCEPTED and outcome.address is None
    assert outcome.detail is not None and "no CJ return address" in outcome.detail


async def test_decided_automatically_after_the_delay(cj_control: CJControl, returns_supplier: CJSupplier) -> None:
    await cj_control.reset(auto_resolve_seconds=0, auto_resolve_deal=1)
    await cj_control.seed(ORDER, "DELIVERED", [LAMP, BULBS])
    await returns_supplier.request_return(a_return(items=[LAMP_ITEM, BULB_ITEM]), idempotency_key=KEY)

    outcome = await returns_supplier.return_outcome(a_return(items=[LAMP_ITEM, BULB_ITEM]))

    assert outcome.answer is SupplierAnswer.ACCEPTED
    assert outcome.refund == Money.of("12.25", "USD")  # 7.25 + 2 x 2.50, as claimed


async def test_an_earlier_cancellation_dispute_is_not_taken_for_the_return(
    cj_control: CJControl, cj_fake: RunningFakeCJ, cj_http: httpx.AsyncClient, returns_supplier: CJSupplier
) -> None:
    """The order was disputed for a cancellation (rejected: it shipped); the return is another dispute."""
    await cj_control.seed(ORDER, "UNSHIPPED", [LAMP])
    cancellation = SupplierCancellationRequest(
        reference="CASE-77",
        store_name="Maison Lumière",
        order_name="#1001",
        order_id=ORDER,
        items=[CancellationItem(line_item_id="gid://shopify/LineItem/111", title="Nordic lamp", quantity=1)],
        reason_text="Changed mind.",
        reply_to="support@maison-lumiere.example",
    )
    await returns_supplier.request_cancellation(cancellation, idempotency_key="supplier-cancel:case-77:cj")
    await resolve(cj_fake, cj_http, 3)
    await cj_control.set_status(ORDER, "DELIVERED", trackNumber="LP123456789FR")

    before = await returns_supplier.return_outcome(a_return())
    opened = await returns_supplier.request_return(a_return(), idempotency_key=KEY)
    await resolve(cj_fake, cj_http, 1)
    after = await returns_supplier.return_outcome(a_return())

    assert before.answer is SupplierAnswer.PENDING and before.remote_id is None
    assert len(await cj_control.disputes()) == 2
    assert opened.answer is SupplierAnswer.PENDING
    assert after.answer is SupplierAnswer.ACCEPTED and after.remote_id == opened.remote_id
