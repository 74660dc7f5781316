"""CJ access tokens (INTEGRATIONS.md §4.1): obtain, refresh, persist.

Every CJ call carries one access token (`CJ-Access-Token` header). CJ allows `getAccessToken` only
once per 5 minutes per account and an access token lives 15 days, so the pair is kept in a
`TokenStore` between processes (the product's store is the ledger, encrypted:
`tasks/clients.LedgerTokenStore`) and renewed with the refresh token while that one is good.
`AccessTokens` is the one place that decides when to refresh and when to ask for a new pair;
the transport (`client.CJClient`) hands it an unauthenticated POST and asks it for the token.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, SecretStr, field_validator

from domain.errors import AuthenticationFailed, IntegrationError, PermanentError, TransientError
from integrations.cj.errors import (
    RATE_LIMIT_CODES,
    REFRESH_REJECTED_CODE,
    SUCCESS_CODE,
    TOKEN_REJECTED_CODES,
    error_for,
    looks_rate_limited,
)
from integrations.cj.models import VENDOR, Envelope

logger = logging.getLogger(__name__)

TOKEN_HEADER = "CJ-Access-Token"  # noqa: S105 - a header name, not a secret
GET_TOKEN_INTERVAL = timedelta(minutes=5)  # §4.1: getAccessToken once per 5 minutes


def _aware(value: datetime) -> datetime:
    """CJ documents its naive timestamps as UTC; token dates carry their own offset."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


class CJToken(BaseModel):
    """An access/refresh token pair from `getAccessToken` or `refreshAccessToken` (§4.1)."""

    model_config = ConfigDict(frozen=True)

    access_token: SecretStr
    access_token_expires_at: datetime
    refresh_token: SecretStr
    refresh_token_expires_at: datetime
    open_id: str | None = None
    created_at: datetime | None = None

    @field_validator("access_token_expires_at", "refresh_token_expires_at", "created_at")
    @classmethod
    def _tz(cls, value: datetime | None) -> datetime | None:
        return None if value is None else _aware(value)

    def access_usable(self, now: datetime, margin: timedelta) -> bool:
        return now + margin < self.access_token_expires_at

    def refresh_usable(self, now: datetime) -> bool:
        return now < self.refresh_token_expires_at


class TokenStore(Protocol):
    """Where the token pair lives between processes (the lead keeps it in the database)."""

    async def load(self) -> CJToken | None: ...

    async def save(self, token: CJToken) -> None: ...


class InMemoryTokenStore:
    """A `TokenStore` for one process: tests, the sandbox, a single worker."""

    def __init__(self, token: CJToken | None = None) -> None:
        self._token = token

    async def load(self) -> CJToken | None:
        return self._token

    async def save(self, token: CJToken) -> None:
        self._token = token


class _RefreshRejected(Exception):
    """Internal: CJ refused the refresh token (1600003); fall back to a new access token."""


Post = Callable[[str, Mapping[str, Any]], Awaitable[tuple[int, Envelope, float | None]]]
"""An unauthenticated POST to a CJ path: (HTTP status, envelope, Retry-After seconds)."""


class AccessTokens:
    """The account's access token for one client: loaded from the store, refreshed before it
    expires (`margin`), renewed once when CJ rejects it, saved back after every renewal."""

    def __init__(
        self,
        api_key: SecretStr,
        post: Post,
        store: TokenStore,
        *,
        clock: Callable[[], datetime],
        margin: timedelta,
    ) -> None:
        self._api_key = api_key
        self._post = post
        self._store = store
        self._clock = clock
        self._margin = margin
        self._token: CJToken | None = None
        self._token_lock = asyncio.Lock()

    async def current(self) -> CJToken:
        """A usable access token: the one in hand, the stored one, or a renewed one."""
        async with self._token_lock:
            if self._token is None:
                self._token = await self._store.load()
            token = self._token
            if token is not None and token.access_usable(self._clock(), self._margin):
                return token
            return await self._renew_locked(token)

    async def renew_after_rejection(self, rejected: CJToken) -> CJToken:
        """CJ rejected `rejected`: take a newer token another call or process saved, else renew."""
        async with self._token_lock:
            for candidate in (self._token, await self._store.load()):
                if candidate is not None and candidate.access_token != rejected.access_token:
                    self._token = candidate  # renewed meanwhile by another call or process
                    return candidate
            return await self._renew_locked(rejected)

    async def _renew_locked(self, current: CJToken | None) -> CJToken:
        """Refresh when the refresh token is still good, else ask for a new pair (once / 5 min)."""
        token: CJToken | None = None
        if current is not None and current.refresh_usable(self._clock()):
            try:
                token = await self._refresh(current)
            except _RefreshRejected:
                logger.info("CJ rejected the refresh token; asking for a new access token")
        if token is None:
            token = await self._get_access_token()
        await self._store.save(token)
        self._token = token
        return token

    async def _get_access_token(self) -> CJToken:
        body = {"apiKey": self._api_key.get_secret_value()}
        status, envelope, wait = await self._post("/authentication/getAccessToken", body)
        if envelope.code != SUCCESS_CODE:
            if envelope.code in RATE_LIMIT_CODES or looks_rate_limited(envelope.message or ""):
                wait = max(wait or 0.0, GET_TOKEN_INTERVAL.total_seconds())
            raise _auth_error(envelope, status, wait)
        return _token_from(envelope.data, previous=None)

    async def _refresh(self, current: CJToken) -> CJToken:
        body = {"refreshToken": current.refresh_token.get_secret_value()}
        status, envelope, wait = await self._post("/authentication/refreshAccessToken", body)
        if envelope.code == REFRESH_REJECTED_CODE or (envelope.code in TOKEN_REJECTED_CODES):
            raise _RefreshRejected()
        if envelope.code != SUCCESS_CODE:
            raise _auth_error(envelope, status, wait)
        return _token_from(envelope.data, previous=current)


def _auth_error(envelope: Envelope, status: int, wait: float | None) -> IntegrationError:
    error = error_for(envelope, status_code=status, retry_after=wait)
    if isinstance(error, PermanentError) and not isinstance(error, AuthenticationFailed):
        # A refused token request is a configuration problem, whatever CJ's exact code.
        return AuthenticationFailed(
            error.message, vendor=VENDOR, code=error.code, request_id=error.request_id, status_code=status
        )
    return error


def token_rejected(status: int, envelope: Envelope) -> bool:
    """CJ refused the access token itself (HTTP 401/403 or a token code in HTTP 200)."""
    return status in (401, 403) or envelope.code in TOKEN_REJECTED_CODES


def _token_from(data: Any, *, previous: CJToken | None) -> CJToken:
    """The token pair from a `getAccessToken` / `refreshAccessToken` answer (§4.1)."""
    if not isinstance(data, Mapping):
        raise TransientError("CJ token answer without data", vendor=VENDOR)
    try:
        open_id = data.get("openId")
        return CJToken(
            access_token=SecretStr(str(data["accessToken"])),
            access_token_expires_at=datetime.fromisoformat(str(data["accessTokenExpiryDate"])),
            refresh_token=SecretStr(str(data.get("refreshToken") or _previous_refresh(previous))),
            refresh_token_expires_at=_refresh_expiry(data, previous),
            open_id=str(open_id) if open_id is not None else (previous.open_id if previous else None),
            created_at=datetime.fromisoformat(str(data["createDate"])) if data.get("createDate") else None,
        )
    except (KeyError, ValueError) as exc:
        raise TransientError(f"unusable CJ token answer: {exc!r}", vendor=VENDOR) from exc


def _previous_refresh(previous: CJToken | None) -> str:
    if previous is None:
        raise TransientError("CJ token answer without a refresh token", vendor=VENDOR)
    return previous.refresh_token.get_secret_value()


def _refresh_expiry(data: Mapping[str, Any], previous: CJToken | None) -> datetime:
    if data.get("refreshTokenExpiryDate"):
        return datetime.fromisoformat(str(data["refreshTokenExpiryDate"]))
    if previous is None:
        raise TransientError("CJ token answer without a refresh token expiry", vendor=VENDOR)
    return previous.refresh_token_expires_at

