"""Case kinds and their state machines. A transition not listed here is a bug, refused."""

from __future__ import annotations

from enum import StrEnum

from domain.errors import RuleViolation


class CaseKind(StrEnum):
    CANCELLATION = "cancellation"
    RETURN = "return"
    DISPUTE = "dispute"
    ORDER = "order"  # K6: a new order screened, its confirmation and tracking emails


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



class ReturnState(StrEnum):
    """A return (R6), from the request to the follow-up. Waiting states have a deadline row."""

    RECEIVED = "received"  # request stored; eligibility not decided yet
    AWAITING_SUPPLIER = "awaiting_supplier"  # R6/R2: supplier asked for its address / RMA / label (D3)
    AWAITING_SHIPMENT = "awaiting_shipment"  # R3: customer has the address; waiting for the tracking (L221-23)
    IN_TRANSIT = "in_transit"  # tracking given (proof of dispatch, D2); waiting for the supplier's receipt
    INSPECTING = "inspecting"  # goods back; inspection outcome awaited (R7), bounded by a deadline
    REFUNDING = "refunding"  # the refund is being made (F2, F5)
    REPLACING = "replacing"  # exchange / replacement being arranged with the supplier (R4, R5)
    DONE = "done"  # refunded or replaced; the follow-up email is due (R6 last step)
    CLOSED = "closed"  # follow-up sent: nothing left to do
    REFUSED = "refused"  # not eligible (R1, R8, D1): politely refused with alternatives
    EXPIRED = "expired"  # never shipped within the return shipping delay: closed (D4)
    NEEDS_OPERATOR = "needs_operator"  # the automation cannot finish: the operator decides


_R = ReturnState
RETURN_TRANSITIONS: dict[ReturnState, frozenset[ReturnState]] = {
    # received -> closed: nothing shipped, the withdrawal is handed to a cancellation (L221-18, C3).
    _R.RECEIVED: frozenset({_R.AWAITING_SUPPLIER, _R.AWAITING_SHIPMENT, _R.REFUNDING, _R.REPLACING, _R.REFUSED,
                            _R.NEEDS_OPERATOR, _R.CLOSED}),
    _R.AWAITING_SUPPLIER: frozenset({_R.AWAITING_SHIPMENT, _R.NEEDS_OPERATOR, _R.REFUNDING, _R.REPLACING}),
    _R.AWAITING_SHIPMENT: frozenset({_R.IN_TRANSIT, _R.INSPECTING, _R.EXPIRED, _R.NEEDS_OPERATOR}),
    _R.IN_TRANSIT: frozenset({_R.INSPECTING, _R.REFUNDING, _R.REPLACING, _R.NEEDS_OPERATOR}),
    _R.INSPECTING: frozenset({_R.REFUNDING, _R.REPLACING, _R.NEEDS_OPERATOR}),
    _R.REFUNDING: frozenset({_R.DONE, _R.NEEDS_OPERATOR}),
    _R.REPLACING: frozenset({_R.DONE, _R.NEEDS_OPERATOR, _R.REFUNDING}),
    _R.DONE: frozenset({_R.CLOSED}),
    _R.NEEDS_OPERATOR: frozenset({_R.RECEIVED, _R.AWAITING_SUPPLIER, _R.AWAITING_SHIPMENT, _R.IN_TRANSIT, _R.INSPECTING,
                                  _R.REFUNDING, _R.REPLACING, _R.DONE, _R.CLOSED, _R.REFUSED, _R.EXPIRED}),
    _R.CLOSED: frozenset(),
    _R.REFUSED: frozenset(),
    _R.EXPIRED: frozenset(),
}
RETURN_TERMINAL = {_R.CLOSED, _R.REFUSED, _R.EXPIRED}

class DisputeState(StrEnum):
    """A chargeback (K1): decided, staged, submitted once, then the processor's outcome."""

    RECEIVED = "received"  # stored and tied to its order; nothing decided yet
    AWAITING_DECISION = "awaiting_decision"  # K4 above the policy amount: the operator decides
    PREPARING = "preparing"  # evidence assembled and staged; submission at the latest at due - margin
    SUBMITTED = "submitted"  # K5: sent once; nothing is edited after
    ACCEPTED = "accepted"  # K4: accepted (lost on purpose)
    WON = "won"
    LOST = "lost"
    NEEDS_OPERATOR = "needs_operator"


_D = DisputeState
DISPUTE_TRANSITIONS: dict[DisputeState, frozenset[DisputeState]] = {
    _D.RECEIVED: frozenset({_D.AWAITING_DECISION, _D.PREPARING, _D.ACCEPTED, _D.NEEDS_OPERATOR, _D.WON, _D.LOST}),
    _D.AWAITING_DECISION: frozenset({_D.PREPARING, _D.ACCEPTED, _D.NEEDS_OPERATOR, _D.WON, _D.LOST}),
    _D.PREPARING: frozenset({_D.SUBMITTED, _D.ACCEPTED, _D.NEEDS_OPERATOR, _D.WON, _D.LOST}),
    _D.SUBMITTED: frozenset({_D.WON, _D.LOST, _D.NEEDS_OPERATOR}),
    _D.NEEDS_OPERATOR: frozenset({_D.AWAITING_DECISION, _D.PREPARING, _D.SUBMITTED, _D.ACCEPTED, _D.WON, _D.LOST}),
    _D.ACCEPTED: frozenset({_D.LOST}),
    _D.WON: frozenset(),
    _D.LOST: frozenset(),
}
DISPUTE_TERMINAL = {_D.WON, _D.LOST, _D.ACCEPTED}

class OrderState(StrEnum):
    """A new order (K6): screened for fraud signals before it goes to the supplier, confirmed,
    and followed until its tracking has been sent."""

    RECEIVED = "received"  # orders/create stored; not screened yet
    HELD = "held"  # fraud signals: the fulfillment is on hold, the operator decides
    AWAITING_SHIPMENT = "awaiting_shipment"  # tracking email to send once it ships (deadline: shipping watch)
    SCREENED = "screened"  # nothing more to do for this order
    SHIPPED = "shipped"  # every item shipped, tracking sent
    CLOSED = "closed"  # cancelled, or kept on hold by the operator


_O = OrderState
ORDER_TRANSITIONS: dict[OrderState, frozenset[OrderState]] = {
    _O.RECEIVED: frozenset({_O.HELD, _O.AWAITING_SHIPMENT, _O.SCREENED, _O.SHIPPED, _O.CLOSED}),
    _O.HELD: frozenset({_O.AWAITING_SHIPMENT, _O.SCREENED, _O.SHIPPED, _O.CLOSED}),
    _O.AWAITING_SHIPMENT: frozenset({_O.SHIPPED, _O.CLOSED}),
    _O.SCREENED: frozenset(),
    _O.SHIPPED: frozenset(),
    _O.CLOSED: frozenset(),
}
ORDER_TERMINAL = {_O.SCREENED, _O.SHIPPED, _O.CLOSED}

TRANSITIONS: dict[CaseKind, dict[str, frozenset[str]]] = {
    CaseKind.CANCELLATION: {k.value: frozenset(v.value for v in vs) for k, vs in CANCELLATION_TRANSITIONS.items()},
    CaseKind.RETURN: {k.value: frozenset(v.value for v in vs) for k, vs in RETURN_TRANSITIONS.items()},
    CaseKind.DISPUTE: {k.value: frozenset(v.value for v in vs) for k, vs in DISPUTE_TRANSITIONS.items()},
    CaseKind.ORDER: {k.value: frozenset(v.value for v in vs) for k, vs in ORDER_TRANSITIONS.items()},
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
    if kind == CaseKind.RETURN:
        return ReturnState(state) in RETURN_TERMINAL
    if kind == CaseKind.DISPUTE:
        return DisputeState(state) in DISPUTE_TERMINAL
    if kind == CaseKind.ORDER:
        return OrderState(state) in ORDER_TERMINAL
    return False


def case_key(kind: str, store_id: str, order_ref: str, suffix: str | None = None) -> str:
    """The natural key that makes a case unique: one per order and process."""
    key = f"{kind}:{store_id}:{order_ref}"
    return f"{key}:{suffix}" if suffix else key
