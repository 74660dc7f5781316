"""The end-to-end tests' log reader (tests/e2e/logscan.py) fails on what a green run could hide."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from tests.e2e.logscan import scan

LOCKED_IN_SERVER = """13:00:20.273 | ERROR   | prefect.server - Encountered error during state validation
Traceback (most recent call last):
sqlalchemy.exc.OperationalError: (sqlite3.OperationalError) database is locked
13:00:21.000 | INFO    | prefect.server - fine
"""
LOCKED_IN_A_RUN = """13:00:20.273 | ERROR   | Flow run 'cancellation' - Finished in state Failed
Traceback (most recent call last):
sqlalchemy.exc.OperationalError: (sqlite3.OperationalError) database is locked
"""
SCHEDULER_BROKEN = """13:00:20.273 | ERROR   | prefect.server.services.scheduler - Unexpected error
sqlalchemy.exc.InvalidRequestError: Can't evaluate bulk DML statement; please supply a bulk_dml decorated function
"""


def test_sqlite_contention_is_allowed_in_the_prefect_servers_log_only(tmp_path: Path) -> None:
    (tmp_path / "prefect-server.log").write_text(LOCKED_IN_SERVER)
    (tmp_path / "worker.log").write_text(LOCKED_IN_A_RUN)
    result = scan([tmp_path / "prefect-server.log", tmp_path / "worker.log"])
    assert result.known["sqlite contention in the Prefect server"] == 1
    assert len(result.broken) == 1 and result.broken[0].startswith("worker.log")


def test_a_broken_scheduler_fails_the_scan(tmp_path: Path) -> None:
    (tmp_path / "prefect-server.log").write_text(SCHEDULER_BROKEN)
    assert len(scan([tmp_path / "prefect-server.log"]).broken) == 1


def test_a_run_submission_refused_with_a_503_is_known(tmp_path: Path) -> None:
    (tmp_path / "worker.log").write_text(
        "15:34:11.551 | ERROR   | prefect.flow_runs.worker - Failed to submit flow run 'x' to infrastructure.\n"
        "Traceback (most recent call last):\nprefect.exceptions.PrefectHTTPStatusError: Server error "
        "'503 Service Unavailable' for url 'http://127.0.0.1:4200/api/flow_runs/1/labels'\n")
    result = scan([tmp_path / "worker.log"])
    assert not result.broken and sum(result.known.values()) == 1


CRASHED_BY_CTRL_C = (
    "00:30:37.987 | INFO    | Flow run 'sweep all' - Beginning flow run 'sweep all' for flow 'sweep-deadlines'\n"
    "00:30:38.739 | ERROR   | Flow run 'sweep all' - Crash detected! Execution was cancelled by the runtime "
    "environment.\n"
    "00:30:38.848 | ERROR   | Flow run 'sweep all' - Finished in state Crashed('Execution was cancelled by the runtime "
    "environment.')\n")


def test_a_run_crashed_by_the_demos_own_stop_is_allowed_only_after_the_stop_began(tmp_path: Path) -> None:
    (tmp_path / "worker.log").write_text(CRASHED_BY_CTRL_C)
    stopped = scan([tmp_path / "worker.log"], stopped_at=datetime(2026, 12, 8, 0, 30, 38, 500000))
    assert not stopped.broken and stopped.known["a run in flight when the demo was stopped (Ctrl-C)"] == 2
    # the same crash while the demo runs (the stop a minute later), or with no stop told: a failure
    assert len(scan([tmp_path / "worker.log"], stopped_at=datetime(2026, 12, 8, 0, 31, 40)).broken) == 2
    assert len(scan([tmp_path / "worker.log"]).broken) == 2
    # a stop begun just before midnight and the crash just after it
    (tmp_path / "late.log").write_text(CRASHED_BY_CTRL_C.replace("00:30:", "00:00:"))
    assert not scan([tmp_path / "late.log"], stopped_at=datetime(2026, 12, 7, 23, 59, 59)).broken


def test_another_crash_after_the_stop_is_still_a_failure(tmp_path: Path) -> None:
    (tmp_path / "worker.log").write_text(
        "00:30:39.000 | ERROR   | Flow run 'return' - Finished in state Failed('Flow run encountered an exception')\n")
    assert len(scan([tmp_path / "worker.log"], stopped_at=datetime(2026, 12, 8, 0, 30, 38)).broken) == 1
