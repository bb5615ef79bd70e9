"""The admin's browser opens the sandbox's consent page over plain HTTP when told to; the SDKs keep HTTPS."""
from __future__ import annotations

import pytest

from oauth.registry import PROVIDERS

SANDBOX_TLS, SANDBOX_HTTP = "https://127.0.0.1:8701", "http://127.0.0.1:8700"


@pytest.mark.parametrize("provider_class", PROVIDERS, ids=lambda p: p.NAME)
def test_the_authorize_page_is_on_the_browser_url_and_the_token_call_stays_on_https(provider_class, monkeypatch):
    monkeypatch.setenv("LEADRELAY_SANDBOX_URL", SANDBOX_TLS)
    monkeypatch.setenv("LEADRELAY_SANDBOX_BROWSER_URL", SANDBOX_HTTP + "/")
    provider = provider_class()
    url, _ = provider.authorization_url("http://127.0.0.1:8000/oauth/callback", state="s")
    assert url.startswith(f"{SANDBOX_HTTP}/") and "state=s" in url
    assert provider.url(provider.TOKEN_URL).startswith(f"{SANDBOX_TLS}/")


@pytest.mark.parametrize("provider_class", PROVIDERS, ids=lambda p: p.NAME)
def test_without_a_browser_url_the_sandbox_url_serves_both(provider_class, monkeypatch):
    monkeypatch.setenv("LEADRELAY_SANDBOX_URL", SANDBOX_TLS)
    monkeypatch.delenv("LEADRELAY_SANDBOX_BROWSER_URL", raising=False)
    url, _ = provider_class().authorization_url("http://127.0.0.1:8000/oauth/callback", state="s")
    assert url.startswith(f"{SANDBOX_TLS}/")


def test_the_browser_url_means_nothing_without_a_sandbox(monkeypatch):
    monkeypatch.delenv("LEADRELAY_SANDBOX_URL", raising=False)
    monkeypatch.setenv("LEADRELAY_SANDBOX_BROWSER_URL", SANDBOX_HTTP)
    provider = PROVIDERS[0]()
    url, _ = provider.authorization_url("https://app.example.com/oauth/callback", state="s")
    assert url.startswith(provider.AUTHORIZE_URL)
