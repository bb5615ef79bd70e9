"""HubSpotAdapter.list_sequences against the sandbox's GET /automation/v4/sequences/ (its scope, its paging)."""
from __future__ import annotations

import pytest

from adapters.hubspot.adapter import HubSpotAdapter
from adapters.hubspot.errors import MissingScopes
from tests.adapters.conftest import StaticTokens, tenant_for
from tests.adapters.test_hubspot_adapter import HTTP, Portal


def test_every_page_of_the_portals_sequences_is_read_by_name(adapter_sandbox):
    many = {str(3000 + n): {"name": f"Seq {n:03d}", "subject": "s", "body": "b"} for n in range(130)}
    portal = Portal(adapter_sandbox, sequences={**many, "42": {"name": "alpha first", "subject": "s", "body": "b"}})
    portal.reset_calls()
    found = portal.adapter().list_sequences()
    assert len(found) == 131 and found[0] == ("42", "alpha first") and found[-1] == ("3129", "Seq 129")
    pages = [c["path"] for c in portal.calls() if c["path"].startswith("/automation/v4/sequences/")]
    assert any("after=100" in p for p in pages) and all("userId=" in p for p in pages)


def test_the_list_needs_a_user_and_the_read_scope(adapter_sandbox, monkeypatch):
    from tests.adapters.test_hubspot_outreach import _app_portal
    p, adapter = _app_portal(adapter_sandbox, monkeypatch)  # granted contacts read/write only
    with pytest.raises(MissingScopes, match="MISSING_SCOPES"):
        adapter.list_sequences()
    token = p.account["access_token"]
    resp = HTTP.get(f"{adapter_sandbox.url}/automation/v4/sequences/", headers={"Authorization": f"Bearer {token}"},
                    timeout=10)
    assert resp.status_code == 400 and "userId" in resp.json()["message"]


def test_an_unknown_user_is_a_404(adapter_sandbox):
    portal = Portal(adapter_sandbox)
    resp = HTTP.get(f"{adapter_sandbox.url}/automation/v4/sequences/", params={"userId": "1"},
                    headers={"Authorization": f"Bearer {portal.account['access_token']}"}, timeout=10)
    assert resp.status_code == 404


def test_a_portal_with_no_sequences_lists_none(adapter_sandbox):
    portal = Portal(adapter_sandbox, sequences={})
    assert HubSpotAdapter(tenant_for(portal.account, "hubspot"), StaticTokens(portal.account["access_token"])) \
        .list_sequences() == []
