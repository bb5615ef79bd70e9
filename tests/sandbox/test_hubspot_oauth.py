"""Contract tests: HubSpot OAuth install, token info, refresh, revoke and uninstall."""
from __future__ import annotations

import json

import pytest
from hubspot.crm.contacts.exceptions import UnauthorizedException
from hubspot.oauth.exceptions import ApiException as OAuthApiException

from tests.sandbox import hubspot_support as S


def test_install_token_info_refresh_and_uninstall(sandbox):
    app = S.register_app(sandbox, app_id=4242)
    acct = S.portal(sandbox)
    redirect = S.authorize(sandbox, app, acct["account_id"])
    assert redirect["state"] == "st-1"
    client = S.sdk(sandbox, "unused")
    tokens = client.oauth.tokens_api.create(grant_type="authorization_code", code=redirect["code"],
                                            redirect_uri=app["redirect_uris"][0], client_id=app["client_id"],
                                            client_secret=app["client_secret"])
    assert tokens.expires_in == 1800 and tokens.token_type == "bearer"
    info = client.oauth.access_tokens_api.get(tokens.access_token)
    assert (info.hub_id, info.app_id, info.token_type) == (int(acct["account_id"]), 4242, "access")
    assert info.scopes == app["scopes"] and info.user.endswith(".example.com")
    api = S.sdk(sandbox, tokens.access_token)
    assert api.crm.owners.owners_api.get_page().results
    refreshed = client.oauth.tokens_api.create(grant_type="refresh_token", refresh_token=tokens.refresh_token,
                                               client_id=app["client_id"], client_secret=app["client_secret"])
    assert refreshed.access_token != tokens.access_token
    rinfo = client.oauth.refresh_tokens_api.get(tokens.refresh_token)
    assert rinfo.client_id == app["client_id"] and rinfo.hub_id == int(acct["account_id"])
    resp = S.control(sandbox).delete(f"{sandbox.url}/appinstalls/v3/external-install",
                                     headers={"Authorization": f"Bearer {refreshed.access_token}"})
    assert resp.status_code == 204
    with pytest.raises(UnauthorizedException):
        S.sdk(sandbox, refreshed.access_token).crm.contacts.basic_api.get_page()
    with pytest.raises(OAuthApiException) as exc:
        client.oauth.tokens_api.create(grant_type="refresh_token", refresh_token=tokens.refresh_token,
                                       client_id=app["client_id"], client_secret=app["client_secret"])
    body = json.loads(exc.value.body)
    assert (exc.value.status, body["status"], body["error"]) == (400, "BAD_REFRESH_TOKEN", "invalid_grant")


def test_code_is_single_use_and_client_secret_checked(sandbox):
    app = S.register_app(sandbox)
    acct = S.portal(sandbox)
    code = S.authorize(sandbox, app, acct["account_id"])["code"]
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": app["redirect_uris"][0],
            "client_id": app["client_id"], "client_secret": "wrong"}
    http = S.control(sandbox)
    bad = http.post(f"{sandbox.url}/oauth/v1/token", data=form)
    assert bad.status_code == 400 and bad.json()["status"] == "BAD_CLIENT_SECRET"
    form["client_secret"] = app["client_secret"]
    assert http.post(f"{sandbox.url}/oauth/v1/token", data=form).status_code == 200
    again = http.post(f"{sandbox.url}/oauth/v1/token", data=form)
    assert again.json()["status"] == "BAD_AUTH_CODE"


def test_pkce_verifier_is_checked(sandbox):
    app = S.register_app(sandbox)
    acct = S.portal(sandbox)
    verifier, challenge = S.pkce_pair()
    http = S.control(sandbox)
    base = {"grant_type": "authorization_code", "redirect_uri": app["redirect_uris"][0],
            "client_id": app["client_id"], "client_secret": app["client_secret"]}
    code = S.authorize(sandbox, app, acct["account_id"], code_challenge=challenge,
                       code_challenge_method="S256")["code"]
    wrong = http.post(f"{sandbox.url}/oauth/v1/token", data={**base, "code": code, "code_verifier": "nope"})
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"
    code = S.authorize(sandbox, app, acct["account_id"], code_challenge=challenge,
                       code_challenge_method="S256")["code"]
    ok = http.post(f"{sandbox.url}/oauth/v1/token", data={**base, "code": code, "code_verifier": verifier})
    assert ok.status_code == 200 and ok.json()["access_token"]


def test_consent_page_posts_back_and_expired_access_token(sandbox):
    sandbox.sandbox.config.update({"consent_page": True, "oauth": {"hubspot": {"access_ttl": 0}}})
    app = S.register_app(sandbox)
    acct = S.portal(sandbox)
    http = S.control(sandbox)
    page = http.get(f"{sandbox.url}/oauth/authorize", params={
        "client_id": app["client_id"], "redirect_uri": app["redirect_uris"][0], "scope": "oauth",
        "state": "s2", "account": acct["account_id"]})
    assert page.status_code == 200 and "<form method=post" in page.text and "Connect app" in page.text
    approved = http.post(f"{sandbox.url}/oauth/authorize", allow_redirects=False, data={
        "client_id": app["client_id"], "redirect_uri": app["redirect_uris"][0], "scope": "oauth", "state": "s2",
        "account": acct["account_id"], "approve": "1"})
    assert approved.status_code == 302 and "code=" in approved.headers["Location"]
    code = approved.headers["Location"].split("code=")[1].split("&")[0]
    tokens = http.post(f"{sandbox.url}/oauth/v1/token", data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": app["redirect_uris"][0],
        "client_id": app["client_id"], "client_secret": app["client_secret"]}).json()
    with pytest.raises(UnauthorizedException) as exc:
        S.sdk(sandbox, tokens["access_token"]).crm.contacts.basic_api.get_page()
    assert json.loads(exc.value.body)["category"] == "EXPIRED_AUTHENTICATION"


def test_unknown_client_is_refused_on_the_authorize_page(sandbox):
    resp = S.control(sandbox).get(f"{sandbox.url}/oauth/authorize", params={"client_id": "nobody",
                                                                           "redirect_uri": "https://x"})
    assert resp.status_code == 400


def test_expiring_the_tokens_issued_so_far_refuses_them_as_expired_and_a_refresh_still_works(sandbox):
    app = S.register_app(sandbox)
    acct = S.portal(sandbox)
    tokens = S.install_via_oauth(sandbox, app, acct["account_id"])
    expire = S.control(sandbox).post(f"{sandbox.url}/_sandbox/accounts/{acct['account_id']}/tokens/expire",
                                     timeout=10)
    assert expire.json() == {"expired": 2}  # the control API's token and the app's
    with pytest.raises(UnauthorizedException) as exc:
        S.sdk(sandbox, tokens.access_token).crm.contacts.basic_api.get_page()
    assert json.loads(exc.value.body)["category"] == "EXPIRED_AUTHENTICATION"
    refreshed = S.sdk(sandbox, "unused").oauth.tokens_api.create(
        grant_type="refresh_token", refresh_token=tokens.refresh_token, client_id=app["client_id"],
        client_secret=app["client_secret"])
    assert S.sdk(sandbox, refreshed.access_token).crm.owners.owners_api.get_page().results
