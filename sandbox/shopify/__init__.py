"""A fake Shopify store that speaks the real Admin GraphQL contract (INTEGRATIONS.md section 1).

It is the demo's sandbox store and the tests' stand-in for Shopify. Every GraphQL request is
parsed and VALIDATED against the real 2026-01 SDL (`shared/contracts/shopify/`), then EXECUTED
with graphql-core against that schema, with resolvers over in-memory state: answers have
exactly the requested shape, and a document Shopify would reject is rejected here too (HTTP 200
with `errors`, like Shopify). Fields the resolvers do not model resolve to null (an error for a
non-null field): the fake models orders, line items, fulfillments, fulfillment orders,
transactions, refunds, suggested refunds, jobs, returns (with their reverse fulfillment
orders, reverse deliveries and dispositions) and Shopify Payments disputes (with their
evidence and file uploads), which is what `integrations.shopify` reads.

Behaviour modelled after the contract:
* auth with `X-Shopify-Access-Token` (401 otherwise); `X-Request-Id` and
  `X-Shopify-API-Version` on every answer (1.1);
* `extensions.cost` on every answer and a leaky bucket (size and restore rate configurable):
  a query that costs more than what is available is answered THROTTLED in an HTTP 200 (1.2);
  more than 1000 points is MAX_COST_EXCEEDED;
* `refundCreate` honours `@idempotent(key:)`: the same key and input replay the original
  refund, the same key with another input is refused (IDEMPOTENCY_KEY_PARAMETER_MISMATCH, the
  code Shopify documents for its idempotent mutations) (1.3, 1.5);
* `orderCancel` checks eligibility as its SDL description says and returns a Job, done after
  `job_polls_until_done` polls or as soon as the order is read again; on completion the order is
  cancelled, refunded (original payment methods or store credit), restocked, and a signed
  `orders/cancelled` webhook is sent when a webhook URL is configured (1.4, 1.9);
* returns (1.6): `returnableFulfillments` (shipped units not in a requested, open or closed
  return, nor refunded outside one), `returnRequest` -> REQUESTED, `returnApproveRequest` ->
  OPEN with one reverse fulfillment order, `returnDeclineRequest` -> DECLINED (REQUESTED only),
  `reverseDeliveryCreateWithShipping` (open reverse fulfillment order; `[]` = every line),
  `returnProcess` (quantities up to the unprocessed ones, dispositions, RESTOCKED restocks and
  needs a location, `financialTransfer.issueRefund` refunds through the refundCreate checks;
  the return closes once everything is processed), `returnClose`, `return(id)`,
  `Order.returns` and `Order.returnStatus`; answers `ReturnUserError`s with Shopify's codes
  (NOT_FOUND, BLANK, INVALID_STATE, LESS_THAN_OR_EQUAL_TO...) and sends `returns/request`,
  `returns/approve`, `returns/decline`, `returns/process` and `returns/close` with a REST-shaped
  return as payload;
* disputes (1.8): `dispute(id)`, `disputes(query: "status:needs_response")` (filters `status:`
  and `id:`; `after` cursors), `disputeEvidence(id)`, `Order.disputes`, and
  `disputeEvidenceUpdate`: fields saved as a draft (`submitEvidence: false`), or submitted once
  (status NEEDS_RESPONSE -> UNDER_REVIEW, `evidenceSentOn` = the fake's day, `disputes/update`);
  afterwards `EVIDENCE_ALREADY_ACCEPTED`; after `evidenceDueBy` on the fake's clock (UTC day)
  `EVIDENCE_PAST_DUE_DATE`; a file reference that is not one of the dispute's uploads
  `FILE_NOT_FOUND` (`destroy: true` deletes it); an unknown evidence
  `DISPUTE_EVIDENCE_NOT_FOUND`. The evidence starts pre-filled from the order (e-mail, names,
  addresses; fulfillments and purchase IP read from the order). The order's fraud signals are
  served too: `clientIp`, `risk { recommendation assessments }`, `customerJourneySummary` and
  `CardPaymentDetails` (AVS/CVV) on Shopify Payments transactions (`SeedOrder.client_ip`,
  `risk_level`, `card`, `visit_source`).

Run it: `python -m sandbox.shopify --port 8081 --webhook-url URL
--webhook-secret S` (seeds `sandbox.seed.demo_orders()` unless `--no-seed`), or
`start_fake_shopify(port=0, **config)` in a background thread for tests.

Control API (for tests and the demo; not part of Shopify):
* `POST /_control/reset` (optional JSON body: config changes), `POST /_control/config`;
* `POST /_control/orders` seeds an order (`SeedOrder`); `GET /_control/orders/{legacy_id}`
  returns the raw state (quantities, refunds, cancellation, restocks);
* `POST /_control/orders/{legacy_id}/fulfill` ships (tracking) and sends `fulfillments/create`
  and `orders/updated`; `POST /_control/orders/{legacy_id}/deliver` marks the parcel delivered
  (with a DELIVERED `FulfillmentEvent` in the shipping address's city) and sends
  `fulfillments/update`; `POST /_control/orders/{legacy_id}/fulfillment-events` `{status,
  hours_ago | happened_at, city, province, country, message}` adds a carrier event to the latest
  parcel (served as `Fulfillment.events`; seeds take `fulfillment.events`);
* `POST /_control/orders/{legacy_id}/returns` `{"items": [{"sku" or "line_item_id", "quantity",
  "reason" (Shopify ReturnReason), "customer_note"}]}`: the customer asks for a return in their
  account; the return is REQUESTED, `returns/request` is sent, the answer holds its `id` (gid);
* `POST /_control/orders/{legacy_id}/disputes` `{"reason": ShopifyPaymentsDisputeReason, "type":
  "CHARGEBACK"|"INQUIRY", "amount"? (default: order total), "evidence_due_in_days" (default 7,
  negative = past due) or "evidence_due_by": "YYYY-MM-DD" or "no_due_date": true,
  "network_reason_code"?, "initiated_hours_ago"?}`: the bank opens a dispute (Shopify Payments
  orders only), `disputes/create` is sent with the REST dispute; the answer holds `id` (gid),
  `legacy_id`, `evidence_id`; `GET /_control/disputes/{legacy_id}`;
  `POST /_control/disputes/{legacy_id}/status` `{"status": "WON"|"LOST"|..., "type"?}` sends
  `disputes/update` (`finalizedOn` set for WON, LOST, ACCEPTED, CHARGE_REFUNDED);
  `POST /_control/disputes/{legacy_id}/files` `{"evidence_type", "file_name", "file_type",
  "size"}` uploads a file as REST would (all files < 4 MB, else 409 FILES_SIZE_EXCEEDED_LIMIT);
  `GET /_control/orders/{legacy_id}` lists the order's disputes;
* `POST /_control/webhooks/send` sends any topic for an order, optionally several times with the
  same `X-Shopify-Webhook-Id` (duplicate deliveries); `GET /_control/webhooks` lists deliveries;
* `POST /_control/faults` queues faults by root field name (`throttled`, `user_error`,
  `http_500`, `http_500_after_commit`, `http_429`, `timeout`) with a count; `user_error` works
  on `USER_ERROR_FAULT_FIELDS` (orderCancel, refundCreate, the returns mutations and
  disputeEvidenceUpdate);
  `GET /_control/faults`;
* `GET /_control/calls` lists every GraphQL call (root fields, variables, idempotency key,
  HTTP status, outcome, cost).

The package, one module per resource (issue 22): `schema` (the SDL, cost, leaky bucket), `models`
(seeds and records), `store` (housekeeping, seeding, fulfilment, the outbox), `holds`, `orders`
(cancellation, refunds), `returns`, `disputes`, `state` (`FakeShopState`, their sum), `views`
(the GraphQL objects), `graphql` (execution), `webhooks` (webhooks out) and `server` (HTTP, control
API, `start_fake_shopify`, `main`).
"""

from sandbox.shopify.graphql import GraphQLOutcome, execute_graphql, idempotency_key
from sandbox.shopify.models import (
    FakeOrder,
    FakeShopConfig,
    FakeTransaction,
    Fault,
    PendingWebhook,
    SeedAddress,
    SeedCard,
    SeedCustomer,
    SeedFulfillment,
    SeedFulfillmentEvent,
    SeedLineItem,
    SeedOrder,
)
from sandbox.shopify.schema import LeakyBucket, actual_cost, admin_schema, requested_cost
from sandbox.shopify.server import FakeShopifyServer, _raw_order, create_app, main, start_fake_shopify
from sandbox.shopify.state import FakeShopState
from sandbox.shopify.webhooks import deliver_webhook, rest_order, webhook_payload

__all__ = [
    "FakeOrder", "FakeShopConfig", "FakeShopState", "FakeShopifyServer", "FakeTransaction", "Fault",
    "GraphQLOutcome", "LeakyBucket", "PendingWebhook", "SeedAddress", "SeedCard", "SeedCustomer",
    "SeedFulfillment", "SeedFulfillmentEvent", "SeedLineItem", "SeedOrder", "_raw_order", "actual_cost",
    "admin_schema", "create_app", "deliver_webhook", "execute_graphql", "idempotency_key", "main",
    "requested_cost", "rest_order", "start_fake_shopify", "webhook_payload",
]
