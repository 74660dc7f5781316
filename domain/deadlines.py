"""Deadline maths for returns and refunds (D1-D4, R1, F4), with the clock always passed in.

Pure functions: no I/O and no reading of the clock (the caller passes it in). Every instant
is timezone-aware; the store's timezone (e.g. `Europe/Paris`) and country (for public
holidays) come in as arguments.

Sources: ../shared/PROCESSES.md (rules R1, D1-D4, F4) and ../shared/reference/INTEGRATIONS.md
section 5 (Code de la consommation L221-18, L221-19, L221-20, L221-23, L221-24, L242-4;
directive 2011/83/EU arts. 9, 10, 13, 14; regulation 1182/71 on the computation of periods).

How periods are counted (L221-19, regulation 1182/71 art. 3):
- the day of the starting event is not counted: an event on day D with a period of N days
  gives a last day D + N (in the store's local calendar, never the UTC date);
- the period ends at 24:00 local time of its last day; `Deadline.due_at` stores that instant
  in UTC, so it is 23:00 UTC in Paris winter time and 22:00 UTC in summer time;
- a last day on a Saturday, Sunday or public holiday moves to the next business day.

Regulation 1182/71 (art. 3(4)) applies to every period of the directive, the store's own
included: a period whose last day is a Saturday, Sunday or public holiday ends with the next
working day. The customer's deadlines (withdrawal, return shipping) and the store's (the
L221-24 refund) are carried over alike, so a refund made on that next working day is on time
(issue 14). The customer's periods use the public holidays of the consumer's country (`country`);
the store's refund (D2) the earlier of the store's country and the consumer's (the act is the store's).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, field_validator, model_validator

from domain.business_days import add_business_days, end_of_day, local_date, next_business_day
from domain.money import DecimalStr, Money

LEGAL_WITHDRAWAL_DAYS = 14  # D1, L221-18
LEGAL_INFORMATION_EXTENSION_MONTHS = 12  # L221-20
LEGAL_REFUND_DAYS = 14  # D2, L221-24
LEGAL_RETURN_SHIPPING_DAYS = 14  # L221-23
DEFAULT_REFUND_ALERT_MARGIN = timedelta(days=3)  # INTEGRATIONS.md 5.3: alert at D-3
DEFAULT_PROMISE_ALERT_MARGIN = timedelta(days=1)  # F4: a day to act before the promise is broken
DEFAULT_RETURN_WINDOW_MARGIN_DAYS = 5  # R1: see store_return_window


class DeadlineKind(StrEnum):
    """Every kind of deadline, one name for each: the ledger's `deadline.kind` column holds these
    strings (a StrEnum, so the stored value is the plain string and no migration is needed).

    A kind held once per key is stored as `<kind>:<key>` (`keyed`): `supplier_answer:<supplier
    id>`, `shipping_watch:<round>`. The scheduled check (flows/sweep.py `HANDLERS`) has one handler
    per kind except those in `NOT_A_ROW`; a test holds it to that, and a stored row whose kind is
    not here fails loudly (docs/architecture.md "Which files to touch")."""

    WITHDRAWAL = "withdrawal"  # D1: the customer's withdrawal period ends (computed, never a row)
    LEGAL_REFUND = "legal_refund"  # D2: the store must have refunded
    RETURN_SHIPPING = "return_shipping"  # L221-23: the customer must have sent the goods back
    STORE_PROMISE = "store_promise"  # F4: the refund delay the store promised
    SUPPLIER_ANSWER = "supplier_answer"  # D3, C8: the supplier's answer delay (keyed by supplier id)
    SUPPLIER_QUOTA = "supplier_quota"  # a supplier's daily API quota comes back (CJ)
    RETENTION_HOLD = "retention_hold"  # C6: the alternative offered was not taken in time
    RETURN_REMINDER = "return_reminder"  # R3: remind the customer to send the parcel
    INSPECTION = "inspection"  # R7: the inspection report is late
    REPLACEMENT = "replacement"  # R4: the replacement has not left
    FOLLOW_UP = "follow_up"  # R6: the follow-up email
    SURVEY = "survey"  # F3: the satisfaction survey, after the case closed
    POSTAGE_REFUND = "postage_refund"  # D2, F4: refund the customer's return postage
    DISPUTE_RESPONSE = "dispute_response"  # K5: the processor's due date minus the margin
    DISPUTE_INQUIRY = "dispute_inquiry"  # K5: a PayPal inquiry's due date minus the margin
    # K5: PayPal waits for the store again after the evidence went out (more evidence, a new
    # stage): its new due date minus the margin, keyed by stage and date; the operator answers.
    DISPUTE_MORE_EVIDENCE = "dispute_more_evidence"
    SHIPPING_WATCH = "shipping_watch"  # A1: the order has not shipped (keyed by round)
    TRACK_READ = "track_read"  # D1, R3: a parcel's next read at the carrier (keyed by tracking number)
    # L221-21, D2: a possible withdrawal read in a customer's email the operator has not decided on
    # (keyed by the email's inbound id): escalated well before the L221-24 refund date it would start.
    WITHDRAWAL_NOTICE = "withdrawal_notice"

    def keyed(self, key: object) -> str:
        """The stored kind of a deadline held once per key: `supplier_answer:atelier-lyon`."""
        return f"{self.value}:{key}"

    @classmethod
    def of(cls, stored: str) -> DeadlineKind | None:
        """The kind of a stored row, its key dropped; None for a kind this code does not know."""
        try:
            return cls(stored.split(":", 1)[0])
        except ValueError:
            return None


class DeadlineStatus(StrEnum):
    """A deadline row's `status` (the same strings as before: no migration)."""

    OPEN = "open"  # waiting: the check acts on it at `act_at`
    MET = "met"  # what it waited for happened in time
    ACTED = "acted"  # the check acted on it (the case's flow takes it from there)
    ESCALATED = "escalated"  # handed to the operator
    CANCELLED = "cancelled"  # no longer relevant (the case ended, the step it guarded is gone)


# Kinds this code computes but never stores as a deadline row (so the check has no handler).
NOT_A_ROW: frozenset[DeadlineKind] = frozenset({DeadlineKind.WITHDRAWAL})


def _aware(moment: datetime, what: str) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware, got a naive datetime")
    return moment


class Deadline(BaseModel):
    """One deadline, ready for the ledger's `deadline` table (D4).

    `due_at` is the end of the period (24:00 local of `last_day`) and `act_at` the moment the
    scheduled check should act or alert; both are stored in UTC. `last_day` is the local date
    to show people ("you have until 4 December"): do not derive it from `due_at`, whose local
    date is already the next day (24:00 is 00:00 of the day after).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: str
    due_at: datetime
    act_at: datetime
    last_day: date
    note: str

    @field_validator("kind")
    @classmethod
    def _kind(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("a deadline needs a kind")
        return v

    @field_validator("due_at", "act_at")
    @classmethod
    def _utc(cls, v: datetime) -> datetime:
        return _aware(v, "a deadline instant").astimezone(UTC)

    @model_validator(mode="after")
    def _act_before_due(self) -> Deadline:
        if self.act_at > self.due_at:
            raise ValueError(f"act_at {self.act_at.isoformat()} is after due_at {self.due_at.isoformat()}")
        return self


def act_at(due: datetime, margin: timedelta) -> datetime:
    """When to act on a deadline: `margin` before `due`, in UTC (D4, K5).

    The margin is elapsed time, not wall-clock time: three days before 24:00 on the Tuesday
    after the October DST change is 23:00 local on the Saturday, i.e. exactly 72 hours.
    """
    if margin < timedelta(0):
        raise ValueError("the margin must not be negative")
    return (_aware(due, "due") - margin).astimezone(UTC)


def _deadline(kind: str, last_day: date, tz: str, margin: timedelta, note: str) -> Deadline:
    due = end_of_day(last_day, tz)
    return Deadline(kind=kind, due_at=due, act_at=act_at(due, margin), last_day=last_day, note=note)


def _add_months(day: date, months: int) -> date:
    """Same day of the month `months` later; the month's last day when it has no such day
    (regulation 1182/71 art. 3(2)(c): 29 February + 12 months = 28 February)."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    next_month_first = date(year + month // 12, month % 12 + 1, 1)
    days_in_month = (next_month_first - timedelta(days=1)).day
    return date(year, month, min(day.day, days_in_month))


def _carried(last_day: date, country: str) -> tuple[date, str]:
    carried = next_business_day(last_day, country)
    if carried == last_day:
        return last_day, ""
    why = "a public holiday" if last_day.weekday() < 5 else f"a {('Saturday', 'Sunday')[last_day.weekday() - 5]}"
    return carried, f" ({last_day.isoformat()} is {why}: carried over, L221-19)"


# -- D1: the customer's withdrawal period ---------------------------------------------------------


def withdrawal_deadline(
    delivered_at: Sequence[datetime | None] | datetime | None,
    *,
    tz: str,
    country: str = "FR",
    information_missing: bool = False,
    information_supplied_at: datetime | None = None,
    window_days: int = LEGAL_WITHDRAWAL_DAYS,
    margin: timedelta = timedelta(0),
) -> Deadline | None:
    """End of the customer's withdrawal period (rule D1; L221-18, L221-19, L221-20).

    - 14 days from receipt of the goods (L221-18), the carrier's delivery scan being the proof
      (D1). The day of receipt is not counted; the period ends at 24:00 local time of the last
      day, carried over to the next business day if that day is a Saturday, Sunday or public
      holiday of `country` (L221-19).
    - Several parcels: the period runs from the receipt of the LAST one (L221-18). `delivered_at`
      may list one instant per parcel; a `None` in the list is a parcel not delivered yet, so the
      period has not started and the result is None.
    - No delivery date at all (None or an empty list): None. The caller hands the case to the
      operator; this function never guesses a delivery date.
    - `information_missing` (the pre-contract information on the withdrawal right was not given,
      L221-5 7°): the period is extended by 12 months from the end of the initial period
      (L221-20). We count the 12 months from the initial last day after its carry-over, then
      carry over again; a day missing in the target month gives that month's last day.
    - `information_supplied_at`: the information was given late; the period then ends 14 days
      after the customer received it (L221-20 second sentence, directive art. 10(2)), never
      before the initial period ends and never after the 12-month extension.
    - `window_days`: the store's own, longer window (R1, see `store_return_window`), counted the
      same way. It can never shorten the legal 14 days (L242-3 makes such a clause void).
    - `margin`: how long before the end the scheduled check acts (default: at the end, when the
      window closes).
    """
    if window_days < LEGAL_WITHDRAWAL_DAYS:
        raise ValueError(f"a withdrawal window below the legal {LEGAL_WITHDRAWAL_DAYS} days is void (L242-3)")
    if information_supplied_at is not None and not information_missing:
        raise ValueError("information_supplied_at only makes sense when the information was missing")
    if delivered_at is None:
        return None
    parcels = [delivered_at] if isinstance(delivered_at, datetime) else list(delivered_at)
    if not parcels or any(p is None for p in parcels):
        return None
    last_delivery = max(_aware(p, "delivered_at") for p in parcels if p is not None)
    received = local_date(last_delivery, tz)

    legal_last, carry_note = _carried(received + timedelta(days=LEGAL_WITHDRAWAL_DAYS), country)
    note = (
        f"D1 withdrawal (L221-18/19): received {received.isoformat()}"
        f"{f' (last of {len(parcels)} parcels)' if len(parcels) > 1 else ''}, "
        f"{LEGAL_WITHDRAWAL_DAYS} days to {legal_last.isoformat()}{carry_note}"
    )
    if information_missing:
        extended, _ = _carried(_add_months(legal_last, LEGAL_INFORMATION_EXTENSION_MONTHS), country)
        note += f"; information missing: extended by 12 months to {extended.isoformat()} (L221-20)"
        if information_supplied_at is not None:
            supplied = local_date(_aware(information_supplied_at, "information_supplied_at"), tz)
            after_info, _ = _carried(supplied + timedelta(days=LEGAL_WITHDRAWAL_DAYS), country)
            extended = min(extended, max(legal_last, after_info))
            note += f"; information supplied {supplied.isoformat()}: ends {extended.isoformat()} (L221-20)"
        legal_last = extended
    last_day = legal_last
    if window_days > LEGAL_WITHDRAWAL_DAYS:
        store_last, _ = _carried(received + timedelta(days=window_days), country)
        if store_last > last_day:
            last_day = store_last
            note += f"; store window {window_days} days (R1) to {store_last.isoformat()}"
    return _deadline(DeadlineKind.WITHDRAWAL, last_day, tz, margin, note + f", until 24:00 {tz}")


# -- D2: the store's refund ------------------------------------------------------------------------


class WithholdRelease(StrEnum):
    """The two events that end the store's right to hold the refund back (L221-24)."""

    GOODS_BACK = "goods_back"  # the store (or its supplier) has the goods back
    DISPATCH_PROOF = "dispatch_proof"  # the customer proved the goods were sent back


class RefundDeadline(BaseModel):
    """When the L221-24 refund is due, and whether it may be held back for now (D2).

    - `legal`: the hard date, 24:00 local of the 14th day after the store was told of the
      withdrawal; `legal.act_at` is the alert (default D-3).
    - `may_withhold`: True while neither the goods are back nor a proof of dispatch was given;
      `withhold_until` then names the events that end it (whichever comes first).
    - `released_by` / `released_at`: the first of those events, once known.
    - `due`: the date the refund must be paid by given those facts: the legal date, or, when the
      release came after the legal date, 24:00 local of the release day (to act at once). While
      the refund may be withheld, `due` is the legal date: the check alerts the operator then.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    legal: Deadline
    may_withhold: bool
    withhold_until: tuple[WithholdRelease, ...]
    released_by: WithholdRelease | None
    released_at: datetime | None
    due: Deadline


def legal_refund_deadline(
    withdrawal_notified_at: datetime,
    *,
    tz: str,
    goods_back_at: datetime | None = None,
    dispatch_proof_at: datetime | None = None,
    trader_collects: bool = False,
    margin: timedelta = DEFAULT_REFUND_ALERT_MARGIN,
    country: str = "FR",
    store_country: str | None = None,
) -> RefundDeadline:
    """The legal refund deadline (rule D2; L221-24, directive art. 13).

    The store refunds every sum paid, delivery included, at the latest 14 days after it was told
    of the withdrawal (day of notification not counted, ends 24:00 local), carried over to the next
    working day when the 14th day is a Saturday, Sunday or public holiday (regulation 1182/71
    art. 3(4), see the module docstring). The refund is the store's act, done where the store is:
    a holiday of the customer's country (`country`) alone must not push the store's date later, so
    the date is the earlier of the two carried-over days, in `store_country` (default: `country`)
    and in `country`. The customer's own periods (D1, the sending back) keep the customer's country.

    For goods, the store may defer the refund until it has the goods back (`goods_back_at`) or the
    customer has proved dispatch (`dispatch_proof_at`), whichever is earlier; not when it offered
    to collect the goods itself (`trader_collects`). Pass only events that have happened: the
    result says whether the refund may still be withheld and, if not, which event released it.
    """
    notified = local_date(_aware(withdrawal_notified_at, "withdrawal_notified_at"), tz)
    fourteenth = notified + timedelta(days=LEGAL_REFUND_DAYS)
    legal_last, carry_note = min(_carried(fourteenth, country), _carried(fourteenth, store_country or country),
                                 key=lambda carried: carried[0])
    legal = _deadline(
        DeadlineKind.LEGAL_REFUND, legal_last, tz, margin,
        f"D2 refund (L221-24): told of the withdrawal {notified.isoformat()}, refund by {legal_last.isoformat()}"
        f"{carry_note.replace('L221-19', 'regulation 1182/71 art. 3(4)')} 24:00 {tz}, delivery costs included",
    )
    if trader_collects:
        return RefundDeadline(legal=legal, may_withhold=False, withhold_until=(), released_by=None,
                              released_at=None, due=legal)

    events = [
        (_aware(at, name).astimezone(UTC), kind)
        for at, name, kind in (
            (goods_back_at, "goods_back_at", WithholdRelease.GOODS_BACK),
            (dispatch_proof_at, "dispatch_proof_at", WithholdRelease.DISPATCH_PROOF),
        )
        if at is not None
    ]
    if not events:
        return RefundDeadline(legal=legal, may_withhold=True,
                              withhold_until=(WithholdRelease.GOODS_BACK, WithholdRelease.DISPATCH_PROOF),
                              released_by=None, released_at=None, due=legal)

    released_at, released_by = min(events, key=lambda e: e[0])
    release_day = local_date(released_at, tz)
    due = legal
    if release_day > legal_last:
        due_at = end_of_day(release_day, tz)
        due = Deadline(
            kind=DeadlineKind.LEGAL_REFUND, due_at=due_at, act_at=min(released_at, due_at), last_day=release_day,
            note=f"D2 refund (L221-24): withheld past {legal_last.isoformat()} until {released_by.value} on "
                 f"{release_day.isoformat()}: refund now",
        )
    return RefundDeadline(legal=legal, may_withhold=False, withhold_until=(), released_by=released_by,
                          released_at=released_at, due=due)


# -- L221-21: a possible withdrawal read in an email, waiting for the operator ----------------------

WITHDRAWAL_NOTICE_MARGIN_DAYS = 7  # decided a week before the refund it would start is due


def withdrawal_notice_deadline(
    arrived_at: datetime,
    *,
    tz: str,
    country: str = "FR",
    store_country: str | None = None,
    margin_days: int = WITHDRAWAL_NOTICE_MARGIN_DAYS,
) -> Deadline:
    """When the operator must have decided on a possible withdrawal read in an email (L221-21:
    any unambiguous statement counts, from when the mail reached the store: `arrived_at`, not
    when it was read). If it is one, the L221-24 refund is due 14 days later (D2, counted as
    `legal_refund_deadline`); the decision is due `margin_days` before that refund date's last
    day, 24:00 local, so a week is left to refund. The check acts at the due time."""
    legal = legal_refund_deadline(_aware(arrived_at, "arrived_at"), tz=tz, country=country,
                                  store_country=store_country).legal
    if not 0 <= margin_days < LEGAL_REFUND_DAYS:
        raise ValueError(f"margin_days must be within the {LEGAL_REFUND_DAYS} days of the refund")
    last_day = legal.last_day - timedelta(days=margin_days)
    return _deadline(
        DeadlineKind.WITHDRAWAL_NOTICE, last_day, tz, timedelta(0),
        f"possible withdrawal (L221-21) received {local_date(arrived_at, tz).isoformat()}: decide by "
        f"{last_day.isoformat()} 24:00 {tz}; if it is one, the refund is due by {legal.last_day.isoformat()} "
        "(D2, L221-24)",
    )


# -- L221-23: the customer's return shipping -------------------------------------------------------


def return_shipping_deadline(
    withdrawal_notified_at: datetime,
    *,
    tz: str,
    country: str = "FR",
    margin: timedelta = timedelta(0),
) -> Deadline:
    """The customer sends the goods back at the latest 14 days after telling the store of the
    withdrawal (L221-23, directive art. 14(1); rule D3). Counted like D1 (L221-19, regulation
    1182/71): day of notification not counted, 24:00 local, carried over a weekend or holiday,
    since this is the customer's deadline. The check acts at the end (a return never shipped
    is closed, D4) unless a `margin` is given."""
    notified = local_date(_aware(withdrawal_notified_at, "withdrawal_notified_at"), tz)
    last_day, carry_note = _carried(notified + timedelta(days=LEGAL_RETURN_SHIPPING_DAYS), country)
    return _deadline(
        DeadlineKind.RETURN_SHIPPING, last_day, tz, margin,
        f"return shipping (L221-23): told {notified.isoformat()}, goods to be sent by {last_day.isoformat()}"
        f"{carry_note}, until 24:00 {tz}",
    )


# -- F4: the store's promise -----------------------------------------------------------------------


def store_promise_deadline(
    start: datetime,
    business_days: int,
    *,
    tz: str,
    country: str = "FR",
    margin: timedelta = DEFAULT_PROMISE_ALERT_MARGIN,
) -> Deadline:
    """The refund date the store promised (rule F4, D3): `business_days` business days after the
    local day of `start` (that day not counted; Saturdays, Sundays and public holidays of
    `country` skipped), ending 24:00 local. Same date as `domain.cancellation.refund_expected_by`.

    The legal refund date (D2) still applies on top: a promise of more than 10 business days can
    fall after it, so the caller keeps both deadlines."""
    if business_days < 0:
        raise ValueError("business_days must be >= 0")
    started = local_date(_aware(start, "start"), tz)
    last_day = add_business_days(started, business_days, country)
    return _deadline(
        DeadlineKind.STORE_PROMISE, last_day, tz, margin,
        f"F4 store promise: {business_days} business days from {started.isoformat()} = {last_day.isoformat()}",
    )


def promised_refund_day(
    withdrawal_at: datetime,
    *,
    business_days: int,
    tz: str,
    store_country: str = "FR",
    country: str = "FR",
    released_at: datetime | None = None,
    ship_by: date | None = None,
) -> date:
    """The one date every message promises the refund by (F4 within D2, issue 14).

    - Nothing to send back, or the goods / proof of dispatch in (`released_at`): the store's
      promise in business days from then, never later than the legal date (D2, L221-24).
    - Goods still to come back (`ship_by`, the customer's last day to post them, is given): the
      legal date (D2) itself. The message says the refund comes once the parcel or its tracking
      number (proof of dispatch) is in, by that date at the latest, and as soon as one of them
      arrives if neither has by then (L221-24 lets the store wait for them); never the last day
      to post as if it were a refund date.
    """
    legal = legal_refund_deadline(withdrawal_at, tz=tz, country=country, store_country=store_country,
                                  dispatch_proof_at=released_at).due.last_day
    if released_at is None and ship_by is not None:
        return legal
    start = released_at if released_at is not None else withdrawal_at
    promise = add_business_days(local_date(_aware(start, "start"), tz), business_days, store_country)
    return min(promise, legal)


# -- R1: the store's return window -----------------------------------------------------------------


def store_return_window(supplier_windows_days: list[int], *, margin_days: int | None = None) -> int:
    """The return window the store announces, in days (rule R1, floor D1 / L221-18).

    Rule: the shortest supplier window minus a safety margin (default 5 days), never below the
    legal 14 days: `max(14, min(windows) - margin)`. The margin covers the days a customer's
    return spends in transit and in our hands before it reaches the supplier. It reproduces the
    rulebook's examples: a 30-day supplier gives 25 (within "20-25"; a margin of 10 gives 20);
    suppliers at 25 and 20 give 15 "for everything" (one window for the whole store, set by the
    strictest supplier). A supplier below 19 days gives the legal 14: the store then owes more
    than its supplier grants, a gap the operator should see.
    """
    if not supplier_windows_days:
        raise ValueError("no supplier window: the return window derives from the suppliers' windows (R1)")
    if any(w < 0 for w in supplier_windows_days):
        raise ValueError("a supplier window cannot be negative")
    margin = DEFAULT_RETURN_WINDOW_MARGIN_DAYS if margin_days is None else margin_days
    if margin < 0:
        raise ValueError("margin_days must be >= 0")
    return max(LEGAL_WITHDRAWAL_DAYS, min(supplier_windows_days) - margin)


# -- L242-4: surcharge on a late refund ------------------------------------------------------------

ON_TIME = "on time"
_LEGAL_INTEREST_TIER = "legal interest (1-10 days late)"
_PRICE_CAP_TIER = "price of the product reached, then legal interest"
# (last day late of the tier, surcharge rate, tier name); day 1 is the day after the due date.
_FIXED_TIERS: tuple[tuple[int, Decimal, str], ...] = (
    (20, Decimal("0.05"), "+5 % (11-20 days late)"),
    (30, Decimal("0.10"), "+10 % (21-30 days late)"),
    (60, Decimal("0.20"), "+20 % (31-60 days late)"),
    (90, Decimal("0.50"), "+50 % (61-90 days late)"),
)
_MONTH_DAYS = 30
_POINTS_PER_MONTH = Decimal("0.05")
_DAYS_PER_YEAR = Decimal(365)


class Surcharge(BaseModel):
    """The L242-4 surcharge reached on a refund: the tier, its rate and the sums now due.

    `rate` is a fraction (0.05 = 5 %). For the legal-interest tiers it is the annual legal rate,
    `annual` is True and the surcharge is that rate prorated over the days counted.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    days_late: int
    tier: str
    rate: DecimalStr
    annual: bool
    surcharge: Money
    total_due: Money


def _tier_rate(days_late: int) -> tuple[Decimal, str]:
    for last_day, rate, name in _FIXED_TIERS:
        if days_late <= last_day:
            return rate, name
    month = -(-days_late // _MONTH_DAYS)  # month 4 = days 91-120, month 5 = days 121-150, ...
    rate = Decimal("0.50") + _POINTS_PER_MONTH * (month - 3)
    return rate, f"+{rate * 100:.0f} % (month {month} late)"


def _interest(amount: Money, rate: Decimal, days: int) -> Money:
    return Money(amount=amount.amount * rate * days / _DAYS_PER_YEAR, currency=amount.currency)


def late_refund_surcharge(
    refund_due: date,
    paid_on: date | None,
    *,
    today: date,
    amount: Money,
    legal_interest_rate: Decimal,
    product_price: Money | None = None,
) -> Surcharge:
    """The surcharge owed "de plein droit" on a late refund (L242-4), on the sums due (`amount`).

    `refund_due` is the last day of the L221-24 period (`RefundDeadline.due.last_day`). The delay
    runs from the day after it to the day the refund was made (`paid_on`) or, while it is still
    unpaid, to `today`: paid on the due day = 0 days late = "on time"; the next day = 1 day late.

    How we read the tiers (days late, each bound inclusive):
    - 1-10: an increase by the legal interest rate ("majorées du taux d'intérêt légal si le
      remboursement intervient au plus tard dix jours après"), read as service-public.fr lists it:
      a flat surcharge of amount x rate, as the other tiers are flat percentages (issue 14).
    - 11-20: +5 %; 21-30: +10 %; 31-60: +20 %; 61-90: +50 % ("compris entre dix et vingt jours"
      and so on: a tier starts the day after the previous one's upper bound).
    - from day 91, +5 points for each month of delay begun, a month being 30 days as in the tiers
      above: days 91-120 +55 %, 121-150 +60 %, ...
    - "jusqu'au prix du produit": the surcharge never exceeds `product_price` (default: `amount`,
      i.e. 100 % of the sums due). From the first day the cap is reached, legal interest on the
      sums due runs on top for each further day ("puis du taux d'intérêt légal").

    `legal_interest_rate` is a fraction (Decimal("0.0665") for 6.65 %), the rate for creditors
    who are consumers in force at the time; it is passed in, never hard-coded.
    """
    if not Decimal(0) <= legal_interest_rate < 1:
        raise ValueError("legal_interest_rate is a fraction: pass Decimal('0.0665') for 6.65 %")
    if paid_on is not None and paid_on > today:
        raise ValueError(f"paid_on {paid_on.isoformat()} is after today {today.isoformat()}")
    cap = amount if product_price is None else product_price
    if cap.currency != amount.currency:
        raise ValueError(f"currency mismatch: {amount.currency} vs {cap.currency}")
    end = paid_on if paid_on is not None else today
    days_late = (end - refund_due).days

    def result(tier: str, rate: Decimal, annual: bool, surcharge: Money) -> Surcharge:
        return Surcharge(days_late=max(days_late, 0), tier=tier, rate=rate, annual=annual, surcharge=surcharge,
                         total_due=amount + surcharge)

    if days_late <= 0:
        return result(ON_TIME, Decimal(0), False, Money.zero(amount.currency))
    if days_late <= 10:
        return result(_LEGAL_INTEREST_TIER, legal_interest_rate, False, amount * legal_interest_rate)
    rate, name = _tier_rate(days_late)
    surcharge = amount * rate
    if surcharge < cap:
        return result(name, rate, False, surcharge)
    first_capped_day = next(d for d in range(11, days_late + 1) if amount * _tier_rate(d)[0] >= cap)
    interest = _interest(amount, legal_interest_rate, days_late - first_capped_day)
    return result(_PRICE_CAP_TIER, legal_interest_rate, True, cap + interest)
