"""The control API (not PayPal's), under `/_control`: reset and configuration, disputes and their
events, faults, tokens, the clock, calls and deliveries."""

from __future__ import annotations

from datetime import timedelta

from fastapi import FastAPI, HTTPException

from sandbox.paypal.contract import EVENT_TYPES, Json, PayPalFail, pp_time
from sandbox.paypal.models import ClockAdvance, Delivery, EventChange, FakeDispute, FaultSpec, NewDispute, Settings
from sandbox.paypal.state import FakePayPalState
from sandbox.paypal.webhooks import deliver


def _control_dispute(state: FakePayPalState, dispute_id: str) -> FakeDispute:
    try:
        return state.find(dispute_id)
    except PayPalFail:
        raise HTTPException(status_code=404, detail=f"no dispute {dispute_id}") from None


def _add_control_routes(app: FastAPI, state: FakePayPalState) -> None:
    @app.post("/_control/reset")
    async def reset(settings: Settings | None = None) -> Json:
        state.reset(**(settings.model_dump(exclude_none=True) if settings else {}))
        return {"ok": True}

    @app.post("/_control/config")
    async def configure(settings: Settings) -> Json:
        state.configure(**settings.model_dump(exclude_unset=True))
        return {"ok": True, "webhook_url": state.options.webhook_url, "webhook_id": state.options.webhook_id}

    @app.post("/_control/disputes")
    async def create_dispute(spec: NewDispute) -> Json:
        dispute = state.create(spec)
        deliveries: list[Delivery] = []
        if spec.notify:
            deliveries = await deliver(state, state.event_for(EVENT_TYPES["created"], dispute))
        with state.lock:
            view = dispute.control_view(state.root_url)
        return {"dispute": view, "deliveries": [d.as_json() for d in deliveries]}

    @app.get("/_control/disputes")
    async def disputes() -> Json:
        with state.lock:
            return {"disputes": [d.control_view(state.root_url) for d in state.disputes.values()]}

    @app.get("/_control/disputes/{dispute_id}")
    async def show(dispute_id: str) -> Json:
        dispute = _control_dispute(state, dispute_id)
        with state.lock:
            return {"dispute": dispute.control_view(state.root_url)}

    @app.post("/_control/disputes/{dispute_id}/events/{kind}")
    async def event(dispute_id: str, kind: str, spec: EventChange | None = None) -> Json:
        key = kind.lower().removeprefix("customer.dispute.")
        if key not in EVENT_TYPES:
            raise HTTPException(status_code=422, detail=f"event must be one of {sorted(EVENT_TYPES)}")
        change = spec or EventChange()
        dispute = state.change(dispute_id, key, change) if key != "created" else _control_dispute(state, dispute_id)
        deliveries = await deliver(state, state.event_for(EVENT_TYPES[key], dispute, change.times))
        with state.lock:
            view = dispute.control_view(state.root_url)
        return {"dispute": view, "deliveries": [d.as_json() for d in deliveries]}

    @app.post("/_control/faults")
    async def faults(spec: FaultSpec) -> Json:
        state.add_fault(spec)
        return {"ok": True, "path": spec.path, "kind": spec.kind, "count": spec.count}

    @app.post("/_control/tokens/revoke")
    async def revoke() -> Json:
        state.revoke_tokens()
        return {"ok": True}

    @app.post("/_control/clock")
    async def clock(spec: ClockAdvance) -> Json:
        with state.lock:
            state.clock_offset += timedelta(seconds=spec.advance_seconds)
            return {"now": pp_time(state.now())}

    @app.get("/_control/calls")
    async def calls(path: str | None = None) -> Json:
        return {"calls": [c.as_json() for c in state.calls_to(path)]}

    @app.get("/_control/webhooks")
    async def webhooks() -> Json:
        with state.lock:
            return {"deliveries": [d.as_json() for d in state.deliveries]}
