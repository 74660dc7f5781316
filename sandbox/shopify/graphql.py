"""GraphQL execution: the root resolvers, validation, cost, faults and the call log."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import graphql
from graphql import (
    DocumentNode,
    FieldNode,
    GraphQLError,
    GraphQLResolveInfo,
    GraphQLSchema,
    OperationDefinitionNode,
    OperationType,
    VariableNode,
)

from sandbox.shopify.models import (
    FakeJob,
    FakeLineItem,
    FakeReturn,
    Fault,
    _cancel_error,
    _coded_error,
    _iso,
    _user_error,
)
from sandbox.shopify.schema import MAX_QUERY_COST, Json, actual_cost, admin_schema, requested_cost
from sandbox.shopify.state import FakeShopState
from sandbox.shopify.views import (
    _connection,
    _Context,
    _dispute_view,
    _evidence_view,
    _filter_disputes,
    _fulfillment_order_view,
    _hold_view,
    _OrderView,
    _refund_view,
    _return_view,
    _returnable_view,
    _reverse_delivery_view,
    _search,
)

logger = logging.getLogger(__name__)


class _Root:
    """`QueryRoot` and `Mutation` fields the fake implements (and `Job.query`)."""

    def __init__(self, ctx: _Context) -> None:
        self._ctx = ctx
        # `return` is a Python keyword: the default resolver finds the field by attribute name.
        setattr(self, "return", self.return_)

    # ------------------------------------------------------------------ QueryRoot

    def order(self, info: GraphQLResolveInfo[Any], **args: Any) -> _OrderView | None:
        state = self._ctx.state
        order = state.order_by_gid(args["id"])
        if order is None:
            return None
        state.settle_jobs(order)
        return _OrderView(state, order)

    def orders(self, info: GraphQLResolveInfo[Any], **args: Any) -> Json:
        state = self._ctx.state
        found = _search(sorted(state.orders.values(), key=lambda o: o.id), args.get("query"))
        for order in found:
            state.settle_jobs(order)
        return _connection([_OrderView(state, o) for o in found], args)

    def ordersCount(self, info: GraphQLResolveInfo[Any], **args: Any) -> Json:
        """`ordersCount(query:, limit:)`: EXACT unless the limit was reached (then AT_LEAST)."""
        found = len(_search(list(self._ctx.state.orders.values()), args.get("query")))
        limit = args.get("limit")
        if limit is not None and found > limit:
            return {"count": limit, "precision": "AT_LEAST"}
        return {"count": found, "precision": "EXACT"}

    def job(self, info: GraphQLResolveInfo[Any], **args: Any) -> Json | None:
        state = self._ctx.state
        job = state.jobs.get(args["id"])
        if job is None:
            return None
        state.poll_job(job)
        return _job_view(job, self)

    def return_(self, info: GraphQLResolveInfo[Any], **args: Any) -> Json | None:
        """`return(id:)`."""
        found = self._ctx.state.find_return(args["id"])
        return None if found is None else _return_view(self._ctx.state, *found)

    def returnableFulfillments(self, info: GraphQLResolveInfo[Any], **args: Any) -> Json:
        order = self._ctx.state.order_by_gid(args["orderId"])
        if order is None:
            return _connection([], args)
        by_fulfillment: dict[int, list[tuple[FakeLineItem, int]]] = {}
        for fulfillment, line, quantity in self._ctx.state.returnable(order):
            by_fulfillment.setdefault(fulfillment.id, []).append((line, quantity))
        views = [
            _returnable_view(order, f, by_fulfillment[f.id])
            for f in order.fulfillments
            if f.id in by_fulfillment
        ]
        return _connection(views, args)

    def dispute(self, info: GraphQLResolveInfo[Any], **args: Any) -> Json | None:
        found = self._ctx.state.find_dispute(args["id"])
        return None if found is None else _dispute_view(self._ctx.state, *found)

    def disputeEvidence(self, info: GraphQLResolveInfo[Any], **args: Any) -> Json | None:
        found = self._ctx.state.find_evidence(args["id"])
        return None if found is None else _evidence_view(self._ctx.state, *found)

    def disputes(self, info: GraphQLResolveInfo[Any], **args: Any) -> Json:
        state = self._ctx.state
        pairs = _filter_disputes(state.all_disputes(), args.get("query"))
        return _connection([_dispute_view(state, o, d) for o, d in pairs], args)

    # ------------------------------------------------------------------ Mutation

    def orderCancel(self, info: GraphQLResolveInfo[Any], **args: Any) -> Json:
        state = self._ctx.state
        forced = self._ctx.forced_user_error
        if forced is not None:
            message = forced.message or "Order cannot be cancelled."
            return {
                "job": None,
                "orderCancelUserErrors": [_cancel_error(["orderId"], message, forced.code or "INVALID")],
            }
        order = state.order_by_gid(args["orderId"])
        errors = state.cancel_errors(order, args)
        if errors or order is None:
            return {"job": None, "orderCancelUserErrors": errors}
        job = state.start_cancellation(order, args)
        return {"job": _job_view(job, self), "orderCancelUserErrors": []}

    def refundCreate(self, info: GraphQLResolveInfo[Any], **args: Any) -> Json:
        state = self._ctx.state
        refund_input = args["input"]
        order = state.order_by_gid(refund_input.get("orderId"))
        forced = self._ctx.forced_user_error
        if forced is not None:
            error = _user_error(["input"], forced.message or "Refund could not be created.")
            return {"refund": None, "order": None, "userErrors": [error]}
        refund, errors = state.create_refund(refund_input, idempotency_key(info))
        if refund is None or order is None:
            return {"refund": None, "order": None, "userErrors": errors}
        return {
            "refund": _refund_view(state, order, refund),
            "order": _OrderView(state, order),
            "userErrors": [],
        }

    # ------------------------------------------------------------------ returns (1.6)

    def _return_payload(self, outcome: tuple[FakeReturn | None, list[Json]]) -> Json:
        ret, errors = outcome
        if ret is None:
            return {"return": None, "userErrors": errors}
        found = self._ctx.state.find_return(ret.gid)
        assert found is not None
        return {"return": _return_view(self._ctx.state, *found), "userErrors": []}

    def _forced_return_error(self, payload_field: str = "return") -> Json | None:
        forced = self._ctx.forced_user_error
        if forced is None:
            return None
        error = _coded_error(
            ["input"], forced.message or "Return could not be updated.", forced.code or "INVALID"
        )
        return {payload_field: None, "userErrors": [error]}

    def returnRequest(self, info: GraphQLResolveInfo[Any], **args: Any) -> Json:
        forced = self._forced_return_error()
        return forced or self._return_payload(self._ctx.state.request_return(args["input"]))

    def returnApproveRequest(self, info: GraphQLResolveInfo[Any], **args: Any) -> Json:
        forced = self._forced_return_error()
        return forced or self._return_payload(self._ctx.state.approve_return(args["input"]))

    def returnDeclineRequest(self, info: GraphQLResolveInfo[Any], **args: Any) -> Json:
        forced = self._forced_return_error()
        return forced or self._return_payload(self._ctx.state.decline_return(args["input"]))

    def returnProcess(self, info: GraphQLResolveInfo[Any], **args: Any) -> Json:
        forced = self._forced_return_error()
        return forced or self._return_payload(self._ctx.state.process_return(args["input"]))

    def returnClose(self, info: GraphQLResolveInfo[Any], **args: Any) -> Json:
        forced = self._forced_return_error()
        return forced or self._return_payload(self._ctx.state.close_return(args["id"]))

    def reverseDeliveryCreateWithShipping(self, info: GraphQLResolveInfo[Any], **args: Any) -> Json:
        forced = self._forced_return_error("reverseDelivery")
        if forced is not None:
            return forced
        created, errors = self._ctx.state.create_reverse_delivery(args)
        if created is None:
            return {"reverseDelivery": None, "userErrors": errors}
        order, ret, rfo, delivery = created
        return {
            "reverseDelivery": _reverse_delivery_view(self._ctx.state, order, ret, rfo, delivery),
            "userErrors": [],
        }


    # ------------------------------------------------------------------ fulfillment holds (K6)

    def fulfillmentOrderHold(self, info: GraphQLResolveInfo[Any], **args: Any) -> Json:
        order, hold, errors = self._ctx.state.hold_fulfillment_order(args["id"], args["fulfillmentHold"])
        return {
            "fulfillmentHold": None if hold is None else _hold_view(hold),
            "fulfillmentOrder": None if order is None or hold is None else _fulfillment_order_view(order),
            "remainingFulfillmentOrder": None,
            "userErrors": errors,
        }

    def fulfillmentOrderReleaseHold(self, info: GraphQLResolveInfo[Any], **args: Any) -> Json:
        order, errors = self._ctx.state.release_holds(args["id"], args.get("holdIds"))
        return {"fulfillmentOrder": None if order is None or errors else _fulfillment_order_view(order),
                "userErrors": errors}

    # ------------------------------------------------------------------ disputes (1.8)

    def disputeEvidenceUpdate(self, info: GraphQLResolveInfo[Any], **args: Any) -> Json:
        forced = self._ctx.forced_user_error
        if forced is not None:
            message = forced.message or "The input value is invalid."
            return {"disputeEvidence": None, "userErrors": [_coded_error(["input"], message, forced.code or "INVALID")]}
        state = self._ctx.state
        updated, errors = state.update_dispute_evidence(args["id"], args["input"])
        if updated is None:
            return {"disputeEvidence": None, "userErrors": errors}
        return {"disputeEvidence": _evidence_view(state, *updated), "userErrors": []}


def _job_view(job: FakeJob, root: _Root) -> Json:
    return {"id": job.id, "done": job.done, "query": root if job.done else None}


def idempotency_key(info: GraphQLResolveInfo[Any]) -> str | None:
    """The `@idempotent(key:)` of the field being resolved, variables applied (1.3)."""
    directive = info.schema.get_directive("idempotent")
    if directive is None:
        return None
    values = graphql.get_directive_values(directive, info.field_nodes[0], info.variable_values)
    return None if values is None else str(values["key"])


@dataclass
class GraphQLOutcome:
    """What the endpoint answers, decided synchronously under the state lock."""

    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)
    sleep_after: float = 0.0


@dataclass(frozen=True)
class _Parsed:
    document: DocumentNode
    operation: OperationDefinitionNode
    root_fields: list[str]
    variables: dict[str, Any]


def _error_body(message: str, code: str | None = None, **extra: Any) -> Json:
    error: Json = {"message": message}
    if code is not None:
        error["extensions"] = {"code": code, **extra}
    return {"errors": [error]}


@lru_cache(maxsize=256)
def _checked_document(query: str) -> DocumentNode | tuple[Json, ...]:
    """Parse and validate once per distinct document text (the client sends a handful)."""
    try:
        document = graphql.parse(query)
    except GraphQLError as error:
        return (dict(error.formatted),)
    errors = graphql.validate(admin_schema(), document)
    if errors:
        return tuple(dict(e.formatted) for e in errors)
    return document


def _parse(body: Mapping[str, Any]) -> _Parsed | Json:
    """Parse and validate like Shopify: a refusal is an HTTP 200 with `errors`."""
    checked = _checked_document(str(body.get("query") or ""))
    if isinstance(checked, tuple):
        return {"errors": [dict(e) for e in checked]}
    operation = graphql.get_operation_ast(checked, body.get("operationName"))
    if operation is None:
        return _error_body("An operation name is required when the document holds several operations.")
    variables = body.get("variables")
    root_fields = [s.name.value for s in operation.selection_set.selections if isinstance(s, FieldNode)]
    return _Parsed(checked, operation, root_fields, variables if isinstance(variables, dict) else {})


def _root_idempotency_key(parsed: _Parsed) -> str | None:
    """The `@idempotent` key of the first root field carrying one, for the call log."""
    for selection in parsed.operation.selection_set.selections:
        if not isinstance(selection, FieldNode):
            continue
        for directive in selection.directives or ():
            if directive.name.value != "idempotent":
                continue
            for argument in directive.arguments or ():
                value = argument.value
                if isinstance(value, VariableNode):
                    found = parsed.variables.get(value.name.value)
                    return None if found is None else str(found)
                return str(graphql.value_from_ast_untyped(value))
    return None


def _user_error_count(data: Any) -> int:
    if not isinstance(data, dict):
        return 0
    return sum(
        len(payload.get("userErrors") or []) + len(payload.get("orderCancelUserErrors") or [])
        for payload in data.values()
        if isinstance(payload, dict)
    )


def execute_graphql(state: FakeShopState, body: Mapping[str, Any], request_id: str) -> GraphQLOutcome:
    """One `graphql.json` request: validate, faults, cost and bucket, execute, log."""
    schema = admin_schema()
    with state.lock:
        parsed = _parse(body)
        if not isinstance(parsed, _Parsed):
            parsed["extensions"] = {"cost": _refusal_cost(state, 0)}
            _log_call(state, request_id, body, None, 200, "invalid", None, parsed["extensions"]["cost"])
            return GraphQLOutcome(200, parsed)
        fault = state.pop_fault(parsed.root_fields)
        key = _root_idempotency_key(parsed)
        early = _fault_before(state, schema, parsed, fault)
        if fault is not None and early is not None:
            cost = early.body.get("extensions", {}).get("cost") if isinstance(early.body, dict) else None
            _log_call(state, request_id, body, parsed, early.status, f"fault:{fault.kind}", key, cost)
            return early
        return _run(state, schema, parsed, fault, request_id, body, key)


def _fault_before(
    state: FakeShopState, schema: GraphQLSchema, parsed: _Parsed, fault: Fault | None
) -> GraphQLOutcome | None:
    if fault is None:
        return None
    if fault.kind == "http_500":
        return GraphQLOutcome(500, {"errors": "Internal Server Error"})
    if fault.kind == "http_429":
        return GraphQLOutcome(
            429,
            {
                "errors": "Exceeded 2 calls per second for api client. "
                "Reduce request rates to resume uninterrupted service."
            },
            {"Retry-After": f"{fault.retry_after:g}"},
        )
    if fault.kind == "throttled":
        cost = requested_cost(schema, parsed.document, parsed.operation, parsed.variables)
        return GraphQLOutcome(200, _throttled_body(state, cost, fault.available))
    return None


def _refusal_cost(state: FakeShopState, requested: int, available: float | None = None) -> Json:
    """`extensions.cost` of an answer that executed nothing (nothing was charged)."""
    return {
        "requestedQueryCost": requested,
        "actualQueryCost": None,
        "throttleStatus": state.bucket.throttle_status(available),
    }


def _throttled_body(state: FakeShopState, cost: int, available: float | None) -> Json:
    body = _error_body("Throttled", "THROTTLED", documentation="https://shopify.dev/api/usage/rate-limits")
    body["extensions"] = {"cost": _refusal_cost(state, cost, available)}
    return body


def _run(
    state: FakeShopState,
    schema: GraphQLSchema,
    parsed: _Parsed,
    fault: Fault | None,
    request_id: str,
    body: Mapping[str, Any],
    key: str | None,
) -> GraphQLOutcome:
    cost = requested_cost(schema, parsed.document, parsed.operation, parsed.variables)
    if cost > MAX_QUERY_COST:
        refusal = _error_body(
            f"Query cost is {cost}, which exceeds the single query max cost limit ({MAX_QUERY_COST}).",
            "MAX_COST_EXCEEDED",
            cost=cost,
            maxCost=MAX_QUERY_COST,
        )
        refusal["extensions"] = {"cost": _refusal_cost(state, cost)}
        _log_call(
            state, request_id, body, parsed, 200, "max_cost_exceeded", key, refusal["extensions"]["cost"]
        )
        return GraphQLOutcome(200, refusal)
    if cost > state.bucket.available():
        refusal = _throttled_body(state, cost, None)
        _log_call(state, request_id, body, parsed, 200, "throttled", key, refusal["extensions"]["cost"])
        return GraphQLOutcome(200, refusal)
    state.bucket.take(cost)
    forced = fault if fault is not None and fault.kind == "user_error" else None
    context = _Context(state=state, request_id=request_id, forced_user_error=forced)
    result = graphql.execute_sync(
        schema,
        parsed.document,
        root_value=_Root(context),
        context_value=context,
        variable_values=parsed.variables,
        operation_name=parsed.operation.name.value if parsed.operation.name else None,
    )
    is_mutation = parsed.operation.operation == OperationType.MUTATION
    actual = actual_cost(result.data, is_mutation)
    state.bucket.give_back(cost - actual)
    extensions = {
        "cost": {
            "requestedQueryCost": cost,
            "actualQueryCost": actual,
            "throttleStatus": state.bucket.throttle_status(),
        }
    }
    answer: Json = {"data": result.data, "extensions": extensions}
    if result.errors:
        answer["errors"] = [e.formatted for e in result.errors]
        for error in result.errors:
            if error.original_error is not None:
                logger.warning("fake shopify resolver error: %r", error.original_error)
    outcome = GraphQLOutcome(200, answer)
    label = "graphql_errors" if result.errors else ("user_errors" if _user_error_count(result.data) else "ok")
    if fault is not None and fault.kind == "http_500_after_commit":
        outcome = GraphQLOutcome(500, {"errors": "Internal Server Error"})
        label = "fault:http_500_after_commit"
    elif fault is not None and fault.kind == "timeout":
        outcome.sleep_after = fault.seconds
        label = "fault:timeout"
    elif forced is not None:
        label = "fault:user_error"
    _log_call(state, request_id, body, parsed, outcome.status, label, key, extensions["cost"])
    return outcome


def _log_call(
    state: FakeShopState,
    request_id: str,
    body: Mapping[str, Any],
    parsed: _Parsed | None,
    status: int,
    outcome: str,
    key: str | None,
    cost: Json | None,
) -> None:
    state.calls.append(
        {
            "seq": len(state.calls) + 1,
            "request_id": request_id,
            "operation_name": body.get("operationName"),
            "root_fields": parsed.root_fields if parsed else [],
            "variables": parsed.variables if parsed else body.get("variables"),
            "idempotency_key": key,
            "status": status,
            "outcome": outcome,
            "cost": cost,
            "at": _iso(state.clock()),
            "at_precise": state.clock().isoformat(),  # not Shopify's: when the fake answered, to the microsecond
        }
    )
