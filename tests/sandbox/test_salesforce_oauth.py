"""Contract tests: the Salesforce OAuth web-server flow, identity service and token lifecycle."""
from __future__ import annotations

import base64
import hashlib
import hmac
from urllib.parse import parse_qs, urlparse

import pytest
import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceExpiredSession

REDIRECT = "https://app.example.com/oauth/salesforce/callback"
VERIFIER = "a-long-random-pkce-verifier-of-at-least-43-characters-123456"
CHALLENGE = base64.urlsafe_b64encode(hashlib.sha256(VERIFIER.encode()).digest()).decode().rstrip("=")


@pytest.fixture(scope="module")
def sf_server(sandbox_server):
    """The shared sandbox server (tests/sandbox/conftest.py)."""
    return sandbox_server


@pytest.fixture()
def web(sf_server) -> requests.Session:
    sf_server.sandbox.config.reset()
    session = requests.Session()
    session.trust_env = False
    session.verify = sf_server.sandbox.ca_file
    return session


@pytest.fixture()
def app(sf_server, web):
    client_id = f"3MVG9{len(sf_server.sandbox.store.accounts)}consumerkey"
    web.post(f"{sf_server.url}/_sandbox/apps", json={
        "platform": "salesforce", "client_id": client_id, "client_secret": "consumer-secret",
        "redirect_uris": [REDIRECT]}).raise_for_status()
    org = web.post(f"{sf_server.url}/_sandbox/accounts", json={"platform": "salesforce", "name": "OAuth org",
                                                                "users": []}).json()
    return {"client_id": client_id, "client_secret": "consumer-secret", "org": org}


def authorize(server, web, app, **extra) -> str:
    """Run the authorize step; returns the code from the redirect."""
    params = {"response_type": "code", "client_id": app["client_id"], "redirect_uri": REDIRECT,
              "state": "xyz", "scope": "api refresh_token", **extra}
    resp = web.get(f"{server.tls_url}/services/oauth2/authorize", params=params, allow_redirects=False)
    assert resp.status_code == 302, resp.text
    query = parse_qs(urlparse(resp.headers["Location"]).query)
    assert query["state"] == ["xyz"]
    return query["code"][0]


def exchange(server, web, app, code: str, **extra) -> requests.Response:
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT, **extra}
    return web.post(f"{server.tls_url}/services/oauth2/token", data=form,
                    auth=(app["client_id"], app["client_secret"]))


def user_by_name(server, web, app, name: str) -> dict:
    users = web.get(f"{server.url}/_sandbox/accounts/{app['org']['account_id']}/User").json()["results"]
    return next(u for u in users if u["Name"] == name)


def test_code_exchange_with_pkce_and_basic_auth(sf_server, web, app):
    blake = user_by_name(sf_server, web, app, "Blake Rivera")
    code = authorize(sf_server, web, app, code_challenge=CHALLENGE, login_hint=blake["Username"])
    resp = exchange(sf_server, web, app, code, code_verifier=VERIFIER)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert {"access_token", "refresh_token", "instance_url", "id", "issued_at", "signature", "token_type",
            "scope"} == set(body)
    assert body["instance_url"] == sf_server.tls_url and body["token_type"] == "Bearer"
    org_id, user_id = body["id"].rstrip("/").split("/")[-2:]
    assert org_id == app["org"]["account_id"] and user_id == blake["Id"]
    expected = base64.b64encode(hmac.new(b"consumer-secret", (body["id"] + body["issued_at"]).encode(),
                                         hashlib.sha256).digest()).decode()
    assert body["signature"] == expected
    # the app writes as the authorizing user, which is how it recognises its own changes later
    sf = Salesforce(instance_url=body["instance_url"], session_id=body["access_token"], session=web,
                    version="59.0")
    lead = sf.Lead.create({"LastName": "Ito", "Company": "Kaizen KK"})
    assert sf.Lead.get(lead["id"])["LastModifiedById"] == blake["Id"]
    assert exchange(sf_server, web, app, code, code_verifier=VERIFIER).json()["error"] == "invalid_grant"


def test_pkce_and_client_errors(sf_server, web, app):
    code = authorize(sf_server, web, app, code_challenge=CHALLENGE)
    assert exchange(sf_server, web, app, code).json() == {"error": "invalid_grant",
                                                          "error_description": "invalid code verifier"}
    code = authorize(sf_server, web, app, code_challenge=CHALLENGE)
    assert exchange(sf_server, web, app, code, code_verifier="wrong" * 10).json()["error"] == "invalid_request"
    code = authorize(sf_server, web, app)
    bad = web.post(f"{sf_server.tls_url}/services/oauth2/token", data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
        "client_id": app["client_id"], "client_secret": "nope"})
    assert bad.status_code == 400 and bad.json()["error"] == "invalid_client"
    wrong_uri = web.get(f"{sf_server.tls_url}/services/oauth2/authorize", allow_redirects=False, params={
        "response_type": "code", "client_id": app["client_id"], "redirect_uri": "https://evil.example/cb"})
    assert wrong_uri.status_code == 400 and "redirect_uri_mismatch" in wrong_uri.text


def test_identity_url_and_userinfo(sf_server, web, app):
    body = exchange(sf_server, web, app, authorize(sf_server, web, app)).json()
    auth = {"Authorization": f"Bearer {body['access_token']}"}
    identity = web.get(body["id"], headers=auth, params={"version": "59.0"}).json()
    assert identity["organization_id"] == app["org"]["account_id"]
    assert identity["username"] == "avery.admin@example.com" and identity["active"] is True
    assert identity["urls"]["rest"] == f"{sf_server.tls_url}/services/data/v59.0/"
    info = web.get(f"{sf_server.tls_url}/services/oauth2/userinfo", headers=auth).json()
    assert info["user_id"] == identity["user_id"] and info["zoneinfo"] == "America/Los_Angeles"
    denied = web.get(body["id"], headers={"Authorization": "Bearer nope"})
    assert denied.status_code == 403 and denied.text == "Bad_OAuth_Token"


def test_refresh_without_and_with_rotation(sf_server, web, app):
    first = exchange(sf_server, web, app, authorize(sf_server, web, app)).json()
    form = {"grant_type": "refresh_token", "refresh_token": first["refresh_token"],
            "client_id": app["client_id"], "client_secret": app["client_secret"]}
    plain = web.post(f"{sf_server.tls_url}/services/oauth2/token", data=form).json()
    assert "refresh_token" not in plain and plain["access_token"] != first["access_token"]
    sf_server.sandbox.config.update({"oauth": {"salesforce": {"rotate_refresh": True}}})
    rotated = web.post(f"{sf_server.tls_url}/services/oauth2/token", data=form).json()
    assert rotated["refresh_token"] != first["refresh_token"]
    stale = web.post(f"{sf_server.tls_url}/services/oauth2/token", data=form)
    assert stale.status_code == 400
    assert stale.json() == {"error": "invalid_grant", "error_description": "expired access/refresh token"}


def test_expired_and_revoked_tokens(sf_server, web, app):
    sf_server.sandbox.config.update({"oauth": {"salesforce": {"access_ttl": 0}}})
    expired = exchange(sf_server, web, app, authorize(sf_server, web, app)).json()
    with pytest.raises(SalesforceExpiredSession):
        Salesforce(instance_url=expired["instance_url"], session_id=expired["access_token"], session=web,
                   version="59.0").query("SELECT Id FROM Lead")
    sf_server.sandbox.config.reset()
    live = exchange(sf_server, web, app, authorize(sf_server, web, app)).json()
    sf = Salesforce(instance_url=live["instance_url"], session_id=live["access_token"], session=web,
                    version="59.0")
    assert sf.query("SELECT COUNT() FROM User")["totalSize"] == 4
    assert web.post(f"{sf_server.tls_url}/services/oauth2/revoke",
                    data={"token": live["refresh_token"]}).status_code == 200
    with pytest.raises(SalesforceExpiredSession):
        sf.query("SELECT COUNT() FROM User")
    again = web.post(f"{sf_server.tls_url}/services/oauth2/revoke", data={"token": live["refresh_token"]})
    assert again.status_code == 400 and again.json()["error"] == "invalid_token"


def test_consent_page_approve_and_deny(sf_server, web, app):
    sf_server.sandbox.config.update({"consent_page": True})
    params = {"response_type": "code", "client_id": app["client_id"], "redirect_uri": REDIRECT, "state": "s1"}
    page = web.get(f"{sf_server.tls_url}/services/oauth2/authorize", params=params)
    assert page.status_code == 200 and "<form" in page.text and "Allow" in page.text
    approved = web.post(f"{sf_server.tls_url}/services/oauth2/authorize", data={**params, "decision": "allow"},
                        allow_redirects=False)
    assert "code=" in approved.headers["Location"]
    denied = web.post(f"{sf_server.tls_url}/services/oauth2/authorize", data={**params, "decision": "deny"},
                      allow_redirects=False)
    assert "error=access_denied" in denied.headers["Location"]
