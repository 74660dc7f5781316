"""Run the ledger's Alembic migrations: `python -m ledger.migrate [upgrade|downgrade REV]`."""

from __future__ import annotations

import sys
from pathlib import Path

from alembic import command
from alembic.config import Config

INI = Path(__file__).with_name("alembic.ini")


def alembic_config(url: str | None = None) -> Config:
    cfg = Config(str(INI))
    if url:
        cfg.attributes["url"] = url
    return cfg


def upgrade(url: str | None = None, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


def main(argv: list[str]) -> None:
    if not argv or argv[0] == "upgrade":
        upgrade(revision=argv[1] if len(argv) > 1 else "head")
    elif argv[0] == "downgrade":
        command.downgrade(alembic_config(), argv[1])
    elif argv[0] == "revision":
        command.revision(alembic_config(), message=argv[1], autogenerate=True)
    else:
        raise SystemExit(f"unknown command {argv[0]!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
