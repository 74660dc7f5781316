"""Every GraphQL document the client sends fits the Admin API 2026-01 contract (INTEGRATIONS.md 2).

Validation runs against the real SDL in `shared/contracts/shopify/`, so an API-version bump
that breaks a document fails here instead of in production; and the fake store refuses what
Shopify would refuse.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import graphql
import httpx
import pytest
from graphql import FieldNode, OperationDefinitionNode, VariableNode

from integrations.shopify.documents import ALL_DOCUMENTS, REFUND_CREATE_MUTATION
from sandbox.shopify import FakeShopifyServer, admin_schema, requested_cost
from sandbox.shopify.schema import DEFAULT_SCHEMA_PATH, SCHEMA_PATH_ENV, load_schema_file
from tests.integration import shopify_fixtures as sf
from tests.integration.shopify_fixtures import (  # noqa: F401 - fixtures, registered by import
    store_fixture,
)
from tests.loopback import plain_http_ssl


def _operation(document: graphql.DocumentNode) -> OperationDefinitionNode:
    operation = graphql.get_operation_ast(document)
    assert operation is not None, "each document holds exactly one operation"
    return operation


@pytest.mark.parametrize("name", sorted(ALL_DOCUMENTS))
def test_document_validates_against_the_admin_schema(name: str) -> None:
    document = graphql.parse(ALL_DOCUMENTS[name])

    errors = graphql.validate(admin_schema(), document)

    assert [e.message for e in errors] == []


@pytest.mark.parametrize("name", sorted(ALL_DOCUMENTS))
def test_document_is_registered_under_its_operation_name(name: str) -> None:
    # The client sends `operationName` = the key; a mismatch is refused by Shopify.
    operation = _operation(graphql.parse(ALL_DOCUMENTS[name]))

    assert operation.name is not None and operation.name.value == name


@pytest.mark.parametrize("name", sorted(ALL_DOCUMENTS))
def test_document_stays_under_the_single_query_cost_limit(name: str) -> None:
    document = graphql.parse(ALL_DOCUMENTS[name])

    cost = requested_cost(admin_schema(), document, _operation(document), {})

    assert cost < 1000


def test_refund_create_sends_its_idempotency_key_as_a_variable() -> None:
    operation = _operation(graphql.parse(REFUND_CREATE_MUTATION))
    [field] = [s for s in operation.selection_set.selections if isinstance(s, FieldNode)]

    [directive] = [d for d in field.directives or () if d.name.value == "idempotent"]

    [argument] = directive.arguments or ()
    assert argument.name.value == "key" and isinstance(argument.value, VariableNode)
    declared = {
        v.variable.name.value: graphql.print_ast(v.type) for v in operation.variable_definitions or ()
    }
    assert declared[argument.value.name.value] == "String!"


def test_the_cached_schema_is_the_sdls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The fake's schema read from its cache (the introspection of the SDL, issue 22) is the schema
    built from the SDL: the same printed schema, the same verdicts and costs on every document."""
    sdl = Path(os.environ.get(SCHEMA_PATH_ENV) or DEFAULT_SCHEMA_PATH)
    built = load_schema_file(sdl, tmp_path / "cache")  # cold: built from the SDL, entry written
    monkeypatch.setattr(graphql, "build_schema", None)  # the next load must not build
    cached = load_schema_file(sdl, tmp_path / "cache")
    assert graphql.print_schema(cached) == graphql.print_schema(built)
    broken = 'query Broken { order(id: "gid://shopify/Order/1") { id financialStatus } }'
    for text in [*ALL_DOCUMENTS.values(), broken, "mutation { orderCancel(orderId: 1) { job { id } } }"]:
        document = graphql.parse(text)
        verdicts = [[e.message for e in graphql.validate(schema, document)] for schema in (built, cached)]
        assert verdicts[0] == verdicts[1]
        if not verdicts[0]:
            costs = [requested_cost(schema, document, _operation(document), {}) for schema in (built, cached)]
            assert costs[0] == costs[1]


# ---------------------------------------------------------------------- the fake refuses like Shopify


@pytest.fixture
async def http(store: FakeShopifyServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(headers={"X-Shopify-Access-Token": sf.ACCESS_TOKEN}, timeout=30,
                                 verify=plain_http_ssl()) as client:
        await client.post(f"{store.base_url}/_control/reset", json=sf.ROOMY)
        yield client


async def test_fake_rejects_a_document_that_does_not_validate(
    store: FakeShopifyServer, http: httpx.AsyncClient
) -> None:
    # REST's `financial_status` has no GraphQL twin of that name (it is displayFinancialStatus).
    query = 'query Broken { order(id: "gid://shopify/Order/1") { id financialStatus } }'

    response = await http.post(store.graphql_url(), json={"query": query, "operationName": "Broken"})

    assert response.status_code == 200  # Shopify answers validation errors in an HTTP 200
    body = response.json()
    assert "data" not in body
    assert any("Cannot query field 'financialStatus' on type 'Order'" in e["message"] for e in body["errors"])
    [call] = (await http.get(f"{store.base_url}/_control/calls")).json()
    assert call["outcome"] == "invalid"


async def test_fake_rejects_variables_that_do_not_fit_the_schema(
    store: FakeShopifyServer, http: httpx.AsyncClient
) -> None:
    variables = {"orderId": "gid://shopify/Order/1", "reason": "CHANGED_MIND", "restock": True}

    response = await http.post(
        store.graphql_url(),
        json={"query": ALL_DOCUMENTS["OrderCancel"], "variables": variables, "operationName": "OrderCancel"},
    )

    body = response.json()
    assert response.status_code == 200 and body.get("data") is None
    assert any("OrderCancelReason" in e["message"] for e in body["errors"])


async def test_fake_rejects_a_syntax_error(store: FakeShopifyServer, http: httpx.AsyncClient) -> None:
    response = await http.post(store.graphql_url(), json={"query": "query { order(id: ) { id }"})

    assert response.status_code == 200 and response.json()["errors"][0]["message"].startswith("Syntax Error")


async def test_fake_requires_the_access_token(store: FakeShopifyServer) -> None:
    async with httpx.AsyncClient(timeout=30) as anonymous:
        response = await anonymous.post(store.graphql_url(), json={"query": ALL_DOCUMENTS["JobStatus"]})

    assert response.status_code == 401
    assert response.headers["X-Request-Id"]


async def test_fake_reports_the_query_cost(store: FakeShopifyServer, http: httpx.AsyncClient) -> None:
    response = await http.post(
        store.graphql_url(),
        json={"query": ALL_DOCUMENTS["JobStatus"], "variables": {"id": "gid://shopify/Job/unknown"}},
    )

    body = response.json()
    assert body["data"] == {"job": None}
    cost = body["extensions"]["cost"]
    assert cost["requestedQueryCost"] == 1 and cost["actualQueryCost"] <= 1
    assert set(cost["throttleStatus"]) == {"maximumAvailable", "currentlyAvailable", "restoreRate"}
    assert response.headers["X-Shopify-API-Version"] == "2026-01"
