"""Shopify Payments disputes (1.8): opening, evidence drafts and submission, status, file uploads."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sandbox.shopify.models import (
    FakeDispute,
    FakeDisputeFile,
    FakeOrder,
    _address_input_view,
    _address_view,
    _coded_error,
    _gid_tail,
)
from sandbox.shopify.returns import _Returns
from sandbox.shopify.schema import (
    CENT,
    DEFAULT_NETWORK_REASON_CODES,
    DISPUTE_FILES_MAX_BYTES,
    DISPUTE_REASONS,
    EVIDENCE_FILE_INPUTS,
    EVIDENCE_TEXT_INPUTS,
    FINAL_DISPUTE_STATUSES,
    Json,
)
from sandbox.shopify.webhooks import rest_dispute


class _Disputes(_Returns):
    def today(self) -> date:
        """The fake's calendar day (UTC), against which `evidenceDueBy` is checked."""
        return self.clock().astimezone(UTC).date()

    def find_dispute(self, gid: Any) -> tuple[FakeOrder, FakeDispute] | None:
        wanted = _gid_tail(gid, "ShopifyPaymentsDispute")
        return self._dispute_where(lambda d: d.id == wanted)

    def find_dispute_by_legacy_id(self, legacy_id: int) -> tuple[FakeOrder, FakeDispute] | None:
        return self._dispute_where(lambda d: d.id == legacy_id)

    def find_evidence(self, gid: Any) -> tuple[FakeOrder, FakeDispute] | None:
        wanted = _gid_tail(gid, "ShopifyPaymentsDisputeEvidence")
        return self._dispute_where(lambda d: d.evidence_id == wanted)

    def _dispute_where(self, predicate: Callable[[FakeDispute], bool]) -> tuple[FakeOrder, FakeDispute] | None:
        for order in self.orders.values():
            for dispute in order.disputes:
                if predicate(dispute):
                    return order, dispute
        return None

    def all_disputes(self) -> list[tuple[FakeOrder, FakeDispute]]:
        found = [(order, dispute) for order in self.orders.values() for dispute in order.disputes]
        return sorted(found, key=lambda pair: pair[1].id)

    def open_dispute(
        self,
        order: FakeOrder,
        *,
        reason: str,
        type_: str = "CHARGEBACK",
        amount: Decimal | None = None,
        evidence_due_by: date | None = None,
        network_reason_code: str | None = None,
        initiated_at: datetime | None = None,
    ) -> FakeDispute:
        """The cardholder's bank opens a dispute: NEEDS_RESPONSE, evidence pre-filled from the order.

        Like Shopify, the evidence starts with the customer's e-mail and name and the order's
        addresses; its fulfillments and purchase IP are read from the order. Sends `disputes/create`.
        """
        if order.gateway != "shopify_payments":
            raise ValueError(f"{order.name} was not paid with Shopify Payments ({order.gateway})")
        if reason not in DISPUTE_REASONS:
            raise ValueError(f"not a ShopifyPaymentsDisputeReason: {reason!r}")
        customer = order.customer
        dispute = FakeDispute(
            id=self.next_id(),
            evidence_id=self.next_id(),
            type=type_,
            initiated_as=type_,
            reason=reason,
            network_reason_code=network_reason_code or DEFAULT_NETWORK_REASON_CODES.get(reason),
            amount=(amount if amount is not None else order.total_price).quantize(CENT),
            currency=order.currency,
            status="NEEDS_RESPONSE",
            initiated_at=initiated_at or self.clock(),
            evidence_due_by=evidence_due_by,
            texts={
                "customerEmailAddress": order.email,
                "customerFirstName": customer.first_name if customer else None,
                "customerLastName": customer.last_name if customer else None,
            },
            shipping_address=_address_view(order.shipping_address),
            billing_address=_address_view(order.billing_address),
        )
        order.disputes.append(dispute)
        order.updated_at = self.clock()
        self.emit("disputes/create", order, rest_dispute(order, dispute))
        return dispute

    def update_dispute_evidence(
        self, evidence_gid: Any, evidence_input: Mapping[str, Any]
    ) -> tuple[tuple[FakeOrder, FakeDispute] | None, list[Json]]:
        """`disputeEvidenceUpdate`: save fields; `submitEvidence` sends them (once) to the bank.

        Checks, in order: the evidence exists (DISPUTE_EVIDENCE_NOT_FOUND), was not submitted
        already (EVIDENCE_ALREADY_ACCEPTED), the due date has not passed on the fake's clock
        (EVIDENCE_PAST_DUE_DATE, the day itself still counts), the dispute still awaits a
        response (INVALID), every referenced file is one of the dispute's uploads (FILE_NOT_FOUND).
        Nothing changes when one fails. A `shippingAddress` replaces the whole address (an
        assumption: the SDL does not say whether Shopify merges it).
        """
        found = self.find_evidence(evidence_gid)
        if found is None:
            return None, [_coded_error(["id"], "Dispute evidence could not be found.", "DISPUTE_EVIDENCE_NOT_FOUND")]
        order, dispute = found
        if dispute.submitted:
            return None, [_coded_error(["id"], "Evidence already accepted.", "EVIDENCE_ALREADY_ACCEPTED")]
        if dispute.evidence_due_by is not None and self.today() > dispute.evidence_due_by:
            return None, [_coded_error(["id"], "Evidence past due date.", "EVIDENCE_PAST_DUE_DATE")]
        if dispute.status != "NEEDS_RESPONSE":
            message = f"The dispute does not accept evidence ({dispute.status})."
            return None, [_coded_error(["id"], message, "INVALID")]
        errors = [
            _coded_error(["input", slot], "File upload failed. Please try again.", "FILE_NOT_FOUND")
            for slot in EVIDENCE_FILE_INPUTS
            if isinstance(evidence_input.get(slot), Mapping) and dispute.file(evidence_input[slot].get("id")) is None
        ]
        if errors:
            return None, errors
        for key in EVIDENCE_TEXT_INPUTS:
            if key in evidence_input:
                dispute.texts[key] = evidence_input[key]
        if "shippingAddress" in evidence_input:
            dispute.shipping_address = _address_input_view(evidence_input["shippingAddress"])
        for slot, evidence_type in EVIDENCE_FILE_INPUTS.items():
            reference = evidence_input.get(slot)
            if not isinstance(reference, Mapping):
                continue
            upload = dispute.file(reference.get("id"))
            assert upload is not None
            if reference.get("destroy"):
                dispute.files.remove(upload)
                dispute.slots = {k: v for k, v in dispute.slots.items() if v != upload.id}
            else:
                dispute.slots = {k: v for k, v in dispute.slots.items() if v != upload.id}
                dispute.slots[slot] = upload.id
                upload.evidence_type = evidence_type
        dispute.updates += 1
        order.updated_at = self.clock()
        if evidence_input.get("submitEvidence"):
            dispute.submitted = True
            dispute.status = "UNDER_REVIEW"
            dispute.evidence_sent_on = self.today()
            self.emit("disputes/update", order, rest_dispute(order, dispute))
        return (order, dispute), []

    def set_dispute_status(self, order: FakeOrder, dispute: FakeDispute, status: str, type_: str | None) -> None:
        """The bank decides (WON, LOST...) or an inquiry becomes a chargeback; sends `disputes/update`."""
        dispute.status = status
        if type_ is not None:
            dispute.type = type_
        dispute.finalized_on = self.today() if status in FINAL_DISPUTE_STATUSES else None
        order.updated_at = self.clock()
        self.emit("disputes/update", order, rest_dispute(order, dispute))

    def add_dispute_file(
        self, dispute: FakeDispute, *, evidence_type: str | None, file_name: str, file_type: str, size: int
    ) -> FakeDisputeFile:
        """A file uploaded to the dispute (REST `dispute_file_uploads` or the admin): all < 4 MB."""
        total = sum(f.size for f in dispute.files) + size
        if total >= DISPUTE_FILES_MAX_BYTES:
            raise ValueError(f"FILES_SIZE_EXCEEDED_LIMIT: the dispute's files would total {total} bytes (< 4 MB)")
        upload = FakeDisputeFile(self.next_id(), evidence_type, file_name, file_type, size, self.clock())
        dispute.files.append(upload)
        slot = next((k for k, v in EVIDENCE_FILE_INPUTS.items() if v == evidence_type), None)
        if slot is not None:
            dispute.slots[slot] = upload.id
        return upload
