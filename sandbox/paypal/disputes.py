"""Disputes (Disputes API v1): opened by the control API, listed, read, and the seller's actions:
provide-evidence, send-message, make-offer, accept-claim, acknowledge-return-item; PayPal's side of
the story (stage, status, outcome) changed by the control API."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from decimal import Decimal

from fastapi import HTTPException

from sandbox.paypal.auth import _OAuth
from sandbox.paypal.contract import (
    ACCEPT_CLAIM_REASONS,
    ACCEPT_CLAIM_TYPES,
    ACKNOWLEDGEMENT_TYPES,
    EVENT_TYPES,
    NOTE_MAX,
    OFFER_TYPES,
    OPEN_FOR_ACTIONS,
    Json,
    PayPalFail,
    _invalid,
    _money,
    _not_allowed,
    _unprocessable,
    pp_time,
)
from sandbox.paypal.models import CallRecord, EventChange, FakeDispute, NewDispute, Transaction
from sandbox.paypal.parsing import (
    _check_files,
    _enum,
    _evidences,
    _json_body,
    _json_part,
    _multipart,
    _optional_money,
    _self_link,
)


class _Disputes(_OAuth):
    def find(self, dispute_id: str) -> FakeDispute:
        with self.lock:
            dispute = self.disputes.get(dispute_id)
        if dispute is None:
            raise PayPalFail(404, "RESOURCE_NOT_FOUND", "INVALID_RESOURCE_ID", f"Dispute {dispute_id} not found.")
        return dispute

    def create(self, spec: NewDispute) -> FakeDispute:
        with self.lock:
            now = self.now()
            number = self.next_id()
            dispute_id = spec.dispute_id or f"PP-D-{number}"
            if dispute_id in self.disputes:
                raise HTTPException(status_code=409, detail=f"dispute {dispute_id} exists")
            due = spec.seller_response_due_date
            if due is None and spec.status in OPEN_FOR_ACTIONS:
                # INTEGRATIONS.md §6: 20 days in inquiry; ~10 days to answer a claim (secondary source).
                due = now + timedelta(days=20 if spec.stage == "INQUIRY" else 10)
            transaction = Transaction(
                seller_transaction_id=spec.seller_transaction_id or f"{number:04d}SELLER{number:07d}",
                buyer_transaction_id=spec.buyer_transaction_id or f"{number:04d}BUYER{number:08d}",
                invoice_number=spec.invoice_number,
                custom=spec.custom,
                gross_amount=spec.gross_amount if spec.gross_amount is not None else spec.amount,
                created_at=now - timedelta(days=spec.paid_days_ago),
                buyer_name=spec.buyer_name,
            )
            dispute = FakeDispute(
                id=dispute_id,
                reason=spec.reason,
                status=spec.status,
                stage=spec.stage,
                amount=spec.amount,
                currency=spec.currency.upper(),
                transaction=transaction,
                created_at=now,
                updated_at=now,
                due_at=due if spec.status != "RESOLVED" else None,
                evidences=[
                    {"evidence_type": kind, "source": "REQUESTED_FROM_SELLER", "date": pp_time(now)}
                    for kind in spec.requested_evidence
                ],
            )
            self.disputes[dispute.id] = dispute
            return dispute

    def list_disputes(self, query: Mapping[str, str]) -> Json:
        try:
            page_size = int(query.get("page_size", "10"))
        except ValueError:
            raise _invalid("INVALID_PAGE_SIZE", "page_size must be an integer.", "page_size") from None
        if not 1 <= page_size <= 50:
            raise _invalid("INVALID_PAGE_SIZE", "The page_size is outside the allowed range 1 to 50.", "page_size")
        states = {s for s in query.get("dispute_state", "").split(",") if s}
        transaction = query.get("disputed_transaction_id")
        with self.lock:
            found = [
                d
                for d in self.disputes.values()
                if (not states or d.dispute_state() in states)
                and (
                    not transaction
                    or transaction in (d.transaction.seller_transaction_id, d.transaction.buyer_transaction_id)
                )
            ]
            found.sort(key=lambda d: d.created_at, reverse=True)
            return {
                "items": [d.summary(self.root_url) for d in found[:page_size]],
                "links": [{"href": f"{self.root_url}/v1/customer/disputes", "rel": "self", "method": "GET"}],
            }

    def provide_evidence(self, dispute_id: str, call: CallRecord, content_type: str, raw: bytes) -> Json:
        dispute = self.find(dispute_id)
        if not content_type.lower().startswith("multipart/form-data"):
            raise PayPalFail(
                415, "UNSUPPORTED_MEDIA_TYPE", "UNSUPPORTED_MEDIA_TYPE", "provide-evidence takes multipart/form-data."
            )
        parts = _multipart(content_type, raw)
        call.body = [p.summary() for p in parts]
        inputs = [p for p in parts if p.name == "input"]
        if len(inputs) != 1:
            raise _invalid("MISSING_REQUIRED_PARAMETER", "One `input` part with the evidences is required.", "input")
        evidences = _evidences(_json_part(inputs[0]))
        files = [p for p in parts if p.name != "input"]
        _check_files(files)
        with self.lock:
            if dispute.status != "WAITING_FOR_SELLER_RESPONSE" or dispute.stage == "INQUIRY":
                raise _not_allowed(dispute, "Provide evidence")
            now = self.now()
            names = [f.filename for f in files if f.filename]
            for evidence in evidences:
                stored = {
                    k: v for k, v in evidence.items() if k in ("evidence_type", "evidence_info", "notes", "item_id")
                }
                docs = [{"name": n} for n in names] if names else evidence.get("documents")
                if docs:
                    stored["documents"] = docs
                dispute.evidences.append({**stored, "source": "SUBMITTED_BY_SELLER", "date": pp_time(now)})
            dispute.status = "UNDER_REVIEW"
            dispute.due_at = None
            dispute.updated_at = now
            dispute.submissions.append(
                {"request_id": call.request_id, "at": pp_time(now), "evidences": evidences, "parts": call.body}
            )
            return _self_link(self.root_url, dispute)

    def send_message(self, dispute_id: str, call: CallRecord, content_type: str, raw: bytes) -> Json:
        """Send message about dispute to other party: the inquiry stage's channel (JSON `message`,
        or a multipart `input` part holding it). The buyer is then expected to answer."""
        dispute = self.find(dispute_id)
        if content_type.lower().startswith("multipart/form-data"):
            parts = _multipart(content_type, raw)
            call.body = [p.summary() for p in parts]
            inputs = [p for p in parts if p.name == "input"]
            body = _json_part(inputs[0]) if inputs else {}
        else:
            body = _json_body(content_type, raw)
            call.body = body
        message = body.get("message") if isinstance(body, Mapping) else None
        if not isinstance(message, str) or not 0 < len(message) <= NOTE_MAX:
            raise _invalid("MISSING_REQUIRED_PARAMETER", "message is required (1 to 2000 characters).", "/message")
        with self.lock:
            if dispute.stage != "INQUIRY" or dispute.status == "RESOLVED":
                raise _not_allowed(dispute, "Send message")
            now = self.now()
            dispute.messages.append({"posted_by": "SELLER", "time_posted": pp_time(now), "content": message,
                                     "request_id": call.request_id})
            dispute.status = "WAITING_FOR_BUYER_RESPONSE"
            dispute.updated_at = now
            return _self_link(self.root_url, dispute)

    def make_offer(self, dispute_id: str, call: CallRecord, content_type: str, raw: bytes) -> Json:
        """Make offer to resolve dispute (`make_offer`: `note`, `offer_type` required): the inquiry
        stage only; refund offers carry `offer_amount` (the dispute's currency, at most the disputed
        amount); a return needs `return_shipping_address` (`address_portable`, `country_code`
        required). The dispute then waits for the buyer."""
        dispute = self.find(dispute_id)
        body = _json_body(content_type, raw)
        call.body = body
        note = body.get("note")
        if not isinstance(note, str) or not 0 < len(note) <= NOTE_MAX:
            raise _invalid("MISSING_REQUIRED_PARAMETER", "note is required (1 to 2000 characters).", "/note")
        offer_type = body.get("offer_type")
        if offer_type is None:
            raise _invalid("MISSING_REQUIRED_PARAMETER", "offer_type is required.", "/offer_type")
        _enum(body, "offer_type", OFFER_TYPES)
        amount = _optional_money(body.get("offer_amount"), "/offer_amount")
        address = body.get("return_shipping_address")
        if address is not None and (not isinstance(address, Mapping) or not isinstance(address.get("country_code"), str)
                                    or len(address["country_code"]) != 2):
            raise _invalid("INVALID_PARAMETER_VALUE", "return_shipping_address needs a country_code.",
                           "/return_shipping_address/country_code")
        with self.lock:
            allowed = dispute.offer_types()
            if not allowed:
                raise _not_allowed(dispute, "Make offer")
            if offer_type not in allowed:
                raise _invalid("INVALID_PARAMETER_VALUE", f"offer_type {offer_type} is not allowed for this dispute.",
                               "/offer_type")
            if offer_type != "REPLACEMENT_WITHOUT_REFUND" and amount is None:
                raise _invalid("MISSING_REQUIRED_PARAMETER", "offer_amount is required for a refund offer.",
                               "/offer_amount")
            if amount is not None and amount[1] != dispute.currency:
                raise _unprocessable("CURRENCY_MISMATCH", "offer_amount must be in the dispute's currency.")
            if amount is not None and not Decimal(0) < amount[0] <= dispute.amount:
                raise _invalid("INVALID_PARAMETER_VALUE", "offer_amount must be above 0 and at most the disputed "
                               "amount.", "/offer_amount/value")
            if offer_type == "REFUND_WITH_RETURN" and address is None:
                raise _unprocessable("SHIPPING_ADDRESS_SHOULD_NOT_BE_PASSED",
                                     "You must specify the shipping address for "
                                     "MERCHANDISE_OR_SERVICE_NOT_AS_DESCRIBED disputes.")
            now = self.now()
            offer: Json = {"request_id": call.request_id, "offer_time": pp_time(now), "offer_type": offer_type,
                           "note": note}
            if amount is not None:
                offer["offer_amount"] = _money(amount[0], dispute.currency)
            if address is not None:
                offer["return_shipping_address"] = dict(address)
            dispute.offers.append(offer)
            dispute.status = "WAITING_FOR_BUYER_RESPONSE"
            dispute.updated_at = now
            return _self_link(self.root_url, dispute)

    def accept_claim(self, dispute_id: str, call: CallRecord, content_type: str, raw: bytes) -> tuple[Json, str]:
        dispute = self.find(dispute_id)
        body = _json_body(content_type, raw)
        call.body = body
        note = body.get("note")
        if not isinstance(note, str) or not 0 < len(note) <= NOTE_MAX:
            raise _invalid("MISSING_REQUIRED_PARAMETER", "note is required (1 to 2000 characters).", "/note")
        _enum(body, "accept_claim_reason", ACCEPT_CLAIM_REASONS)
        _enum(body, "accept_claim_type", frozenset(ACCEPT_CLAIM_TYPES))
        refund = _optional_money(body.get("refund_amount"), "/refund_amount")
        with self.lock:
            if dispute.status not in OPEN_FOR_ACTIONS:
                raise _not_allowed(dispute, "Accept claim")
            if refund is not None and dispute.reason == "MERCHANDISE_OR_SERVICE_NOT_RECEIVED":
                raise _unprocessable(
                    "AMOUNT_SHOULD_NOT_BE_PASSED",
                    "For MERCHANDISE_OR_SERVICE_NOT_RECEIVED disputes, refund amount cannot be specified in "
                    "accept claim.",
                )
            if refund is not None and refund[1] != dispute.currency:
                raise _unprocessable("CURRENCY_MISMATCH", "refund_amount must be in the dispute's currency.")
            now = self.now()
            amount = refund[0] if refund is not None else dispute.amount
            dispute.acceptances.append({"request_id": call.request_id, "at": pp_time(now), **body})
            dispute.updated_at = now
            dispute.due_at = None
            if amount < dispute.amount:  # "the dispute updates to require customer acceptance"
                dispute.status = "WAITING_FOR_BUYER_RESPONSE"
                event = EVENT_TYPES["updated"]
            else:
                dispute.status = "RESOLVED"
                dispute.outcome = {
                    "outcome_code": "RESOLVED_BUYER_FAVOUR",
                    "amount_refunded": _money(amount, dispute.currency),
                }
                event = EVENT_TYPES["resolved"]
            return _self_link(self.root_url, dispute), event

    def acknowledge_return(self, dispute_id: str, call: CallRecord, content_type: str, raw: bytes) -> Json:
        dispute = self.find(dispute_id)
        body = _json_body(content_type, raw)
        call.body = body
        note = body.get("note")
        if note is not None and (not isinstance(note, str) or not 0 < len(note) <= NOTE_MAX):
            raise _invalid("INVALID_PARAMETER_VALUE", "note must be 1 to 2000 characters.", "/note")
        _enum(body, "acknowledgement_type", ACKNOWLEDGEMENT_TYPES)
        with self.lock:
            if dispute.reason != "MERCHANDISE_OR_SERVICE_NOT_AS_DESCRIBED" or dispute.status == "RESOLVED":
                raise _not_allowed(dispute, "Acknowledge returned item")
            now = self.now()
            dispute.acknowledgements.append({"request_id": call.request_id, "at": pp_time(now), **body})
            dispute.status = "UNDER_REVIEW"
            dispute.due_at = None
            dispute.updated_at = now
            return _self_link(self.root_url, dispute)

    def change(self, dispute_id: str, kind: str, spec: EventChange) -> FakeDispute:
        """A control-side change before an UPDATED / RESOLVED event (PayPal's agent, the buyer)."""
        with self.lock:
            dispute = self.disputes.get(dispute_id)
            if dispute is None:
                raise HTTPException(status_code=404, detail=f"no dispute {dispute_id}")
            now = self.now()
            if spec.stage is not None:
                dispute.stage = spec.stage
            if spec.status is not None:
                dispute.status = spec.status
            if kind == "resolved":
                dispute.status = "RESOLVED"
                outcome = spec.outcome_code or "RESOLVED_SELLER_FAVOUR"
                refunded = spec.amount_refunded
                if refunded is None:
                    refunded = dispute.amount if outcome == "RESOLVED_BUYER_FAVOUR" else Decimal(0)
                dispute.outcome = {"outcome_code": outcome, "amount_refunded": _money(refunded, dispute.currency)}
            if spec.seller_response_due_date is not None:
                dispute.due_at = spec.seller_response_due_date
            elif dispute.status not in OPEN_FOR_ACTIONS:
                dispute.due_at = None  # nothing expected from the seller
            elif dispute.due_at is None or spec.stage is not None:
                dispute.due_at = now + timedelta(days=10)  # a new stage, a new window (unverified length)
            dispute.updated_at = now
            return dispute
