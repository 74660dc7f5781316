"""The PayPal client against the fake PayPal over real HTTP (INTEGRATIONS.md §6; K2-K5).

Rules: K5 (the PSP's `seller_response_due_date` is the deadline, read as an aware datetime), K3/K4
(evidence with tracking and files, or accept the claim), STYLE.md "Side effects happen once" (one
PayPal-Request-Id, one submission, whatever the retries) and "Errors" (typed, with PayPal's issue).
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from domain.errors import (
    AuthenticationFailed,
    InvalidInput,
    NotFound,
    PermanentError,
    RateLimited,
    TransientError,
)
from domain.money import Money
from integrations.paypal import (
    DISPUTE_CREATED,
    DISPUTE_RESOLVED,
    DISPUTE_UPDATED,
    EvidenceItem,
    PayPalClient,
    TrackingInfo,
    parse_dispute_event,
)
from sandbox.paypal import RunningFakePayPal
from tests.integration.paypal_fixtures import (  # noqa: F401 - fixtures, registered by import
    CLIENT_ID,
    PayPalControl,
    WebhookSink,
    make_client,
    paypal_client_fixture,
    paypal_control_fixture,
    paypal_fake_fixture,
    paypal_http_fixture,
    paypal_server_fixture,
    webhook_sink_fixture,
)

TOKEN_PATH = "/v1/oauth2/token"
EVIDENCE_PATH = "/v1/customer/disputes/*/provide-evidence"
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n\x00\xff\xfe binary tail"
KEY = "paypal-evidence:case-42:PP-D-1"


async def new_dispute(control: PayPalControl, **spec: Any) -> dict[str, Any]:
    """A not-received claim on order 1001 (93.80 EUR), without a webhook unless asked."""
    body: dict[str, Any] = {
        "invoice_number": "1001",
        "custom": "5840000002001",
        "seller_transaction_id": "9XF14200T8003681K",
        "amount": "93.80",
        "currency": "EUR",
        "notify": False,
        **spec,
    }
    dispute: dict[str, Any] = (await control.create_dispute(**body))["dispute"]
    return dispute


def fulfilment_evidence() -> list[EvidenceItem]:
    return [
        EvidenceItem(
            evidence_type="PROOF_OF_FULFILLMENT",
            notes="Shipped with Colissimo on 2 May, delivered to the customer's address on 6 May.",
            tracking_info=[{"carrier_name": "FR_COLIPOSTE", "tracking_number": "6A12345678901"}],
        ),
        EvidenceItem(evidence_type="OTHER", notes="Customer e-mails and the shop's delivery policy are attached."),
    ]


def api_calls(calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [c for c in calls if c["path"] != TOKEN_PATH]


# ---------------------------------------------------------------------- OAuth2 token lifecycle


async def test_token_is_fetched_once_and_reused(paypal_control: PayPalControl, paypal_client: PayPalClient) -> None:
    dispute = await new_dispute(paypal_control)

    for _ in range(3):
        await paypal_client.get_dispute(dispute["dispute_id"])
    await paypal_client.provide_evidence(dispute["dispute_id"], fulfilment_evidence(), idempotency_key=KEY)

    calls = await paypal_control.calls()
    token_calls = [c for c in calls if c["path"] == TOKEN_PATH]
    assert len(token_calls) == 1
    assert token_calls[0]["body"] == {"grant_type": ["client_credentials"]} and token_calls[0]["http_status"] == 200
    used = {c["token"] for c in api_calls(calls)}
    assert len(api_calls(calls)) == 4 and len(used) == 1 and None not in used


async def test_token_is_renewed_a_margin_before_it_expires(
    paypal_control: PayPalControl, paypal_fake: RunningFakePayPal, paypal_http: httpx.AsyncClient
) -> None:
    dispute = await new_dispute(paypal_control)
    now = [datetime(2030, 5, 1, 12, 0, tzinfo=UTC)]
    client = make_client(paypal_fake, paypal_http, clock=lambda: now[0], token_margin=timedelta(minutes=5))

    await client.get_dispute(dispute["dispute_id"])
    now[0] += timedelta(seconds=32400 - 301)  # PayPal said expires_in 32400: still outside the margin
    await client.get_dispute(dispute["dispute_id"])
    assert len(await paypal_control.calls(TOKEN_PATH)) == 1

    now[0] += timedelta(seconds=2)  # within 5 minutes of expiry: renew before PayPal refuses it
    await client.get_dispute(dispute["dispute_id"])
    assert len(await paypal_control.calls(TOKEN_PATH)) == 2
    assert all(c["http_status"] == 200 for c in await paypal_control.calls())


async def test_token_is_renewed_once_after_a_401(paypal_control: PayPalControl, paypal_client: PayPalClient) -> None:
    dispute = await new_dispute(paypal_control)
    await paypal_client.get_dispute(dispute["dispute_id"])
    await paypal_control.revoke_tokens()  # PayPal invalidated the token before its expiry

    read = await paypal_client.get_dispute(dispute["dispute_id"])

    assert read.id == dispute["dispute_id"]
    calls = await paypal_control.calls()
    assert [c["path"] == TOKEN_PATH for c in calls] == [True, False, False, True, False]
    assert [c["http_status"] for c in api_calls(calls)] == [200, 401, 200]


async def test_a_second_401_is_authentication_failed(
    paypal_control: PayPalControl, paypal_client: PayPalClient
) -> None:
    dispute = await new_dispute(paypal_control)
    await paypal_control.fault("/v1/customer/disputes/*", "unauthorized", count=2)

    with pytest.raises(AuthenticationFailed) as caught:
        await paypal_client.get_dispute(dispute["dispute_id"])

    assert caught.value.code == "AUTHENTICATION_FAILURE" and caught.value.status_code == 401
    assert not caught.value.retryable and caught.value.request_id
    assert len(await paypal_control.calls(TOKEN_PATH)) == 2  # renewed exactly once


async def test_wrong_credentials_are_authentication_failed(
    paypal_control: PayPalControl, paypal_fake: RunningFakePayPal, paypal_http: httpx.AsyncClient
) -> None:
    dispute = await new_dispute(paypal_control)
    client = make_client(paypal_fake, paypal_http, client_secret="not-the-secret")

    with pytest.raises(AuthenticationFailed) as caught:
        await client.get_dispute(dispute["dispute_id"])

    assert caught.value.code == "invalid_client" and caught.value.status_code == 401
    assert "Client Authentication failed" in str(caught.value) and "not-the-secret" not in str(caught.value)
    assert api_calls(await paypal_control.calls()) == []


# ---------------------------------------------------------------------- show dispute details


async def test_get_dispute_maps_paypal_fields(paypal_control: PayPalControl, paypal_client: PayPalClient) -> None:
    due = datetime(2030, 5, 11, 23, 59, 59, tzinfo=timezone(timedelta(hours=2)))
    created = await new_dispute(
        paypal_control,
        reason="MERCHANDISE_OR_SERVICE_NOT_AS_DESCRIBED",
        stage="CHARGEBACK",
        seller_response_due_date=due.isoformat(),
        requested_evidence=["PROOF_OF_FULFILLMENT"],
    )
    assert created["seller_response_due_date"] == "2030-05-11T21:59:59.000Z"  # PayPal writes UTC, Z

    dispute = await paypal_client.get_dispute(created["dispute_id"])

    assert dispute.id == created["dispute_id"] and dispute.id.startswith("PP-D-")
    assert dispute.reason == "MERCHANDISE_OR_SERVICE_NOT_AS_DESCRIBED"
    assert dispute.status == "WAITING_FOR_SELLER_RESPONSE" and dispute.awaiting_seller and not dispute.resolved
    assert dispute.life_cycle_stage == "CHARGEBACK" and dispute.channel == "INTERNAL"
    assert dispute.due_by == due and dispute.due_by is not None and dispute.due_by.tzinfo is not None
    assert dispute.amount == Money.of("93.80", "EUR")
    (transaction,) = dispute.transactions
    assert transaction.invoice_number == "1001" and transaction.custom == "5840000002001"
    assert transaction.seller_transaction_id == "9XF14200T8003681K"
    assert transaction.gross_amount == Money(amount=Decimal("93.80"), currency="EUR")
    assert dispute.references() == {"1001", "5840000002001", "9XF14200T8003681K"}
    assert dispute.create_time is not None and dispute.create_time.tzinfo is not None
    assert dispute.outcome is None and not dispute.seller_evidence_submitted
    assert dispute.requested_evidence_types == ("PROOF_OF_FULFILLMENT",)
    assert "REFUND" in dispute.accept_claim_types
    assert dispute.allows("provide-evidence") and dispute.allows("accept_claim")
    assert dispute.allows("acknowledge-return-item") and not dispute.allows("appeal")


async def test_unknown_dispute_is_not_found(paypal_control: PayPalControl, paypal_client: PayPalClient) -> None:
    with pytest.raises(NotFound) as caught:
        await paypal_client.get_dispute("PP-D-404")

    assert caught.value.status_code == 404 and caught.value.code == "INVALID_RESOURCE_ID"
    assert caught.value.request_id  # PayPal's debug_id, for PayPal's support
    with pytest.raises(PermanentError) as bad_id:
        await paypal_client.get_dispute("../oauth2/token")
    assert bad_id.value.code == "INVALID_DISPUTE_ID"
    assert [c["path"] for c in api_calls(await paypal_control.calls())] == ["/v1/customer/disputes/PP-D-404"]


async def test_list_disputes_filters_by_transaction(paypal_control: PayPalControl, paypal_client: PayPalClient) -> None:
    mine = await new_dispute(paypal_control)
    await new_dispute(paypal_control, seller_transaction_id="1AB23456CD789012E", invoice_number="1002")

    found = await paypal_client.list_disputes(disputed_transaction_id="9XF14200T8003681K")
    everything = await paypal_client.list_disputes(dispute_state="REQUIRED_ACTION", page_size=50)

    assert [d.id for d in found] == [mine["dispute_id"]]
    assert found[0].transactions == () and found[0].amount == Money.of("93.80", "EUR") and found[0].due_by
    assert len(everything) == 2


# ---------------------------------------------------------------------- provide evidence


async def test_provide_evidence_sends_tracking_and_the_file_as_multipart(
    paypal_control: PayPalControl, paypal_client: PayPalClient
) -> None:
    dispute = await new_dispute(paypal_control)

    result = await paypal_client.provide_evidence(
        dispute["dispute_id"],
        fulfilment_evidence(),
        [("colissimo-delivery.pdf", PDF, "application/pdf")],
        idempotency_key=KEY,
    )

    assert result.dispute_id == dispute["dispute_id"] and result.links and result.debug_id
    seen = await paypal_control.dispute(dispute["dispute_id"])
    (submission,) = seen["submissions"]
    assert submission["request_id"] == KEY
    input_part, file_part = submission["parts"]
    assert (input_part["name"], input_part["filename"], input_part["content_type"]) == (
        "input",
        "input.json",
        "application/json",
    )
    assert input_part["json"] == {
        "evidences": [
            {
                "evidence_type": "PROOF_OF_FULFILLMENT",
                "evidence_info": {
                    "tracking_info": [{"carrier_name": "FR_COLIPOSTE", "tracking_number": "6A12345678901"}]
                },
                "notes": "Shipped with Colissimo on 2 May, delivered to the customer's address on 6 May.",
            },
            {"evidence_type": "OTHER", "notes": "Customer e-mails and the shop's delivery policy are attached."},
        ]
    }
    assert file_part == {
        "name": "evidence-file",
        "filename": "colissimo-delivery.pdf",
        "content_type": "application/pdf",
        "size": len(PDF),
        "sha256": hashlib.sha256(PDF).hexdigest(),
    }
    after = await paypal_client.get_dispute(dispute["dispute_id"])
    assert after.status == "UNDER_REVIEW" and after.due_by is None and after.seller_evidence_submitted
    assert not after.allows("provide-evidence")


async def test_the_same_request_id_twice_is_one_submission(
    paypal_control: PayPalControl, paypal_client: PayPalClient
) -> None:
    dispute = await new_dispute(paypal_control)

    first = await paypal_client.provide_evidence(dispute["dispute_id"], fulfilment_evidence(), idempotency_key=KEY)
    second = await paypal_client.provide_evidence(dispute["dispute_id"], fulfilment_evidence(), idempotency_key=KEY)

    assert first.links == second.links
    assert len((await paypal_control.dispute(dispute["dispute_id"]))["submissions"]) == 1
    calls = await paypal_control.calls(EVIDENCE_PATH)
    assert [(c["request_id"], c["replayed"], c["http_status"]) for c in calls] == [(KEY, False, 200), (KEY, True, 200)]


async def test_a_5xx_after_commit_then_a_retry_with_the_same_id_is_one_submission(
    paypal_control: PayPalControl, paypal_client: PayPalClient
) -> None:
    dispute = await new_dispute(paypal_control)
    await paypal_control.fault(EVIDENCE_PATH, "http_500_after_commit")

    with pytest.raises(TransientError) as caught:
        await paypal_client.provide_evidence(dispute["dispute_id"], fulfilment_evidence(), idempotency_key=KEY)
    assert caught.value.retryable and not caught.value.ambiguous  # same key on retry: safe to resend
    assert caught.value.status_code == 500 and caught.value.code == "INTERNAL_SERVER_ERROR"

    await paypal_client.provide_evidence(dispute["dispute_id"], fulfilment_evidence(), idempotency_key=KEY)

    assert len((await paypal_control.dispute(dispute["dispute_id"]))["submissions"]) == 1
    calls = await paypal_control.calls(EVIDENCE_PATH)
    assert [(c["fault"], c["replayed"]) for c in calls] == [("http_500_after_commit", False), (None, True)]


async def test_a_5xx_before_commit_does_nothing_and_the_retry_submits(
    paypal_control: PayPalControl, paypal_client: PayPalClient
) -> None:
    dispute = await new_dispute(paypal_control)
    await paypal_control.fault(EVIDENCE_PATH, "http_500")

    with pytest.raises(TransientError):
        await paypal_client.provide_evidence(dispute["dispute_id"], fulfilment_evidence(), idempotency_key=KEY)
    assert (await paypal_control.dispute(dispute["dispute_id"]))["submissions"] == []

    await paypal_client.provide_evidence(dispute["dispute_id"], fulfilment_evidence(), idempotency_key=KEY)
    assert len((await paypal_control.dispute(dispute["dispute_id"]))["submissions"]) == 1


async def test_a_second_submission_is_refused_with_paypal_s_issue(
    paypal_control: PayPalControl, paypal_client: PayPalClient
) -> None:
    dispute = await new_dispute(paypal_control)
    await paypal_client.provide_evidence(dispute["dispute_id"], fulfilment_evidence(), idempotency_key=KEY)

    with pytest.raises(PermanentError) as caught:
        await paypal_client.provide_evidence(
            dispute["dispute_id"], fulfilment_evidence(), idempotency_key="paypal-evidence:case-42:again"
        )

    error = caught.value
    assert error.code == "ACTION_NOT_ALLOWED_IN_CURRENT_DISPUTE_STATE" and error.status_code == 422
    assert not error.retryable and error.request_id and "UNDER_REVIEW" in error.message
    assert len((await paypal_control.dispute(dispute["dispute_id"]))["submissions"]) == 1


async def test_evidence_paypal_would_refuse_is_refused_before_sending(
    paypal_control: PayPalControl, paypal_client: PayPalClient
) -> None:
    dispute = await new_dispute(paypal_control)
    with pytest.raises(ValidationError, match="MISSING_TRACKING_INFO"):
        EvidenceItem(evidence_type="PROOF_OF_FULFILLMENT", notes="shipped")
    with pytest.raises(ValidationError, match="MISSING_REFUND_ID"):
        EvidenceItem(evidence_type="PROOF_OF_REFUND")
    with pytest.raises(ValidationError, match="evidence types"):
        EvidenceItem(evidence_type="PROOF_OF_VIBES")
    with pytest.raises(ValidationError, match="carrier_name_other"):
        TrackingInfo(carrier_name="OTHER", tracking_number="X1")

    with pytest.raises(PermanentError) as caught:
        await paypal_client.provide_evidence(
            dispute["dispute_id"], fulfilment_evidence(), [("chat.txt", b"hello", "text/plain")], idempotency_key=KEY
        )
    assert caught.value.code == "INVALID_EVIDENCE_FILE"
    with pytest.raises(PermanentError) as no_key:
        await paypal_client.provide_evidence(dispute["dispute_id"], fulfilment_evidence(), idempotency_key="a key")
    assert no_key.value.code == "INVALID_IDEMPOTENCY_KEY"
    assert api_calls(await paypal_control.calls()) == []


async def test_the_fake_checks_evidence_as_paypal_documents_it(
    paypal_control: PayPalControl, paypal_fake: RunningFakePayPal, paypal_http: httpx.AsyncClient
) -> None:
    """The client refuses these itself; the fake must still refuse them for other callers."""
    dispute = await new_dispute(paypal_control)
    token = (
        await paypal_http.post(
            paypal_fake.base_url + TOKEN_PATH,
            data={"grant_type": "client_credentials"},
            auth=(CLIENT_ID, paypal_fake.state.options.client_secret),
        )
    ).json()["access_token"]
    url = f"{paypal_fake.base_url}/v1/customer/disputes/{dispute['dispute_id']}/provide-evidence"
    headers = {"Authorization": f"Bearer {token}", "PayPal-Request-Id": "raw-1"}

    def multipart(evidences: list[dict[str, Any]], *files: tuple[str, bytes, str]) -> list[Any]:
        document = json.dumps({"evidences": evidences}).encode()
        return [("input", ("input.json", document, "application/json"))] + [("evidence-file", f) for f in files]

    refund = await paypal_http.post(url, headers=headers, files=multipart([{"evidence_type": "PROOF_OF_REFUND"}]))
    as_json = await paypal_http.post(url, headers=headers, json={"evidences": [{"evidence_type": "OTHER"}]})
    text_file = await paypal_http.post(
        url, headers=headers, files=multipart([{"evidence_type": "OTHER", "notes": "n"}], ("a.txt", b"x", "text/plain"))
    )

    assert refund.status_code == 422 and refund.json()["details"][0]["issue"] == "MISSING_REFUND_ID"
    assert refund.json()["name"] == "UNPROCESSABLE_ENTITY" and refund.headers["PayPal-Debug-Id"]
    assert as_json.status_code == 415
    assert text_file.status_code == 422 and text_file.json()["details"][0]["issue"] == "INVALID_EVIDENCE_FILE"
    assert (await paypal_control.dispute(dispute["dispute_id"]))["submissions"] == []


# ---------------------------------------------------------------------- accept claim, returns


async def test_accept_claim_resolves_in_the_buyer_s_favour_once(
    paypal_control: PayPalControl, paypal_client: PayPalClient
) -> None:
    dispute = await new_dispute(paypal_control)
    key = "paypal-accept:case-43:PP-D"

    await paypal_client.accept_claim(
        dispute["dispute_id"],
        "No tracking for this parcel: refund.",
        idempotency_key=key,
        accept_claim_reason="LOST_IN_MAIL",
    )
    await paypal_client.accept_claim(dispute["dispute_id"], "No tracking for this parcel: refund.", idempotency_key=key)

    after = await paypal_client.get_dispute(dispute["dispute_id"])
    assert after.status == "RESOLVED" and after.resolved and after.due_by is None
    assert after.outcome is not None and after.outcome.outcome_code == "RESOLVED_BUYER_FAVOUR"
    assert after.outcome.amount_refunded == Money.of("93.80", "EUR")
    (acceptance,) = (await paypal_control.dispute(dispute["dispute_id"]))["acceptances"]
    assert acceptance["request_id"] == key and acceptance["accept_claim_reason"] == "LOST_IN_MAIL"
    with pytest.raises(PermanentError) as again:
        await paypal_client.accept_claim(dispute["dispute_id"], "again", idempotency_key="paypal-accept:other")
    assert again.value.code == "ACTION_NOT_ALLOWED_IN_CURRENT_DISPUTE_STATE"


async def test_accept_claim_refuses_a_refund_amount_on_a_not_received_claim(
    paypal_control: PayPalControl, paypal_client: PayPalClient
) -> None:
    dispute = await new_dispute(paypal_control)

    with pytest.raises(PermanentError) as caught:
        await paypal_client.accept_claim(
            dispute["dispute_id"],
            "Partial refund",
            idempotency_key="paypal-accept:partial",
            accept_claim_type="PARTIAL_REFUND",
            refund_amount=Money.of("40.00", "EUR"),
        )

    assert caught.value.code == "AMOUNT_SHOULD_NOT_BE_PASSED" and caught.value.status_code == 422
    with pytest.raises(PermanentError) as bad_reason:
        await paypal_client.accept_claim(
            dispute["dispute_id"], "n", idempotency_key="k-1", accept_claim_reason="BECAUSE"
        )
    assert bad_reason.value.code == "INVALID_PARAMETER_VALUE"


async def test_acknowledge_returned_item_only_on_not_as_described(
    paypal_control: PayPalControl, paypal_client: PayPalClient
) -> None:
    snad = await new_dispute(paypal_control, reason="MERCHANDISE_OR_SERVICE_NOT_AS_DESCRIBED")
    inr = await new_dispute(paypal_control, invoice_number="1003")

    await paypal_client.acknowledge_return_item(
        snad["dispute_id"], "The vase came back intact.", idempotency_key="ack-1", acknowledgement_type="ITEM_RECEIVED"
    )
    with pytest.raises(PermanentError) as caught:
        await paypal_client.acknowledge_return_item(inr["dispute_id"], "n", idempotency_key="ack-2")

    assert (await paypal_client.get_dispute(snad["dispute_id"])).status == "UNDER_REVIEW"
    assert caught.value.code == "ACTION_NOT_ALLOWED_IN_CURRENT_DISPUTE_STATE"


# ---------------------------------------------------------------------- throttling and timeouts


async def test_rate_limit_and_timeout_are_retryable(
    paypal_control: PayPalControl, paypal_fake: RunningFakePayPal, paypal_http: httpx.AsyncClient
) -> None:
    dispute = await new_dispute(paypal_control)
    client = make_client(paypal_fake, paypal_http, timeout_seconds=0.2)
    await paypal_control.fault("/v1/customer/disputes/*", "rate_limited")

    with pytest.raises(RateLimited) as limited:
        await client.get_dispute(dispute["dispute_id"])
    assert limited.value.retryable and limited.value.retry_after == 2 and limited.value.code == "RATE_LIMIT_REACHED"

    await paypal_control.fault(EVIDENCE_PATH, "timeout", delay_seconds=0.6)
    with pytest.raises(TransientError) as late:
        await client.provide_evidence(dispute["dispute_id"], fulfilment_evidence(), idempotency_key=KEY)
    assert late.value.code == "TIMEOUT" and late.value.retryable and not late.value.ambiguous


# ---------------------------------------------------------------------- webhooks


async def test_webhook_verification_accepts_the_fake_s_delivery_and_refuses_a_tampered_one(
    paypal_control: PayPalControl,
    paypal_client: PayPalClient,
    paypal_fake: RunningFakePayPal,
    paypal_http: httpx.AsyncClient,
    webhook_sink: WebhookSink,
) -> None:
    await paypal_control.configure(webhook_url=webhook_sink.url)
    await new_dispute(paypal_control, notify=True)
    assert webhook_sink.wait_for(lambda received: len(received) == 1)
    headers, body = webhook_sink.received[0]
    assert {h.upper() for h in headers} >= {
        "PAYPAL-TRANSMISSION-ID",
        "PAYPAL-TRANSMISSION-TIME",
        "PAYPAL-TRANSMISSION-SIG",
        "PAYPAL-CERT-URL",
        "PAYPAL-AUTH-ALGO",
    }

    assert await paypal_client.verify_webhook(headers, body) is True
    tampered = body.replace(b'"value":"93.80"', b'"value":"9.38"')
    assert tampered != body and await paypal_client.verify_webhook(headers, tampered) is False
    other_hook = make_client(paypal_fake, paypal_http, webhook_id="5GP028458E2496506")
    assert await other_hook.verify_webhook(headers, body) is False

    verify_calls = await paypal_control.calls("/v1/notifications/verify-webhook-signature")
    assert len(verify_calls) == 3 and all(c["request_id"] is None for c in verify_calls)
    sent = verify_calls[0]["body"]
    assert sent["webhook_event"] == json.loads(body) and sent["webhook_id"] == "1JE4291016473214C"
    assert sent["auth_algo"] == "SHA256withRSA" and sent["cert_url"].startswith(paypal_fake.base_url)

    missing = {k: v for k, v in headers.items() if k.upper() != "PAYPAL-TRANSMISSION-SIG"}
    assert await paypal_client.verify_webhook(missing, body) is False
    assert await paypal_client.verify_webhook(headers, b"<html>") is False
    assert len(await paypal_control.calls("/v1/notifications/verify-webhook-signature")) == 3  # not asked


async def test_dispute_events_are_parsed_from_the_fake_s_deliveries(
    paypal_control: PayPalControl, paypal_client: PayPalClient, webhook_sink: WebhookSink
) -> None:
    await paypal_control.configure(webhook_url=webhook_sink.url)
    dispute = await new_dispute(paypal_control, notify=True)
    await paypal_control.event(
        dispute["dispute_id"], "updated", stage="CHARGEBACK", status="WAITING_FOR_SELLER_RESPONSE"
    )
    await paypal_control.event(dispute["dispute_id"], "resolved", outcome_code="RESOLVED_SELLER_FAVOUR", times=2)
    assert webhook_sink.wait_for(lambda received: len(received) == 4)

    events = [parse_dispute_event(body) for _, body in webhook_sink.received]
    assert [e.event_type for e in events] == [DISPUTE_CREATED, DISPUTE_UPDATED, DISPUTE_RESOLVED, DISPUTE_RESOLVED]
    assert {e.dispute_id for e in events} == {dispute["dispute_id"]}
    created, updated, resolved, redelivered = events
    assert created.event_id.startswith("WH-") and created.status == "WAITING_FOR_SELLER_RESPONSE"
    assert created.reason == "MERCHANDISE_OR_SERVICE_NOT_RECEIVED" and created.life_cycle_stage == "CHARGEBACK"
    assert created.due_by is not None and created.due_by.tzinfo is not None
    assert created.dispute is not None and created.dispute.amount == Money.of("93.80", "EUR")
    assert created.create_time is not None and created.summary
    assert updated.event_id != created.event_id
    assert resolved.outcome_code == "RESOLVED_SELLER_FAVOUR" and resolved.status == "RESOLVED"
    assert redelivered.event_id == resolved.event_id  # PayPal's retry: same event, deduplicated on it
    transmissions = {
        h.get("PAYPAL-TRANSMISSION-ID") or h.get("Paypal-Transmission-Id") for h, _ in webhook_sink.received
    }
    assert len(transmissions) == 4
    for headers, body in webhook_sink.received:
        assert await paypal_client.verify_webhook(headers, body)


def test_a_paypal_documented_resolved_event_is_parsed() -> None:
    """Shaped like PayPal's examples: the dispute as resource, `dispute_outcome` once resolved."""
    event = {
        "id": "WH-4M0448861G563140B-9EX36365822141321",
        "create_time": "2018-06-21T13:36:33.000Z",
        "resource_type": "dispute",
        "event_type": "CUSTOMER.DISPUTE.RESOLVED",
        "summary": "A dispute was resolved with case # PP-000-042-663-135",
        "resource": {
            "dispute_id": "PP-000-042-663-135",
            "create_time": "2018-06-21T13:35:44.000Z",
            "update_time": "2018-06-21T13:35:44.000Z",
            "disputed_transactions": [
                {"seller_transaction_id": "00D10444LD479031K", "seller": {"merchant_id": "RD465XN5VS364"}}
            ],
            "reason": "MERCHANDISE_OR_SERVICE_NOT_RECEIVED",
            "status": "RESOLVED",
            "dispute_amount": {"currency_code": "USD", "value": "3.00"},
            "dispute_outcome": {
                "outcome_code": "RESOLVED_BUYER_FAVOUR",
                "amount_refunded": {"currency_code": "USD", "value": "3.00"},
            },
            "dispute_life_cycle_stage": "CHARGEBACK",
            "dispute_channel": "INTERNAL",
            "links": [{"href": "https://api-m.paypal.com/v1/customer/disputes/PP-000-042-663-135", "rel": "self"}],
        },
        "links": [],
    }

    parsed = parse_dispute_event(event)
    partial = parse_dispute_event({**event, "resource": {"dispute_id": "PP-D-27803"}})

    assert parsed.dispute_id == "PP-000-042-663-135" and parsed.outcome_code == "RESOLVED_BUYER_FAVOUR"
    assert parsed.dispute is not None and parsed.dispute.outcome is not None
    assert parsed.dispute.outcome.amount_refunded == Money.of("3.00", "USD")
    assert parsed.dispute.transactions[0].seller_transaction_id == "00D10444LD479031K"
    assert parsed.create_time == datetime(2018, 6, 21, 13, 36, 33, tzinfo=UTC)
    assert partial.dispute_id == "PP-D-27803" and partial.dispute is None and partial.status is None
    assert parse_dispute_event(json.dumps(event).encode()).event_id == event["id"]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"{not json", "not JSON"),
        ([], "must be a JSON object"),
        ({}, "has no id"),
        ({"id": "WH-1", "resource": {"dispute_id": "PP-D-1"}}, "no event_type"),
        ({"id": "WH-1", "event_type": "PAYMENT.CAPTURE.COMPLETED", "resource": {}}, "not a dispute event"),
        ({"id": "WH-1", "event_type": "CUSTOMER.DISPUTE.CREATED"}, "no resource object"),
        ({"id": "WH-1", "event_type": "CUSTOMER.DISPUTE.CREATED", "resource": ["PP-D-1"]}, "no resource object"),
        ({"id": "WH-1", "event_type": "CUSTOMER.DISPUTE.UPDATED", "resource": {"status": "OPEN"}}, "dispute_id"),
        ({"id": "WH-1", "event_type": "CUSTOMER.DISPUTE.UPDATED", "resource": {"dispute_id": "../x"}}, "dispute_id"),
    ],
)
def test_junk_is_invalid_input_with_a_reason(body: Any, reason: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_dispute_event(body)
    assert reason in caught.value.reason and caught.value.status_code == 400


async def test_the_token_is_shared_by_every_client_of_the_process(
    paypal_control: PayPalControl, paypal_fake: RunningFakePayPal, paypal_http: httpx.AsyncClient
) -> None:
    """Issue 15: the tasks open a new client per call; PayPal rate-limits token requests, so the
    token lives for the process, not for one client."""
    dispute = await new_dispute(paypal_control)
    for _ in range(4):
        await make_client(paypal_fake, paypal_http).get_dispute(dispute["dispute_id"])
    calls = await paypal_control.calls()
    assert [c["path"] for c in calls].count(TOKEN_PATH) == 1
    assert len({c["token"] for c in api_calls(calls)}) == 1

    await paypal_control.revoke_tokens()  # PayPal invalidated it: one client renews it for all
    await make_client(paypal_fake, paypal_http).get_dispute(dispute["dispute_id"])
    await make_client(paypal_fake, paypal_http).get_dispute(dispute["dispute_id"])
    assert [c["path"] for c in await paypal_control.calls()].count(TOKEN_PATH) == 2


async def test_an_inquiry_offers_send_message_not_provide_evidence(
    paypal_control: PayPalControl, paypal_client: PayPalClient
) -> None:
    """PayPal's reference: provide-evidence and send-message are used only when the dispute's
    HATEOAS links offer them; an inquiry is answered by message, evidence is for the claim."""
    dispute = await new_dispute(paypal_control, stage="INQUIRY")
    read = await paypal_client.get_dispute(dispute["dispute_id"])
    assert read.allows("send-message") and not read.allows("provide-evidence")
    with pytest.raises(PermanentError) as refused:
        await paypal_client.provide_evidence(dispute["dispute_id"], fulfilment_evidence(), idempotency_key=KEY)
    assert refused.value.code == "ACTION_NOT_ALLOWED_IN_CURRENT_DISPUTE_STATE"

    await paypal_client.send_message(dispute["dispute_id"], "Bonjour, votre colis est en route.",
                                     idempotency_key="msg-1")
    again = await paypal_client.send_message(dispute["dispute_id"], "Bonjour, votre colis est en route.",
                                             idempotency_key="msg-1")  # resent: not posted twice
    shown = await paypal_control.dispute(dispute["dispute_id"])
    assert [m["content"] for m in shown["messages"]] == ["Bonjour, votre colis est en route."]
    assert shown["status"] == "WAITING_FOR_BUYER_RESPONSE" and again.dispute_id == dispute["dispute_id"]
    (call,) = [c for c in await paypal_control.calls() if c["path"].endswith("/send-message") and
               not c.get("replayed")]
    assert call["body"] == {"message": "Bonjour, votre colis est en route."} and call["request_id"] == "msg-1"

    with pytest.raises(PermanentError):
        await paypal_client.send_message(dispute["dispute_id"], "x" * 2001, idempotency_key="msg-2")


async def test_a_claim_offers_provide_evidence_not_send_message(
    paypal_control: PayPalControl, paypal_client: PayPalClient
) -> None:
    dispute = await new_dispute(paypal_control)  # CHARGEBACK stage, waiting for the seller
    read = await paypal_client.get_dispute(dispute["dispute_id"])
    assert read.allows("provide-evidence") and not read.allows("send-message")
    with pytest.raises(PermanentError) as refused:
        await paypal_client.send_message(dispute["dispute_id"], "Hello", idempotency_key="msg-3")
    assert refused.value.code == "ACTION_NOT_ALLOWED_IN_CURRENT_DISPUTE_STATE"


async def test_an_inquiry_takes_an_offer_through_make_offer_once(
    paypal_control: PayPalControl, paypal_client: PayPalClient
) -> None:
    """Issue 15: PayPal's make-offer (`make_offer`: note, offer_type, offer_amount,
    return_shipping_address), in the inquiry stage only, offered by the link and by
    `allowed_response_options.make_offer.offer_types`; one offer for one PayPal-Request-Id."""
    snad = await new_dispute(paypal_control, stage="INQUIRY", reason="MERCHANDISE_OR_SERVICE_NOT_AS_DESCRIBED",
                             amount="49.90")
    read = await paypal_client.get_dispute(snad["dispute_id"])
    assert read.allows("make-offer")
    assert set(read.offer_types) == {"REFUND", "REFUND_WITH_RETURN", "REFUND_WITH_REPLACEMENT",
                                     "REPLACEMENT_WITHOUT_REFUND"}
    with pytest.raises(PermanentError) as no_address:
        await paypal_client.make_offer(snad["dispute_id"], "Retour et remboursement", "REFUND_WITH_RETURN",
                                       offer_amount=Money.of("49.90", "EUR"), idempotency_key="offer-0")
    assert no_address.value.code == "SHIPPING_ADDRESS_SHOULD_NOT_BE_PASSED"
    with pytest.raises(PermanentError) as too_much:
        await paypal_client.make_offer(snad["dispute_id"], "Remboursement", "REFUND",
                                       offer_amount=Money.of("80.00", "EUR"), idempotency_key="offer-00")
    assert too_much.value.code == "INVALID_PARAMETER_VALUE"
    address = {"address_line_1": "12 rue des Artisans", "admin_area_2": "Lyon", "postal_code": "69002",
               "country_code": "FR"}
    for _ in range(2):  # resent with the same PayPal-Request-Id: one offer
        await paypal_client.make_offer(snad["dispute_id"], "Retour et remboursement", "REFUND_WITH_RETURN",
                                       offer_amount=Money.of("49.90", "EUR"), return_shipping_address=address,
                                       idempotency_key="offer-1")
    shown = await paypal_control.dispute(snad["dispute_id"])
    (offer,) = shown["offers"]
    assert offer["offer_type"] == "REFUND_WITH_RETURN" and offer["offer_amount"] == {"currency_code": "EUR",
                                                                                      "value": "49.90"}
    assert offer["return_shipping_address"]["country_code"] == "FR"
    assert shown["status"] == "WAITING_FOR_BUYER_RESPONSE"
    assert shown["offer"]["seller_offered_amount"]["value"] == "49.90"
    again = await paypal_client.get_dispute(snad["dispute_id"])
    assert not again.allows("make-offer")  # one offer pending: no second one
    with pytest.raises(PermanentError) as pending:
        await paypal_client.make_offer(snad["dispute_id"], "Autre offre", "REFUND",
                                       offer_amount=Money.of("10.00", "EUR"), idempotency_key="offer-2")
    assert pending.value.code == "ACTION_NOT_ALLOWED_IN_CURRENT_DISPUTE_STATE"

    inr = await new_dispute(paypal_control, stage="INQUIRY")  # not received: nothing to return
    assert "REFUND_WITH_RETURN" not in (await paypal_client.get_dispute(inr["dispute_id"])).offer_types
    claim = await new_dispute(paypal_control)  # the claim stage: no offer link
    assert not (await paypal_client.get_dispute(claim["dispute_id"])).allows("make-offer")
    with pytest.raises(PermanentError):
        await paypal_client.make_offer(inr["dispute_id"], "x", "PARTIAL_REFUND", idempotency_key="offer-3")
