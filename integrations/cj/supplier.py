"""CJ Dropshipping as a supplier channel: `CJSupplier` implements `SupplierChannel`
(integrations/suppliers/base.py) on `client.CJClient` (INTEGRATIONS.md §4.2-§4.3).

* Cancellation (C3, C8): read the order first, then delete it while unpaid, or open a refund
  dispute once paid (our idempotency key as `businessDisputeId`), or report that the parcel has
  already left.
* Returns (R4, R6) are CJ disputes too, on a shipped or delivered order: the reason picked from
  CJ's list by the return reason, `expectType` reissue for a replacement claim and refund
  otherwise, the customer's photos as `imageUrl`. CJ documents no return-address field: the
  address given once CJ accepts is the store policy's (`SupplierPolicy.return_address`), passed
  in by the caller.
* Disputes are read back by order (`getDisputeList` echoes no `businessDisputeId`): ours is found
  by its reason and lines before one is created, so a resend never opens a second one. Before
  its first create an attempt keeps the ids CJ lists (`SendMemo`, in the operation row): on a
  resend after a lost answer, a dispute on our lines that was not listed then is the one our
  lost create opened, whatever CJ decided on it meanwhile (CJ documents no deduplication).
* A dispute that our claim did not open (another case's, or one opened by hand at CJ) is never
  taken for ours: while it holds every line we would claim, the operator decides.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence

from domain.errors import AuthenticationFailed, IntegrationError, NotFound, PermanentError
from domain.messages.render import one_line
from domain.money import Money
from domain.returns import ReturnReason
from integrations.cj.client import CJClient
from integrations.cj.models import (
    BUSINESS_ID_MAX,
    CJ_CURRENCY,
    DEAL_REFUND,
    DEAL_REISSUE,
    DEAL_REJECT,
    EXPECT_REFUND,
    EXPECT_REISSUE,
    MESSAGE_TEXT_MAX,
    VENDOR,
    CJDispute,
    CJDisputeConfirmInfo,
    CJDisputeLine,
    CJDisputeProduct,
    CJDisputeReason,
    CJOrderDetail,
)
from integrations.suppliers.base import (
    CLAIM_ID,
    CLAIM_LINES,
    CancellationItem,
    ReturnItem,
    SendMemo,
    SupplierAnswer,
    SupplierCancellationRequest,
    SupplierCancellationResult,
    SupplierOrderState,
    SupplierOrderView,
    SupplierReturnRequest,
    SupplierReturnResult,
)

logger = logging.getLogger(__name__)

_STATES: dict[str, SupplierOrderState] = {
    "CREATED": SupplierOrderState.CANCELLABLE,
    "IN_CART": SupplierOrderState.CANCELLABLE,
    "UNPAID": SupplierOrderState.CANCELLABLE,
    "UNSHIPPED": SupplierOrderState.PAID,
    "SHIPPED": SupplierOrderState.SHIPPED,
    "DELIVERED": SupplierOrderState.DELIVERED,
    "CANCELLED": SupplierOrderState.CANCELLED,
    # Seen live after deleteOrder on an unpaid order, though not in the documented list.
    "TRASH": SupplierOrderState.CANCELLED,
}

# Scores for picking the dispute reason closest to "cancel before shipping" (§4.3 step 2).
_REASON_KEYWORDS: tuple[tuple[str, int], ...] = (
    ("cancel", 4),
    ("unfulfilled", 2),
    ("unshipped", 2),
    ("not shipped", 2),
    ("refund", 1),
)


# Scores for picking the dispute reason closest to a return reason (§4.3 step 2; R4, R9). "other"
# is every reason's fallback; a customer's own choice (size, colour, change of mind) gets only it,
# so that CJ is never told the goods were at fault when they were not.
_OTHER: tuple[tuple[str, int], ...] = (("other", 1),)
_RETURN_REASON_KEYWORDS: dict[ReturnReason, tuple[tuple[str, int], ...]] = {
    ReturnReason.DAMAGED: (("damag", 5), ("broken", 4), ("defect", 2), ("quality", 2), *_OTHER),
    ReturnReason.DEFECTIVE: (
        ("defect", 5),
        ("quality", 4),
        ("not work", 4),
        ("malfunction", 4),
        ("broken", 3),
        ("damag", 2),
        *_OTHER,
    ),
    ReturnReason.WRONG_ITEM: (
        ("wrong product", 5),
        ("wrong item", 5),
        ("wrong", 3),
        ("different", 2),
        *_OTHER,
    ),
    ReturnReason.NOT_AS_DESCRIBED: (
        ("not as described", 6),
        ("describ", 5),
        ("different", 2),
        ("quality", 1),
        *_OTHER,
    ),
    ReturnReason.WRONG_SIZE: _OTHER,
    ReturnReason.WRONG_COLOUR: _OTHER,
    ReturnReason.CHANGED_MIND: _OTHER,
    ReturnReason.OTHER: _OTHER,
}
_CLAIM_TEXT = {
    "refund": " and refund them to our CJ balance",
    "replacement": " and send a replacement",
}


def state_of(detail: CJOrderDetail | None) -> SupplierOrderState:
    """CJ's `orderStatus` (§4.2 status table) as the rules see it."""
    if detail is None:
        return SupplierOrderState.NOT_FOUND
    return _STATES.get((detail.order_status or "").upper(), SupplierOrderState.UNKNOWN)


def business_dispute_id(idempotency_key: str) -> str:
    """Our idempotency key as CJ's `businessDisputeId` (≤ 100), shortened deterministically."""
    if 0 < len(idempotency_key) <= BUSINESS_ID_MAX:
        return idempotency_key
    digest = hashlib.sha256(idempotency_key.encode()).hexdigest()[:16]
    return f"{idempotency_key[: BUSINESS_ID_MAX - 17]}-{digest}"


def _best_reason(
    reasons: Sequence[CJDisputeReason], keywords: Sequence[tuple[str, int]], *, refusal: str, code: str
) -> CJDisputeReason:
    """The offered reason whose name scores highest on `keywords` (first wins a tie); none scoring
    -> PermanentError `code` ("<refusal> (offered: ...)"): the operator decides."""
    best: tuple[int, CJDisputeReason] | None = None
    for reason in reasons:
        name = reason.reason_name.casefold()
        score = sum(weight for word, weight in keywords if word in name)
        if score > 0 and (best is None or score > best[0]):
            best = (score, reason)
    if best is None:
        offered = ", ".join(repr(r.reason_name) for r in reasons) or "none"
        raise PermanentError(f"{refusal} (offered: {offered})", vendor=VENDOR, code=code)
    return best[1]


def choose_dispute_reason(reasons: Sequence[CJDisputeReason]) -> CJDisputeReason:
    """The reason whose name reads most like a cancellation; none -> the operator decides."""
    return _best_reason(reasons, _REASON_KEYWORDS, refusal="CJ offers no cancellation-like dispute reason",
                        code="no_cancellation_reason")


def dispute_message(request: SupplierCancellationRequest) -> str:
    """`messageText` (≤ 500): what we ask, our reference first so that clipping never drops it (C3)."""
    text = (
        f"Ref {request.reference}: please cancel this order before it ships and refund it to our CJ "
        f"balance. Store order {request.order_name} ({one_line(request.store_name)}). "
        f"Reason: {one_line(request.reason_text)}"
    )
    return text if len(text) <= MESSAGE_TEXT_MAX else text[: MESSAGE_TEXT_MAX - 1] + "…"


def choose_return_reason(reasons: Sequence[CJDisputeReason], reason: ReturnReason) -> CJDisputeReason:
    """The CJ reason whose name reads most like our return reason (damaged -> "Product damaged",
    defective -> "Quality problem", wrong_item -> "Wrong product", not_as_described -> "Not as
    described", the customer's own choice -> "Other"); none -> the operator decides."""
    return _best_reason(reasons, _RETURN_REASON_KEYWORDS.get(reason, _OTHER),
                        refusal=f"CJ offers no dispute reason matching a {reason.value} return",
                        code="no_return_reason")


def return_dispute_message(request: SupplierReturnRequest) -> str:
    """`messageText` (≤ 500) for a return: our reference and the ask first, the customer's words
    last, so that clipping only ever shortens those (R6)."""
    items = ", ".join(
        f"{one_line(item.sku or item.title)} x{item.quantity}" for item in request.items
    )
    parts = [
        f"Ref {request.reference}: customer return on store order {request.order_name} "
        f"({one_line(request.store_name)}). Please send us your return address and an RMA number, "
        f"or a prepaid return label, for these items{_CLAIM_TEXT.get(request.claim or '', '')}.",
        f"Items: {items}.",
        f"Problem: {one_line(request.reason_text).rstrip('.')}.",
        f"Photos attached ({len(request.photo_urls)})." if request.photo_urls else "",
        f"Customer says: {one_line(request.customer_note)}" if request.customer_note else "",
    ]
    text = " ".join(part for part in parts if part)
    return text if len(text) <= MESSAGE_TEXT_MAX else text[: MESSAGE_TEXT_MAX - 1] + "…"


def _tail(line_id: str | None) -> str | None:
    """`gid://shopify/LineItem/123` and `123` name the same store line."""
    return None if not line_id else line_id.rsplit("/", 1)[-1]


def _tracking_text(detail: CJOrderDetail) -> str:
    if not detail.track_number:
        return "no tracking number yet"
    carrier = f" ({detail.logistic_name})" if detail.logistic_name else ""
    url = f" {detail.tracking_url}" if detail.tracking_url else ""
    return f"tracking {detail.track_number}{carrier}{url}"


def _tracking_extra(detail: CJOrderDetail) -> dict[str, str]:
    extra = {"cj_order_id": detail.order_id, "cj_status": detail.order_status or ""}
    for key, value in (
        ("tracking_number", detail.track_number),
        ("tracking_url", detail.tracking_url),
        ("carrier", detail.logistic_name),
    ):
        if value:
            extra[key] = value
    return extra


def _not_found_result(order_id: str) -> SupplierCancellationResult:
    return SupplierCancellationResult(
        answer=SupplierAnswer.ACCEPTED,
        detail=f"CJ has no order {order_id}: it was never passed on, nothing will ship",
    )


def _cancelled_result(
    detail: CJOrderDetail, decided: SupplierCancellationResult | None
) -> SupplierCancellationResult:
    """Cancelled at CJ; when a dispute refunded it, the amount comes along (F2)."""
    refund = decided.refund if decided is not None and decided.answer is SupplierAnswer.ACCEPTED else None
    return SupplierCancellationResult(
        answer=SupplierAnswer.ACCEPTED,
        remote_id=decided.remote_id if refund is not None and decided is not None else detail.order_id,
        refund=refund,
        detail=f"order cancelled at CJ (status {detail.order_status}): nothing will ship",
        extra=_tracking_extra(detail),
    )


def _shipped_result(detail: CJOrderDetail) -> SupplierCancellationResult:
    """Too late to stop the parcel: C8 switches the case to C4."""
    return SupplierCancellationResult(
        answer=SupplierAnswer.REFUSED,
        remote_id=detail.order_id,
        detail=f"already shipped by CJ (status {detail.order_status}), {_tracking_text(detail)}",
        extra=_tracking_extra(detail),
    )


def _unknown_result(detail: CJOrderDetail) -> SupplierCancellationResult:
    return SupplierCancellationResult(
        answer=SupplierAnswer.PENDING,
        remote_id=detail.order_id,
        detail=f"CJ reports status {detail.order_status!r}, unknown here: check the order at CJ",
        extra=_tracking_extra(detail),
    )


def decided_result(dispute: CJDispute) -> SupplierCancellationResult | None:
    """CJ's final decision on a dispute (`finallyDeal`), or None while undecided (§4.3 step 5)."""
    extra = {"dispute_id": dispute.id, "dispute_status": dispute.status or ""}
    if dispute.finally_deal == DEAL_REFUND:
        refund = Money.of(dispute.money, CJ_CURRENCY) if dispute.money is not None else None
        amount = f"{refund.amount} {CJ_CURRENCY}" if refund is not None else "an amount not stated"
        return SupplierCancellationResult(
            answer=SupplierAnswer.ACCEPTED,
            remote_id=dispute.id,
            refund=refund,
            detail=f"CJ accepted dispute {dispute.id}: refund of {amount} to the CJ balance",
            extra=extra,
        )
    if dispute.finally_deal == DEAL_REISSUE:
        resend = f" (resend order {dispute.resend_order_code})" if dispute.resend_order_code else ""
        return SupplierCancellationResult(
            answer=SupplierAnswer.REFUSED,
            remote_id=dispute.id,
            detail=f"CJ chose to reissue instead of refunding dispute {dispute.id}{resend}",
            extra=extra,
        )
    if dispute.finally_deal == DEAL_REJECT:
        return SupplierCancellationResult(
            answer=SupplierAnswer.REFUSED,
            remote_id=dispute.id,
            detail=f"CJ rejected dispute {dispute.id}",
            extra=extra,
        )
    return None


def is_cancellation_reason(reason_name: str | None) -> bool:
    """A reason of the kind `choose_dispute_reason` picks for a cancellation (§4.3 step 2)."""
    name = (reason_name or "").casefold()
    return any(word in name for word, _ in _REASON_KEYWORDS)


def cancellation_dispute(
    disputes: Sequence[CJDispute], line_ids: set[str], *, exact: bool = False
) -> CJDispute | None:
    """Our cancellation dispute among the order's (getDisputeList is read by order and echoes no
    businessDisputeId, §4.3): a cancellation reason, and only our lines when CJ lists them
    (`exact`: the very lines we claim); an open one before a decided one, then the latest."""

    def ours(dispute: CJDispute) -> bool:
        lines = {product.line_item_id for product in dispute.product_list}
        if not line_ids or not lines:
            return not exact or not line_ids
        return lines == line_ids if exact else lines <= line_ids

    candidates = [d for d in disputes if is_cancellation_reason(d.dispute_reason) and ours(d)]
    return latest([d for d in candidates if d.finally_deal is None]) or latest(candidates)


def polled_dispute(
    disputes: Sequence[CJDispute], request: SupplierCancellationRequest, detail: CJOrderDetail
) -> CJDispute | None:
    """Our cancellation dispute for a poll: the one our claim opened, by the id CJ gave it, else
    by exactly the lines it claimed (not listed yet: none, never an earlier case's dispute on some
    of the order's lines); a request from before the claim was kept, by its items' lines."""
    if request.supplier_claim_id:
        return next((d for d in disputes if d.id == request.supplier_claim_id), None)
    if request.supplier_claim_lines:
        return cancellation_dispute(disputes, set(request.supplier_claim_lines), exact=True)
    return cancellation_dispute(disputes, _cancel_line_ids(request, detail, ()))


def _cancel_line_ids(
    request: SupplierCancellationRequest, detail: CJOrderDetail, offered: Sequence[CJDisputeProduct]
) -> set[str]:
    """CJ's line ids for the items we cancel, as far as they can be told (all lines for a whole
    order; by CJ line id, store line id or SKU otherwise)."""
    if request.full_order:
        return {p.line_item_id for p in detail.product_list if p.line_item_id} | {p.line_item_id for p in offered}
    ids: set[str] = set()
    for item in request.items:
        matched = _match(item, detail, offered)
        if matched is not None:
            ids.add(matched.line_item_id)
        for line in detail.product_list:
            if line.line_item_id and (
                item.supplier_line_id == line.line_item_id
                or _tail(line.store_line_item_id) == _tail(item.line_item_id)
            ):
                ids.add(line.line_item_id)
    return ids


def latest(disputes: Sequence[CJDispute]) -> CJDispute | None:
    """The most recent dispute (`createDate` is `YYYY-MM-DD HH:MM:SS`, so text order is time order)."""
    if not disputes:
        return None
    return max(enumerate(disputes), key=lambda pair: (pair[1].create_date or "", -pair[0]))[1]


# The operation note (`SendMemo`): the ids of the order's disputes CJ listed before our first create.
LISTED_BEFORE = "cj_disputes_listed_before_create"


def created_since_noted(disputes: Sequence[CJDispute], memo: SendMemo | None) -> list[CJDispute] | None:
    """The disputes an earlier attempt's create may have opened: listed now and not before that
    attempt's create; None when no attempt noted the list (no create of ours was sent with a memo)."""
    before = memo.noted.get(LISTED_BEFORE) if memo is not None else None
    if not isinstance(before, list):
        return None
    return [d for d in disputes if d.id not in set(before)]


def nothing_noted_before(memo: SendMemo | None) -> bool:
    """No list of ours to tell our dispute by, though an attempt may have created it: no memo, or
    earlier attempts that noted none (they ran the code from before the memo, in flight at a deploy).
    Ours is then the one on exactly our lines, the same risk as before the memo (an earlier case's
    dispute on exactly those lines is read as ours). A first attempt has nothing of ours to find."""
    return memo is None or (memo.earlier_attempts > 0 and not isinstance(memo.noted.get(LISTED_BEFORE), list))


async def keep_listed(disputes: Sequence[CJDispute], memo: SendMemo | None) -> None:
    """Before the first create: note what CJ lists, unless an earlier attempt did (its list is the
    one from before any create of ours; a later one may hold ours)."""
    if memo is not None and not isinstance(memo.noted.get(LISTED_BEFORE), list):
        await memo.keep({LISTED_BEFORE: [d.id for d in disputes]})


def held_by_another(dispute: CJDispute, lines: set[str], what: str) -> PermanentError:
    """Every line we would claim is held by an open dispute our claim did not open: not ours to
    wait on (its decision is not CJ's word on our claim), and no claim of ours can be opened."""
    return PermanentError(
        f"the {what} lines ({', '.join(sorted(lines)) or 'all'}) are held by CJ dispute {dispute.id} "
        f"(reason {dispute.dispute_reason!r}, status {dispute.status}), which our claim did not open "
        "(another case's, or opened at CJ by hand): no claim of ours can be opened while it is open. "
        "Check it at CJ, then claim again or settle the case by hand",
        vendor=VENDOR,
        code="lines_held_by_another_dispute",
    )


def _with_claim(
    result: SupplierCancellationResult, dispute: CJDispute, claimed: set[str]
) -> SupplierCancellationResult:
    """A decision on the dispute our claim opened, naming it as a pending answer would."""
    return result.model_copy(update={"extra": {**result.extra, CLAIM_ID: dispute.id,
                                               CLAIM_LINES: ",".join(sorted(claimed))}})


class CJSupplier:
    """`SupplierChannel` for CJ Dropshipping (C3, C8; returns R4, R6; INTEGRATIONS.md §4.2-§4.3).

    `return_address` is where CJ takes returns, from the store policy
    (`SupplierPolicy.return_address`): CJ's API has no field for it. It is given in a return
    result only once CJ accepts (R2, R6).
    """

    def __init__(self, client: CJClient, *, return_address: str | None = None) -> None:
        self._client = client
        self._return_address = (return_address or "").strip() or None

    async def order_status(self, order_id: str) -> SupplierOrderView:
        """Read the order at CJ; an unknown order is NOT_FOUND (never passed on)."""
        detail = await self._read(order_id)
        if detail is None:
            return SupplierOrderView(state=SupplierOrderState.NOT_FOUND)
        return SupplierOrderView(
            state=state_of(detail),
            supplier_order_id=detail.cj_order_id or detail.order_id,
            tracking_number=detail.track_number,
            raw_status=detail.order_status,
        )

    async def request_cancellation(
        self, request: SupplierCancellationRequest, *, idempotency_key: str, memo: SendMemo | None = None
    ) -> SupplierCancellationResult:
        """Read first, then: unpaid -> delete (ACCEPTED); paid -> refund dispute (PENDING);
        shipped -> REFUSED (C8); cancelled or unknown at CJ -> ACCEPTED (C3)."""
        detail = await self._read(request.order_id)
        if detail is None:
            return _not_found_result(request.order_id)
        return await self._act(request, detail, idempotency_key, memo)

    async def cancellation_outcome(self, request: SupplierCancellationRequest) -> SupplierCancellationResult:
        """Poll: cancelled -> ACCEPTED; dispute decided -> its outcome; shipped -> REFUSED (C8)."""
        detail = await self._read(request.order_id)
        if detail is None:
            return _not_found_result(request.order_id)
        dispute = polled_dispute(await self._client.all_disputes(detail.order_id), request, detail)
        decided = decided_result(dispute) if dispute is not None else None
        state = state_of(detail)
        if state is SupplierOrderState.CANCELLED:
            return _cancelled_result(detail, decided)
        if decided is not None:
            return decided
        if state in (SupplierOrderState.SHIPPED, SupplierOrderState.DELIVERED):
            return _shipped_result(detail)
        if state is SupplierOrderState.UNKNOWN:
            return _unknown_result(detail)
        return _waiting(detail, dispute)

    # ---- steps ----

    async def _read(self, order_id: str) -> CJOrderDetail | None:
        try:
            return await self._client.get_order_detail(order_id)
        except NotFound:
            return None

    async def _act(
        self, request: SupplierCancellationRequest, detail: CJOrderDetail, key: str, memo: SendMemo | None = None
    ) -> SupplierCancellationResult:
        state = state_of(detail)
        if state is SupplierOrderState.CANCELLABLE:
            return await self._delete(request, detail, key, memo)
        if state is SupplierOrderState.PAID:
            return await self._open_dispute(request, detail, key, memo)
        if state is SupplierOrderState.CANCELLED:
            return _cancelled_result(detail, None)
        if state in (SupplierOrderState.SHIPPED, SupplierOrderState.DELIVERED):
            return _shipped_result(detail)
        return _unknown_result(detail)

    async def _delete(
        self, request: SupplierCancellationRequest, detail: CJOrderDetail, key: str, memo: SendMemo | None
    ) -> SupplierCancellationResult:
        """Unpaid at CJ: delete the order (§4.2). If CJ refuses, the order moved on: re-read and act."""
        try:
            await self._client.delete_order(detail.order_id)
        except PermanentError as exc:
            if isinstance(exc, AuthenticationFailed):
                raise
            again = await self._read(request.order_id)
            if again is None:
                return _not_found_result(request.order_id)
            if state_of(again) is SupplierOrderState.CANCELLABLE:
                raise
            return await self._act(request, again, key, memo)
        return SupplierCancellationResult(
            answer=SupplierAnswer.ACCEPTED,
            remote_id=detail.order_id,
            detail=f"order deleted at CJ while unpaid (status {detail.order_status}): nothing will ship",
            extra={
                "cj_order_id": detail.order_id,
                "cj_status": detail.order_status or "",
                "action": "delete",
            },
        )

    async def _open_dispute(
        self, request: SupplierCancellationRequest, detail: CJOrderDetail, key: str, memo: SendMemo | None
    ) -> SupplierCancellationResult:
        """Paid, not shipped: disputeProducts -> disputeConfirmInfo -> create (§4.3), refund to balance."""
        offered = await self._client.dispute_products(detail.order_id)
        wanted = _lines_to_claim(request, detail, offered.product_info_list)
        ours = {line.line_item_id for _, line in wanted}
        claim = [line for product, line in wanted if product.can_choose]
        if not claim:
            return await self._already_disputed(detail, ours, memo)
        # Read before (re)sending: an earlier attempt whose answer was lost may have opened our
        # dispute already, before CJ marks its lines as taken; CJ documents no deduplication.
        # Ours is open and on exactly the lines we claim now (an earlier case's dispute on some
        # of the order's lines is not).
        claiming = {line.line_item_id for line in claim}
        listed = await self._client.all_disputes(detail.order_id)
        existing = cancellation_dispute(listed, claiming, exact=True)
        if existing is not None and existing.finally_deal is None:
            return _waiting(detail, existing, claiming)
        # Ours decided meanwhile: CJ frees the lines of a decided dispute, so they look claimable
        # again; the dispute our lost create opened is the one on them not listed before it.
        fresh = created_since_noted(listed, memo)
        resent = cancellation_dispute(fresh, claiming, exact=True) if fresh is not None else None
        if resent is not None:
            return _with_claim(decided_result(resent) or _waiting(detail, resent, claiming), resent, claiming)
        await keep_listed(listed, memo)
        bid = business_dispute_id(key)
        try:
            confirm = await self._client.dispute_confirm_info(detail.order_id, claim)
            _require_refund_option(detail, confirm)
            reason = choose_dispute_reason(confirm.dispute_reason_list)
            await self._client.create_dispute(
                business_dispute_id=bid,
                order_id=detail.order_id,
                dispute_reason_id=reason.dispute_reason_id,
                message_text=dispute_message(request),
                products=claim,
            )
        except PermanentError as exc:
            # Refused because our dispute (not listed yet at the first read) holds the lines:
            # read again; a refusal with no dispute of ours behind it stands.
            if isinstance(exc, AuthenticationFailed):
                raise
            found = cancellation_dispute(await self._client.all_disputes(detail.order_id), claiming, exact=True)
            if found is None:
                raise
            return decided_result(found) or _waiting(detail, found, claiming)
        dispute = await self._find_created(detail.order_id, claiming)
        limit = f" (up to {confirm.max_amount} {CJ_CURRENCY})" if confirm.max_amount is not None else ""
        return SupplierCancellationResult(
            answer=SupplierAnswer.PENDING,
            remote_id=dispute.id if dispute is not None else None,
            detail=f"refund dispute opened at CJ, reason {reason.reason_name!r}{limit}; awaiting decision",
            extra={
                "cj_order_id": detail.order_id,
                "business_dispute_id": bid,
                "dispute_reason": reason.reason_name,
                "lines": ",".join(f"{line.line_item_id}x{line.quantity}" for line in claim),
                CLAIM_LINES: ",".join(sorted(claiming)),
                **({CLAIM_ID: dispute.id} if dispute is not None else {}),
            },
        )

    async def _find_created(self, cj_order_id: str, ours: set[str]) -> CJDispute | None:
        """The id of the dispute just created; it exists, so a failed read only loses the id."""
        try:
            return cancellation_dispute(await self._client.all_disputes(cj_order_id), ours, exact=True)
        except IntegrationError as exc:
            logger.warning("dispute created at CJ for %s, but listing it failed: %s", cj_order_id, exc)
            return None

    async def _already_disputed(
        self, detail: CJOrderDetail, ours: set[str], memo: SendMemo | None
    ) -> SupplierCancellationResult:
        """No line can be chosen: our dispute is open already (from an earlier attempt), or
        CJ's dispute window is closed (a refusal, C8), or another dispute holds the lines (the
        operator decides: it is not ours to wait on). Ours is the one created since an earlier
        attempt noted the list (on some of our lines: it claimed those free then); with no memo, or
        earlier attempts that noted none (`nothing_noted_before`), the one on exactly our lines."""
        listed = await self._client.all_disputes(detail.order_id)
        fresh = created_since_noted(listed, memo)
        if fresh is not None:
            dispute = cancellation_dispute(fresh, ours)
        elif nothing_noted_before(memo):
            dispute = cancellation_dispute(listed, ours, exact=True)
        else:
            dispute = None  # no attempt of ours got as far as a create: nothing listed is ours
        if dispute is None:
            holder = latest([d for d in listed if d.finally_deal is None
                             and {p.line_item_id for p in d.product_list} & ours])
            if holder is not None:
                raise held_by_another(holder, ours, "order's")
            return SupplierCancellationResult(
                answer=SupplierAnswer.REFUSED,
                remote_id=detail.order_id,
                detail="CJ allows no dispute on these items and none is open: the order will ship",
                extra={"cj_order_id": detail.order_id, "cj_status": detail.order_status or ""},
            )
        return decided_result(dispute) or _waiting(detail, dispute)

    # ---- returns (R4, R6) ----

    async def request_return(
        self, request: SupplierReturnRequest, *, idempotency_key: str, memo: SendMemo | None = None
    ) -> SupplierReturnResult:
        """Open ONE return dispute at CJ (disputeProducts -> disputeConfirmInfo -> create, §4.3):
        reason by the return reason, reissue for a replacement claim and refund otherwise, the
        customer's photos attached. A retry (same key) is deduplicated by CJ on
        `businessDisputeId`, and a dispute already open for these lines is found, not doubled."""
        detail = await self._read(request.order_id)
        if detail is None:
            return _return_not_found(request.order_id)
        if state_of(detail) in _NOT_SHIPPED:
            return _return_not_shipped(detail)
        offered = (await self._client.dispute_products(detail.order_id)).product_info_list
        wanted = _return_lines(request, detail, offered)
        claim = [line for product, line in wanted if product.can_choose]
        claimed = {line.line_item_id for line in claim}
        listed = await self._client.all_disputes(detail.order_id)
        if len(claim) < len(wanted):
            # Some lines are in a dispute already (ours, on a retry) or out of CJ's window. Ours is
            # on exactly our lines; with lines still to claim, an earlier case's dispute on some of
            # them is never our answer (a decided one would be read as CJ's word on ours): ours is
            # opened on the rest. With nothing left to claim, an open one on our lines is waited for.
            line_ids = _line_ids(request, detail, offered)
            fresh = created_since_noted(listed, memo)
            existing = return_dispute(listed, line_ids, exact=True) if nothing_noted_before(memo) else None
            if existing is None and fresh is not None:
                # Ours claimed the lines free at its create (some of these): created since the note.
                existing = return_dispute(fresh, line_ids)
            if existing is not None:
                return self._return_result(existing, detail)
            if not claim:
                holder = latest([d for d in listed if d.finally_deal is None
                                 and {p.line_item_id for p in d.product_list} & line_ids])
                if holder is not None:  # not ours: never waited on as ours (its decision is not ours)
                    raise held_by_another(holder, line_ids, "returned")
                return SupplierReturnResult(
                    answer=SupplierAnswer.REFUSED,
                    remote_id=detail.order_id,
                    detail="CJ allows no dispute on these items (window closed?) and no return dispute is open",
                    extra={"cj_order_id": detail.order_id, "cj_status": detail.order_status or ""},
                )
        else:
            # Read before (re)sending: an earlier attempt whose answer was lost may have opened
            # our dispute before CJ marked its lines as taken; CJ documents no deduplication. Ours
            # is on exactly the lines we claim (an earlier dispute on some of them is not).
            existing = return_dispute(listed, claimed, exact=True)
            if existing is not None and existing.finally_deal is None:
                return self._return_result(existing, detail)
        # Ours decided meanwhile: its lines are free again; it is the one not listed before our create.
        fresh = created_since_noted(listed, memo)
        resent = return_dispute(fresh, claimed, exact=True) if fresh is not None else None
        if resent is not None:
            return self._return_result(resent, detail)
        await keep_listed(listed, memo)
        try:
            confirm = await self._client.dispute_confirm_info(detail.order_id, claim)
        except PermanentError as exc:
            return await self._found_or_raise(exc, detail, claimed)
        expect, expect_note = _expect_type(request, detail, confirm)
        reason = choose_return_reason(confirm.dispute_reason_list, request.reason)
        bid = business_dispute_id(idempotency_key)
        try:
            await self._client.create_dispute(
                business_dispute_id=bid,
                order_id=detail.order_id,
                dispute_reason_id=reason.dispute_reason_id,
                message_text=return_dispute_message(request),
                products=claim,
                expect_type=expect,
                image_urls=[url.strip() for url in request.photo_urls if url.strip()],
            )
        except PermanentError as exc:
            return await self._found_or_raise(exc, detail, claimed)
        dispute = await self._find_return(detail, claimed)
        if dispute is not None and dispute.finally_deal is not None:
            return self._return_result(dispute, detail)  # a resend after CJ had already decided
        wants = "a reissue" if expect == EXPECT_REISSUE else "a refund to the CJ balance"
        left_out = len(wanted) - len(claim)
        notes = [
            f"return dispute opened at CJ, reason {reason.reason_name!r}, asking for {wants}",
            expect_note,
            f"{left_out} line(s) could not be claimed at CJ" if left_out else None,
            "awaiting CJ's decision",
        ]
        return SupplierReturnResult(
            answer=SupplierAnswer.PENDING,
            remote_id=dispute.id if dispute is not None else None,
            detail="; ".join(note for note in notes if note),
            extra={
                "cj_order_id": detail.order_id,
                "business_dispute_id": bid,
                "dispute_reason": reason.reason_name,
                "expect_type": str(expect),
                "lines": ",".join(f"{line.line_item_id}x{line.quantity}" for line in claim),
                CLAIM_LINES: ",".join(sorted(claimed)),
                **({CLAIM_ID: dispute.id} if dispute is not None else {}),
            },
        )

    async def return_outcome(self, request: SupplierReturnRequest) -> SupplierReturnResult:
        """Poll `getDisputeList`: refund or reissue -> ACCEPTED (with the amount or the resend
        order, and the configured return address); reject -> REFUSED; undecided or not listed
        yet -> PENDING."""
        detail = await self._read(request.order_id)
        if detail is None:
            return _return_not_found(request.order_id)
        try:
            offered = (await self._client.dispute_products(detail.order_id)).product_info_list
        except PermanentError as exc:
            if isinstance(exc, AuthenticationFailed):
                raise
            offered = []  # CJ may refuse the lines once its window closed; the store line ids remain
        disputes = await self._client.all_disputes(detail.order_id)
        if request.supplier_claim_id:  # ours, by the id CJ gave it (listed with the order's others)
            dispute = next((d for d in disputes if d.id == request.supplier_claim_id), None)
        elif request.supplier_claim_lines:  # not listed at its creation: exactly the lines it claimed
            dispute = return_dispute(disputes, set(request.supplier_claim_lines), exact=True)
        else:  # a request kept before its claim was: by its items' lines
            dispute = return_dispute(disputes, _line_ids(request, detail, offered))
        if dispute is None:
            return SupplierReturnResult(
                answer=SupplierAnswer.PENDING,
                detail=f"no return dispute listed at CJ for order {detail.order_id} yet",
                extra={"cj_order_id": detail.order_id, "cj_status": detail.order_status or ""},
            )
        return self._return_result(dispute, detail)

    async def _ours_now(self, detail: CJOrderDetail, claimed: set[str]) -> CJDispute | None:
        """The dispute our create opened (or an earlier attempt did): on exactly the lines claimed
        (an earlier dispute on some of them is not ours)."""
        return return_dispute(await self._client.all_disputes(detail.order_id), claimed, exact=True)

    async def _find_return(self, detail: CJOrderDetail, claimed: set[str]) -> CJDispute | None:
        """The dispute just created; it exists, so a failed read only loses its id."""
        try:
            return await self._ours_now(detail, claimed)
        except IntegrationError as exc:
            logger.warning("return dispute created at CJ for %s, but listing it failed: %s", detail.order_id, exc)
            return None

    async def _found_or_raise(
        self, error: PermanentError, detail: CJOrderDetail, claimed: set[str]
    ) -> SupplierReturnResult:
        """CJ refused to open the dispute: if ours exists already (businessDisputeId used, lines
        taken), that is the answer; otherwise the refusal stands."""
        if isinstance(error, AuthenticationFailed):
            raise error
        existing = await self._ours_now(detail, claimed)
        if existing is None:
            raise error
        return self._return_result(existing, detail)

    def _return_result(self, dispute: CJDispute, detail: CJOrderDetail) -> SupplierReturnResult:
        """CJ's decision on a return dispute (`finallyDeal`, §4.3 step 5) as R6 needs it."""
        extra = {
            "dispute_id": dispute.id,
            "dispute_status": dispute.status or "",
            "dispute_reason": dispute.dispute_reason or "",
            "cj_order_id": detail.order_id,
        }
        if dispute.finally_deal == DEAL_REJECT:
            return SupplierReturnResult(
                answer=SupplierAnswer.REFUSED,
                remote_id=dispute.id,
                detail=f"CJ rejected return dispute {dispute.id}",
                extra=extra,
            )
        if dispute.finally_deal not in (DEAL_REFUND, DEAL_REISSUE):
            return SupplierReturnResult(
                answer=SupplierAnswer.PENDING,
                remote_id=dispute.id,
                detail=f"return dispute {dispute.id} is open at CJ (status {dispute.status}); awaiting CJ's decision",
                extra=extra,
            )
        address = self._return_address
        where = "" if address else "; no CJ return address in the store policy: ask CJ for it"
        if dispute.finally_deal == DEAL_REISSUE:
            resend = dispute.resend_order_code
            if resend:
                extra["resend_order_code"] = resend
            return SupplierReturnResult(
                answer=SupplierAnswer.ACCEPTED,
                remote_id=dispute.id,
                address=address,
                replacement_tracking=resend,
                detail=f"CJ accepted return dispute {dispute.id}: replacement"
                f"{f' (resend order {resend})' if resend else ''}{where}",
                extra=extra,
            )
        refund = Money.of(dispute.money, CJ_CURRENCY) if dispute.money is not None else None
        amount = f"{refund.amount} {CJ_CURRENCY}" if refund is not None else "an amount not stated"
        return SupplierReturnResult(
            answer=SupplierAnswer.ACCEPTED,
            remote_id=dispute.id,
            address=address,
            refund=refund,
            detail=f"CJ accepted return dispute {dispute.id}: refund of {amount} to the CJ balance{where}",
            extra=extra,
        )


_NOT_SHIPPED = frozenset(
    {SupplierOrderState.CANCELLABLE, SupplierOrderState.PAID, SupplierOrderState.CANCELLED}
)


def _return_not_found(order_id: str) -> SupplierReturnResult:
    return SupplierReturnResult(
        answer=SupplierAnswer.REFUSED,
        detail=f"CJ has no order {order_id}: it was never passed on, so CJ cannot take a return for it",
    )


def _return_not_shipped(detail: CJOrderDetail) -> SupplierReturnResult:
    return SupplierReturnResult(
        answer=SupplierAnswer.REFUSED,
        remote_id=detail.order_id,
        detail=f"CJ never shipped order {detail.order_id} (status {detail.order_status}): "
        "nothing to return to CJ; this is a cancellation",
        extra={"cj_order_id": detail.order_id, "cj_status": detail.order_status or ""},
    )


def _expect_type(
    request: SupplierReturnRequest, detail: CJOrderDetail, confirm: CJDisputeConfirmInfo
) -> tuple[int, str | None]:
    """Reissue for a replacement claim, refund otherwise; the other one if CJ offers only it."""
    wanted = EXPECT_REISSUE if request.claim == "replacement" else EXPECT_REFUND
    options = confirm.expect_result_option_list
    if not options or str(wanted) in options:
        return wanted, None
    other = EXPECT_REFUND if wanted == EXPECT_REISSUE else EXPECT_REISSUE
    names = {EXPECT_REFUND: "refund", EXPECT_REISSUE: "reissue"}
    if str(other) in options:
        return other, f"CJ offers no {names[wanted]} on this order, so a {names[other]} was asked"
    raise PermanentError(
        f"CJ offers neither a refund nor a reissue for order {detail.order_id} (options {options})",
        vendor=VENDOR,
        code="no_expect_option",
    )


def _return_lines(
    request: SupplierReturnRequest, detail: CJOrderDetail, offered: Sequence[CJDisputeProduct]
) -> list[tuple[CJDisputeProduct, CJDisputeLine]]:
    """Our returned items as CJ dispute lines (one per CJ line, quantities capped at CJ's)."""
    quantities: dict[str, int] = {}
    products: dict[str, CJDisputeProduct] = {}
    for item in request.items:
        product = _match(item, detail, offered)
        if product is None:
            raise PermanentError(
                f"cannot match item {item.title!r} (sku {item.sku}) to a line of CJ order {detail.order_id}",
                vendor=VENDOR,
                code="unmatched_item",
            )
        products[product.line_item_id] = product
        quantities[product.line_item_id] = quantities.get(product.line_item_id, 0) + item.quantity
    return [
        (product, _line(product, min(quantities[line_id], product.quantity)))
        for line_id, product in products.items()
    ]


def _line_ids(
    request: SupplierReturnRequest, detail: CJOrderDetail, offered: Sequence[CJDisputeProduct]
) -> set[str]:
    """CJ's line ids for our returned items, as far as they can be told (by id or store line)."""
    ids: set[str] = set()
    for item in request.items:
        matched = _match(item, detail, offered)
        if matched is not None:
            ids.add(matched.line_item_id)
        for line in detail.product_list:
            if line.line_item_id and item.supplier_line_id == line.line_item_id:
                ids.add(line.line_item_id)
            if line.line_item_id and _tail(line.store_line_item_id) == _tail(item.line_item_id):
                ids.add(line.line_item_id)
    return ids


def return_dispute(disputes: Sequence[CJDispute], line_ids: set[str], *, exact: bool = False) -> CJDispute | None:
    """Our return dispute among the order's (CJ echoes no businessDisputeId, INTEGRATIONS.md §7.5):
    never a cancellation dispute, and one about our lines when CJ lists its lines (`exact`: the
    very lines our claim opened); the latest."""

    def ours(dispute: CJDispute) -> bool:
        lines = {product.line_item_id for product in dispute.product_list}
        if exact:
            return lines == line_ids
        return not line_ids or not lines or bool(lines & line_ids)

    return latest([d for d in disputes if not is_cancellation_reason(d.dispute_reason) and ours(d)])


def _require_refund_option(detail: CJOrderDetail, confirm: CJDisputeConfirmInfo) -> None:
    options = confirm.expect_result_option_list
    if options and str(EXPECT_REFUND) not in options:
        raise PermanentError(
            f"CJ offers no refund for order {detail.order_id} (options {options})",
            vendor=VENDOR,
            code="refund_not_offered",
        )


def _waiting(
    detail: CJOrderDetail, dispute: CJDispute | None, claimed: set[str] | None = None
) -> SupplierCancellationResult:
    if dispute is None:
        text = f"no decision yet: order {detail.order_id} is {detail.order_status} at CJ, no dispute listed"
        return SupplierCancellationResult(answer=SupplierAnswer.PENDING, remote_id=None, detail=text)
    lines = {CLAIM_LINES: ",".join(sorted(claimed))} if claimed else {}
    return SupplierCancellationResult(
        answer=SupplierAnswer.PENDING,
        remote_id=dispute.id,
        detail=f"dispute {dispute.id} is open at CJ (status {dispute.status}); awaiting CJ's decision",
        extra={CLAIM_ID: dispute.id, "cj_order_id": detail.order_id, **lines},
    )


def _lines_to_claim(
    request: SupplierCancellationRequest,
    detail: CJOrderDetail,
    offered: Sequence[CJDisputeProduct],
) -> list[tuple[CJDisputeProduct, CJDisputeLine]]:
    """Our items as CJ dispute lines: the whole order, or the matched lines (C5 partial)."""
    if request.full_order:
        return [(p, _line(p, p.quantity)) for p in offered]
    claimed: list[tuple[CJDisputeProduct, CJDisputeLine]] = []
    for item in request.items:
        product = _match(item, detail, offered)
        if product is None:
            raise PermanentError(
                f"cannot match item {item.title!r} (sku {item.sku}) to a line of CJ order {detail.order_id}",
                vendor=VENDOR,
                code="unmatched_item",
            )
        claimed.append((product, _line(product, min(item.quantity, product.quantity))))
    return claimed


def _line(product: CJDisputeProduct, quantity: int) -> CJDisputeLine:
    return CJDisputeLine(line_item_id=product.line_item_id, quantity=quantity, price=product.price)


def _match(
    item: CancellationItem | ReturnItem, detail: CJOrderDetail, offered: Sequence[CJDisputeProduct]
) -> CJDisputeProduct | None:
    """CJ line by its id, else through the store line id CJ keeps, else by SKU."""
    by_line = {p.line_item_id: p for p in offered}
    if item.supplier_line_id in by_line:
        return by_line[item.supplier_line_id]
    for product in detail.product_list:
        if product.line_item_id in by_line and _tail(product.store_line_item_id) == _tail(item.line_item_id):
            return by_line[product.line_item_id]
    return next((p for p in offered if item.sku and p.sku == item.sku), None)
