"""Disputes (3.2, 3.3): opened by the control API with their balance transactions, listed, read,
updated with evidence and metadata, submitted, closed, and announced as `charge.dispute.*` events."""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from fastapi import HTTPException

from sandbox.stripe.charges import _Charges, _expand
from sandbox.stripe.models import DisputeSeed
from sandbox.stripe.spec import Json, StripeFail, _invalid
from sandbox.stripe.store import _new_id

if TYPE_CHECKING:
    from sandbox.stripe.state import FakeStripeState


EVIDENCE_TOTAL_MAX_CHARS = 150_000
METADATA_MAX_KEYS, METADATA_KEY_MAX, METADATA_VALUE_MAX = 50, 40, 500
RESPONDABLE = frozenset({"needs_response", "warning_needs_response"})
DISPUTE_EVENTS = (
    "charge.dispute.created",
    "charge.dispute.updated",
    "charge.dispute.closed",
    "charge.dispute.funds_withdrawn",
    "charge.dispute.funds_reinstated",
)


class _Disputes(_Charges):
    def dispute(self, dispute_id: str, *, param: str = "dispute") -> Json:
        found = self.disputes.get(dispute_id)
        if found is None:
            raise StripeFail(404, f"No such dispute: '{dispute_id}'", code="resource_missing", param=param)
        return found

    def create_dispute(self, seed: DisputeSeed) -> tuple[Json, Json, Json | None]:
        with self.lock:
            now = self.timestamp()
            currency = seed.currency.lower()
            if seed.charge_id is not None:
                charge = self.charges.get(seed.charge_id)
                if charge is None:
                    raise HTTPException(404, f"no charge {seed.charge_id}")
                intent = self.payment_intents.get(charge.get("payment_intent") or "")
            else:
                charge, intent = self._new_charge(seed, currency, now)
            charge["disputed"] = True
            dispute_id = _new_id("dp")
            due_by = seed.due_by
            if due_by is None:
                days = 7.0 if seed.due_in_days is None else seed.due_in_days
                due_by = int((self.now() + timedelta(days=days)).timestamp())
            fee = self.config.default_fee if seed.fee is None else seed.fee
            inquiry = seed.status == "warning_needs_response"
            dispute: Json = {
                "id": dispute_id,
                "object": "dispute",
                "amount": seed.amount,
                "balance_transactions": [] if inquiry else [_withdrawal(dispute_id, charge, seed.amount, fee, now)],
                "charge": charge["id"],
                "created": now,
                "currency": currency,
                "evidence": {key: None for key in self.validator.schema("dispute_evidence")["properties"]},
                "evidence_details": {
                    "due_by": due_by,
                    "has_evidence": False,
                    "past_due": False,
                    "submission_count": 0,
                },
                "is_charge_refundable": seed.is_charge_refundable,
                "livemode": False,
                "metadata": dict(seed.metadata),
                "payment_intent": intent["id"] if intent is not None else None,
                "payment_method_details": {
                    "type": "card",
                    "card": {"brand": seed.brand, "network_reason_code": seed.network_reason_code},
                },
                "reason": seed.reason,
                "status": seed.status,
            }
            self.disputes[dispute_id] = dispute
            return copy.deepcopy(dispute), copy.deepcopy(charge), copy.deepcopy(intent)

    def event_for(self, dispute_id: str, event_type: str, status: str | None) -> Json:
        """Apply the control change (status, reinstatement) and build the event."""
        with self.lock:
            dispute = self.disputes.get(dispute_id)
            if dispute is None:
                raise HTTPException(404, f"no dispute {dispute_id}")
            if event_type == "charge.dispute.closed":
                dispute["status"] = status or _closing_status(dispute)
            elif status is not None:
                dispute["status"] = status
            if event_type == "charge.dispute.funds_reinstated":
                charge = self.charges[dispute["charge"]]
                dispute["balance_transactions"].append(_reinstatement(dispute, charge, self.timestamp()))
            before = self.announced.get(dispute_id)
            previous = _previous_attributes(before, dispute) if before is not None else None
            self.announced[dispute_id] = copy.deepcopy(dispute)
            data: Json = {"object": copy.deepcopy(dispute)}
            if previous:
                data["previous_attributes"] = previous
            return {
                "id": _new_id("evt"),
                "object": "event",
                "api_version": self.validator.version,
                "created": self.timestamp(),
                "data": data,
                "livemode": False,
                "pending_webhooks": 1,
                "request": {"id": None, "idempotency_key": None},
                "type": event_type,
            }


def _withdrawal(dispute_id: str, charge: Json, amount: int, fee: int, now: int) -> Json:
    fee_details = (
        [{"amount": fee, "application": None, "currency": charge["currency"], "description": "Dispute fee",
          "type": "stripe_fee"}]
        if fee
        else []
    )
    return {
        "id": _new_id("txn"),
        "object": "balance_transaction",
        "amount": -amount,
        "available_on": now,
        "created": now,
        "currency": charge["currency"],
        "description": f"Chargeback withdrawal for {charge['id']}",
        "exchange_rate": None,
        "fee": fee,
        "fee_details": fee_details,
        "net": -amount - fee,
        "reporting_category": "dispute",
        "source": dispute_id,
        "status": "available",
        "type": "adjustment",
    }


def _reinstatement(dispute: Json, charge: Json, now: int) -> Json:
    return {
        "id": _new_id("txn"),
        "object": "balance_transaction",
        "amount": dispute["amount"],
        "available_on": now,
        "created": now,
        "currency": charge["currency"],
        "description": f"Chargeback reversal for {charge['id']}",
        "exchange_rate": None,
        "fee": 0,
        "fee_details": [],
        "net": dispute["amount"],
        "reporting_category": "dispute_reversal",
        "source": dispute["id"],
        "status": "available",
        "type": "adjustment",
    }


def _closing_status(dispute: Json) -> str:
    status = str(dispute["status"])
    if status.startswith("warning_"):
        return "warning_closed"
    return "won" if status == "under_review" else "lost"


def _previous_attributes(before: Json, after: Json) -> Json:
    """Stripe's `previous_attributes`: the old values of what changed (sub-keys for hashes)."""
    previous: Json = {}
    for key, old in before.items():
        new = after.get(key)
        if old == new:
            continue
        if isinstance(old, dict) and isinstance(new, dict):
            previous[key] = {k: v for k, v in old.items() if new.get(k) != v}
        else:
            previous[key] = old
    return previous


def get_dispute(state: FakeStripeState, path: dict[str, str], query: Json, params: Json) -> Json:
    return _expand(state, state.dispute(path["dispute"]), query.get("expand") or [])


def list_disputes(state: FakeStripeState, path: dict[str, str], query: Json, params: Json) -> Json:
    limit = query.get("limit", 10)
    if not 1 <= limit <= 100:
        raise _invalid("Invalid limit: must be between 1 and 100", param="limit")
    rows = list(reversed(state.disputes.values()))  # newest first
    rows.sort(key=lambda d: -int(d["created"]))
    if "charge" in query:
        rows = [d for d in rows if d["charge"] == query["charge"]]
    if "payment_intent" in query:
        rows = [d for d in rows if d["payment_intent"] == query["payment_intent"]]
    created = query.get("created")
    if isinstance(created, int):
        rows = [d for d in rows if d["created"] == created]
    elif isinstance(created, dict):
        tests: dict[str, Callable[[int, int], bool]] = {
            "gt": lambda a, b: a > b,
            "gte": lambda a, b: a >= b,
            "lt": lambda a, b: a < b,
            "lte": lambda a, b: a <= b,
        }
        for op, bound in created.items():
            rows = [d for d in rows if tests[op](int(d["created"]), int(bound))]
    ids = [d["id"] for d in rows]
    if "starting_after" in query:
        cursor = _cursor(ids, query["starting_after"], "starting_after")
        rows = rows[cursor + 1 :]
        page, has_more = rows[:limit], len(rows) > limit
    elif "ending_before" in query:
        cursor = _cursor(ids, query["ending_before"], "ending_before")
        rows = rows[:cursor]
        page, has_more = rows[-limit:], len(rows) > limit
    else:
        page, has_more = rows[:limit], len(rows) > limit
    expand = [e.removeprefix("data.") for e in query.get("expand") or []]
    return {
        "object": "list",
        "data": [_expand(state, d, expand) for d in page],
        "has_more": has_more,
        "url": "/v1/disputes",
    }


def _cursor(ids: list[str], value: str, param: str) -> int:
    try:
        return ids.index(value)
    except ValueError:
        raise StripeFail(400, f"No such dispute: '{value}'", code="resource_missing", param=param) from None


def update_dispute(state: FakeStripeState, path: dict[str, str], query: Json, params: Json) -> Json:
    dispute = state.dispute(path["dispute"])
    evidence: Json | None = params.get("evidence")
    submit = params.get("submit", True)  # "set to true (the default)" (3.3)
    metadata = params.get("metadata")
    status = str(dispute["status"])
    if status not in RESPONDABLE and (evidence is not None or submit):
        raise _invalid(
            f"This dispute is {status}: its evidence has already been submitted or it is closed, so evidence "
            "can no longer be updated or submitted."
        )
    if evidence is not None:
        _check_evidence(state, dispute, evidence)
    new_metadata = _merged_metadata(dispute["metadata"], metadata) if metadata is not None else None
    if evidence is not None:
        for key, value in evidence.items():
            dispute["evidence"][key] = value or None
    details = dispute["evidence_details"]
    details["has_evidence"] = any(v for v in dispute["evidence"].values())
    if new_metadata is not None:
        dispute["metadata"] = new_metadata
    if submit:
        dispute["status"] = "warning_under_review" if status == "warning_needs_response" else "under_review"
        details["submission_count"] += 1
        due_by = details.get("due_by")
        details["past_due"] = bool(due_by) and state.timestamp() > int(due_by)
    return _expand(state, dispute, params.get("expand") or [])


def _check_evidence(state: FakeStripeState, dispute: Json, evidence: Json) -> None:
    evidence_schema = state.validator.schema("dispute_evidence")["properties"]
    merged = {**dispute["evidence"], **evidence}
    for key, value in evidence.items():
        if value and "anyOf" in evidence_schema[key]:  # a file field: the id of an uploaded file
            stored = state.files.get(value)
            if stored is None or stored.obj["purpose"] != "dispute_evidence":
                raise StripeFail(
                    400, f"No such file upload: '{value}'", code="resource_missing", param=f"evidence[{key}]"
                )
    text = sum(len(v) for k, v in merged.items() if v and "anyOf" not in evidence_schema[k])
    if text > EVIDENCE_TOTAL_MAX_CHARS:
        raise _invalid(
            f"The combined character count of all evidence fields is {text}; it is limited to 150,000.",
            param="evidence",
        )


def _merged_metadata(current: Json, change: Any) -> Json:
    if change == "":
        return {}
    merged = dict(current)
    for key, value in change.items():
        if len(key) > METADATA_KEY_MAX:
            raise _invalid(f"Invalid metadata: keys must be at most {METADATA_KEY_MAX} characters", f"metadata[{key}]")
        if len(value) > METADATA_VALUE_MAX:
            raise _invalid(
                f"Invalid metadata: values must be at most {METADATA_VALUE_MAX} characters", f"metadata[{key}]"
            )
        if value == "":
            merged.pop(key, None)
        else:
            merged[key] = value
    if len(merged) > METADATA_MAX_KEYS:
        raise _invalid(f"Invalid metadata: at most {METADATA_MAX_KEYS} keys", "metadata")
    return merged


def close_dispute(state: FakeStripeState, path: dict[str, str], query: Json, params: Json) -> Json:
    dispute = state.dispute(path["dispute"])
    status = dispute["status"]
    if status == "needs_response":
        dispute["status"] = "lost"
    elif status == "warning_needs_response":
        dispute["status"] = "warning_closed"
    else:
        raise _invalid(f"This dispute is {status} and cannot be closed: only a dispute that needs a response can.")
    return _expand(state, dispute, params.get("expand") or [])

