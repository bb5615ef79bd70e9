"""Pipedrive OAuth install/refresh/revoke/uninstall and webhooks v2 delivery, through pipedrive-python-lib."""
from __future__ import annotations

import base64
import json
import re
import threading
import time
from urllib.parse import parse_qs, urlparse

import pytest
import requests
from pipedrive import exceptions
from pipedrive.client import Client
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from tests.sandbox.conftest import new_account

REDIRECT = "https://app.example/pipedrive/callback"
USERS = [{"email": "ann@acme.example", "name": "Ann Admin", "timezone": "Europe/Berlin"},
         {"email": "ben@acme.example", "name": "Ben Rep", "timezone": "America/Chicago"}]


@pytest.fixture(scope="module")
def pd_server(sandbox_server):
    """The shared sandbox server (tests/sandbox/conftest.py)."""
    return sandbox_server


class Receiver:
    """A tiny webhook/callback receiver on 127.0.0.1:0 that records requests and answers scripted statuses."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.statuses: list[int] = []
        self._server = make_server("127.0.0.1", 0, self._app, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    @Request.application
    def _app(self, request: Request) -> Response:
        self.requests.append({"method": request.method, "path": request.path, "headers": dict(request.headers),
                              "json": json.loads(request.get_data() or b"null")})
        return Response("ok", status=self.statuses.pop(0) if self.statuses else 200)

    def wait_for(self, count: int, timeout: float = 10.0) -> list[dict]:
        deadline = time.time() + timeout
        while len(self.requests) < count and time.time() < deadline:
            time.sleep(0.01)
        return self.requests

    def stop(self) -> None:
        self._server.shutdown()


@pytest.fixture()
def receiver():
    rec = Receiver()
    yield rec
    rec.stop()


@pytest.fixture()
def env(pd_server, monkeypatch):
    pd_server.sandbox.config.reset()
    pd_server.sandbox.config.update({"webhook_retry_scale": 0.001})
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", pd_server.sandbox.ca_file)
    return pd_server


def _register(server, client_id: str, **extra) -> None:
    resp = requests.post(f"{server.url}/_sandbox/apps", json={
        "platform": "pipedrive", "client_id": client_id, "client_secret": "s3cret", "redirect_uris": [REDIRECT],
        **extra}, timeout=10)
    resp.raise_for_status()


def _install(server, client_id: str) -> tuple[Client, dict, dict]:
    """Company + app install through authorize and the SDK's exchange_code."""
    account = new_account(server, "pipedrive", USERS)
    sdk = Client(client_id, "s3cret", domain="unused")
    sdk.OAUTH_BASE_URL = server.sandbox.public_url + "/oauth/"  # the real paths, re-hosted on the sandbox
    url = sdk.authorization_url(REDIRECT, state="st-1") + f"&company_id={account['account_id']}"
    resp = requests.get(url, allow_redirects=False, timeout=10)
    query = parse_qs(urlparse(resp.headers["Location"]).query)
    assert resp.status_code == 302 and query["state"] == ["st-1"]
    tokens = sdk.exchange_code(REDIRECT, query["code"][0])
    api = Client(client_id, "s3cret", domain=tokens["api_domain"] + "/api/")
    api.OAUTH_BASE_URL = sdk.OAUTH_BASE_URL
    api.set_access_token(tokens["access_token"])
    return api, tokens, account


def _subscribe(api: Client, url: str, obj: str = "*") -> dict:
    base = api.BASE_URL + "webhooks"
    return api._post(base, json={"subscription_url": url, "event_action": "*", "event_object": obj,
                                 "version": "2.0", "http_auth_user": "hook", "http_auth_password": "pw-1"})["data"]


def _simulate(server, account: dict, payload: dict) -> dict:
    resp = requests.post(f"{server.url}/_sandbox/accounts/{account['account_id']}/simulate", json=payload, timeout=10)
    resp.raise_for_status()
    return resp.json()


def test_install_refresh_and_revoke(env):
    _register(env, "app-oauth")
    api, tokens, account = _install(env, "app-oauth")
    assert tokens["token_type"] == "Bearer" and tokens["expires_in"] == 3600
    assert tokens["api_domain"] == env.sandbox.public_url and "contacts:full" in tokens["scope"].split(",")
    me = api.users.get_me()["data"]
    assert me["company_id"] == int(account["account_id"].removeprefix("pd-")) and me["email"] == USERS[0]["email"]
    again = api.refresh_token(tokens["refresh_token"])
    assert again["refresh_token"] == tokens["refresh_token"] and again["access_token"] != tokens["access_token"]
    revoke = f"{env.sandbox.public_url}/pipedrive/oauth/revoke"
    assert requests.post(revoke, data={"token": tokens["access_token"]}, auth=("app-oauth", "s3cret"), timeout=10).ok
    with pytest.raises(exceptions.UnauthorizedError):
        api.users.get_me()
    api.set_access_token(again["access_token"])  # revoking an access token leaves the install alive
    assert api.users.get_me()["success"] is True
    requests.post(revoke, data={"token": tokens["refresh_token"]}, auth=("app-oauth", "s3cret"), timeout=10)
    with pytest.raises(exceptions.UnauthorizedError):
        api.users.get_me()
    with pytest.raises(exceptions.BadRequestError):
        api.refresh_token(tokens["refresh_token"])


def test_token_endpoint_rules_and_expiry(env):
    _register(env, "app-rules")
    sdk = Client("app-rules", "wrong", domain="unused")
    sdk.OAUTH_BASE_URL = env.sandbox.public_url + "/pipedrive/oauth/"
    with pytest.raises(exceptions.UnauthorizedError):
        sdk.refresh_token("whatever")
    json_body = requests.post(sdk.OAUTH_BASE_URL + "token", json={"grant_type": "refresh_token"},
                              auth=("app-rules", "s3cret"), timeout=10)
    assert json_body.status_code == 400 and "x-www-form-urlencoded" in json_body.json()["message"]
    env.sandbox.config.update({"oauth": {"pipedrive": {"access_ttl": 0}}})
    api, tokens, _ = _install(env, "app-rules")
    assert tokens["expires_in"] == 0
    with pytest.raises(exceptions.UnauthorizedError):
        api.users.get_me()


def test_consent_page_and_denial(env):
    _register(env, "app-consent", name="LeadRelay")
    new_account(env, "pipedrive", USERS)
    env.sandbox.config.update({"consent_page": True})
    url = f"{env.sandbox.public_url}/pipedrive/oauth/authorize"
    page = requests.get(url, params={"client_id": "app-consent", "redirect_uri": REDIRECT, "state": "x"}, timeout=10)
    assert page.status_code == 200 and "Allow and install" in page.text
    form = {"client_id": "app-consent", "redirect_uri": REDIRECT, "state": "x"}
    denied = requests.post(url, data={**form, "decision": "deny"}, allow_redirects=False, timeout=10)
    assert parse_qs(urlparse(denied.headers["Location"]).query) == {"error": ["user_denied"], "state": ["x"]}
    approved = requests.post(url, data={**form, "decision": "approve"}, allow_redirects=False, timeout=10)
    assert "code" in parse_qs(urlparse(approved.headers["Location"]).query)
    bad_redirect = requests.get(url, params={"client_id": "app-consent", "redirect_uri": "https://evil.example"},
                                timeout=10)
    assert bad_redirect.status_code == 400


def test_scopes_are_enforced(env):
    _register(env, "app-readonly", scopes=["base", "contacts:read"])
    api, _, _ = _install(env, "app-readonly")
    assert api._get(api.BASE_URL.replace("/v1/", "/v2/") + "persons")["success"] is True
    with pytest.raises(exceptions.ForbiddenError):
        api._post(api.BASE_URL.replace("/v1/", "/v2/") + "persons", json={"name": "Nope"})


def test_webhooks_for_api_and_ui_changes_with_basic_auth(env, receiver):
    _register(env, "app-hooks")
    api, _, account = _install(env, "app-hooks")
    hook = _subscribe(api, receiver.url + "/hooks", "person")
    assert hook["type"] == "application" and hook["version"] == "2.0"
    assert [h["id"] for h in api.webhooks.get_hooks_subscription()["data"]] == [hook["id"]]
    v2 = api.BASE_URL.replace("/v1/", "/v2/")
    person = api._post(v2 + "persons", json={"name": "Wendy Hook", "emails": ["wendy@hook.example"]})["data"]
    _simulate(env, account, {"action": "update", "object_type": "persons", "id": person["id"],
                             "properties": {"name": "Wendy Hooker"}})
    api._post(v2 + "organizations", json={"name": "Not a person"})  # filtered out by event_object
    got = receiver.wait_for(2)
    assert [r["json"]["meta"]["action"] for r in got] == ["create", "change"]
    expected = "Basic " + base64.b64encode(b"hook:pw-1").decode()
    assert all(r["method"] == "POST" and r["headers"]["Authorization"] == expected for r in got)
    created, changed = got[0]["json"], got[1]["json"]
    assert created["meta"]["change_source"] == "api" and created["previous"] is None
    assert created["meta"]["entity"] == "person" and created["meta"]["entity_id"] == str(person["id"])
    assert created["meta"]["user_id"] == str(api.users.get_me()["data"]["id"])
    assert changed["meta"]["change_source"] == "app" and changed["data"]["name"] == "Wendy Hooker"
    assert changed["previous"]["name"] == "Wendy Hook" and "emails" not in changed["previous"]
    assert {"company_id", "correlation_id", "id", "timestamp", "webhook_id", "attempt", "host",
            "is_bulk_edit", "version"} <= set(changed["meta"])
    api.webhooks.delete_hook_subscription(hook["id"])
    assert api.webhooks.get_hooks_subscription()["data"] == []


def test_merge_is_delivered_as_delete_plus_change(env, receiver):
    _register(env, "app-merge")
    api, _, account = _install(env, "app-merge")
    v2 = api.BASE_URL.replace("/v1/", "/v2/")
    keep = api._post(v2 + "persons", json={"name": "Kim Keep", "emails": ["kim@keep.example"]})["data"]
    lose = api._post(v2 + "persons", json={"name": "Kim K", "phones": ["+1 555 0199"]})["data"]
    _subscribe(api, receiver.url + "/hooks", "person")
    _simulate(env, account, {"action": "merge", "object_type": "persons", "id": lose["id"],
                             "merge_with_id": keep["id"]})
    got = [r["json"] for r in receiver.wait_for(2)]
    assert [(m["meta"]["action"], m["meta"]["entity_id"]) for m in got] == [
        ("delete", str(lose["id"])), ("change", str(keep["id"]))]
    assert got[0]["meta"]["merged_to_id"] == str(keep["id"]) and got[0]["data"] is None
    assert got[1]["meta"]["merged_from_id"] == str(lose["id"])
    assert got[1]["data"]["name"] == "Kim Keep" and got[1]["data"]["phones"][0]["value"] == "+1 555 0199"


def test_failed_delivery_is_retried_with_attempt_number(env, receiver):
    _register(env, "app-retry")
    api, _, _ = _install(env, "app-retry")
    _subscribe(api, receiver.url + "/hooks", "deal")
    receiver.statuses = [500, 503]
    api._post(api.BASE_URL.replace("/v1/", "/v2/") + "deals", json={"title": "Retry me"})
    got = receiver.wait_for(3)
    assert [r["json"]["meta"]["attempt"] for r in got] == [1, 2, 3]
    assert len({r["json"]["meta"]["id"] for r in got}) == 1  # the same event, re-sent


def test_uninstall_calls_back_and_invalidates(env, receiver):
    _register(env, "app-bye", uninstall_url=receiver.url + "/uninstall")
    api, tokens, account = _install(env, "app-bye")
    _subscribe(api, receiver.url + "/hooks")
    result = _simulate(env, account, {"action": "uninstall", "client_id": "app-bye"})
    assert result["callback_status"] == 200
    call = receiver.requests[0]
    assert call["method"] == "DELETE" and call["path"] == "/uninstall"
    assert call["headers"]["Authorization"] == "Basic " + base64.b64encode(b"app-bye:s3cret").decode()
    assert set(call["json"]) == {"client_id", "company_id", "user_id", "timestamp"}
    assert call["json"]["client_id"] == "app-bye"
    with pytest.raises(exceptions.UnauthorizedError):
        api.users.get_me()
    with pytest.raises(exceptions.BadRequestError):
        api.refresh_token(tokens["refresh_token"])
    hooks = requests.get(f"{env.url}/_sandbox/accounts/{account['account_id']}/webhooks", timeout=10).json()
    assert hooks["results"] == []


def test_deliveries_have_the_documented_v2_shape_field_for_field(env, receiver):
    """Against the format example and the meta table of https://pipedrive.readme.io/docs/guide-for-webhooks-v2
    (quoted in tests/adapters/test_pipedrive_webhook_examples.py): the same meta keys in the same order, of the same
    types; merged_to_id / merged_from_id only on a merge's delete / change; data and previous per action."""
    from tests.adapters.test_pipedrive_webhook_examples import GUIDE_V2_FORMAT, as_json

    documented = json.loads(as_json(GUIDE_V2_FORMAT, the_object_data_as_of_this_update="null",
                                    the_previous_data_of_the_object_fields_that_have_been_changed="null"))["meta"]
    _register(env, "app-shape")
    api, _, account = _install(env, "app-shape")
    _subscribe(api, receiver.url + "/hooks", "person")
    made = [_simulate(env, account, {"action": "create", "object_type": "persons", "properties": {"name": n}})
            for n in ("Kim Keep", "Kim K")]
    _simulate(env, account, {"action": "update", "object_type": "persons", "id": made[0]["id"],
                             "properties": {"name": "Kim Keeper"}})
    _simulate(env, account, {"action": "merge", "object_type": "persons", "id": made[1]["id"],
                             "merge_with_id": made[0]["id"]})
    got = [r["json"] for r in receiver.wait_for(5)]
    assert [(m["meta"]["action"], m["meta"]["entity_id"]) for m in got] == [
        ("create", str(made[0]["id"])), ("create", str(made[1]["id"])), ("change", str(made[0]["id"])),
        ("delete", str(made[1]["id"])), ("change", str(made[0]["id"]))]
    for delivery, merge_key in zip(got, (None, None, None, "merged_to_id", "merged_from_id"), strict=True):
        meta = delivery["meta"]
        assert list(meta) == list(documented) + ([merge_key] if merge_key else [])
        assert {k: type(v) for k, v in meta.items() if k in documented} == {k: type(v) for k, v in documented.items()}
        assert all(isinstance(u, str) for u in meta["permitted_user_ids"])
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", meta["timestamp"])
        assert (meta["version"], meta["type"], meta["host"].endswith(".pipedrive.com")) == ("2.0", "application", True)
        assert set(delivery) == {"meta", "data", "previous"}
    created, changed, deleted = got[0], got[2], got[3]
    assert created["previous"] is None and created["data"]["name"] == "Kim Keep"
    assert changed["previous"] == {"name": "Kim Keep", "last_name": "Keep"}  # only what changed
    assert changed["data"]["name"] == "Kim Keeper"
    assert deleted["data"] is None and deleted["previous"]["name"] == "Kim K"
    assert isinstance(deleted["meta"]["merged_to_id"], str) and isinstance(got[4]["meta"]["merged_from_id"], str)
