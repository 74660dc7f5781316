"""The fake store's schema cache (issue 22): the Admin API schema is built from the SDL once per
machine, not in every process that starts the fake or validates a document; the entry is the
schema's introspection (JSON, plain data), refused when damaged, foreign or in a directory others
may write to. Fidelity to the real SDL: tests/integration/test_shopify_documents.py."""

from __future__ import annotations

import json
from pathlib import Path

import graphql
import pytest

from sandbox.shopify import schema as shopify_schema

_SDL = '''
"""An order."""
type Order {
  id: ID!
  name: String!
  note(short: Boolean = false): String @deprecated(reason: "Use `comment`.")
  status: OrderStatus!
}

enum OrderStatus { OPEN CLOSED }

input RefundInput @oneOf { orderId: ID, orderName: String }

scalar Money @specifiedBy(url: "https://shopify.dev/docs/api/admin-graphql/latest/scalars/Money")

directive @idempotent(key: String!) on FIELD

type QueryRoot { order(id: ID!): Order }

type Mutation { refund(input: RefundInput!): Order }

schema { query: QueryRoot mutation: Mutation }
'''


@pytest.fixture()
def sdl_file(tmp_path: Path) -> Path:
    path = tmp_path / "admin.graphql"
    path.write_text(_SDL)
    return path


def _entries(cache: Path) -> list[Path]:
    return sorted(cache.glob("shopify-schema-*.json"))


def _counting_builds(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Records each build from the SDL (what the cache saves)."""
    built: list[str] = []
    real_build = graphql.build_schema

    def build(source: str, **kwargs: bool) -> graphql.GraphQLSchema:
        built.append(source)
        return real_build(source, **kwargs)

    monkeypatch.setattr(graphql, "build_schema", build)
    return built


def test_the_second_load_reads_the_cache_not_the_sdl(
    sdl_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache"
    built = _counting_builds(monkeypatch)
    first = shopify_schema.load_schema_file(sdl_file, cache)
    assert len(built) == 1 and len(_entries(cache)) == 1
    assert (cache.stat().st_mode & 0o777) == 0o700
    again = shopify_schema.load_schema_file(sdl_file, cache)
    assert len(built) == 1  # read from the entry
    assert again is not first
    assert graphql.print_schema(again) == graphql.print_schema(first)
    order = again.get_type("Order")
    assert isinstance(order, graphql.GraphQLObjectType)
    assert order.fields["note"].deprecation_reason == "Use `comment`."
    refund_input = again.get_type("RefundInput")
    assert isinstance(refund_input, graphql.GraphQLInputObjectType) and refund_input.is_one_of


def test_a_changed_sdl_is_built_afresh(sdl_file: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    shopify_schema.load_schema_file(sdl_file, cache)
    sdl_file.write_text(_SDL.replace("enum OrderStatus { OPEN CLOSED }", "enum OrderStatus { OPEN CLOSED ARCHIVED }"))
    status = shopify_schema.load_schema_file(sdl_file, cache).get_type("OrderStatus")
    assert isinstance(status, graphql.GraphQLEnumType) and "ARCHIVED" in status.values
    assert len(_entries(cache)) == 2


def test_a_damaged_entry_is_built_afresh_and_rewritten(
    sdl_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache"
    expected = graphql.print_schema(shopify_schema.load_schema_file(sdl_file, cache))
    (entry,) = _entries(cache)
    whole = entry.read_bytes()
    entry.write_bytes(whole[:100])
    built = _counting_builds(monkeypatch)
    assert graphql.print_schema(shopify_schema.load_schema_file(sdl_file, cache)) == expected
    assert len(built) == 1
    assert entry.read_bytes() == whole


@pytest.mark.parametrize(
    "payload",
    [
        None,
        [],
        {"introspection": None},
        {"introspection": {"__schema": {"types": 5, "queryType": {"name": "QueryRoot"}}}},
        {"introspection": {"__schema": {"types": [{"kind": "OBJECT"}], "queryType": {"name": "QueryRoot"}}}},
    ],
)
def test_an_entry_that_is_not_an_introspection_is_not_used(
    sdl_file: Path, tmp_path: Path, payload: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache"
    expected = graphql.print_schema(shopify_schema.load_schema_file(sdl_file, cache))
    (entry,) = _entries(cache)
    if isinstance(payload, dict):
        payload = {"sdl_sha256": json.loads(entry.read_bytes())["sdl_sha256"], **payload}
    entry.write_text(json.dumps(payload))
    built = _counting_builds(monkeypatch)
    assert graphql.print_schema(shopify_schema.load_schema_file(sdl_file, cache)) == expected
    assert len(built) == 1


def test_another_sdls_entry_under_this_name_is_not_used(
    sdl_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An entry copied or renamed from another SDL's (a whole, valid introspection): its SDL's
    sha256 is not this one's, so it is not served."""
    cache = tmp_path / "cache"
    other = tmp_path / "other.graphql"
    other.write_text("type QueryRoot { shop: String }\nschema { query: QueryRoot }\n")
    shopify_schema.load_schema_file(other, cache)
    (foreign,) = _entries(cache)
    expected = graphql.print_schema(shopify_schema.load_schema_file(sdl_file, cache))
    (entry,) = (e for e in _entries(cache) if e != foreign)
    entry.write_bytes(foreign.read_bytes())
    built = _counting_builds(monkeypatch)
    assert graphql.print_schema(shopify_schema.load_schema_file(sdl_file, cache)) == expected
    assert len(built) == 1


def test_a_cache_directory_others_may_write_to_is_neither_read_nor_written(
    sdl_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """AFTERSALES_CACHE_DIR=/tmp, say: an entry another user planted there under the (predictable)
    name would be served as the fake store's contract; the SDL is built instead."""
    cache = tmp_path / "cache"
    shopify_schema.load_schema_file(sdl_file, cache)
    (entry,) = _entries(cache)
    cache.chmod(0o777)
    built = _counting_builds(monkeypatch)
    shopify_schema.load_schema_file(sdl_file, cache)
    assert len(built) == 1
    entry.unlink()
    shopify_schema.load_schema_file(sdl_file, cache)
    assert _entries(cache) == []


def test_without_a_cache_directory_the_sdl_is_built(sdl_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    built = _counting_builds(monkeypatch)
    assert shopify_schema.load_schema_file(sdl_file, None).get_type("Order") is not None
    assert len(built) == 1


def test_a_cache_directory_that_cannot_be_written_is_skipped(sdl_file: Path, tmp_path: Path) -> None:
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    assert shopify_schema.load_schema_file(sdl_file, blocked / "cache").get_type("Order") is not None


def test_only_the_newest_entries_are_kept(
    sdl_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache"
    for n in range(6):
        sdl_file.write_text(_SDL + f"\ntype Extra{n} {{ id: ID }}\n")
        shopify_schema.load_schema_file(sdl_file, cache)
    assert len(_entries(cache)) == shopify_schema._CACHE_ENTRIES_KEPT
    built = _counting_builds(monkeypatch)  # the entry just written is one of those kept
    assert shopify_schema.load_schema_file(sdl_file, cache).get_type("Extra5") is not None
    assert built == []
