"""Case kinds and their state machines. A transition not listed here is a bug, refused."""

from __future__ import annotations

from enum import StrEnum

from domain.errors import RuleViolation


class CaseKind(StrEnum):
    CANCELLATION = "cancellation"
    RETURN = "return"
    DISPUTE = "dispute"


class CancellationState(StrEnum):
    RECEIVED = "received"  # request stored, nothing decided yet
    OFFER_PENDING = "offer_pending"  # C6: alternative offered, waiting (bounded by a deadline)
    AWAITING_SUPPLIER = "awaiting_supplier"  # C3/C8: supplier asked, answer delay is a deadline
    CANCELLING = "cancelling"  # store cancellation / partial refund under way
    CANCELLED = "cancelled"  # store side done; supplier answer may still be pending
    CLOSED = "closed"  # everything done, customer told
    CONVERTED_TO_RETURN = "converted_to_return"  # C4/C8: parcel already left
    KEPT = "kept"  # C6: the customer kept the order with the alternative
    REJECTED = "rejected"  # nothing to cancel (unknown order, already cancelled before us)
    NEEDS_OPERATOR = "needs_operator"  # the automation cannot finish: the operator decides


_C = CancellationState
CANCELLATION_TRANSITIONS: dict[CancellationState, frozenset[CancellationState]] = {
    _C.RECEIVED: frozenset(
        {_C.OFFER_PENDING, _C.AWAITING_SUPPLIER, _C.CANCELLING, _C.CANCELLED, _C.CONVERTED_TO_RETURN,
         _C.REJECTED, _C.NEEDS_OPERATOR, _C.CLOSED}
    ),
    _C.OFFER_PENDING: frozenset({_C.AWAITING_SUPPLIER, _C.CANCELLING, _C.KEPT, _C.CONVERTED_TO_RETURN,
                                 _C.NEEDS_OPERATOR, _C.REJECTED}),
    _C.AWAITING_SUPPLIER: frozenset({_C.CANCELLING, _C.CLOSED, _C.CONVERTED_TO_RETURN, _C.NEEDS_OPERATOR}),
    _C.CANCELLING: frozenset({_C.CANCELLED, _C.NEEDS_OPERATOR, _C.CONVERTED_TO_RETURN, _C.AWAITING_SUPPLIER}),
    _C.CANCELLED: frozenset({_C.AWAITING_SUPPLIER, _C.CLOSED, _C.NEEDS_OPERATOR}),
    _C.NEEDS_OPERATOR: frozenset({_C.CANCELLING, _C.CANCELLED, _C.CLOSED, _C.CONVERTED_TO_RETURN,
                                  _C.AWAITING_SUPPLIER, _C.REJECTED}),
    _C.CLOSED: frozenset(),
    _C.CONVERTED_TO_RETURN: frozenset(),
    _C.KEPT: frozenset(),
    _C.REJECTED: frozenset(),
}

TERMINAL = {_C.CLOSED, _C.CONVERTED_TO_RETURN, _C.KEPT, _C.REJECTED}

TRANSITIONS: dict[CaseKind, dict[str, frozenset[str]]] = {
    CaseKind.CANCELLATION: {k.value: frozenset(v.value for v in vs) for k, vs in CANCELLATION_TRANSITIONS.items()},
}


def check_transition(kind: str, current: str, target: str) -> None:
    """Raise RuleViolation unless `current -> target` is allowed for this kind of case."""
    if current == target:
        return
    table = TRANSITIONS.get(CaseKind(kind))
    if table is None:
        raise RuleViolation(f"no state machine for case kind {kind!r}")
    allowed = table.get(current)
    if allowed is None:
        raise RuleViolation(f"unknown {kind} state {current!r}")
    if target not in allowed:
        raise RuleViolation(f"{kind}: {current} -> {target} is not allowed")


def is_terminal(kind: str, state: str) -> bool:
    if kind == CaseKind.CANCELLATION:
        return CancellationState(state) in TERMINAL
    return False


def case_key(kind: str, store_id: str, order_ref: str, suffix: str | None = None) -> str:
    """The natural key that makes a case unique: one per order and process."""
    key = f"{kind}:{store_id}:{order_ref}"
    return f"{key}:{suffix}" if suffix else key
