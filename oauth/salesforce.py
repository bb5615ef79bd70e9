"""Salesforce OAuth (web-server flow): org id and instance URL, both checked against allowed hosts."""
from __future__ import annotations

import os
import time

from oauth.base import Identity, OAuthFailure, OAuthProvider


class SalesforceOAuth(OAuthProvider):
    NAME = "salesforce"
    AUTHORIZE_URL = "https://login.salesforce.com/services/oauth2/authorize"
    TOKEN_URL = "https://login.salesforce.com/services/oauth2/token"
    REVOKE_URL = "https://login.salesforce.com/services/oauth2/revoke"
    SCOPES = ("api", "refresh_token", "id")
    PKCE = True
    TOKEN_AUTH_METHOD = "client_secret_post"
    ALLOWED_HOSTS = ("login.salesforce.com", "test.salesforce.com", "*.my.salesforce.com", "*.salesforce.com",
                     "*.force.com")
    # Salesforce answers no expires_in: the session lasts the org's timeout (2 h by default). Refresh
    # a little before that; a 401 earlier still triggers one refresh.
    DEFAULT_SESSION_SECONDS = 2 * 3600

    def url(self, real_url: str) -> str:
        login = os.environ.get("SALESFORCE_LOGIN_URL", "").strip().rstrip("/")
        if login and not real_url.startswith(login):
            real_url = login + real_url.split("salesforce.com", 1)[1]
        return super().url(real_url)

    def normalize_token(self, token: dict) -> dict:
        if "instance_url" in token:
            self.check_host(token["instance_url"])  # never call a host the token response made up
        if "id" in token:
            self.check_host(token["id"])
        if not token.get("expires_at"):
            issued = int(token.get("issued_at", time.time() * 1000)) / 1000
            token["expires_at"] = int(issued + self.DEFAULT_SESSION_SECONDS)
        return token

    def identify(self, token: dict) -> Identity:
        if not token.get("id") or not token.get("instance_url"):
            raise OAuthFailure("identity_failed", "Salesforce token response lacks id or instance_url")
        info = self.get_json(self.check_host(token["id"]), token)
        org_id = info.get("organization_id")
        if not org_id:
            raise OAuthFailure("identity_failed", "Salesforce identity has no organization_id")
        return Identity(external_id=org_id, name=info.get("display_name") and f"Salesforce org of "
                        f"{info.get('username', '')}" or f"Salesforce {org_id}",
                        api_base=self.check_host(token["instance_url"]), user_id=str(info.get("user_id", "")),
                        user_email=info.get("email", ""), user_name=info.get("display_name", ""))
