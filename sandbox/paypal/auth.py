"""OAuth2 (`POST /v1/oauth2/token`): client credentials in, bearer tokens out, checked and revoked."""

from __future__ import annotations

import secrets
from datetime import timedelta
from urllib.parse import parse_qs

from sandbox.paypal.contract import SCOPES, Json, PayPalFail, pp_time
from sandbox.paypal.parsing import _basic_credentials
from sandbox.paypal.store import _StateCore


class _OAuth(_StateCore):
    def issue_token(self, authorization: str | None, raw: bytes) -> Json:
        client = _basic_credentials(authorization)
        with self.lock:
            if client != (self.options.client_id, self.options.client_secret):
                raise PayPalFail(401, "invalid_client", None, "Client Authentication failed")
            form = parse_qs(raw.decode(errors="replace"))
            if form.get("grant_type") != ["client_credentials"]:
                raise PayPalFail(400, "unsupported_grant_type", None, "Grant Type is NULL or not supported")
            token = "A21AA" + secrets.token_urlsafe(48)
            ttl = self.options.token_ttl_seconds
            self.tokens[token] = self.now() + timedelta(seconds=ttl)
            return {
                "scope": SCOPES,
                "access_token": token,
                "token_type": "Bearer",
                "app_id": "APP-80W284485P519543T",
                "expires_in": ttl,
                "nonce": f"{pp_time(self.now())}{secrets.token_hex(8)}",
            }

    def check_token(self, token: str | None) -> None:
        with self.lock:
            expires = self.tokens.get(token or "")
            if expires is None or expires <= self.now():
                raise PayPalFail(401, "AUTHENTICATION_FAILURE")

    def revoke_tokens(self) -> None:
        with self.lock:
            self.tokens.clear()
