"""Customer data in logs: find the seeded customers' street addresses, phones and emails in log
records and log files (issue 13; docs/privacy.md). Used by the fuzz run (every record, captured
at DEBUG) and by the fault matrix (every log file its stack wrote).

A value is looked for as written and as JSON escapes it (`Zoé` is `Zo\\u00e9` in an ASCII JSON
dump), case-insensitively; a phone also with its separators gone (`+33 6 12 34 56 78` is found as
`+33612345678`). Values shorter than MIN_LENGTH are not looked for: they name no one and would
match everywhere.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MIN_LENGTH = 6
_PHONE = re.compile(r"^\+?[\d\s().-]{6,}$")
_PERSONAL_KEYS = ("address1", "address2", "phone", "email")


def personal_values(orders: Iterable[Mapping[str, Any]]) -> set[str]:
    """The street lines, phones and emails of seeded orders (the shape the fake store takes)."""
    found: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, Mapping):
            for key, value in node.items():
                if key in _PERSONAL_KEYS and isinstance(value, str):
                    found.add(value)
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    for order in orders:
        walk(order)
    return found


@dataclass(frozen=True)
class Needles:
    pattern: re.Pattern[str] | None
    by_form: dict[str, str]  # the lowercased form looked for -> the value it stands for

    def find(self, text: str) -> str | None:
        """The first personal value `text` holds, or None."""
        if self.pattern is None or not text:
            return None
        match = self.pattern.search(text)
        return self.by_form[match.group(0).lower()] if match else None


def needles(values: Iterable[str]) -> Needles:
    by_form: dict[str, str] = {}
    for value in values:
        value = value.strip()
        if len(value) < MIN_LENGTH:
            continue
        forms = {value, json.dumps(value)[1:-1]}
        if _PHONE.match(value):
            forms.add(re.sub(r"[\s().-]", "", value))
        for form in forms:
            by_form.setdefault(form.lower(), value)
    if not by_form:
        return Needles(None, {})
    pattern = re.compile("|".join(re.escape(f) for f in sorted(by_form, key=len, reverse=True)), re.IGNORECASE)
    return Needles(pattern, by_form)


def scan_lines(lines: Iterable[str], values: Needles) -> list[tuple[int, str]]:
    """(line number from 1, the value) for each line holding a personal value."""
    return [(n, hit) for n, line in enumerate(lines, 1) if (hit := values.find(line)) is not None]


def scan_log_files(paths: Iterable[Path], values: Needles) -> list[str]:
    """`file:line: holds <value>` for every line of every file holding a personal value; files
    that do not exist are skipped (a worker that never started wrote nothing)."""
    leaks: list[str] = []
    for path in sorted(paths):
        if not path.is_file():
            continue
        with path.open(encoding="utf-8", errors="replace") as lines:
            leaks += [f"{path}:{n}: holds {hit!r}" for n, hit in scan_lines(lines, values)]
    return leaks


def log_files(home: Path) -> list[Path]:
    """Every log file under a stack's folder (`*.log`, rotated ones too)."""
    return sorted(p for p in home.rglob("*.log*") if p.is_file())


def assert_no_customer_data(paths: Iterable[Path], orders: Iterable[Mapping[str, Any]]) -> str:
    """Fail naming file and line for every line of `paths` holding data of one of `orders`; else
    say what was scanned."""
    paths, values = list(paths), personal_values(orders)
    leaks = scan_log_files(paths, needles(values))
    assert not leaks, f"customer data in {len(leaks)} log line(s):\n" + "\n".join(leaks[:20])
    size = sum(p.stat().st_size for p in paths if p.is_file())
    return f"no customer data in {len(paths)} log files ({size:,} bytes): {len(values)} street lines, phones, emails"
