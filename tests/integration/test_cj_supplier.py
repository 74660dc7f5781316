"""The CJ client and supplier channel against the fake CJ server over real HTTP (INTEGRATIONS.md §4).

Rules: C3 (tell the supplier, nothing ships for nothing), C8 (refused or shipped -> C4), and
STYLE.md "Side effects happen once" (a resend with the same key gives one dispute).
"""

from __future__ import annotations

import socket
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from domain.errors import (
    AuthenticationFailed,
    NotFound,
    PermanentError,
    RateLimited,
    TransientError,
)
from domain.money import Money
from integrations.cj import CJClient, CJSupplier, InMemoryTokenStore
from integrations.cj.models import CJDisputeLine
from integrations.cj.supplier import business_dispute_id
from integrations.suppliers.base import (
    CancellationItem,
    SupplierAnswer,
    SupplierCancellationRequest,
    SupplierOrderState,
)
from integrations.suppliers.settings import CJSettings
from sandbox.cj_fake import RunningFakeCJ
from tests.integration.cj_fixtures import (  # noqa: F401 - fixtures, registered by import
    CJControl,
    cj_client_fixture,
    cj_control_fixture,
    cj_fake_fixture,
    cj_http_fixture,
    cj_server_fixture,
    cj_supplier_fixture,
    make_client,
)

ORDER = "5550001"
KEY = "supplier-cancel:case-42:cj"
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
TOKEN_PATH = "/authentication/getAccessToken"


def cancellation(
    order_id: str = ORDER, *, items: list[CancellationItem] | None = None, full_order: bool = True
) -> SupplierCancellationRequest:
    return SupplierCancellationRequest(
        reference="CASE-42",
        store_name="Maison Lumière",
        order_name="#1001",
        order_id=order_id,
        items=items
        or [
            CancellationItem(
                line_item_id="gid://shopify/LineItem/111", title="Nordic lamp", sku="LMP-01", quantity=1
            ),
            CancellationItem(
                line_item_id="gid://shopify/LineItem/222", title="LED bulb", sku="BLB-02", quantity=2
            ),
        ],
        reason_text="The customer changed their mind before shipping.",
        reply_to="support@maison-lumiere.example",
        full_order=full_order,
    )


def paths(calls: list[dict[str, Any]]) -> list[str]:
    return [c["path"] for c in calls]


# ---- tokens (§4.1) ----------------------------------------------------------------------------


async def test_token_is_obtained_once_and_reused_on_every_call(
    cj_control: CJControl, cj_client: CJClient
) -> None:
    await cj_control.seed(ORDER, "UNSHIPPED", [LAMP])

    for _ in range(3):
        await cj_client.get_order_detail(ORDER)
    await cj_client.get_dispute_list(ORDER)

    calls = await cj_control.calls()
    assert paths(calls).count(TOKEN_PATH) == 1
    api_calls = [c for c in calls if not c["path"].startswith("/authentication/")]
    assert len(api_calls) == 4
    assert {c["code"] for c in api_calls} == {200}
    tokens = {c["accessToken"] for c in api_calls}
    assert len(tokens) == 1 and None not in tokens


async def test_token_store_spares_the_once_per_5_minutes_token_call(
    cj_control: CJControl, cj_fake: RunningFakeCJ, cj_http: httpx.AsyncClient
) -> None:
    await cj_control.seed(ORDER, "UNSHIPPED", [LAMP])
    store = InMemoryTokenStore()
    await make_client(cj_fake, cj_http, store).get_order_detail(ORDER)

    await make_client(cj_fake, cj_http, store).get_order_detail(ORDER)  # a new worker, same store
    assert paths(await cj_control.calls()).count(TOKEN_PATH) == 1

    with pytest.raises(RateLimited) as caught:  # a new worker without the store: CJ says no
        await make_client(cj_fake, cj_http, InMemoryTokenStore()).get_order_detail(ORDER)
    assert caught.value.retryable and caught.value.code == "1600200"
    assert caught.value.retry_after is not None and caught.value.retry_after >= 300
    assert caught.value.request_id


async def test_expired_access_token_is_refreshed_not_reissued(
    cj_control: CJControl, cj_fake: RunningFakeCJ, cj_http: httpx.AsyncClient
) -> None:
    await cj_control.seed(ORDER, "UNSHIPPED", [LAMP])
    store = InMemoryTokenStore()
    await make_client(cj_fake, cj_http, store).get_order_detail(ORDER)
    first = await store.load()
    assert first is not None

    later = CJClient(
        CJSettings(base_url=cj_fake.base_url),
        cj_http,
        store,
        clock=lambda: datetime.now(UTC) + timedelta(days=16),
    )
    await later.get_order_detail(ORDER)

    calls = await cj_control.calls()
    assert paths(calls).count(TOKEN_PATH) == 1
    assert paths(calls).count("/authentication/refreshAccessToken") == 1
    saved = await store.load()
    assert saved is not None and saved.access_token != first.access_token
    assert calls[-1]["accessToken"] == saved.access_token.get_secret_value()


async def test_rejected_token_is_refreshed_once_and_the_call_succeeds(
    cj_control: CJControl, cj_client: CJClient
) -> None:
    await cj_control.seed(ORDER, "SHIPPED", [LAMP])
    await cj_client.get_order_detail(ORDER)
    await cj_control.revoke_tokens()

    detail = await cj_client.get_order_detail(ORDER)

    assert detail.order_status == "SHIPPED"
    detail_calls = await cj_control.calls("/shopping/order/getOrderDetail")
    assert [c["code"] for c in detail_calls] == [200, 1600001, 200]
    assert paths(await cj_control.calls()).count("/authentication/refreshAccessToken") == 1


async def test_token_rejected_after_renewal_is_authentication_failed(
    cj_control: CJControl, cj_client: CJClient
) -> None:
    await cj_control.seed(ORDER, "UNSHIPPED", [LAMP])
    await cj_control.fault("/shopping/order/getOrderDetail", "token_rejected", count=2)

    with pytest.raises(AuthenticationFailed) as caught:
        await cj_client.get_order_detail(ORDER)

    assert not caught.value.retryable and caught.value.code == "1600001"
    assert paths(await cj_control.calls()).count("/authentication/refreshAccessToken") == 1


async def test_wrong_api_key_is_authentication_failed(
    cj_control: CJControl, cj_fake: RunningFakeCJ, cj_http: httpx.AsyncClient
) -> None:
    client = make_client(cj_fake, cj_http, api_key="CJ1234567@api@wrong")
    with pytest.raises(AuthenticationFailed) as caught:
        await client.get_order_detail(ORDER)
    assert caught.value.code == "1600005" and not caught.value.retryable and caught.value.vendor == "cj"


# ---- order status (§4.2) ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cj_status", "state"),
    [
        ("CREATED", SupplierOrderState.CANCELLABLE),
        ("IN_CART", SupplierOrderState.CANCELLABLE),
        ("UNPAID", SupplierOrderState.CANCELLABLE),
        ("UNSHIPPED", SupplierOrderState.PAID),
        ("SHIPPED", SupplierOrderState.SHIPPED),
        ("DELIVERED", SupplierOrderState.DELIVERED),
        ("CANCELLED", SupplierOrderState.CANCELLED),
        ("OTHER", SupplierOrderState.UNKNOWN),
    ],
)
async def test_cj_status_maps_to_supplier_state(
    cj_control: CJControl, cj_supplier: CJSupplier, cj_status: str, state: SupplierOrderState
) -> None:
    seeded = await cj_control.seed(ORDER, cj_status, [LAMP], trackNumber="LP123FR")

    view = await cj_supplier.order_status(ORDER)

    assert view.state is state
    assert view.raw_status == cj_status
    assert view.tracking_number == "LP123FR"
    assert view.supplier_order_id == seeded["cjOrderId"]


async def test_unknown_order_is_not_found(cj_supplier: CJSupplier) -> None:
    assert (await cj_supplier.order_status("never-sent")).state is SupplierOrderState.NOT_FOUND


# ---- request_cancellation (C3, C8) ------------------------------------------------------------


@pytest.mark.parametrize("cj_status", ["CREATED", "IN_CART", "UNPAID"])
async def test_unpaid_order_is_deleted_and_accepted(
    cj_control: CJControl, cj_supplier: CJSupplier, cj_status: str
) -> None:
    await cj_control.seed(ORDER, cj_status, [LAMP, BULBS])

    result = await cj_supplier.request_cancellation(cancellation(), idempotency_key=KEY)

    assert result.answer is SupplierAnswer.ACCEPTED
    assert (await cj_control.order(ORDER))["orderStatus"] == "CANCELLED"
    deletes = await cj_control.calls("/shopping/order/deleteOrder")
    assert [(c["method"], c["query"]["orderId"], c["code"]) for c in deletes] == [("DELETE", ORDER, 200)]
    assert await cj_control.disputes() == []


async def test_lost_delete_answer_then_retry_reads_and_deletes_once(
    cj_control: CJControl, cj_supplier: CJSupplier
) -> None:
    await cj_control.seed(ORDER, "UNPAID", [LAMP])
    await cj_control.fault("/shopping/order/deleteOrder", "http_500_after_commit")

    with pytest.raises(TransientError) as caught:
        await cj_supplier.request_cancellation(cancellation(), idempotency_key=KEY)
    assert caught.value.retryable and caught.value.status_code == 500
    result = await cj_supplier.request_cancellation(cancellation(), idempotency_key=KEY)

    assert result.answer is SupplierAnswer.ACCEPTED
    assert result.detail is not None and "cancelled" in result.detail
    assert len(await cj_control.calls("/shopping/order/deleteOrder")) == 1


async def test_paid_order_opens_a_refund_dispute_then_refund_is_accepted(
    cj_control: CJControl, cj_supplier: CJSupplier
) -> None:
    await cj_control.seed(ORDER, "UNSHIPPED", [LAMP, BULBS])

    result = await cj_supplier.request_cancellation(cancellation(), idempotency_key=KEY)

    assert result.answer is SupplierAnswer.PENDING
    [dispute] = await cj_control.disputes()
    assert result.remote_id == dispute["id"]
    assert dispute["businessDisputeId"] == KEY
    assert dispute["disputeReason"] == "Unfulfilled Order Cancellation"  # chosen by name, not first
    assert (dispute["expectType"], dispute["refundType"]) == (1, 1)
    assert "CASE-42" in dispute["messageText"] and len(dispute["messageText"]) <= 500
    assert sorted((p["lineItemId"], p["quantity"]) for p in dispute["productList"]) == [
        ("900001", 1),
        ("900002", 2),
    ]
    assert (await cj_supplier.cancellation_outcome(cancellation())).answer is SupplierAnswer.PENDING

    await cj_control.resolve(ORDER, 1, "12.50")
    outcome = await cj_supplier.cancellation_outcome(cancellation())

    assert outcome.answer is SupplierAnswer.ACCEPTED
    assert outcome.refund == Money.of("12.50", "USD")
    assert outcome.remote_id == dispute["id"]


@pytest.mark.parametrize("finally_deal", [2, 3])
async def test_reissue_or_rejected_dispute_is_refused(
    cj_control: CJControl, cj_supplier: CJSupplier, finally_deal: int
) -> None:
    await cj_control.seed(ORDER, "UNSHIPPED", [LAMP])
    pending = await cj_supplier.request_cancellation(cancellation(), idempotency_key=KEY)
    await cj_control.resolve(ORDER, finally_deal)

    outcome = await cj_supplier.cancellation_outcome(cancellation())

    assert outcome.answer is SupplierAnswer.REFUSED
    assert outcome.remote_id == pending.remote_id
    assert outcome.refund is None


async def test_dispute_decided_automatically_after_the_delay(
    cj_control: CJControl, cj_supplier: CJSupplier
) -> None:
    await cj_control.reset(auto_resolve_seconds=0, auto_resolve_deal=1)
    await cj_control.seed(ORDER, "UNSHIPPED", [LAMP, BULBS])
    await cj_supplier.request_cancellation(cancellation(), idempotency_key=KEY)

    outcome = await cj_supplier.cancellation_outcome(cancellation())

    assert outcome.answer is SupplierAnswer.ACCEPTED
    assert outcome.refund == Money.of("12.25", "USD")  # 7.25 + 2 x 2.50, as claimed
    assert (await cj_control.order(ORDER))["orderStatus"] == "CANCELLED"


async def test_order_shipped_while_dispute_pending_is_refused(
    cj_control: CJControl, cj_supplier: CJSupplier
) -> None:
    await cj_control.seed(ORDER, "UNSHIPPED", [LAMP])
    await cj_supplier.request_cancellation(cancellation(), idempotency_key=KEY)
    await cj_control.set_status(ORDER, "SHIPPED", trackNumber="CJPKL7160102171YQ")

    outcome = await cj_supplier.cancellation_outcome(cancellation())

    assert outcome.answer is SupplierAnswer.REFUSED
    assert outcome.extra["tracking_number"] == "CJPKL7160102171YQ"


@pytest.mark.parametrize("cj_status", ["SHIPPED", "DELIVERED"])
async def test_shipped_order_is_refused_with_tracking(
    cj_control: CJControl, cj_supplier: CJSupplier, cj_status: str
) -> None:
    await cj_control.seed(ORDER, cj_status, [LAMP], trackNumber="LP123456789FR", logisticName="La Poste")

    result = await cj_supplier.request_cancellation(cancellation(), idempotency_key=KEY)

    assert result.answer is SupplierAnswer.REFUSED
    assert result.detail is not None and "shipped" in result.detail and "LP123456789FR" in result.detail
    assert result.extra["tracking_number"] == "LP123456789FR"
    assert paths(await cj_control.calls()) == [TOKEN_PATH, "/shopping/order/getOrderDetail"]


async def test_cancelled_or_unknown_order_is_accepted_without_writing(
    cj_control: CJControl, cj_supplier: CJSupplier
) -> None:
    await cj_control.seed(ORDER, "CANCELLED", [LAMP])

    cancelled = await cj_supplier.request_cancellation(cancellation(), idempotency_key=KEY)
    missing = await cj_supplier.request_cancellation(cancellation("never-sent"), idempotency_key=KEY)

    assert cancelled.answer is SupplierAnswer.ACCEPTED and "cancelled" in (cancelled.detail or "")
    assert missing.answer is SupplierAnswer.ACCEPTED and "never passed on" in (missing.detail or "")
    written = {"/shopping/order/deleteOrder", "/disputes/create"} & set(paths(await cj_control.calls()))
    assert written == set()


async def test_resend_after_lost_create_answer_gives_one_dispute(
    cj_control: CJControl, cj_supplier: CJSupplier
) -> None:
    await cj_control.seed(ORDER, "UNSHIPPED", [LAMP, BULBS])
    await cj_control.fault("/disputes/create", "http_500_after_commit")

    with pytest.raises(TransientError) as caught:
        await cj_supplier.request_cancellation(cancellation(), idempotency_key=KEY)
    assert caught.value.retryable
    retried = await cj_supplier.request_cancellation(cancellation(), idempotency_key=KEY)

    [dispute] = await cj_control.disputes()
    assert retried.answer is SupplierAnswer.PENDING
    assert retried.remote_id == dispute["id"]


async def test_cj_dedupes_a_resent_create_on_business_dispute_id(
    cj_control: CJControl, cj_client: CJClient
) -> None:
    await cj_control.seed(ORDER, "UNSHIPPED", [LAMP])
    lines = [CJDisputeLine(line_item_id="900001", quantity=1, price=Decimal("7.25"))]
    confirm = await cj_client.dispute_confirm_info(ORDER, lines)
    reason = confirm.dispute_reason_list[-1].dispute_reason_id

    for _ in range(2):
        await cj_client.create_dispute(
            business_dispute_id=KEY,
            order_id=ORDER,
            dispute_reason_id=reason,
            message_text="Ref CASE-42",
            products=lines,
        )

    assert len(await cj_control.disputes()) == 1
    assert [c["code"] for c in await cj_control.calls("/disputes/create")] == [200, 200]
    page = await cj_client.get_dispute_list(ORDER)
    assert page.total == 1 and page.disputes[0].finally_deal is None


async def test_partial_cancellation_claims_only_the_matched_lines(
    cj_control: CJControl, cj_supplier: CJSupplier
) -> None:
    await cj_control.seed(ORDER, "UNSHIPPED", [LAMP, BULBS])
    one_bulb = CancellationItem(
        line_item_id="gid://shopify/LineItem/222", title="LED bulb", sku="BLB-02", quantity=1
    )

    result = await cj_supplier.request_cancellation(
        cancellation(items=[one_bulb], full_order=False), idempotency_key=KEY
    )

    assert result.answer is SupplierAnswer.PENDING
    [dispute] = await cj_control.disputes()
    assert [(p["lineItemId"], p["quantity"]) for p in dispute["productList"]] == [("900002", 1)]
    assert dispute["claimed"] == 2.5


async def test_no_cancellation_like_reason_stops_for_the_operator(
    cj_control: CJControl, cj_fake: RunningFakeCJ, cj_supplier: CJSupplier
) -> None:
    cj_fake.state.reset(dispute_reasons=((1, "Product damaged"), (2, "Wrong color")))
    await cj_control.seed(ORDER, "UNSHIPPED", [LAMP])

    with pytest.raises(PermanentError) as caught:
        await cj_supplier.request_cancellation(cancellation(), idempotency_key=KEY)

    assert caught.value.code == "no_cancellation_reason" and not caught.value.retryable
    assert await cj_control.disputes() == []


def test_business_dispute_id_fits_cj_and_stays_deterministic() -> None:
    long_a, long_b = "k" * 150 + "a", "k" * 150 + "b"
    assert business_dispute_id(KEY) == KEY
    assert len(business_dispute_id(long_a)) == 100
    assert business_dispute_id(long_a) == business_dispute_id(long_a)
    assert business_dispute_id(long_a) != business_dispute_id(long_b)


# ---- error mapping (STYLE.md "Errors") --------------------------------------------------------


async def test_rate_limit_is_retryable_with_cj_code_and_request_id(
    cj_control: CJControl, cj_client: CJClient
) -> None:
    await cj_control.seed(ORDER, "UNSHIPPED", [LAMP])
    await cj_control.fault("/shopping/order/getOrderDetail", "rate_limited")

    with pytest.raises(RateLimited) as caught:
        await cj_client.get_order_detail(ORDER)

    error = caught.value
    assert error.retryable and error.vendor == "cj"
    assert (error.status_code, error.code, error.retry_after) == (429, "1600200", 1.0)
    assert error.request_id
    assert (await cj_client.get_order_detail(ORDER)).order_id == ORDER  # the fault was one-off


async def test_gateway_500_without_envelope_is_transient(cj_control: CJControl, cj_client: CJClient) -> None:
    await cj_control.seed(ORDER, "UNSHIPPED", [LAMP])
    await cj_control.fault("/shopping/order/getOrderDetail", "http_500")

    with pytest.raises(TransientError) as caught:
        await cj_client.get_order_detail(ORDER)

    assert type(caught.value) is TransientError and caught.value.retryable
    assert caught.value.status_code == 500
    assert (await cj_client.get_order_detail(ORDER)).order_id == ORDER


async def test_cj_system_busy_keeps_its_code_and_request_id(
    cj_control: CJControl, cj_client: CJClient
) -> None:
    await cj_control.seed(ORDER, "UNSHIPPED", [LAMP])
    await cj_control.fault("/shopping/order/getOrderDetail", "http_500_after_commit")

    with pytest.raises(TransientError) as caught:
        await cj_client.get_order_detail(ORDER)

    assert caught.value.retryable and caught.value.code == "1600000" and caught.value.request_id


async def test_timeout_is_transient(
    cj_control: CJControl, cj_fake: RunningFakeCJ, cj_http: httpx.AsyncClient
) -> None:
    client = make_client(cj_fake, cj_http, timeout_seconds=0.3)
    await cj_control.seed(ORDER, "UNSHIPPED", [LAMP])
    await client.get_order_detail(ORDER)  # token first, so that the timeout hits the order call
    await cj_control.fault("/shopping/order/getOrderDetail", "timeout", delaySeconds=1.0)

    with pytest.raises(TransientError) as caught:
        await client.get_order_detail(ORDER)

    assert caught.value.retryable and caught.value.code == "timeout" and not caught.value.ambiguous


async def test_unreachable_server_is_transient(cj_http: httpx.AsyncClient) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = CJClient(CJSettings(base_url=f"http://127.0.0.1:{port}/api2.0/v1"), cj_http)
    with pytest.raises(TransientError) as caught:
        await client.get_order_detail(ORDER)
    assert caught.value.retryable and caught.value.code == "network"


async def test_order_not_found_is_permanent_not_found(cj_client: CJClient) -> None:
    with pytest.raises(NotFound) as caught:
        await cj_client.get_order_detail("never-sent")
    assert not caught.value.retryable
    assert caught.value.code == "1600300" and caught.value.request_id


async def test_param_error_is_permanent(cj_control: CJControl, cj_client: CJClient) -> None:
    await cj_control.seed(ORDER, "UNSHIPPED", [LAMP])
    bad = [CJDisputeLine(line_item_id="no-such-line", quantity=1, price=Decimal("1.00"))]

    with pytest.raises(PermanentError) as caught:
        await cj_client.dispute_confirm_info(ORDER, bad)

    assert type(caught.value) is PermanentError and not caught.value.retryable
    assert caught.value.code == "1600100" and caught.value.request_id
