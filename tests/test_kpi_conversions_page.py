"""Issue 20: the KPI page shows the conversion figures, the tables by source and by routing path with owners by
name, each figure's definition, and an empty state that says what to do."""
from __future__ import annotations

import datetime as dt
import re

import pytest

from integration.db import session_scope
from integration.models import Decision, LeadConversion, Tenant, TenantStatus
from integration.records import CRMUser
from tests.console_helpers import add_members, sign_in
from tests.fakes import FakeCRMAdapter

T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


@pytest.fixture()
def page(app, env, wire_adapters):
    fake = FakeCRMAdapter()
    fake.users = [CRMUser(id="u1", email="ana@acme.test", name="Ana Lima")]
    wire_adapters(lambda tenant_id: fake)
    with session_scope(env["DATABASE_URL"]) as s:
        tenant = Tenant(platform="hubspot", external_id="k1", name="One", status=TenantStatus.ACTIVE)
        other = Tenant(platform="hubspot", external_id="k2", name="Two", status=TenantStatus.ACTIVE)
        s.add_all([tenant, other])
        s.flush()
        users = add_members(s, tenant.id, {"alice": "admin"})
        for n, (outcome, source) in enumerate([("ana@acme.test", "Web form"), ("ana@acme.test", "Web form"),
                                               ("review", "")]):
            s.add(Decision(tenant_id=tenant.id, idempotency_key=f"route:contact:c{n}", kind="route",
                           object_type="contact", object_id=f"c{n}", outcome=outcome,
                           reason="Rule 'West' → pool west → ana@acme.test" if n < 2 else "Country missing",
                           inputs={"rule": "West" if n < 2 else "", "lead": {"source": source}}, created_at=T0))
        s.add(LeadConversion(tenant_id=tenant.id, object_type="contact", object_id="c0", kind="deal", at=T0))
        s.add(Decision(tenant_id=other.id, idempotency_key="route:contact:z", kind="route", object_type="contact",
                       object_id="z", outcome="zed@other.test", reason="r", inputs={"lead": {"source": "Secret fair"}},
                       created_at=T0))
        tenant_id = tenant.id
    return tenant_id, sign_in(app, users["alice"])


def _row(text: str, attr: str, value: str) -> str:
    found = re.search(rf'<tr {attr}="{re.escape(value)}">(.*?)</tr>', text, re.S)
    assert found, f"no row {attr}={value}"
    return re.sub(r"<[^>]+>", " ", found.group(1))


def test_the_page_shows_conversions_by_source_and_path(page):
    tenant_id, client = page
    response = client.get(f"/console/tenants/{tenant_id}/kpis?start=2026-03-01&end=2026-03-07")
    text = response.get_data(as_text=True)
    assert response.status_code == 200
    assert re.search(r'data-kpi="deal"[^>]*>Lead → deal<strong>33\.3 %', text)
    assert re.search(r'data-kpi="clear-owner"[^>]*>Clear owner<strong>66\.7 %', text)
    web = _row(text, "data-source", "Web form").split()
    assert web[2:6] == ["2", "0.0", "%", "50.0"]
    west = _row(text, "data-path", "West|west")
    assert "Ana Lima" in west and "ana@acme.test" not in west  # the owner by name
    assert "(no source)" in text and "Secret fair" not in text and "zed@other.test" not in text
    assert "Leads of the range that are a contact of a deal created since they arrived." in text  # its help


def test_an_empty_range_says_what_to_do(page):
    tenant_id, client = page
    text = client.get(f"/console/tenants/{tenant_id}/kpis?start=2025-01-01&end=2025-01-07").get_data(as_text=True)
    assert "data-kpi-conversions-empty" in text and "Widen the dates above" in text
    assert "data-kpi-by-source" not in text
