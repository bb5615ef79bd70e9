"""Finding 14b: behind a TLS-terminating proxy with LEADRELAY_PUBLIC_URL unset, the session cookie lacked
`Secure`. X-Forwarded-Proto is believed only from the proxies LEADRELAY_TRUSTED_PROXIES declares; an https
request, direct or through such a proxy, gets a Secure cookie, and plain-http local use keeps working."""
from __future__ import annotations

import pytest

PROXIED_HTTPS = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "198.51.100.4"}


@pytest.fixture()
def make_client(env, monkeypatch):
    def make(trusted_proxies: int):
        from app import create_app

        monkeypatch.delenv("LEADRELAY_PUBLIC_URL", raising=False)
        monkeypatch.setenv("LEADRELAY_TRUSTED_PROXIES", str(trusted_proxies))
        monkeypatch.setenv("HUBSPOT_CLIENT_ID", "hs-client")
        monkeypatch.setenv("HUBSPOT_CLIENT_SECRET", "hs-secret-0123456789")
        return create_app({"TESTING": True}).test_client()
    return make


def session_cookie(resp) -> str:
    """The Set-Cookie of the session (signing in starts by storing the OAuth state in it)."""
    [cookie] = [c for c in resp.headers.getlist("Set-Cookie") if c.startswith("session=")]
    return cookie


def test_x_forwarded_proto_from_an_undeclared_proxy_is_ignored(make_client):
    client = make_client(trusted_proxies=0)
    resp = client.get("/login/hubspot", headers=PROXIED_HTTPS)
    assert "Secure" not in session_cookie(resp)
    assert "redirect_uri=http%3A%2F%2Flocalhost" in resp.headers["Location"]  # the header changed nothing


def test_https_through_a_trusted_proxy_gets_a_secure_cookie(make_client):
    client = make_client(trusted_proxies=1)
    resp = client.get("/login/hubspot", headers=PROXIED_HTTPS)
    assert "; Secure" in session_cookie(resp)
    assert "redirect_uri=https%3A%2F%2Flocalhost" in resp.headers["Location"]


def test_a_trusted_proxy_saying_http_gets_no_secure_cookie(make_client):
    client = make_client(trusted_proxies=1)
    resp = client.get("/login/hubspot", headers={"X-Forwarded-Proto": "http", "X-Forwarded-For": "198.51.100.4"})
    assert "Secure" not in session_cookie(resp)


def test_plain_http_local_use_keeps_a_working_cookie(make_client):
    client = make_client(trusted_proxies=0)
    resp = client.get("/login/hubspot")
    assert "Secure" not in session_cookie(resp) and "HttpOnly" in session_cookie(resp)
    assert client.get_cookie("session") is not None  # sent back on the next plain-http request


def test_direct_https_gets_a_secure_cookie_without_any_proxy(make_client):
    client = make_client(trusted_proxies=0)
    assert "; Secure" in session_cookie(client.get("/login/hubspot", base_url="https://localhost"))
