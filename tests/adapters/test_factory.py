"""What adapter_for hands the jobs once a process is wired (worker.py and app.py call adapters.factory.wire)."""
from __future__ import annotations

import pytest

from adapters.factory import build_adapter
from adapters.hubspot.adapter import HubSpotAdapter
from integration.crm.wiring import NotWired, adapter_for, set_adapter_factory
from integration.db import session_scope
from integration.models import Tenant
from integration.ratelimit import RedisRateBudget


def test_a_wired_process_gets_the_platforms_own_adapter_sharing_the_tenants_budget(app, env):
    with session_scope(env["DATABASE_URL"]) as s:
        tenant = Tenant(platform="hubspot", external_id="42", name="Portal 42", api_base="https://api.hubapi.com")
        s.add(tenant)
        s.flush()
        tenant_id = tenant.id
    adapter = adapter_for(tenant_id)  # create_app wired build_adapter
    assert type(adapter) is HubSpotAdapter  # no proxy in between: "go to definition" lands in the adapter
    assert isinstance(adapter.client.budget, RedisRateBudget) and adapter.client.budget.tenant_id == tenant_id


def test_setting_a_factory_hands_back_the_one_it_replaced(app):
    def elsewhere(tenant_id):
        raise AssertionError("not called")

    replaced = set_adapter_factory(elsewhere)
    try:
        assert replaced is build_adapter
    finally:
        assert set_adapter_factory(replaced) is elsewhere


def test_an_unwired_process_is_told_who_wires_it(wire_adapters):
    wire_adapters(None)
    with pytest.raises(NotWired, match=r"adapters\.factory\.wire\(\)"):
        adapter_for(1)
