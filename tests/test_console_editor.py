"""Issue 8 gaps: the rules editor's quick-edit forms, backfill / rollout progress, and the follow-up KPIs."""
from __future__ import annotations

import csv
import datetime as dt
import io
import re

import pytest

from integration.db import session_scope
from integration.models import Decision, EventRecord, ReviewItem, RuleSetVersion, Tenant
from marketplace.agency_templates import rollout_progress
from tests.console_helpers import add_members, sign_in
from tests.fakes import FakeCRMAdapter

RULES = {"version": 1, "owners": [{"email": "a@acme.com"}, {"email": "b@acme.com"}],
         "pools": {"team": {"strategy": "weighted", "members": [{"owner": "a@acme.com"}]}},
         "routing": [{"name": "Everyone", "when": {"has_email": True}, "assign": {"pool": "team"}}],
         "fallback": {"review": True}}


@pytest.fixture()
def world(app, env, wire_adapters):
    """Tenant T with a live rule set (v1), an admin (alice) and a viewer (victor)."""
    app.config["WTF_CSRF_ENABLED"] = False
    wire_adapters(lambda tenant_id: FakeCRMAdapter())
    ids = {}
    with session_scope(env["DATABASE_URL"]) as s:
        tenant = Tenant(platform="hubspot", external_id="88", name="Tenant T")
        s.add(tenant)
        s.flush()
        ids["T"] = tenant.id
        s.add(RuleSetVersion(tenant_id=tenant.id, version=1, status="published", body=RULES, created_by="seed"))
        ids.update(add_members(s, tenant.id, {"alice": "admin", "victor": "viewer"}))
    return ids


def login(app, world, name: str):
    return sign_in(app, world[name], name)


def versions(env, tenant_id: int) -> dict[int, tuple[str, dict]]:
    with session_scope(env["DATABASE_URL"]) as s:
        return {v.version: (v.status, v.body) for v in s.scalars(RuleSetVersion.for_tenant(tenant_id))}


def post(app, world, helper: str, data: dict, who: str = "alice"):
    return login(app, world, who).post(f"/console/tenants/{world['T']}/rules/helpers/{helper}", data=data)


# Quick edits --------------------------------------------------------------------------------------------

def test_hours_and_out_of_office_are_saved_as_a_new_draft_of_the_live_version(app, env, world):
    resp = post(app, world, "hours", {"owner": "A@acme.com", "hours": "Mon-Fri 08:00-16:00",
                                      "ooo_start": "2026-12-24", "ooo_end": "2026-12-31"})
    assert resp.status_code == 303 and "edit=2" in resp.headers["Location"]
    saved = versions(env, world["T"])
    assert saved[1] == ("published", RULES)  # the live version is untouched
    status, body = saved[2]
    assert status == "draft"
    assert body["owners"][0] == {"email": "a@acme.com", "hours": "Mon-Fri 08:00-16:00",
                                 "out_of_office": ["2026-12-24..2026-12-31"]}
    assert body["owners"][1] == {"email": "b@acme.com"} and body["routing"] == RULES["routing"]


def test_pool_edits_accumulate_in_one_working_draft(app, env, world):
    assert post(app, world, "pool", {"pool": "team", "owner": "b@acme.com", "weight": "2"}).status_code == 303
    assert post(app, world, "pool", {"pool": "team", "owner": "a@acme.com", "weight": "3"}).status_code == 303
    assert versions(env, world["T"])[2][1]["pools"]["team"]["members"] == [
        {"owner": "a@acme.com", "weight": 3}, {"owner": "b@acme.com", "weight": 2}]
    assert post(app, world, "pool", {"pool": "team", "owner": "a@acme.com", "action": "remove"}).status_code == 303
    saved = versions(env, world["T"])
    assert saved[2][1]["pools"]["team"]["members"] == [{"owner": "b@acme.com", "weight": 2}]
    assert [saved[v][0] for v in sorted(saved)] == ["published", "draft"]  # three edits, one draft


def test_a_territory_rule_is_added_first_or_last(app, env, world):
    form = {"name": "West", "country": "us", "state": "ca, or", "postcode": "940-951\n954", "target": "pool",
            "target_name": "team", "position": "first"}
    assert post(app, world, "territory", form).status_code == 303
    routing = versions(env, world["T"])[2][1]["routing"]
    assert routing[0] == {"name": "West", "when": {"country": ["US"], "state": ["CA", "OR"],
                                                   "postcode": ["940-951", "954"]}, "assign": {"pool": "team"}}
    form = {"name": "Canada", "country": "CA", "target": "owner", "target_name": "B@acme.com"}
    assert post(app, world, "territory", form).status_code == 303
    routing = versions(env, world["T"])[2][1]["routing"]  # the same working draft
    assert [r["name"] for r in routing] == ["West", "Everyone", "Canada"]
    assert routing[-1]["assign"] == {"owner": "b@acme.com"}


def test_an_invalid_edit_is_refused_with_its_path_and_line_and_nothing_is_saved(app, env, world):
    resp = post(app, world, "hours", {"owner": "b@acme.com", "hours": "whenever"})
    page = resp.get_data(as_text=True)
    assert resp.status_code == 400 and "The rule set was not saved" in page
    assert "owners[1].hours" in page and re.search(r'<li data-line="\d+"><code>line \d+: owners\[1\]\.hours', page)
    assert 'class="bad"' in page and "whenever" in page  # the edited text is shown with the line marked
    territory = post(app, world, "territory", {"name": "Mars", "country": "US", "target": "pool",
                                               "target_name": "nobody"})
    assert territory.status_code == 400 and "nobody" in territory.get_data(as_text=True)
    unknown = post(app, world, "pool", {"pool": "team", "owner": "zed@acme.com", "action": "remove"})
    assert unknown.status_code == 400 and "zed@acme.com is not a member" in unknown.get_data(as_text=True)
    assert list(versions(env, world["T"])) == [1]


def test_a_viewer_cannot_use_the_helpers_or_see_them(app, env, world):
    for helper, data in (("hours", {"owner": "a@acme.com", "hours": "Mon-Fri 09:00-17:00"}),
                         ("pool", {"pool": "team", "owner": "b@acme.com"}),
                         ("territory", {"name": "X", "country": "US", "target": "pool", "target_name": "team"})):
        assert post(app, world, helper, data, who="victor").status_code == 403
    assert list(versions(env, world["T"])) == [1]
    assert "data-helpers" not in login(app, world, "victor").get(f"/console/tenants/{world['T']}/rules").text
    admin_page = login(app, world, "alice").get(f"/console/tenants/{world['T']}/rules").text
    assert 'data-helper="territory"' in admin_page and '<option value="a@acme.com">' in admin_page
    assert '<option value="team">' in admin_page


# Progress ----------------------------------------------------------------------------------------------

def set_backfill(env, tenant_id: int, state: dict) -> None:
    with session_scope(env["DATABASE_URL"]) as s:
        s.get(Tenant, tenant_id).settings = {"backfill": state}


def test_backfill_progress_on_health_and_onboarding(app, env, world):
    client, t = login(app, world, "victor"), world["T"]
    assert "not started" in client.get(f"/console/tenants/{t}/health").text
    set_backfill(env, t, {"indexed": 300, "unowned": 12, "updated_at": "2026-01-02T03:04:05+00:00"})
    for page in (client.get(f"/console/tenants/{t}/health").text, client.get(f"/console/tenants/{t}/onboarding").text):
        assert 'data-backfill="running"' in page and "<strong data-backfill-indexed>300</strong>" in page
        assert 'role="progressbar"' in page and "12 without an owner" in page
    set_backfill(env, t, {"indexed": 1250, "unowned": 40, "finished_at": "2026-01-02T04:00:00+00:00"})
    page = client.get(f"/console/tenants/{t}/health").text
    assert 'data-backfill="finished"' in page and 'aria-valuenow="100"' in page
    assert "1250</strong>" in page and "finished 2026-01-02 04:00 UTC" in page


def test_rollout_progress_counts_finished_simulations_and_live_portals():
    class Version:
        def __init__(self, status):
            self.status = status

    rows = [{"progress": {"state": "done"}, "version": Version("published")},
            {"progress": {"state": "running"}, "version": Version("draft")},
            {"progress": None, "version": None}, {"progress": {"state": "failed"}, "version": Version("draft")}]
    assert rollout_progress(rows) == {"finished": 2, "live": 1, "total": 4, "percent": 50}
    assert rollout_progress([])["percent"] == 0


# KPIs --------------------------------------------------------------------------------------------------

@pytest.fixture()
def follow_up_data(env, world):
    t, now = world["T"], dt.datetime.now(dt.UTC)
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)

    def decision(key, kind, object_id, outcome, at):
        return Decision(tenant_id=t, idempotency_key=key, kind=kind, object_type="contact", object_id=object_id,
                        outcome=outcome, reason="r", inputs={}, created_at=at)

    def event(key, status, at):
        return EventRecord(tenant_id=t, dedup_key=key, platform="hubspot", object_type="contact", object_id=key,
                           kind="created", source="", occurred_at=at, received_at=at, status=status)

    rows = [decision("s1", "sla", "1", "notify_manager", day + dt.timedelta(hours=1)),
            decision("s2", "sla", "2", "notify_manager", day - dt.timedelta(days=1)),
            decision("s3", "sla", "3", "reassigned", day + dt.timedelta(hours=2)),
            decision("s4", "sla", "4", "met", day + dt.timedelta(hours=2)),  # not an escalation
            decision("r1", "route", "1", "a@acme.com", now - dt.timedelta(days=2)),
            decision("r2", "route", "2", "b@acme.com", now - dt.timedelta(days=10)),
            decision("r3", "route", "3", "a@acme.com", now - dt.timedelta(days=20)),
            decision("r4", "route", "4", "a@acme.com", now - dt.timedelta(days=200)),
            decision("r5", "route", "5", "review", now - dt.timedelta(days=200)),  # not owned: not aging
            decision("l3", "lifecycle", "3", "opportunity", now - dt.timedelta(days=5)),
            decision("x4", "reactivation", "4", "reactivation_task", now - dt.timedelta(days=1)),
            event("e1", "failed", day + dt.timedelta(hours=3)), event("e2", "processed", day),
            ReviewItem(tenant_id=t, kind="crm_error", object_type="contact", object_id="9", reason="HTTP 500",
                       created_at=day + dt.timedelta(hours=4)),
            ReviewItem(tenant_id=t, kind="dedup", object_type="contact", object_id="8", reason="dup",
                       created_at=day)]
    with session_scope(env["DATABASE_URL"]) as s:
        s.add_all(rows)
    return t, day.date()


def test_kpis_show_escalations_sync_failures_and_stage_aging(app, world, follow_up_data):
    t, today = follow_up_data
    page = login(app, world, "victor").get(f"/console/tenants/{t}/kpis").text

    def figure(name: str) -> str:
        return re.search(rf'data-kpi="{name}">.*?<strong>(.*?)</strong>', page).group(1)

    assert figure("escalations") == "3" and "2 to a manager, 1 reassigned" in page
    assert figure("sync-failures") == "2" and "1 event failed, 1 CRM error to review" in page
    cells = page.replace(' class="num"', "")  # the figures' cells are right-aligned
    aging = dict(re.findall(r'data-age="([^"]+)"><td>[^<]+</td><td>(\d+</td><td>\d+)', cells))
    assert aging == {"0-7 days": "1</td><td>0", "8-14 days": "1</td><td>0", "15-30 days": "1</td><td>1",
                     "31-90 days": "0</td><td>0", "over 90 days": "1</td><td>1"}
    assert "<title>Escalations per day</title>" in page and "<title>Sync failures per day</title>" in page
    only_a = login(app, world, "victor").get(f"/console/tenants/{t}/kpis?owner=a@acme.com").text
    assert 'data-age="8-14 days"><td>8-14 days</td><td class="num">0<' in only_a


def test_kpi_csv_has_the_follow_up_figures(app, world, follow_up_data):
    t, today = follow_up_data
    resp = login(app, world, "victor").get(f"/console/tenants/{t}/kpis.csv?start={today}&end={today}")
    rows = {(r["section"], r["key"]): r["value"] for r in csv.DictReader(io.StringIO(resp.text))}
    assert rows[("summary", "escalations")] == "2"  # the one from yesterday is outside the range
    assert rows[("escalations", "notify_manager")] == "1" and rows[("escalations", "reassigned")] == "1"
    assert rows[("summary", "failed_events")] == "1" and rows[("summary", "crm_errors")] == "1"
    assert rows[("summary", "sync_failures")] == "2"
    assert rows[("escalations_per_day", today.isoformat())] == "2"
    assert rows[("sync_failures_per_day", today.isoformat())] == "2"
    assert rows[("stage_aging_leads", "over 90 days")] == "1"
    assert rows[("stage_aging_with_stage_activity", "15-30 days")] == "1"
