"""What the fork worker's warm parent imports (deployments/forkrun.py WARM_MODULES) opens no
connection and starts no thread at import: every run is a fork of it, and a fork copies a
thread's locks and a socket half-way (issue 16). Checked in a fresh interpreter, as the parent
(multiprocessing's forkserver) imports them. And every flow prefect.yaml deploys is in the list."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

from deployments.forkrun import WARM_MODULES

ROOT = Path(__file__).resolve().parents[2]

CHECK = """
import importlib, json, os, sys, threading
failed = []
for name in sys.argv[1:]:
    try:
        importlib.import_module(name)
    except Exception as exc:
        failed.append(f"{name}: {exc!r}")
sockets = []
for fd in os.listdir("/proc/self/fd"):
    try:
        target = os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        continue
    if target.startswith("socket:"):
        sockets.append(target)
print(json.dumps({"failed": failed, "threads": [t.name for t in threading.enumerate()], "sockets": sockets}))
"""


def imports_report(modules: list[str], *, extra_path: Path | None = None) -> dict[str, list[str]]:
    """Import `modules` in a fresh interpreter (the environment the parent has: no secrets needed
    at import); its failures, threads and open sockets afterwards."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(str(p) for p in (extra_path, ROOT) if p)}
    done = subprocess.run([sys.executable, "-c", CHECK, *modules], cwd=ROOT, env=env, capture_output=True,  # noqa: S603
                          text=True, timeout=300, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_warm_parents_modules_start_no_thread_and_open_no_connection() -> None:
    report = imports_report(["deployments.forkrun", *WARM_MODULES])
    assert report == {"failed": [], "threads": ["MainThread"], "sockets": []}


def test_the_check_sees_a_module_that_starts_a_thread_or_connects(tmp_path: Path) -> None:
    """The check above can fail: a module that starts a thread and one that opens a socket."""
    (tmp_path / "starts_a_thread.py").write_text(
        "import threading, time\nthreading.Thread(target=time.sleep, args=(30,), daemon=True, name='poller').start()\n")
    (tmp_path / "opens_a_socket.py").write_text("import socket\nkept = socket.socket()\n")
    report = imports_report(["starts_a_thread", "opens_a_socket"], extra_path=tmp_path)
    assert report["threads"] == ["MainThread", "poller"]
    assert len(report["sockets"]) == 1


def test_every_deployed_flow_is_imported_by_the_warm_parent() -> None:
    """A flow left out would still run (the engine imports it in the fork), paying its imports
    in every run: the list follows prefect.yaml."""
    deployments = yaml.safe_load((ROOT / "prefect.yaml").read_text(encoding="utf-8"))["deployments"]
    modules = {d["entrypoint"].rpartition(".")[0] for d in deployments}
    assert modules - set(WARM_MODULES) == set()
