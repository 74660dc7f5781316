"""Thin typed client for the Stripe API, disputes side (INTEGRATIONS.md 3.1 to 3.7).

One class, an injected `httpx.AsyncClient`, typed settings and the `domain.errors` tree with
`vendor="stripe"` (STYLE.md "Errors"). On the wire: form-encoded bodies with Stripe's bracket
notation (`evidence[shipping_tracking_number]=...`, `metadata[order_id]=...`), `Authorization:
Bearer <secret key>`, `Stripe-Version` pinned on every request, and an `Idempotency-Key` on every
POST, given by the caller (fixed once per planned operation, resent unchanged on every attempt).

Evidence (K3, K5): `update_dispute` always sends `submit` explicitly, because Stripe's default is
`true` (3.3): `submit=False` stages, `submit=True` submits, and evidence is generally submittable
once. `close_dispute` accepts the dispute (lost, irreversible).

Resends, by what a resend can do:
* GETs are resent briefly in-request (at most twice) on 5xx, network errors and timeouts;
* POSTs are resent in-request, with the same key, only when the request provably never left
  (connection refused, connect timeout). After a timeout, a broken connection or a 5xx the
  outcome is unknown: `TransientError(ambiguous=True, retryable=False)`. The task layer may
  resend with the same key (Stripe replays the saved answer), but Stripe also saves and replays
  its own 500s (3.6): a 5xx marked `Idempotent-Replayed: true` has code `replayed_server_error`
  and only reading the object (`get_dispute`) tells what happened;
* 429 is `RateLimited` (retryable, `retry_after` from `Retry-After`), 409 (the same key is still
  being processed) a plain retryable `TransientError`.
4xx answers are `PermanentError`s carrying Stripe's `code` (or its error `type` when there is no
code), `type`, `param` and `Request-Id`; 401/403 are `AuthenticationFailed`, 404 `NotFound`.
"""

from __future__ import annotations

import asyncio
import logging
import mimetypes
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeVar
from urllib.parse import quote, urlencode

import httpx

from domain.errors import (
    AuthenticationFailed,
    IntegrationError,
    InvalidInput,
    NotFound,
    PermanentError,
    RateLimited,
    TransientError,
)
from integrations.httpclients import parse_retry_after
from integrations.stripe.models import (
    OrderReference,
    StripeCharge,
    StripeDispute,
    StripePaymentIntent,
    charge_from_api,
    dispute_from_api,
    order_reference,
    payment_intent_from_api,
)
from integrations.stripe.settings import StripeSettings

logger = logging.getLogger(__name__)

VENDOR = "stripe"
MAX_EXTRA_ATTEMPTS = 2  # in-request resends; Prefect retries own the long horizon
RETRY_BACKOFF_SECONDS = (0.5, 1.5)
IDEMPOTENCY_KEY_MAX = 255  # 3.6
LIST_PAGE_SIZE = 100  # Stripe's maximum `limit`
MAX_LIST_PAGES = 20
DEFAULT_RETRY_AFTER_SECONDS = 1.0
USER_AGENT = "aftersales-stripe/0.1"

# Transport failures that prove the request never reached Stripe: never ambiguous.
_NOT_SENT: tuple[type[Exception], ...] = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
    httpx.UnsupportedProtocol,
    httpx.LocalProtocolError,
)

_T = TypeVar("_T")
Sleep = Callable[[float], Awaitable[Any]]
FormValue = str | int | bool | None | Mapping[str, Any] | Sequence[Any]


class StripeRefused(PermanentError):
    """Stripe refused the request as such (HTTP 400, 402, 409 mismatch...): retrying cannot help.

    `code` is Stripe's error code (`parameter_unknown`, `resource_missing`...) or, when Stripe
    sends none, its error type (`invalid_request_error`, `idempotency_error`, `card_error`).
    """

    def __init__(
        self,
        message: str,
        *,
        error_type: str | None = None,
        param: str | None = None,
        decline_code: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(message, **kwargs)
        self.error_type = error_type
        self.param = param
        self.decline_code = decline_code


@dataclass(frozen=True)
class _Request:
    operation: str
    method: Literal["GET", "POST"]
    url: str
    params: list[tuple[str, str]] | None = None  # query string (GET)
    form: list[tuple[str, str]] | None = None  # form body (POST)
    files: Mapping[str, tuple[str, bytes, str]] | None = None  # multipart (POST /v1/files)
    idempotency_key: str | None = None

    @property
    def is_post(self) -> bool:
        return self.method == "POST"


class StripeClient:
    """Async client for one Stripe account. Errors are `domain.errors` with `vendor="stripe"`."""

    def __init__(self, settings: StripeSettings, http: httpx.AsyncClient, *, sleep: Sleep = asyncio.sleep,
                 resend_backoff: Sequence[float] = RETRY_BACKOFF_SECONDS) -> None:
        """`resend_backoff`: the wait before each in-request resend (tasks/clients.py scales it
        with the task retries' waits)."""
        if len(resend_backoff) < MAX_EXTRA_ATTEMPTS:
            raise ValueError(f"resend_backoff needs {MAX_EXTRA_ATTEMPTS} waits, got {list(resend_backoff)}")
        self._settings = settings
        self._http = http
        self._sleep = sleep
        self._resend_backoff = tuple(resend_backoff)

    @property
    def settings(self) -> StripeSettings:
        return self._settings

    # ------------------------------------------------------------------ disputes (3.3)

    async def get_dispute(self, dispute_id: str) -> StripeDispute:
        """`GET /v1/disputes/{dispute}`."""
        body = await self._send(_Request("get_dispute", "GET", self._api_url("disputes", _id(dispute_id))))
        return _map(dispute_from_api, body)

    async def list_disputes(
        self,
        *,
        charge: str | None = None,
        payment_intent: str | None = None,
        page_size: int = LIST_PAGE_SIZE,
        max_pages: int = MAX_LIST_PAGES,
    ) -> list[StripeDispute]:
        """`GET /v1/disputes?charge=&payment_intent=`, every page (newest first, as Stripe lists)."""
        if not 1 <= page_size <= LIST_PAGE_SIZE:
            raise InvalidInput(f"page_size must be between 1 and {LIST_PAGE_SIZE}")
        base: list[tuple[str, str]] = [("limit", str(page_size))]
        if charge is not None:
            base.append(("charge", _id(charge)))
        if payment_intent is not None:
            base.append(("payment_intent", _id(payment_intent)))
        disputes: list[StripeDispute] = []
        starting_after: str | None = None
        for _ in range(max_pages):
            params = [*base, ("starting_after", starting_after)] if starting_after else base
            body = await self._send(_Request("list_disputes", "GET", self._api_url("disputes"), params=params))
            data = body.get("data")
            if not isinstance(data, list):
                raise _unexpected("list_disputes", "no data list in the answer")
            page = [_map(dispute_from_api, item) for item in data]
            disputes.extend(page)
            if not body.get("has_more") or not page:
                return disputes
            starting_after = page[-1].id
        raise PermanentError(
            f"list_disputes: more than {max_pages} pages", code="too_many_pages", vendor=VENDOR
        )

    async def update_dispute(
        self,
        dispute_id: str,
        evidence: Mapping[str, str],
        *,
        submit: bool,
        idempotency_key: str,
        metadata: Mapping[str, str] | None = None,
    ) -> StripeDispute:
        """`POST /v1/disputes/{dispute}`: stage (`submit=False`) or submit (`submit=True`) evidence.

        `evidence` maps `dispute_evidence` field names to text, or to a file id from
        `upload_file` for the file fields; an empty string clears a field. `submit` is always
        sent. A dispute whose evidence was already submitted refuses further updates
        (`StripeRefused`).
        """
        if not isinstance(submit, bool):
            raise InvalidInput("submit must be True or False, explicitly")
        for key, value in evidence.items():
            if not isinstance(key, str) or not key or not isinstance(value, str):
                raise InvalidInput(f"evidence must map field names to strings, got {key!r}: {value!r}")
        params: dict[str, FormValue] = {"evidence": dict(sorted(evidence.items())), "submit": submit}
        if metadata is not None:
            params["metadata"] = dict(sorted(metadata.items()))
        body = await self._send(
            _Request(
                "update_dispute",
                "POST",
                self._api_url("disputes", _id(dispute_id)),
                form=encode_form(params),
                idempotency_key=_key(idempotency_key),
            )
        )
        return _map(dispute_from_api, body)

    async def close_dispute(self, dispute_id: str, *, idempotency_key: str) -> StripeDispute:
        """`POST /v1/disputes/{dispute}/close`: accept the dispute as lost (K4 accept). Irreversible."""
        body = await self._send(
            _Request(
                "close_dispute",
                "POST",
                self._api_url("disputes", _id(dispute_id), "close"),
                form=[],
                idempotency_key=_key(idempotency_key),
            )
        )
        return _map(dispute_from_api, body)

    # ------------------------------------------------------------------ charges & payment intents

    async def get_charge(self, charge_id: str) -> StripeCharge:
        """`GET /v1/charges/{charge}`: metadata, payment intent and description tie it to an order."""
        body = await self._send(_Request("get_charge", "GET", self._api_url("charges", _id(charge_id))))
        return _map(charge_from_api, body)

    async def get_payment_intent(self, payment_intent_id: str) -> StripePaymentIntent:
        """`GET /v1/payment_intents/{intent}`."""
        body = await self._send(
            _Request("get_payment_intent", "GET", self._api_url("payment_intents", _id(payment_intent_id)))
        )
        return _map(payment_intent_from_api, body)

    async def find_order_reference(self, dispute: StripeDispute) -> OrderReference | None:
        """The order behind a dispute: its charge's metadata, then its payment intent's, then an
        order number in a description (`settings.order_metadata_keys` in order). None if nowhere."""
        charge = await self.get_charge(dispute.charge)
        keys = self._settings.order_metadata_keys
        found = order_reference(charge, keys=keys)
        if found is not None and found.source == "charge.metadata":
            return found
        intent_id = dispute.payment_intent or charge.payment_intent
        if intent_id is None:
            return found
        return order_reference(charge, await self.get_payment_intent(intent_id), keys=keys)

    # ------------------------------------------------------------------ files (3.3)

    async def upload_file(
        self,
        content: bytes,
        filename: str,
        *,
        idempotency_key: str,
        purpose: str = "dispute_evidence",
        content_type: str | None = None,
    ) -> str:
        """`POST /v1/files` (multipart, on `files_base_url`): returns the `file_...` id to put in
        a file evidence field. Stripe takes PDF, JPEG and PNG as dispute evidence."""
        if not content:
            raise InvalidInput("cannot upload an empty file")
        if not filename.strip():
            raise InvalidInput("a file needs a name")
        mime = content_type or mimetypes.guess_type(filename)[0] or "application/octet-stream"
        body = await self._send(
            _Request(
                "upload_file",
                "POST",
                f"{self._settings.files_root}/v1/files",
                form=[("purpose", purpose)],
                files={"file": (filename, content, mime)},
                idempotency_key=_key(idempotency_key),
            )
        )
        file_id = body.get("id")
        if not isinstance(file_id, str) or body.get("object") != "file":
            raise _unexpected("upload_file", "the answer is not a file object")
        return file_id

    # ------------------------------------------------------------------ transport

    def _api_url(self, *segments: str) -> str:
        return "/".join([self._settings.api_root, "v1", *(quote(s, safe="") for s in segments)])

    async def _send(self, request: _Request) -> dict[str, Any]:
        resends = 0
        while True:
            try:
                return await self._send_once(request)
            except TransientError as error:
                if not _may_resend(request, error, resends):
                    raise
                logger.warning("stripe %s failed (%s); resending", request.operation, error)
                await self._sleep(self._resend_backoff[resends])
                resends += 1

    async def _send_once(self, request: _Request) -> dict[str, Any]:
        headers = {
            "Authorization": f"Bearer {self._settings.api_key.get_secret_value()}",
            "Stripe-Version": self._settings.api_version,
            "Accept": "application/json",
            "User-Agent": USER_AGENT,
        }
        if request.idempotency_key is not None:
            headers["Idempotency-Key"] = request.idempotency_key
        kwargs: dict[str, Any] = {"headers": headers, "timeout": self._settings.timeout_seconds}
        if request.params:
            kwargs["params"] = request.params
        if request.files is not None:
            kwargs["files"] = dict(request.files)
            kwargs["data"] = dict(request.form or [])
        elif request.is_post:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            kwargs["content"] = urlencode(request.form or []).encode("ascii")
        try:
            response = await self._http.request(request.method, request.url, **kwargs)
        except httpx.TransportError as exc:
            raise _transport_error(request, exc) from exc
        return _read(request, response)


# ---------------------------------------------------------------------------------------- encoding


def encode_form(params: Mapping[str, FormValue]) -> list[tuple[str, str]]:
    """Stripe's form encoding: nested hashes as `a[b][c]=v`, lists as `a[0]=v`, booleans as
    `true`/`false`; None is left out (send "" to clear a field)."""
    pairs: list[tuple[str, str]] = []
    for key, value in params.items():
        _encode_value(key, value, pairs)
    return pairs


def _encode_value(name: str, value: Any, pairs: list[tuple[str, str]]) -> None:
    if value is None:
        return
    if isinstance(value, bool):
        pairs.append((name, "true" if value else "false"))
    elif isinstance(value, int | str):
        pairs.append((name, str(value)))
    elif isinstance(value, Mapping):
        for key, item in value.items():
            _encode_value(f"{name}[{key}]", item, pairs)
    elif isinstance(value, Sequence):
        for index, item in enumerate(value):
            _encode_value(f"{name}[{index}]", item, pairs)
    else:
        raise InvalidInput(f"cannot form-encode {name}={value!r}")


# ---------------------------------------------------------------------------------------- errors


def _may_resend(request: _Request, error: TransientError, resends: int) -> bool:
    if resends >= MAX_EXTRA_ATTEMPTS or not error.retryable or error.ambiguous:
        return False
    if isinstance(error, RateLimited):  # the Retry-After belongs to the task layer
        return False
    if request.is_post:
        return error.code == "network_not_sent"  # never reached Stripe: resend with the same key
    return error.code != "conflict"


def _transport_error(request: _Request, exc: httpx.TransportError) -> TransientError:
    not_sent = isinstance(exc, _NOT_SENT)
    ambiguous = request.is_post and not not_sent
    if not_sent:
        code, kind = "network_not_sent", f"could not reach Stripe ({type(exc).__name__})"
    elif isinstance(exc, httpx.TimeoutException):
        code, kind = "timeout", "timed out"
    else:
        code, kind = "network", f"network error ({type(exc).__name__})"
    hint = "; the request may have taken effect: resend with the same key or read the object" if ambiguous else ""
    return TransientError(
        f"{request.operation}: {kind}{hint}",
        code=code,
        ambiguous=ambiguous,
        retryable=not ambiguous,  # an ambiguous send is reconciled or resent by the task layer
        vendor=VENDOR,
    )


def _read(request: _Request, response: httpx.Response) -> dict[str, Any]:
    status = response.status_code
    if 200 <= status < 300:
        try:
            body = response.json()
        except ValueError:
            raise _unexpected(request.operation, "answer is not JSON", response) from None
        if not isinstance(body, dict):
            raise _unexpected(request.operation, "answer is not a JSON object", response)
        return body
    raise error_for(request.operation, response, is_post=request.is_post)


def error_for(operation: str, response: httpx.Response, *, is_post: bool) -> IntegrationError:
    """Map a non-2xx Stripe answer onto the domain error tree."""
    status = response.status_code
    request_id = response.headers.get("Request-Id")
    error = _error_object(response)
    error_type = _str(error.get("type"))
    stripe_code = _str(error.get("code"))
    param = _str(error.get("param"))
    text = _str(error.get("message")) or f"HTTP {status}"
    message = f"{operation}: {text}" + (f" (param {param})" if param else "")
    common: dict[str, Any] = {"status_code": status, "request_id": request_id, "vendor": VENDOR}
    if status == 429:
        return RateLimited(message, retry_after=_retry_after(response), code=stripe_code or "rate_limit", **common)
    if status >= 500:
        replayed = response.headers.get("Idempotent-Replayed", "").lower() == "true"
        ambiguous = is_post
        if replayed:
            message += "; Stripe replayed the saved error of the first attempt: read the object to reconcile"
        return TransientError(
            message,
            code="replayed_server_error" if replayed else (stripe_code or "server_error"),
            ambiguous=ambiguous,
            retryable=not ambiguous and not replayed,
            **common,
        )
    if status in (401, 403):
        return AuthenticationFailed(message, code=stripe_code or error_type or "authentication", **common)
    if status == 404:
        return NotFound(message, code=stripe_code or "resource_missing", **common)
    if status == 409 and error_type != "idempotency_error":
        # The same idempotency key is still being processed, or an object lock: try again later.
        return TransientError(message, code=stripe_code or "conflict", **common)
    return StripeRefused(
        message,
        code=stripe_code or error_type or f"http_{status}",
        error_type=error_type,
        param=param,
        decline_code=_str(error.get("decline_code")),
        **common,
    )


def _error_object(response: httpx.Response) -> Mapping[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, dict) else {}


def _retry_after(response: httpx.Response) -> float:
    """Retry-After in seconds (delay-seconds or an HTTP-date, RFC 9110), else the default."""
    asked = parse_retry_after(response.headers.get("Retry-After"))
    return DEFAULT_RETRY_AFTER_SECONDS if asked is None else asked


def _unexpected(operation: str, what: str, response: httpx.Response | None = None) -> PermanentError:
    request_id = response.headers.get("Request-Id") if response is not None else None
    return PermanentError(f"{operation}: {what}", code="unexpected_payload", request_id=request_id, vendor=VENDOR)


def _map(mapper: Callable[[Mapping[str, Any]], _T], body: Mapping[str, Any]) -> _T:
    """Apply a mapping; an answer that does not fit the model is a contract break."""
    try:
        return mapper(body)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise PermanentError(
            f"unexpected Stripe payload: {exc!r}", code="unexpected_payload", vendor=VENDOR
        ) from exc


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _id(value: str) -> str:
    text = value.strip() if isinstance(value, str) else ""
    if not text:
        raise InvalidInput(f"not a Stripe id: {value!r}")
    return text


def _key(idempotency_key: str) -> str:
    key = idempotency_key.strip() if isinstance(idempotency_key, str) else ""
    if not key:
        raise InvalidInput("a Stripe POST needs a non-empty idempotency key")
    if len(key) > IDEMPOTENCY_KEY_MAX:
        raise InvalidInput(f"idempotency key longer than {IDEMPOTENCY_KEY_MAX} characters")
    return key


__all__ = ["StripeClient", "StripeRefused", "encode_form", "error_for"]
