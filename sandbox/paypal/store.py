"""The fake's core state: options, clock, ids, calls, faults, idempotency (`PayPal-Request-Id`) and
its signing identity (the resources are mixins on it: tokens, disputes, webhooks)."""

from __future__ import annotations

import fnmatch
import itertools
import threading
from collections import deque
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from sandbox.paypal.contract import Json, _utcnow
from sandbox.paypal.models import CallRecord, Delivery, FakeDispute, FakePayPalOptions, Fault, FaultSpec


class _StateCore:
    """The fake's memory, resources aside. Thread-safe: the server runs in its own thread, tests
    read from theirs."""

    def __init__(self, options: FakePayPalOptions | None = None, *, clock: Callable[[], datetime] = _utcnow) -> None:
        self.defaults = options or FakePayPalOptions()
        self._base_clock = clock
        self.lock = threading.RLock()
        self._ids = itertools.count(10001)
        self._signing_key, self.cert_pem = _signing_identity()  # stands in for PayPal's key and cert
        self.root_url = "http://127.0.0.1"
        self.reset()

    def reset(self, **overrides: Any) -> None:
        with self.lock:
            self.options = FakePayPalOptions(**{**self.defaults.__dict__, **overrides})
            self.clock_offset = timedelta(0)
            self.tokens: dict[str, datetime] = {}
            self.disputes: dict[str, FakeDispute] = {}
            self.replies: dict[tuple[str, str], tuple[int, Json]] = {}
            self.faults: deque[Fault] = deque()
            self.calls: list[CallRecord] = []
            self.deliveries: list[Delivery] = []

    def configure(self, **changes: Any) -> None:
        with self.lock:
            for key, value in changes.items():
                setattr(self.options, key, value)

    def now(self) -> datetime:
        return self._base_clock() + self.clock_offset

    def next_id(self) -> int:
        return next(self._ids)

    # ---- calls and faults ----

    def record(self, call: CallRecord) -> None:
        with self.lock:
            self.calls.append(call)

    def calls_to(self, pattern: str | None = None) -> list[CallRecord]:
        with self.lock:
            return [c for c in self.calls if pattern is None or fnmatch.fnmatchcase(c.path, pattern)]

    def add_fault(self, spec: FaultSpec) -> None:
        delay = self.options.timeout_delay_seconds if spec.delay_seconds is None else spec.delay_seconds
        with self.lock:
            for _ in range(spec.count):
                self.faults.append(Fault(spec.path, spec.method, spec.kind, delay))

    def take_fault(self, method: str, path: str) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fnmatch.fnmatchcase(path, fault.pattern) and fault.method in (None, method):
                    self.faults.remove(fault)
                    return fault
            return None

    # ---- idempotency (PayPal-Request-Id) ----

    def replay(self, path: str, request_id: str) -> tuple[int, Json] | None:
        with self.lock:
            return self.replies.get((path, request_id))

    def remember(self, path: str, request_id: str, status: int, body: Json) -> None:
        with self.lock:
            self.replies.setdefault((path, request_id), (status, body))


def _signing_identity() -> tuple[rsa.RSAPrivateKey, bytes]:
    """A fresh RSA key and a self-signed certificate for it (PEM), valid a year around now."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "messageverificationcerts.sandbox.paypal.fake")])
    now = _utcnow()
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=365))
        .sign(key, hashes.SHA256())
    )
    return key, cert.public_bytes(serialization.Encoding.PEM)
