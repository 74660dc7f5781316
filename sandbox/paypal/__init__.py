"""A fake PayPal REST server (OAuth2, Disputes API v1, webhooks): the sandbox's PSP for disputes.

It speaks PayPal's documented contract (INTEGRATIONS.md §6; PayPal's OpenAPI description
`customer_disputes_v1.json` and the references at developer.paypal.com):

* `POST /v1/oauth2/token`: HTTP Basic with the app's client id and secret, form
  `grant_type=client_credentials`; answers `{scope, access_token, token_type: "Bearer", app_id,
  expires_in, nonce}`; a bad client is `401 {"error": "invalid_client"}`. Every other `/v1` call
  needs `Authorization: Bearer <token>` (unknown, revoked or expired: 401 AUTHENTICATION_FAILURE).
* `GET /v1/customer/disputes/{id}` (dispute details: `dispute_id`, `reason`, `status`,
  `dispute_life_cycle_stage`, `seller_response_due_date`, `dispute_amount`, `disputed_transactions`,
  `dispute_outcome`, `evidences`, `links`), `GET /v1/customer/disputes` (`items`, filters
  `disputed_transaction_id`, `dispute_state`, `page_size` 1..50).
* `POST .../provide-evidence`: multipart/form-data only; an `input` part with
  `{"evidences": [{evidence_type, evidence_info {tracking_info[], refund_ids[]}, notes}]}` and file
  parts (JPG/GIF/PNG/PDF, each under 10 MB, 50 MB per call). Allowed while the dispute is
  WAITING_FOR_SELLER_RESPONSE; it then goes UNDER_REVIEW, so a second submission gets
  `422 UNPROCESSABLE_ENTITY` with issue ACTION_NOT_ALLOWED_IN_CURRENT_DISPUTE_STATE. Documented
  issues are used for bad evidence: MISSING_EVIDENCE_TYPE, MISSING_TRACKING_INFO, MISSING_REFUND_ID,
  INVALID_EVIDENCE_FILE.
* `POST .../send-message` (JSON `{"message"}` or a multipart `input` part): the INQUIRY stage only,
  whose links are `self`, `send_message` (and `accept_claim`): provide-evidence is refused there
  with 422 ACTION_NOT_ALLOWED_IN_CURRENT_DISPUTE_STATE, as PayPal's reference says evidence is for
  the claim stage; the dispute then waits for the buyer (WAITING_FOR_BUYER_RESPONSE).
* `POST .../make-offer` (JSON `make_offer`: `note` and `offer_type` required, `offer_amount`,
  `return_shipping_address`, `invoice_id`): the INQUIRY stage only, while no offer is pending; the
  link `make_offer` and `allowed_response_options.make_offer.offer_types` say which types (by reason:
  no return for "not received"); a refund offer needs an amount in the dispute's currency, at most
  the disputed amount; REFUND_WITH_RETURN needs the return address (422
  SHIPPING_ADDRESS_SHOULD_NOT_BE_PASSED, PayPal's issue for it). The offer shows in `offer`
  (`offer_type`, `seller_offered_amount`, `history`) and the dispute waits for the buyer.
* `POST .../accept-claim` (JSON: `note` required, `accept_claim_reason`, `accept_claim_type`,
  `refund_amount`): RESOLVED with outcome RESOLVED_BUYER_FAVOUR (a partial refund below the disputed
  amount waits for the buyer instead); a refund amount on a not-received dispute is 422
  AMOUNT_SHOULD_NOT_BE_PASSED. `POST .../acknowledge-return-item` for not-as-described disputes.
* `POST /v1/notifications/verify-webhook-signature`: `verification_status` SUCCESS only when the
  transmission fields, the webhook id and the event are exactly those of a delivery this fake made.
* `PayPal-Request-Id` on dispute actions: the first successful answer is stored and replayed for
  the same id and path, without acting again (errors are not stored: nothing happened).
* Every error has PayPal's shape `{name, message, debug_id, information_link, details[{issue,
  description}], links}` and a `PayPal-Debug-Id` header.

Webhooks (CUSTOMER.DISPUTE.CREATED / UPDATED / RESOLVED, `resource_type` "dispute", the dispute as
`resource`) go to the configured URL with PayPal's transmission headers (`PAYPAL-TRANSMISSION-ID`,
`-TIME`, `-SIG`, `PAYPAL-CERT-URL`, `PAYPAL-AUTH-ALGO`), signed as PayPal documents it: SHA256withRSA
over `transmission_id|transmission_time|webhook_id|crc32(body)` (the CRC32 of the raw body as an
unsigned decimal), base64 in `PAYPAL-TRANSMISSION-SIG`. The key and a self-signed X.509 certificate
are generated when the fake starts; the certificate is served (PEM, no token needed) at the
`PAYPAL-CERT-URL` it sends, `GET /v1/notifications/certs/{name}`, so a receiver verifies offline
exactly as with PayPal (a real receiver accepts certificate URLs on PayPal's hosts only; the
sandbox's receiver is told the fake's host, in sandbox mode only).

It knows nothing of the product's client: it is written from the contract.

Run it: `python -m sandbox.paypal --port 8084 --webhook-url URL`, or in-process with
`start_fake_paypal(port=0)`. Control API (not PayPal's, under `/_control`):

* `POST /_control/reset` `{token_ttl_seconds?, webhook_url?, webhook_id?}`; `POST /_control/config`
  `{webhook_url?, webhook_id?, token_ttl_seconds?}`
* `POST /_control/disputes` `{seller_transaction_id?, invoice_number?, custom?, reason, amount,
  currency, stage, status?, seller_response_due_date?, dispute_id?, requested_evidence?, notify}`:
  creates a dispute and delivers CUSTOMER.DISPUTE.CREATED (unless `notify` is false)
* `GET /_control/disputes`, `GET /_control/disputes/{id}`: the dispute as the API shows it, plus what
  was submitted (`submissions` with every multipart part, `acceptances`, `acknowledgements`)
* `POST /_control/disputes/{id}/events/{created|updated|resolved}` `{status?, stage?,
  seller_response_due_date?, outcome_code?, amount_refunded?, times?}`: change it and deliver the
  event (`times` > 1: PayPal's redelivery, same event id, new transmission)
* `POST /_control/faults` `{path, kind, count?, method?, delay_seconds?}`; `path` may hold `*`
  (`/v1/customer/disputes/*/provide-evidence`); kinds `http_500` (nothing done), `http_500_after_commit`
  (done, the answer lost), `rate_limited` (429), `unauthorized` (401), `timeout` (answers late, nothing done)
* `POST /_control/tokens/revoke`, `POST /_control/clock` `{advance_seconds}`
* `GET /_control/calls?path=` every API call (token, PayPal-Request-Id, body or multipart parts,
  status, issue, fault, replayed); `GET /_control/webhooks` every delivery with its headers

The package, one module per resource (issue 22): `contract` (names, enumerations, limits, errors),
`models` (records, options, the control API's bodies), `parsing` (request bodies), `store` (the
fake's core: clock, calls, faults, idempotency, signing key), `auth` (OAuth2 tokens), `disputes`,
`webhooks` (events out, signatures, verification), `state` (`FakePayPalState`, their sum), `api`
(serving `/v1`), `control` (`/_control`) and `server` (the app, `start_fake_paypal`, `main`).
"""

from sandbox.paypal.contract import (
    AUTH_ALGO,
    CERT_NAME,
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_WEBHOOK_ID,
    EVENT_TYPES,
    PayPalFail,
    pp_time,
)
from sandbox.paypal.models import FakeDispute, FakePayPalOptions, NewDispute
from sandbox.paypal.server import RunningFakePayPal, create_app, main, start_fake_paypal
from sandbox.paypal.state import FakePayPalState
from sandbox.paypal.webhooks import deliver

__all__ = [
    "AUTH_ALGO", "CERT_NAME", "DEFAULT_CLIENT_ID", "DEFAULT_CLIENT_SECRET", "DEFAULT_WEBHOOK_ID", "EVENT_TYPES",
    "FakeDispute", "FakePayPalOptions", "FakePayPalState", "NewDispute", "PayPalFail", "RunningFakePayPal",
    "create_app", "deliver", "main", "pp_time", "start_fake_paypal",
]
