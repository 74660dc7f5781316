"""`client.disputes` (INTEGRATIONS.md 1.8): Shopify Payments disputes, their evidence, and what
the order says against a fraud claim. `disputeEvidenceUpdate` has no `@idempotent` in 2026-01
(1.3): it is never resent after it may have reached Shopify; the caller reconciles by reading the
evidence's `submitted` (`disputes.get_evidence` / `disputes.get`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from domain.errors import PermanentError
from integrations.shopify import documents
from integrations.shopify.disputes import (
    OrderFraudEvidence,
    ShopifyDispute,
    ShopifyDisputeEvidence,
    dispute_evidence_from_graphql,
    dispute_evidence_input,
    dispute_from_graphql,
    disputes_from_graphql,
    order_fraud_evidence_from_graphql,
    sort_by_urgency,
)
from integrations.shopify.transport import (
    VENDOR,
    Call,
    Transport,
    input_order_gid,
    mapped,
    read_mapped,
    refusal,
    root_payload,
    typed_gid,
    user_error,
)

MAX_DISPUTE_PAGES = 20  # 20 pages of 25 open disputes: a sweep that finds more is refused


class DisputesService:
    """Disputes of the store: `client.disputes.get(...)`, `client.disputes.update_evidence(...)`."""

    def __init__(self, transport: Transport) -> None:
        self._transport = transport

    async def get(self, dispute_id: str | int) -> ShopifyDispute:
        """Read a Shopify Payments dispute by gid or numeric (REST / webhook) id, with its evidence.

        Raises `NotFound` when Shopify answers null.
        """
        gid = typed_gid(dispute_id, "ShopifyPaymentsDispute")
        return await read_mapped(self._transport, "DisputeForAfterSales", documents.DISPUTE_QUERY, gid, "dispute",
                                 "dispute", dispute_from_graphql)

    async def list_open(self) -> list[ShopifyDispute]:
        """Every dispute in status NEEDS_RESPONSE, most urgent `evidence_due_by` first.

        The reconciliation sweep behind the `disputes/*` webhooks (at-least-once, unordered,
        1.9). Reads every page (25 a page); more than `MAX_DISPUTE_PAGES` pages raises
        `PermanentError(code="TOO_MANY_DISPUTES")` rather than answering with half of them.
        """
        found: list[ShopifyDispute] = []
        after: str | None = None
        for _ in range(MAX_DISPUTE_PAGES):
            reply = await self._transport.execute(
                Call("OpenDisputes", documents.OPEN_DISPUTES_QUERY, {"after": after}, "query")
            )
            connection = reply.data.get("disputes")
            if not isinstance(connection, dict):
                raise refusal("no disputes in the answer", reply, code="UNEXPECTED_PAYLOAD")
            page, after = mapped(disputes_from_graphql, connection, reply)
            found.extend(page)
            if after is None:
                return sort_by_urgency(found)
        raise PermanentError(
            f"more than {MAX_DISPUTE_PAGES} pages of open disputes", code="TOO_MANY_DISPUTES", vendor=VENDOR
        )

    async def get_evidence(self, evidence_id: str | int) -> ShopifyDisputeEvidence:
        """Read a dispute's evidence (`disputeEvidence(id:)`): how an ambiguous update is reconciled.

        Raises `NotFound` when Shopify answers null.
        """
        gid = typed_gid(evidence_id, "ShopifyPaymentsDisputeEvidence")
        return await read_mapped(self._transport, "DisputeEvidenceForAfterSales", documents.DISPUTE_EVIDENCE_QUERY,
                                 gid, "disputeEvidence", "dispute evidence", dispute_evidence_from_graphql)

    async def update_evidence(
        self, evidence_id: str | int, fields: Mapping[str, Any], *, submit: bool
    ) -> ShopifyDisputeEvidence:
        """`disputeEvidenceUpdate`: save a draft (`submit=False`) or send the evidence to the bank.

        `fields` are keyed by `ShopifyPaymentsDisputeEvidenceUpdateInput` field names
        (`uncategorizedText`, `refundPolicyDisclosure`, `shippingAddress`,
        `shippingDocumentationFile`...; see `disputes.dispute_evidence_input`); any other key
        raises `InvalidInput` before any call. Evidence is submitted once: afterwards Shopify
        answers `EVIDENCE_ALREADY_ACCEPTED`; after `evidenceDueBy`, `EVIDENCE_PAST_DUE_DATE`.
        `userErrors` raise `PermanentError` with Shopify's code (`NotFound` for
        DISPUTE_EVIDENCE_NOT_FOUND). No `@idempotent` in 2026-01: a timeout or 5xx raises
        `TransientError(ambiguous=True)`, never resent; read `get_evidence(...).submitted`.
        """
        gid = typed_gid(evidence_id, "ShopifyPaymentsDisputeEvidence")
        evidence_input = dispute_evidence_input(fields, submit=submit)
        reply = await self._transport.execute(
            Call(
                "DisputeEvidenceUpdate",
                documents.DISPUTE_EVIDENCE_UPDATE_MUTATION,
                {"id": gid, "input": evidence_input},
                "unsafe",
            )
        )
        payload = root_payload(reply, "disputeEvidenceUpdate")
        errors = payload.get("userErrors") or []
        if errors:
            raise user_error("disputeEvidenceUpdate", errors, reply, default_code="USER_ERROR")
        node = payload.get("disputeEvidence")
        if not node:
            raise refusal("disputeEvidenceUpdate returned no evidence", reply, code="NO_EVIDENCE")
        return mapped(dispute_evidence_from_graphql, node, reply)

    async def order_fraud_evidence(self, order_id: str | int) -> OrderFraudEvidence:
        """What the order says against a FRAUDULENT / UNRECOGNIZED claim (IP, AVS/CVV, risk, visit).

        Raises `NotFound` when Shopify answers null.
        """
        gid = input_order_gid(order_id)
        return await read_mapped(self._transport, "DisputeOrderEvidence", documents.DISPUTE_ORDER_EVIDENCE_QUERY, gid,
                                 "order", "order", order_fraud_evidence_from_graphql)
