"""The audit log names people, not ids: the lead by name with its CRM link, the owner by name (email secondary),
the kind in plain words, times in the tenant's zone, the inputs as a labelled table, and the path the lead took
through the rules (with the owners skipped). Through the Flask test client, a FakeCRMAdapter as the CRM."""
from __future__ import annotations

import datetime as dt
import re
from html import unescape

import pytest
from sqlalchemy import event, insert, select

from integration.db import get_engine, session_scope
from integration.models import Decision, MergeSnapshot, RuleSetVersion, Tenant
from integration.records import CRMUser
from tests.test_console_pages import add, login
from tests.test_console_pages import world as pages_world  # noqa: F401 (a fixture)
from tests.test_new_leads import INSTALLED, run
from tests.test_new_leads import crm as pipeline_crm  # noqa: F401 (a fixture)

WHEN = dt.datetime(2024, 3, 1, 17, 30, tzinfo=dt.UTC)
RULES = {"version": 1, "timezone": "America/Los_Angeles",
         "owners": [{"email": "alice@acme.test", "name": "Alice Adams"}, {"email": "bob@acme.test", "name": "Bob"}],
         "routing": [{"name": "West", "when": {"state": ["CA"]}, "assign": {"owner": "alice@acme.test"}}]}
ADA = {"id": "363", "first_name": "Ada", "last_name": "Lovelace", "company": "Acme", "email": "ada@acme.test",
       "country": "US", "state": "CA", "employees": 350}
PATH = [{"index": 0, "rule": "Existing account owner", "matched": False, "why": "no active account owner"},
        {"index": 1, "rule": "West", "matched": True, "why": "state CA, 350 employees"}]
SKIPPED = [{"owner": "bob@acme.test", "why": "out of office (until 4 March)"}]


@pytest.fixture()
def world(pages_world, env):  # noqa: F811
    """Tenant T on HubSpot (portal 77, its app served from api.hubapi.com) with a published rule set in LA time."""
    with session_scope(env["DATABASE_URL"]) as s:
        tenant = s.get(Tenant, pages_world["T"])
        tenant.api_base = "https://api.hubapi.com"
        s.add(RuleSetVersion(tenant_id=tenant.id, version=1, status="published", body=RULES))
    pages_world["fake"].users = [CRMUser(id="60000002", email="alice@acme.test", name="Alice Adams"),
                                 CRMUser(id="60000003", email="bob@acme.test", name="Bob Baker")]
    return pages_world


def routed(tenant_id: int, **over) -> Decision:
    values = dict(tenant_id=tenant_id, idempotency_key="route:contact:363", kind="route", object_type="contact",
                  object_id="363", outcome="alice@acme.test", reason="Rule West matched (state CA)",
                  inputs={"score": 72, "tier": "hot", "rule": "West", "qualification": "350 employees: +30",
                          "lead": ADA, "owner_id": "60000002", "path": PATH, "skipped": SKIPPED},
                  created_at=WHEN)
    return Decision(**{**values, **over})


def text(html: str) -> str:
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


def row_html(page: str, record_id: str) -> str:
    """The audit row of a record: up to the next row (its details hold a table of their own)."""
    found = re.search(rf'<tr class="decision" data-id="\d+" data-record="{record_id}".*?(?=<tr class="decision"|'
                      rf'</tbody>)', page, re.S)
    assert found, f"no audit row for {record_id}"
    return found.group(0)


def test_a_routed_lead_is_a_person_with_its_owner_path_and_plain_inputs(app, env, world):
    add(env, routed(world["T"]))
    page = login(app, world, "victor").get(f"/console/tenants/{world['T']}/audit").get_data(as_text=True)
    row = row_html(page, "363")
    shown = text(row)
    assert "Routed" in shown and "01 Mar 2024, 09:30" in shown  # 17:30 UTC is 09:30 in Los Angeles
    assert "When (Los Angeles time)" in text(page) and "(America/Los_Angeles)" in text(page)
    assert "Ada Lovelace · Acme · ada@acme.test" in shown
    link = re.search(r'<a class="record-crm" href="([^"]+)" target="_blank" rel="noopener" aria-label="([^"]+)"',
                     row)
    assert link and link.group(1) == "https://app.hubspot.com/contacts/77/record/0-1/363"
    assert "Ada Lovelace" in link.group(2) and "Open in HubSpot" in link.group(2)
    assert re.search(r'<span class="owner-name">Alice Adams</span> <span class="muted owner-email">'
                     r'alice@acme.test</span>', row)
    assert "Rules checked: ✗ Existing account owner — no active account owner ✓ West — state CA, 350 employees" \
        in shown
    assert "Skipped: Bob Baker (out of office (until 4 March))" in shown
    details = dict(re.findall(r'<th scope="row">([^<]+)</th><td>([^<]*)</td>', row))
    assert details["Score"] == "72" and details["Tier"] == "hot" and details["Rule"] == "West"
    assert details["Country"] == "US" and details["Employees"] == "350"
    assert details["Owner"] == "Alice Adams &lt;alice@acme.test&gt;"
    assert "Ada" not in details.values()  # the name is the record column's, not repeated in the details
    for raw in ("60000002", "owner_id", "first_name", "{", "contact 363", "route"):
        assert raw not in shown, raw


def test_a_decision_without_the_lead_takes_its_name_from_the_route_decision_or_the_merge(app, env, world):
    t = world["T"]
    snap = MergeSnapshot(tenant_id=t, object_type="contact", survivor_id="500", loser_id="501", score=0.97,
                         survivor_before={"id": "500", "first_name": "Grace", "last_name": "Hopper"},
                         loser_before={"id": "501", "first_name": "Grace", "last_name": "Hopper",
                                       "email": "grace@navy.test"}, merged_fields={}, status="merged")
    add(env, snap)
    add(env, routed(t), Decision(tenant_id=t, idempotency_key="sla:contact:363:hot:notify", kind="sla",
                                 object_type="contact", object_id="363", outcome="notify_manager",
                                 reason="SLA missed by alice@acme.test", inputs={"owner_id": "60000002"},
                                 created_at=WHEN + dt.timedelta(hours=1)),
        Decision(tenant_id=t, idempotency_key="dedup:contact:500:501", kind="dedup", object_type="contact",
                 object_id="501", outcome="merged into 500", reason="Merged 501 into 500 (score 0.97)",
                 inputs={"score": 0.97, "snapshot_id": snap.id}, created_at=WHEN + dt.timedelta(hours=2)))
    page = login(app, world, "victor").get(f"/console/tenants/{t}/audit").get_data(as_text=True)
    sla = text(row_html(page, "363"))
    assert "SLA escalated" in sla and "Ada Lovelace · Acme" in sla and "Manager notified" in sla
    merged = row_html(page, "501")
    assert "Duplicate merged" in text(merged) and "Grace Hopper" in text(merged)
    assert "Merged Grace Hopper into 500 (score 0.97)" in text(merged)  # the row's own id named
    assert "Merged into the kept record" in text(merged)
    assert 'href="https://app.hubspot.com/contacts/77/record/0-1/500"' in merged


def test_a_lead_with_no_name_is_its_email_and_one_with_nothing_is_unnamed(app, env, world):
    t = world["T"]
    add(env, routed(t, idempotency_key="route:contact:7", object_id="7", inputs={"lead": {"email": "x@y.test"}}),
        routed(t, idempotency_key="route:contact:8", object_id="8", inputs={}))
    page = login(app, world, "victor").get(f"/console/tenants/{t}/audit").get_data(as_text=True)
    assert '<strong class="record-name">x@y.test</strong>' in row_html(page, "7")
    unnamed = row_html(page, "8")
    assert "Unnamed lead" in text(unnamed) and "/record/0-1/8" in unnamed and "contact 8" not in text(unnamed)


def test_search_by_name_company_or_owner_name(app, env, world):
    t = world["T"]
    grace = {**ADA, "first_name": "Grace", "last_name": "Hopper", "company": "Navy", "email": "grace@navy.test"}
    add(env, routed(t), routed(t, idempotency_key="route:contact:364", object_id="364", outcome="bob@acme.test",
                                inputs={"lead": grace}),
        Decision(tenant_id=t, idempotency_key="sla:contact:363:hot:task", kind="sla", object_type="contact",
                 object_id="363", outcome="task_created", reason="SLA task for Alice", inputs={"owner_id": "60000002"},
                 created_at=WHEN + dt.timedelta(minutes=1)))
    viewer = login(app, world, "victor")

    def ids(**params) -> list[str]:
        page = viewer.get(f"/console/tenants/{t}/audit", query_string=params).get_data(as_text=True)
        return re.findall(r'class="decision" data-id="\d+" data-record="(\w+)"', page)

    assert ids(lead="ada lovelace") == ["363", "363"]  # the SLA step holds no name: found by its lead
    assert ids(lead="LOVELACE acme") == ["363", "363"]
    assert ids(lead="navy") == ["364"]
    assert ids(lead="grace@navy.test") == ["364"]
    assert ids(lead="364") == ["364"]
    assert ids(lead="nobody here") == []
    assert ids(owner="bob baker") == ["364"] and ids(owner="Alice") == ["363"]  # an owner is the routed one
    assert ids(owner="alice@acme.test") == ["363"]


def test_the_filters_are_labelled_in_plain_words(app, env, world):
    page = login(app, world, "victor").get(f"/console/tenants/{world['T']}/audit").get_data(as_text=True)
    labels = [text(x) for x in re.findall(r"<label[^>]*>(.*?)</label>", page, re.S)]
    assert labels[:4] == ["Lead (name, email or CRM id)", "Owner (name or email)", "Rule", "What happened"]
    options = re.findall(r'<option value="(\w*)"[^>]*>([^<]+)</option>', page)
    assert ("route", "Routing") in options and ("dedup", "Duplicate merged") in options
    assert "No decisions yet" in text(page)
    for control in re.findall(r"<(?:input|select)\b[^>]*>", page):
        if 'type="hidden"' in control:
            continue
        ident = re.search(r'id="([^"]+)"', control)
        assert ident and f'for="{ident.group(1)}"' in page, control


def test_an_unusable_lead_says_so_once(pipeline_crm, env):  # noqa: F811
    """The pipeline's audit reason for an unusable lead: normalize's sentence, capitalised, not prefixed twice."""
    crm = pipeline_crm
    crm.put("contact", "900", updated_at=INSTALLED + dt.timedelta(days=1), owner_id=None, first_name="Ann",
            last_name="Lee")
    run(env, crm, "900")
    with session_scope(env["DATABASE_URL"]) as s:
        reason = s.scalar(select(Decision.reason).where(Decision.object_id == "900"))
    assert reason == "Unusable lead: no way to contact (no valid email or phone)"


def test_a_name_search_reads_only_the_newest_decisions_of_a_100k_log(app, env, world):
    """The name has no index: the search looks among the newest NAME_SCAN decisions (the page says so), in one
    LIMITed statement, and finds every decision of the leads so named there."""
    t = world["T"]
    base = WHEN.replace(tzinfo=None)
    rows = [{"tenant_id": t, "idempotency_key": f"route:contact:{n}", "kind": "route", "object_type": "contact",
             "object_id": str(n), "outcome": "alice@acme.test", "reason": "Rule West matched",
             "inputs": {"rule": "West", "lead": {"first_name": "Lead", "last_name": f"Number{n}",
                                                 "email": f"lead{n}@example.org"}},
             "created_at": (base + dt.timedelta(seconds=n)).replace(tzinfo=dt.UTC)} for n in range(100_000)]
    engine = get_engine(env["DATABASE_URL"])
    with engine.begin() as conn:
        conn.execute(insert(Decision.__table__), rows)
    statements: list[str] = []

    def capture(conn, cursor, sql, *_rest):
        statements.append(sql)

    event.listen(engine, "before_cursor_execute", capture)
    try:
        viewer = login(app, world, "victor")

        def ids(lead: str) -> list[str]:
            page = viewer.get(f"/console/tenants/{t}/audit", query_string={"lead": lead}).get_data(as_text=True)
            return re.findall(r'class="decision" data-id="\d+" data-record="(\d+)"', page)

        assert ids("lead number99990") == ["99990"]
        assert ids("lead number50000") == []  # older than the newest 20,000: an email or the CRM id finds it
        assert ids("lead50000@example.org") == ["50000"] and ids("50000") == ["50000"]
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    named = [sql for sql in statements if "FROM decisions" in sql and "LIKE" in sql]
    assert len(named) == 3 and all("LIMIT" in sql and "OFFSET" in sql for sql in named[:2])
