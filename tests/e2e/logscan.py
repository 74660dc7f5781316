"""The logs of the processes an end-to-end test starts, read for what a green run could hide: a
traceback, a server service's error, a process's ERROR line (issue 12: Prefect 3.8.8's scheduler
failed on every pass and no test looked).

A log is cut into entries (a line that starts with a time stamp and everything up to the next
one: a traceback belongs to the line that logged it). An entry is broken when it holds a
traceback or is logged at ERROR or CRITICAL, unless it matches one of the signatures below, each
of which is known, transient or deliberate, and says why. Anything else fails the test.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

STAMP = re.compile(r"^(\d{2}:\d{2}:\d{2}\.\d{3} \||INFO:|WARNING:|ERROR:|CRITICAL:|\[\d{4}-\d\d-\d\d)")
BROKEN = re.compile(r"Traceback \(most recent call last\)|\| (ERROR|CRITICAL) +\||^(ERROR|CRITICAL):",
                    re.MULTILINE)
KNOWN = {
    # SQLite allows one writer; under concurrent runs a Prefect server service or API write meets
    # SQLITE_BUSY (WAL snapshot conflicts are not retried by the busy timeout). The service tries
    # again on its next loop, the API answers 503 and the client retries. The production profile
    # is PostgreSQL (docs/operations.md), where this does not happen. Only in the server's own log
    # (a name with "prefect-server"): the same error in a run of ours (the ledger) is a failure.
    "sqlite contention in the Prefect server": re.compile(r"\| prefect\.server.*database is locked", re.DOTALL),
    # A busy SQLite server answers 503 while the worker submits a run: the run is left unstarted
    # and the product delivers its event again (tasks/inbox.py redeliver_stalled), which is what
    # tests/flows/test_redelivery.py proves; the demo's rows must still all be done.
    "a run submission refused by a busy server (503), delivered again": re.compile(
        r"Failed to submit flow run .*503 Service Unavailable", re.DOTALL),
    # Prefect logs a run that pauses for the operator's form as ERROR ("Finished in state
    # Suspended"): it is the product waiting for a decision (K4, K6), not a failure.
    "a run suspended for the operator's form": re.compile(r"Finished in state Suspended\(type=PAUSED\)"),
    # The Shopify rate limit slot (tasks.rate_limits) not granted in time by a busy server: the
    # call goes on uncharged and says so in a WARNING; Shopify's own THROTTLED answer still paces.
    "a rate-limit slot not granted in time by a busy server": re.compile(
        r"ConcurrencySlotAcquisitionService' failed to process item .*rate_limit"),
}


SERVER_ONLY = "sqlite contention in the Prefect server"

# Ctrl-C stops the demo: SIGINT reaches its whole process group, a run in flight at that moment
# included (a scheduled deadline check that began a second before, say). Prefect marks that run
# Crashed, as it would for a merchant pressing Ctrl-C; the ledger's leases and the next check take
# its work up again after a restart (docs/operations.md "A worker lost with its runs"). Allowed
# only in an entry stamped after the stop began (`scan(..., stopped_at=)`): the same crash while
# the demo runs is a failure.
STOPPED = "a run in flight when the demo was stopped (Ctrl-C)"
_CANCELLED_BY_STOP = re.compile(r"Crash detected! Execution was cancelled by the runtime environment"
                                r"|Finished in state Crashed\('Execution was cancelled by the runtime environment\.'\)")
_CLOCK = re.compile(r"^(\d{2}):(\d{2}):(\d{2})\.(\d{3}) \|")
_STOP_WINDOW_S = 120.0  # the demo stops within 60 s of Ctrl-C (tests/e2e/test_demo.py Demo.stop)


def _after_stop(entry: str, stopped_at: datetime | None) -> bool:
    """Whether an entry's time stamp (HH:MM:SS.mmm, the machine's local time, as the processes log)
    falls within the stop's window; across midnight too."""
    stamp = _CLOCK.match(entry)
    if stopped_at is None or stamp is None:
        return False
    h, m, sec, ms = (int(g) for g in stamp.groups())
    at = h * 3600 + m * 60 + sec + ms / 1000
    began = stopped_at.hour * 3600 + stopped_at.minute * 60 + stopped_at.second + stopped_at.microsecond / 1e6
    return 0 <= (at - began) % 86400 <= _STOP_WINDOW_S


@dataclass
class Scan:
    broken: list[str] = field(default_factory=list)
    known: Counter[str] = field(default_factory=Counter)

    def summary(self) -> str:
        known = ", ".join(f"{n} x {what}" for what, n in self.known.most_common()) or "none"
        return f"{len(self.broken)} broken entries; known and allowed: {known}"


def entries(text: str) -> list[str]:
    out: list[str] = []
    for line in text.splitlines():
        if STAMP.match(line) or not out:
            out.append(line)
        else:
            out[-1] += "\n" + line
    return out


def scan(paths: list[Path], *, stopped_at: datetime | None = None) -> Scan:
    """`stopped_at`: when the test stopped what it started (local time, naive, as the logs are
    stamped); a run that crashed from that stop's signal is then allowed (`STOPPED`)."""
    result = Scan()
    for path in paths:
        if not path.exists():
            continue
        for entry in entries(path.read_text(encoding="utf-8", errors="replace")):
            if not BROKEN.search(entry):
                continue
            what = next((name for name, pattern in KNOWN.items() if pattern.search(entry)
                         and (name != SERVER_ONLY or "prefect-server" in path.name)), None)
            if what is None and _CANCELLED_BY_STOP.search(entry) and _after_stop(entry, stopped_at):
                what = STOPPED
            if what is None:
                result.broken.append(f"{path.name}: {entry[:3000]}")
            else:
                result.known[what] += 1
    return result
