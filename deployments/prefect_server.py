"""The Prefect server's production settings, deployments/prefect-server.env (issue 16).

The README's server command reads the file with the shell (`set -a; . deployments/prefect-server.env`);
the demo (deployments/demo.py), the end-to-end benchmark and the scale test start their Prefect
servers with `settings()`, so what they run is what production runs."""

from __future__ import annotations

from pathlib import Path

SETTINGS_FILE = Path(__file__).resolve().parent / "prefect-server.env"


def settings(path: Path = SETTINGS_FILE) -> dict[str, str]:
    """The file's KEY=VALUE lines; blank lines and `#` comments are skipped."""
    out: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            out[key.strip()] = value.strip()
    return out
