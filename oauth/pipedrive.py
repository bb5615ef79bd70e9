"""Pipedrive OAuth: company id and api_domain (checked against allowed hosts)."""
from __future__ import annotations

from oauth.base import Identity, OAuthFailure, OAuthProvider, as_flag


class PipedriveOAuth(OAuthProvider):
    NAME = "pipedrive"
    TITLE = "Pipedrive"
    # https://pipedrive.readme.io/docs/marketplace-oauth-authorization
    AUTHORIZE_URL = "https://oauth.pipedrive.com/oauth/authorize"
    TOKEN_URL = "https://oauth.pipedrive.com/oauth/token"
    REVOKE_URL = "https://oauth.pipedrive.com/oauth/revoke"
    SCOPES = ()  # Pipedrive takes the scopes from the app's Marketplace settings, not the URL
    # No PKCE: Pipedrive's OAuth server documents only client_id, redirect_uri and state on /authorize and
    # grant_type, code and redirect_uri on /token (the page above; developers.pipedrive.com/docs/api/v1/Oauth).
    # Nothing binds a code to the browser that started the flow: only our state (single-use, in the session,
    # 15 minutes) and Pipedrive's single-use 5-minute codes stand in for it (README, Security: residual risks).
    PKCE = False
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
        is_admin = as_flag(me.get("is_admin"))  # sent as 1/0 (v1) or true/false
        if is_admin is None:
            self.note_unknown("admin", 200, "no-is_admin")
        return Identity(external_id=str(me["company_id"]), name=me.get("company_name") or me.get("company_domain")
                        or f"Pipedrive {me['company_id']}", api_base=api_domain, user_id=str(me.get("id", "")),
                        user_email=me.get("email", ""), user_name=me.get("name", ""),
                        extra={"company_domain": me.get("company_domain")}, is_admin=is_admin)
