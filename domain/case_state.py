"""Typed case state (issue 22): one pydantic model per process over `case.data`.

`case.data` stays the same JSON column (no data migration): a model reads it (`load`, or
`facts_of` for a case of any kind) and checks every write into it (`checked`, called by
`ledger.cases.open_case` / `update_case`, the one place a case's facts are saved). Every field has
the default its readers used (`data.get(key, default)`), so a case written before a field existed
reads the same. Keys a model does not name are kept as they are (`extra="allow"`, not "forbid"):
rows written by earlier versions hold keys no code reads any more, and refusing them would make
those cases unreadable (tests/unit/test_case_state.py loads one).

Every key the code reads or writes is a field (docs/architecture.md "Typed case state"). Structured
facts that come from outside (a plan, a supplier's answer, a dispute view) stay the dicts they are
stored as: `update_case` merges a dict one level deep, e.g. one supplier's answer or one parcel.
"""

from __future__ import annotations

from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field

from domain.cases import CaseKind
from domain.money import Money


class Parcel(BaseModel):
    """A parcel a case follows at the carrier (flows/tracking.py, issue 19), under its number."""

    model_config = ConfigDict(extra="allow")

    role: str = "outbound"  # outbound (the order's parcel: D1, C4) | return (R6)
    company: str | None = None  # the carrier the customer or Shopify named
    since: str | None = None  # followed since, ISO 8601 (the lost-parcel clock)
    not_before: str | None = None  # no event of this parcel can be older (carriers reuse numbers)
    carrier: str | None = None  # the carrier API that answered for it (kept at its first read)
    first_scan_at: str | None = None  # a return parcel's first scan: the proof of dispatch (D2)
    lost_flagged: str | None = None  # when "lost in transit" was raised (once)


class CaseData(BaseModel):
    """What every process keeps on a case (flows/common.py `CaseStep`)."""

    model_config = ConfigDict(extra="allow", validate_assignment=True)

    # a run suspended for the operator's form in the Prefect UI (flows/common.ask_in_the_ui)
    waiting_run: str | None = None
    waiting_key: str | None = None
    waiting_since: str | None = None  # when the form was offered (decision_pause_minutes, flows/sweep.py)
    country: str | None = None  # the consumer's country (issue 14); the store's when None
    refund_approval: dict[str, Any] | None = None  # the operator's decision on a refund above the threshold
    parcels: dict[str, Parcel] = Field(default_factory=dict)  # number -> the parcel followed (flows/tracking.py)

    @classmethod
    def load(cls, data: dict[str, Any] | None) -> Self:
        """The case's facts, typed; unknown keys kept as they are."""
        return cls.model_validate(data or {})

    @classmethod
    def checked(cls, data: dict[str, Any]) -> dict[str, Any]:
        """The keys about to be merged into `case.data`, checked against the model (a wrong type
        or a misspelt flag of a modelled field raises here, before anything is written). The
        modelled keys are written as the model dumps them; the others as given."""
        model = cls.model_validate(data)
        modelled = {k for k in data if k in cls.model_fields}
        # exclude_unset: a nested model (a parcel) is written with the keys it was given, no defaults added
        dumped = model.model_dump(mode="json", include=modelled, exclude_unset=True) if modelled else {}
        return {k: dumped[k] if k in modelled else v for k, v in data.items()}


class CancellationData(CaseData):
    """The cancellation process (C1-C8). Structured facts stay the dicts they are stored as
    (`ledger.cases.update_case` merges a dict one level deep, e.g. one supplier's answer)."""

    request: dict[str, Any] | None = None  # the CancellationRequest, as JSON
    plan: dict[str, Any] | None = None  # the CancellationPlan, as JSON (C3)
    cancel_lines: dict[str, int] = Field(default_factory=dict)  # line item -> quantity when decided
    refunded_before: str = "0"  # the order's refunded total when the case opened
    refunds_before: list[str] = Field(default_factory=list)  # an earlier case's refunds are not ours
    customer_choice: str | None = None  # the customer's answer to the retention offer (C6)
    suppliers_asked: dict[str, Any] = Field(default_factory=dict)  # supplier -> {request, at} (C3, C8)
    supplier_answers: dict[str, Any] = Field(default_factory=dict)  # supplier -> {answer, note, ...}
    store_cancelled: bool = False
    refunded: str | None = None  # amount refunded by this case
    currency: str | None = None
    customer_told: bool = False  # C3 step 3, F3
    return_expected: bool = False  # converted to a return: the parcel comes back (C4)
    return_case: str | None = None  # the return case that follows it (issue 14)
    refund_method: str | None = None
    withdrawal_at: str | None = None  # read by flows/messages.converted_refund; no code writes it on a cancellation
    order_snapshot: dict[str, Any] | None = None

    def refunded_amount(self, order_currency: str) -> Money:
        """What this case refunded (zero before the refund), in its currency."""
        return Money.of(self.refunded or "0", self.currency or order_currency)
    # set by the deadline check (flows/sweep.py)
    retention_expired: bool = False  # retention_hold: the alternative was not taken (C6)
    supplier_deadlines_passed: list[str] = Field(default_factory=list)  # supplier_answer (C8, D3)


class ReturnData(CaseData):
    """The return process (R1-R8, L221-18..23). Structured facts stay the dicts they are stored as."""

    # the request
    lines: dict[str, int] = Field(default_factory=dict)  # line item -> quantity coming back
    photos: list[str] = Field(default_factory=list)
    sealed: list[str] = Field(default_factory=list)  # sealed items opened (L221-28)
    exchange_for: str | None = None
    refund_method: Literal["original", "store_credit"] = "original"  # F1 (domain.cancellation.RefundMethod)
    withdrawal_at: str | None = None  # the notice of withdrawal (L221-18), ISO 8601
    converted_from: str | None = None  # the cancellation it came from (C4)
    awaits_carrier: bool = False  # converted: the parcel comes back by the carrier
    needs_delivery_date: bool = False  # eligibility waits for the delivery date
    shopify_return_id: str | None = None
    split_from: str | None = None  # the case it was split from (one supplier's items)
    siblings: dict[str, str] = Field(default_factory=dict)  # supplier -> the case split off for it
    handed_to: str | None = None  # the cancellation that carried it out (L221-18)
    request_id: str | None = None  # the request that opened it (inbound event or store Return): a re-run finds it
    # the decision
    eligibility: dict[str, Any] | None = None
    plan: dict[str, Any] | None = None  # the ReturnPlan, as JSON
    supplier_id: str | None = None
    supplier_request: dict[str, Any] | None = None
    supplier_answer: dict[str, Any] | None = None
    instructions: dict[str, Any] | None = None  # address, rma, label_url, ship_by
    # the parcel back
    tracking: dict[str, Any] | None = None
    return_delivery: dict[str, Any] | None = None  # the carrier's delivery of the return parcel (R6)
    carrier_delivery: dict[str, Any] = Field(default_factory=dict)  # number -> the outbound delivery (D1)
    return_parcel_back: dict[str, Any] | None = None
    return_delivery_unconfirmed: dict[str, Any] | None = None
    carrier_delivery_to_others: dict[str, Any] | None = None
    reminded: bool = False  # R3
    received_at: str | None = None
    inspection: dict[str, Any] | None = None  # R7
    refund_due_by: str | None = None
    refund_basis: str | None = None  # dispatch_proof (L221-24)
    # what released the refund (L221-24), as `flows.returns._start_refund_clock` counted the legal date
    # from it: the date is counted again from these when the withdrawal turns out earlier (C4/C8)
    refund_clock: dict[str, Any] | None = None
    refunded: str | None = None
    currency: str | None = None
    # the refund the operator made by hand in Shopify after the store refused ours (`refund_failed`),
    # read back from Shopify and archived (flows.returns.record_hand_refund): refund_ids, amount,
    # currency, at (the last one's time), lines (the case's lines it settled, D2 delivery net)
    hand_refund: dict[str, Any] | None = None
    outcome: str = "refunded"
    replacement: dict[str, Any] | None = None  # R4
    replacement_asked: bool = False
    postage: dict[str, Any] | None = None  # the customer's postage receipt (D2)
    postage_deadline: str | None = None
    postage_refund: dict[str, Any] | None = None
    # set by the deadline check (flows/sweep.py)
    supplier_deadlines_passed: list[str] = Field(default_factory=list)  # supplier_answer (R6, D3)
    refund_due: bool = False  # legal_refund / store_promise near: refund on what is in (D2, F4)
    reminder_due: bool = False  # return_reminder (R3)
    shipping_expired: bool = False  # return_shipping (L221-23)
    inspection_expired: bool = False  # inspection (R7)
    replacement_overdue: bool = False  # replacement (R4)
    follow_up_due: bool = False  # follow_up (R6)
    postage_refund_due: bool = False  # postage_refund (D2, F4)


class DisputeData(CaseData):
    """The dispute process (K1-K6)."""

    processor: str | None = None
    dispute_id: str | None = None
    view: dict[str, Any] | None = None  # the DisputeView, as JSON
    facts: dict[str, Any] | None = None  # the DisputeFacts, as JSON
    evidence: dict[str, Any] | None = None  # what the pack holds and misses (K4)
    decision: dict[str, Any] | None = None  # the DisputeDecision, as JSON
    operator_decision: str | None = None  # contest | accept
    dispute_decision_record: dict[str, Any] | None = None  # who / when / acted (tasks/operator_inbox.DISPUTE_DECISION)
    incomplete_alerted: bool = False
    more_evidence_asked: str | None = None  # "stage:due" of the last ask
    submitted_for: str | None = None  # "stage:due" of the last submission
    submitted_evidence: dict[str, Any] | None = None
    inquiry_offer_stage: str | None = None
    inquiry_offer_skipped: str | None = None
    inquiry_message_stage: str | None = None
    # set by the deadline check (flows/sweep.py)
    submit_due: bool = False  # dispute_response / dispute_inquiry: submit now (K5)


class OrderData(CaseData):
    """The new-order process (K6), whole."""

    placed_at: str | None = None  # the order's creation instant, ISO 8601 (the burst signal)
    shipping_line: str | None = None  # the shipping address on one line (the burst signal)
    signals: list[str] = Field(default_factory=list)  # K6 fraud signals found
    order_total: str | None = None  # the order's total, formatted for the operator's form
    held: list[str] = Field(default_factory=list)  # fulfillment orders we put on hold
    operator_decision: str | None = None  # release | keep_held
    ask_in_ui: bool = False  # held by the order consumer (issue 16): the visible run shows the form
    tracking_sent: list[str] = Field(default_factory=list)  # fulfillments whose tracking email went out
    watch_round: int = 1  # the shipping watch's round (A1)
    # set by the deadline check (flows/sweep.py)
    watch_due: bool = False  # shipping_watch: the order has not shipped in time (A1)


DATA_MODELS: dict[str, type[CaseData]] = {
    CaseKind.CANCELLATION: CancellationData,
    CaseKind.RETURN: ReturnData,
    CaseKind.DISPUTE: DisputeData,
    CaseKind.ORDER: OrderData,
}


def data_model(kind: str) -> type[CaseData]:
    """The state model of a process (the base model for a kind without one)."""
    return DATA_MODELS.get(kind, CaseData)


def facts_of(kind: str, data: dict[str, Any] | None) -> CaseData:
    """A case's facts read by its own process's model (narrow with isinstance)."""
    return data_model(kind).load(data)
