"""Pipedrive OAuth: company id and api_domain (checked against allowed hosts)."""
from __future__ import annotations

from oauth.base import Identity, OAuthFailure, OAuthProvider


class PipedriveOAuth(OAuthProvider):
    NAME = "pipedrive"
    # https://pipedrive.readme.io/docs/marketplace-oauth-authorization
    AUTHORIZE_URL = "https://oauth.pipedrive.com/oauth/authorize"
    TOKEN_URL = "https://oauth.pipedrive.com/oauth/token"
    REVOKE_URL = "https://oauth.pipedrive.com/oauth/revoke"
    SCOPES = ()  # Pipedrive takes the scopes from the app's Marketplace settings, not the URL
    TOKEN_AUTH_METHOD = "client_secret_basic"
    ALLOWED_HOSTS = ("*.pipedrive.com",)

    def normalize_token(self, token: dict) -> dict:
        if "api_domain" in token:
            self.check_host(token["api_domain"])
        return token

    def identify(self, token: dict) -> Identity:
        api_domain = token.get("api_domain")
        if not api_domain:
            raise OAuthFailure("identity_failed", "Pipedrive token response lacks api_domain")
        api_domain = self.check_host(api_domain).rstrip("/")
        me = self.get_json(f"{api_domain}/api/v1/users/me", token).get("data") or {}
        if not me.get("company_id"):
            raise OAuthFailure("identity_failed", "Pipedrive users/me has no company_id")
        return Identity(external_id=str(me["company_id"]), name=me.get("company_name") or me.get("company_domain")
                        or f"Pipedrive {me['company_id']}", api_base=api_domain, user_id=str(me.get("id", "")),
                        user_email=me.get("email", ""), user_name=me.get("name", ""),
                        extra={"company_domain": me.get("company_domain")})
