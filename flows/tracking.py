"""Parcels followed at the carrier for a case (issue 19): D1, R5/R6, C4, and lost parcels.

A case follows a parcel with `follow_parcel_for_case`: the parcel is noted in the case's facts
(`parcels`: number -> role, company, since) and a `track_read:<number>` deadline is set for now.
The deadline check (flows/sweep.py) calls `read_tracking` when it is due; each read keeps the new
events (tasks/tracking.py) and either acts on what the parcel says or sets the next read at a
pace that follows the parcel's state (domain.tracking.next_poll). The aggregator's webhook only
brings the next read forward.

* An outbound parcel DELIVERED: the delivery date (and place) is the proof of receipt that starts
  the withdrawal period (D1, seed 001); a return waiting for that date is decided again.
* An outbound parcel going back to the sender (refused at delivery, C4): a cancellation that the
  parcel outran (a withdrawal return) takes it as the goods going back (D2).
* A return parcel DELIVERED (to the supplier or the store): the goods are back, the inspection
  deadline starts (R6, R7). The carrier's first scan is kept as the proof of dispatch. Neither is
  a condition of the refund's legal date (docs/legal-deadlines.md: the law's date wins).
* No scan for `AFTERSALES_TRACKING_LOST_AFTER_DAYS`: "lost in transit", for the operator and the
  supplier claim.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from domain.case_state import Parcel, ReturnData, facts_of
from domain.cases import CaseKind, ReturnState, is_terminal
from domain.deadlines import DeadlineStatus
from domain.tracking import (
    ParcelEvent,
    TrackingStatus,
    current_status,
    delivered_event,
    delivered_to_others,
    delivery_fits_address,
    first_scan,
    is_lost,
    next_poll,
    possession_event,
)
from integrations.carriers.base import CarrierError, CarrierQuotaSpent
from integrations.carriers.settings import TrackingSettings
from ledger import cases, deadlines, records
from ledger import tracking as kept
from ledger.models import Case, Deadline, utcnow
from ledger.tracking import READ_KIND, read_kind
from tasks import runtime
from tasks.tracking import ParcelReading, read_carrier_tracking

READ_AGAIN_AFTER_ERROR = timedelta(hours=1)  # a 429 / 5xx the task's own retries did not get past
READ_AGAIN_AFTER_REFUSAL = timedelta(hours=12)  # a refused key, an answer off the contract: the operator's
AFTER_QUOTA_RESET = timedelta(minutes=5)  # a spent daily quota: read a little after it comes back


async def follow_parcel_for_case(case: Case, tracking_number: str | None, *, role: str, company: str | None = None,
                                 since: datetime | None = None, not_before: datetime | None = None) -> bool:
    """Start following a parcel for this case (once per number); False when there is no number.
    `not_before`: no event of this parcel can be older (an outbound parcel: the order's creation);
    older events under the same number are another parcel's (carriers reuse numbers)."""
    number = (tracking_number or "").strip().replace(" ", "").upper()
    if not number:
        return False
    db, now = runtime.db(), utcnow()
    parcels = facts_of(case.kind, case.data).parcels
    if number not in parcels:
        info: dict[str, Any] = {"role": role, "company": company, "since": (since or now).isoformat()}
        if not_before is not None:
            info["not_before"] = not_before.isoformat()
        await cases.update_case(db, case.id, data={"parcels": {number: info}},
            summary=f"following the {'return ' if role == 'return' else ''}parcel {number} at the carrier",
            actor="aftersales")
    if role == "return":  # one return parcel per return: a new number replaces the one given before (a typo,
        # a second try), which is no longer read (every number a customer types would else be read for ever,
        # each read spending the carriers' quotas: DHL's 250 calls a day)
        for other, said in parcels.items():
            if other != number and said.role == "return" and await deadlines.resolve_deadline(
                    db, case_id=case.id, kind=read_kind(other), status=DeadlineStatus.CANCELLED):
                await cases.add_event(db, case.id, "note", f"the return parcel {other} is no longer followed: "
                                                           f"the customer gave {number} instead")
    await deadlines.set_deadline(db, case_id=case.id, kind=read_kind(number), due_at=now, act_at=now,
                                 action="read the parcel's tracking at the carrier (issue 19)")
    return True


def _parcel(case: Case, number: str) -> Parcel:
    """What the case keeps about this parcel (an outbound parcel never noted: nothing yet)."""
    return facts_of(case.kind, case.data).parcels.get(number) or Parcel()


def _return_facts(case: Case) -> ReturnData | None:
    """A return's facts; None for a case of another kind (it has none of a return's facts)."""
    return ReturnData.load(case.data) if case.kind == CaseKind.RETURN else None


def _waits_for_delivery_date(case: Case) -> bool:
    facts = _return_facts(case)
    return facts is not None and facts.needs_delivery_date and not is_terminal(case.kind, case.state)


def _this_parcel(case: Case, info: Parcel, events: list[ParcelEvent]) -> list[ParcelEvent]:
    """The events that can be this case's parcel: carriers reuse numbers (La Poste, DHL after some
    years), so an event older than the parcel can be (the order for an outbound parcel, the return
    request for a return parcel) is another parcel's: its DELIVERED is no D1 and no goods back."""
    if info.role == "return":
        floor: datetime | None = case.opened_at
    else:
        floor = datetime.fromisoformat(info.not_before) if info.not_before else None
    return events if floor is None else [e for e in events if e.happened_at >= floor]


def _carrier_of(case: Case, number: str) -> str | None:
    """The carrier that answered for this parcel (kept at its first read), None before any."""
    return _parcel(case, number).carrier


async def delivered_at(case: Case, tracking_numbers: list[str]) -> datetime | None:
    """D1 from the carrier: the last parcel's delivery into the consumer's hands among these
    numbers (one fulfillment may hold several), None unless every one of them is delivered so.
    Each parcel is its carrier's events for its number (another carrier's parcel may share the
    number); a parcel left with a neighbour or in a place the carrier chose is not in the
    consumer's possession (art. 9(2)(b), L221-18: domain.tracking.possession_event)."""
    if not tracking_numbers:
        return None
    dates = []
    for raw in tracking_numbers:
        number = raw.strip().replace(" ", "").upper()
        carrier = _carrier_of(case, number)
        if carrier is None:
            return None
        info = _parcel(case, number)
        found = possession_event(_this_parcel(case, info, await kept.events_for(runtime.db(), [number],
                                                                                carriers=[carrier])))
        if found is None:
            return None
        dates.append(found.happened_at)
    return max(dates)


def _kept(info: Parcel) -> dict[str, Any]:
    """The parcel as stored: the keys it was given (no defaults added)."""
    return info.model_dump(mode="json", exclude_unset=True)


def _said(e: ParcelEvent) -> dict[str, Any]:
    return {"at": e.happened_at.isoformat(), "code": e.code, "carrier": e.carrier, "city": e.city,
            "postcode": e.postcode, "country": e.country, "description": e.description[:200]}


def _where(e: ParcelEvent) -> str:
    return f" in {e.place}" if e.place else ""


async def read_tracking(deadline: Deadline, case: Case) -> tuple[str, bool]:
    """The `track_read:<number>` deadline is due: read the parcel, act, or read again later.
    Returns the outcome and whether the case's flow should run now."""
    db, now = runtime.db(), utcnow()
    number = deadline.kind.split(":", 1)[1]
    info = _parcel(case, number)
    role = info.role
    try:
        reading: ParcelReading = await read_carrier_tracking(case.store_id, number, info.company, case.id,
                                                             case.order_name)
    except CarrierQuotaSpent as exc:  # the day's calls are spent (counted by every worker): not an error,
        # the read waits in the ledger for the quota to come back (promise 3)
        retry_at = exc.resume_at + AFTER_QUOTA_RESET
        await deadlines.set_deadline(db, case_id=case.id, kind=deadline.kind, due_at=retry_at, act_at=retry_at,
                                     action="read the parcel's tracking at the carrier (issue 19)",
                                     note=f"waiting for the carrier's daily quota: {exc}"[:500])
        return "rescheduled", False
    except CarrierError as exc:  # quota, key refused, down: the next read is a date in the ledger, not the
        # next check (every 15 min, 5 calls each, against DHL's 250 a day), and not before the carrier says
        # (its Retry-After, seconds or a date, capped at a day: integrations/carriers/_http.py)
        floor = READ_AGAIN_AFTER_ERROR if exc.retryable else READ_AGAIN_AFTER_REFUSAL
        retry_at = now + max(floor, timedelta(seconds=exc.retry_after or 0))
        await deadlines.set_deadline(db, case_id=case.id, kind=deadline.kind, due_at=retry_at, act_at=retry_at,
                                     action="read the parcel's tracking at the carrier (issue 19)",
                                     note=f"the carrier did not answer: {exc}"[:500])
        return "rescheduled", False
    events = _this_parcel(case, info, reading.events)
    if reading.found and reading.carrier and info.carrier != reading.carrier.split(":", 1)[0]:
        info = Parcel.model_validate({**_kept(info), "carrier": reading.carrier.split(":", 1)[0]})  # its number
        await cases.update_case(db, case.id, data={"parcels": {number: _kept(info)}},
                                summary=f"parcel {number} is followed at {reading.carrier}", actor="aftersales")
    # a return parcel's story starts with the return: an earlier delivery (the order's own parcel, or
    # any parcel already delivered, given as "the return's number") is not goods coming back (_this_parcel)
    delivered = delivered_event(events)
    status = current_status(events)
    if role == "return":
        scan = first_scan(events)
        if scan is not None and not info.first_scan_at:
            await cases.update_case(db, case.id, data={"parcels": {number: {**_kept(info), "first_scan_at":
                                                                               scan.happened_at.isoformat()}}},
                                    summary=f"the carrier scanned the return parcel {number} on "
                                            f"{scan.happened_at:%Y-%m-%d}: the proof of dispatch (D2)", actor="carrier")
        if delivered is not None:
            # Another's parcel must not mark the return received: the delivery counts only where it fits
            # the return address (the postcode, else the country the carrier gives); otherwise the
            # operator confirms (records the receipt) or finds the real parcel.
            returned = _return_facts(case)
            address = ((returned.instructions if returned else None) or {}).get("address")
            fits = delivery_fits_address(delivered, address)
            if fits is not True:
                return await _return_delivery_unconfirmed(case, deadline, number, delivered, address, fits)
            # One parcel is one return: the same number given for two returns (two orders' refunds on one
            # parcel, or another customer's parcel to the same warehouse) is the operator's to sort out.
            others = await _other_returns_with(case, number)
            if others:
                return await _return_delivery_unconfirmed(case, deadline, number, delivered, address, None,
                                                          shared_with=others)
            if not (returned and returned.received_at):
                await cases.update_case(db, case.id, data={"received_at": delivered.happened_at.isoformat(),
                                                           "return_delivery": _said(delivered)}, actor="carrier",
                                        summary=f"the carrier delivered the returned parcel {number} on "
                                                f"{delivered.happened_at:%Y-%m-%d %H:%M}{_where(delivered)} (R6)")
            await deadlines.resolve_deadline(db, case_id=case.id, kind=deadline.kind, status=DeadlineStatus.MET)
            return "met", True
        if status == TrackingStatus.RETURNED_TO_SENDER:
            await cases.update_case(db, case.id, data={"return_parcel_back": _said(events[-1])}, actor="carrier",
                                    summary=f"the return parcel {number} is going back to the customer")
            await records.open_review(db, case_id=case.id, reason_code="return_parcel_back",
                                      detail=f"the return parcel {number} is going back to the customer "
                                             f"({events[-1].description or events[-1].code})",
                                      options=["ask the customer for the parcel's story", "claim the carrier"])
            await deadlines.resolve_deadline(db, case_id=case.id, kind=deadline.kind, status=DeadlineStatus.ESCALATED)
            return "escalated", False
    else:
        if delivered is not None and delivered_to_others(delivered):
            return await _delivered_to_others(case, deadline, number, delivered)
        if delivered is not None:
            data: dict[str, Any] = {"carrier_delivery": {number: _said(delivered)}}
            waiting = _waits_for_delivery_date(case)
            if waiting:
                data["needs_delivery_date"] = False
            parked = waiting and case.state == ReturnState.NEEDS_OPERATOR.value
            await cases.update_case(
                db, case.id, data=data, actor="carrier", state=ReturnState.RECEIVED.value if parked else None,
                needs_operator_reason="" if waiting else None,
                summary=f"the carrier delivered parcel {number} on {delivered.happened_at:%Y-%m-%d %H:%M}"
                        f"{_where(delivered)}: the proof of receipt (D1)")
            await deadlines.resolve_deadline(db, case_id=case.id, kind=deadline.kind, status=DeadlineStatus.MET)
            return "met", waiting
        if status == TrackingStatus.RETURNED_TO_SENDER:
            from flows.returns import note_carrier_return

            back = events[-1]
            advanced = await note_carrier_return(case.store_id, case.order_ref, {
                "happened_at": back.happened_at.isoformat(), "tracking_number": number,
                "message": back.description or back.code})
            await cases.add_event(db, case.id, "inbound", f"the carrier reports parcel {number} going back to the "
                                                          f"sender ({back.description or back.code})")
            await deadlines.resolve_deadline(db, case_id=case.id, kind=deadline.kind, status=DeadlineStatus.MET)
            return "met", advanced is not None
    since = datetime.fromisoformat(info.since) if info.since else case.opened_at
    silent = TrackingSettings().lost_after_days
    if role == "return" and reading.carrier is not None and not events and now - since >= timedelta(days=silent):
        # The customer's number has had no scan at any carrier for as long as a parcel may stay silent (unknown,
        # or only "pending" at the aggregator): a typo, or a number that is no parcel. Read no more (each read
        # spends the carriers' quotas: DHL's 250 calls a day); the operator asks the customer.
        await records.open_review(db, case_id=case.id, reason_code="parcel_unknown",
                                  detail=f"return parcel {number}: no carrier has scanned this tracking number in "
                                         f"{silent} days ({(reading.detail or 'no event')[:120]})",
                                  options=["ask the customer for the right tracking number", "wait"])
        await deadlines.resolve_deadline(db, case_id=case.id, kind=deadline.kind, status=DeadlineStatus.ESCALATED)
        return "escalated", False
    # "No scan for N days" is only said of a parcel some carrier was asked about: with no carrier API
    # configured for it (reading.carrier None) the silence is ours, not the carrier's.
    if reading.carrier is not None and is_lost(events, since=since, now=now, silent_days=silent) \
            and not info.lost_flagged:
        lost = {**_kept(info), "lost_flagged": now.isoformat()}
        await cases.update_case(db, case.id, data={"parcels": {number: lost}},
                                summary=f"parcel {number}: no carrier scan for {silent} days: lost in transit?",
                                actor="deadline check")
        await records.open_review(db, case_id=case.id, reason_code="parcel_lost",
                                  detail=f"parcel {number}: no carrier scan for {silent} days",
                                  options=([] if role == "return" else [
                                      "resend or refund the customer (the risk is the store's until they have "
                                      "the goods: L216-4, L216-5)"])
                                  + ["claim the supplier (CJ: refund or resend after its delays)",
                                     "claim the carrier", "wait"])
    after = next_poll(events, now)
    if after is None:  # final without being acted on (cannot happen: delivered and returned are handled)
        await deadlines.resolve_deadline(db, case_id=case.id, kind=deadline.kind, status=DeadlineStatus.MET)
        return "met", False
    await deadlines.set_deadline(db, case_id=case.id, kind=deadline.kind, due_at=after, act_at=after,
                                 action="read the parcel's tracking at the carrier (issue 19)",
                                 note=f"last: {status.value if status else 'nothing yet'}")
    return "rescheduled", False


async def _other_returns_with(case: Case, number: str) -> list[str]:
    """The order names of the other cases that follow this number as their return parcel."""
    db, names = runtime.db(), []
    for case_id in await kept.cases_following(db, number):
        if case_id == case.id:
            continue
        other = await cases.get_case(db, case_id)
        if other is not None and _parcel(other, number).role == "return":
            names.append(other.order_name or other.id[:8])
    return names


async def _return_delivery_unconfirmed(case: Case, deadline: Deadline, number: str, delivered: ParcelEvent,
                                       address: str | None, fits: bool | None, *,
                                       shared_with: list[str] | None = None) -> tuple[str, bool]:
    """A return parcel the carrier delivered where the return address cannot be recognised (False:
    somewhere else; None: the carrier gives no place, or left it with a neighbour), or whose number
    is another return's too (`shared_with`): not the goods back until the operator says so
    (`received` on /operator/return-updates)."""
    db = runtime.db()
    where = _where(delivered) or " (the carrier gives no place)"
    if shared_with:
        why = (f"the carrier delivered parcel {number} on {delivered.happened_at:%Y-%m-%d}{where}, but the same "
               f"tracking number was given for the return of {', '.join(shared_with)} too")
    else:
        why = (f"the carrier delivered parcel {number} on {delivered.happened_at:%Y-%m-%d}{where}, "
               + ("not at the return address" if fits is False else "which cannot be matched to the return address")
               + f" ({address or 'no return address on file'})")
    await cases.update_case(db, case.id, data={"return_delivery_unconfirmed": {**_said(delivered), "fits": fits,
                                                                               "shared_with": shared_with or []}},
                            summary=f"{why}: not taken as the goods back (R6); the operator confirms",
                            actor="carrier")
    await records.open_review(db, case_id=case.id, reason_code="return_parcel_unconfirmed", detail=why,
                              options=["confirm the goods are back (record them received)",
                                       "ask the customer for the right tracking number", "claim the carrier"])
    await deadlines.resolve_deadline(db, case_id=case.id, kind=deadline.kind, status=DeadlineStatus.ESCALATED)
    return "escalated", False


async def _delivered_to_others(case: Case, deadline: Deadline, number: str,
                               delivered: ParcelEvent) -> tuple[str, bool]:
    """The carrier left the order's parcel with a neighbour or in a place it chose: its delivery,
    but not the consumer's possession (art. 9(2)(b) of Directive 2011/83, L221-18): no D1 from it.
    Kept (the dispute record still shows it); a case waiting for D1 stays with the operator, who
    asks the customer when they got the parcel."""
    db = runtime.db()
    said = _said(delivered)
    await cases.update_case(db, case.id, data={"carrier_delivery_to_others": {number: said}}, actor="carrier",
                            summary=f"the carrier left parcel {number} on {delivered.happened_at:%Y-%m-%d %H:%M}"
                                    f"{_where(delivered)} with others (“{delivered.description[:80]}”): "
                                    "not proof the customer has it (L221-18)")
    if _waits_for_delivery_date(case):
        await records.open_review(db, case_id=case.id, reason_code="delivered_to_others",
                                  detail=f"parcel {number}: the carrier says “{delivered.description[:120]}” "
                                         f"on {delivered.happened_at:%Y-%m-%d}: not the customer's possession "
                                         "(L221-18); the withdrawal period runs from the day they got it",
                                  options=["ask the customer when they received it and record the delivery",
                                           "accept the return anyway"])
    await deadlines.resolve_deadline(db, case_id=case.id, kind=deadline.kind, status=DeadlineStatus.MET)
    return "met", False


__all__ = ["READ_KIND", "follow_parcel_for_case", "read_tracking"]
