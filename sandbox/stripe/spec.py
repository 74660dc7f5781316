"""The contract: spec3.yaml loaded, requests parsed (forms, multipart) and checked against it,
answers checked against its response schemas."""

from __future__ import annotations

import hashlib
import marshal
import os
import re
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from email.message import Message
from functools import cache
from pathlib import Path
from typing import Any, cast

import yaml

from sandbox import cache as fakes_cache

Json = dict[str, Any]

SPEC_PATH_ENV = "AFTERSALES_STRIPE_SPEC_PATH"
DEFAULT_SPEC_PATH = Path(__file__).resolve().parents[3] / "shared" / "contracts" / "stripe" / "spec3.yaml"
FILES_SERVER = "https://files.stripe.com/"
CACHE_DIR_ENV = fakes_cache.CACHE_DIR_ENV

_spec_lock = threading.Lock()


@cache
def _load_spec(path: str) -> Json:
    return load_spec_file(Path(path), spec_cache_dir())


def load_spec_file(path: Path, cache_dir: Path | None) -> Json:
    """The parsed spec file, read through a cache of the parse in `cache_dir` (None: no cache).

    Parsing spec3.yaml (4 MB) costs 2 to 6 CPU seconds, in every process that starts the fake; the
    cache entry (marshal: plain data only, nothing executed on load) costs 0.03 s. Its name is the
    sha256 of the spec file's bytes, of this module's source and of the parser's versions, so a
    changed spec or loader never reads a stale parse. Entries are written to a temporary file and
    renamed into place, so concurrent processes read either nothing or a whole entry; a cache that
    cannot be read or written is skipped (the spec is parsed as before)."""
    data = path.read_bytes()
    if cache_dir is not None and not fakes_cache.private(cache_dir):
        # A directory others may write to (AFTERSALES_CACHE_DIR=/tmp): no cache; marshal is not
        # meant for data built by someone else.
        cache_dir = None
    entry = None if cache_dir is None else cache_dir / f"stripe-spec-{_cache_key(data)}.marshal"
    if entry is not None:
        try:
            cached = marshal.loads(entry.read_bytes())  # noqa: S302 - our own entry, in the user's 0700 cache directory; data only, never run
        except (OSError, EOFError, ValueError, TypeError):
            cached = None
        if _is_openapi(cached):
            return cast(Json, cached)
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when available: ~4x faster
    spec = yaml.load(data, Loader=loader)  # noqa: S506 - a safe loader, chosen above
    if not _is_openapi(spec):
        raise ValueError(f"{path} is not an OpenAPI document")
    if entry is not None:
        _write_cache_entry(entry, spec)
    return cast(Json, spec)


def spec_cache_dir() -> Path | None:
    """Where parsed specs are kept: the fakes' cache directory (sandbox/cache.py)."""
    return fakes_cache.cache_dir()


_CACHE_ENTRIES_KEPT = 4


def _is_openapi(value: object) -> bool:
    return isinstance(value, dict) and "paths" in value


def _cache_key(spec_bytes: bytes) -> str:
    digest = hashlib.sha256(spec_bytes)
    digest.update(Path(__file__).read_bytes())  # the loader's code: edit it and the cache is rebuilt
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    digest.update(f"{yaml.__version__}|{loader.__name__}|{sys.implementation.cache_tag}|{marshal.version}".encode())
    return digest.hexdigest()


def _write_cache_entry(entry: Path, spec: Json) -> None:
    try:
        payload = marshal.dumps(spec)
    except ValueError:  # a value marshal cannot hold (none in spec3.yaml): no cache
        return
    fakes_cache.write_entry(entry, payload, family="stripe-spec-*.marshal", kept=_CACHE_ENTRIES_KEPT)


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

