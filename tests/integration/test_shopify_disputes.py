"""Shopify Payments disputes: documents, input checks, webhook payloads, and the client against the
fake store (INTEGRATIONS.md 1.8, 1.9).

Every request is validated by the fake against the real 2026-01 SDL and executed there, so a
dispute the client reads back has exactly the shape Shopify would answer.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import graphql
import httpx
import pytest
from graphql import FieldNode, GraphQLEnumType, GraphQLInputObjectType

from domain.errors import InvalidInput, NotFound, PermanentError, TransientError
from domain.money import Money
from domain.orders import Address
from integrations.shopify import ShopifyClient, verify_webhook
from integrations.shopify.disputes import (
    EVIDENCE_ADDRESS_FIELDS,
    EVIDENCE_FILE_FIELDS,
    EVIDENCE_INPUT_FIELDS,
    EVIDENCE_TEXT_FIELDS,
    MAILING_ADDRESS_INPUT_FIELDS,
    ShopifyDisputeReason,
    ShopifyDisputeStatus,
    ShopifyDisputeType,
    dispute_evidence_input,
    dispute_from_webhook,
)
from integrations.shopify.documents import ALL_DOCUMENTS
from sandbox.shopify import FakeShopifyServer, admin_schema
from tests.integration import shopify_fixtures as sf
from tests.integration.shopify_fixtures import (  # noqa: F401 - fixtures, registered by import
    client_fixture,
    control_fixture,
    http_fixture,
    sink_fixture,
    sleep_fixture,
    store_fixture,
)

NUMBER = 2001
ORDER_ID = sf.legacy_id(NUMBER)
ORDER_GID = f"gid://shopify/Order/{ORDER_ID}"
TRACKING = f"6A{NUMBER:011d}"  # what sf.delivered_order ships with

DISPUTE_DOCUMENTS = [
    "DisputeForAfterSales",
    "OpenDisputes",
    "DisputeEvidenceForAfterSales",
    "DisputeEvidenceUpdate",
    "DisputeOrderEvidence",
]


def _today() -> date:
    return datetime.now(UTC).date()


async def _chargeback(control: sf.Control, reason: str = "PRODUCT_NOT_RECEIVED", **body: Any) -> dict[str, Any]:
    """Seed the delivered two-item order and open a dispute on it (the control answer)."""
    await control.seed(sf.delivered_order(NUMBER))
    return await control.open_dispute(ORDER_ID, reason, **body)


# ---------------------------------------------------------------------- documents and the SDL (1.8)


@pytest.mark.parametrize("name", DISPUTE_DOCUMENTS)
def test_dispute_document_is_registered_and_validates(name: str) -> None:
    # Registered in ALL_DOCUMENTS, so test_shopify_documents also checks its name and cost.
    document = graphql.parse(ALL_DOCUMENTS[name])

    assert [e.message for e in graphql.validate(admin_schema(), document)] == []


def test_evidence_update_has_no_idempotency_directive() -> None:
    # disputeEvidenceUpdate does not document @idempotent in 2026-01 (1.3): the client never resends it.
    operation = graphql.get_operation_ast(graphql.parse(ALL_DOCUMENTS["DisputeEvidenceUpdate"]))
    assert operation is not None
    [root] = [s for s in operation.selection_set.selections if isinstance(s, FieldNode)]

    assert root.name.value == "disputeEvidenceUpdate" and not root.directives
    assert "@idempotent" not in ALL_DOCUMENTS["DisputeEvidenceUpdate"]


def test_evidence_input_fields_are_exactly_what_2026_01_declares() -> None:
    declared = admin_schema().get_type("ShopifyPaymentsDisputeEvidenceUpdateInput")
    assert isinstance(declared, GraphQLInputObjectType)
    kinds = {name: graphql.get_named_type(f.type).name for name, f in declared.fields.items()}

    assert EVIDENCE_INPUT_FIELDS | {"submitEvidence"} == set(kinds)
    assert {n for n, k in kinds.items() if k == "String"} == EVIDENCE_TEXT_FIELDS
    assert {n for n, k in kinds.items() if k == "ShopifyPaymentsDisputeFileUploadUpdateInput"} == set(
        EVIDENCE_FILE_FIELDS
    )
    assert {n for n, k in kinds.items() if k == "MailingAddressInput"} == EVIDENCE_ADDRESS_FIELDS


def test_mailing_address_input_fields_are_the_non_deprecated_ones() -> None:
    declared = admin_schema().get_type("MailingAddressInput")
    assert isinstance(declared, GraphQLInputObjectType)

    current = {name for name, f in declared.fields.items() if not f.deprecation_reason}

    assert current == MAILING_ADDRESS_INPUT_FIELDS


def _enum_values(name: str) -> set[str]:
    enum = admin_schema().get_type(name)
    assert isinstance(enum, GraphQLEnumType)
    return set(enum.values)


def test_enums_follow_the_sdl() -> None:
    assert {r.value for r in ShopifyDisputeReason} == _enum_values("ShopifyPaymentsDisputeReason")
    assert {t.value for t in ShopifyDisputeType} == _enum_values("DisputeType")
    # PREVENTED is read ahead of 2026-07 (Shopify falls forward once 2026-01 is unsupported).
    assert {s.value for s in ShopifyDisputeStatus} - {"PREVENTED"} == _enum_values("DisputeStatus")
    assert set(EVIDENCE_FILE_FIELDS.values()) <= _enum_values("ShopifyPaymentsDisputeEvidenceFileType")


# ---------------------------------------------------------------------- the evidence input, before any call


def test_evidence_input_keeps_declared_fields_and_adds_submit() -> None:
    built = dispute_evidence_input(
        {
            "uncategorizedText": "Livré le 12/01, signature jointe.",
            "refundPolicyDisclosure": None,
            "shippingDocumentationFile": 42,
            "uncategorizedFile": {"id": "gid://shopify/ShopifyPaymentsDisputeFileUpload/7", "destroy": True},
            "shippingAddress": Address(first_name="Léa", address1="3 place Rihour", city="Lille", country_code="fr"),
        },
        submit=False,
    )

    assert built == {
        "uncategorizedText": "Livré le 12/01, signature jointe.",
        "refundPolicyDisclosure": None,
        "shippingDocumentationFile": {"id": "gid://shopify/ShopifyPaymentsDisputeFileUpload/42"},
        "uncategorizedFile": {"id": "gid://shopify/ShopifyPaymentsDisputeFileUpload/7", "destroy": True},
        "shippingAddress": {"firstName": "Léa", "address1": "3 place Rihour", "city": "Lille", "countryCode": "FR"},
        "submitEvidence": False,
    }
    assert dispute_evidence_input({}, submit=True) == {"submitEvidence": True}


@pytest.mark.parametrize(
    ("fields", "submit", "says"),
    [
        ({"productDescription": "read-only"}, False, "productDescription"),
        ({"customerPurchaseIp": "203.0.113.1"}, True, "customerPurchaseIp"),
        ({"submitEvidence": True}, False, "submit=True"),
        ({"uncategorized_text": "snake case"}, False, "uncategorized_text"),
        ({}, False, "needs fields"),
        ({"uncategorizedText": 12}, False, "expected text"),
        ({"shippingDocumentationFile": "gid://shopify/File/1"}, False, "not a dispute file upload id"),
        ({"shippingDocumentationFile": {"id": 1, "destroy": "yes"}}, False, "destroy"),
        ({"shippingDocumentationFile": {"id": 1, "name": "x.pdf"}}, False, "unknown keys"),
        ({"shippingAddress": {"country": "France"}}, False, "country"),
        ({"shippingAddress": {"countryCode": "FRA"}}, False, "two-letter"),
        ({"shippingAddress": "3 place Rihour"}, False, "MailingAddressInput"),
    ],
)
def test_evidence_input_refuses_what_2026_01_would_not_take(fields: dict[str, Any], submit: bool, says: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        dispute_evidence_input(fields, submit=submit)

    assert says in caught.value.reason


# ---------------------------------------------------------------------- webhook payloads (1.9)


@pytest.mark.parametrize(
    ("payload", "order"),
    [
        (
            {
                "id": 1052608616,
                "order_id": 450789469,
                "type": "chargeback",
                "amount": "100.00",
                "currency": "USD",
                "reason": "fraudulent",
                "network_reason_code": "4827",
                "status": "needs_response",
                "evidence_due_by": "2026-02-10T19:00:00-04:00",
                "evidence_sent_on": None,
                "finalized_on": None,
                "initiated_at": "2026-01-28T20:00:00-04:00",
            },
            "450789469",
        ),
        ({"id": "1052608616", "order_id": None}, None),
        ({"admin_graphql_api_id": "gid://shopify/ShopifyPaymentsDispute/1052608616"}, None),
        (
            {"id": "gid://shopify/ShopifyPaymentsDispute/1052608616", "order_id": "gid://shopify/Order/450789469"},
            "450789469",
        ),
        ({"id": 1052608616, "order_id": "not-an-id", "amount": None, "status": 5, "type": []}, None),
        ({"id": 1052608616, "order_id": {"id": 450789469}}, "450789469"),
    ],
)
def test_dispute_from_webhook_reads_the_ids_tolerantly(payload: dict[str, Any], order: str | None) -> None:
    assert dispute_from_webhook(payload) == ("gid://shopify/ShopifyPaymentsDispute/1052608616", order)


@pytest.mark.parametrize(
    "payload",
    [
        {"order_id": 450789469},
        {"id": True, "order_id": 450789469},
        {"id": 0},
        {"id": "gid://shopify/Order/1"},
        {"id": None, "admin_graphql_api_id": "gid://shopify/Return/1"},
    ],
)
def test_dispute_from_webhook_refuses_a_payload_without_a_dispute_id(payload: dict[str, Any]) -> None:
    with pytest.raises(InvalidInput) as caught:
        dispute_from_webhook(payload)

    assert "no dispute id" in caught.value.reason


def test_dispute_from_webhook_refuses_what_is_not_an_object() -> None:
    with pytest.raises(InvalidInput):
        dispute_from_webhook([1, 2])  # type: ignore[arg-type]


# ---------------------------------------------------------------------- the client against the fake store


async def test_a_chargeback_from_webhook_to_won(
    control: sf.Control, client: ShopifyClient, sink: sf.WebhookSink
) -> None:
    await control.reset(webhook_url=sink.url)
    await control.seed(sf.delivered_order(NUMBER))

    opened = await control.open_dispute(ORDER_ID, "PRODUCT_NOT_RECEIVED", evidence_due_in_days=7)

    assert [d["status"] for d in opened["deliveries"]] == [200]
    [(headers, body)] = sink.received
    assert headers["X-Shopify-Topic"] == "disputes/create"
    assert verify_webhook(sf.WEBHOOK_SECRET, body, headers["X-Shopify-Hmac-Sha256"])
    payload = json.loads(body)
    assert (payload["status"], payload["reason"], payload["type"]) == (
        "needs_response",
        "product_not_received",
        "chargeback",
    )
    dispute_gid, order_legacy = dispute_from_webhook(payload)
    assert (dispute_gid, order_legacy) == (opened["id"], str(ORDER_ID))

    dispute = await client.disputes.get(dispute_gid)

    assert (dispute.id, dispute.legacy_id) == (opened["id"], str(opened["legacy_id"]))
    assert (dispute.status, dispute.type, dispute.reason) == (
        ShopifyDisputeStatus.NEEDS_RESPONSE,
        ShopifyDisputeType.CHARGEBACK,
        ShopifyDisputeReason.PRODUCT_NOT_RECEIVED,
    )
    assert dispute.network_reason_code == "13.1" and dispute.amount == Money.of(sf.ORDER_TOTAL, "EUR")
    assert type(dispute.evidence_due_by) is date and dispute.evidence_due_by == _today() + timedelta(days=7)
    assert dispute.initiated_at.tzinfo is not None
    assert (dispute.evidence_sent_on, dispute.finalized_on) == (None, None)
    assert (dispute.order_id, dispute.order_legacy_id, dispute.order_name) == (ORDER_GID, str(ORDER_ID), "#2001")
    assert dispute.needs_response and not dispute.is_final
    evidence = dispute.evidence
    # Shopify pre-fills the evidence from the order.
    assert (evidence.id, evidence.submitted) == (opened["evidence_id"], False)
    assert (evidence.customer_email_address, evidence.customer_first_name, evidence.customer_last_name) == (
        "lea.fontaine@example.com",
        "Léa",
        "Fontaine",
    )
    assert evidence.shipping_address is not None and evidence.shipping_address.city == "Lille"
    assert evidence.shipping_address.country_code == "FR"
    [shipment] = evidence.fulfillments
    assert (shipment.carrier, shipment.tracking_number) == ("Colissimo", TRACKING)
    assert shipment.shipping_date == (datetime.now(UTC) - timedelta(hours=72)).date()
    assert evidence.product_description is not None and "Vase en céramique Galet" in evidence.product_description
    assert (evidence.dispute_id, evidence.dispute_status) == (dispute.id, ShopifyDisputeStatus.NEEDS_RESPONSE)
    assert [d.id for d in await client.disputes.list_open()] == [dispute.id]

    # A draft: saved, not sent.
    draft = await client.disputes.update_evidence(
        evidence.id, {"uncategorizedText": "Colis livré, preuve de dépôt jointe."}, submit=False
    )

    assert (draft.submitted, draft.uncategorized_text) == (False, "Colis livré, preuve de dépôt jointe.")
    assert draft.dispute_status == ShopifyDisputeStatus.NEEDS_RESPONSE and draft.evidence_sent_on is None
    assert (await client.disputes.get(dispute.id)).evidence.uncategorized_text == draft.uncategorized_text

    submitted = await client.disputes.update_evidence(
        evidence.id,
        {
            "refundPolicyDisclosure": "Retours acceptés sous 30 jours.",
            "shippingAddress": {"city": "Lille", "zip": "59000"},
        },
        submit=True,
    )

    assert submitted.submitted and submitted.dispute_status == ShopifyDisputeStatus.UNDER_REVIEW
    assert submitted.evidence_sent_on == _today()
    assert submitted.uncategorized_text == draft.uncategorized_text  # the draft went with it
    assert submitted.refund_policy_disclosure == "Retours acceptés sous 30 jours."
    assert submitted.shipping_address is not None and submitted.shipping_address.zip == "59000"
    assert await client.disputes.list_open() == []
    reviewed = await client.disputes.get(dispute.id)
    assert (reviewed.status, reviewed.evidence_sent_on, reviewed.needs_response) == (
        ShopifyDisputeStatus.UNDER_REVIEW,
        _today(),
        False,
    )

    # Submitted once: Shopify refuses a second submission (and any later draft).
    with pytest.raises(PermanentError) as caught:
        await client.disputes.update_evidence(evidence.id, {"uncategorizedText": "encore"}, submit=True)

    assert caught.value.code == "EVIDENCE_ALREADY_ACCEPTED" and not caught.value.retryable
    assert len(await control.calls("disputeEvidenceUpdate")) == 3  # never resent
    assert (await client.disputes.get_evidence(evidence.id)).uncategorized_text == draft.uncategorized_text

    await control.dispute_status(opened["legacy_id"], "WON")

    won = await client.disputes.get(dispute.id)
    assert (won.status, won.finalized_on, won.is_final) == (ShopifyDisputeStatus.WON, _today(), True)
    assert await asyncio.to_thread(sink.wait_for, lambda received: len(received) >= 3)
    topics = [h["X-Shopify-Topic"] for h, _ in sink.received]
    assert topics == ["disputes/create", "disputes/update", "disputes/update"]
    last = json.loads(sink.received[-1][1])
    assert (last["status"], dispute_from_webhook(last)) == ("won", (dispute.id, str(ORDER_ID)))
    raw = await control.order(ORDER_ID)
    [summary] = raw["disputes"]
    assert (summary["id"], summary["status"], summary["submitted"], summary["updates"]) == (dispute.id, "WON", True, 2)


async def test_evidence_after_the_due_date_is_refused(control: sf.Control, client: ShopifyClient) -> None:
    late = await _chargeback(control, evidence_due_in_days=-1)

    with pytest.raises(PermanentError) as caught:
        await client.disputes.update_evidence(late["evidence_id"], {"uncategorizedText": "trop tard"}, submit=True)

    assert caught.value.code == "EVIDENCE_PAST_DUE_DATE" and not caught.value.retryable
    assert not (await client.disputes.get_evidence(late["evidence_id"])).submitted
    # The due date itself still counts (a Date, no time of day).
    today = await control.open_dispute(ORDER_ID, "GENERAL", evidence_due_by=_today().isoformat())
    saved = await client.disputes.update_evidence(today["evidence_id"], {"uncategorizedText": "à temps"}, submit=False)
    assert saved.uncategorized_text == "à temps"


async def test_an_unknown_input_key_is_refused_before_any_call(
    control: sf.Control, client: ShopifyClient
) -> None:
    opened = await _chargeback(control)
    before = len(await control.calls())

    with pytest.raises(InvalidInput) as caught:
        await client.disputes.update_evidence(opened["evidence_id"], {"productDescription": "lamp"}, submit=True)

    assert "productDescription" in caught.value.reason
    assert len(await control.calls()) == before
    with pytest.raises(InvalidInput):
        await client.disputes.update_evidence("gid://shopify/ShopifyPaymentsDispute/1", {}, submit=True)
    assert len(await control.calls()) == before


async def test_submit_answer_lost_after_commit_is_ambiguous_and_the_evidence_tells(
    control: sf.Control, client: ShopifyClient, sleep: sf.RecordingSleep
) -> None:
    opened = await _chargeback(control)
    await control.fault("disputeEvidenceUpdate", "http_500_after_commit")

    with pytest.raises(TransientError) as caught:
        await client.disputes.update_evidence(opened["evidence_id"], {"uncategorizedText": "preuves"}, submit=True)

    assert caught.value.ambiguous and not caught.value.retryable
    assert [c["status"] for c in await control.calls("disputeEvidenceUpdate")] == [500]  # never resent
    assert sleep.calls == []
    # What the caller reconciles with: the evidence went to the bank.
    evidence = await client.disputes.get_evidence(opened["evidence_id"])
    assert evidence.submitted and evidence.uncategorized_text == "preuves"
    assert evidence.dispute_status == ShopifyDisputeStatus.UNDER_REVIEW
    assert (await client.disputes.get(opened["id"])).evidence.submitted


async def test_draft_timeout_is_ambiguous_too(
    control: sf.Control, store: FakeShopifyServer, http: httpx.AsyncClient, sleep: sf.RecordingSleep
) -> None:
    opened = await _chargeback(control)
    client = sf.make_client(store, http, sleep, timeout_seconds=0.3)
    await control.fault("disputeEvidenceUpdate", "timeout", seconds=1.0)

    with pytest.raises(TransientError) as caught:
        await client.disputes.update_evidence(opened["evidence_id"], {"uncategorizedText": "brouillon"}, submit=False)

    assert caught.value.ambiguous and caught.value.code == "TIMEOUT"
    assert len(await control.calls("disputeEvidenceUpdate")) == 1
    evidence = await client.disputes.get_evidence(opened["evidence_id"])
    assert (evidence.submitted, evidence.uncategorized_text) == (False, "brouillon")


async def test_reads_are_resent_after_a_server_error(
    control: sf.Control, client: ShopifyClient, sleep: sf.RecordingSleep
) -> None:
    opened = await _chargeback(control)
    await control.fault("dispute", "http_500")

    dispute = await client.disputes.get(opened["legacy_id"])  # the numeric (webhook) id works too

    assert dispute.id == opened["id"]
    assert [c["status"] for c in await control.calls("dispute")] == [500, 200] and sleep.calls == [0.5]


async def test_user_errors_on_the_evidence_are_permanent(control: sf.Control, client: ShopifyClient) -> None:
    opened = await _chargeback(control)
    await control.fault(
        "disputeEvidenceUpdate", "user_error", message="Individual file size is too large.", code="TOO_LARGE"
    )

    with pytest.raises(PermanentError) as caught:
        await client.disputes.update_evidence(opened["evidence_id"], {"uncategorizedText": "x"}, submit=False)

    assert caught.value.code == "TOO_LARGE" and "too large" in caught.value.message
    assert not (await client.disputes.get_evidence(opened["evidence_id"])).uncategorized_text


async def test_unknown_disputes_and_evidence_are_not_found(control: sf.Control, client: ShopifyClient) -> None:
    with pytest.raises(NotFound):
        await client.disputes.get("gid://shopify/ShopifyPaymentsDispute/1")
    with pytest.raises(NotFound):
        await client.disputes.get_evidence(1)
    with pytest.raises(NotFound) as caught:
        await client.disputes.update_evidence(1, {"uncategorizedText": "x"}, submit=False)
    assert caught.value.code == "DISPUTE_EVIDENCE_NOT_FOUND"
    with pytest.raises(InvalidInput):
        await client.disputes.get(ORDER_GID)


async def test_a_decided_dispute_takes_no_evidence(control: sf.Control, client: ShopifyClient) -> None:
    opened = await _chargeback(control, "CREDIT_NOT_PROCESSED")
    await control.dispute_status(opened["legacy_id"], "ACCEPTED")

    with pytest.raises(PermanentError) as caught:
        await client.disputes.update_evidence(opened["evidence_id"], {"uncategorizedText": "x"}, submit=True)

    assert caught.value.code == "INVALID"
    dispute = await client.disputes.get(opened["id"])
    assert dispute.is_final and not dispute.needs_response and dispute.finalized_on == _today()


async def test_an_inquiry_escalated_to_a_chargeback(control: sf.Control, client: ShopifyClient) -> None:
    opened = await _chargeback(control, "GENERAL", type="INQUIRY", amount="39.90", no_due_date=True)

    inquiry = await client.disputes.get(opened["id"])

    assert (inquiry.type, inquiry.amount, inquiry.evidence_due_by, inquiry.network_reason_code) == (
        ShopifyDisputeType.INQUIRY,
        Money.of("39.90", "EUR"),
        None,
        None,
    )
    await control.dispute_status(opened["legacy_id"], "NEEDS_RESPONSE", type="CHARGEBACK")
    assert (await client.disputes.get(opened["id"])).type == ShopifyDisputeType.CHARGEBACK
    [summary] = (await control.order(ORDER_ID))["disputes"]
    assert summary["type"] == "CHARGEBACK"


async def test_open_disputes_reads_every_page_most_urgent_first(
    control: sf.Control, client: ShopifyClient
) -> None:
    await control.seed(sf.delivered_order(NUMBER))
    opened = [
        await control.open_dispute(ORDER_ID, "GENERAL", amount="1.00", evidence_due_in_days=40 - i) for i in range(27)
    ]
    decided = opened[5]
    await control.dispute_status(decided["legacy_id"], "LOST")

    found = await client.disputes.list_open()

    assert len(found) == 26 and decided["id"] not in {d.id for d in found}
    due = [d.evidence_due_by for d in found if d.evidence_due_by is not None]
    assert len(due) == 26 and due == sorted(due) and found[0].id == opened[-1]["id"]
    calls = await control.calls("disputes")
    assert len(calls) == 2 and calls[0]["variables"] == {"after": None} and calls[1]["variables"]["after"]


async def test_file_uploads_are_referenced_and_deleted(control: sf.Control, client: ShopifyClient) -> None:
    opened = await _chargeback(control)
    proof = await control.dispute_file(
        opened["legacy_id"], evidence_type="SHIPPING_DOCUMENTATION_FILE", file_name="preuve-livraison.pdf", size=80_000
    )
    loose = await control.dispute_file(opened["legacy_id"], file_name="echanges.png", file_type="image/png")

    before = (await client.disputes.get(opened["id"])).evidence

    assert [(u.id, u.evidence_type, u.file_name, u.file_size) for u in before.file_uploads] == [
        (proof["id"], "SHIPPING_DOCUMENTATION_FILE", "preuve-livraison.pdf", 80_000),
        (loose["id"], None, "echanges.png", 120_000),
    ]
    assert before.attached_files == {"shippingDocumentationFile": proof["id"]}

    numeric = int(loose["id"].rsplit("/", 1)[1])
    attached = await client.disputes.update_evidence(
        opened["evidence_id"], {"customerCommunicationFile": numeric}, submit=False
    )

    assert attached.attached_files == {
        "shippingDocumentationFile": proof["id"],
        "customerCommunicationFile": loose["id"],
    }
    assert {u.id: u.evidence_type for u in attached.file_uploads}[loose["id"]] == "CUSTOMER_COMMUNICATION_FILE"

    with pytest.raises(PermanentError) as caught:
        await client.disputes.update_evidence(
            opened["evidence_id"],
            {"uncategorizedFile": "gid://shopify/ShopifyPaymentsDisputeFileUpload/1"},
            submit=False,
        )
    assert caught.value.code == "FILE_NOT_FOUND"

    removed = await client.disputes.update_evidence(
        opened["evidence_id"], {"customerCommunicationFile": {"id": loose["id"], "destroy": True}}, submit=False
    )

    assert [u.id for u in removed.file_uploads] == [proof["id"]]
    assert removed.attached_files == {"shippingDocumentationFile": proof["id"]}


async def test_dispute_files_stay_under_four_megabytes(control: sf.Control, http: httpx.AsyncClient) -> None:
    opened = await _chargeback(control)
    await control.dispute_file(opened["legacy_id"], size=3_000_000)

    with pytest.raises(httpx.HTTPStatusError) as caught:
        await control.dispute_file(opened["legacy_id"], size=2_000_000)

    assert caught.value.response.status_code == 409
    assert "FILES_SIZE_EXCEEDED_LIMIT" in caught.value.response.json()["detail"]


async def test_fraud_evidence_of_the_order(control: sf.Control, client: ShopifyClient) -> None:
    await control.seed(
        sf.delivered_order(
            NUMBER,
            client_ip="198.51.100.7",
            risk_level="HIGH",
            card={
                "company": "Mastercard",
                "bin": "510510",
                "last4": "0005",
                "avs_result_code": "N",
                "wallet": "APPLE_PAY",
            },
            billing_address={"address1": "8 rue de la Paix", "city": "Paris", "zip": "75002", "country_code": "FR"},
            visit_source="google",
        )
    )
    opened = await control.open_dispute(ORDER_ID, "FRAUDULENT")

    dispute = await client.disputes.get(opened["id"])
    fraud = await client.disputes.order_fraud_evidence(ORDER_ID)

    assert dispute.reason == ShopifyDisputeReason.FRAUDULENT and dispute.network_reason_code == "10.4"
    assert dispute.evidence.customer_purchase_ip == "198.51.100.7"
    assert dispute.evidence.billing_address is not None and dispute.evidence.billing_address.city == "Paris"
    assert (fraud.order_id, fraud.order_name, fraud.client_ip) == (ORDER_GID, "#2001", "198.51.100.7")
    assert fraud.email == "lea.fontaine@example.com" and not fraud.billing_matches_shipping
    assert fraud.billing_address is not None and fraud.billing_address.city == "Paris"
    assert fraud.shipping_address is not None and fraud.shipping_address.city == "Lille"
    assert (fraud.risk_recommendation, fraud.highest_risk) == ("CANCEL", "HIGH")
    [assessment] = fraud.risk_assessments
    assert assessment.provider is None and {f.sentiment for f in assessment.facts} == {"NEGATIVE"}
    [card] = fraud.card_checks
    assert (card.kind, card.gateway, card.avs_result_code, card.cvv_result_code) == (
        "SALE",
        "shopify_payments",
        "N",
        "M",
    )
    assert (card.company, card.bin, card.wallet) == ("Mastercard", "510510", "APPLE_PAY")
    assert card.number is not None and card.number.endswith("0005") and card.name == "Léa Fontaine"
    assert (fraud.customer_orders_count, fraud.customer_order_index, fraud.journey_ready) == (1, 1, True)
    assert fraud.first_visit is not None and fraud.first_visit.source == "google"
    assert fraud.first_visit.occurred_at < fraud.created_at
    with pytest.raises(NotFound):
        await client.disputes.order_fraud_evidence(sf.legacy_id(2999))


async def test_fake_refuses_a_dispute_on_an_order_not_paid_with_shopify_payments(
    control: sf.Control, http: httpx.AsyncClient, store: FakeShopifyServer
) -> None:
    await control.seed(sf.delivered_order(NUMBER, gateway="paypal"))

    response = await http.post(f"{store.base_url}/_control/orders/{ORDER_ID}/disputes", json={"reason": "FRAUDULENT"})
    unknown = await http.post(f"{store.base_url}/_control/orders/{ORDER_ID}/disputes", json={"reason": "STOLEN"})
    both = await http.post(
        f"{store.base_url}/_control/orders/{ORDER_ID}/disputes",
        json={"reason": "GENERAL", "evidence_due_in_days": 3, "evidence_due_by": "2026-03-01"},
    )

    assert response.status_code == 409 and "Shopify Payments" in response.json()["detail"]
    assert unknown.status_code == 422 and both.status_code == 422
    assert (await control.order(ORDER_ID))["disputes"] == []


async def test_fake_sends_dispute_webhooks_on_demand(
    control: sf.Control, client: ShopifyClient, sink: sf.WebhookSink
) -> None:
    await control.reset(webhook_url=sink.url)
    opened = await _chargeback(control, "DUPLICATE", evidence_due_in_days=3)

    deliveries = await control.send_webhook("disputes/update", ORDER_ID, times=2)

    assert [d["status"] for d in deliveries] == [200, 200]
    assert deliveries[0]["webhook_id"] == deliveries[1]["webhook_id"]  # one delivery, sent twice
    payload = json.loads(sink.received[-1][1])
    assert payload["id"] == opened["legacy_id"] and payload["amount"] == str(sf.ORDER_TOTAL)
    assert payload["evidence_due_by"].startswith((_today() + timedelta(days=3)).isoformat())
    assert Decimal(payload["amount"]) == (await client.disputes.get(opened["id"])).amount.amount


async def test_fake_disputes_query_answers_like_shopify(
    control: sf.Control, store: FakeShopifyServer, http: httpx.AsyncClient
) -> None:
    opened = await _chargeback(control)
    query = "query Q($q: String) { disputes(first: 5, query: $q) { nodes { id status } } }"

    async def ask(search: str) -> list[dict[str, Any]]:
        response = await http.post(
            store.graphql_url(),
            json={"query": query, "variables": {"q": search}, "operationName": "Q"},
            headers={"X-Shopify-Access-Token": sf.ACCESS_TOKEN},
        )
        nodes: list[dict[str, Any]] = response.json()["data"]["disputes"]["nodes"]
        return nodes

    assert await ask("status:needs_response") == [{"id": opened["id"], "status": "NEEDS_RESPONSE"}]
    assert await ask("status:won") == []
    assert await ask(f"id:{opened['legacy_id']}") == [{"id": opened["id"], "status": "NEEDS_RESPONSE"}]
    bad_cursor = await http.post(
        store.graphql_url(),
        json={"query": 'query B { disputes(first: 1, after: "nope") { nodes { id } } }', "operationName": "B"},
        headers={"X-Shopify-Access-Token": sf.ACCESS_TOKEN},
    )
    assert "Invalid cursor" in bad_cursor.json()["errors"][0]["message"]
