"""Two real worker processes routing 200 leads at once keep round-robin exact."""
from __future__ import annotations

import datetime as dt
from collections import Counter

import pytest
from redis import Redis
from sqlalchemy import select

from integration.db import session_scope
from integration.intake.events import drain_tenant, record_events
from integration.models import Decision, RuleSetVersion, Tenant
from integration.records import Event
from tests.crm_helpers import browser, install, new_account
from tests.e2e.conftest import start_worker, stop_worker, wait_for

pytestmark = pytest.mark.e2e
OWNERS = [{"email": "rr.one@leadrelay.test", "name": "RR One"}, {"email": "rr.two@leadrelay.test", "name": "RR Two"}]
FIRST = ["Ada", "Grace", "Alan", "Linus", "Margaret", "Dennis", "Barbara", "Ken", "Frances", "Edsger"]
LAST = ["Lovelace", "Hopper", "Turing", "Torvalds", "Hamilton", "Ritchie", "Liskov", "Thompson", "Allen", "Dijkstra",
        "Perlman", "Lee", "Johnson", "Backus", "Lamarr", "Knuth", "Wilson", "Wirth", "Sammet", "Rossum"]
RULES = {"version": 1, "owners": [{"email": o["email"]} for o in OWNERS],
         "pools": {"team": {"strategy": "round_robin", "members": [{"owner": o["email"]} for o in OWNERS]}},
         "routing": [{"name": "Everyone", "when": {"has_email": True}, "assign": {"pool": "team"}}],
         "fallback": {"review": True}}


def _lead(platform: str, i: int) -> tuple[str, dict]:
    first, last, email = FIRST[i % 10], LAST[i // 10], f"p{i}@firm{i}.example"
    if platform == "hubspot":
        return "contacts", {"firstname": first, "lastname": last, "email": email}
    if platform == "salesforce":
        return "Lead", {"FirstName": first, "LastName": last, "Email": email, "Company": f"Firm {i}"}
    return "persons", {"name": f"{first} {last}", "emails": [{"value": email, "primary": True, "label": "work"}]}


LEAD_OBJECT = {"hubspot": "contact", "salesforce": "lead", "pipedrive": "contact"}


@pytest.mark.parametrize("platform", ["hubspot", "salesforce", "pipedrive"])
def test_two_workers_routing_200_leads_keep_round_robin_exact(crm_env, app, crm_sandbox, platform):
    crm_sandbox.sandbox.config.update({"limits": {"hubspot": {"burst_per_10s": 100000, "search_per_second": 10000},
                                                  "pipedrive": {"burst_per_2s": 100000, "daily_tokens": 10**9}}})
    account = new_account(crm_sandbox, platform, name="Concurrent", users=OWNERS)
    install(app.test_client(), crm_sandbox, platform, account["account_id"])
    with session_scope(crm_env["DATABASE_URL"]) as s:  # live before the leads come (they are new leads)
        s.add(RuleSetVersion(tenant_id=s.scalar(select(Tenant.id)), version=1, status="published", body=RULES))
    http = browser(crm_sandbox)
    ids = []
    for i in range(200):
        object_type, properties = _lead(platform, i)
        created = http.post(f"{crm_sandbox.url}/_sandbox/accounts/{account['account_id']}/simulate",
                            json={"action": "create", "object_type": object_type, "properties": properties}).json()
        ids.append(str(created.get("id") or created.get("Id") or created.get("data", {}).get("id")))
    with session_scope(crm_env["DATABASE_URL"]) as s:
        tenant = s.scalar(select(Tenant))
        tenant_id = tenant.id
        # as after the install's backfill: the index is complete, so no CRM search per lead
        tenant.settings = {**tenant.settings, "index_complete": True}
        now = dt.datetime.now(dt.UTC)
        record_events(s, tenant_id, [Event(platform=platform, account_id="", object_type=LEAD_OBJECT[platform],
                                           object_id=i, kind="created", occurred_at=now, event_id=f"cc-{i}")
                                     for i in ids])
    for n in range(4):  # several drains racing for the same tenant
        drain_tenant.enqueue(tenant_id, job_id=f"drain-{tenant_id}-race-{n}")
    workers = [start_worker(crm_env), start_worker(crm_env)]
    try:
        def routed() -> int:
            with session_scope(crm_env["DATABASE_URL"]) as s:
                return len(s.scalars(select(Decision.id).where(Decision.kind == "route")).all())
        wait_for(lambda: routed() == 200, timeout=120, what="200 routing decisions")
    finally:
        for worker in workers:
            stop_worker(worker)
    with session_scope(crm_env["DATABASE_URL"]) as s:
        decisions = s.scalars(select(Decision).where(Decision.kind == "route")).all()
    assert Counter(d.outcome for d in decisions) == {"rr.one@leadrelay.test": 100, "rr.two@leadrelay.test": 100}, \
        decisions[0].reason
    from adapters.factory import build_adapter

    owners = {r.id: r.owner_id for r in build_adapter(tenant_id).get_records(LEAD_OBJECT[platform], ids)}
    assert all(owners[d.object_id] == d.inputs["owner_id"] for d in decisions)
    assert Redis.from_url(crm_env["REDIS_URL"]).exists(f"leadrelay:lock:drain:{tenant_id}") == 0
