"""Customers' data requests and erasures carried out, and raw bodies purged (GDPR; issue 13).

Called by the scheduled check (flows/sweep.py) for the requests the receiver recorded from Shopify's
compliance webhooks, and at once by the operator's command (`python -m deployments.privacy`) for a
request received by email. Every request is a `privacy_request` row with its due date (30 days),
recorded before anything is done: a crash in between leaves it open, and the next check does it.

- export: everything held about the customer, written as one JSON file (0600) under
  `AFTERSALES_PRIVACY_DIR` (default `.aftersales/privacy`), and a review item asks the operator to
  send it (Shopify leaves the answer to the merchant; GDPR art. 15).
- erase: the customer's personal data pseudonymised in every table (ledger.privacy.erase), the
  export files written for them and every version of their cases' timeline artifacts in Prefect
  (tasks.artifacts) deleted, and the photos and attachments they sent deleted with
  their references (ledger.files), but those an open return or dispute still needs (GDPR art.
  17(3)(e)): kept, said so in the answer, and deleted by the scheduled check when it ends.
- shop_erase (`shop/redact`): the same for every customer of the shop, and its stored policy.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from pydantic_settings import BaseSettings, SettingsConfigDict

from domain.policy import PrivacyPolicy
from domain.privacy import mask_emails
from ledger import files, privacy
from ledger.db import Database
from ledger.models import PrivacyRequest, utcnow
from tasks.artifacts import delete_case_artifacts, delete_shared_views

log = logging.getLogger("aftersales.privacy")


class PrivacySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="AFTERSALES_PRIVACY_")

    dir: Path = Path(".aftersales/privacy")


def exports_dir() -> Path:
    folder = PrivacySettings().dir / "exports"
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    return folder


def write_export(request_id: str, document: dict[str, Any]) -> Path:
    """The export as a JSON file readable by its owner only; whole or not at all."""
    path = exports_dir() / f"{request_id}.json"
    partial = path.with_name(f".{path.name}.partial")
    fd = os.open(partial, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump(document, out, ensure_ascii=False, indent=2, default=str)
    os.replace(partial, path)
    return path


def _delete_exports_naming(tokens: set[str]) -> int:
    """Erasure reaches the files the product wrote: the exports that hold the customer's data."""
    removed = 0
    lowered = [t.lower() for t in tokens if len(t) >= 3]
    for path in exports_dir().glob("*.json"):
        try:
            text = path.read_text(encoding="utf-8").lower()
        except OSError:
            continue
        if any(t in text for t in lowered):
            path.unlink(missing_ok=True)
            removed += 1
    return removed


@dataclass(frozen=True, slots=True)
class PrivacyDone:
    """What a customer's data request did (GDPR; issue 22: a typed result, as the tasks' are): for
    an export, its file and the rows it holds per table; for an erasure, the rows pseudonymised per
    table, the export files deleted, the photos and attachments deleted or kept (and why: the
    answer says it, GDPR art. 12(4), 17(3)(e)). `record()` is what the request row keeps and the
    operator's command prints: the fields that apply to its kind."""

    kind: str
    export: str | None = None
    rows: dict[str, int] = field(default_factory=dict)
    erased: dict[str, int] = field(default_factory=dict)
    files_removed: int = 0
    artifacts_removed: int = 0  # versions of the cases' timeline artifacts deleted from Prefect
    uploads_removed: int = 0
    uploads_held: int = 0
    uploads_held_note: str | None = None

    def record(self) -> dict[str, Any]:
        if self.kind == "export":
            return {"export": self.export, "rows": dict(self.rows)}
        done = {k: v for k, v in asdict(self).items() if k not in ("kind", "export", "rows")}
        if done["uploads_held_note"] is None:
            del done["uploads_held_note"]
        return done


async def carry_out(db: Database, request: PrivacyRequest) -> PrivacyDone:
    """Do what the request asks; the request is then done (its identifiers hashed, but an export's)."""
    subject = privacy.subject_of(request)
    if request.kind == "export":
        document = await privacy.export(db, subject)
        # The photos and attachments they sent are theirs to have too (GDPR art. 15(3)): listed
        # with where they are, for the operator to send with the export.
        found = await privacy.footprint(db, subject)
        sent = await files.live_files(
            db, case_ids=[c.id for c in found.cases], inbound_ids=[e.id for e in found.inbound],
            order_refs=sorted({*map(str, subject.order_refs), *(c.order_ref for c in found.cases if c.order_ref)}),
            store_id=subject.store_id)
        document["files"] = [{"origin": f.origin, "name": f.name, "path": f.path, "order_ref": f.order_ref,
                              "case_id": f.case_id, "stored_at": f.stored_at.isoformat()} for f in sent]
        document["request"] = {"id": request.id, "origin": request.origin,
                               "received_at": request.received_at.isoformat(), "due_at": request.due_at.isoformat()}
        path = write_export(request.id, document)
        who = mask_emails(request.customer_email or request.customer_ref or "a customer")
        await privacy.open_privacy_review(
            db, request, "privacy_export",
            f"Data request ({request.origin}) for {who}: the export is ready in {path}"
            + (f", with the {len(sent)} photo(s) or attachment(s) it lists under 'files'" if sent else "")
            + ". Send it to the customer "
            f"(or to the store owner, for a Shopify request) before {request.due_at:%Y-%m-%d} (GDPR art. 15).")
        result = PrivacyDone(request.kind, export=str(path),
                             rows={k: len(v) for k, v in document.items() if isinstance(v, list)})
    elif request.kind in ("erase", "shop_erase"):
        found = await privacy.footprint(db, subject)
        # Prefect's copies first: once the ledger is pseudonymised its cases are no longer found.
        artifacts = await delete_case_artifacts(found.cases)
        uploads = await files.live_files(
            db, case_ids=[c.id for c in found.cases], inbound_ids=[e.id for e in found.inbound],
            order_refs=sorted({*map(str, subject.order_refs), *(c.order_ref for c in found.cases if c.order_ref)}),
            store_id=subject.store_id, whole_shop=subject.whole_shop)
        counts = await privacy.erase(db, subject)
        gone = await files.erase_files(db, uploads)
        # Last, once the ledger and the files are erased: a timeline a run published meanwhile, and
        # the operator's shared views (the check publishes them again without them). Prefect failing
        # here leaves the request open; its retry finds nothing left to erase but these views.
        artifacts += await delete_case_artifacts(found.cases)
        artifacts += await delete_shared_views()
        # The answer says what was kept and why (GDPR art. 12(4), 17(3)(e)).
        note = (f"{gone.held} photo(s) or attachment(s) kept while {', '.join(gone.held_for)} is open: needed to "
                f"establish or defend a legal claim (GDPR art. 17(3)(e)); deleted by the scheduled check when "
                f"it ends") if gone.held else None
        result = PrivacyDone(request.kind, erased=counts, artifacts_removed=artifacts,
                             files_removed=_delete_exports_naming(found.strong),
                             uploads_removed=gone.deleted, uploads_held=gone.held, uploads_held_note=note)
    else:
        raise ValueError(f"unknown privacy request kind {request.kind!r}")
    await privacy.finish_request(db, request.id, result.record())
    return result


async def carry_out_open_requests(db: Database, policy: PrivacyPolicy) -> dict[str, int]:
    """The scheduled check's part: every open request is carried out; one that keeps failing is
    put before the operator before its due date."""
    done = failed = 0
    for request in await privacy.open_requests(db):
        try:
            await carry_out(db, request)
            done += 1
        except Exception as exc:
            failed += 1
            log.warning("privacy request %s failed: %r", request.id, exc)
            await privacy.note_request_failure(db, request.id, repr(exc))
            if utcnow() >= request.due_at - timedelta(days=policy.erase_margin_days):
                await privacy.open_privacy_review(
                    db, request, "privacy_request_late",
                    f"The {request.kind} request {request.id} is due {request.due_at:%Y-%m-%d} and keeps failing: "
                    f"{exc!r}. Run `python -m deployments.privacy run {request.id}` once the cause is fixed.")
    return {"done": done, "failed": failed}


async def purge_raw_bodies(db: Database, policy: PrivacyPolicy) -> int:
    """Retention: raw bodies erased once their case closed `raw_body_retention_days` ago, or
    `unlinked_raw_body_retention_days` after arrival when they never had a case."""
    now = utcnow()
    total = 0
    while True:
        n = await privacy.purge_raw_bodies(
            db, closed_before=now - timedelta(days=policy.raw_body_retention_days),
            unlinked_before=now - timedelta(days=policy.unlinked_raw_body_retention_days))
        total += n
        if n < 500:
            return total


async def purge_uploads(db: Database, policy: PrivacyPolicy) -> dict[str, int]:
    """Retention of the photos and attachments customers and suppliers sent (ledger.files): deleted
    `upload_retention_days` after their order's last case closed, `unlinked_upload_retention_days`
    after they arrived when their order never had a case; an erasure that waited for a claim to end
    is carried out once it ended."""
    now = utcnow()
    done = await files.purge_files(db, closed_before=now - timedelta(days=policy.upload_retention_days),
                                   unlinked_before=now - timedelta(days=policy.unlinked_upload_retention_days))
    return {"uploads_deleted": done.retention, "uploads_erased": done.erasure}


def subject_for(email: str | None, *, phone: str | None = None, orders: list[str] | None = None,
                store_id: str | None = None) -> privacy.Subject:
    return privacy.Subject(email=(email or "").strip().lower() or None, phone=phone, order_refs=orders or [],
                           store_id=store_id)
