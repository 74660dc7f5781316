"""The fake store's GraphQL schema (the real 2026-01 SDL) and its query cost and leaky bucket (INTEGRATIONS.md 1.2)."""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any, Literal, cast

import graphql
from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNamedType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    VariableNode,
)

from sandbox import cache as fakes_cache

CENT = Decimal("0.01")


ZERO = Decimal("0")


MAX_QUERY_COST = 1000  # single-query limit (1.2)


MUTATION_COST = 10  # per root mutation field (1.2)


FIRST_OBJECT_ID = 7_100_000_000_001


ORDER_ID_BASE = 5_840_000_000_000  # order #1001 -> 5840000001001: readable and stable across resets


REFUNDABLE_KINDS = frozenset({"SALE", "CAPTURE"})


STORE_CREDIT_GATEWAY = "shopify_store_credit"


INVALID_TOKEN_MESSAGE = "[API] Invalid API key or access token (unrecognized login or wrong password)"  # noqa: S105


IDEMPOTENCY_MISMATCH_MESSAGE = "The same idempotency key cannot be used with different operation parameters."


SCHEMA_PATH_ENV = "AFTERSALES_SHOPIFY_SCHEMA_PATH"


DEFAULT_SCHEMA_PATH = (
    Path(__file__).resolve().parents[3]
    / "shared"
    / "contracts"
    / "shopify"
    / "admin_schema_2026-01_public.graphql"
)


USER_ERROR_FAULT_FIELDS = (
    "orderCancel",
    "refundCreate",
    "returnRequest",
    "returnApproveRequest",
    "returnDeclineRequest",
    "reverseDeliveryCreateWithShipping",
    "returnProcess",
    "returnClose",
    "disputeEvidenceUpdate",
)


DISPUTE_REASONS = (
    "BANK_CANNOT_PROCESS",
    "CREDIT_NOT_PROCESSED",
    "CUSTOMER_INITIATED",
    "DEBIT_NOT_AUTHORIZED",
    "DUPLICATE",
    "FRAUDULENT",
    "GENERAL",
    "INCORRECT_ACCOUNT_DETAILS",
    "INSUFFICIENT_FUNDS",
    "NONCOMPLIANT",
    "PRODUCT_NOT_RECEIVED",
    "PRODUCT_UNACCEPTABLE",
    "SUBSCRIPTION_CANCELLED",
    "UNRECOGNIZED",
)


DisputeReason = Literal[
    "BANK_CANNOT_PROCESS",
    "CREDIT_NOT_PROCESSED",
    "CUSTOMER_INITIATED",
    "DEBIT_NOT_AUTHORIZED",
    "DUPLICATE",
    "FRAUDULENT",
    "GENERAL",
    "INCORRECT_ACCOUNT_DETAILS",
    "INSUFFICIENT_FUNDS",
    "NONCOMPLIANT",
    "PRODUCT_NOT_RECEIVED",
    "PRODUCT_UNACCEPTABLE",
    "SUBSCRIPTION_CANCELLED",
    "UNRECOGNIZED",
]


DisputeStatusValue = Literal["ACCEPTED", "CHARGE_REFUNDED", "LOST", "NEEDS_RESPONSE", "UNDER_REVIEW", "WON"]


FINAL_DISPUTE_STATUSES = frozenset({"ACCEPTED", "CHARGE_REFUNDED", "LOST", "WON"})


DEFAULT_NETWORK_REASON_CODES = {
    "FRAUDULENT": "10.4",
    "UNRECOGNIZED": "10.4",
    "PRODUCT_NOT_RECEIVED": "13.1",
    "PRODUCT_UNACCEPTABLE": "13.3",
    "CREDIT_NOT_PROCESSED": "13.6",
    "DUPLICATE": "12.6.1",
    "SUBSCRIPTION_CANCELLED": "13.2",
}


EVIDENCE_TEXT_INPUTS = (
    "accessActivityLog",
    "cancellationPolicyDisclosure",
    "cancellationRebuttal",
    "customerEmailAddress",
    "customerFirstName",
    "customerLastName",
    "refundPolicyDisclosure",
    "refundRefusalExplanation",
    "uncategorizedText",
)


EVIDENCE_FILE_INPUTS = {
    "cancellationPolicyFile": "CANCELLATION_POLICY_FILE",
    "customerCommunicationFile": "CUSTOMER_COMMUNICATION_FILE",
    "refundPolicyFile": "REFUND_POLICY_FILE",
    "serviceDocumentationFile": "SERVICE_DOCUMENTATION_FILE",
    "shippingDocumentationFile": "SHIPPING_DOCUMENTATION_FILE",
    "uncategorizedFile": "UNCATEGORIZED_FILE",
}


DISPUTE_FILES_MAX_BYTES = 4 * 1024 * 1024  # REST dispute file uploads: all files together < 4 MB (1.8)


RISK_RECOMMENDATIONS = {"LOW": "ACCEPT", "MEDIUM": "INVESTIGATE", "HIGH": "CANCEL", "NONE": "NONE", "PENDING": "NONE"}


FaultKind = Literal["throttled", "user_error", "http_500", "http_500_after_commit", "http_429", "timeout"]


Json = dict[str, Any]


_schema_lock = threading.Lock()


@cache
def _build_schema(path: str) -> GraphQLSchema:
    return load_schema_file(Path(path), fakes_cache.cache_dir())


_CACHE_ENTRIES_KEPT = 4


_CACHE_FAMILY = "shopify-schema-*.json"


def load_schema_file(path: Path, cache_dir: Path | None) -> GraphQLSchema:
    """The schema of the SDL file `path`, read through a cache of its introspection in `cache_dir`
    (None: no cache; sandbox/cache.py).

    Building the schema from the SDL (3.4 MB) costs 1.4 to 2 CPU seconds in every process that
    starts the fake store or validates a document (issue 22); the cache entry, the schema's
    introspection as JSON (plain data: nothing is executed on load), is read and built with
    `build_client_schema` in about 0.2 s. The entry's name is the sha256 of the SDL, of this
    module's source and of graphql-core's version, and the entry repeats the SDL's sha256, so an
    entry built from another SDL is never served; an entry that does not load (damaged, foreign) is
    skipped and the SDL built as before, and so is a cache directory others may write to."""
    sdl = path.read_bytes()
    sdl_sha256 = hashlib.sha256(sdl).hexdigest()
    if cache_dir is not None and not fakes_cache.private(cache_dir):
        cache_dir = None  # a directory others may write to (AFTERSALES_CACHE_DIR=/tmp): no cache
    entry = None if cache_dir is None else cache_dir / f"shopify-schema-{_cache_key(sdl)}.json"
    if entry is not None:
        cached = _cached_schema(entry, sdl_sha256)
        if cached is not None:
            return cached
    schema = graphql.build_schema(sdl.decode("utf-8"), assume_valid_sdl=True, assume_valid=True)
    if entry is not None:
        introspection = graphql.introspection_from_schema(schema, **_INTROSPECTION)
        payload = {"sdl_sha256": sdl_sha256, "introspection": introspection}
        fakes_cache.write_entry(entry, json.dumps(payload).encode(), family=_CACHE_FAMILY, kept=_CACHE_ENTRIES_KEPT)
    return schema


_INTROSPECTION = {  # all that build_client_schema can read back: the same schema, field for field
    "descriptions": True,
    "specified_by_url": True,
    "directive_is_repeatable": True,
    "schema_description": True,
    "input_value_deprecation": True,
    "one_of": True,
}


def _cache_key(sdl: bytes) -> str:
    digest = hashlib.sha256(sdl)
    digest.update(Path(__file__).read_bytes())  # the loader's code: edit it and the cache is rebuilt
    digest.update(f"graphql-core {graphql.__version__}".encode())
    return digest.hexdigest()


def _cached_schema(entry: Path, sdl_sha256: str) -> GraphQLSchema | None:
    try:
        cached = json.loads(entry.read_bytes())
    except (OSError, ValueError):  # absent, or not JSON (a damaged entry)
        return None
    if not isinstance(cached, dict) or cached.get("sdl_sha256") != sdl_sha256:
        return None  # not this SDL's entry
    introspection = cached.get("introspection")
    if not isinstance(introspection, dict) or not isinstance(introspection.get("__schema"), dict):
        return None
    try:
        return graphql.build_client_schema(cast(graphql.IntrospectionQuery, introspection), assume_valid=True)
    except (TypeError, KeyError, ValueError, AttributeError, GraphQLError):  # an introspection it cannot read
        return None


def admin_schema() -> GraphQLSchema:
    """The Admin API 2026-01 schema, built once per process (about 1.8 s; 0.2 s from the cache),
    thread-safe."""
    path = os.environ.get(SCHEMA_PATH_ENV) or str(DEFAULT_SCHEMA_PATH)
    with _schema_lock:
        return _build_schema(path)


def requested_cost(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation: OperationDefinitionNode,
    variables: Mapping[str, Any],
) -> int:
    """Shopify's calculated query cost, approximated (1.2).

    Scalars and enums cost 0, objects 1, a connection 2 plus `first`/`last` times its
    selection, a list field with `first` that many times its item; a mutation costs 10.
    """
    if operation.operation == OperationType.MUTATION:
        return MUTATION_COST * sum(1 for s in operation.selection_set.selections if isinstance(s, FieldNode))
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    root = schema.query_type
    assert root is not None
    return _selection_cost(schema, root, operation.selection_set, fragments, variables)


def _selection_cost(
    schema: GraphQLSchema,
    parent: GraphQLNamedType,
    selection_set: SelectionSetNode,
    fragments: Mapping[str, FragmentDefinitionNode],
    variables: Mapping[str, Any],
) -> int:
    total = 0
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            total += _field_cost(schema, parent, selection, fragments, variables)
        elif isinstance(selection, InlineFragmentNode):
            target = (
                schema.get_type(selection.type_condition.name.value) if selection.type_condition else parent
            )
            total += _selection_cost(schema, target or parent, selection.selection_set, fragments, variables)
        elif isinstance(selection, FragmentSpreadNode):
            fragment = fragments[selection.name.value]
            target = schema.get_type(fragment.type_condition.name.value) or parent
            total += _selection_cost(schema, target, fragment.selection_set, fragments, variables)
    return total


def _field_cost(
    schema: GraphQLSchema,
    parent: GraphQLNamedType,
    node: FieldNode,
    fragments: Mapping[str, FragmentDefinitionNode],
    variables: Mapping[str, Any],
) -> int:
    if node.selection_set is None or not isinstance(parent, GraphQLObjectType | GraphQLInterfaceType):
        return 0
    definition = parent.fields.get(node.name.value)
    if definition is None:
        return 0
    named = graphql.get_named_type(definition.type)
    children = _selection_cost(schema, named, node.selection_set, fragments, variables)
    size = _page_size(node, variables)
    if named.name.endswith("Connection"):
        return 2 + size * children
    inner = definition.type.of_type if isinstance(definition.type, GraphQLNonNull) else definition.type
    if isinstance(inner, GraphQLList):
        return size * (1 + children)
    return 1 + children


def _page_size(node: FieldNode, variables: Mapping[str, Any]) -> int:
    for argument in node.arguments or ():
        if argument.name.value not in ("first", "last"):
            continue
        if isinstance(argument.value, IntValueNode):
            return int(argument.value.value)
        if isinstance(argument.value, VariableNode):
            value = variables.get(argument.value.name.value)
            return int(value) if isinstance(value, int) else 1
    return 1


def actual_cost(data: Any, is_mutation: bool) -> int:
    """What the answer really cost: one point per object returned (a mutation: 10)."""
    if is_mutation:
        return MUTATION_COST
    if isinstance(data, dict):
        return 1 + sum(actual_cost(v, False) for v in data.values())
    if isinstance(data, list):
        return sum(actual_cost(v, False) for v in data)
    return 0


@dataclass
class LeakyBucket:
    """Per-(app, store) query-cost bucket (1.2), on a monotonic clock."""

    maximum: float
    restore_rate: float
    clock: Callable[[], float] = time.monotonic
    level: float = -1.0
    stamp: float = 0.0

    def __post_init__(self) -> None:
        if self.level < 0:
            self.level = self.maximum
        self.stamp = self.clock()

    def available(self) -> float:
        now = self.clock()
        self.level = min(self.maximum, self.level + (now - self.stamp) * self.restore_rate)
        self.stamp = now
        return self.level

    def take(self, points: float) -> None:
        self.available()
        self.level -= points

    def give_back(self, points: float) -> None:
        self.level = min(self.maximum, self.level + max(points, 0.0))

    def throttle_status(self, available: float | None = None) -> Json:
        return {
            "maximumAvailable": self.maximum,
            "currentlyAvailable": int(self.available() if available is None else available),
            "restoreRate": self.restore_rate,
        }
