"""monthly-chargebacks (K7): a Stripe dispute contested and won through process-dispute, a PayPal
dispute accepted, then the month's report: ratio against the store's orders, win and recovery
rates by reason, as an artifact and CSV files."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pytest

from domain.business_days import local_date
from flows.disputes import process_dispute
from flows.reports import monthly_chargebacks
from ledger.models import utcnow
from tests.flows.conftest import World
from tests.flows.test_dispute_flow import _post_stripe_event, _run, _stripe_dispute

TZ = "Europe/Paris"


@pytest.mark.timeout(300)
async def test_the_month_counts_disputes_against_orders_and_what_contesting_won(
        world: World, db: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AFTERSALES_REPORTS_DIR", str(tmp_path))
    dispute_id, event = await _stripe_dispute(world, "#1012")  # delivered: contested with the proof
    assert await _run(await _post_stripe_event(world, event)) == "submitted"
    r = await world.http.post(f"{world.sandbox.stripe.base_url}/_control/disputes/{dispute_id}/events/"
                              "charge.dispute.closed", json={"status": "won"})
    assert r.status_code == 200, r.text
    closed = r.json()["event"]
    assert await process_dispute(inbound_event_id=(await _post_stripe_event(world, closed)).json()["event_id"]) == "won"
    _, lost_event = await _stripe_dispute(world, "#1001")  # never shipped: accepted (K4)
    assert await _run(await _post_stripe_event(world, lost_event)) == "accepted"

    month = local_date(utcnow(), TZ)
    result = await monthly_chargebacks(month_of=month)

    assert result["month"] == f"{month:%Y-%m}"
    (ratio,) = result["ratio"]
    assert ratio["disputes"] == "2" and int(ratio["orders"]) >= 2
    rows = list(csv.reader(io.StringIO((tmp_path / result["month"] / "disputes.csv").read_text("utf-8-sig"))))
    header, body = rows[0], {r[0]: dict(zip(rows[0], r, strict=True)) for r in rows[1:]}
    assert header[:6] == ["reason", "decided", "won", "lost", "accepted", "win rate"]
    assert body["not_received"]["won"] == "1" and body["not_received"]["accepted"] == "1"
    assert (tmp_path / result["month"] / "chargeback_ratio.csv").is_file()
