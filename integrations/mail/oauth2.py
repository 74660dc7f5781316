"""OAuth2 access tokens for the mailbox (XOAUTH2), refreshed by aftersales (docs/inbound-email.md).

Google and Microsoft access tokens last about an hour; a refresh token lasts until revoked
(Google) or 90 days of disuse (Microsoft, which also hands a new one with each refresh). With
`AFTERSALES_MAILBOX_OAUTH2_TOKEN_URL`, `_CLIENT_ID`, (`_CLIENT_SECRET`) and `_REFRESH_TOKEN` set,
the poller asks the token endpoint itself (RFC 6749 section 6, `grant_type=refresh_token`):

- Google: `https://oauth2.googleapis.com/token`, client id and secret of the OAuth client;
- Microsoft: `https://login.microsoftonline.com/<tenant>/oauth2/v2.0/token` with the scope
  `https://outlook.office.com/IMAP.AccessAsUser.All offline_access` (the default scope below).

The access token is kept in this process until `expires_in` minus a margin, and fetched again
when the server refuses it (AUTHENTICATE failed) once: a token revoked or cut short is replaced
at the next login, and a refresh token that no longer works fails the run, saying so.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

MARGIN_SECONDS = 120.0  # refreshed this long before the end: a login never starts with a dying token
DEFAULT_EXPIRES_IN = 300.0  # an answer without expires_in (RFC 6749 makes it RECOMMENDED only)


class OAuth2RefreshError(RuntimeError):
    """The token endpoint refused the refresh (a revoked refresh token, a wrong client): the
    merchant must authorise again. Says the endpoint's error code, never a secret."""

    retryable = False


@dataclass(frozen=True)
class RefreshConfig:
    token_url: str
    client_id: str
    client_secret: str = field(repr=False)  # the settings' SecretStr values: never in a repr or a log
    refresh_token: str = field(repr=False)
    scope: str
    timeout: float = 30.0

    @property
    def key(self) -> str:
        """The cache's key: which client and which grant, not the secrets themselves."""
        digest = hashlib.sha256(f"{self.client_id}\0{self.refresh_token}".encode()).hexdigest()[:32]
        return f"{self.token_url}|{digest}"


@dataclass
class _Cached:
    access_token: str = field(repr=False)
    expires_at: float  # on the clock below
    refresh_token: str = field(repr=False)  # the newest (Microsoft rotates it)


Post = Callable[[str, dict[str, str], float], httpx.Response]


def _post(url: str, form: dict[str, str], timeout: float) -> httpx.Response:
    return httpx.post(url, data=form, timeout=timeout, headers={"Accept": "application/json"})


class TokenCache:
    """Access tokens by refresh grant, in this process. Thread-safe: the IMAP calls run in
    worker threads."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic, post: Post = _post) -> None:
        self._clock = clock
        self._post = post
        self._lock = threading.Lock()
        self._entries: dict[str, _Cached] = {}

    def access_token(self, config: RefreshConfig, *, force: bool = False) -> str:
        """A valid access token: the cached one unless it ends within MARGIN_SECONDS (or `force`:
        the server refused it), else a new one from the token endpoint."""
        with self._lock:
            cached = self._entries.get(config.key)
            if cached is not None and not force and self._clock() < cached.expires_at - MARGIN_SECONDS:
                return cached.access_token
            refresh_token = cached.refresh_token if cached else config.refresh_token
            started = self._clock()
            answer = self._request(config, refresh_token)
            token = str(answer["access_token"])
            try:
                expires_in = float(answer.get("expires_in", DEFAULT_EXPIRES_IN))
            except (TypeError, ValueError):
                expires_in = DEFAULT_EXPIRES_IN
            self._entries[config.key] = _Cached(token, started + expires_in,
                                                str(answer.get("refresh_token") or refresh_token))
            return token

    def forget(self, config: RefreshConfig) -> None:
        with self._lock:
            self._entries.pop(config.key, None)

    def _request(self, config: RefreshConfig, refresh_token: str) -> dict[str, Any]:
        form = {"grant_type": "refresh_token", "client_id": config.client_id, "refresh_token": refresh_token}
        if config.client_secret:
            form["client_secret"] = config.client_secret
        if config.scope:
            form["scope"] = config.scope
        try:
            response = self._post(config.token_url, form, config.timeout)
        except httpx.HTTPError as exc:  # unreachable: the run fails and the next one tries again
            raise ConnectionError(f"the OAuth2 token endpoint {config.token_url} did not answer: "
                                  f"{type(exc).__name__}") from exc
        try:
            body = response.json()
        except ValueError:
            body = {}
        if response.status_code != 200 or not isinstance(body, dict) or not body.get("access_token"):
            error = body.get("error", "no access_token") if isinstance(body, dict) else "not JSON"
            description = str(body.get("error_description", ""))[:300] if isinstance(body, dict) else ""
            if response.status_code >= 500:
                raise ConnectionError(f"the OAuth2 token endpoint answered {response.status_code}: {error}")
            raise OAuth2RefreshError(
                f"the OAuth2 token endpoint {config.token_url} refused the refresh ({response.status_code} "
                f"{error}{': ' + description if description else ''}): authorise the mailbox again and set "
                "AFTERSALES_MAILBOX_OAUTH2_REFRESH_TOKEN")
        return body


TOKENS = TokenCache()  # the process's cache
