"""The end-to-end tests' log reader (tests/e2e/logscan.py) fails on what a green run could hide."""

from __future__ import annotations

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
