"""The fakes' cache of what is costly to rebuild in every process (issue 22): the fake Stripe's parse
of spec3.yaml (sandbox/stripe/spec.py), the fake Shopify's Admin API schema (sandbox/shopify/schema.py).

One directory, the user's own: $AFTERSALES_CACHE_DIR, else ~/.cache/aftersales. A directory another
user owns or may write to is never used (an entry planted there would be served as the fake's
contract); entries are written whole (a temporary file renamed into place), so concurrent processes
read either nothing or a whole entry."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

CACHE_DIR_ENV = "AFTERSALES_CACHE_DIR"


def cache_dir() -> Path | None:
    """$AFTERSALES_CACHE_DIR, else ~/.cache/aftersales (the user's, outside the repository). None if
    there is no home directory."""
    configured = os.environ.get(CACHE_DIR_ENV)
    if configured:
        return Path(configured)
    try:
        return Path.home() / ".cache" / "aftersales"
    except RuntimeError:  # no home directory to be found
        return None


def private(directory: Path) -> bool:
    """The cache directory is this user's and no one else may write to it (or it does not exist
    yet: `write_entry` makes it 0700)."""
    try:
        info = directory.stat()
    except FileNotFoundError:
        return True
    except OSError:
        return False
    return info.st_uid == os.getuid() and not info.st_mode & 0o022


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:  # removed meanwhile by another process
        return 0.0


def write_entry(entry: Path, payload: bytes, *, family: str, kept: int) -> None:
    """Write `payload` as `entry`, whole or not at all; of the other entries matching the glob
    `family` (earlier contracts or loaders: checkouts of other branches beside this one) the newest
    `kept - 1` stay, the rest go. A directory that cannot be written is skipped silently."""
    try:
        entry.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=entry.parent, prefix=entry.name, suffix=".tmp")
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(payload)
            os.replace(temporary, entry)
        except BaseException:
            os.unlink(temporary)
            raise
        others = sorted((e for e in entry.parent.glob(family) if e != entry), key=_mtime, reverse=True)
        for stale in others[kept - 1 :]:
            stale.unlink(missing_ok=True)
    except OSError:
        return
