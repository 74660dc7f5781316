"""A fake Stripe that obeys the real OpenAPI contract (INTEGRATIONS.md section 3, spec3.yaml).

The sandbox's payment processor and the tests' stand-in for Stripe, written from the contract
(`shared/contracts/stripe/spec3.yaml`, API 2023-08-16) and not from the product's client, so a
test that passes against it checks the client against Stripe's documents.

EVERY API request is validated against spec3.yaml before anything else happens:
* the path and method must be an operation of the spec (else 404 "Unrecognized request URL");
  operations whose spec `servers` is files.stripe.com (`POST /v1/files`) are served only under
  the fake's files host (`files_base_url`, i.e. `/_files/v1/...`), the others only on the API host;
* query parameters must be the operation's declared `in: query` parameters, and form / multipart
  body parameters must be declared by the operation's `requestBody` schema, nested keys included
  (`evidence[...]` against the `evidence` object's properties, `metadata[...]` against its
  `additionalProperties`): anything else is a Stripe-shaped 400 `invalid_request_error` with code
  `parameter_unknown` and the offending `param`; types are checked where simple (string with
  maxLength and enum, integer, boolean, number, arrays, `anyOf`, required properties, binary files);
* `Stripe-Version`, when sent, must be the spec's version (the fake speaks no other);
* every answer (objects, lists, errors) and every webhook event is checked against the spec's
  response schemas (required fields present, no field the spec does not declare); a mismatch is
  a bug of the fake, answered 500 so that it cannot go unnoticed.
Nothing is executed for a request that fails validation, and nothing is saved under its
idempotency key, as Stripe documents.

Behaviour (3.2, 3.3, 3.6):
* auth: `Authorization: Bearer <key>` (or basic auth with the key as user) among the configured
  keys, else 401; answers carry `Request-Id` and `Stripe-Version`;
* `POST /v1/disputes/{dispute}` on a dispute in `needs_response` / `warning_needs_response`:
  `evidence[...]` is stored ("" clears a field; file fields must name a file uploaded with purpose
  `dispute_evidence`, else 400 `resource_missing`; the combined text is limited to 150,000
  characters) and `has_evidence` becomes true; `submit` defaults to TRUE when omitted, as Stripe
  documents: `submit=false` only stages (`submission_count` unchanged), `submit=true` moves the
  dispute to `under_review` / `warning_under_review`, increments `submission_count` and sets
  `past_due` when later than `due_by`. Once submitted or closed, a request with evidence or with
  an (explicit or default) submit is refused with a 400 `invalid_request_error`;
  `metadata[...]` is merged ("" removes a key, `metadata=` removes all);
* `POST /v1/disputes/{dispute}/close`: `needs_response` -> `lost`, `warning_needs_response` ->
  `warning_closed`; anything else is refused (400);
* `GET /v1/disputes` filters on `charge`, `payment_intent` and `created`, lists newest first and
  pages with `limit` (1-100), `starting_after` and `ending_before`;
* `expand[]` is validated; `charge` and `payment_intent` of a dispute and `payment_intent` of a
  charge are expanded, other expansions are ignored;
* `POST /v1/files` (multipart `file` + `purpose`): PDF, JPEG or PNG (by content) up to 5 MB for
  `dispute_evidence`; returns a `file` object;
* idempotency: a POST whose `Idempotency-Key` was seen with the same method, path and parameters
  replays the saved status and body (headers `Idempotent-Replayed: true`, `Original-Request`),
  including a saved 500; the same key with other parameters or another endpoint is a 400
  `idempotency_error`; keys longer than 255 characters are refused.

Run it: `python -m deployments.sandbox.stripe_fake --port 8083 [--webhook-url URL]`, or
in-process with `start_fake_stripe(port=0, **config)` (object with `base_url`, `files_base_url`,
`state`, `stop()`). Control API (not Stripe's), under `/_control`:

* `POST /_control/reset` `{config...}` forget everything (optionally change the configuration);
* `GET|POST /_control/config` `{webhook_url, webhook_secret, api_keys, timeout_delay_seconds}`;
* `POST /_control/disputes` `{amount (minor units), currency, reason, status
  (needs_response|warning_needs_response), due_by (unix) | due_in_days, order_id, charge_id
  (reuse a charge), charge_metadata, payment_intent_metadata, description, with_payment_intent,
  receipt_email, billing_name, metadata, fee (minor units; 0 = none), is_charge_refundable, brand,
  network_reason_code, emit}`: a charge (and payment intent) with the order id in their metadata,
  a dispute with its withdrawal balance transaction (none for an inquiry), and a signed
  `charge.dispute.created` event sent to the configured webhook URL unless `emit` is false;
* `GET /_control/disputes/{id}` the stored dispute, as the API shows it;
* `POST /_control/disputes/{id}/events/{type}` `{status?, times?}`: send
  `charge.dispute.created|updated|closed|funds_withdrawn|funds_reinstated` with a correct
  `Stripe-Signature`. `status` first changes the dispute (`closed` defaults to won after a
  submission, lost before, warning_closed for an inquiry); `funds_reinstated` adds the reversal
  balance transaction; `data.previous_attributes` holds what changed since the previous event
  about the dispute; `times` > 1 redelivers the same event id;
* `GET /_control/webhooks` every delivery (event, signature header, HTTP status or error);
* `POST /_control/faults` `{path (concrete or spec template), method?, kind, count (default 1: once),
  delay_seconds?}`; kinds: `http_500_before_commit` (500, nothing done, nothing saved),
  `http_500_after_commit` (done; Stripe's 500 saved under the idempotency key and replayed),
  `http_502_after_commit` (done and the 200 saved, but a proxy answers 502: a lost answer),
  `timeout` (answers after `delay_seconds`, having done the work), `rate_limited` (429
  `rate_limit`, nothing done); `GET /_control/faults`;
* `GET /_control/files/{id}` an uploaded file's object, size and sha256;
* `GET /_control/calls` `?path=&method=&operation=` every API request with its validated
  parameters (`query`, `params`; typed and nested), the pairs as received (`raw_params`),
  idempotency key, Stripe-Version, host (api/files), status, error, fault, replay;
* `POST /_control/clock` `{advance_seconds}` moves the fake's clock (due dates, signatures).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import copy
import hashlib
import hmac
import itertools
import json
import os
import re
import secrets
import socket
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import Message
from functools import cache
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qsl

import httpx
import uvicorn
import yaml
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from integrations.httpclients import tls_context

Json = dict[str, Any]

SPEC_PATH_ENV = "AFTERSALES_STRIPE_SPEC_PATH"
DEFAULT_SPEC_PATH = Path(__file__).resolve().parents[3] / "shared" / "contracts" / "stripe" / "spec3.yaml"
DEFAULT_API_KEY = "sk_test_sandbox"
DEFAULT_WEBHOOK_SECRET = "whsec_sandbox"  # noqa: S105 - sandbox value, as the product's default
FILES_HOST_PREFIX = "/_files"
FILES_SERVER = "https://files.stripe.com/"
IDEMPOTENCY_KEY_MAX = 255
EVIDENCE_TOTAL_MAX_CHARS = 150_000
MAX_DISPUTE_FILE_BYTES = 5 * 1024 * 1024
METADATA_MAX_KEYS, METADATA_KEY_MAX, METADATA_VALUE_MAX = 50, 40, 500
RESPONDABLE = frozenset({"needs_response", "warning_needs_response"})
DISPUTE_EVENTS = (
    "charge.dispute.created",
    "charge.dispute.updated",
    "charge.dispute.closed",
    "charge.dispute.funds_withdrawn",
    "charge.dispute.funds_reinstated",
)
FaultKind = Literal[
    "http_500_before_commit", "http_500_after_commit", "http_502_after_commit", "timeout", "rate_limited"
]


def _utcnow() -> datetime:
    return datetime.now(UTC)


# ====================================================================== the contract


_spec_lock = threading.Lock()


@cache
def _load_spec(path: str) -> Json:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when available: ~4x faster
    with open(path, "rb") as handle:
        spec = yaml.load(handle, Loader=loader)  # noqa: S506 - a safe loader, chosen above
    if not isinstance(spec, dict) or "paths" not in spec:
        raise ValueError(f"{path} is not an OpenAPI document")
    return spec


def spec_path() -> str:
    return os.environ.get(SPEC_PATH_ENV) or str(DEFAULT_SPEC_PATH)


def stripe_spec() -> Json:
    """spec3.yaml, parsed once per process (a few seconds) and shared; thread-safe. Read-only."""
    with _spec_lock:
        return _load_spec(spec_path())


def spec_version() -> str:
    return str(stripe_spec()["info"]["version"])


def spec_validator() -> SpecValidator:
    """The validator over `stripe_spec()`, built once per process."""
    with _spec_lock:
        return _validator_for(spec_path())


@cache
def _validator_for(path: str) -> SpecValidator:
    return SpecValidator(_load_spec(path))


class StripeFail(Exception):
    """A Stripe error answer: `{"error": {type, message, code?, param?}}` with an HTTP status."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        error_type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.error_type = error_type
        self.code = code
        self.param = param
        self.headers = dict(headers or {})

    def body(self, request_id: str) -> Json:
        error: Json = {"message": self.message, "type": self.error_type}
        if self.code:
            error["code"] = self.code
            error["doc_url"] = f"https://stripe.com/docs/error-codes/{self.code.replace('_', '-')}"
        if self.param:
            error["param"] = self.param
        error["request_log_url"] = f"https://dashboard.stripe.com/test/logs/{request_id}"
        return {"error": error}


def _invalid(message: str, param: str | None = None, code: str | None = None) -> StripeFail:
    return StripeFail(400, message, code=code, param=param)


@dataclass(frozen=True)
class UploadedFile:
    """One multipart file part."""

    filename: str
    content_type: str
    content: bytes

    def summary(self) -> Json:
        return {
            "filename": self.filename,
            "content_type": self.content_type,
            "size": len(self.content),
            "sha256": hashlib.sha256(self.content).hexdigest(),
        }


class _Leaf:
    """The values a form key received (several for `expand[]=a&expand[]=b`)."""

    __slots__ = ("values",)

    def __init__(self, value: str | UploadedFile) -> None:
        self.values: list[str | UploadedFile] = [value]


_Node = dict[str, Any] | _Leaf
_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")
_INTEGER = re.compile(r"^-?\d+$")


def _param_name(parts: Sequence[str]) -> str:
    return parts[0] + "".join(f"[{p}]" for p in parts[1:])


def form_tree(pairs: Sequence[tuple[str, str | UploadedFile]]) -> dict[str, Any]:
    """Stripe's bracket notation -> a tree: `evidence[receipt]=x` -> {"evidence": {"receipt": leaf}}."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        match = _KEY.match(key)
        if match is None:
            raise _invalid(f"Invalid parameter name: {key}", param=key)
        parts = [match.group(1), *re.findall(r"\[([^\[\]]*)\]", match.group(2))]
        node = root
        for depth, part in enumerate(parts[:-1]):
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            elif isinstance(child, _Leaf):
                name = _param_name(parts[: depth + 1])
                raise _invalid(f"Invalid {name}: a value and a hash at once", param=name)
            node = child
        last = parts[-1]
        existing = node.get(last)
        if existing is None:
            node[last] = _Leaf(value)
        elif isinstance(existing, _Leaf):
            existing.values.append(value)
        else:
            name = _param_name(parts)
            raise _invalid(f"Invalid {name}: a value and a hash at once", param=name)
    return root


@dataclass(frozen=True)
class Operation:
    """One (method, path) of spec3.yaml."""

    method: str
    template: str
    operation_id: str
    regex: re.Pattern[str]
    spec: Json
    files_host: bool

    def query_schema(self) -> Json:
        props: Json = {}
        required: list[str] = []
        for param in self.spec.get("parameters") or []:
            if param.get("in") == "query":
                props[param["name"]] = param.get("schema") or {}
                if param.get("required"):
                    required.append(param["name"])
        return {"type": "object", "properties": props, "required": required, "additionalProperties": False}

    def path_schemas(self) -> dict[str, Json]:
        return {
            p["name"]: p.get("schema") or {} for p in self.spec.get("parameters") or [] if p.get("in") == "path"
        }

    def body(self) -> tuple[str | None, Json | None, bool]:
        """(media type, schema, required) of the requestBody."""
        request_body = self.spec.get("requestBody") or {}
        content = request_body.get("content") or {}
        for media_type, description in content.items():
            return media_type, description.get("schema") or {}, bool(request_body.get("required"))
        return None, None, False

    def response_schema(self, status: int) -> Json | None:
        responses = self.spec.get("responses") or {}
        answer = responses.get(str(status)) or responses.get("default") or {}
        return ((answer.get("content") or {}).get("application/json") or {}).get("schema")


class SpecValidator:
    """Requests and answers checked against spec3.yaml."""

    def __init__(self, spec: Json) -> None:
        self.spec = spec
        self.version = str(spec["info"]["version"])
        self._schemas: Json = spec["components"]["schemas"]
        operations: list[Operation] = []
        for template, item in spec["paths"].items():
            regex = re.compile("^" + re.sub(r"\\{(\w+)\\}", r"(?P<\1>[^/]+)", re.escape(template)) + "$")
            for method, operation in item.items():
                if method not in ("get", "post", "delete"):
                    continue
                servers = operation.get("servers") or []
                operations.append(
                    Operation(
                        method=method.upper(),
                        template=template,
                        operation_id=str(operation.get("operationId")),
                        regex=regex,
                        spec=operation,
                        files_host=any(s.get("url") == FILES_SERVER for s in servers),
                    )
                )
        # Literal paths before templated ones (`/v1/charges/search` before `/v1/charges/{charge}`).
        operations.sort(key=lambda op: op.template.count("{"))
        self.operations = operations

    # ---- lookups

    def schema(self, name: str) -> Json:
        schema: Json = self._schemas[name]
        return schema

    def resolve(self, schema: Json) -> Json:
        seen = 0
        while "$ref" in schema:
            ref = str(schema["$ref"])
            if not ref.startswith("#/components/schemas/") or seen > 20:
                raise ValueError(f"unsupported $ref {ref}")
            schema = self._schemas[ref.rsplit("/", 1)[1]]
            seen += 1
        return schema

    def match(self, method: str, path: str, *, files_host: bool) -> tuple[Operation, dict[str, str]]:
        known_path = False
        for op in self.operations:
            found = op.regex.match(path)
            if found is None:
                continue
            known_path = True
            if op.method != method:
                continue
            if op.files_host != files_host:
                where = "https://files.stripe.com" if op.files_host else "https://api.stripe.com"
                raise StripeFail(
                    404,
                    f"Unrecognized request URL ({method}: {path}) on this host: spec3.yaml serves it on {where}.",
                )
            return op, found.groupdict()
        del known_path  # Stripe says the same whether the path or only the method is unknown
        raise StripeFail(
            404,
            f"Unrecognized request URL ({method}: {path}). Please see https://stripe.com/docs or we can help "
            "at https://support.stripe.com/.",
        )

    def operation(self, operation_id: str) -> Operation:
        return next(op for op in self.operations if op.operation_id == operation_id)

    # ---- request validation

    def validate_path(self, op: Operation, values: Mapping[str, str]) -> None:
        for name, schema in op.path_schemas().items():
            self._check(schema, _Leaf(values[name]), name)

    def validate_query(self, op: Operation, pairs: Sequence[tuple[str, str]]) -> Json:
        if not pairs:
            return {}
        result: Json = self._check(op.query_schema(), form_tree(list(pairs)), "")
        return result

    def validate_body(self, op: Operation, media_type: str, pairs: Sequence[tuple[str, str | UploadedFile]]) -> Json:
        declared, schema, required = op.body()
        if not pairs:
            if required:
                raise _invalid("Missing required param: file.", param="file", code="parameter_missing")
            return {}
        if declared is None or schema is None:
            raise _invalid(f"{op.method} {op.template} takes no body parameters")
        if media_type != declared:
            raise _invalid(f"{op.method} {op.template} takes {declared}, not {media_type or 'no content type'}")
        result: Json = self._check(schema, form_tree(list(pairs)), "")
        return result

    def _check(self, schema: Json, node: _Node, name: str) -> Any:
        schema = self.resolve(schema)
        if "anyOf" in schema:
            return self._check_any_of(schema["anyOf"], node, name)
        kind = schema.get("type") or ("object" if "properties" in schema else None)
        if kind == "object":
            return self._check_object(schema, node, name)
        if kind == "array":
            return self._check_array(schema, node, name)
        return self._check_leaf(schema, kind, node, name)

    def _check_any_of(self, alternatives: Sequence[Json], node: _Node, name: str) -> Any:
        best: StripeFail | None = None
        for alternative in alternatives:
            try:
                return self._check(alternative, node, name)
            except StripeFail as failure:
                shape = self.resolve(alternative).get("type") in ("object", "array")
                if best is None or shape == isinstance(node, dict):
                    best = failure
        raise best if best is not None else _invalid(f"Invalid {name}", param=name)

    def _check_object(self, schema: Json, node: _Node, name: str) -> Json:
        if not isinstance(node, dict):
            raise _invalid(f"Invalid hash{f' for {name}' if name else ''}", param=name or None)
        properties: Json = schema.get("properties") or {}
        additional = schema.get("additionalProperties")
        out: Json = {}
        for key, child in node.items():
            child_name = f"{name}[{key}]" if name else key
            if key in properties:
                out[key] = self._check(properties[key], child, child_name)
            elif isinstance(additional, dict):
                out[key] = self._check(additional, child, child_name)
            elif additional is True:
                out[key] = _plain(child)
            else:
                # Stripe rejects undeclared keys, whether the schema says additionalProperties
                # false (top level) or says nothing (nested hashes such as `evidence`).
                raise _invalid(f"Received unknown parameter: {child_name}", param=child_name, code="parameter_unknown")
        for key in schema.get("required") or []:
            if key not in node:
                missing = f"{name}[{key}]" if name else key
                raise _invalid(f"Missing required param: {missing}.", param=missing, code="parameter_missing")
        return out

    def _check_array(self, schema: Json, node: _Node, name: str) -> list[Any]:
        if not isinstance(node, dict) or any(k != "" and not k.isdigit() for k in node):
            raise _invalid(f"Invalid array{f' for {name}' if name else ''}", param=name or None)
        items = schema.get("items") or {}
        out: list[Any] = []
        for key in sorted(node, key=lambda k: -1 if k == "" else int(k)):
            child = node[key]
            if key == "" and isinstance(child, _Leaf):
                out.extend(self._check(items, _Leaf(value), f"{name}[]") for value in child.values)
            else:
                out.append(self._check(items, child, f"{name}[{key}]"))
        return out

    def _check_leaf(self, schema: Json, kind: str | None, node: _Node, name: str) -> Any:
        if not isinstance(node, _Leaf):
            raise _invalid(f"Invalid {kind or 'value'} for {name}: received a hash", param=name)
        if len(node.values) > 1:
            raise _invalid(f"Invalid {name}: received {len(node.values)} values", param=name)
        value = node.values[0]
        if schema.get("format") == "binary":
            if not isinstance(value, UploadedFile):
                raise _invalid(f"Invalid file for {name}: expected a file part", param=name)
            return value
        if isinstance(value, UploadedFile):
            raise _invalid(f"Invalid {name}: a file where a {kind} is expected", param=name)
        if kind == "integer":
            if not _INTEGER.match(value):
                raise _invalid(f"Invalid integer: {value}", param=name, code="parameter_invalid_integer")
            return self._enum(schema, int(value), name)
        if kind == "boolean":
            if value not in ("true", "false"):
                raise _invalid(f"Invalid boolean: {value}", param=name)
            return value == "true"
        if kind == "number":
            try:
                number = float(value)
            except ValueError:
                raise _invalid(f"Invalid decimal: {value}", param=name) from None
            return self._enum(schema, number, name)
        max_length = schema.get("maxLength")
        if isinstance(max_length, int) and len(value) > max_length:
            raise _invalid(
                f"Invalid string: {value[:20]}...; must be at most {max_length} characters", param=name
            )
        return self._enum(schema, value, name)

    @staticmethod
    def _enum(schema: Json, value: Any, name: str) -> Any:
        allowed = schema.get("enum")
        if allowed is not None and value not in allowed:
            choices = ", ".join(str(a) for a in allowed)
            raise _invalid(f"Invalid {name}: must be one of {choices}", param=name)
        return value

    # ---- answer conformance

    def problems(self, schema: Json, value: Any, where: str = "$") -> list[str]:
        """Where `value` breaks `schema` (response side): missing required fields, fields the spec
        does not declare, wrong types and enums. Empty when it conforms."""
        schema = self.resolve(schema)
        if value is None:
            return [] if schema.get("nullable") else [f"{where}: null but not nullable"]
        if "anyOf" in schema:
            found = [self.problems(alternative, value, where) for alternative in schema["anyOf"]]
            return [] if any(not f for f in found) else min(found, key=len)
        kind = schema.get("type") or ("object" if "properties" in schema else None)
        checks: dict[str | None, Callable[[], list[str]]] = {
            "object": lambda: self._object_problems(schema, value, where),
            "array": lambda: self._array_problems(schema, value, where),
            "string": lambda: [] if isinstance(value, str) else [f"{where}: not a string"],
            "integer": lambda: [] if _is_int(value) else [f"{where}: not an integer"],
            "number": lambda: [] if _is_int(value) or isinstance(value, float) else [f"{where}: not a number"],
            "boolean": lambda: [] if isinstance(value, bool) else [f"{where}: not a boolean"],
        }
        found_problems = checks.get(kind, list)()
        allowed = schema.get("enum")
        if not found_problems and allowed is not None and value not in allowed:
            found_problems.append(f"{where}: {value!r} not in enum")
        return found_problems

    def _object_problems(self, schema: Json, value: Any, where: str) -> list[str]:
        if not isinstance(value, dict):
            return [f"{where}: not an object"]
        properties: Json = schema.get("properties") or {}
        additional = schema.get("additionalProperties")
        found = [f"{where}.{key}: required but missing" for key in schema.get("required") or [] if key not in value]
        for key, item in value.items():
            if key in properties:
                found += self.problems(properties[key], item, f"{where}.{key}")
            elif isinstance(additional, dict):
                found += self.problems(additional, item, f"{where}.{key}")
            elif properties:
                found.append(f"{where}.{key}: not declared by the spec")
        return found

    def _array_problems(self, schema: Json, value: Any, where: str) -> list[str]:
        if not isinstance(value, list):
            return [f"{where}: not an array"]
        found: list[str] = []
        for index, item in enumerate(value):
            found += self.problems(schema.get("items") or {}, item, f"{where}[{index}]")
        return found


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _plain(node: _Node) -> Any:
    if isinstance(node, _Leaf):
        return node.values[0] if len(node.values) == 1 else list(node.values)
    return {key: _plain(child) for key, child in node.items()}


def loggable(value: Any) -> Any:
    """Validated parameters as JSON (files as their name, size and sha256)."""
    if isinstance(value, UploadedFile):
        return value.summary()
    if isinstance(value, dict):
        return {key: loggable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [loggable(item) for item in value]
    return value


def parse_multipart(body: bytes, content_type: str) -> list[tuple[str, str | UploadedFile]]:
    """`multipart/form-data` parts as (name, text or file), in order (RFC 7578)."""
    header = Message()
    header["content-type"] = content_type
    boundary = header.get_param("boundary")
    if not isinstance(boundary, str) or not boundary:
        raise _invalid("multipart/form-data without a boundary")
    delimiter = b"--" + boundary.encode("latin-1")
    chunks = body.split(delimiter)
    if len(chunks) < 3 or not chunks[-1].startswith(b"--"):
        raise _invalid("malformed multipart body")
    parts: list[tuple[str, str | UploadedFile]] = []
    for chunk in chunks[1:-1]:
        chunk = chunk.removeprefix(b"\r\n").removesuffix(b"\r\n")
        head, separator, data = chunk.partition(b"\r\n\r\n")
        if not separator:
            raise _invalid("malformed multipart part")
        headers = Message()
        for line in head.decode("utf-8", "replace").split("\r\n"):
            key, _, value = line.partition(":")
            if key.strip():
                headers[key.strip()] = value.strip()
        name = headers.get_param("name", header="content-disposition")
        filename = headers.get_param("filename", header="content-disposition")
        if not isinstance(name, str):
            raise _invalid("multipart part without a name")
        if isinstance(filename, str):
            parts.append((name, UploadedFile(filename, headers.get_content_type(), data)))
        else:
            parts.append((name, data.decode("utf-8")))
    return parts


# ====================================================================== state


@dataclass
class FakeStripeConfig:
    """What a test or the sandbox may tune; `reset` goes back to the values given at start."""

    api_keys: tuple[str, ...] = (DEFAULT_API_KEY,)
    webhook_url: str | None = None
    webhook_secret: str = DEFAULT_WEBHOOK_SECRET
    timeout_delay_seconds: float = 2.0
    default_fee: int = 1500  # the "dispute received fee", in minor units [UNVERIFIED amount, 3.7]
    check_answers: bool = True  # every answer checked against spec3.yaml


@dataclass
class Fault:
    path: str
    method: str | None
    kind: str
    delay_seconds: float
    remaining: int

    def matches(self, method: str, path: str, template: str) -> bool:
        return (self.method is None or self.method == method) and self.path in (path, template)

    def as_json(self) -> Json:
        return {
            "path": self.path,
            "method": self.method,
            "kind": self.kind,
            "delay_seconds": self.delay_seconds,
            "remaining": self.remaining,
        }


@dataclass
class Saved:
    """What Stripe keeps under an idempotency key."""

    method: str
    path: str
    fingerprint: str
    status: int
    body: Json
    request_id: str


@dataclass
class CallRecord:
    seq: int
    method: str
    host: str
    path: str
    at: str
    idempotency_key: str | None
    stripe_version: str | None
    content_type: str | None
    operation: str | None = None
    template: str | None = None
    query: Json = field(default_factory=dict)
    params: Json = field(default_factory=dict)
    raw_params: list[list[Any]] = field(default_factory=list)  # as received, before validation
    status: int = 0
    error: Json | None = None
    fault: str | None = None
    replayed: bool = False
    request_id: str | None = None

    def as_json(self) -> Json:
        return dict(self.__dict__)


@dataclass
class StoredFile:
    obj: Json
    content: bytes


class FakeStripeState:
    """The fake account's memory. Thread-safe: the server runs in its own thread."""

    def __init__(self, config: FakeStripeConfig | None = None, *, clock: Callable[[], datetime] = _utcnow) -> None:
        self.defaults = config or FakeStripeConfig()
        self._base_clock = clock
        self.lock = threading.RLock()
        self.validator = spec_validator()
        self.reset()

    def reset(self, **overrides: Any) -> None:
        with self.lock:
            values = {**self.defaults.__dict__, **overrides}
            if "api_keys" in values:
                values["api_keys"] = tuple(values["api_keys"])
            self.config = FakeStripeConfig(**values)
            self.clock_offset = timedelta(0)
            self.charges: dict[str, Json] = {}
            self.payment_intents: dict[str, Json] = {}
            self.disputes: dict[str, Json] = {}
            self.files: dict[str, StoredFile] = {}
            self.idempotency: dict[tuple[str, str], Saved] = {}
            self.faults: list[Fault] = []
            self.calls: list[CallRecord] = []
            self.deliveries: list[Json] = []
            self.announced: dict[str, Json] = {}
            self._seq = itertools.count(1)

    def now(self) -> datetime:
        return self._base_clock() + self.clock_offset

    def timestamp(self) -> int:
        return int(self.now().timestamp())

    def next_seq(self) -> int:
        return next(self._seq)

    # ---- faults

    def add_fault(self, path: str, method: str | None, kind: str, count: int, delay: float | None) -> Fault:
        with self.lock:
            fault = Fault(
                path=path,
                method=method.upper() if method else None,
                kind=kind,
                delay_seconds=self.config.timeout_delay_seconds if delay is None else delay,
                remaining=count,
            )
            self.faults.append(fault)
            return fault

    def take_fault(self, method: str, path: str, template: str) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.remaining > 0 and fault.matches(method, path, template):
                    fault.remaining -= 1
                    return fault
            return None

    # ---- records

    def record(self, call: CallRecord) -> None:
        with self.lock:
            self.calls.append(call)

    def calls_matching(self, path: str | None, method: str | None, operation: str | None) -> list[Json]:
        with self.lock:
            return [
                c.as_json()
                for c in self.calls
                if (path is None or path in (c.path, c.template))
                and (method is None or c.method == method.upper())
                and (operation is None or c.operation == operation)
            ]

    # ---- objects

    def dispute(self, dispute_id: str, *, param: str = "dispute") -> Json:
        found = self.disputes.get(dispute_id)
        if found is None:
            raise StripeFail(404, f"No such dispute: '{dispute_id}'", code="resource_missing", param=param)
        return found

    def create_dispute(self, seed: DisputeSeed) -> tuple[Json, Json, Json | None]:
        with self.lock:
            now = self.timestamp()
            currency = seed.currency.lower()
            if seed.charge_id is not None:
                charge = self.charges.get(seed.charge_id)
                if charge is None:
                    raise HTTPException(404, f"no charge {seed.charge_id}")
                intent = self.payment_intents.get(charge.get("payment_intent") or "")
            else:
                charge, intent = self._new_charge(seed, currency, now)
            charge["disputed"] = True
            dispute_id = _new_id("dp")
            due_by = seed.due_by
            if due_by is None:
                days = 7.0 if seed.due_in_days is None else seed.due_in_days
                due_by = int((self.now() + timedelta(days=days)).timestamp())
            fee = self.config.default_fee if seed.fee is None else seed.fee
            inquiry = seed.status == "warning_needs_response"
            dispute: Json = {
                "id": dispute_id,
                "object": "dispute",
                "amount": seed.amount,
                "balance_transactions": [] if inquiry else [_withdrawal(dispute_id, charge, seed.amount, fee, now)],
                "charge": charge["id"],
                "created": now,
                "currency": currency,
                "evidence": {key: None for key in self.validator.schema("dispute_evidence")["properties"]},
                "evidence_details": {
                    "due_by": due_by,
                    "has_evidence": False,
                    "past_due": False,
                    "submission_count": 0,
                },
                "is_charge_refundable": seed.is_charge_refundable,
                "livemode": False,
                "metadata": dict(seed.metadata),
                "payment_intent": intent["id"] if intent is not None else None,
                "payment_method_details": {
                    "type": "card",
                    "card": {"brand": seed.brand, "network_reason_code": seed.network_reason_code},
                },
                "reason": seed.reason,
                "status": seed.status,
            }
            self.disputes[dispute_id] = dispute
            return copy.deepcopy(dispute), copy.deepcopy(charge), copy.deepcopy(intent)

    def _new_charge(self, seed: DisputeSeed, currency: str, now: int) -> tuple[Json, Json | None]:
        metadata = dict(seed.charge_metadata)
        if seed.order_id is not None:
            metadata.setdefault("order_id", seed.order_id)
        amount = seed.charge_amount or seed.amount
        charge_id = _new_id("ch")
        intent: Json | None = None
        if seed.with_payment_intent:
            intent_metadata = dict(metadata if seed.payment_intent_metadata is None else seed.payment_intent_metadata)
            intent = {
                "id": _new_id("pi"),
                "object": "payment_intent",
                "amount": amount,
                "amount_received": amount,
                "capture_method": "automatic",
                "confirmation_method": "automatic",
                "created": now,
                "currency": currency,
                "description": seed.description,
                "latest_charge": charge_id,
                "livemode": False,
                "metadata": intent_metadata,
                "payment_method_types": ["card"],
                "receipt_email": seed.receipt_email,
                "status": "succeeded",
            }
            self.payment_intents[intent["id"]] = intent
        charge: Json = {
            "id": charge_id,
            "object": "charge",
            "amount": amount,
            "amount_captured": amount,
            "amount_refunded": 0,
            "balance_transaction": _new_id("txn"),
            "billing_details": {"address": None, "email": seed.receipt_email, "name": seed.billing_name, "phone": None},
            "captured": True,
            "created": now,
            "currency": currency,
            "customer": None,
            "description": seed.description,
            "disputed": False,
            "livemode": False,
            "metadata": metadata,
            "paid": True,
            "payment_intent": intent["id"] if intent is not None else None,
            "payment_method_details": _card_details(seed),
            "receipt_email": seed.receipt_email,
            "receipt_number": None,
            "refunded": False,
            "status": "succeeded",
        }
        self.charges[charge_id] = charge
        return charge, intent

    def event_for(self, dispute_id: str, event_type: str, status: str | None) -> Json:
        """Apply the control change (status, reinstatement) and build the event."""
        with self.lock:
            dispute = self.disputes.get(dispute_id)
            if dispute is None:
                raise HTTPException(404, f"no dispute {dispute_id}")
            if event_type == "charge.dispute.closed":
                dispute["status"] = status or _closing_status(dispute)
            elif status is not None:
                dispute["status"] = status
            if event_type == "charge.dispute.funds_reinstated":
                charge = self.charges[dispute["charge"]]
                dispute["balance_transactions"].append(_reinstatement(dispute, charge, self.timestamp()))
            before = self.announced.get(dispute_id)
            previous = _previous_attributes(before, dispute) if before is not None else None
            self.announced[dispute_id] = copy.deepcopy(dispute)
            data: Json = {"object": copy.deepcopy(dispute)}
            if previous:
                data["previous_attributes"] = previous
            return {
                "id": _new_id("evt"),
                "object": "event",
                "api_version": self.validator.version,
                "created": self.timestamp(),
                "data": data,
                "livemode": False,
                "pending_webhooks": 1,
                "request": {"id": None, "idempotency_key": None},
                "type": event_type,
            }


def _new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_urlsafe(18).replace('-', 'x').replace('_', 'y')[:24]}"


def _card_details(seed: DisputeSeed) -> Json:
    """`payment_method_details` of a card charge, with the fields spec3.yaml declares for
    `payment_method_details_card` (the checks and the 3D Secure result included)."""
    checks = {"address_line1_check": seed.address_line1_check,
              "address_postal_code_check": seed.address_postal_code_check, "cvc_check": seed.cvc_check}
    return {
        "type": "card",
        "card": {
            "brand": seed.brand,
            "checks": checks,
            "country": seed.card_country,
            "exp_month": 12,
            "exp_year": 2030,
            "fingerprint": hashlib.sha256(f"{seed.brand}{seed.last4}".encode()).hexdigest()[:16],
            "funding": "credit",
            "installments": None,
            "last4": seed.last4,
            "mandate": None,
            "network": seed.brand,
            "network_token": None,
            "three_d_secure": seed.three_d_secure.model_dump() if seed.three_d_secure is not None else None,
            "wallet": None,
        },
    }


def _withdrawal(dispute_id: str, charge: Json, amount: int, fee: int, now: int) -> Json:
    fee_details = (
        [{"amount": fee, "application": None, "currency": charge["currency"], "description": "Dispute fee",
          "type": "stripe_fee"}]
        if fee
        else []
    )
    return {
        "id": _new_id("txn"),
        "object": "balance_transaction",
        "amount": -amount,
        "available_on": now,
        "created": now,
        "currency": charge["currency"],
        "description": f"Chargeback withdrawal for {charge['id']}",
        "exchange_rate": None,
        "fee": fee,
        "fee_details": fee_details,
        "net": -amount - fee,
        "reporting_category": "dispute",
        "source": dispute_id,
        "status": "available",
        "type": "adjustment",
    }


def _reinstatement(dispute: Json, charge: Json, now: int) -> Json:
    return {
        "id": _new_id("txn"),
        "object": "balance_transaction",
        "amount": dispute["amount"],
        "available_on": now,
        "created": now,
        "currency": charge["currency"],
        "description": f"Chargeback reversal for {charge['id']}",
        "exchange_rate": None,
        "fee": 0,
        "fee_details": [],
        "net": dispute["amount"],
        "reporting_category": "dispute_reversal",
        "source": dispute["id"],
        "status": "available",
        "type": "adjustment",
    }


def _closing_status(dispute: Json) -> str:
    status = str(dispute["status"])
    if status.startswith("warning_"):
        return "warning_closed"
    return "won" if status == "under_review" else "lost"


def _previous_attributes(before: Json, after: Json) -> Json:
    """Stripe's `previous_attributes`: the old values of what changed (sub-keys for hashes)."""
    previous: Json = {}
    for key, old in before.items():
        new = after.get(key)
        if old == new:
            continue
        if isinstance(old, dict) and isinstance(new, dict):
            previous[key] = {k: v for k, v in old.items() if new.get(k) != v}
        else:
            previous[key] = old
    return previous


# ====================================================================== API handlers (under the lock)


Handler = Callable[[FakeStripeState, dict[str, str], Json, Json], Json]


def _expand(state: FakeStripeState, obj: Json, expand: Sequence[str]) -> Json:
    out = copy.deepcopy(obj)
    stores = {"charge": state.charges, "payment_intent": state.payment_intents}
    for name in expand:
        store = stores.get(name)
        if store is not None and isinstance(out.get(name), str) and out[name] in store:
            out[name] = copy.deepcopy(store[out[name]])
    return out


def get_dispute(state: FakeStripeState, path: dict[str, str], query: Json, params: Json) -> Json:
    return _expand(state, state.dispute(path["dispute"]), query.get("expand") or [])


def list_disputes(state: FakeStripeState, path: dict[str, str], query: Json, params: Json) -> Json:
    limit = query.get("limit", 10)
    if not 1 <= limit <= 100:
        raise _invalid("Invalid limit: must be between 1 and 100", param="limit")
    rows = list(reversed(state.disputes.values()))  # newest first
    rows.sort(key=lambda d: -int(d["created"]))
    if "charge" in query:
        rows = [d for d in rows if d["charge"] == query["charge"]]
    if "payment_intent" in query:
        rows = [d for d in rows if d["payment_intent"] == query["payment_intent"]]
    created = query.get("created")
    if isinstance(created, int):
        rows = [d for d in rows if d["created"] == created]
    elif isinstance(created, dict):
        tests: dict[str, Callable[[int, int], bool]] = {
            "gt": lambda a, b: a > b,
            "gte": lambda a, b: a >= b,
            "lt": lambda a, b: a < b,
            "lte": lambda a, b: a <= b,
        }
        for op, bound in created.items():
            rows = [d for d in rows if tests[op](int(d["created"]), int(bound))]
    ids = [d["id"] for d in rows]
    if "starting_after" in query:
        cursor = _cursor(ids, query["starting_after"], "starting_after")
        rows = rows[cursor + 1 :]
        page, has_more = rows[:limit], len(rows) > limit
    elif "ending_before" in query:
        cursor = _cursor(ids, query["ending_before"], "ending_before")
        rows = rows[:cursor]
        page, has_more = rows[-limit:], len(rows) > limit
    else:
        page, has_more = rows[:limit], len(rows) > limit
    expand = [e.removeprefix("data.") for e in query.get("expand") or []]
    return {
        "object": "list",
        "data": [_expand(state, d, expand) for d in page],
        "has_more": has_more,
        "url": "/v1/disputes",
    }


def _cursor(ids: list[str], value: str, param: str) -> int:
    try:
        return ids.index(value)
    except ValueError:
        raise StripeFail(400, f"No such dispute: '{value}'", code="resource_missing", param=param) from None


def update_dispute(state: FakeStripeState, path: dict[str, str], query: Json, params: Json) -> Json:
    dispute = state.dispute(path["dispute"])
    evidence: Json | None = params.get("evidence")
    submit = params.get("submit", True)  # "set to true (the default)" (3.3)
    metadata = params.get("metadata")
    status = str(dispute["status"])
    if status not in RESPONDABLE and (evidence is not None or submit):
        raise _invalid(
            f"This dispute is {status}: its evidence has already been submitted or it is closed, so evidence "
            "can no longer be updated or submitted."
        )
    if evidence is not None:
        _check_evidence(state, dispute, evidence)
    new_metadata = _merged_metadata(dispute["metadata"], metadata) if metadata is not None else None
    if evidence is not None:
        for key, value in evidence.items():
            dispute["evidence"][key] = value or None
    details = dispute["evidence_details"]
    details["has_evidence"] = any(v for v in dispute["evidence"].values())
    if new_metadata is not None:
        dispute["metadata"] = new_metadata
    if submit:
        dispute["status"] = "warning_under_review" if status == "warning_needs_response" else "under_review"
        details["submission_count"] += 1
        due_by = details.get("due_by")
        details["past_due"] = bool(due_by) and state.timestamp() > int(due_by)
    return _expand(state, dispute, params.get("expand") or [])


def _check_evidence(state: FakeStripeState, dispute: Json, evidence: Json) -> None:
    evidence_schema = state.validator.schema("dispute_evidence")["properties"]
    merged = {**dispute["evidence"], **evidence}
    for key, value in evidence.items():
        if value and "anyOf" in evidence_schema[key]:  # a file field: the id of an uploaded file
            stored = state.files.get(value)
            if stored is None or stored.obj["purpose"] != "dispute_evidence":
                raise StripeFail(
                    400, f"No such file upload: '{value}'", code="resource_missing", param=f"evidence[{key}]"
                )
    text = sum(len(v) for k, v in merged.items() if v and "anyOf" not in evidence_schema[k])
    if text > EVIDENCE_TOTAL_MAX_CHARS:
        raise _invalid(
            f"The combined character count of all evidence fields is {text}; it is limited to 150,000.",
            param="evidence",
        )


def _merged_metadata(current: Json, change: Any) -> Json:
    if change == "":
        return {}
    merged = dict(current)
    for key, value in change.items():
        if len(key) > METADATA_KEY_MAX:
            raise _invalid(f"Invalid metadata: keys must be at most {METADATA_KEY_MAX} characters", f"metadata[{key}]")
        if len(value) > METADATA_VALUE_MAX:
            raise _invalid(
                f"Invalid metadata: values must be at most {METADATA_VALUE_MAX} characters", f"metadata[{key}]"
            )
        if value == "":
            merged.pop(key, None)
        else:
            merged[key] = value
    if len(merged) > METADATA_MAX_KEYS:
        raise _invalid(f"Invalid metadata: at most {METADATA_MAX_KEYS} keys", "metadata")
    return merged


def close_dispute(state: FakeStripeState, path: dict[str, str], query: Json, params: Json) -> Json:
    dispute = state.dispute(path["dispute"])
    status = dispute["status"]
    if status == "needs_response":
        dispute["status"] = "lost"
    elif status == "warning_needs_response":
        dispute["status"] = "warning_closed"
    else:
        raise _invalid(f"This dispute is {status} and cannot be closed: only a dispute that needs a response can.")
    return _expand(state, dispute, params.get("expand") or [])


def get_charge(state: FakeStripeState, path: dict[str, str], query: Json, params: Json) -> Json:
    charge = state.charges.get(path["charge"])
    if charge is None:
        raise StripeFail(404, f"No such charge: '{path['charge']}'", code="resource_missing", param="charge")
    return _expand(state, charge, query.get("expand") or [])


def get_payment_intent(state: FakeStripeState, path: dict[str, str], query: Json, params: Json) -> Json:
    intent = state.payment_intents.get(path["intent"])
    if intent is None:
        raise StripeFail(404, f"No such payment_intent: '{path['intent']}'", code="resource_missing", param="intent")
    return copy.deepcopy(intent)


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


HANDLERS: dict[str, Handler] = {
    "GetDisputes": list_disputes,
    "GetDisputesDispute": get_dispute,
    "PostDisputesDispute": update_dispute,
    "PostDisputesDisputeClose": close_dispute,
    "GetChargesCharge": get_charge,
    "GetPaymentIntentsIntent": get_payment_intent,
    "PostFiles": create_file,
}


# ====================================================================== serving the API


@dataclass
class _Answer:
    status: int
    body: Json
    headers: dict[str, str] = field(default_factory=dict)


def _api_key(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    scheme, _, value = auth.partition(" ")
    if scheme.lower() == "bearer":
        return value.strip() or None
    if scheme.lower() == "basic":
        try:
            user = base64.b64decode(value.strip()).decode("utf-8").partition(":")[0]
        except (ValueError, UnicodeDecodeError):
            return None
        return user or None
    return None


def _masked(key: str) -> str:
    return f"{key[:8]}****{key[-4:]}" if len(key) > 12 else "****"


async def _serve_api(state: FakeStripeState, request: Request, path: str, *, files_host: bool) -> Response:
    raw = await request.body()
    full_path = "/v1/" + path
    request_id = "req_" + secrets.token_hex(7)
    content_type = request.headers.get("content-type")
    call = CallRecord(
        seq=state.next_seq(),
        method=request.method,
        host="files" if files_host else "api",
        path=full_path,
        at=state.now().isoformat(),
        idempotency_key=request.headers.get("idempotency-key"),
        stripe_version=request.headers.get("stripe-version"),
        content_type=content_type,
        request_id=request_id,
    )
    state.record(call)
    try:
        answer = await _process(state, call, request, raw, files_host=files_host)
    except StripeFail as failure:
        answer = _Answer(failure.status, failure.body(request_id), failure.headers)
    except Exception as exc:  # a bug of the fake: answer like Stripe would, and say so
        bug = StripeFail(500, f"fake Stripe bug: {type(exc).__name__}: {exc}", error_type="api_error")
        answer = _Answer(500, bug.body(request_id))
    if answer.status == 502:
        call.status = 502
        return HTMLResponse("<html><body><h1>502 Bad Gateway</h1></body></html>", status_code=502)
    if state.config.check_answers:
        answer = _checked(state, call, answer)
    call.status = answer.status
    if answer.status >= 400:
        error = answer.body.get("error") or {}
        call.error = {k: error.get(k) for k in ("type", "code", "param", "message")}
    headers = {
        "Request-Id": request_id,
        "Stripe-Version": call.stripe_version or state.validator.version,
        **answer.headers,
    }
    if call.idempotency_key and request.method == "POST":
        headers["Idempotency-Key"] = call.idempotency_key
    return JSONResponse(answer.body, status_code=answer.status, headers=headers)


async def _process(
    state: FakeStripeState, call: CallRecord, request: Request, raw: bytes, *, files_host: bool
) -> _Answer:
    key = _api_key(request)
    if key is None:
        raise StripeFail(
            401,
            "You did not provide an API key. You need to provide your API key in the Authorization header, "
            "using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY').",
        )
    if key not in state.config.api_keys:
        raise StripeFail(401, f"Invalid API Key provided: {_masked(key)}")
    query_pairs = parse_qsl(request.url.query, keep_blank_values=True)
    media_type, body_pairs = _body_pairs(request, raw)
    call.raw_params = [[k, loggable(v)] for k, v in [*query_pairs, *body_pairs]]
    validator = state.validator
    op, path_params = validator.match(request.method, call.path, files_host=files_host)
    call.operation, call.template = op.operation_id, op.template
    if call.stripe_version is not None and call.stripe_version != validator.version:
        raise _invalid(
            f"Invalid Stripe API version: {call.stripe_version}. This fake speaks only {validator.version} "
            "(spec3.yaml info.version)."
        )
    validator.validate_path(op, path_params)
    query = validator.validate_query(op, query_pairs)
    call.query = loggable(query)
    params = validator.validate_body(op, media_type, body_pairs)
    call.params = loggable(params)
    if request.method == "POST" and call.idempotency_key is not None and len(call.idempotency_key) > 255:
        raise _invalid(f"Idempotency-Key must be at most {IDEMPOTENCY_KEY_MAX} characters long.")
    handler = HANDLERS.get(op.operation_id)
    if handler is None:
        raise StripeFail(
            501, f"The fake Stripe does not implement {op.method} {op.template} (it is in spec3.yaml).",
            error_type="api_error",
        )
    fault = state.take_fault(request.method, call.path, op.template)
    call.fault = fault.kind if fault else None
    if fault is not None and fault.kind == "rate_limited":
        raise StripeFail(
            429,
            "Too many requests hit the API too quickly. We recommend an exponential backoff of your requests.",
            code="rate_limit",
        )
    if fault is not None and fault.kind == "http_500_before_commit":
        raise StripeFail(
            500, "An unknown error occurred on Stripe's side.", error_type="api_error",
            headers={"Stripe-Should-Retry": "true"},
        )
    if fault is not None and fault.kind == "timeout":
        await asyncio.sleep(fault.delay_seconds)
    return _execute(state, call, key, handler, path_params, query, params, fault)


def _body_pairs(request: Request, raw: bytes) -> tuple[str, list[tuple[str, str | UploadedFile]]]:
    content_type = request.headers.get("content-type", "")
    media_type = content_type.split(";", 1)[0].strip().lower()
    if not raw:
        return media_type, []
    if media_type == "multipart/form-data":
        return media_type, parse_multipart(raw, content_type)
    if media_type == "application/x-www-form-urlencoded":
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise _invalid("The request body is not UTF-8.") from None
        pairs: list[tuple[str, str | UploadedFile]] = list(parse_qsl(text, keep_blank_values=True))
        return media_type, pairs
    raise _invalid(f"Stripe takes form-encoded bodies, not {media_type or 'an untyped body'}.")


def _execute(
    state: FakeStripeState,
    call: CallRecord,
    api_key: str,
    handler: Handler,
    path_params: dict[str, str],
    query: Json,
    params: Json,
    fault: Fault | None,
) -> _Answer:
    idempotent = call.method == "POST" and call.idempotency_key is not None
    fingerprint = json.dumps(call.params, sort_keys=True)
    with state.lock:
        if idempotent:
            assert call.idempotency_key is not None
            saved = state.idempotency.get((api_key, call.idempotency_key))
            if saved is not None:
                return _replay(call, saved, fingerprint)
        try:
            answer = _Answer(200, handler(state, path_params, query, params))
        except StripeFail as failure:
            answer = _Answer(failure.status, failure.body(call.request_id or ""), failure.headers)
        if fault is not None and fault.kind == "http_500_after_commit":
            # The work is done, and Stripe saves its own 500 under the key (3.6).
            server_error = StripeFail(
                500, "An unknown error occurred on Stripe's side.", error_type="api_error",
                headers={"Stripe-Should-Retry": "false"},
            )
            answer = _Answer(500, server_error.body(call.request_id or ""), server_error.headers)
        if idempotent:
            assert call.idempotency_key is not None
            state.idempotency[(api_key, call.idempotency_key)] = Saved(
                call.method, call.path, fingerprint, answer.status, copy.deepcopy(answer.body), call.request_id or ""
            )
        if fault is not None and fault.kind == "http_502_after_commit":
            return _Answer(502, {})
        return answer


def _replay(call: CallRecord, saved: Saved, fingerprint: str) -> _Answer:
    if (saved.method, saved.path) != (call.method, call.path):
        raise StripeFail(
            400,
            f"Keys for idempotent requests can only be used for the same endpoint they were first used for "
            f"('{saved.method} {saved.path}' vs '{call.method} {call.path}'). Try using a key other than "
            f"'{call.idempotency_key}' if you meant to execute a different request.",
            error_type="idempotency_error",
        )
    if saved.fingerprint != fingerprint:
        raise StripeFail(
            400,
            f"Keys for idempotent requests can only be used with the same parameters they were first used with. "
            f"Try using a key other than '{call.idempotency_key}' if you meant to execute a different request.",
            error_type="idempotency_error",
        )
    call.replayed = True
    headers = {"Idempotent-Replayed": "true", "Original-Request": saved.request_id}
    if saved.status >= 500:
        headers["Stripe-Should-Retry"] = "false"
    return _Answer(saved.status, copy.deepcopy(saved.body), headers)


def _checked(state: FakeStripeState, call: CallRecord, answer: _Answer) -> _Answer:
    """An answer that breaks spec3.yaml is the fake's bug: turn it into a loud 500."""
    validator = state.validator
    if answer.status >= 400:
        schema: Json | None = {"$ref": "#/components/schemas/error"}
    elif call.operation is not None:
        schema = validator.operation(call.operation).response_schema(answer.status)
    else:
        schema = None
    if schema is None:
        return answer
    problems = validator.problems(schema, answer.body)
    if not problems:
        return answer
    message = f"fake Stripe bug: the answer breaks spec3.yaml: {'; '.join(problems[:5])}"
    return _Answer(500, {"error": {"type": "api_error", "message": message}})


# ====================================================================== webhooks


def _stripe_signature(secret: str, payload: bytes, timestamp: int) -> str:
    """`t=...,v1=hex(HMAC-SHA256(secret, "{t}." + payload))` (3.5), written from Stripe's docs."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


async def deliver(state: FakeStripeState, event: Json) -> Json:
    """POST one event to the configured endpoint, signed; record and return what happened."""
    with state.lock:
        url = state.config.webhook_url
        secret = state.config.webhook_secret
        timestamp = state.timestamp()
    payload = json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    signature = _stripe_signature(secret, payload, timestamp)
    record: Json = {
        "event_id": event["id"],
        "type": event["type"],
        "url": url,
        "signature": signature,
        "status": None,
        "error": None,
        "at": state.now().isoformat(),
    }
    if not url:
        record["error"] = "no webhook URL configured"
    else:
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
            "Stripe-Signature": signature,
        }
        try:
            async with httpx.AsyncClient(timeout=httpx.Timeout(5.0, connect=1.0), verify=tls_context(),
                                         trust_env=False) as client:
                response = await client.post(url, content=payload, headers=headers)
            record["status"] = response.status_code
        except httpx.HTTPError as exc:
            record["error"] = f"{type(exc).__name__}: {exc}"
    with state.lock:
        state.deliveries.append({**record, "event": event})
    return record


def _checked_event(state: FakeStripeState, event: Json) -> Json:
    problems = state.validator.problems(state.validator.schema("event"), event)
    problems += state.validator.problems(state.validator.schema("dispute"), event["data"]["object"], "$.data.object")
    if problems:
        raise HTTPException(500, f"fake Stripe bug: the event breaks spec3.yaml: {problems[:5]}")
    return event


# ====================================================================== control API


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ThreeDSecureSeed(_Body):
    """`three_d_secure_details_charge` (spec3.yaml enums)."""

    result: Literal["attempt_acknowledged", "authenticated", "exempted", "failed", "not_supported",
                    "processing_error"] | None = "authenticated"
    authentication_flow: Literal["challenge", "frictionless"] | None = "challenge"
    result_reason: Literal["abandoned", "bypassed", "canceled", "card_not_enrolled", "network_not_supported",
                           "protocol_error", "rejected"] | None = None
    version: Literal["1.0.2", "2.1.0", "2.2.0"] | None = "2.2.0"


class DisputeSeed(_Body):
    amount: int = Field(gt=0)  # minor units, as Stripe
    currency: str = Field(default="eur", min_length=3, max_length=3)
    reason: str = "product_not_received"
    status: Literal["needs_response", "warning_needs_response"] = "needs_response"
    due_by: int | None = None  # unix seconds
    due_in_days: float | None = None  # default 7 when due_by is not given
    order_id: str | None = None  # goes to the charge's (and payment intent's) metadata as order_id
    charge_id: str | None = None  # dispute an existing charge instead of a new one
    charge_amount: int | None = Field(default=None, gt=0)  # default: the disputed amount
    charge_metadata: dict[str, str] = Field(default_factory=dict)
    payment_intent_metadata: dict[str, str] | None = None  # default: the charge's
    description: str | None = None
    with_payment_intent: bool = True
    receipt_email: str | None = None
    billing_name: str | None = None
    metadata: dict[str, str] = Field(default_factory=dict)
    fee: int | None = Field(default=None, ge=0)
    is_charge_refundable: bool = False
    brand: str = "visa"
    network_reason_code: str | None = "13.1"
    # The card as the charge shows it (`payment_method_details.card`, spec3.yaml): the network's
    # checks (`pass`, `fail`, `unavailable`, `unchecked`, or null when nothing was provided) and
    # the 3D Secure result (`three_d_secure_details_charge`; null when 3DS was not used).
    cvc_check: Literal["pass", "fail", "unavailable", "unchecked"] | None = "pass"
    address_line1_check: Literal["pass", "fail", "unavailable", "unchecked"] | None = "pass"
    address_postal_code_check: Literal["pass", "fail", "unavailable", "unchecked"] | None = "pass"
    three_d_secure: ThreeDSecureSeed | None = None
    last4: str = Field(default="4242", min_length=4, max_length=4)
    card_country: str | None = "FR"
    emit: bool = True


class ConfigChange(_Body):
    webhook_url: str | None = None
    webhook_secret: str | None = None
    api_keys: list[str] | None = None
    timeout_delay_seconds: float | None = Field(default=None, ge=0)
    default_fee: int | None = Field(default=None, ge=0)


class EventRequest(_Body):
    status: str | None = None
    times: int = Field(default=1, ge=1, le=10)


class FaultSpec(_Body):
    path: str
    method: Literal["GET", "POST", "DELETE"] | None = None
    kind: FaultKind
    count: int = Field(default=1, ge=1)
    delay_seconds: float | None = Field(default=None, ge=0)


class ClockAdvance(_Body):
    advance_seconds: float


def _config_view(config: FakeStripeConfig) -> Json:
    return {
        "webhook_url": config.webhook_url,
        "webhook_secret": config.webhook_secret,
        "api_keys": list(config.api_keys),
        "timeout_delay_seconds": config.timeout_delay_seconds,
        "default_fee": config.default_fee,
        "api_version": spec_version(),
    }


def create_app(state: FakeStripeState | None = None) -> FastAPI:
    """Stripe's API under `/v1` (and the files host under `/_files/v1`), the control API under `/_control`."""
    state = state if state is not None else FakeStripeState()
    app = FastAPI(title="Fake Stripe API", docs_url="/_control/docs", openapi_url="/_control/openapi.json")
    app.state.stripe = state

    @app.api_route("/v1/{path:path}", methods=["GET", "POST", "DELETE", "PUT", "PATCH"])
    async def stripe_api(request: Request, path: str) -> Response:
        return await _serve_api(state, request, path, files_host=False)

    @app.api_route(FILES_HOST_PREFIX + "/v1/{path:path}", methods=["GET", "POST", "DELETE", "PUT", "PATCH"])
    async def stripe_files(request: Request, path: str) -> Response:
        return await _serve_api(state, request, path, files_host=True)

    _add_control_routes(app, state)
    return app


def _add_control_routes(app: FastAPI, state: FakeStripeState) -> None:
    @app.post("/_control/reset")
    def reset(change: ConfigChange | None = None) -> Json:
        state.reset(**(change.model_dump(exclude_none=True) if change else {}))
        return {"ok": True, "config": _config_view(state.config)}

    @app.get("/_control/config")
    def show_config() -> Json:
        return {"config": _config_view(state.config)}

    @app.post("/_control/config")
    def set_config(change: ConfigChange) -> Json:
        with state.lock:
            values = change.model_dump(exclude_unset=True)
            if "api_keys" in values:
                values["api_keys"] = tuple(values["api_keys"] or ())
            for key, value in values.items():
                setattr(state.config, key, value)
            return {"config": _config_view(state.config)}

    @app.post("/_control/disputes")
    async def create_dispute(seed: DisputeSeed) -> Json:
        dispute, charge, intent = state.create_dispute(seed)
        delivery = None
        if seed.emit:
            event = _checked_event(state, state.event_for(dispute["id"], "charge.dispute.created", None))
            delivery = await deliver(state, event)
        return {"dispute": dispute, "charge": charge, "payment_intent": intent, "delivery": delivery}

    @app.get("/_control/disputes/{dispute_id}")
    def show_dispute(dispute_id: str) -> Json:
        with state.lock:
            found = state.disputes.get(dispute_id)
            if found is None:
                raise HTTPException(404, f"no dispute {dispute_id}")
            return {"dispute": copy.deepcopy(found)}

    @app.post("/_control/disputes/{dispute_id}/events/{event_type}")
    async def send_event(dispute_id: str, event_type: str, request: EventRequest | None = None) -> Json:
        spec = request or EventRequest()
        if event_type not in DISPUTE_EVENTS:
            raise HTTPException(400, f"not a dispute event: {event_type}; one of {list(DISPUTE_EVENTS)}")
        statuses = state.validator.schema("dispute")["properties"]["status"]["enum"]
        if spec.status is not None and spec.status not in statuses:
            raise HTTPException(400, f"not a dispute status of spec3.yaml: {spec.status}")
        event = _checked_event(state, state.event_for(dispute_id, event_type, spec.status))
        deliveries = [await deliver(state, event) for _ in range(spec.times)]
        return {"event": event, "deliveries": deliveries}

    @app.get("/_control/webhooks")
    def webhooks() -> Json:
        with state.lock:
            return {"deliveries": copy.deepcopy(state.deliveries)}

    @app.post("/_control/faults")
    def add_fault(spec: FaultSpec) -> Json:
        fault = state.add_fault(spec.path, spec.method, spec.kind, spec.count, spec.delay_seconds)
        return {"fault": fault.as_json()}

    @app.get("/_control/faults")
    def faults() -> Json:
        with state.lock:
            return {"faults": [f.as_json() for f in state.faults]}

    @app.get("/_control/files/{file_id}")
    def show_file(file_id: str) -> Json:
        with state.lock:
            stored = state.files.get(file_id)
            if stored is None:
                raise HTTPException(404, f"no file {file_id}")
            return {"file": copy.deepcopy(stored.obj), "sha256": hashlib.sha256(stored.content).hexdigest()}

    @app.get("/_control/calls")
    def calls(path: str | None = None, method: str | None = None, operation: str | None = None) -> Json:
        return {"calls": state.calls_matching(path, method, operation)}

    @app.post("/_control/clock")
    def clock(spec: ClockAdvance) -> Json:
        with state.lock:
            state.clock_offset += timedelta(seconds=spec.advance_seconds)
            return {"now": state.now().isoformat()}


# ====================================================================== running it


@dataclass
class RunningFakeStripe:
    """A fake Stripe running in a background thread (tests, notebooks)."""

    state: FakeStripeState
    host: str
    port: int
    _server: uvicorn.Server = field(repr=False)
    _thread: threading.Thread = field(repr=False)
    _socket: socket.socket = field(repr=False)

    @property
    def root_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """What `AFTERSALES_STRIPE_BASE_URL` should be (the API host)."""
        return self.root_url

    @property
    def files_base_url(self) -> str:
        """What `AFTERSALES_STRIPE_FILES_BASE_URL` should be (the files host)."""
        return self.root_url + FILES_HOST_PREFIX

    def stop(self, timeout: float = 10.0) -> None:
        self._server.should_exit = True
        self._thread.join(timeout)
        self._socket.close()


def start_fake_stripe(port: int = 0, *, host: str = "127.0.0.1", **config: Any) -> RunningFakeStripe:
    """Start the fake on `host:port` (0 = any free port); `config` are `FakeStripeConfig` fields,
    plus `api_key` (one accepted key) and `clock`. Parses spec3.yaml first (a few seconds, once)."""
    clock = config.pop("clock", _utcnow)
    if "api_key" in config:
        config["api_keys"] = (config.pop("api_key"),)
    if "api_keys" in config:
        config["api_keys"] = tuple(config["api_keys"])
    state = FakeStripeState(FakeStripeConfig(**config), clock=clock)
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets that say so (else ~40 ms a call).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(state),
            log_level="warning",
            lifespan="off",
            ws="none",
            access_log=False,
            timeout_graceful_shutdown=1,
        )
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="fake-stripe", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10.0
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the fake Stripe server did not start")
        time.sleep(0.01)
    return RunningFakeStripe(state, host, sock.getsockname()[1], server, thread, sock)


def main(argv: Sequence[str] | None = None) -> None:
    """`python -m deployments.sandbox.stripe_fake --port 8083`: the sandbox's Stripe."""
    parser = argparse.ArgumentParser(description="Fake Stripe API server (sandbox), validated against spec3.yaml")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8083)
    parser.add_argument("--api-key", action="append", dest="api_keys", help="accepted secret key (repeatable)")
    parser.add_argument("--webhook-url", default=None, help="where charge.dispute.* events are POSTed")
    parser.add_argument(
        "--webhook-secret", default=os.environ.get("AFTERSALES_STRIPE_WEBHOOK_SECRET") or DEFAULT_WEBHOOK_SECRET
    )
    args = parser.parse_args(argv)
    keys = args.api_keys or [os.environ.get("AFTERSALES_STRIPE_API_KEY") or DEFAULT_API_KEY]
    config = FakeStripeConfig(api_keys=tuple(keys), webhook_url=args.webhook_url, webhook_secret=args.webhook_secret)
    uvicorn.run(create_app(FakeStripeState(config)), host=args.host, port=args.port, log_level="info")


if __name__ == "__main__":
    main()
