"""The mailbox's OAuth2 token cache (issue 18 review): one refresh per hour, not one per login;
a new token shortly before `expires_in`, or at once when the server refused the cached one;
Microsoft's rotated refresh token used next; a refusal said plainly; partial settings refused."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from integrations.mail.imap import MICROSOFT_IMAP_SCOPE, MailboxSettings
from integrations.mail.oauth2 import MARGIN_SECONDS, OAuth2RefreshError, RefreshConfig, TokenCache
from integrations.vendor_settings import MissingSecrets

GOOGLE = RefreshConfig("https://oauth2.googleapis.com/token", "client-1.apps.googleusercontent.com",
                       "secret-1", "1//refresh-1", "")


class Endpoint:
    """A token endpoint as Google and Microsoft document it: form in, JSON out."""

    def __init__(self, expires_in: Any = 3599, rotate: bool = False) -> None:
        self.forms: list[dict[str, str]] = []
        self.expires_in = expires_in
        self.rotate = rotate
        self.refusing = False

    def __call__(self, url: str, form: dict[str, str], timeout: float) -> httpx.Response:
        self.forms.append(form)
        request = httpx.Request("POST", url)
        if self.refusing:
            return httpx.Response(400, json={"error": "invalid_grant", "error_description": "Token has been "
                                             "expired or revoked."}, request=request)
        answer: dict[str, Any] = {"access_token": f"ya29.token-{len(self.forms)}", "token_type": "Bearer"}
        if self.expires_in is not None:
            answer["expires_in"] = self.expires_in
        if self.rotate:
            answer["refresh_token"] = f"rotated-{len(self.forms)}"
        return httpx.Response(200, json=answer, request=request)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_token_is_kept_until_shortly_before_it_expires() -> None:
    endpoint, clock = Endpoint(), Clock()
    cache = TokenCache(clock=clock, post=endpoint)
    assert cache.access_token(GOOGLE) == "ya29.token-1"
    clock.now += 3599 - MARGIN_SECONDS - 1
    assert cache.access_token(GOOGLE) == "ya29.token-1" and len(endpoint.forms) == 1
    clock.now += 2
    assert cache.access_token(GOOGLE) == "ya29.token-2" and len(endpoint.forms) == 2
    assert endpoint.forms[0] == {"grant_type": "refresh_token", "client_id": GOOGLE.client_id,
                                 "client_secret": "secret-1", "refresh_token": "1//refresh-1"}


def test_force_fetches_a_new_token_at_once() -> None:
    endpoint = Endpoint()
    cache = TokenCache(clock=Clock(), post=endpoint)
    first = cache.access_token(GOOGLE)
    assert cache.access_token(GOOGLE, force=True) != first and len(endpoint.forms) == 2


def test_microsoft_rotated_refresh_token_is_used_next_and_the_scope_sent() -> None:
    endpoint, clock = Endpoint(rotate=True), Clock()
    cache = TokenCache(clock=clock, post=endpoint)
    ms = RefreshConfig("https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token", "app-id",
                       "", "M.refresh-0", MICROSOFT_IMAP_SCOPE)
    cache.access_token(ms)
    cache.access_token(ms, force=True)
    assert [f["refresh_token"] for f in endpoint.forms] == ["M.refresh-0", "rotated-1"]
    assert all(f["scope"] == MICROSOFT_IMAP_SCOPE and "client_secret" not in f for f in endpoint.forms)


def test_an_answer_without_expires_in_is_kept_briefly() -> None:
    endpoint, clock = Endpoint(expires_in=None), Clock()
    cache = TokenCache(clock=clock, post=endpoint)
    cache.access_token(GOOGLE)
    clock.now += 300 - MARGIN_SECONDS
    cache.access_token(GOOGLE)
    assert len(endpoint.forms) == 2


def test_two_grants_have_two_tokens_and_forget_drops_one() -> None:
    endpoint = Endpoint()
    cache = TokenCache(clock=Clock(), post=endpoint)
    other = RefreshConfig(GOOGLE.token_url, GOOGLE.client_id, "secret-1", "1//refresh-2", "")
    assert cache.access_token(GOOGLE) != cache.access_token(other)
    cache.forget(GOOGLE)
    cache.access_token(other)
    cache.access_token(GOOGLE)
    assert len(endpoint.forms) == 3


def test_a_refused_refresh_says_why_without_the_secrets() -> None:
    endpoint = Endpoint()
    endpoint.refusing = True
    with pytest.raises(OAuth2RefreshError, match="invalid_grant") as refused:
        TokenCache(clock=Clock(), post=endpoint).access_token(GOOGLE)
    assert "secret-1" not in str(refused.value) and "1//refresh-1" not in str(refused.value)


def test_a_server_error_is_a_retryable_connection_error() -> None:
    def down(url: str, form: dict[str, str], timeout: float) -> httpx.Response:
        return httpx.Response(503, text="unavailable", request=httpx.Request("POST", url))

    with pytest.raises(ConnectionError):
        TokenCache(clock=Clock(), post=down).access_token(GOOGLE)


def test_partial_refresh_settings_fail_closed(monkeypatch: pytest.MonkeyPatch) -> None:
    base: dict[str, Any] = {"host": "imap.gmail.com", "username": "shop@example.test"}
    with pytest.raises(MissingSecrets) as partial:
        MailboxSettings(**base, oauth2_refresh_token="1//r", oauth2_client_id="c").check()
    assert partial.value.variables == ["AFTERSALES_MAILBOX_OAUTH2_TOKEN_URL"]
    with pytest.raises(MissingSecrets) as secret_only:
        MailboxSettings(**base, password="p", oauth2_client_secret="s").check()  # a password does not excuse it
    assert "AFTERSALES_MAILBOX_OAUTH2_REFRESH_TOKEN" in secret_only.value.variables
    monkeypatch.delenv("AFTERSALES_SANDBOX", raising=False)
    with pytest.raises(MissingSecrets, match="https"):
        MailboxSettings(**base, oauth2_token_url="http://token.example/token", oauth2_client_id="c",
                        oauth2_refresh_token="1//r").check()
    whole = MailboxSettings(**base, oauth2_token_url="https://login.microsoftonline.com/t/oauth2/v2.0/token",
                            oauth2_client_id="c", oauth2_refresh_token="1//r")
    whole.check()  # a public client: no secret
    config = whole.refresh_config()
    assert config is not None and config.scope == MICROSOFT_IMAP_SCOPE
    assert MailboxSettings(**base, password="p").refresh_config() is None


def test_the_grant_and_the_cached_token_never_show_their_secrets() -> None:
    """Issue 13 ("secrets are SecretStr"): the settings' secrets are copied into plain strings
    here; a repr (a log line, a traceback's locals, a Prefect parameter) must not print them."""
    from integrations.mail.oauth2 import _Cached

    grant = RefreshConfig("https://login.example/token", "client-1", "s3cr3t-client", "r3fr3sh-grant", "imap")
    cached = _Cached("acc3ss-token", 1.0, "r3fr3sh-new")
    shown = repr(grant) + repr(cached)
    assert "client-1" in shown
    assert not any(secret in shown for secret in ("s3cr3t-client", "r3fr3sh-grant", "acc3ss-token", "r3fr3sh-new"))
