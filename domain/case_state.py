"""Typed case state (issue 22): one pydantic model per process over `case.data`.

`case.data` stays the same JSON column (no data migration): a model reads it (`load`) and checks
what a flow or the deadline check writes into it (`checked`); keys a model does not name yet are
kept exactly as they are (`extra="allow"`), so the models can grow one key at a time. Every field
has the default its readers used (`data.get(key, default)`), so a case written before a field
existed reads the same.

Modelled so far (docs/architecture.md "Typed case state"): the order process's whole state, the
flags the deadline check sets on every process (`flows/sweep.py`), and the operator's waiting
run. The other keys of cancellations, returns and disputes (`plan`, `request`, `view`, ...) are
still read by name; they move into these models as their code is touched.
"""

from __future__ import annotations

from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field

from domain.cases import CaseKind


class CaseData(BaseModel):
    """What every process keeps on a case (flows/common.py `CaseStep`)."""

    model_config = ConfigDict(extra="allow", validate_assignment=True)

    # a run suspended for the operator's form in the Prefect UI (flows/common.ask_in_the_ui)
    waiting_run: str | None = None
    waiting_key: str | None = None
    waiting_since: str | None = None  # when the form was offered (decision_pause_minutes, flows/sweep.py)

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
        dumped = model.model_dump(mode="json", include=modelled) if modelled else {}
        return {k: dumped[k] if k in modelled else v for k, v in data.items()}


class CancellationData(CaseData):
    # set by the deadline check (flows/sweep.py)
    retention_expired: bool = False  # retention_hold: the alternative was not taken (C6)
    supplier_deadlines_passed: list[str] = Field(default_factory=list)  # supplier_answer (C8, D3)


class ReturnData(CaseData):
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
    # set by the deadline check (flows/sweep.py)
    submit_due: bool = False  # dispute_response / dispute_inquiry: submit now (K5)


class OrderData(CaseData):
    """The new-order process (K6), whole."""

    placed_at: str | None = None  # the order's creation instant, ISO 8601 (the burst signal)
    shipping_line: str | None = None  # the shipping address on one line (the burst signal)
    signals: list[str] = Field(default_factory=list)  # K6 fraud signals found
    held: list[str] = Field(default_factory=list)  # fulfillment orders we put on hold
    operator_decision: str | None = None  # release | keep_held
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
