"""Fault injection at task boundaries, for the crash tests and the fault matrix.

`AFTERSALES_FAULTS` holds `point:kind[:count[:mode]]` items separated by commas, e.g.
`after_call:shopify.refund_create:1` (raise once right after the outside call succeeded and
before its result is recorded) or `after_call:*:1:kill` (SIGKILL the process). Off by default;
reading an unset variable costs one dict lookup.
"""

from __future__ import annotations

import os
import signal
import threading


class SimulatedCrash(Exception):
    """A deliberate crash between two steps (tests only)."""


_lock = threading.Lock()
_counts: dict[str, int] = {}


def _parse(spec: str) -> list[tuple[str, str, int, str]]:
    rules = []
    for raw in spec.split(","):
        parts = raw.strip().split(":")
        if len(parts) < 2 or not parts[0]:
            continue
        count = int(parts[2]) if len(parts) > 2 and parts[2] else 1
        mode = parts[3] if len(parts) > 3 else "raise"
        rules.append((parts[0], parts[1], count, mode))
    return rules


def hit(point: str, kind: str) -> None:
    spec = os.environ.get("AFTERSALES_FAULTS")
    if not spec:
        return
    for rule_point, rule_kind, count, mode in _parse(spec):
        if rule_point != point or rule_kind not in ("*", kind):
            continue
        key = f"{rule_point}:{rule_kind}"
        with _lock:
            used = _counts.get(key, 0)
            if used >= count:
                continue
            _counts[key] = used + 1
        if mode == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        raise SimulatedCrash(f"fault injected at {point} of {kind}")


def reset() -> None:
    with _lock:
        _counts.clear()
