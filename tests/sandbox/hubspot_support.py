"""Shared helpers for the HubSpot sandbox tests (no tests here).

Imported as `tests.sandbox.hubspot_support` (a plain module, not a test file: pytest collects nothing here).
"""
from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from urllib.parse import parse_qs, urlparse

import pytest
from hubspot import HubSpot
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from tests.sandbox.conftest import control, new_account


def register_app(server, target_url: str | None = None, subscriptions=None, **extra) -> dict:
    """Register a fresh public app through the control API; returns its settings."""
    app = {"platform": "hubspot", "client_id": "cid-" + secrets.token_hex(4), "client_secret": secrets.token_hex(16),
           "redirect_uris": ["https://leadrelay.test/oauth/hubspot/callback"], "target_url": target_url,
           "scopes": ["oauth", "crm.objects.contacts.read", "crm.objects.contacts.write"], **extra}
    if subscriptions is not None:
        app["subscriptions"] = subscriptions
    control(server).post(f"{server.url}/_sandbox/apps", json=app, timeout=10).raise_for_status()
    return app


def portal(server, seed: bool = False, **extra) -> dict:
    """A new HubSpot account (control-API token included)."""
    return new_account(server, "hubspot", **({"seed": "demo"} if seed else {}), **extra)


def sdk(server, token: str) -> HubSpot:
    """The official SDK pointed at the sandbox's plain HTTP listener."""
    return HubSpot(access_token=token, host=server.url)


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(40)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def authorize(server, app: dict, account_id: str, **params) -> dict[str, str]:
    """Run GET /oauth/authorize (auto-approve) and return the redirect's query parameters."""
    query = {"client_id": app["client_id"], "redirect_uri": app["redirect_uris"][0],
             "scope": " ".join(app["scopes"]), "state": "st-1", "account": account_id, **params}
    resp = control(server).get(f"{server.url}/oauth/authorize", params=query, allow_redirects=False, timeout=10)
    assert resp.status_code == 302, resp.text
    return {k: v[0] for k, v in parse_qs(urlparse(resp.headers["Location"]).query).items()}


def install_via_oauth(server, app: dict, account_id: str):
    """Authorize + exchange the code with the SDK; returns the SDK's token response.

    hubspot-api-client 12's tokens_api.create() has no code_verifier parameter, so PKCE is tested
    with a plain form POST elsewhere.
    """
    code = authorize(server, app, account_id)["code"]
    return sdk(server, "unused").oauth.tokens_api.create(
        grant_type="authorization_code", code=code, redirect_uri=app["redirect_uris"][0],
        client_id=app["client_id"], client_secret=app["client_secret"])


class Receiver:
    """A tiny webhook receiver on 127.0.0.1:0 collecting every request."""

    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.requests: list[dict] = []
        self._lock = threading.Lock()
        self._server = make_server("127.0.0.1", 0, self._app, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}/hooks/hubspot?src=sandbox"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def _app(self, environ, start_response):
        req = Request(environ)
        with self._lock:
            self.requests.append({"method": req.method, "url": req.url, "headers": dict(req.headers),
                                  "body": req.get_data(as_text=True)})
        return Response("ok", status=self.status)(environ, start_response)

    def events(self) -> list[dict]:
        with self._lock:
            return [ev for r in self.requests for ev in json.loads(r["body"])]

    def wait(self, predicate, timeout: float = 8.0) -> bool:
        deadline = time.time() + timeout
        while time.time() < deadline:
            if predicate(self):
                return True
            time.sleep(0.02)
        return False

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture()
def receiver():
    with Receiver() as rcv:
        yield rcv
