"""HubSpot users: super admins, login_hint on the authorize page, and the user provisioning API."""
from __future__ import annotations

import secrets
from urllib.parse import parse_qs, urlparse

import pytest
from hubspot import HubSpot

from tests.sandbox.conftest import new_account

REDIRECT = "https://leadrelay.test/oauth/hubspot/callback"
SCOPES = ["oauth", "crm.objects.owners.read", "settings.users.read"]
USERS = [{"email": "ann@acme.example", "name": "Ann Admin"}, {"email": "ben@acme.example", "name": "Ben Rep"}]


@pytest.fixture()
def app(sandbox, http) -> dict:
    app = {"platform": "hubspot", "client_id": "cid-" + secrets.token_hex(4), "client_secret": secrets.token_hex(8),
           "redirect_uris": [REDIRECT], "scopes": SCOPES}
    http.post(f"{sandbox.url}/_sandbox/apps", json=app, timeout=10).raise_for_status()
    return app


def _token(sandbox, http, app, account_id: str, scopes=SCOPES, **params) -> dict:
    query = {"client_id": app["client_id"], "redirect_uri": REDIRECT, "scope": " ".join(scopes),
             "account": account_id, **params}
    resp = http.get(f"{sandbox.url}/oauth/authorize", params=query, allow_redirects=False, timeout=10)
    assert resp.status_code == 302, resp.text
    code = parse_qs(urlparse(resp.headers["Location"]).query)["code"][0]
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
            "client_id": app["client_id"], "client_secret": app["client_secret"]}
    return http.post(f"{sandbox.url}/oauth/v1/token", data=form, timeout=10).json()


def _info(sandbox, http, token: dict) -> dict:
    return http.get(f"{sandbox.url}/oauth/v1/access-tokens/{token['access_token']}", timeout=10).json()


def test_login_hint_picks_the_approving_user_and_the_token_acts_as_them(sandbox, http, app):
    account = new_account(sandbox, "hubspot", USERS)["account_id"]
    admin = _info(sandbox, http, _token(sandbox, http, app, account))
    rep = _info(sandbox, http, _token(sandbox, http, app, account, login_hint="Ben@Acme.example"))
    assert admin["user"] == "ann@acme.example" and rep["user"] == "ben@acme.example"
    assert rep["user_id"] != admin["user_id"] and rep["hub_id"] == int(account)


def test_user_provisioning_api_says_who_is_a_super_admin(sandbox, http, app):
    account = new_account(sandbox, "hubspot", USERS)["account_id"]
    token = _token(sandbox, http, app, account, login_hint="ben@acme.example")
    users = HubSpot(access_token=token["access_token"], host=sandbox.url).settings.users.users_api
    ben = users.get_by_id(str(_info(sandbox, http, token)["user_id"]))
    ann = users.get_by_id("ann@acme.example", id_property="EMAIL")
    assert (ben.email, ben.super_admin, ben.role_ids) == ("ben@acme.example", False, [])
    assert (ann.email, ann.super_admin) == ("ann@acme.example", True)
    raw = http.get(f"{sandbox.url}/settings/v3/users/{ben.id}",
                   headers={"Authorization": f"Bearer {token['access_token']}"}, timeout=10).json()
    assert raw == {"id": ben.id, "email": "ben@acme.example", "firstName": "Ben", "lastName": "Rep", "roleIds": [],
                   "secondaryTeamIds": [], "superAdmin": False, "sendWelcomeEmail": False}


def test_admin_flags_from_the_control_api(sandbox, http, app):
    users = [{"email": "ann@acme.example", "admin": False}, {"email": "ben@acme.example", "admin": True},
             {"email": "cy@acme.example", "admin": True}]
    account = new_account(sandbox, "hubspot", users)["account_id"]
    token = _token(sandbox, http, app, account)  # no login_hint: the first super admin approves
    assert _info(sandbox, http, token)["user"] == "ben@acme.example"
    api = HubSpot(access_token=token["access_token"], host=sandbox.url).settings.users.users_api
    flags = {u["email"]: api.get_by_id(u["email"], id_property="EMAIL").super_admin for u in users}
    assert flags == {"ann@acme.example": False, "ben@acme.example": True, "cy@acme.example": True}


def test_missing_scope_is_403_missing_scopes_and_unknown_user_404(sandbox, http, app):
    account = new_account(sandbox, "hubspot", USERS)["account_id"]
    token = _token(sandbox, http, app, account, scopes=["oauth", "crm.objects.owners.read"])
    auth = {"Authorization": f"Bearer {token['access_token']}"}
    refused = http.get(f"{sandbox.url}/settings/v3/users/{_info(sandbox, http, token)['user_id']}", headers=auth)
    body = refused.json()
    assert refused.status_code == 403 and body["category"] == "MISSING_SCOPES" and body["status"] == "error"
    assert "settings.users.read" in body["errors"][0]["context"]["requiredScopes"]
    assert body["message"].startswith("This app hasn't been granted all required scopes")
    auth = {"Authorization": f"Bearer {_token(sandbox, http, app, account)['access_token']}"}
    missing = http.get(f"{sandbox.url}/settings/v3/users/1", headers=auth)
    assert missing.status_code == 404 and missing.json()["category"] == "OBJECT_NOT_FOUND"


def test_unknown_login_hint_is_refused_on_the_authorize_page(sandbox, http, app):
    account = new_account(sandbox, "hubspot", USERS)["account_id"]
    resp = http.get(f"{sandbox.url}/oauth/authorize", allow_redirects=False, params={
        "client_id": app["client_id"], "redirect_uri": REDIRECT, "scope": "oauth", "account": account,
        "login_hint": "mallory@evil.example"})
    assert resp.status_code == 400 and "login_hint" in resp.text
