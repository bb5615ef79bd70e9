"""HubSpot OAuth: portal (hub) id from the token-info endpoint, super admin from the user provisioning API."""
from __future__ import annotations

from oauth.base import CRMTransient, Identity, OAuthFailure, OAuthProvider, RequestException, as_flag


class HubSpotOAuth(OAuthProvider):
    NAME = "hubspot"
    TITLE = "HubSpot"
    # https://developers.hubspot.com/docs/api-reference/auth-oauth-v3/guide
    AUTHORIZE_URL = "https://app.hubspot.com/oauth/authorize"
    # v1 token endpoint, as hubspot-api-client 12 still uses; form body carries the client credentials
    TOKEN_URL = "https://api.hubapi.com/oauth/v1/token"
    TOKEN_INFO_URL = "https://api.hubapi.com/oauth/v1/access-tokens/{token}"
    REFRESH_TOKEN_URL = "https://api.hubapi.com/oauth/v1/refresh-tokens/{token}"
    # https://developers.hubspot.com/docs/api-reference/settings-user-provisioning-v3/users/get-settings-v3-users-userId
    USER_URL = "https://api.hubapi.com/settings/v3/users/{user_id}"
    API_BASE = "https://api.hubapi.com"
    SCOPES = ("oauth", "crm.objects.contacts.read", "crm.objects.contacts.write", "crm.objects.companies.read",
              "crm.objects.companies.write", "crm.objects.deals.read", "crm.objects.deals.write",
              "crm.objects.owners.read", "settings.users.read",
              # the lead's replies: an email engagement's body is only readable with it (handoff rules)
              "sales-email-read")
    # Asked for, granted where the portal has the feature, never a reason to refuse the install (HubSpot's
    # `optional_scope`): do-not-contact through the communication preferences API, and the CRM's own sending for
    # the first response (sequences need a Sales/Service Hub seat). Without them those two features say so.
    OPTIONAL_SCOPES = ("subscriptions-status-write", "automation.sequences.read",
                       "automation.sequences.enrollments.write")
    PKCE = True
    TOKEN_AUTH_METHOD = "client_secret_post"
    ALLOWED_HOSTS = ("api.hubapi.com",)
    # token info is keyed by the token itself: an expired or revoked one is simply "not found"
    UNAUTHORIZED_STATUSES = (401, 404)

    def authorize_params(self) -> dict[str, str]:
        return {"optional_scope": " ".join(self.OPTIONAL_SCOPES)}

    def identify(self, token: dict) -> Identity:
        info = self.get_json(self.url(self.TOKEN_INFO_URL.format(token=token["access_token"])), token)
        if "hub_id" not in info:
            raise OAuthFailure("identity_failed", "HubSpot token info has no hub_id")
        user_id = str(info.get("user_id", ""))
        return Identity(external_id=str(info["hub_id"]), name=info.get("hub_domain") or f"HubSpot {info['hub_id']}",
                        api_base=self.url(self.API_BASE), user_id=user_id,
                        user_email=info.get("user", ""), user_name=info.get("user", ""),
                        extra={"app_id": info.get("app_id"), "scopes": info.get("scopes", [])},
                        is_admin=self.is_super_admin(user_id, token))

    def is_super_admin(self, user_id: str, token: dict) -> bool | None:
        """The user's superAdmin flag; None when HubSpot will not say (scope not granted: 403, unknown user: 404)."""
        if not user_id.isdigit():
            self.note_unknown("admin", category="no-user-id")
            return None
        user = self.ask_json(self.url(self.USER_URL.format(user_id=user_id)), token, "admin")
        if user is None:
            return None
        flag = as_flag(user.get("superAdmin"))  # a boolean, though one reference example sends "false"
        if flag is None:
            self.note_unknown("admin", 200, "no-superAdmin")
        return flag

    def revoke(self, token: dict) -> None:
        # HubSpot has no RFC 7009 endpoint: deleting the refresh token is its revocation
        # (https://developers.hubspot.com/docs-beta/oauth/tokens).
        if not token.get("refresh_token"):
            return
        try:
            resp = self.http().delete(self.url(self.REFRESH_TOKEN_URL.format(token=token["refresh_token"])),
                                     timeout=15)
        except RequestException as exc:
            raise CRMTransient(f"HubSpot revoke failed: {type(exc).__name__}") from exc
        if resp.status_code >= 400 and resp.status_code != 404:  # 404: already gone, which is the goal
            raise OAuthFailure("revoke_failed", f"HubSpot answered {resp.status_code}")
