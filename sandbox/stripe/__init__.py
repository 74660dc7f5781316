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

Run it: `python -m sandbox.stripe --port 8083 [--webhook-url URL]`, or
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

The package, one module per resource (issue 22): `spec` (spec3.yaml, request parsing and checking),
`models` (configuration, records, the control API's bodies), `store` (the account's core: clock,
faults, calls), `charges` (charges and payment intents), `disputes`, `files`, `state`
(`FakeStripeState`, their sum), `api` (serving `/v1`: auth, validation, faults, idempotency),
`webhooks` (events out), `control` (`/_control`) and `server` (the app, `start_fake_stripe`, `main`).
"""

from sandbox.stripe.api import HANDLERS
from sandbox.stripe.models import DEFAULT_API_KEY, DEFAULT_WEBHOOK_SECRET, DisputeSeed, FakeStripeConfig
from sandbox.stripe.server import FILES_HOST_PREFIX, RunningFakeStripe, create_app, main, start_fake_stripe
from sandbox.stripe.spec import (
    DEFAULT_SPEC_PATH,
    SPEC_PATH_ENV,
    SpecValidator,
    StripeFail,
    form_tree,
    parse_multipart,
    spec_validator,
    spec_version,
    stripe_spec,
)
from sandbox.stripe.state import FakeStripeState
from sandbox.stripe.webhooks import deliver

__all__ = [
    "DEFAULT_API_KEY", "DEFAULT_SPEC_PATH", "DEFAULT_WEBHOOK_SECRET", "FILES_HOST_PREFIX", "HANDLERS", "SPEC_PATH_ENV",
    "DisputeSeed", "FakeStripeConfig", "FakeStripeState", "RunningFakeStripe", "SpecValidator", "StripeFail",
    "create_app", "deliver", "form_tree", "main", "parse_multipart", "spec_validator", "spec_version",
    "start_fake_stripe", "stripe_spec",
]
