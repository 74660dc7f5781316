"""The Stripe client against the fake Stripe over real HTTP, every request validated against
spec3.yaml (INTEGRATIONS.md section 3).

Rules: K3/K5 (evidence staged, then submitted once, before the due date), K4 (accept = close),
F5 / STYLE.md "Side effects happen once" (the same Idempotency-Key never submits twice, even
after a lost answer), STYLE.md "Errors" (typed errors that say whether a retry can help).
"""

from __future__ import annotations

import asyncio
import hashlib
import socket
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest

from domain.errors import (
    AuthenticationFailed,
    InvalidInput,
    NotFound,
    PermanentError,
    RateLimited,
    TransientError,
)
from domain.money import Money
from integrations.stripe import (
    DISPUTE_EVENT_TYPES,
    EVIDENCE_FIELDS,
    EVIDENCE_FILE_FIELDS,
    SPEC_API_VERSION,
    SignatureError,
    StripeClient,
    StripeRefused,
    StripeSettings,
    verify_signature,
)
from integrations.stripe import models as stripe_models
from sandbox.stripe import RunningFakeStripe, spec_validator, spec_version, stripe_spec
from tests.integration.stripe_fixtures import (  # noqa: F401 - fixtures, registered by import
    API_KEY,
    WEBHOOK_SECRET,
    RecordingSleep,
    StripeControl,
    WebhookSink,
    make_client,
    stripe_client_fixture,
    stripe_control_fixture,
    stripe_fake_fixture,
    stripe_http_fixture,
    stripe_server_fixture,
    stripe_sink_fixture,
    stripe_sleep_fixture,
)

PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
EVIDENCE = {
    "shipping_carrier": "Colissimo",
    "shipping_tracking_number": "6A12345678901",
    "shipping_date": "2026-11-03",
    "customer_name": "Camille Martin",
    "uncategorized_text": "Delivered on 2026-11-05 to the customer's address, signed for.",
}
DISPUTE_PATH = "/v1/disputes/{dispute}"


async def new_dispute(control: StripeControl, **body: Any) -> dict[str, Any]:
    created = await control.create_dispute(**{"order_id": "#1001", **body})
    dispute: dict[str, Any] = created["dispute"]
    return dispute


def updates(calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [c for c in calls if c["operation"] == "PostDisputesDispute"]


# ---- reading (3.2) ------------------------------------------------------------------------------


async def test_dispute_is_read_with_money_dates_fees_and_ids(
    stripe_control: StripeControl, stripe_client: StripeClient
) -> None:
    due_by = int(datetime(2026, 12, 1, 23, 59, 59, tzinfo=UTC).timestamp())
    created = await stripe_control.create_dispute(
        amount=4990, currency="eur", reason="product_not_received", due_by=due_by, fee=1500,
        metadata={"case": "CASE-7"}, network_reason_code="13.1",
    )

    dispute = await stripe_client.get_dispute(created["dispute"]["id"])

    assert dispute.id == created["dispute"]["id"]
    assert dispute.amount == Money.of("49.90", "EUR")
    assert dispute.charge == created["charge"]["id"]
    assert dispute.payment_intent == created["payment_intent"]["id"]
    assert (dispute.reason, dispute.status) == ("product_not_received", "needs_response")
    assert dispute.needs_response and not dispute.is_inquiry and not dispute.is_closed and not dispute.submitted
    details = dispute.evidence_details
    assert details.due_by == datetime(2026, 12, 1, 23, 59, 59, tzinfo=UTC)
    assert (details.has_evidence, details.past_due, details.submission_count) == (False, False, 0)
    assert dispute.created.tzinfo is not None
    assert dispute.evidence == {}
    assert dispute.metadata == {"case": "CASE-7"}
    assert dispute.fees == Money.of("15.00", "EUR")
    assert dispute.withdrawn == Money.of("-64.90", "EUR")
    assert dispute.balance_transactions[0].fee_details[0].type == "stripe_fee"
    assert (dispute.card_brand, dispute.network_reason_code) == ("visa", "13.1")
    assert not dispute.is_charge_refundable and not dispute.livemode


async def test_zero_decimal_amounts_and_inquiries(stripe_control: StripeControl, stripe_client: StripeClient) -> None:
    created = await stripe_control.create_dispute(amount=5000, currency="jpy", status="warning_needs_response")

    dispute = await stripe_client.get_dispute(created["dispute"]["id"])

    assert dispute.amount == Money.of(5000, "JPY")
    assert dispute.is_inquiry and dispute.needs_response
    assert dispute.balance_transactions == [] and dispute.fees is None  # an inquiry withdraws nothing


async def test_the_charge_ties_the_dispute_to_the_order(
    stripe_control: StripeControl, stripe_client: StripeClient
) -> None:
    created = await stripe_control.create_dispute(
        order_id="5840000001001", description="Maison Lumière order #1001", receipt_email="camille@example.org",
        billing_name="Camille Martin", charge_amount=6990, amount=4990,
    )
    dispute = await stripe_client.get_dispute(created["dispute"]["id"])

    charge = await stripe_client.get_charge(dispute.charge)
    intent = await stripe_client.get_payment_intent(created["payment_intent"]["id"])
    reference = await stripe_client.find_order_reference(dispute)

    assert charge.metadata == {"order_id": "5840000001001"} and charge.disputed and charge.paid
    assert charge.amount == Money.of("69.90", "EUR") and charge.amount_refunded == Money.zero("EUR")
    assert (charge.receipt_email, charge.billing_name) == ("camille@example.org", "Camille Martin")
    assert charge.payment_intent == intent.id and intent.latest_charge == charge.id
    assert intent.metadata["order_id"] == "5840000001001" and intent.status == "succeeded"
    assert reference is not None
    assert (reference.value, reference.source, reference.key) == ("5840000001001", "charge.metadata", "order_id")


async def test_the_charge_carries_the_card_checks_and_the_3d_secure_result(
    stripe_control: StripeControl, stripe_client: StripeClient
) -> None:
    """Issue 15 (fraudulent): `payment_method_details.card.checks` and `three_d_secure` as
    spec3.yaml defines them, read as Stripe's own words (never turned into a pass)."""
    secured = await stripe_control.create_dispute(
        reason="fraudulent", cvc_check="pass", address_line1_check="unavailable", address_postal_code_check="fail",
        three_d_secure={"result": "authenticated", "authentication_flow": "challenge", "version": "2.2.0"})
    plain = await stripe_control.create_dispute(reason="fraudulent", cvc_check=None, address_line1_check="unchecked",
                                                address_postal_code_check=None)

    card = (await stripe_client.get_charge(secured["charge"]["id"])).card
    bare = (await stripe_client.get_charge(plain["charge"]["id"])).card

    assert card is not None and (card.brand, card.last4) == ("visa", "4242")
    assert (card.cvc_check, card.address_line1_check, card.address_postal_code_check) == ("pass", "unavailable", "fail")
    assert (card.three_d_secure_result, card.three_d_secure_flow, card.three_d_secure_version) == (
        "authenticated", "challenge", "2.2.0")
    assert bare is not None and (bare.cvc_check, bare.address_line1_check) == (None, "unchecked")
    assert bare.three_d_secure_result is None


async def test_order_reference_falls_back_to_the_payment_intent_then_the_description(
    stripe_control: StripeControl, stripe_client: StripeClient
) -> None:
    in_intent = await stripe_control.create_dispute(payment_intent_metadata={"order_name": "#1002"})
    in_text = await stripe_control.create_dispute(description="Order #1003 - Maison Lumière")
    nowhere = await stripe_control.create_dispute(with_payment_intent=False)

    first = await stripe_client.find_order_reference(await stripe_client.get_dispute(in_intent["dispute"]["id"]))
    second = await stripe_client.find_order_reference(await stripe_client.get_dispute(in_text["dispute"]["id"]))
    third = await stripe_client.find_order_reference(await stripe_client.get_dispute(nowhere["dispute"]["id"]))

    assert first is not None and (first.value, first.source) == ("#1002", "payment_intent.metadata")
    assert second is not None and (second.value, second.source) == ("#1003", "charge.description")
    assert third is None


async def test_list_disputes_filters_by_charge_and_payment_intent_and_pages(
    stripe_control: StripeControl, stripe_client: StripeClient
) -> None:
    first = await stripe_control.create_dispute()
    again = await stripe_control.create_dispute(charge_id=first["charge"]["id"], amount=1000)
    other = await stripe_control.create_dispute()

    by_charge = await stripe_client.list_disputes(charge=first["charge"]["id"], page_size=1)
    by_intent = await stripe_client.list_disputes(payment_intent=other["payment_intent"]["id"])
    everything = await stripe_client.list_disputes(page_size=2)

    assert {d.id for d in by_charge} == {first["dispute"]["id"], again["dispute"]["id"]}
    assert [d.id for d in by_intent] == [other["dispute"]["id"]]
    assert len(everything) == 3 and len({d.id for d in everything}) == 3
    pages = [c for c in await stripe_control.calls(operation="GetDisputes") if c["query"].get("limit") == 1]
    assert [c["query"].get("starting_after") for c in pages] == [None, by_charge[0].id]


# ---- evidence: stage, then submit once (K3, K5) ------------------------------------------------


async def test_evidence_is_staged_then_submitted_with_submit_always_sent(
    stripe_control: StripeControl, stripe_client: StripeClient
) -> None:
    dispute_id = (await new_dispute(stripe_control))["id"]

    staged = await stripe_client.update_dispute(
        dispute_id, EVIDENCE, submit=False, idempotency_key="evidence:case-7:stage",
        metadata={"case": "CASE-7"},
    )
    assert staged.status == "needs_response"
    assert staged.evidence_details.has_evidence and staged.evidence_details.submission_count == 0
    assert staged.evidence == EVIDENCE and staged.metadata == {"case": "CASE-7"}

    submitted = await stripe_client.update_dispute(
        dispute_id, EVIDENCE, submit=True, idempotency_key="evidence:case-7:submit"
    )
    assert submitted.status == "under_review" and submitted.submitted
    assert submitted.evidence_details.submission_count == 1 and not submitted.evidence_details.past_due

    posted = updates(await stripe_control.calls())
    assert [c["params"]["submit"] for c in posted] == [False, True]
    assert [c["idempotency_key"] for c in posted] == ["evidence:case-7:stage", "evidence:case-7:submit"]
    assert posted[0]["params"]["evidence"] == EVIDENCE
    # Stripe's bracket notation on the wire, form-encoded.
    assert ["evidence[shipping_tracking_number]", "6A12345678901"] in posted[0]["raw_params"]
    assert ["metadata[case]", "CASE-7"] in posted[0]["raw_params"]
    assert {c["content_type"] for c in posted} == {"application/x-www-form-urlencoded"}


async def test_the_same_idempotency_key_twice_submits_once(
    stripe_control: StripeControl, stripe_client: StripeClient
) -> None:
    dispute_id = (await new_dispute(stripe_control))["id"]

    first = await stripe_client.update_dispute(dispute_id, EVIDENCE, submit=True, idempotency_key="submit:case-7")
    second = await stripe_client.update_dispute(dispute_id, EVIDENCE, submit=True, idempotency_key="submit:case-7")

    assert first == second and second.evidence_details.submission_count == 1
    posted = updates(await stripe_control.calls())
    assert [(c["status"], c["replayed"]) for c in posted] == [(200, False), (200, True)]
    assert (await stripe_control.dispute(dispute_id))["evidence_details"]["submission_count"] == 1


async def test_the_same_key_with_other_evidence_is_an_idempotency_error(
    stripe_control: StripeControl, stripe_client: StripeClient
) -> None:
    dispute_id = (await new_dispute(stripe_control))["id"]
    await stripe_client.update_dispute(dispute_id, EVIDENCE, submit=False, idempotency_key="stage:case-7")

    with pytest.raises(StripeRefused) as caught:
        await stripe_client.update_dispute(
            dispute_id, {**EVIDENCE, "shipping_carrier": "DHL"}, submit=False, idempotency_key="stage:case-7"
        )

    error = caught.value
    assert error.code == "idempotency_error" and error.error_type == "idempotency_error"
    assert error.status_code == 400 and not error.retryable and error.request_id
    assert (await stripe_control.dispute(dispute_id))["evidence"]["shipping_carrier"] == "Colissimo"


async def test_lost_answer_after_submission_then_retry_with_the_key_gives_one_submission(
    stripe_control: StripeControl, stripe_client: StripeClient
) -> None:
    dispute_id = (await new_dispute(stripe_control))["id"]
    await stripe_control.fault(DISPUTE_PATH, "http_502_after_commit", method="POST")

    with pytest.raises(TransientError) as caught:
        await stripe_client.update_dispute(dispute_id, EVIDENCE, submit=True, idempotency_key="submit:case-7")
    assert caught.value.ambiguous and not caught.value.retryable and caught.value.status_code == 502

    retried = await stripe_client.update_dispute(dispute_id, EVIDENCE, submit=True, idempotency_key="submit:case-7")

    assert retried.status == "under_review" and retried.evidence_details.submission_count == 1
    assert [(c["status"], c["replayed"]) for c in updates(await stripe_control.calls())] == [(502, False), (200, True)]


async def test_stripe_500_after_submission_is_replayed_and_reconciled_by_reading(
    stripe_control: StripeControl, stripe_client: StripeClient
) -> None:
    dispute_id = (await new_dispute(stripe_control))["id"]
    await stripe_control.fault(DISPUTE_PATH, "http_500_after_commit", method="POST")

    with pytest.raises(TransientError) as first:
        await stripe_client.update_dispute(dispute_id, EVIDENCE, submit=True, idempotency_key="submit:case-7")
    with pytest.raises(TransientError) as again:  # Stripe saved its 500 under the key (3.6)
        await stripe_client.update_dispute(dispute_id, EVIDENCE, submit=True, idempotency_key="submit:case-7")

    assert first.value.ambiguous and not first.value.retryable and first.value.code == "server_error"
    assert first.value.status_code == 500 and first.value.request_id
    assert again.value.code == "replayed_server_error" and again.value.ambiguous and not again.value.retryable
    dispute = await stripe_client.get_dispute(dispute_id)  # how the task layer reconciles
    assert dispute.status == "under_review" and dispute.evidence_details.submission_count == 1
    assert [c["replayed"] for c in updates(await stripe_control.calls())] == [False, True]


async def test_500_before_anything_ran_then_retry_submits_once(
    stripe_control: StripeControl, stripe_client: StripeClient
) -> None:
    dispute_id = (await new_dispute(stripe_control))["id"]
    await stripe_control.fault(DISPUTE_PATH, "http_500_before_commit", method="POST")

    with pytest.raises(TransientError) as caught:
        await stripe_client.update_dispute(dispute_id, EVIDENCE, submit=True, idempotency_key="submit:case-7")
    assert caught.value.ambiguous  # the client cannot know that nothing ran
    assert (await stripe_control.dispute(dispute_id))["evidence_details"]["submission_count"] == 0

    retried = await stripe_client.update_dispute(dispute_id, EVIDENCE, submit=True, idempotency_key="submit:case-7")

    assert retried.evidence_details.submission_count == 1
    assert [(c["status"], c["replayed"]) for c in updates(await stripe_control.calls())] == [(500, False), (200, False)]


async def test_timeout_on_submission_then_retry_with_the_key_gives_one_submission(
    stripe_control: StripeControl, stripe_fake: RunningFakeStripe, stripe_http: httpx.AsyncClient
) -> None:
    client = make_client(stripe_fake, stripe_http, timeout_seconds=0.3)
    dispute_id = (await new_dispute(stripe_control))["id"]
    await stripe_control.fault(DISPUTE_PATH, "timeout", method="POST", delay_seconds=1.0)

    with pytest.raises(TransientError) as caught:
        await client.update_dispute(dispute_id, EVIDENCE, submit=True, idempotency_key="submit:case-7")
    assert caught.value.code == "timeout" and caught.value.ambiguous and not caught.value.retryable

    # The resend waits as long as production does: only the first attempt is meant to time out
    # (CI: a 0.3 s budget on the resend timed out too on a loaded machine).
    patient = make_client(stripe_fake, stripe_http, timeout_seconds=10.0)
    retried = await patient.update_dispute(dispute_id, EVIDENCE, submit=True, idempotency_key="submit:case-7")
    assert retried.evidence_details.submission_count == 1

    for _ in range(100):  # the first, slow attempt finishes after the client gave up
        posted = updates(await stripe_control.calls())
        if all(c["status"] for c in posted):
            break
        await asyncio.sleep(0.05)
    assert len(posted) == 2 and sorted(c["replayed"] for c in posted) == [False, True]
    assert (await stripe_control.dispute(dispute_id))["evidence_details"]["submission_count"] == 1


async def test_update_after_submission_is_refused(stripe_control: StripeControl, stripe_client: StripeClient) -> None:
    dispute_id = (await new_dispute(stripe_control))["id"]
    await stripe_client.update_dispute(dispute_id, EVIDENCE, submit=True, idempotency_key="submit:case-7")

    with pytest.raises(StripeRefused) as staged:
        await stripe_client.update_dispute(
            dispute_id, {"uncategorized_text": "one more thing"}, submit=False, idempotency_key="late:1"
        )
    with pytest.raises(PermanentError) as resubmitted:
        await stripe_client.update_dispute(dispute_id, EVIDENCE, submit=True, idempotency_key="late:2")

    for error in (staged.value, resubmitted.value):
        assert type(error) is StripeRefused and not error.retryable and error.status_code == 400
        assert error.code == "invalid_request_error" and "under_review" in error.message
    stored = await stripe_control.dispute(dispute_id)
    assert stored["evidence_details"]["submission_count"] == 1
    assert stored["evidence"]["uncategorized_text"] == EVIDENCE["uncategorized_text"]


async def test_late_submission_is_marked_past_due(stripe_control: StripeControl, stripe_client: StripeClient) -> None:
    dispute_id = (await new_dispute(stripe_control, due_in_days=1))["id"]
    await stripe_control.advance_clock(2 * 86400)

    dispute = await stripe_client.update_dispute(dispute_id, EVIDENCE, submit=True, idempotency_key="submit:late")

    assert dispute.evidence_details.past_due and dispute.evidence_details.submission_count == 1


# ---- accept (K4) --------------------------------------------------------------------------------


async def test_close_accepts_the_dispute_once(stripe_control: StripeControl, stripe_client: StripeClient) -> None:
    dispute_id = (await new_dispute(stripe_control))["id"]
    inquiry_id = (await new_dispute(stripe_control, status="warning_needs_response"))["id"]

    closed = await stripe_client.close_dispute(dispute_id, idempotency_key="accept:case-7")
    replay = await stripe_client.close_dispute(dispute_id, idempotency_key="accept:case-7")
    inquiry = await stripe_client.close_dispute(inquiry_id, idempotency_key="accept:case-8")

    assert closed.status == "lost" and closed.is_closed and replay == closed
    assert inquiry.status == "warning_closed"
    with pytest.raises(StripeRefused) as caught:
        await stripe_client.close_dispute(dispute_id, idempotency_key="accept:case-7:again")
    assert caught.value.status_code == 400 and not caught.value.retryable
    closes = await stripe_control.calls(operation="PostDisputesDisputeClose")
    assert [c["idempotency_key"] for c in closes][:2] == ["accept:case-7", "accept:case-7"]
    assert [c["replayed"] for c in closes] == [False, True, False, False]


# ---- files (3.3) ---------------------------------------------------------------------------------


async def test_file_upload_goes_to_the_files_host_and_serves_as_evidence(
    stripe_control: StripeControl, stripe_client: StripeClient
) -> None:
    dispute_id = (await new_dispute(stripe_control))["id"]

    file_id = await stripe_client.upload_file(PDF, "delivery-proof.pdf", idempotency_key="file:case-7:proof")
    again = await stripe_client.upload_file(PDF, "delivery-proof.pdf", idempotency_key="file:case-7:proof")
    dispute = await stripe_client.update_dispute(
        dispute_id, {"shipping_documentation": file_id}, submit=False, idempotency_key="stage:proof"
    )

    assert file_id.startswith("file_") and again == file_id
    stored = await stripe_control.file(file_id)
    assert stored["sha256"] == hashlib.sha256(PDF).hexdigest()
    assert (stored["file"]["purpose"], stored["file"]["type"], stored["file"]["size"]) == (
        "dispute_evidence", "pdf", len(PDF)
    )
    assert dispute.evidence == {"shipping_documentation": file_id}
    [upload, replay] = await stripe_control.calls(operation="PostFiles")
    assert upload["host"] == "files" and upload["content_type"].startswith("multipart/form-data")
    assert upload["params"]["purpose"] == "dispute_evidence"
    assert upload["params"]["file"]["filename"] == "delivery-proof.pdf"
    assert replay["replayed"]


async def test_evidence_naming_an_unknown_file_is_refused(
    stripe_control: StripeControl, stripe_client: StripeClient
) -> None:
    dispute_id = (await new_dispute(stripe_control))["id"]

    with pytest.raises(StripeRefused) as caught:
        await stripe_client.update_dispute(
            dispute_id, {"receipt": "file_doesnotexist"}, submit=False, idempotency_key="stage:bad-file"
        )

    assert caught.value.code == "resource_missing" and caught.value.param == "evidence[receipt]"


async def test_a_file_stripe_does_not_take_as_evidence_is_refused(stripe_client: StripeClient) -> None:
    with pytest.raises(StripeRefused) as caught:
        await stripe_client.upload_file(b"PK\x03\x04 a zip", "proof.zip", idempotency_key="file:zip")
    assert caught.value.param == "file" and caught.value.status_code == 400


# ---- the contract: every request validated against spec3.yaml ------------------------------------


async def test_every_request_the_client_sends_passes_spec_validation(
    stripe_control: StripeControl, stripe_client: StripeClient
) -> None:
    created = await stripe_control.create_dispute(order_id="#1001")
    dispute_id = created["dispute"]["id"]
    other_id = (await new_dispute(stripe_control))["id"]

    dispute = await stripe_client.get_dispute(dispute_id)
    await stripe_client.list_disputes(charge=dispute.charge)
    await stripe_client.list_disputes(payment_intent=created["payment_intent"]["id"])
    await stripe_client.find_order_reference(dispute)
    await stripe_client.get_payment_intent(created["payment_intent"]["id"])
    file_id = await stripe_client.upload_file(PDF, "receipt.pdf", idempotency_key="file:1")
    evidence = {**EVIDENCE, "receipt": file_id, "billing_address": ""}
    await stripe_client.update_dispute(dispute_id, evidence, submit=False, idempotency_key="k:1",
                                       metadata={"case": "CASE-7", "old": ""})
    await stripe_client.update_dispute(dispute_id, evidence, submit=True, idempotency_key="k:2")
    await stripe_client.close_dispute(other_id, idempotency_key="k:3")

    calls = await stripe_control.calls()
    assert len(calls) == 9
    assert [(c["status"], c["error"]) for c in calls] == [(200, None)] * len(calls)
    assert {c["stripe_version"] for c in calls} == {spec_version()} == {SPEC_API_VERSION}
    assert all(c["idempotency_key"] for c in calls if c["method"] == "POST")
    assert all("submit" in c["params"] for c in updates(calls))


async def test_the_validator_rejects_an_unknown_evidence_key(
    stripe_control: StripeControl, stripe_client: StripeClient
) -> None:
    dispute_id = (await new_dispute(stripe_control))["id"]

    with pytest.raises(StripeRefused) as caught:
        await stripe_client.update_dispute(
            dispute_id, {"shipping_tracking_number": "6A1", "delivery_photo": "file_x"}, submit=False,
            idempotency_key="stage:typo",
        )

    error = caught.value
    assert (error.code, error.error_type, error.param) == ("parameter_unknown", "invalid_request_error",
                                                           "evidence[delivery_photo]")
    assert error.status_code == 400 and not error.retryable
    [call] = updates(await stripe_control.calls())
    assert call["error"]["code"] == "parameter_unknown" and call["params"] == {}
    stored = await stripe_control.dispute(dispute_id)
    assert stored["evidence"]["shipping_tracking_number"] is None  # nothing ran


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "code", "param"),
    [
        pytest.param("POST", "/v1/disputes/{id}", "evidence=hello", 400, None, "evidence", id="evidence-not-a-hash"),
        pytest.param("POST", "/v1/disputes/{id}", "submit=yes", 400, None, "submit", id="submit-not-a-boolean"),
        pytest.param("POST", "/v1/disputes/{id}", "amount=100", 400, "parameter_unknown", "amount",
                     id="unknown-top-level"),
        pytest.param("POST", "/v1/disputes/{id}", "evidence[customer_name]=" + "x" * 5001, 400, None,
                     "evidence[customer_name]", id="too-long"),
        pytest.param("GET", "/v1/disputes?status=lost", "", 400, "parameter_unknown", "status",
                     id="unknown-query-param"),
        pytest.param("GET", "/v1/disputes?limit=ten", "", 400, "parameter_invalid_integer", "limit",
                     id="limit-not-an-integer"),
        pytest.param("GET", "/v1/disputes/{id}/evidence", "", 404, None, None, id="path-not-in-spec"),
        pytest.param("POST", "/v1/files", "purpose=dispute_evidence", 404, None, None, id="files-on-the-api-host"),
    ],
)
async def test_the_validator_rejects_what_the_spec_does_not_declare(
    stripe_control: StripeControl,
    stripe_fake: RunningFakeStripe,
    stripe_http: httpx.AsyncClient,
    method: str,
    path: str,
    body: str,
    status: int,
    code: str | None,
    param: str | None,
) -> None:
    dispute_id = (await new_dispute(stripe_control))["id"]
    headers = {"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/x-www-form-urlencoded"}

    response = await stripe_http.request(
        method, stripe_fake.base_url + path.format(id=dispute_id), content=body.encode(), headers=headers
    )

    assert response.status_code == status
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error.get("code") == code and error.get("param") == param
    assert response.headers["Request-Id"].startswith("req_")
    assert spec_validator().problems({"$ref": "#/components/schemas/error"}, response.json()) == []
    assert (await stripe_control.dispute(dispute_id))["evidence_details"]["has_evidence"] is False


async def test_the_fake_submits_when_submit_is_omitted_as_stripe_does(
    stripe_control: StripeControl, stripe_fake: RunningFakeStripe, stripe_http: httpx.AsyncClient
) -> None:
    """Why the client always sends `submit`: Stripe's default is true (INTEGRATIONS.md 3.3)."""
    dispute_id = (await new_dispute(stripe_control))["id"]
    headers = {"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/x-www-form-urlencoded"}

    response = await stripe_http.post(
        f"{stripe_fake.base_url}/v1/disputes/{dispute_id}", content=b"evidence[customer_name]=Camille",
        headers=headers,
    )

    assert response.status_code == 200
    assert response.json()["status"] == "under_review"
    assert response.json()["evidence_details"]["submission_count"] == 1


async def test_the_fake_speaks_only_the_spec_version(
    stripe_control: StripeControl, stripe_fake: RunningFakeStripe, stripe_http: httpx.AsyncClient
) -> None:
    dispute_id = (await new_dispute(stripe_control))["id"]
    url = f"{stripe_fake.base_url}/v1/disputes/{dispute_id}"
    auth = {"Authorization": f"Bearer {API_KEY}"}

    newer = await stripe_http.get(url, headers={**auth, "Stripe-Version": "2026-07-29"})
    pinned = await stripe_http.get(url, headers={**auth, "Stripe-Version": SPEC_API_VERSION})
    anonymous = await stripe_http.get(url)

    assert newer.status_code == 400 and "2023-08-16" in newer.json()["error"]["message"]
    assert pinned.status_code == 200 and pinned.headers["Stripe-Version"] == SPEC_API_VERSION
    assert anonymous.status_code == 401 and anonymous.json()["error"]["type"] == "invalid_request_error"


async def test_answers_and_events_conform_to_the_spec(
    stripe_control: StripeControl, stripe_fake: RunningFakeStripe, stripe_http: httpx.AsyncClient
) -> None:
    created = await stripe_control.create_dispute()
    headers = {"Authorization": f"Bearer {API_KEY}"}
    validator = spec_validator()

    dispute = (await stripe_http.get(f"{stripe_fake.base_url}/v1/disputes/{created['dispute']['id']}",
                                     headers=headers)).json()
    charge = (await stripe_http.get(f"{stripe_fake.base_url}/v1/charges/{created['charge']['id']}",
                                    headers=headers)).json()
    event = (await stripe_control.event(created["dispute"]["id"], "charge.dispute.updated"))["event"]

    assert validator.problems(validator.schema("dispute"), dispute) == []
    assert validator.problems(validator.schema("charge"), charge) == []
    assert validator.problems(validator.schema("event"), event) == []
    # The checker can fail: an undeclared field and a missing required one are reported.
    broken = {**dispute, "fraud_score": 3}
    del broken["evidence_details"]
    assert sorted(validator.problems(validator.schema("dispute"), broken)) == [
        "$.evidence_details: required but missing", "$.fraud_score: not declared by the spec"
    ]


def test_the_fields_the_client_reads_and_writes_are_in_the_spec(stripe_server: RunningFakeStripe) -> None:
    spec = stripe_spec()
    schemas = spec["components"]["schemas"]
    assert spec["info"]["version"] == SPEC_API_VERSION
    update = spec["paths"]["/v1/disputes/{dispute}"]["post"]["requestBody"]["content"]
    body = update["application/x-www-form-urlencoded"]["schema"]["properties"]
    assert {"evidence", "submit", "metadata"} <= set(body)
    assert set(body["evidence"]["properties"]) == EVIDENCE_FIELDS
    response_evidence = schemas["dispute_evidence"]["properties"]
    assert {k for k, v in response_evidence.items() if "anyOf" in v} == EVIDENCE_FILE_FIELDS
    pairs = [
        (stripe_models.DISPUTE_FIELDS_READ, "dispute"),
        (stripe_models.EVIDENCE_DETAILS_FIELDS_READ, "dispute_evidence_details"),
        (stripe_models.BALANCE_TRANSACTION_FIELDS_READ, "balance_transaction"),
        (stripe_models.FEE_FIELDS_READ, "fee"),
        (stripe_models.CHARGE_FIELDS_READ, "charge"),
        (stripe_models.PAYMENT_INTENT_FIELDS_READ, "payment_intent"),
    ]
    for fields, schema in pairs:
        assert fields <= set(schemas[schema]["properties"]), schema
    list_params = {p["name"] for p in spec["paths"]["/v1/disputes"]["get"]["parameters"]}
    assert {"charge", "payment_intent", "limit", "starting_after"} <= list_params
    files = spec["paths"]["/v1/files"]["post"]
    assert files["servers"] == [{"url": "https://files.stripe.com/"}]
    assert "dispute_evidence" in files["requestBody"]["content"]["multipart/form-data"]["schema"]["properties"][
        "purpose"]["enum"]
    enabled = spec["paths"]["/v1/webhook_endpoints"]["post"]["requestBody"]["content"][
        "application/x-www-form-urlencoded"]["schema"]["properties"]["enabled_events"]["items"]["enum"]
    assert set(DISPUTE_EVENT_TYPES) <= set(enabled)


# ---- webhooks (3.4, 3.5) --------------------------------------------------------------------------


async def test_signed_dispute_events_reach_the_webhook_and_verify(
    stripe_control: StripeControl, stripe_client: StripeClient, stripe_sink: WebhookSink
) -> None:
    await stripe_control.configure(webhook_url=stripe_sink.url)
    created = await stripe_control.create_dispute(order_id="#1001")
    dispute_id = created["dispute"]["id"]
    await stripe_client.update_dispute(dispute_id, EVIDENCE, submit=True, idempotency_key="submit:case-7")
    await stripe_control.event(dispute_id, "charge.dispute.updated")
    await stripe_control.event(dispute_id, "charge.dispute.closed", status="won")
    await stripe_control.event(dispute_id, "charge.dispute.funds_reinstated", times=2)

    assert stripe_sink.wait_for(lambda received: len(received) == 5)
    events = [verify_signature(body, headers["Stripe-Signature"], WEBHOOK_SECRET) for headers, body in
              stripe_sink.received]
    assert [e["type"] for e in events] == [
        "charge.dispute.created", "charge.dispute.updated", "charge.dispute.closed",
        "charge.dispute.funds_reinstated", "charge.dispute.funds_reinstated",
    ]
    assert {e["data"]["object"]["id"] for e in events} == {dispute_id}
    assert events[3]["id"] == events[4]["id"]  # a redelivery: the receiver dedupes on event.id
    assert events[0]["api_version"] == SPEC_API_VERSION and events[0]["object"] == "event"
    updated = events[1]["data"]
    assert updated["previous_attributes"]["status"] == "needs_response"
    assert updated["previous_attributes"]["evidence_details"]["submission_count"] == 0
    assert events[2]["data"]["object"]["status"] == "won"
    assert events[2]["data"]["previous_attributes"] == {"status": "under_review"}
    reinstated = await stripe_client.get_dispute(dispute_id)
    assert reinstated.withdrawn == Money.of("-15.00", "EUR")  # the amount came back, the fee did not
    with pytest.raises(SignatureError, match="signature_mismatch"):
        verify_signature(stripe_sink.received[0][1], stripe_sink.received[0][0]["Stripe-Signature"], "whsec_wrong")
    assert [d["status"] for d in await stripe_control.webhooks()] == [200] * 5


# ---- error mapping (STYLE.md "Errors") --------------------------------------------------------------


async def test_wrong_api_key_is_authentication_failed(
    stripe_control: StripeControl, stripe_fake: RunningFakeStripe, stripe_http: httpx.AsyncClient
) -> None:
    dispute_id = (await new_dispute(stripe_control))["id"]
    client = make_client(stripe_fake, stripe_http, api_key="sk_test_revoked_key_000000")

    with pytest.raises(AuthenticationFailed) as caught:
        await client.get_dispute(dispute_id)

    assert caught.value.status_code == 401 and not caught.value.retryable and caught.value.vendor == "stripe"
    assert "sk_test_revoked_key_000000" not in str(caught.value)  # Stripe masks the key


async def test_unknown_dispute_is_not_found(stripe_client: StripeClient) -> None:
    with pytest.raises(NotFound) as caught:
        await stripe_client.get_dispute("dp_doesnotexist")
    assert caught.value.code == "resource_missing" and caught.value.request_id and not caught.value.retryable


async def test_rate_limit_is_retryable_and_left_to_the_task_layer(
    stripe_control: StripeControl, stripe_client: StripeClient, stripe_sleep: RecordingSleep
) -> None:
    dispute_id = (await new_dispute(stripe_control))["id"]
    await stripe_control.fault(DISPUTE_PATH, "rate_limited", method="GET")

    with pytest.raises(RateLimited) as caught:
        await stripe_client.get_dispute(dispute_id)

    assert caught.value.retryable and caught.value.code == "rate_limit" and caught.value.retry_after == 1.0
    assert stripe_sleep.calls == []  # no in-request waiting on 429
    assert (await stripe_client.get_dispute(dispute_id)).id == dispute_id


async def test_a_read_is_resent_briefly_after_a_5xx(
    stripe_control: StripeControl, stripe_client: StripeClient, stripe_sleep: RecordingSleep
) -> None:
    dispute_id = (await new_dispute(stripe_control))["id"]
    await stripe_control.fault(DISPUTE_PATH, "http_500_before_commit", method="GET", count=2)

    dispute = await stripe_client.get_dispute(dispute_id)

    assert dispute.id == dispute_id and stripe_sleep.calls == [0.5, 1.5]
    assert [c["status"] for c in await stripe_control.calls()] == [500, 500, 200]


async def test_the_resend_waits_are_the_clients_setting(
    stripe_fake: RunningFakeStripe, stripe_http: httpx.AsyncClient, stripe_control: StripeControl,
    stripe_sleep: RecordingSleep,
) -> None:
    """tasks/clients.py passes the waits scaled like the task retries' (zero in the suite): the
    same resends, after the waits it was given."""
    settings = make_client(stripe_fake, stripe_http).settings  # the fixture client's
    client = StripeClient(settings, stripe_http, sleep=stripe_sleep, resend_backoff=(0.0, 0.25))
    dispute_id = (await new_dispute(stripe_control))["id"]
    await stripe_control.fault(DISPUTE_PATH, "http_500_before_commit", method="GET", count=2)

    assert (await client.get_dispute(dispute_id)).id == dispute_id
    assert stripe_sleep.calls == [0.0, 0.25]
    assert [c["status"] for c in await stripe_control.calls()] == [500, 500, 200]


async def test_a_read_failing_three_times_is_a_retryable_transient_error(
    stripe_control: StripeControl, stripe_client: StripeClient
) -> None:
    dispute_id = (await new_dispute(stripe_control))["id"]
    await stripe_control.fault(DISPUTE_PATH, "http_500_before_commit", method="GET", count=3)

    with pytest.raises(TransientError) as caught:
        await stripe_client.get_dispute(dispute_id)
    assert caught.value.retryable and not caught.value.ambiguous and caught.value.status_code == 500


async def test_unreachable_stripe_is_transient_and_never_ambiguous(
    stripe_http: httpx.AsyncClient, stripe_sleep: RecordingSleep
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = StripeSettings(base_url=f"http://127.0.0.1:{port}", api_key=API_KEY)
    client = StripeClient(settings, stripe_http, sleep=stripe_sleep)

    with pytest.raises(TransientError) as caught:
        await client.update_dispute("dp_1", EVIDENCE, submit=True, idempotency_key="submit:case-7")

    assert caught.value.code == "network_not_sent" and caught.value.retryable and not caught.value.ambiguous
    assert stripe_sleep.calls == [0.5, 1.5]  # resent with the same key: it never left


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        pytest.param({"idempotency_key": " "}, "idempotency key", id="blank-key"),
        pytest.param({"idempotency_key": "k" * 256}, "255", id="key-too-long"),
        pytest.param({"idempotency_key": "k", "submit": "yes"}, "submit", id="submit-not-a-bool"),
    ],
)
async def test_bad_calls_are_refused_before_sending(
    stripe_control: StripeControl, stripe_client: StripeClient, kwargs: dict[str, Any], message: str
) -> None:
    arguments: dict[str, Any] = {"submit": False, **kwargs}
    with pytest.raises(InvalidInput, match=message):
        await stripe_client.update_dispute("dp_1", EVIDENCE, **arguments)
    assert await stripe_control.calls() == []


def test_money_uses_stripe_units() -> None:
    assert stripe_models.money_from_minor(4990, "eur") == Money.of("49.90", "EUR")
    assert stripe_models.money_from_minor(5000, "jpy") == Money.of(5000, "JPY")
    assert stripe_models.money_from_minor(50000, "isk") == Money.of(500, "ISK")  # ISK: two-decimal on the wire
    assert stripe_models.money_from_minor(12340, "kwd").amount == Decimal("12.34")


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AFTERSALES_STRIPE_API_KEY", "sk_live_from_env")
    monkeypatch.setenv("AFTERSALES_STRIPE_BASE_URL", "http://127.0.0.1:8083/")
    monkeypatch.setenv("AFTERSALES_STRIPE_FILES_BASE_URL", "http://127.0.0.1:8083/_files")
    monkeypatch.setenv("AFTERSALES_STRIPE_WEBHOOK_SECRET", "whsec_from_env")

    settings = StripeSettings()

    assert settings.api_key.get_secret_value() == "sk_live_from_env" and "sk_live" not in repr(settings)
    assert (settings.api_root, settings.files_root) == ("http://127.0.0.1:8083", "http://127.0.0.1:8083/_files")
    assert settings.webhook_secret.get_secret_value() == "whsec_from_env"
    assert settings.api_version == SPEC_API_VERSION == "2023-08-16"
    assert StripeSettings.model_fields["files_base_url"].default == "https://files.stripe.com"
    assert StripeSettings.model_fields["base_url"].default == "https://api.stripe.com"
