"""Proof under faults: duplicate and out-of-order deliveries, workers killed at task
boundaries, the store, the supplier, the mail server and the database failing, the Prefect
server stopped; every figure read back from the vendors' own logs (docs/faults.md).

Each test plays its own cases (their own orders) on the shared stack (conftest.py) and fails
when a duplicate or a loss figure is not 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import time
from datetime import datetime
from typing import Any

import pytest

from domain.inbound import CONSUMER_EVENT_NAMES
from ledger.models import utcnow
from sandbox.stack import terminate_pg_connections
from tests.faults.lab import CASES, REPORTS, SEED, TEMPLATES, Figures, Instance, Lab
from tests.faults.stack import Stack

WORKER_KILLS = int(os.environ.get("AFTERSALES_FAULT_WORKER_KILLS", "0"))  # whole workers killed, at most

pytestmark = [pytest.mark.timeout(max(900, CASES * 40)), pytest.mark.postgres]

_numbers = iter(range(20_000, 99_999))


def _lab(stack: Stack, rng: random.Random) -> Lab:
    lab = Lab(http=stack.http, receiver=stack.receiver.url, shopify=stack.shopify.base_url, cj=stack.cj.root_url,
              stripe=stack.stripe.base_url, smtp=stack.smtp, workers=stack.workers, automations=stack.automations,
              rng=rng, clock=stack.clock)
    lab.job_log = stack.home / "jobs.jsonl"
    return lab


def _instances(n: int, templates: list[str]) -> list[Instance]:
    return [Instance(TEMPLATES[templates[i % len(templates)]], next(_numbers)) for i in range(n)]


async def _check(stack: Stack, fig: Figures) -> None:
    REPORTS.append(fig)
    print(fig.table())
    if fig.failures():  # what the vendors saw, for the post-mortem
        dump = {"figures": fig.as_json(), "ledger": stack.db_url,
                "shopify_calls": (await stack.http.get(f"{stack.shopify.base_url}/_control/calls")).json(),
                "cj_calls": (await stack.http.get(f"{stack.cj.root_url}/_control/calls")).json(),
                "stripe_calls": (await stack.http.get(f"{stack.stripe.base_url}/_control/calls")).json(),
                "mails": [{"to": m.envelope_to, "subject": m.subject, "message_id": m.message_id}
                          for m in stack.smtp.messages]}
        path = stack.home / f"failure-{len(REPORTS)}.json"
        path.write_text(json.dumps(dump, indent=1, default=str), encoding="utf-8")
        fig.notes.append(f"vendors' logs written to {path}")
    assert not fig.failures(), "\n".join(fig.failures())


async def test_workers_killed_at_task_boundaries_lose_nothing_and_do_nothing_twice(stack: Stack) -> None:
    """On the production fork worker (`python -m deployments.worker`, issue 16): every case's runs
    are killed (SIGKILL) at random task boundaries, the scheduled check too: a run's fork alone,
    or, for some, the whole worker (its process, its warm parent, every fork: the other runs die
    wherever they are), which is started again. Duplicate and out-of-order deliveries throughout.
    The leases expire and the check brings everything back."""
    started = time.monotonic()
    rng = random.Random(SEED)
    lab = _lab(stack, rng)
    fig = lab.figures = Figures(f"workers killed at task boundaries ({CASES} cases, seed {SEED})")
    lab.kill_rate, lab.kill_sweeps = 0.7, True
    # a whole worker killed costs its restart (~10 CPU s: the worker's and its warm parent's imports).
    # Opt-in (`AFTERSALES_FAULT_WORKER_KILLS=3`), not in CI: a run that dies with its worker stays
    # Running at the Prefect server until prefect.yaml's `aftersales-crash-silent-runs` marks it
    # Crashed (90 s of Prefect's real clock, which the lab cannot move); this stack does not register
    # that automation and the rounds below do not wait for it, so a case whose run died that way
    # before the case existed is stranded (seen in CI). A whole worker killed, in CI:
    # test_worker_killed.py (docs/faults.md).
    lab.worker_kill_share, lab.worker_kills_left = (0.15, WORKER_KILLS) if WORKER_KILLS else (0.0, 0)
    restarts_before = [len(w.restarts) for w in stack.workers]
    instances = _instances(CASES, sorted(TEMPLATES))
    for inst in instances:
        await lab.seed(inst)
    await lab.settle(instances, max_rounds=20)
    # How many armed processes reach their boundary depends on how the runs fall into jobs, so on
    # the machine's pace (8 to 30 kills seen at 36 cases): until the matrix has really killed,
    # more cases are played under the same faults (every one of them measured like the rest).
    target = CASES // 4
    for _ in range(3):
        if fig.runs_killed >= target and (fig.workers_killed or not WORKER_KILLS):
            break
        more = _instances(max(4, CASES // 4), sorted(TEMPLATES))
        fig.notes.append(f"{fig.runs_killed} kills < {target}: {len(more)} more cases played under the faults")
        if WORKER_KILLS:
            lab.worker_kills_left = max(lab.worker_kills_left, 1 if not fig.workers_killed else 0)
        for inst in more:
            await lab.seed(inst)
        instances += more
        await lab.settle(more, max_rounds=20)
    lab.kill_rate = 0.0
    await lab.settle(instances, max_rounds=4)
    await lab.finish_deadlines(instances)
    await lab.measure(fig, instances)
    fig.cases_killed = len({r for r in lab.ever_killed})
    restarts = [s for w, n in zip(stack.workers, restarts_before, strict=True) for s in w.restarts[n:]]
    fig.notes.append(f"fork workers started again after a kill: {len(restarts)} "
                     f"({', '.join(f'{s:.0f}' for s in restarts)} s)")
    fig.seconds = time.monotonic() - started
    await _check(stack, fig)
    # The matrix must really kill, at each kind of boundary, and kill a whole worker (more cases were
    # played above until it did).
    assert fig.runs_killed >= target, "the matrix must really kill"
    if WORKER_KILLS:
        assert fig.workers_killed >= 1, "the matrix must really kill a whole worker"
    assert {k.split()[1] for k in fig.kills} == {"before_call", "after_call", "after_record"}, fig.kills


# -- the vendors fail ---------------------------------------------------------------------------------

SHOPIFY_FAULTS = [  # (root field, kind, count): Shopify's failure modes (INTEGRATIONS.md 1.2, 1.3)
    *((field, kind, 1) for field in ("orderCancel", "refundCreate")
      for kind in ("throttled", "http_429", "http_500", "timeout", "http_500_after_commit")),
    ("order", "http_500", 2), ("order", "throttled", 2), ("order", "timeout", 1),
    ("returnRequest", "http_500_after_commit", 1), ("returnApproveRequest", "timeout", 1),
    ("returnProcess", "http_500_after_commit", 1), ("disputeEvidenceUpdate", "http_500_after_commit", 1),
    ("disputeEvidenceUpdate", "timeout", 1), ("fulfillmentOrderHold", "http_500", 1),
]
CJ_FAULTS = [  # (path, kind, count): CJ down for a while, then its failure modes one by one
    ("/shopping/order/getOrderDetail", "http_500", 8), ("/shopping/order/deleteOrder", "http_500_after_commit", 1),
    ("/shopping/order/deleteOrder", "timeout", 1), ("/shopping/order/deleteOrder", "rate_limited", 1),
    ("/disputes/create", "http_500_after_commit", 1), ("/disputes/create", "timeout", 1),
    ("/disputes/getDisputeList", "http_500", 3),
]
STRIPE_FAULTS = [("http_500_after_commit", 1), ("http_502_after_commit", 1), ("timeout", 1), ("rate_limited", 1)]
SMTP_ROUNDS = [("tempfail", 4), ("reject", 1), ("drop", 1), ("stall", 1), ("tempfail", 2)]  # one mode per round


async def test_store_supplier_mail_and_processor_failing_lose_nothing_and_do_nothing_twice(stack: Stack) -> None:
    """The store answers THROTTLED, 429, 5xx, times out, or commits then answers 500; CJ is
    down, then fails each way; the mail server answers 4xx, 5xx, drops the line or never
    answers; Stripe commits then answers 500 or 502, or times out. No kills: the product's
    own retries, reads and the check are what recover."""
    started = time.monotonic()
    n = min(max(9, CASES // 4), 36)
    lab = _lab(stack, random.Random(SEED + 1))
    fig = lab.figures = Figures(f"store, CJ, mail server and Stripe failing ({n} cases)")
    instances = _instances(n, sorted(TEMPLATES))
    for inst in instances:
        await lab.seed(inst)
    http, shopify, cj, stripe = stack.http, stack.shopify.base_url, stack.cj.root_url, stack.stripe.base_url
    for field, kind, count in SHOPIFY_FAULTS:
        r = await http.post(f"{shopify}/_control/faults", json={"field": field, "kind": kind, "count": count,
                                                                "seconds": 6.0, "retry_after": 1.0})
        assert r.status_code == 201, r.text
    for path, kind, count in CJ_FAULTS:
        r = await http.post(f"{cj}/_control/faults", json={"path": path, "kind": kind, "count": count,
                                                           "delaySeconds": 6.0})
        assert r.status_code == 200, r.text
    for kind, count in STRIPE_FAULTS:
        r = await http.post(f"{stripe}/_control/faults", json={"path": "/v1/disputes/{dispute}", "method": "POST",
                                                               "kind": kind, "count": count, "delay_seconds": 6.0})
        assert r.status_code in (200, 201), r.text

    async def mail_server(round_no: int) -> None:
        mode, count = SMTP_ROUNDS[round_no] if round_no < len(SMTP_ROUNDS) else ("ok", 1)
        stack.smtp.set_fault(mode, count)

    lab.before_round = mail_server
    await lab.settle(instances, max_rounds=20)
    lab.before_round = None
    stack.smtp.set_fault("ok", 1)
    await lab.finish_deadlines(instances)
    await lab.measure(fig, instances)
    consumed = await _faults_consumed(stack)
    fig.notes.append("faults that hit a call: " + ", ".join(f"{k} {v}" for k, v in sorted(consumed.items())))
    fig.notes.append("mail server modes, one per round: " + ", ".join(f"{m}x{c}" for m, c in SMTP_ROUNDS))
    fig.seconds = time.monotonic() - started
    await _check(stack, fig)
    assert sum(consumed.values()) >= 10, consumed  # the faults really met the product's calls


async def _faults_consumed(stack: Stack) -> dict[str, int]:
    """From the vendors' own call logs: which injected faults answered a call."""
    out: dict[str, int] = {}
    for call in (await stack.http.get(f"{stack.shopify.base_url}/_control/calls")).json():
        outcome = str(call.get("outcome") or "")
        if outcome.startswith("fault:") or outcome in ("throttled",):
            key = f"shopify {'/'.join(call.get('root_fields') or [])} {outcome.removeprefix('fault:')}"
            out[key] = out.get(key, 0) + 1
    for call in (await stack.http.get(f"{stack.cj.root_url}/_control/calls")).json()["calls"]:
        if call.get("fault"):
            key = f"cj {call['path']} {call['fault']}"
            out[key] = out.get(key, 0) + 1
    for call in (await stack.http.get(f"{stack.stripe.base_url}/_control/calls")).json()["calls"]:
        if call.get("fault"):
            key = f"stripe {call.get('method')} {call.get('path', '').rsplit('/', 1)[0]} {call['fault']}"
            out[key] = out.get(key, 0) + 1
    return out


# -- the database restarts --------------------------------------------------------------------------------

async def test_database_restarted_mid_run_loses_nothing_and_does_nothing_twice(stack: Stack) -> None:
    """Every connection to the ledger is cut (pg_terminate_backend: what a PostgreSQL restart
    looks like to its clients) again and again while requests arrive and runs run: the receiver
    answers 503 (the sender retries, as Shopify does), runs fail, the check brings them back."""
    started = time.monotonic()
    n = min(max(6, CASES // 6), 24)
    rng = random.Random(SEED + 2)
    lab = _lab(stack, rng)
    lab.redeliver = True
    fig = lab.figures = Figures(f"ledger database restarted mid-run ({n} cases)")
    instances = _instances(n, [t for t in sorted(TEMPLATES) if t != "dispute-stripe"])
    for inst in instances:
        await lab.seed(inst)
    cut = {"times": 0, "connections": 0}
    storming = asyncio.Event()

    async def storm() -> None:
        while True:
            await storming.wait()
            await asyncio.sleep(rng.uniform(0.3, 2.0))
            if storming.is_set():
                cut["connections"] += await terminate_pg_connections(stack.db_name)
                cut["times"] += 1

    async def rounds(round_no: int) -> None:
        if round_no < 3:
            storming.set()
        else:
            storming.clear()

    lab.before_round = rounds
    task = asyncio.create_task(storm())
    try:
        await lab.settle(instances, max_rounds=20)
    finally:
        storming.clear()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    await lab.settle(instances, max_rounds=4)
    await lab.finish_deadlines(instances)
    await lab.measure(fig, instances)
    fig.notes.append(f"the ledger's connections were cut {cut['times']} times ({cut['connections']} connections)")
    fig.seconds = time.monotonic() - started
    await _check(stack, fig)
    assert cut["connections"] >= 5, cut


# -- the Prefect server is down --------------------------------------------------------------------------

async def test_prefect_server_down_the_receiver_answers_stores_and_emits_after_the_restart(stack: Stack) -> None:
    """The Prefect server process is stopped; requests and the store's webhooks arrive; the
    receiver answers 2xx and stores them; the server is started again and the receiver's loop
    hands every stored event over; the runs they start finish every case."""
    started = time.monotonic()
    n = min(max(5, CASES // 6), 24)
    lab = _lab(stack, random.Random(SEED + 3))
    fig = lab.figures = Figures(f"Prefect server stopped, then started again ({n} cases)")
    instances = _instances(n, ["cancel-now", "new-order", "cancel-cj", "dispute-stripe", "return-full",
                               "dispute-shopify"])
    for inst in instances:
        await lab.seed(inst)
    since = utcnow()
    await stack.prefect.stop()
    assert not await stack.prefect.is_up()
    assert await lab.act(instances) == n  # every case's first step, while the server is down
    await asyncio.sleep(3)  # the receiver's loop tries again meanwhile
    # New orders and shipments go to the order consumer from the ledger, not through Prefect
    # (issue 16): it works on while the server is down; every other event waits for the server.
    rows = [r for r in await _rows_since(lab, since) if r.event_name and r.event_name not in CONSUMER_EVENT_NAMES]
    assert rows and all(r.status == "received" for r in rows), [(r.topic, r.status) for r in rows]
    failed = sum(r.emit_attempts for r in rows)  # the loop tries the oldest first and stops at a failure
    assert failed >= 1 and any(r.last_error for r in rows), [(r.topic, r.emit_attempts) for r in rows]
    fig.notes.append(f"{len(rows)} events stored while the server was down, none handed over "
                     f"({failed} failed emit attempts)")
    await stack.prefect.start()
    restarted = time.monotonic()
    while [r for r in await _rows_since(lab, since)
           if r.event_name and r.event_name not in CONSUMER_EVENT_NAMES and r.status == "received"]:
        assert time.monotonic() - restarted < 120, "the receiver's loop did not emit the stored events"
        await asyncio.sleep(0.5)
    fig.notes.append(f"server restarted in {stack.prefect.starts[-1]:.0f} s; every stored event handed over by the "
                     f"receiver's loop {time.monotonic() - restarted:.1f} s after")
    await lab.settle(instances, max_rounds=20)
    await lab.finish_deadlines(instances)
    await lab.measure(fig, instances)
    fig.seconds = time.monotonic() - started
    await _check(stack, fig)


async def _rows_since(lab: Lab, since: datetime) -> list[Any]:
    from sqlmodel import col, select

    from ledger.models import InboundEvent

    async with lab.db.session() as s:
        return list((await s.exec(select(InboundEvent).where(col(InboundEvent.received_at) >= since))).all())
