"""Pipedrive users: admin flags, login_hint on the authorize page, /v1/users/me of the approving user, no PKCE."""
from __future__ import annotations

import secrets
from urllib.parse import parse_qs, urlparse

import pytest

from tests.sandbox.conftest import new_account

REDIRECT = "https://app.example/pipedrive/callback"
USERS = [{"email": "ann@acme.example", "name": "Ann Admin"}, {"email": "ben@acme.example", "name": "Ben Rep"}]


@pytest.fixture()
def app(sandbox, http) -> dict:
    app = {"platform": "pipedrive", "client_id": "pd-" + secrets.token_hex(4), "client_secret": "s3cret",
           "redirect_uris": [REDIRECT]}
    http.post(f"{sandbox.url}/_sandbox/apps", json=app, timeout=10).raise_for_status()
    return app


def _code(sandbox, http, app, company: str, **params) -> str:
    resp = http.get(f"{sandbox.url}/oauth/authorize", allow_redirects=False, timeout=10, params={
        "client_id": app["client_id"], "redirect_uri": REDIRECT, "state": "st", "company_id": company, **params})
    assert resp.status_code == 302, resp.text
    return parse_qs(urlparse(resp.headers["Location"]).query)["code"][0]


def _exchange(sandbox, http, app, code: str, **form):
    return http.post(f"{sandbox.url}/oauth/token", auth=(app["client_id"], app["client_secret"]), timeout=10,
                     data={"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT, **form})


def _me(sandbox, http, token: dict) -> dict:
    resp = http.get(f"{token['api_domain']}/api/v1/users/me", timeout=10,
                    headers={"Authorization": f"Bearer {token['access_token']}"})
    return resp.json()["data"]


def test_users_me_is_the_user_login_hint_named(sandbox, http, app):
    company = new_account(sandbox, "pipedrive", USERS)["account_id"]
    admin = _me(sandbox, http, _exchange(sandbox, http, app, _code(sandbox, http, app, company)).json())
    rep_token = _exchange(sandbox, http, app, _code(sandbox, http, app, company, login_hint="ben@acme.example")).json()
    rep = _me(sandbox, http, rep_token)
    assert (admin["email"], admin["is_admin"], admin["is_you"]) == ("ann@acme.example", 1, True)
    assert (rep["email"], rep["is_admin"], rep["is_you"]) == ("ben@acme.example", 0, True)
    assert rep["company_id"] == admin["company_id"]
    refreshed = http.post(f"{sandbox.url}/oauth/token", auth=(app["client_id"], app["client_secret"]), data={
        "grant_type": "refresh_token", "refresh_token": rep_token["refresh_token"]}, timeout=10).json()
    assert _me(sandbox, http, refreshed)["email"] == "ben@acme.example"  # a refreshed token stays Ben's


def test_admin_flags_from_the_control_api(sandbox, http, app):
    users = [{"email": "ann@acme.example", "admin": False}, {"email": "ben@acme.example", "admin": True}]
    company = new_account(sandbox, "pipedrive", users)["account_id"]
    token = _exchange(sandbox, http, app, _code(sandbox, http, app, company)).json()
    me = _me(sandbox, http, token)
    assert (me["email"], me["is_admin"]) == ("ben@acme.example", 1)  # no hint: the company's admin approves
    listed = http.get(f"{sandbox.url}/_sandbox/accounts/{company}/users", timeout=10).json()["results"]
    assert {u["email"]: u["is_admin"] for u in listed} == {"ann@acme.example": 0, "ben@acme.example": 1}


def test_no_pkce_the_challenge_is_ignored_as_pipedrive_documents_none(sandbox, http, app):
    company = new_account(sandbox, "pipedrive", USERS)["account_id"]
    code = _code(sandbox, http, app, company, code_challenge="x" * 43, code_challenge_method="S256")
    assert _exchange(sandbox, http, app, code).status_code == 200  # no code_verifier, and no error


def test_unknown_login_hint_and_wrong_redirect_are_refused(sandbox, http, app):
    company = new_account(sandbox, "pipedrive", USERS)["account_id"]
    resp = http.get(f"{sandbox.url}/oauth/authorize", allow_redirects=False, timeout=10, params={
        "client_id": app["client_id"], "redirect_uri": REDIRECT, "company_id": company,
        "login_hint": "mallory@evil.example"})
    assert resp.status_code == 400 and "login_hint" in resp.text
    code = _code(sandbox, http, app, company)
    wrong = _exchange(sandbox, http, app, code, redirect_uri=REDIRECT + "/other")
    assert wrong.status_code == 400 and wrong.json()["message"] == "Invalid request: redirect_uri is invalid"
