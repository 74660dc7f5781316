"""Reading requests: multipart parts, JSON bodies, enumerations, money, evidences, files, credentials."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from email.message import Message
from typing import Any

from sandbox.paypal.contract import (
    EVIDENCE_TYPES,
    FILE_TYPES,
    MAX_CALL_BYTES,
    MAX_FILE_BYTES,
    NOTE_MAX,
    Json,
    PayPalFail,
    _invalid,
    _unprocessable,
)
from sandbox.paypal.models import FakeDispute


@dataclass
class Part:
    name: str
    filename: str | None
    content_type: str
    data: bytes

    def summary(self) -> Json:
        summary: Json = {
            "name": self.name,
            "filename": self.filename,
            "content_type": self.content_type,
            "size": len(self.data),
            "sha256": hashlib.sha256(self.data).hexdigest(),
        }
        if self.content_type == "application/json" or self.name == "input":
            try:
                summary["json"] = json.loads(self.data)
            except ValueError:
                summary["json"] = None
        return summary


def _header_params(value: str) -> Message:
    message = Message()
    message["content-type"] = value
    return message


def _multipart(content_type: str, raw: bytes) -> list[Part]:
    """A multipart/form-data body split into parts (binary-safe; no python-multipart needed)."""
    boundary = _header_params(content_type).get_param("boundary")
    if not isinstance(boundary, str) or not boundary:
        raise _invalid("MALFORMED_REQUEST", "multipart/form-data without a boundary.")
    delimiter = b"--" + boundary.encode()
    chunks = raw.split(delimiter)
    if len(chunks) < 3 or not chunks[-1].startswith(b"--"):
        raise _invalid("MALFORMED_REQUEST", "The multipart body is not terminated.")
    parts: list[Part] = []
    for chunk in chunks[1:-1]:
        chunk = chunk.removeprefix(b"\r\n").removesuffix(b"\r\n")
        head, sep, data = chunk.partition(b"\r\n\r\n")
        if not sep:
            raise _invalid("MALFORMED_REQUEST", "A multipart part has no header block.")
        headers: dict[str, str] = {}
        for line in head.decode("utf-8", errors="replace").split("\r\n"):
            key, _, value = line.partition(":")
            headers[key.strip().lower()] = value.strip()
        disposition = _header_params("form-data; " + headers.get("content-disposition", "").partition(";")[2])
        name = disposition.get_param("name")
        filename = disposition.get_param("filename")
        if not isinstance(name, str):
            raise _invalid("MALFORMED_REQUEST", "A multipart part has no name.")
        ctype = headers.get("content-type", "text/plain").split(";")[0].strip().lower()
        parts.append(Part(name, filename if isinstance(filename, str) else None, ctype, data))
    return parts


def _json_part(part: Part) -> Any:
    try:
        return json.loads(part.data)
    except ValueError:
        raise _invalid("MALFORMED_REQUEST_JSON", "The `input` part is not valid JSON.", "input") from None


def _json_body(content_type: str, raw: bytes) -> Json:
    """A JSON body, or the `input` part of a multipart one (PayPal accepts both for actions)."""
    if content_type.lower().startswith("multipart/form-data"):
        inputs = [p for p in _multipart(content_type, raw) if p.name == "input"]
        data = _json_part(inputs[0]) if inputs else None
    elif content_type.lower().startswith("application/json"):
        try:
            data = json.loads(raw) if raw else None
        except ValueError:
            raise _invalid("MALFORMED_REQUEST_JSON", "The request JSON is not well formed.") from None
    else:
        raise PayPalFail(415, "UNSUPPORTED_MEDIA_TYPE", "UNSUPPORTED_MEDIA_TYPE", f"Content-Type {content_type!r}.")
    if not isinstance(data, dict):
        raise _invalid("MALFORMED_REQUEST_JSON", "The request body must be a JSON object.")
    return data


def _enum(body: Mapping[str, Any], key: str, allowed: frozenset[str]) -> None:
    value = body.get(key)
    if value is not None and value not in allowed:
        raise _invalid("INVALID_PARAMETER_VALUE", f"{key} {value!r} is not an allowed value.", f"/{key}")


def _optional_money(value: Any, where: str) -> tuple[Decimal, str] | None:
    if value is None:
        return None
    if not isinstance(value, Mapping) or not isinstance(value.get("value"), str):
        raise _invalid("INVALID_PARAMETER_SYNTAX", "A money object needs currency_code and value.", where)
    try:
        return Decimal(value["value"]), str(value.get("currency_code", "")).upper()
    except InvalidOperation:
        raise _invalid("INVALID_PARAMETER_SYNTAX", "value is not a decimal.", where) from None


def _evidences(document: Any) -> list[Json]:
    """The `evidences` of an `input` part, checked as PayPal documents it."""
    evidences = document.get("evidences") if isinstance(document, Mapping) else None
    if not isinstance(evidences, list) or not evidences or len(evidences) > 100:
        raise _invalid("MISSING_REQUIRED_PARAMETER", "input.evidences must list 1 to 100 evidences.", "/evidences")
    checked: list[Json] = []
    for index, evidence in enumerate(evidences):
        where = f"/evidences/{index}"
        if not isinstance(evidence, dict):
            raise _invalid("INVALID_PARAMETER_SYNTAX", "An evidence must be an object.", where)
        kind = evidence.get("evidence_type")
        if not kind:
            raise _unprocessable("MISSING_EVIDENCE_TYPE", "The evidence type is required but it is missing.")
        if kind not in EVIDENCE_TYPES:
            raise _invalid(
                "INVALID_PARAMETER_VALUE", f"evidence_type {kind!r} is not allowed.", f"{where}/evidence_type"
            )
        info = evidence.get("evidence_info") or {}
        if not isinstance(info, Mapping):
            raise _invalid("INVALID_PARAMETER_SYNTAX", "evidence_info must be an object.", f"{where}/evidence_info")
        if kind == "PROOF_OF_FULFILLMENT" and not _tracking_ok(info.get("tracking_info")):
            raise _unprocessable(
                "MISSING_TRACKING_INFO", "For PROOF_OF_FULFILLMENT, the tracking number and carrier name are required."
            )
        refund_ids = info.get("refund_ids")
        if kind == "PROOF_OF_REFUND" and not (isinstance(refund_ids, list) and refund_ids):
            raise _unprocessable("MISSING_REFUND_ID", "For PROOF_OF_REFUND, at least one refund ID is required.")
        notes = evidence.get("notes")
        if notes is not None and (not isinstance(notes, str) or not 0 < len(notes) <= NOTE_MAX):
            raise _invalid("INVALID_STRING_LENGTH", "notes must be 1 to 2000 characters.", f"{where}/notes")
        checked.append(evidence)
    return checked


def _tracking_ok(tracking: Any) -> bool:
    if not isinstance(tracking, list) or not 0 < len(tracking) <= 10:
        return False
    for item in tracking:
        if not isinstance(item, Mapping) or not item.get("carrier_name") or not item.get("tracking_number"):
            return False
        if item.get("carrier_name") == "OTHER" and not item.get("carrier_name_other"):
            return False
    return True


def _check_files(files: Sequence[Part]) -> None:
    total = 0
    for part in files:
        if not part.filename or part.content_type not in FILE_TYPES or not 0 < len(part.data) < MAX_FILE_BYTES:
            raise _unprocessable(
                "INVALID_EVIDENCE_FILE",
                "The evidence file is not valid. The user can upload up to 50 MB of files for a case. Individual files "
                "must be smaller than 10 MB. The supported file formats are JPG, GIF, PNG, and PDF.",
            )
        total += len(part.data)
    if total > MAX_CALL_BYTES:
        raise _unprocessable("INVALID_EVIDENCE_FILE", "The evidence files exceed 50 MB.")


def _self_link(root: str, dispute: FakeDispute) -> Json:
    return {"links": [{"href": f"{root}/v1/customer/disputes/{dispute.id}", "rel": "self", "method": "GET"}]}


def _basic_credentials(authorization: str | None) -> tuple[str, str] | None:
    scheme, _, value = (authorization or "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, sep, password = base64.b64decode(value.strip(), validate=True).decode().partition(":")
    except ValueError:
        return None
    return (user, password) if sep else None


def _bearer(authorization: str | None) -> str | None:
    scheme, _, value = (authorization or "").partition(" ")
    return value.strip() or None if scheme.lower() == "bearer" else None

