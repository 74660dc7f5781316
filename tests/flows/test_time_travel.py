"""Time travel (issue: returns, D1-D4): about 200 returns over 60 simulated days, the clock
injected, with faults: the mail server down for a day, suppliers that never answer, customers
that never ship, a worker crash in the middle of a refund.

Size: `AFTERSALES_TIME_TRAVEL_CASES` returns (default 200, the full size) plus a few carrier
cases. CI (`bash tests/run.sh`) runs 40: every script kind below at least twice, the same 60
days, the mail server's day off and the crash (issue 22: at 20 returns, half of the run was
the 63 daily checks; docs/status.md). The full size, by command:

    AFTERSALES_TIME_TRAVEL_CASES=200 uv run pytest tests/flows/test_time_travel.py -q

Every simulated day the world acts (customers, suppliers, the operator recording what
suppliers say, through the receiver's real endpoints), the inbound events are handled, and
the scheduled check runs (`sweep-deadlines`, as deployed). At the end:
- no deadline is missed: every refund is archived before its legal date (D2), and no deadline
  due before the end is still open;
- no refund is made twice: one archive row at most per case, one refund per order in the store,
  never more refunded than received (F5);
- every case is done (closed, refused, expired) or with the operator, as its script expects.

Beside them, a few cases where only the carrier knows (issue 19), read at the carriers' fakes
(La Poste Suivi v2, DHL Unified) by the same scheduled check: orders whose delivery Shopify never
learns, delivered per La Poste (D1 and the 14-day withdrawal from the carrier's date: the return
goes on) or per DHL more than 14 days before the request (refused from the carrier's date); a
return parcel followed at DHL to the supplier's postcode, the goods back at the carrier's time
and refunded by the legal date with no word from the supplier; a parcel silent for weeks, to the
operator as lost in transit.

To keep the run short, the inbound events of a tick are handled in one batch flow, and the
deadline check brings cases back in its own run rather than one subflow each: both call
`flows.returns.handle`, the body of the process-return flow, without the run's renaming and
timeline artifact (tested elsewhere). The check itself is the deployed `sweep-deadlines` flow.
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pytest
from prefect import flow

from flows.returns import handle
from flows.sweep import sweep_deadlines
from ledger import cases, deadlines, records
from ledger.models import Case, set_clock, utcnow
from sandbox.carriers_fake import RunningFakeCarriers, start_fake_carriers
from tasks import faults
from tests.flows.conftest import World

STORE = "maison-lumiere.myshopify.com"
N_CASES = int(os.environ.get("AFTERSALES_TIME_TRAVEL_CASES", "200"))
CI_CASES = 40  # what tests/run.sh runs: every kind at least twice (test_every_size_from_ci_up_plays_every_script_kind)
DAYS = 60
TICK = timedelta(hours=24)
SMTP_DOWN = (10, 11)  # simulated days: the mail server refuses everything (4xx) for a day
CRASH_DAY = 20  # a worker dies right after Shopify made a refund, before it is recorded

# kind -> (reason, price, share of cases); each kind has its expected end.
KINDS: dict[str, tuple[str, str, float]] = {
    "full": ("changed_mind", "59.00", 0.30),  # the whole R6 procedure, refund after inspection
    "misuse": ("changed_mind", "45.00", 0.05),  # R7: partial refund, photos kept
    "no_report": ("not_as_described", "79.00", 0.10),  # no inspection report: refund in full at the deadline
    "no_receipt": ("changed_mind", "39.00", 0.10),  # never confirmed received: refund on dispatch proof (D2)
    "never_ships": ("changed_mind", "35.00", 0.10),  # reminded, then closed (L221-23)
    "silent_supplier": ("not_as_described", "99.00", 0.05),  # no return address: the operator
    "exchange": ("wrong_colour", "49.00", 0.10),  # exchange: the replacement ships
    "keep_it": ("damaged", "9.90", 0.10),  # R5: keep it, replacement
    "late": ("changed_mind", "29.00", 0.10),  # asked after the window: refused
}
# Only the carrier knows (issue 19): kind -> (reason, price, carrier of the parcel). A few cases each.
CARRIER_KINDS: dict[str, tuple[str, str, str]] = {
    "carrier_d1": ("changed_mind", "55.00", "laposte"),  # no Shopify delivery: La Poste's DI1 is D1, in window
    "carrier_late": ("changed_mind", "65.00", "dhl"),  # no Shopify delivery: DHL's delivery > 14 days before
    "carrier_return": ("changed_mind", "69.00", "dhl"),  # the return parcel at DHL, the supplier silent
    "carrier_lost": ("changed_mind", "42.00", "laposte"),  # no scan for weeks: lost in transit
}


def _carrier_cases(n_cases: int) -> int:
    """How many cases of each carrier kind go with `n_cases` returns."""
    return max(2, n_cases // 50)


FINISHED = {"closed", "refused", "expired", "needs_operator"}
EXPECTED = {
    "full": {"closed"}, "misuse": {"closed"}, "no_report": {"closed"}, "no_receipt": {"closed"},
    "never_ships": {"expired"}, "silent_supplier": {"needs_operator"}, "exchange": {"closed"},
    "keep_it": {"closed"}, "late": {"refused"},
    "carrier_d1": {"closed"}, "carrier_late": {"refused"}, "carrier_return": {"closed"},
    "carrier_lost": {"needs_operator"},
}
SILENT_SUPPLIER = {"no_receipt", "carrier_return"}  # never confirm the goods received
NO_REPORT = {"no_report", "carrier_return"}  # never report the inspection


@dataclass
class Script:
    number: int
    kind: str
    ask_at: datetime
    delivered_at: datetime
    answer_after: timedelta
    ship_after: timedelta
    transit: timedelta
    report_after: timedelta
    seen: dict[str, datetime] = field(default_factory=dict)  # state -> when first seen
    parcel: str | None = None  # the outbound parcel's number at the carrier (carrier kinds)
    return_parcel: str | None = None  # carrier_return: the return parcel's DHL number
    return_delivered_at: datetime | None = None  # ... delivered to the supplier, per DHL
    outbound_transit: timedelta = timedelta(days=3)  # from the supplier's dispatch to the delivery
    shipped_at: datetime | None = None  # when the simulated customer sent the tracking
    done: set[str] = field(default_factory=set)  # actions already taken

    @property
    def name(self) -> str:
        return f"#{self.number}"

    @property
    def email(self) -> str:
        return f"client{self.number}@example.com"


def _scripts(start: datetime, n_cases: int = N_CASES) -> list[Script]:
    rng = random.Random(20261122)
    kinds = [k for k, (_, _, share) in KINDS.items() for _ in range(round(share * n_cases))]
    rng.shuffle(kinds)
    out = []
    for i, kind in enumerate(kinds):
        ask_at = start + timedelta(days=rng.uniform(0, 35))
        days_since_delivery = rng.uniform(25, 40) if kind == "late" else rng.uniform(0.5, 12)
        out.append(Script(
            number=3000 + i, kind=kind, ask_at=ask_at, delivered_at=ask_at - timedelta(days=days_since_delivery),
            answer_after=timedelta(hours=rng.uniform(1, 10)), ship_after=timedelta(days=rng.uniform(0.5, 6)),
            transit=timedelta(days=rng.uniform(2, 7)), report_after=timedelta(days=rng.uniform(0, 2)),
        ))
    crng = random.Random(20261206)  # the carrier cases draw apart: the cases above stay as they were
    for i, kind in enumerate(k for k in CARRIER_KINDS for _ in range(_carrier_cases(n_cases))):
        ask_at = start + timedelta(days=crng.uniform(0, 30))
        # carrier_lost: asked when even the window counted from the dispatch has ended (before, the
        # return is in time whatever the delivery day and nobody needs the parcel's story)
        since = {"carrier_late": crng.uniform(25, 40), "carrier_lost": crng.uniform(25, 32)}.get(
            kind, crng.uniform(0.5, 10))
        number = 3500 + i
        parcel = f"6A{number:011d}" if CARRIER_KINDS[kind][2] == "laposte" else f"{number:010d}"
        out.append(Script(
            number=number, kind=kind, ask_at=ask_at, delivered_at=ask_at - timedelta(days=since),
            answer_after=timedelta(hours=crng.uniform(1, 10)), ship_after=timedelta(days=crng.uniform(0.5, 4)),
            transit=timedelta(days=crng.uniform(2, 6)), report_after=timedelta(days=crng.uniform(0, 2)),
            parcel=parcel if kind != "carrier_return" else None,
            # carrier_d1: a slow cross-border line, so the window counted from the dispatch has
            # ended: only the delivery date (the carrier's) can say the request is in time
            outbound_transit=timedelta(days=crng.uniform(24, 30) if kind == "carrier_d1" else 3),
            return_parcel=f"55{number:08d}" if kind == "carrier_return" else None,
        ))
    return out


def _price(s: Script) -> str:
    return (KINDS[s.kind] if s.kind in KINDS else CARRIER_KINDS[s.kind])[1]


def _reason(s: Script) -> str:
    return (KINDS[s.kind] if s.kind in KINDS else CARRIER_KINDS[s.kind])[0]


def _fulfillment(s: Script) -> dict[str, Any]:
    if s.parcel is None:  # Shopify knows the delivery
        return {"tracking_company": "Colissimo", "tracking_number": f"6A{s.number}FR",
                "shipped_at": (s.delivered_at - s.outbound_transit).isoformat(),
                "delivered_at": s.delivered_at.isoformat(), "display_status": "DELIVERED"}
    company = "Colissimo" if CARRIER_KINDS[s.kind][2] == "laposte" else "DHL Express"
    return {"tracking_company": company, "tracking_number": s.parcel,  # the supplier's line: no scan reaches Shopify
            "shipped_at": (s.delivered_at - s.outbound_transit).isoformat(), "display_status": "IN_TRANSIT"}


def _carrier_story(s: Script) -> dict[str, Any] | None:
    """The outbound parcel as its carrier knows it (seeded before the world starts: every event is
    in the past when the product first reads it, at the request)."""
    if s.parcel is None:
        return None
    shipped = s.delivered_at - s.outbound_transit
    if CARRIER_KINDS[s.kind][2] == "laposte":
        events = [{"code": "DR1", "at": (shipped - timedelta(hours=6)).isoformat()},
                  {"code": "PC1", "at": shipped.isoformat()}]
        if s.kind != "carrier_lost":  # a lost parcel: taken in charge, then nothing
            events += [{"code": "ET1", "at": (shipped + timedelta(days=1)).isoformat()},
                       {"code": "MD2", "at": (s.delivered_at - timedelta(hours=4)).isoformat()},
                       {"code": "DI1", "at": s.delivered_at.isoformat()}]
        return {"carrier": "laposte", "number": s.parcel, "events": events}
    return {"carrier": "dhl", "number": s.parcel, "events": [
        {"code": "pre-transit", "at": (shipped - timedelta(hours=6)).isoformat()},
        {"code": "transit", "at": shipped.isoformat(), "city": "Leipzig", "country": "DE"},
        {"code": "delivered", "at": s.delivered_at.isoformat(), "city": "Paris", "postcode": "75002",
         "country": "FR", "label": "Delivered"}]}


def _order(s: Script) -> dict[str, Any]:
    price = _price(s)
    return {
        "number": s.number, "created_at": (s.delivered_at - s.outbound_transit - timedelta(days=3)).isoformat(),
        "customer": {"first_name": "Client", "last_name": str(s.number), "email": s.email, "locale": "fr"},
        "line_items": [{"title": f"Article {s.number}", "variant_title": None, "sku": f"ATL-TT-{s.number}",
                        "vendor": "Atelier Lyon", "product_type": "Décoration", "price": price, "quantity": 1}],
        "tags": ["sent-to-supplier"], "shipping_price": "4.90",
        "shipping_address": {"address1": "1 rue de la Paix", "city": "Paris", "zip": "75002", "country_code": "FR"},
        "fulfillment": _fulfillment(s),
    }


@flow(name="time-travel-tick")
async def _handle_batch(event_ids: list[str]) -> dict[str, int]:
    """The inbound events of one tick, each as process-return would handle it. A crash of one
    (the injected fault) is what a dead worker leaves behind: the others go on."""
    outcome = {"ok": 0, "crashed": 0}
    for event_id in event_ids:
        try:
            await handle(inbound_event_id=event_id)
            outcome["ok"] += 1
        except Exception:
            outcome["crashed"] += 1
    return outcome


class Sim:
    def __init__(self, world: World, db: Any, start: datetime, carriers: RunningFakeCarriers) -> None:
        self.world, self.db, self.now, self.carriers = world, db, start, carriers
        self.legacy: dict[str, str] = {}
        self.open_now: dict[str, Case] | None = None
        set_clock(lambda: self.now)

    async def case(self, s: Script) -> Case | None:
        if self.open_now is not None:
            found = self.open_now.get(self.legacy[s.name])
            if found is not None:
                return found
        return await cases.find_case(self.db, f"return:{STORE}:{self.legacy[s.name]}")

    async def refresh(self) -> None:
        """One read of the open returns per tick, instead of one per script."""
        self.open_now = {c.order_ref or "": c for c in await cases.open_cases(self.db, "return")}

    async def post(self, path: str, body: dict[str, Any], *, operator: bool = False) -> str | None:
        headers = {"Authorization": "Bearer sandbox-operator-token"} if operator else {}
        r = await self.world.receiver.post(path, json=body, headers=headers)
        assert r.status_code == 202, (path, r.status_code, r.text)
        return str(r.json()["event_id"]) if r.json()["status"] == "received" else None

    async def carrier(self, path: str, body: dict[str, Any]) -> None:
        r = await self.world.http.post(f"{self.carriers.root_url}/_control/{path}", json=body)
        r.raise_for_status()

    async def return_parcel_moves(self, s: Script) -> None:
        """carrier_return: DHL scans the return parcel as the days pass (what a read finds is only
        what happened by then), and delivers it to the supplier's postcode (its return address)."""
        if s.return_parcel is None or s.shipped_at is None:
            return
        for step, at, event in (
                ("r_transit", s.shipped_at + timedelta(days=1),
                 {"code": "transit", "city": "Paris", "postcode": "75002", "country": "FR"}),
                ("r_delivered", s.shipped_at + s.transit,
                 {"code": "delivered", "city": "Lyon", "postcode": "69007", "country": "FR", "label": "Delivered"})):
            if step not in s.done and self.now >= at:
                s.done.add(step)
                await self.carrier(f"parcels/dhl/{s.return_parcel}/events", {**event, "at": at.isoformat()})
                if step == "r_delivered":
                    s.return_delivered_at = at

    async def act(self, s: Script) -> str | None:
        """What the customer and the supplier do now, given where the case is."""
        reason = _reason(s)
        if "ask" not in s.done:
            if self.now < s.ask_at:
                return None
            s.done.add("ask")
            return await self.post("/requests/return", {
                "order_number": s.name, "email": s.email, "reason": reason,
                "photo_urls": ["https://photos.example/p.jpg"] if reason == "damaged" else []})
        if "finished" in s.done:
            return None
        case = await self.case(s)
        if case is None:
            return None
        if case.state in FINISHED:
            s.done.add("finished")
            return None
        s.seen.setdefault(case.state, min(self.now, case.updated_at))
        since = self.now - s.seen[case.state]
        update = {"order_number": s.name, "supplier_id": "atelier-lyon"}
        if case.state == "awaiting_supplier" and s.kind != "silent_supplier" and since >= s.answer_after \
                and "answer" not in s.done:
            s.done.add("answer")
            return await self.post("/operator/return-updates", {**update, "event": "supplier_answer",
                                                                 "answer": "accepted", "rma": f"RMA{s.number}"},
                                   operator=True)
        if case.state == "awaiting_shipment" and s.kind != "never_ships" and since >= s.ship_after \
                and "ship" not in s.done:
            s.done.add("ship")
            s.shipped_at = self.now
            if s.return_parcel:  # posted at DHL: the label is known at once
                await self.carrier("parcels", {"carrier": "dhl", "number": s.return_parcel, "events": [
                    {"code": "pre-transit", "at": self.now.isoformat(), "city": "Paris", "country": "FR"}]})
            return await self.post("/requests/return-tracking", {"order_number": s.name, "email": s.email,
                                                                 "tracking_number": s.return_parcel
                                                                 or f"8R{s.number}FR"})
        if case.state == "in_transit" and s.kind not in SILENT_SUPPLIER and since >= s.transit \
                and "receipt" not in s.done:
            s.done.add("receipt")
            return await self.post("/operator/return-updates", {**update, "event": "received"}, operator=True)
        if case.state == "inspecting" and s.kind not in NO_REPORT and since >= s.report_after \
                and "report" not in s.done:
            s.done.add("report")
            misuse = s.kind == "misuse"
            return await self.post("/operator/return-updates", {
                **update, "event": "inspected", "outcome": "unsellable_misuse" if misuse else "resellable",
                "photo_urls": ["https://photos.example/scratch.jpg"] if misuse else []}, operator=True)
        if case.state == "replacing" and since >= timedelta(days=2) and "replaced" not in s.done:
            s.done.add("replaced")
            return await self.post("/operator/return-updates", {**update, "event": "replacement_shipped",
                                                                 "tracking_number": f"9X{s.number}FR"},
                                   operator=True)
        return None


@pytest.mark.parametrize("n_cases", [CI_CASES, 120, 200])
def test_every_size_from_ci_up_plays_every_script_kind(n_cases: int) -> None:
    """The CI size is a smaller world, not a narrower one: every kind of script at least twice,
    some returns still asked after the crash day (the crash is armed from then on), every
    return number distinct."""
    start = datetime(2026, 1, 5, 9, 0)
    scripts = _scripts(start, n_cases)
    counts = {kind: sum(s.kind == kind for s in scripts) for kind in [*KINDS, *CARRIER_KINDS]}
    assert min(counts.values()) >= 2, counts
    assert sum(counts[k] for k in KINDS) == n_cases
    assert any(s.kind == "full" and s.ask_at >= start + timedelta(days=CRASH_DAY) for s in scripts)
    assert len({s.number for s in scripts}) == len(scripts)


@pytest.fixture
def carriers(monkeypatch: pytest.MonkeyPatch) -> Iterator[RunningFakeCarriers]:
    """La Poste and DHL at their fakes (issue 19); AfterShip stays unset, as the cases above never
    had a carrier: their made-up return numbers are read by no API, as before."""
    running = start_fake_carriers(port=0, dhl_daily_quota=1_000_000)  # the fake's count is real-time
    monkeypatch.setenv("AFTERSALES_LAPOSTE_BASE_URL", running.laposte_url)
    monkeypatch.setenv("AFTERSALES_DHL_BASE_URL", running.dhl_url)
    for name in ("LAPOSTE", "DHL"):
        monkeypatch.setenv(f"AFTERSALES_{name}_MIN_INTERVAL_SECONDS", "0")
    yield running
    running.stop()


@pytest.fixture
def no_real_retry_sleeps(monkeypatch: pytest.MonkeyPatch) -> None:
    """Simulated time: a task's retry waits (seconds of real time) would not move the clock,
    only slow the run. The retries themselves stay."""
    from prefect import Task

    from tasks import notify, returns, store, suppliers

    for module in (notify, returns, store, suppliers):
        for value in vars(module).values():
            if isinstance(value, Task) and value.retries:
                monkeypatch.setattr(value, "retry_delay_seconds", [0.0] * value.retries)


@pytest.fixture
def reruns_in_the_check(monkeypatch: pytest.MonkeyPatch) -> None:
    """The check advances a case in its own run (see the module docstring)."""
    import flows.sweep

    async def rerun(case: Case) -> None:
        try:
            await handle(case_id=case.id)
        except Exception as exc:  # as the real _rerun: the next check retries
            print(f"case {case.id} could not be advanced now: {exc!r}")

    monkeypatch.setattr(flows.sweep, "_rerun", rerun)


@pytest.mark.usefixtures("no_real_retry_sleeps", "reruns_in_the_check")
@pytest.mark.timeout(1200)
async def test_two_hundred_returns_over_sixty_days_miss_no_deadline_and_refund_once(
        world: World, db: Any, monkeypatch: pytest.MonkeyPatch, carriers: RunningFakeCarriers) -> None:
    start = utcnow()
    scripts = _scripts(start)
    sim = Sim(world, db, start, carriers)
    try:
        for s in scripts:
            r = await world.http.post(f"{world.sandbox.shopify.base_url}/_control/orders", json=_order(s))
            r.raise_for_status()
            sim.legacy[s.name] = str(r.json()["legacy_id"])
            if (story := _carrier_story(s)) is not None:
                await sim.carrier("parcels", story)
        crashed = 0
        end = start + timedelta(days=DAYS)
        while sim.now < end:
            day = (sim.now - start).days
            smtp_down = SMTP_DOWN[0] <= day < SMTP_DOWN[1]
            world.sandbox.smtp.set_fault("tempfail" if smtp_down else "ok", 100_000)
            await sim.refresh()
            for s in scripts:
                await sim.return_parcel_moves(s)
            events = [e for s in scripts if (e := await sim.act(s)) is not None]
            sim.open_now = None
            crash_now = day >= CRASH_DAY and not crashed  # armed until a refund really crashed once
            if crash_now:
                faults.reset()
                monkeypatch.setenv("AFTERSALES_FAULTS", "after_call:shopify.refund_create:1")
            if events:
                outcome = await _handle_batch(events)
                crashed += outcome["crashed"]
            if crash_now:
                monkeypatch.delenv("AFTERSALES_FAULTS")
            await sweep_deadlines(scope="deadlines")
            sim.now += TICK
        world.sandbox.smtp.set_fault("ok", 1)
        for _ in range(3):  # the last checks after the world stopped acting
            await sweep_deadlines(scope="deadlines")
            checked_at = sim.now
            sim.now += TICK

        # -- every case is done or with the operator, as its script expects
        by_state: dict[str, list[str]] = {}
        wrong = []
        for s in scripts:
            case = await sim.case(s)
            assert case is not None, s.name
            by_state.setdefault(case.state, []).append(s.name)
            if case.state == "expired" and s.kind != "never_ships":
                # Only a customer who really sent nothing in time may see the return closed (L221-23).
                shipping = next(d for d in await deadlines.deadlines_for_case(db, case.id)
                                if d.kind == "return_shipping")
                if s.shipped_at is None or s.shipped_at > shipping.due_at:
                    continue
            if case.state not in EXPECTED[s.kind]:
                wrong.append((s.name, s.kind, case.state, case.needs_operator_reason, s.shipped_at,
                              [e.summary for e in (await cases.timeline(db, case.id))[-4:]]))
        assert not wrong, wrong
        print({k: len(v) for k, v in by_state.items()}, "crashed runs:", crashed)

        # -- no refund twice (F5), never more than received
        for s in scripts:
            case = await sim.case(s)
            assert case is not None
            refunds = await records.refunds_for_case(db, case.id)
            assert len(refunds) <= 1, (s.name, refunds)
            r = await world.http.get(f"{world.sandbox.shopify.base_url}/_control/orders/{sim.legacy[s.name]}")
            raw = r.json()
            assert float(raw["refunded"]) <= float(raw["received"])
            assert len(raw.get("refunds", [])) == len(refunds), (s.name, raw.get("refunds"), refunds)
            if s.kind in ("full", "no_report", "no_receipt", "carrier_d1", "carrier_return"):
                assert refunds and refunds[0].amount == raw["received"], (s.name, refunds)
            if s.kind == "misuse":
                # R7 applies when the report came before the refund; when the legal date came
                # first (D2), the refund was made in full and the late report changes nothing.
                misuse = (case.data.get("inspection") or {}).get("outcome") == "unsellable_misuse"
                assert refunds and (float(refunds[0].amount) < float(raw["received"])) == misuse, (s.name, refunds)

            # -- no deadline missed (D2, D4): none due before the last check is still open (a parcel's
            # next read, every 12 h, may fall after it: the world has stopped, not the check)
            for d in await deadlines.deadlines_for_case(db, case.id):
                assert not (d.status == "open" and d.due_at < checked_at), (s.name, d.kind, d.due_at)
                if d.kind == "legal_refund" and refunds:
                    assert refunds[0].created_at <= d.due_at, (s.name, "refund late", refunds[0].created_at, d)
        assert crashed >= 1  # the crash really happened, and still no refund twice

        # -- only the carrier knew (issue 19)
        for s in scripts:
            if s.kind not in CARRIER_KINDS:
                continue
            case = await sim.case(s)
            assert case is not None
            if s.kind in ("carrier_d1", "carrier_late"):  # D1 is the carrier's date, to the second
                assert s.parcel is not None
                said = case.data["carrier_delivery"][s.parcel]
                assert datetime.fromisoformat(said["at"]) == s.delivered_at, (s.name, said)
                if s.kind == "carrier_late":  # refused on the carrier's date: its window had ended
                    assert case.data["eligibility"]["status"] == "out_of_window", (s.name, case.data["eligibility"])
            if s.kind == "carrier_return":  # the goods back at DHL's time, at the supplier's postcode
                assert s.return_delivered_at is not None, s.name
                assert datetime.fromisoformat(case.data["received_at"]) == s.return_delivered_at, s.name
                assert case.data["return_delivery"]["postcode"] == "69007"
            if s.kind == "carrier_lost":
                reasons = [r.reason_code for r in await records.reviews_for_case(db, case.id)]
                assert reasons.count("parcel_lost") == 1, (s.name, reasons)

        # -- the mail server's day off lost nothing: every refunded case got its confirmation
        for s in scripts:
            case = await sim.case(s)
            assert case is not None
            if await records.refunds_for_case(db, case.id):
                sent = [m for m in await records.messages_for_case(db, case.id) if m.template == "refund_confirmed"]
                assert len(sent) == 1, (s.name, [m.template for m in await records.messages_for_case(db, case.id)])
    finally:
        set_clock(None)
