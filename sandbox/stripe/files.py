"""File uploads (`POST /v1/files` on the files host): dispute evidence, PDF, JPEG or PNG up to 5 MB."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import TYPE_CHECKING

from sandbox.stripe.models import StoredFile
from sandbox.stripe.spec import Json, UploadedFile, _invalid
from sandbox.stripe.store import _new_id

if TYPE_CHECKING:
    from sandbox.stripe.state import FakeStripeState


MAX_DISPUTE_FILE_BYTES = 5 * 1024 * 1024

_MAGIC = ((b"%PDF", "pdf"), (b"\x89PNG\r\n\x1a\n", "png"), (b"\xff\xd8\xff", "jpg"))


def create_file(state: FakeStripeState, path: dict[str, str], query: Json, params: Json) -> Json:
    upload: UploadedFile = params["file"]
    purpose = str(params["purpose"])
    kind = next((name for magic, name in _MAGIC if upload.content.startswith(magic)), None)
    if purpose == "dispute_evidence":
        if kind is None:
            raise _invalid("Files with purpose dispute_evidence must be PDF, JPEG or PNG.", param="file")
        if len(upload.content) > MAX_DISPUTE_FILE_BYTES:
            raise _invalid("Files with purpose dispute_evidence must be at most 5 MB.", param="file")
    file_id = _new_id("file")
    obj: Json = {
        "id": file_id,
        "object": "file",
        "created": state.timestamp(),
        "expires_at": None,
        "filename": upload.filename,
        "links": None,
        "purpose": purpose,
        "size": len(upload.content),
        "title": None,
        "type": kind or Path(upload.filename).suffix.lstrip(".").lower() or None,
        "url": f"https://files.stripe.com/v1/files/{file_id}/contents",
    }
    state.files[file_id] = StoredFile(obj, upload.content)
    return copy.deepcopy(obj)
