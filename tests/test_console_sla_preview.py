"""Issue 13, defect 5: the rules page previews, for each SLA tier, when a lead arriving now is due, for each owner in
the owner's time zone (business-hours durations as README "Business-hours durations" counts them)."""
from __future__ import annotations

import datetime as dt
import re
from html import unescape

import pytest

from integration.db import session_scope
from integration.models import RuleSetVersion, Tenant
from tests.console_helpers import add_members, sign_in
from tests.fakes import FakeCRMAdapter

SATURDAY = dt.datetime(2026, 7, 4, 9, 0, tzinfo=dt.UTC)  # 11:00 in Stockholm, 18:00 in Tokyo
RULES = {
    "version": 1, "timezone": "Europe/Stockholm",
    "owners": [{"email": "casey@acme.test", "timezone": "Europe/Stockholm", "country": "SE"},
               {"email": "drew@acme.test", "timezone": "Asia/Tokyo", "hours": "Mon-Fri 09:00-18:00", "country": "JP"},
               {"email": "gone@acme.test", "active": False}],
    "routing": [{"name": "Everyone", "when": {"has_email": True}, "assign": {"owner": "casey@acme.test"}}],
    "sla": {"hot": {"first_touch": "5m"},
            "warm": {"first_touch": "4h", "business_hours": True},
            "nurture": {"first_touch": "2d", "business_hours": True}},
}
EXPECTED = {  # tier → (policy words, due for casey, due for drew)
    "hot": ("first touch within 5 minutes, on the clock, nights and weekends too",
            "Sat 4 Jul 2026, 11:05 (Europe/Stockholm)", "Sat 4 Jul 2026, 18:05 (Asia/Tokyo)"),
    "warm": ("first touch within 4 working hours, counted in the owner's working hours",
             "Mon 6 Jul 2026, 13:00 (Europe/Stockholm)", "Mon 6 Jul 2026, 13:00 (Asia/Tokyo)"),
    "nurture": ("first touch within 2 working days, counted in the owner's working hours",
                "Tue 7 Jul 2026, 17:00 (Europe/Stockholm)", "Tue 7 Jul 2026, 18:00 (Asia/Tokyo)"),
}


@pytest.fixture()
def world(app, env, monkeypatch, wire_adapters):
    monkeypatch.setattr("marketplace.console_rules.preview_now", lambda: SATURDAY)
    app.config["WTF_CSRF_ENABLED"] = False
    wire_adapters(lambda tenant_id: FakeCRMAdapter())
    with session_scope(env["DATABASE_URL"]) as s:
        tenant = Tenant(platform="hubspot", external_id="88", name="Tenant T")
        s.add(tenant)
        s.flush()
        s.add(RuleSetVersion(tenant_id=tenant.id, version=1, status="published", body=RULES, created_by="seed"))
        ids = {"T": tenant.id, **add_members(s, tenant.id, {"alice": "admin", "victor": "viewer"})}
    return ids


def preview_rows(html: str) -> dict[str, list[str]]:
    """Each tier's row of the SLA preview as its cells' text."""
    card = html.split("data-sla-preview", 1)[1].split("</table>", 1)[0]
    rows = re.findall(r'<tr data-tier="(\w+)">(.*?)</tr>', card, re.S)
    return {tier: [unescape(re.sub(r"<[^>]+>", "", c)).strip() for c in re.findall(r"<td>(.*?)</td>", body, re.S)]
            for tier, body in rows}


@pytest.mark.parametrize("who", ["alice", "victor"])
def test_each_tier_shows_when_a_lead_arriving_now_is_due_for_each_owner_in_their_zone(app, world, who):
    html = sign_in(app, world[who]).get(f"/console/tenants/{world['T']}/rules").get_data(as_text=True)
    assert "When a lead arriving now, Sat 4 Jul 2026, 11:00 (Europe/Stockholm), would be due" in unescape(html)
    header = unescape(html.split("data-sla-preview", 1)[1].split("</tr>", 1)[0])
    assert "casey@acme.test" in header and "drew@acme.test" in header and "gone@acme.test" not in header
    rows = preview_rows(html)
    assert list(rows) == ["hot", "warm", "nurture"]
    for tier, (policy, casey, drew) in EXPECTED.items():
        assert rows[tier] == [f"{tier} ({policy}): a lead arriving now is due", casey, drew]


def test_the_preview_follows_the_version_opened_in_the_editor(app, env, world):
    draft = {**RULES, "sla": {"nurture": {"first_touch": "1d", "business_hours": True}}}
    with session_scope(env["DATABASE_URL"]) as s:
        s.add(RuleSetVersion(tenant_id=world["T"], version=2, status="draft", body=draft, created_by="alice"))
    html = sign_in(app, world["alice"]).get(f"/console/tenants/{world['T']}/rules?edit=2").get_data(as_text=True)
    assert preview_rows(html) == {"nurture": [
        "nurture (first touch within 1 working day, counted in the owner's working hours): a lead arriving now is due",
        "Mon 6 Jul 2026, 17:00 (Europe/Stockholm)", "Mon 6 Jul 2026, 18:00 (Asia/Tokyo)"]}


def test_no_preview_without_an_sla_or_for_a_refused_draft(app, env, world):
    with session_scope(env["DATABASE_URL"]) as s:
        no_sla = {k: v for k, v in RULES.items() if k != "sla"}
        s.add(RuleSetVersion(tenant_id=world["T"], version=2, status="draft", body=no_sla, created_by="alice"))
    client = sign_in(app, world["alice"])
    assert "data-sla-preview" not in client.get(f"/console/tenants/{world['T']}/rules?edit=2").get_data(as_text=True)
    bad = "version: 1\nsla: {hot: {first_touch: 5}}"
    refused = client.post(f"/console/tenants/{world['T']}/rules", data={"body": bad})
    html = refused.get_data(as_text=True)
    assert refused.status_code == 400 and "sla.hot.first_touch" in html and "data-sla-preview" not in html
