"""PayPal REST: a thin typed client for the Disputes API v1 and webhook verification (K1-K5).

Contract (INTEGRATIONS.md §6 and PayPal's references, see models.py and webhooks.py):

* OAuth2 client credentials: `POST /v1/oauth2/token` with HTTP Basic (client id, secret) and
  `grant_type=client_credentials`; the answer carries `access_token` and `expires_in` (seconds)
  (https://developer.paypal.com/api/rest/authentication/). The token is kept in memory for the
  whole process (shared by every client of the same app: a task opens a new client per call, and
  PayPal rate-limits token requests), renewed a margin before it expires, and once more when an
  API call answers 401.
* `GET /v1/customer/disputes/{id}`, `GET /v1/customer/disputes` (one page, for reconciliation),
  `POST .../send-message` (JSON `{"message"}`, the inquiry stage),
  `POST .../provide-evidence` (multipart/form-data: an `input` JSON part `{"evidences": [...]}`,
  sent as PayPal's SDKs send it — `filename="input.json"`, `application/json` — and one
  `evidence-file` part per document), `POST .../make-offer` (JSON, the inquiry stage),
  `POST .../accept-claim` and `POST .../acknowledge-return-item` (JSON),
  `POST /v1/notifications/verify-webhook-signature`.
* Every dispute action is a POST carrying `PayPal-Request-Id`, the caller's idempotency key,
  fixed before the first attempt and resent unchanged: PayPal then "returns the latest status of
  the previous request that used that same header" instead of acting twice
  (https://developer.paypal.com/reference/guidelines/idempotency). So a timeout or a 5xx on an
  action is a plain retryable `TransientError`, not an ambiguous one. Should PayPal not honour
  the header on the Disputes API (the reference does not say), a resent action still cannot act
  twice: the dispute has left WAITING_FOR_SELLER_RESPONSE and PayPal answers 422
  ACTION_NOT_ALLOWED_IN_CURRENT_DISPUTE_STATE; the caller then reads the dispute
  (`seller_evidence_submitted`, `resolved`) to reconcile.
* verify-webhook-signature has no effect to repeat and carries no `PayPal-Request-Id`: a replayed
  answer for a reused id would return another delivery's verdict.
* Errors (`name`, `message`, `debug_id`, `details[{issue, description}]`; OAuth errors `error`,
  `error_description`) map onto domain/errors.py with PayPal's `debug_id` as the request id and the
  first `issue` (else the `name`) as the code. A 422 such as ACTION_NOT_ALLOWED_IN_CURRENT_DISPUTE_STATE
  is a `PermanentError` carrying that issue.

Retries nothing itself except the one token renewal: retries belong to the task layer, so that
retry layers never multiply (STYLE.md "Errors").
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict

from domain.errors import (
    AuthenticationFailed,
    IntegrationError,
    NotFound,
    PermanentError,
    RateLimited,
    TransientError,
)
from domain.money import Money
from integrations.httpclients import parse_retry_after
from integrations.paypal.models import (
    ACCEPT_CLAIM_REASONS,
    ACCEPT_CLAIM_TYPES,
    ACKNOWLEDGEMENT_TYPES,
    DISPUTE_ID,
    EVIDENCE_CONTENT_TYPES,
    MAX_EVIDENCE_CALL_BYTES,
    MAX_EVIDENCE_FILE_BYTES,
    MAX_EVIDENCES,
    NOTE_MAX,
    OFFER_TYPES,
    EvidenceItem,
    PayPalDispute,
    PayPalLink,
    dispute_from_api,
    evidence_input,
    money_wire,
)
from integrations.paypal.settings import PayPalSettings
from integrations.paypal.webhooks import verification_request

logger = logging.getLogger(__name__)

VENDOR = "paypal"
TOKEN_PATH = "/v1/oauth2/token"  # noqa: S105 - a path, not a secret
DISPUTES_PATH = "/v1/customer/disputes"
VERIFY_WEBHOOK_PATH = "/v1/notifications/verify-webhook-signature"
REQUEST_ID_HEADER = "PayPal-Request-Id"
DEBUG_ID_HEADER = "PayPal-Debug-Id"
# PayPal documents 1..108 characters for PayPal-Request-Id on Orders v2; kept for every call.
REQUEST_ID_MAX = 108
_REQUEST_ID = re.compile(r"^[\x21-\x7e]+$")  # visible ASCII, no spaces
DEFAULT_RATE_LIMIT_WAIT = 1.0

# An evidence file: (filename, content, content type), e.g. ("tracking.pdf", b"%PDF...", "application/pdf").
EvidenceFile = tuple[str, bytes, str]


def _utcnow() -> datetime:
    return datetime.now(UTC)


class PayPalActionResult(BaseModel):
    """What a dispute action answers: HATEOAS links to the dispute, and PayPal's debug id."""

    model_config = ConfigDict(frozen=True)

    dispute_id: str
    links: tuple[PayPalLink, ...] = ()
    debug_id: str | None = None


@dataclass(frozen=True)
class _Token:
    value: str
    renew_at: datetime  # expiry minus the safety margin

    def __repr__(self) -> str:  # never print the bearer token
        return f"_Token(renew_at={self.renew_at.isoformat()})"


@dataclass(frozen=True)
class _Reply:
    status: int
    payload: Any
    debug_id: str | None


# One token per PayPal app for the whole process: (api root, client id, secret digest) -> token.
_TOKENS: dict[tuple[str, str, str], _Token] = {}
_TOKENS_LOCK = threading.Lock()


def _app_key(settings: PayPalSettings) -> tuple[str, str, str]:
    digest = hashlib.sha256(settings.client_secret.get_secret_value().encode()).hexdigest()
    return settings.api_root, settings.client_id, digest


def forget_tokens() -> None:
    """Drop the process's cached PayPal tokens (tests; a rotated secret gets a new key anyway)."""
    with _TOKENS_LOCK:
        _TOKENS.clear()


# ---------------------------------------------------------------------- error mapping


def _issues(payload: Mapping[str, Any]) -> list[tuple[str, str | None]]:
    """`details[]` (the error schema) or `issues[]` (the per-status schemas), as (issue, description)."""
    found: list[tuple[str, str | None]] = []
    for key in ("details", "issues"):
        for item in payload.get(key) or []:
            if isinstance(item, Mapping) and isinstance(item.get("issue"), str):
                description = item.get("description")
                found.append((item["issue"], description if isinstance(description, str) else None))
    return found


def error_for(
    status: int,
    payload: Any,
    *,
    operation: str,
    debug_id: str | None = None,
    retry_after: float | None = None,
) -> IntegrationError:
    """Map a failed PayPal answer onto the domain error tree (code = first issue, else name)."""
    body: Mapping[str, Any] = payload if isinstance(payload, Mapping) else {}
    issues = _issues(body)
    name = body.get("name") if isinstance(body.get("name"), str) else body.get("error")
    code = issues[0][0] if issues else (str(name) if isinstance(name, str) else None)
    text = body.get("message") or body.get("error_description") or f"HTTP {status}"
    detail = "; ".join(f"{issue}: {desc}" if desc else issue for issue, desc in issues)
    message = f"{operation}: {text}" + (f" ({detail})" if detail else "")
    common: dict[str, Any] = {
        "vendor": VENDOR,
        "code": code,
        "request_id": debug_id or (body.get("debug_id") if isinstance(body.get("debug_id"), str) else None),
        "status_code": status,
    }
    if status == 429:
        return RateLimited(message, retry_after=retry_after or DEFAULT_RATE_LIMIT_WAIT, **common)
    if status >= 500 or status == 409:  # 409: the same PayPal-Request-Id is still being processed
        return TransientError(message, retry_after=retry_after, **common)
    if status in (401, 403):
        return AuthenticationFailed(message, **common)
    if status == 404:
        return NotFound(message, **common)
    return PermanentError(message, **common)


def _retry_after(response: httpx.Response) -> float | None:
    """Retry-After in seconds (delay-seconds or an HTTP-date, RFC 9110), or None."""
    return parse_retry_after(response.headers.get("Retry-After"))


def _payload(response: httpx.Response) -> Any:
    if not response.content:
        return None
    try:
        return json.loads(response.content)
    except ValueError:
        return None


# ---------------------------------------------------------------------- argument checks


def _check_dispute_id(dispute_id: str) -> None:
    if not DISPUTE_ID.match(dispute_id):
        raise PermanentError(f"not a PayPal dispute id: {dispute_id!r}", vendor=VENDOR, code="INVALID_DISPUTE_ID")


def _check_request_id(key: str) -> None:
    if not 0 < len(key) <= REQUEST_ID_MAX or not _REQUEST_ID.match(key):
        raise PermanentError(
            f"idempotency key must be 1 to {REQUEST_ID_MAX} visible ASCII characters, got {key!r}",
            vendor=VENDOR,
            code="INVALID_IDEMPOTENCY_KEY",
        )


def _check_note(note: str, field: str = "note") -> None:
    if not 0 < len(note) <= NOTE_MAX:
        raise PermanentError(
            f"{field} must be 1 to {NOTE_MAX} characters, got {len(note)}", vendor=VENDOR, code="INVALID_NOTE"
        )


def _check_choice(value: str | None, allowed: frozenset[str], field: str) -> None:
    if value is not None and value not in allowed:
        raise PermanentError(
            f"{field} {value!r} is not one of {sorted(allowed)}", vendor=VENDOR, code="INVALID_PARAMETER_VALUE"
        )


def _check_files(files: Sequence[EvidenceFile]) -> None:
    """PayPal's document rules: JPG, GIF, PNG or PDF, each under 10 MB, 50 MB per call."""
    total = 0
    for filename, content, content_type in files:
        if content_type.split(";")[0].strip().lower() not in EVIDENCE_CONTENT_TYPES:
            raise PermanentError(
                f"evidence file {filename!r} is {content_type}; PayPal takes JPG, GIF, PNG or PDF",
                vendor=VENDOR,
                code="INVALID_EVIDENCE_FILE",
            )
        if not content or len(content) >= MAX_EVIDENCE_FILE_BYTES:
            raise PermanentError(
                f"evidence file {filename!r} is {len(content)} bytes; PayPal takes 1 byte to under 10 MB",
                vendor=VENDOR,
                code="INVALID_EVIDENCE_FILE",
            )
        total += len(content)
    if total > MAX_EVIDENCE_CALL_BYTES:
        raise PermanentError(
            f"evidence files total {total} bytes; PayPal takes up to 50 MB per call",
            vendor=VENDOR,
            code="INVALID_EVIDENCE_FILE",
        )


def _links(payload: Any) -> tuple[PayPalLink, ...]:
    raw = payload.get("links") if isinstance(payload, Mapping) else None
    return tuple(
        PayPalLink(href=link["href"], rel=link["rel"], method=str(link.get("method") or "GET"))
        for link in raw or []
        if isinstance(link, Mapping) and isinstance(link.get("href"), str) and isinstance(link.get("rel"), str)
    )


def _unreadable(operation: str, reply: _Reply, exc: Exception) -> TransientError:
    return TransientError(
        f"{operation}: unreadable answer from PayPal ({exc})",
        vendor=VENDOR,
        code="UNREADABLE_ANSWER",
        request_id=reply.debug_id,
        status_code=reply.status,
    )


# ---------------------------------------------------------------------- the client


class PayPalClient:
    """Thin typed PayPal client on an injected `httpx.AsyncClient` (STYLE.md, stripe-python)."""

    def __init__(
        self,
        settings: PayPalSettings,
        http: httpx.AsyncClient,
        *,
        clock: Callable[[], datetime] = _utcnow,
        token_margin: timedelta = timedelta(minutes=5),
    ) -> None:
        self._settings = settings
        self._http = http
        self._clock = clock
        self._margin = token_margin
        self._token: _Token | None = None
        self._token_lock = asyncio.Lock()

    # ---- disputes: read ----

    async def get_dispute(self, dispute_id: str) -> PayPalDispute:
        """`GET /v1/customer/disputes/{id}`: the dispute, its due date and allowed actions."""
        _check_dispute_id(dispute_id)
        operation = f"get dispute {dispute_id}"
        reply = await self._call("GET", f"{DISPUTES_PATH}/{dispute_id}", operation=operation)
        try:
            return dispute_from_api(reply.payload)
        except ValueError as exc:
            raise _unreadable(operation, reply, exc) from exc

    async def list_disputes(
        self,
        *,
        disputed_transaction_id: str | None = None,
        dispute_state: str | None = None,
        update_time_after: datetime | None = None,
        page_size: int = 10,
    ) -> list[PayPalDispute]:
        """`GET /v1/customer/disputes`: one page of summaries, newest first (no transactions).

        For reconciliation when a webhook was missed (D4); read each with `get_dispute` to act.
        """
        if not 1 <= page_size <= 50:
            raise PermanentError("page_size must be 1 to 50", vendor=VENDOR, code="INVALID_PAGE_SIZE")
        params: dict[str, str] = {"page_size": str(page_size)}
        if disputed_transaction_id:
            params["disputed_transaction_id"] = disputed_transaction_id
        if dispute_state:
            params["dispute_state"] = dispute_state
        if update_time_after is not None:
            when = update_time_after.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
            params["update_time_after"] = when
        reply = await self._call("GET", DISPUTES_PATH, operation="list disputes", params=params)
        items = reply.payload.get("items") if isinstance(reply.payload, Mapping) else None
        try:
            return [dispute_from_api(item) for item in items or []]
        except ValueError as exc:
            raise _unreadable("list disputes", reply, exc) from exc

    # ---- disputes: act (each a POST with PayPal-Request-Id) ----

    async def provide_evidence(
        self,
        dispute_id: str,
        evidence: Sequence[EvidenceItem],
        files: Sequence[EvidenceFile] = (),
        *,
        idempotency_key: str,
    ) -> PayPalActionResult:
        """`POST /v1/customer/disputes/{id}/provide-evidence` (multipart: `input` + `evidence-file`s).

        Allowed while the dispute is WAITING_FOR_SELLER_RESPONSE; afterwards PayPal answers 422
        ACTION_NOT_ALLOWED_IN_CURRENT_DISPUTE_STATE (a `PermanentError` with that code).
        """
        _check_dispute_id(dispute_id)
        _check_request_id(idempotency_key)
        if not evidence or len(evidence) > MAX_EVIDENCES:
            raise PermanentError(
                f"provide 1 to {MAX_EVIDENCES} evidences, got {len(evidence)}",
                vendor=VENDOR,
                code="MISSING_EVIDENCE_TYPE",
            )
        _check_files(files)
        document = json.dumps(evidence_input(evidence), ensure_ascii=False).encode()
        parts: list[tuple[str, tuple[str, bytes, str]]] = [("input", ("input.json", document, "application/json"))]
        parts += [("evidence-file", (name, content, ctype)) for name, content, ctype in files]
        operation = f"provide evidence for dispute {dispute_id}"
        reply = await self._call(
            "POST",
            f"{DISPUTES_PATH}/{dispute_id}/provide-evidence",
            operation=operation,
            files=parts,
            idempotency_key=idempotency_key,
        )
        return PayPalActionResult(dispute_id=dispute_id, links=_links(reply.payload), debug_id=reply.debug_id)

    async def send_message(self, dispute_id: str, message: str, *, idempotency_key: str) -> PayPalActionResult:
        """`POST /v1/customer/disputes/{id}/send-message` (JSON `{"message": ...}`, 1 to 2000
        characters): the inquiry stage's channel to the buyer. Allowed only while the dispute's
        HATEOAS links offer `send-message`; otherwise PayPal answers 422 (a `PermanentError`)."""
        _check_dispute_id(dispute_id)
        _check_request_id(idempotency_key)
        _check_note(message, "message")
        reply = await self._call(
            "POST",
            f"{DISPUTES_PATH}/{dispute_id}/send-message",
            operation=f"send message on dispute {dispute_id}",
            json_body={"message": message},
            idempotency_key=idempotency_key,
        )
        return PayPalActionResult(dispute_id=dispute_id, links=_links(reply.payload), debug_id=reply.debug_id)

    async def make_offer(
        self,
        dispute_id: str,
        note: str,
        offer_type: str,
        *,
        idempotency_key: str,
        offer_amount: Money | None = None,
        return_shipping_address: Mapping[str, str] | None = None,
        invoice_id: str | None = None,
    ) -> PayPalActionResult:
        """`POST /v1/customer/disputes/{id}/make-offer` (JSON `make_offer`: `note` and `offer_type`
        required; `offer_amount`, `return_shipping_address` (`address_portable`), `invoice_id`):
        the merchant's offer to the buyer in the inquiry stage; if the buyer accepts, PayPal refunds.
        Allowed only while the dispute's HATEOAS links offer `make-offer` (else 422)."""
        _check_dispute_id(dispute_id)
        _check_request_id(idempotency_key)
        _check_note(note)
        _check_choice(offer_type, OFFER_TYPES, "offer_type")
        body: dict[str, Any] = {"note": note, "offer_type": offer_type}
        if offer_amount is not None:
            body["offer_amount"] = money_wire(offer_amount)
        if return_shipping_address:
            body["return_shipping_address"] = dict(return_shipping_address)
        if invoice_id:
            body["invoice_id"] = invoice_id
        reply = await self._call(
            "POST",
            f"{DISPUTES_PATH}/{dispute_id}/make-offer",
            operation=f"make offer on dispute {dispute_id}",
            json_body=body,
            idempotency_key=idempotency_key,
        )
        return PayPalActionResult(dispute_id=dispute_id, links=_links(reply.payload), debug_id=reply.debug_id)

    async def accept_claim(
        self,
        dispute_id: str,
        note: str,
        *,
        idempotency_key: str,
        accept_claim_reason: str | None = None,
        accept_claim_type: str | None = None,
        refund_amount: Money | None = None,
        invoice_id: str | None = None,
    ) -> PayPalActionResult:
        """`POST /v1/customer/disputes/{id}/accept-claim`: the dispute closes in the customer's favour
        and PayPal refunds them from the merchant's balance (K4 "accept"; money moves once, F5)."""
        _check_dispute_id(dispute_id)
        _check_request_id(idempotency_key)
        _check_note(note)
        _check_choice(accept_claim_reason, ACCEPT_CLAIM_REASONS, "accept_claim_reason")
        _check_choice(accept_claim_type, ACCEPT_CLAIM_TYPES, "accept_claim_type")
        body: dict[str, Any] = {"note": note}
        if accept_claim_reason:
            body["accept_claim_reason"] = accept_claim_reason
        if accept_claim_type:
            body["accept_claim_type"] = accept_claim_type
        if refund_amount is not None:
            body["refund_amount"] = money_wire(refund_amount)
        if invoice_id:
            body["invoice_id"] = invoice_id
        reply = await self._call(
            "POST",
            f"{DISPUTES_PATH}/{dispute_id}/accept-claim",
            operation=f"accept claim on dispute {dispute_id}",
            json_body=body,
            idempotency_key=idempotency_key,
        )
        return PayPalActionResult(dispute_id=dispute_id, links=_links(reply.payload), debug_id=reply.debug_id)

    async def acknowledge_return_item(
        self,
        dispute_id: str,
        note: str,
        *,
        idempotency_key: str,
        acknowledgement_type: str | None = None,
    ) -> PayPalActionResult:
        """`POST /v1/customer/disputes/{id}/acknowledge-return-item` (not-as-described disputes):
        the merchant confirms the customer's return arrived (R-processes meet K here)."""
        _check_dispute_id(dispute_id)
        _check_request_id(idempotency_key)
        _check_note(note)
        _check_choice(acknowledgement_type, ACKNOWLEDGEMENT_TYPES, "acknowledgement_type")
        body: dict[str, Any] = {"note": note}
        if acknowledgement_type:
            body["acknowledgement_type"] = acknowledgement_type
        reply = await self._call(
            "POST",
            f"{DISPUTES_PATH}/{dispute_id}/acknowledge-return-item",
            operation=f"acknowledge returned item on dispute {dispute_id}",
            json_body=body,
            idempotency_key=idempotency_key,
        )
        return PayPalActionResult(dispute_id=dispute_id, links=_links(reply.payload), debug_id=reply.debug_id)

    # ---- webhooks ----

    async def verify_webhook(self, headers: Mapping[str, str], body: bytes) -> bool:
        """Ask PayPal whether a delivery is genuine (verification_status SUCCESS).

        False without calling PayPal when a transmission header is missing, the configured
        `webhook_id` is empty or the body is not a JSON object. Errors reaching PayPal raise
        (the receiver answers 5xx so that PayPal delivers again).
        """
        request = verification_request(headers, body, self._settings.webhook_id)
        if request is None:
            if not self._settings.webhook_id:
                logger.error("AFTERSALES_PAYPAL_WEBHOOK_ID is empty: no PayPal webhook can be verified")
            return False
        reply = await self._call(
            "POST",
            VERIFY_WEBHOOK_PATH,
            operation="verify webhook signature",
            content=request,
            content_type="application/json",
        )
        status: object = reply.payload.get("verification_status") if isinstance(reply.payload, Mapping) else None
        if status not in ("SUCCESS", "FAILURE"):
            raise _unreadable("verify webhook signature", reply, ValueError(f"verification_status {status!r}"))
        return status == "SUCCESS"

    # ---- authenticated calls ----

    async def _call(
        self,
        method: str,
        path: str,
        *,
        operation: str,
        params: Mapping[str, str] | None = None,
        json_body: Mapping[str, Any] | None = None,
        files: Sequence[tuple[str, tuple[str, bytes, str]]] | None = None,
        content: bytes | None = None,
        content_type: str | None = None,
        idempotency_key: str | None = None,
    ) -> _Reply:
        """One API call; on 401 renew the token once and resend (same PayPal-Request-Id)."""
        headers = {"Accept": "application/json"}
        if idempotency_key is not None:
            headers[REQUEST_ID_HEADER] = idempotency_key
        if content_type is not None:
            headers["Content-Type"] = content_type
        request: dict[str, Any] = {
            "params": dict(params) if params else None,
            "json": dict(json_body) if json_body is not None else None,
            "files": list(files) if files is not None else None,
            "content": content,
        }
        token = await self._ensure_token()
        response = await self._send(method, path, operation, token, headers, request)
        if response.status_code == 401:
            logger.info("PayPal rejected the access token on %s; renewing it once", operation)
            token = await self._renew_after_rejection(token)
            response = await self._send(method, path, operation, token, headers, request)
        reply = _Reply(response.status_code, _payload(response), response.headers.get(DEBUG_ID_HEADER))
        if not 200 <= response.status_code < 300:
            raise error_for(
                response.status_code,
                reply.payload,
                operation=operation,
                debug_id=reply.debug_id,
                retry_after=_retry_after(response),
            )
        return reply

    async def _send(
        self,
        method: str,
        path: str,
        operation: str,
        token: _Token,
        headers: Mapping[str, str],
        request: Mapping[str, Any],
    ) -> httpx.Response:
        try:
            return await self._http.request(
                method,
                self._settings.api_root + path,
                headers={**headers, "Authorization": f"Bearer {token.value}"},
                timeout=self._settings.timeout_seconds,
                **request,
            )
        except httpx.TimeoutException as exc:
            raise TransientError(f"{operation}: timed out ({exc!r})", vendor=VENDOR, code="TIMEOUT") from exc
        except httpx.TransportError as exc:
            raise TransientError(f"{operation}: network error ({exc!r})", vendor=VENDOR, code="NETWORK") from exc

    # ---- OAuth2 client credentials ----

    def _shared_token(self) -> _Token | None:
        with _TOKENS_LOCK:
            return _TOKENS.get(_app_key(self._settings))

    def _share(self, token: _Token, replaces: _Token | None = None) -> None:
        with _TOKENS_LOCK:
            key = _app_key(self._settings)
            current = _TOKENS.get(key)
            if current is None or current is replaces or current.renew_at <= token.renew_at:
                _TOKENS[key] = token

    async def _ensure_token(self) -> _Token:
        async with self._token_lock:
            for token in (self._token, self._shared_token()):
                if token is not None and self._clock() < token.renew_at:
                    self._token = token
                    return token
            self._token = await self._fetch_token()
            self._share(self._token)
            return self._token

    async def _renew_after_rejection(self, rejected: _Token) -> _Token:
        async with self._token_lock:
            shared = self._shared_token()
            for token in (self._token, shared):
                if token is not None and token is not rejected and self._clock() < token.renew_at:
                    self._token = token  # another call renewed it meanwhile
                    return token
            self._token = await self._fetch_token()
            self._share(self._token, replaces=rejected)
            return self._token

    async def _fetch_token(self) -> _Token:
        settings = self._settings
        try:
            response = await self._http.post(
                settings.api_root + TOKEN_PATH,
                data={"grant_type": "client_credentials"},
                auth=(settings.client_id, settings.client_secret.get_secret_value()),
                headers={"Accept": "application/json"},
                timeout=settings.timeout_seconds,
            )
        except httpx.TimeoutException as exc:
            raise TransientError(f"get access token: timed out ({exc!r})", vendor=VENDOR, code="TIMEOUT") from exc
        except httpx.TransportError as exc:
            raise TransientError(f"get access token: network error ({exc!r})", vendor=VENDOR, code="NETWORK") from exc
        payload = _payload(response)
        debug_id = response.headers.get(DEBUG_ID_HEADER)
        if response.status_code != 200:
            error = error_for(
                response.status_code,
                payload,
                operation="get access token",
                debug_id=debug_id,
                retry_after=_retry_after(response),
            )
            if isinstance(error, PermanentError) and not isinstance(error, AuthenticationFailed):
                # A refused token request (400 invalid_client, ...) is a configuration problem.
                raise AuthenticationFailed(
                    error.message,
                    vendor=VENDOR,
                    code=error.code,
                    request_id=error.request_id,
                    status_code=error.status_code,
                )
            raise error
        value = payload.get("access_token") if isinstance(payload, Mapping) else None
        expires_in = payload.get("expires_in") if isinstance(payload, Mapping) else None
        if not isinstance(value, str) or not value or not isinstance(expires_in, int) or expires_in <= 0:
            raise TransientError(
                "get access token: answer without access_token / expires_in",
                vendor=VENDOR,
                code="UNREADABLE_ANSWER",
                request_id=debug_id,
                status_code=response.status_code,
            )
        lifetime = timedelta(seconds=expires_in)
        margin = min(self._margin, lifetime / 2)  # a short-lived token is still used for a while
        return _Token(value=value, renew_at=self._clock() + lifetime - margin)
