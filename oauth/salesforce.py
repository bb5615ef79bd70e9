"""Salesforce OAuth (web-server flow): org id and instance URL, both checked against allowed hosts; whether the
user is an admin (Modify All Data or Customize Application, through their profile or a permission set)."""
from __future__ import annotations

import re
import time
from urllib.parse import urlencode

from oauth.base import Identity, OAuthFailure, OAuthProvider

USER_ID = re.compile(r"005[A-Za-z0-9]{12}(?:[A-Za-z0-9]{3})?")  # a User id, 15 or 18 characters


class SalesforceOAuth(OAuthProvider):
    NAME = "salesforce"
    TITLE = "Salesforce"
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
    API_VERSION = "59.0"  # the REST version the adapters use (adapters/salesforce/client.py)
    # Every profile owns a permission set, so PermissionSetAssignment covers profile and permission-set grants
    # (https://help.salesforce.com/s/articleView?id=000387815). Users without View Setup and Configuration,
    # Manage Users or Assign Permission Sets may not read it (INVALID_TYPE): the answer is then unknown (None).
    ADMIN_QUERY = ("SELECT COUNT() FROM PermissionSetAssignment WHERE AssigneeId = '{user_id}' AND "
                   "(PermissionSet.PermissionsModifyAllData = true OR "
                   "PermissionSet.PermissionsCustomizeApplication = true)")

    def url(self, real_url: str) -> str:
        login = self.settings.login_url
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
        api_base, user_id = self.check_host(token["instance_url"]), str(info.get("user_id", ""))
        return Identity(external_id=org_id, name=info.get("display_name") and f"Salesforce org of "
                        f"{info.get('username', '')}" or f"Salesforce {org_id}",
                        api_base=api_base, user_id=user_id,
                        user_email=info.get("email", ""), user_name=info.get("display_name", ""),
                        is_admin=self.is_admin(api_base, user_id, token))

    def is_admin(self, api_base: str, user_id: str, token: dict) -> bool:
        """Modify All Data or Customize Application held by the user.

        A refused query means "not an admin", not "unknown": reading PermissionSetAssignment needs View Setup
        (since Summer '20), which both admin permissions include, and Salesforce lets any user self-authorize a
        connected app, so an unanswered question must not let a plain user become the first installer.
        """
        if not USER_ID.fullmatch(user_id):  # also what makes the id safe to quote in SOQL
            self.note_unknown("admin", category="bad-user-id")
            return False
        query = urlencode({"q": self.ADMIN_QUERY.format(user_id=user_id)})
        answer = self.ask_json(f"{api_base.rstrip('/')}/services/data/v{self.API_VERSION}/query?{query}", token,
                               "admin")
        if answer is None:
            return False
        total = answer.get("totalSize")
        if not isinstance(total, int) or isinstance(total, bool):
            self.note_unknown("admin", 200, "no-totalSize")
            return False
        return total > 0
