"""The control API (not Stripe's), under `/_control`: configuration, disputes and their events,
webhooks, faults, files, calls and the clock."""

from __future__ import annotations

import copy
import hashlib
from datetime import timedelta

from fastapi import FastAPI, HTTPException

from sandbox.stripe.disputes import DISPUTE_EVENTS
from sandbox.stripe.models import ClockAdvance, ConfigChange, DisputeSeed, EventRequest, FakeStripeConfig, FaultSpec
from sandbox.stripe.spec import Json, spec_version
from sandbox.stripe.state import FakeStripeState
from sandbox.stripe.webhooks import _checked_event, deliver


def _config_view(config: FakeStripeConfig) -> Json:
    return {
        "webhook_url": config.webhook_url,
        "webhook_secret": config.webhook_secret,
        "api_keys": list(config.api_keys),
        "timeout_delay_seconds": config.timeout_delay_seconds,
        "default_fee": config.default_fee,
        "api_version": spec_version(),
    }


def _add_control_routes(app: FastAPI, state: FakeStripeState) -> None:
    @app.post("/_control/reset")
    def reset(change: ConfigChange | None = None) -> Json:
        state.reset(**(change.model_dump(exclude_none=True) if change else {}))
        return {"ok": True, "config": _config_view(state.config)}

    @app.get("/_control/config")
    def show_config() -> Json:
        return {"config": _config_view(state.config)}

    @app.post("/_control/config")
    def set_config(change: ConfigChange) -> Json:
        with state.lock:
            values = change.model_dump(exclude_unset=True)
            if "api_keys" in values:
                values["api_keys"] = tuple(values["api_keys"] or ())
            for key, value in values.items():
                setattr(state.config, key, value)
            return {"config": _config_view(state.config)}

    @app.post("/_control/disputes")
    async def create_dispute(seed: DisputeSeed) -> Json:
        dispute, charge, intent = state.create_dispute(seed)
        delivery = None
        if seed.emit:
            event = _checked_event(state, state.event_for(dispute["id"], "charge.dispute.created", None))
            delivery = await deliver(state, event)
        return {"dispute": dispute, "charge": charge, "payment_intent": intent, "delivery": delivery}

    @app.get("/_control/disputes/{dispute_id}")
    def show_dispute(dispute_id: str) -> Json:
        with state.lock:
            found = state.disputes.get(dispute_id)
            if found is None:
                raise HTTPException(404, f"no dispute {dispute_id}")
            return {"dispute": copy.deepcopy(found)}

    @app.post("/_control/disputes/{dispute_id}/events/{event_type}")
    async def send_event(dispute_id: str, event_type: str, request: EventRequest | None = None) -> Json:
        spec = request or EventRequest()
        if event_type not in DISPUTE_EVENTS:
            raise HTTPException(400, f"not a dispute event: {event_type}; one of {list(DISPUTE_EVENTS)}")
        statuses = state.validator.schema("dispute")["properties"]["status"]["enum"]
        if spec.status is not None and spec.status not in statuses:
            raise HTTPException(400, f"not a dispute status of spec3.yaml: {spec.status}")
        event = _checked_event(state, state.event_for(dispute_id, event_type, spec.status))
        deliveries = [await deliver(state, event) for _ in range(spec.times)]
        return {"event": event, "deliveries": deliveries}

    @app.get("/_control/webhooks")
    def webhooks() -> Json:
        with state.lock:
            return {"deliveries": copy.deepcopy(state.deliveries)}

    @app.post("/_control/faults")
    def add_fault(spec: FaultSpec) -> Json:
        fault = state.add_fault(spec.path, spec.method, spec.kind, spec.count, spec.delay_seconds)
        return {"fault": fault.as_json()}

    @app.get("/_control/faults")
    def faults() -> Json:
        with state.lock:
            return {"faults": [f.as_json() for f in state.faults]}

    @app.get("/_control/files/{file_id}")
    def show_file(file_id: str) -> Json:
        with state.lock:
            stored = state.files.get(file_id)
            if stored is None:
                raise HTTPException(404, f"no file {file_id}")
            return {"file": copy.deepcopy(stored.obj), "sha256": hashlib.sha256(stored.content).hexdigest()}

    @app.get("/_control/calls")
    def calls(path: str | None = None, method: str | None = None, operation: str | None = None) -> Json:
        return {"calls": state.calls_matching(path, method, operation)}

    @app.post("/_control/clock")
    def clock(spec: ClockAdvance) -> Json:
        with state.lock:
            state.clock_offset += timedelta(seconds=spec.advance_seconds)
            return {"now": state.now().isoformat()}
