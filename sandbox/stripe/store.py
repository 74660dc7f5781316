"""The fake account's core: its configuration, clock, faults and call records (the resources are
mixins on it: charges, disputes)."""

from __future__ import annotations

import itertools
import secrets
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sandbox.stripe.models import CallRecord, FakeStripeConfig, Fault, Saved, StoredFile, _utcnow
from sandbox.stripe.spec import Json, spec_validator


class _AccountCore:
    """The fake account's memory, resources aside. Thread-safe: the server runs in its own thread."""

    def __init__(self, config: FakeStripeConfig | None = None, *, clock: Callable[[], datetime] = _utcnow) -> None:
        self.defaults = config or FakeStripeConfig()
        self._base_clock = clock
        self.lock = threading.RLock()
        self.validator = spec_validator()
        self.reset()

    def reset(self, **overrides: Any) -> None:
        with self.lock:
            values = {**self.defaults.__dict__, **overrides}
            if "api_keys" in values:
                values["api_keys"] = tuple(values["api_keys"])
            self.config = FakeStripeConfig(**values)
            self.clock_offset = timedelta(0)
            self.charges: dict[str, Json] = {}
            self.payment_intents: dict[str, Json] = {}
            self.disputes: dict[str, Json] = {}
            self.files: dict[str, StoredFile] = {}
            self.idempotency: dict[tuple[str, str], Saved] = {}
            self.faults: list[Fault] = []
            self.calls: list[CallRecord] = []
            self.deliveries: list[Json] = []
            self.announced: dict[str, Json] = {}
            self._seq = itertools.count(1)

    def now(self) -> datetime:
        return self._base_clock() + self.clock_offset

    def timestamp(self) -> int:
        return int(self.now().timestamp())

    def next_seq(self) -> int:
        return next(self._seq)

    # ---- faults

    def add_fault(self, path: str, method: str | None, kind: str, count: int, delay: float | None) -> Fault:
        with self.lock:
            fault = Fault(
                path=path,
                method=method.upper() if method else None,
                kind=kind,
                delay_seconds=self.config.timeout_delay_seconds if delay is None else delay,
                remaining=count,
            )
            self.faults.append(fault)
            return fault

    def take_fault(self, method: str, path: str, template: str) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.remaining > 0 and fault.matches(method, path, template):
                    fault.remaining -= 1
                    return fault
            return None

    # ---- records

    def record(self, call: CallRecord) -> None:
        with self.lock:
            self.calls.append(call)

    def calls_matching(self, path: str | None, method: str | None, operation: str | None) -> list[Json]:
        with self.lock:
            return [
                c.as_json()
                for c in self.calls
                if (path is None or path in (c.path, c.template))
                and (method is None or c.method == method.upper())
                and (operation is None or c.operation == operation)
            ]


def _new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_urlsafe(18).replace('-', 'x').replace('_', 'y')[:24]}"

