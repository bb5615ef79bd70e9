"""Console pages of issue 8: review queue, audit log, KPI dashboard and CSV, install health (app test client)."""
from __future__ import annotations

import csv
import datetime as dt
import io
import re

import pytest
from redis import Redis
from sqlalchemy import event, insert

from integration.db import get_engine, session_scope
from integration.models import (
    Credential,
    Decision,
    EventRecord,
    MergeSnapshot,
    ReviewItem,
    SweepCursor,
    Tenant,
)
from integration.records import CRMUser
from tests.console_helpers import add_members, sign_in
from tests.fakes import FakeCRMAdapter

DAY1 = dt.datetime(2024, 3, 1, 9, 0, tzinfo=dt.UTC)


@pytest.fixture()
def world(app, env, wire_adapters):
    """Tenant T (HubSpot) with an admin (alice) and a viewer (victor); the adapter is a FakeCRMAdapter."""
    app.config["WTF_CSRF_ENABLED"] = False
    fake = FakeCRMAdapter()
    wire_adapters(lambda tenant_id: fake)
    ids = {"fake": fake}
    with session_scope(env["DATABASE_URL"]) as s:
        tenant = Tenant(platform="hubspot", external_id="77", name="Tenant T")
        s.add(tenant)
        s.flush()
        ids["T"] = tenant.id
        ids.update(add_members(s, tenant.id, {"alice": "admin", "victor": "viewer"}))
    return ids


def login(app, world, name: str):
    return sign_in(app, world[name], name)


def add(env, *rows):
    with session_scope(env["DATABASE_URL"]) as s:
        s.add_all(rows)
        s.flush()
        return [r.id for r in rows]


def dedup_pair(world, env) -> int:
    fake = world["fake"]
    fake.put("contact", "o1", updated_at=DAY1, email="ann@acme.com", first_name="Ann", phone="+14155550100")
    fake.put("contact", "n1", updated_at=DAY1 + dt.timedelta(days=3), email="ann@acme.com", first_name="Anne")
    [item_id] = add(env, ReviewItem(tenant_id=world["T"], kind="dedup", object_type="contact", object_id="n1",
                                    other_object_id="o1", reason="Possible duplicate of o1 (score 0.81)",
                                    payload={"score": 0.81, "reasons": ["same email", "similar first name"]}))
    return item_id


# Review queue ---------------------------------------------------------------------------------------------

def test_review_shows_both_records_with_the_differing_fields_and_merges_them(app, env, world):
    item_id = dedup_pair(world, env)
    alice = login(app, world, "alice")
    page = alice.get(f"/console/tenants/{world['T']}/review").get_data(as_text=True)
    assert "0.81" in page and "same email; similar first name" in page
    assert re.search(r'class="differs" data-field="First name">\s*<th scope="row">First name</th>'
                     r'<td class="value"[^>]*>Anne</td><td class="value"[^>]*>Ann</td>', page)
    assert re.search(r'class="same" data-field="Email">\s*<th scope="row">Email</th>'
                     r'<td class="value"[^>]*>ann@acme.com</td><td class="value"[^>]*>ann@acme.com</td>', page)
    assert alice.post(f"/console/tenants/{world['T']}/review/merge", data={"item_id": item_id}).status_code == 303
    fake = world["fake"]
    assert fake.calls["merge"] == 1 and ("contact", "n1") not in fake.records  # the older record survives
    with session_scope(env["DATABASE_URL"]) as s:
        item = s.get(ReviewItem, item_id)
        assert (item.status, item.resolution, item.resolved_by) == ("resolved", "merged into o1", "alice@example.com")
        assert item.resolved_at is not None
        snap = s.scalar(MergeSnapshot.for_tenant(world["T"]))
        assert (snap.status, snap.survivor_id, snap.loser_id) == ("merged", "o1", "n1")
        assert snap.loser_before["first_name"] == "Anne" and snap.survivor_before["phone"] == "+14155550100"
        audit = s.scalar(Decision.for_tenant(world["T"]))  # on the record that lives on, naming the merged one
        assert (audit.kind, audit.object_id, audit.outcome) == ("review", "o1", "merged into o1")
        assert audit.inputs["merged_from"] == "n1"
        assert audit.inputs["snapshot_id"] == snap.id and audit.inputs["by"] == "alice@example.com"
    # a second click changes nothing
    alice.post(f"/console/tenants/{world['T']}/review/merge", data={"item_id": item_id})
    assert fake.calls["merge"] == 1


def test_not_a_duplicate_resolves_the_item_and_touches_no_record(app, env, world):
    item_id = dedup_pair(world, env)
    alice = login(app, world, "alice")
    assert alice.post(f"/console/tenants/{world['T']}/review/dismiss", data={"item_id": item_id}).status_code == 303
    assert world["fake"].calls["merge"] == 0 and ("contact", "n1") in world["fake"].records
    with session_scope(env["DATABASE_URL"]) as s:
        item = s.get(ReviewItem, item_id)
        assert (item.status, item.resolution, item.resolved_by) == ("resolved", "not a duplicate", "alice@example.com")
        audit = s.scalar(Decision.for_tenant(world["T"]))
        assert (audit.kind, audit.outcome, audit.inputs["other_id"]) == ("review", "not a duplicate", "o1")
    assert "Nothing to review" in alice.get(f"/console/tenants/{world['T']}/review").get_data(as_text=True)


def test_a_lead_without_an_owner_is_assigned_by_hand_to_an_active_user(app, env, world):
    fake = world["fake"]
    fake.users = [CRMUser(id="u1", email="rep@acme.com", name="Rep"),
                  CRMUser(id="u2", email="gone@acme.com", name="Gone", active=False)]
    fake.put("contact", "n2", email="bob@example.org")
    [item_id] = add(env, ReviewItem(tenant_id=world["T"], kind="routing", object_type="contact", object_id="n2",
                                    reason="No rule matched and no fallback"))
    alice = login(app, world, "alice")
    page = alice.get(f"/console/tenants/{world['T']}/review").get_data(as_text=True)
    assert "rep@acme.com" in page and "gone@acme.com" not in page
    url = f"/console/tenants/{world['T']}/review/assign"
    assert "Pick an active CRM user" in alice.post(url, data={"item_id": item_id, "owner_id": "u2"},
                                                   follow_redirects=True).get_data(as_text=True)
    assert fake.records[("contact", "n2")].owner_id is None
    alice.post(url, data={"item_id": item_id, "owner_id": "u1"})
    assert fake.records[("contact", "n2")].owner_id == "u1"
    with session_scope(env["DATABASE_URL"]) as s:
        item = s.get(ReviewItem, item_id)
        assert (item.status, item.resolution) == ("resolved", "assigned to rep@acme.com")
        audit = s.scalar(Decision.for_tenant(world["T"]))
        assert (audit.outcome, audit.inputs["owner_id"], audit.inputs["rule"]) == ("rep@acme.com", "u1", "manual")


def test_an_automatic_merge_is_listed_and_undone(app, env, world):
    fake = world["fake"]
    fake.put("contact", "s1", email="kim@acme.com", first_name="Kim", phone="+14155550111")
    [snap_id] = add(env, MergeSnapshot(
        tenant_id=world["T"], object_type="contact", survivor_id="s1", loser_id="l1", score=0.97, status="merged",
        survivor_before={"id": "s1", "email": "kim@acme.com", "first_name": "Kim"},
        loser_before={"id": "l1", "email": "kim.l@acme.com", "first_name": "Kim", "phone": "+14155550111"},
        merged_fields={"phone": "+14155550111"}))
    alice = login(app, world, "alice")
    page = alice.get(f"/console/tenants/{world['T']}/review").get_data(as_text=True)
    assert f'data-snapshot="{snap_id}"' in page and "Undo" in page
    alice.post(f"/console/tenants/{world['T']}/review/undo", data={"snapshot_id": snap_id})
    with session_scope(env["DATABASE_URL"]) as s:
        snap = s.get(MergeSnapshot, snap_id)
        assert snap.status == "undone" and snap.restored_id
        restored = fake.records[("contact", snap.restored_id)]
    assert restored.fields["email"] == "kim.l@acme.com"
    assert "phone" not in fake.records[("contact", "s1")].fields  # back to what the survivor had


def test_a_viewer_sees_the_queue_without_action_buttons(app, env, world):
    dedup_pair(world, env)
    page = login(app, world, "victor").get(f"/console/tenants/{world['T']}/review").get_data(as_text=True)
    assert "ann@acme.com" in page and "Not a duplicate" not in page and ">Merge<" not in page


# Audit log ------------------------------------------------------------------------------------------------

def decision(tenant_id: int, n: int, **over) -> Decision:
    values = dict(tenant_id=tenant_id, idempotency_key=f"route:contact:{n}", kind="route", object_type="contact",
                  object_id=str(n), outcome="rep@acme.com", reason=f"Rule West matched lead {n}",
                  inputs={"rule": "West", "lead": {"email": f"lead{n}@example.org"}},
                  created_at=DAY1 + dt.timedelta(hours=n))
    return Decision(**{**values, **over})


def rows_of(page: str) -> list[int]:
    return [int(x) for x in re.findall(r'class="decision" data-id="(\d+)"', page)]


def test_audit_search_by_lead_email_owner_rule_kind_and_date(app, env, world):
    t = world["T"]
    add(env, *[decision(t, n) for n in range(1, 11)],
        decision(t, 11, outcome="ana@acme.com", inputs={"rule": "East", "lead": {"email": "Zed@Example.org"}}),
        decision(t, 12, kind="dedup", idempotency_key="dedup:x", outcome="merged into 3", inputs={"score": 0.95}))
    viewer = login(app, world, "victor")

    def ids(**params) -> list[str]:
        page = viewer.get(f"/console/tenants/{t}/audit", query_string=params).get_data(as_text=True)
        return re.findall(r'class="decision" data-id="\d+" data-record="(\d+)"', page)

    assert ids() == [str(n) for n in range(12, 0, -1)]
    assert ids(lead="7") == ["7"]
    assert ids(email="zed@example.org") == ["11"]
    assert ids(owner="ANA@acme.com") == ["11"]
    assert ids(rule="East") == ["11"] and ids(rule="Nowhere") == []
    assert ids(kind="dedup") == ["12"]
    assert ids(start="2024-03-01", end="2024-03-01") == [str(n) for n in range(12, 0, -1)]  # hours 1-12, day 1
    assert ids(lead="3", kind="dedup") == []
    page = viewer.get(f"/console/tenants/{t}/audit", query_string={"lead": "11"}).get_data(as_text=True)
    assert "Rule West matched lead 11" in page and "zed@example.org" in page  # the lead by its email: no name
    assert re.search(r"<th scope=\"row\">Rule</th><td>East</td>", page)  # the inputs as labelled rows, not JSON


def test_audit_is_paginated_newest_first(app, env, world):
    t = world["T"]
    add(env, *[decision(t, n) for n in range(1, 121)])
    viewer = login(app, world, "victor")
    seen, url, pages = [], f"/console/tenants/{t}/audit?kind=route", 0
    while url:
        page = viewer.get(url).get_data(as_text=True)
        seen += rows_of(page)
        pages += 1
        older = re.search(r'older" href="([^"]+)"', page)
        url = older.group(1).replace("&amp;", "&") if older else None
        assert url is None or "kind=route" in url
    assert pages == 3 and len(seen) == 120 and seen == sorted(seen, reverse=True)


def test_the_audit_page_works_over_100k_decisions_with_limited_queries(app, env, world):
    t = world["T"]
    base = DAY1.replace(tzinfo=None)
    rows = [{"tenant_id": t, "idempotency_key": f"route:contact:{n}", "kind": "route", "object_type": "contact",
             "object_id": str(n), "outcome": f"rep{n % 7}@acme.com", "reason": "Rule West matched",
             "inputs": {"rule": "West", "lead": {"email": f"lead{n}@example.org"}},
             "created_at": (base + dt.timedelta(seconds=n)).replace(tzinfo=dt.UTC)} for n in range(100_000)]
    engine = get_engine(env["DATABASE_URL"])
    with engine.begin() as conn:
        conn.execute(insert(Decision.__table__), rows)  # executemany
    statements: list[tuple[str, tuple]] = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        statements.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", capture)
    try:
        viewer = login(app, world, "victor")
        page = viewer.get(f"/console/tenants/{t}/audit").get_data(as_text=True)
        assert len(rows_of(page)) == 50 and 'data-record="99999"' in page and 'older" href' in page
        found = viewer.get(f"/console/tenants/{t}/audit?lead=4242").get_data(as_text=True)
        assert re.findall(r'data-id="\d+" data-record="(\d+)"', found) == ["4242"]
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    reads = [(sql, params) for sql, params in statements if "FROM decisions" in sql]
    assert len(reads) == 2 and all("LIMIT" in sql for sql, _ in reads)
    with engine.connect() as conn:  # a lead id is looked up through the (tenant, type, id) index
        plan = " ".join(str(r) for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + reads[1][0], reads[1][1]))
    assert "ix_decisions_tenant_object" in plan


# KPIs -----------------------------------------------------------------------------------------------------

def routed(tenant_id: int, n: int, owner: str, speed: float | None, day: int = 1) -> Decision:
    created = dt.datetime(2024, 3, day, 10, 0, tzinfo=dt.UTC)
    inputs = {"rule": "West"} if speed is None else {
        "rule": "West", "crm_created_at": created.isoformat(),
        "written_at": (created + dt.timedelta(seconds=speed)).isoformat()}
    return Decision(tenant_id=tenant_id, idempotency_key=f"route:contact:{n}", kind="route", object_type="contact",
                    object_id=str(n), outcome=owner, reason="r", inputs=inputs, created_at=created)


@pytest.fixture()
def kpi_data(env, world):
    t = world["T"]
    add(env, routed(t, 1, "a@acme.com", 10), routed(t, 2, "a@acme.com", 20, day=2), routed(t, 3, "a@acme.com", 30),
        routed(t, 4, "b@acme.com", 40, day=3), routed(t, 5, "review", None), routed(t, 6, "merged", None),
        Decision(tenant_id=t, idempotency_key="route:contact:old", kind="route", object_type="contact", object_id="old",
                 outcome="a@acme.com", reason="r", inputs={}, created_at=dt.datetime(2024, 1, 1, tzinfo=dt.UTC)),
        Decision(tenant_id=t, idempotency_key="dedup:1", kind="dedup", object_type="contact", object_id="9",
                 outcome="merged into 8", reason="r", inputs={}, created_at=dt.datetime(2024, 3, 2, tzinfo=dt.UTC)),
        ReviewItem(tenant_id=t, kind="dedup", object_type="contact", object_id="5", reason="r",
                   created_at=dt.datetime(2024, 3, 2, tzinfo=dt.UTC)))
    return t


def test_kpis_on_a_known_dataset(app, world, kpi_data):
    viewer = login(app, world, "victor")
    page = viewer.get(f"/console/tenants/{kpi_data}/kpis?start=2024-03-01&end=2024-03-10").get_data(as_text=True)

    def figure(name: str) -> str:
        return re.sub(r"\s+", " ", re.search(rf'data-kpi="{name}">.*?<strong>(.*?)</strong>', page).group(1))

    assert figure("leads") == "6"
    assert figure("median") == "25 s" and figure("p90") == "40 s"
    assert figure("automatic") == "66.7 %" and figure("review") == "16.7 %"
    assert figure("duplicates") == "33.3 %"  # (1 merge + 1 review) / 6 leads
    assert page.count('class="chart bar-chart"') == 1 and page.count('class="chart day-chart"') == 2
    assert "<title>Fri 2024-03-01: 4 leads (" in page  # each day's value on hover
    assert "<title>Fri 2024-03-01: 20 s median speed-to-owner</title>" in page
    assert ">Mar 1</text>" in page and ">Mar 10</text>" in page  # the date axis
    assert ">a@acme.com</text>" in page and ">3</text>" in page
    assert "<h2>SLA, all time</h2>" in page
    only_b = viewer.get(f"/console/tenants/{kpi_data}/kpis?start=2024-03-01&end=2024-03-10&owner=b@acme.com")
    assert re.search(r'data-kpi="median">.*?<strong>40 s</strong>', only_b.get_data(as_text=True))


def test_kpis_default_to_the_last_30_days(app, world, kpi_data):
    page = login(app, world, "victor").get(f"/console/tenants/{kpi_data}/kpis").get_data(as_text=True)
    today = dt.datetime.now(dt.UTC).date()
    assert f'value="{today - dt.timedelta(days=29)}"' in page and f'value="{today}"' in page
    assert re.search(r'data-kpi="leads">Leads<strong>0</strong>', page)


def test_kpi_csv_export(app, world, kpi_data):
    resp = login(app, world, "victor").get(f"/console/tenants/{kpi_data}/kpis.csv?start=2024-03-01&end=2024-03-03")
    assert resp.status_code == 200 and resp.mimetype == "text/csv"
    assert "attachment" in resp.headers["Content-Disposition"]
    rows = {(r["section"], r["key"]): r["value"] for r in csv.DictReader(io.StringIO(resp.get_data(as_text=True)))}
    assert rows[("summary", "leads")] == "6" and rows[("summary", "pct_routed_automatically")] == "66.7"
    assert rows[("summary", "median_speed_to_owner_seconds")] == "25.0"
    assert rows[("summary", "p90_speed_to_owner_seconds")] == "40.0"
    assert rows[("summary", "duplicate_rate_pct")] == "33.3"
    assert rows[("leads_per_owner", "a@acme.com")] == "3" and rows[("leads_per_owner", "b@acme.com")] == "1"
    assert rows[("leads_per_day", "2024-03-01")] == "4" and rows[("leads_per_day", "2024-03-03")] == "1"
    assert rows[("median_speed_seconds_per_day", "2024-03-01")] == "20.0"


# Install health -------------------------------------------------------------------------------------------

def test_health_shows_token_webhook_sweep_pending_queues_and_budget(app, env, world):
    t = world["T"]
    now = dt.datetime.now(dt.UTC)
    add(env, Credential(tenant_id=t, access_token_enc=b"x", expires_at=now + dt.timedelta(minutes=20)),
        EventRecord(tenant_id=t, dedup_key="w1", platform="hubspot", object_type="contact", object_id="1",
                    kind="created", source="CRM_UI", occurred_at=DAY1, received_at=DAY1, status="processed"),
        EventRecord(tenant_id=t, dedup_key="s1", platform="hubspot", object_type="contact", object_id="2",
                    kind="updated", source="sweep", occurred_at=now, received_at=now, status="received"),
        EventRecord(tenant_id=t, dedup_key="w2", platform="hubspot", object_type="contact", object_id="3",
                    kind="created", source="", occurred_at=DAY1, received_at=DAY1 - dt.timedelta(days=1),
                    status="waiting"),
        SweepCursor(tenant_id=t, object_type="contact", cursor="c", swept_at=DAY1 + dt.timedelta(hours=2), found=4))
    Redis.from_url(env["REDIS_URL"]).hset(f"leadrelay:rate:{t}:default", mapping={"tokens": 30, "ts": 0})
    page = login(app, world, "victor").get(f"/console/tenants/{t}/health").get_data(as_text=True)
    assert "expiring" in page and (now + dt.timedelta(minutes=20)).strftime("%Y-%m-%d %H:%M") in page
    assert "2024-03-01 09:00:00 UTC" in page  # the webhook, not the later sweep finding
    assert "2024-03-01 11:00:00 UTC" in page and "took in\n        <strong>4</strong> changes that no webhook" in page
    assert re.search(r'data-health="pending">2 ', page)
    assert re.search(r'data-bucket="default"><td>API calls</td><td class="num">90</td>', page)  # refilled
    assert 'data-queue="intake"' in page
    assert 'data-reason="token-expiring"' in page and "Re-connect" in page  # no refresh token: it cannot renew itself


def test_health_offers_reconnect_when_reauth_is_required(app, env, world):
    with session_scope(env["DATABASE_URL"]) as s:
        tenant = s.get(Tenant, world["T"])
        tenant.status, tenant.settings = "reauth_required", {"reauth_reason": "refresh token revoked"}
    page = login(app, world, "victor").get(f"/console/tenants/{world['T']}/health").get_data(as_text=True)
    assert "refresh token revoked" in page and "Re-connect" in page and "/install/hubspot" in page
    assert "No token stored" in page


def test_the_tenant_page_links_every_console_page(app, world):
    page = login(app, world, "victor").get(f"/console/tenants/{world['T']}").get_data(as_text=True)
    for path in ("review", "audit", "kpis", "health"):
        assert f"/console/tenants/{world['T']}/{path}" in page
