"""The scale stack's helpers the benchmarks share (tests/scale/stack.py, issue 22): the SMTP
catcher's log read on from where the last read stopped, and the workers' CPU under one name."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sandbox.smtp_catcher import MailStore, parse_mail
from tests.scale.stack import read_mails, workers_together

WHEN = datetime(2026, 3, 18, 9, 30, tzinfo=UTC)


def _catch(store: MailStore, to: str, template_header: str | None) -> None:
    """One mail through the catcher's own store, as the SMTP catcher logs it."""
    head = f"From: bonjour@maison-lumiere.example\r\nTo: {to}\r\nSubject: Votre commande\r\n"
    if template_header:
        head += f"{template_header}\r\n"
    raw = (head + "\r\nBonjour\r\n").encode()
    store.add(lambda n: parse_mail(n, raw, envelope_from="bonjour@maison-lumiere.example", envelope_to=[to],
                                   received_at=WHEN))


def test_the_catchers_log_is_read_on_from_the_last_whole_line(tmp_path: Path) -> None:
    log = tmp_path / "mails.jsonl"
    assert read_mails(log, 7) == ([], 7)  # nothing caught yet
    store = MailStore(log)
    _catch(store, "lea@example.com", "X-Aftersales-Template: order_confirmation")
    _catch(store, "tom@example.com", "x-aftersales-template: cancellation_confirmed")  # any case
    _catch(store, "zoe@example.com", None)
    whole = log.read_bytes()
    lines = whole.splitlines(keepends=True)
    log.write_bytes(b"".join(lines[:2]) + lines[2][:40])  # the third line still being written

    first, offset = read_mails(log)

    assert [(m["to"], m["template"]) for m in first] == [
        (["lea@example.com"], "order_confirmation"), (["tom@example.com"], "cancellation_confirmed")]
    assert datetime.fromisoformat(first[0]["received_at"]) == WHEN
    assert offset == len(lines[0]) + len(lines[1])
    assert read_mails(log, offset) == ([], offset)  # the half line is left for later
    log.write_bytes(whole)
    rest, end = read_mails(log, offset)
    assert [(m["to"], m["template"]) for m in rest] == [(["zoe@example.com"], None)]
    assert end == len(whole)
    assert [m["to"] for m in read_mails(log)[0]] == [["lea@example.com"], ["tom@example.com"], ["zoe@example.com"]]


def test_the_workers_cpu_is_summed_under_one_name() -> None:
    cpu = {"sandbox": 4.0, "worker-1": 1.5, "receiver": 2.0, "worker-2": 2.25}

    assert workers_together(cpu, "workers") == {"sandbox": 4.0, "workers": 3.75, "receiver": 2.0}
    assert workers_together({"sandbox": 1.0}, "workers") == {"sandbox": 1.0}
