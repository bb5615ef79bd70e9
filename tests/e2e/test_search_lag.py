"""LeadRelay against a HubSpot whose search lags behind its writes (the sandbox's search_lag_ms, HubSpot's docs:
"It may take a few moments for newly created or updated CRM objects to appear in search results").

The sandbox lags LAG_S; LeadRelay waits HubSpot's declared SEARCH_LAG (10 s) where it must. Instead of sleeping
that long, the tests move LeadRelay's clocks on (the account-owner cache's, the SLA jobs' planned times) once the
sandbox's real lag has passed.
"""
from __future__ import annotations

import datetime as dt
import time

import pytest
from redis import Redis
from rq import Queue
from sqlalchemy import select

from integration.db import session_scope
from integration.followup.escalation import escalate_sla
from integration.followup.sla import check_sla
from integration.intake.sweep import sweep_tenant
from integration.jobs import job_key
from integration.models import Decision, EventRecord, MergeSnapshot, SlaTimer
from tests.crm_helpers import install_with_rules
from tests.e2e.test_pipeline_flow import LEAD, OWNERS, RULES, _variant, deliver, record_id, simulate
from tests.e2e.test_sla_flow import RULES as SLA_RULES
from tests.e2e.test_sla_flow import USERS as SLA_USERS
from tests.e2e.test_sla_flow import sla_outcomes
from tests.workers import BurstWorker

LAG_S = 2.0
ANA = OWNERS[0]["email"]
ACCOUNT_RULES = {**RULES, "routing": [
    {"name": "Account owner", "when": {"account_owner": True}, "assign": "account_owner"}, *RULES["routing"]]}


@pytest.fixture()
def hubspot(crm_env, app, crm_sandbox):
    """A HubSpot portal with LeadRelay installed and `rules` published, its search lagging LAG_S."""
    def make(rules: dict = RULES, users: list[dict] = OWNERS) -> tuple[int, dict]:
        crm_sandbox.sandbox.config.update({"search_lag_ms": int(LAG_S * 1000)})
        return install_with_rules(crm_sandbox, app.test_client(), crm_env["DATABASE_URL"], "hubspot", rules,
                                  "Lagging search", users)
    yield make
    crm_sandbox.sandbox.config.reset()


def contact(server, account: dict, email: str, **properties) -> str:
    return record_id("hubspot", simulate(server, account, {"action": "create", "object_type": "contacts",
                                                            "properties": {**properties, "email": email}}))


def route_decisions(env) -> dict[str, Decision]:
    with session_scope(env["DATABASE_URL"]) as s:
        rows = s.scalars(select(Decision).where(Decision.kind == "route")).all()
        s.expunge_all()
    return {d.object_id: d for d in rows}


def drain(env) -> None:
    BurstWorker(["intake"], connection=Redis.from_url(env["REDIS_URL"])).work(burst=True)


def test_the_sweep_skips_no_lead_the_search_indexed_late_and_routes_each_once(hubspot, crm_env, crm_sandbox):
    tenant_id, account = hubspot()  # no webhook reaches LeadRelay: the sweep is what finds these leads
    early = contact(crm_sandbox, account, "olga.early@lag.example", firstname="Olga", lastname="Early")
    time.sleep(LAG_S + 0.2)  # indexed
    late = contact(crm_sandbox, account, "lena.late@lag.example", firstname="Lena", lastname="Late")
    simulate(crm_sandbox, account, {"action": "update", "object_type": "contacts", "id": early,
                                    "properties": {"jobtitle": "CTO"}})
    # the search cannot see `late` yet, and sorts `early` by its indexed time while answering with its new one
    assert sweep_tenant(tenant_id) == 1
    drain(crm_env)
    assert list(route_decisions(crm_env)) == [early]
    time.sleep(LAG_S + 0.2)
    sweep_tenant(tenant_id)  # now `late`, and `early` again (LeadRelay's own owner write changed it)
    drain(crm_env)
    time.sleep(LAG_S + 0.2)
    sweep_tenant(tenant_id)  # `late` again (its owner write); both are read twice within the lag from here on
    drain(crm_env)
    assert sweep_tenant(tenant_id) == 0  # read again, unchanged: no new event
    with session_scope(crm_env["DATABASE_URL"]) as s:
        swept = s.scalars(select(EventRecord.object_id).where(EventRecord.source == "sweep")).all()
    assert sorted(set(swept)) == sorted([early, late])
    decided = route_decisions(crm_env)
    assert sorted(decided) == sorted([early, late])  # each lead decided once, whatever the sweeps read twice
    assert all(d.inputs.get("written_at") for d in decided.values())


def test_a_company_created_a_moment_before_is_not_remembered_as_missing_past_the_lag(hubspot, crm_env, crm_sandbox,
                                                                                      monkeypatch):
    from adapters.factory import build_adapter
    from integration.crm import account_owners

    tenant_id, account = hubspot(ACCOUNT_RULES)
    adapter = build_adapter(tenant_id)
    ana = next(u.id for u in adapter.list_users() if u.email == ANA)
    simulate(crm_sandbox, account, {"action": "create", "object_type": "companies", "properties": {
        "name": "Initech", "domain": "initech.example", "hubspot_owner_id": ana}})
    first = contact(crm_sandbox, account, "bob@initech.example", firstname="Bob", lastname="Slydell")
    deliver(crm_env, tenant_id, "hubspot", "contact", first)  # at once: the company is not searchable yet
    assert route_decisions(crm_env)[first].inputs["rule"] != "Account owner"
    redis = Redis.from_url(crm_env["REDIS_URL"])
    (key,) = redis.keys(f"leadrelay:account:{tenant_id}:initech.example*")
    assert 0 < redis.ttl(key) <= adapter.SEARCH_LAG.total_seconds()  # "no such company" lives no longer

    time.sleep(LAG_S + 0.2)  # the sandbox has indexed the company; LeadRelay's clock passes HubSpot's SEARCH_LAG
    later = time.time() + adapter.SEARCH_LAG.total_seconds()
    monkeypatch.setattr(account_owners, "clock", lambda: later)
    second = contact(crm_sandbox, account, "joanna@initech.example", firstname="Joanna", lastname="Smith")
    deliver(crm_env, tenant_id, "hubspot", "contact", second)
    decision = route_decisions(crm_env)[second]
    assert (decision.inputs["rule"], decision.outcome) == ("Account owner", ANA)


def merges(env) -> list[tuple[str, str, str]]:
    with session_scope(env["DATABASE_URL"]) as s:
        return [(m.survivor_id, m.loser_id, m.status) for m in s.scalars(select(MergeSnapshot))]


def merged_id(tenant_id: int, kept_id: str) -> str:
    """The id HubSpot gave the merged record (a new one): what the kept record's old id now answers with."""
    from adapters.factory import build_adapter

    survivor = build_adapter(tenant_id).get_record("contact", kept_id).id
    assert survivor != kept_id
    return survivor


def test_a_twin_created_a_moment_ago_is_found_in_the_index_where_the_search_cannot_see_it(hubspot, crm_env,
                                                                                        crm_sandbox):
    from adapters.factory import build_adapter

    tenant_id, account = hubspot()  # the backfill has not run: the pipeline also asks the CRM's search
    _, properties = LEAD["hubspot"]
    first = contact(crm_sandbox, account, **properties)
    deliver(crm_env, tenant_id, "hubspot", "contact", first)  # indexed as it arrives
    again = _variant("hubspot", dict(properties))
    assert build_adapter(tenant_id).find_duplicate_candidates(
        "contact", phones=[again["phone"]], name="Grace Hopper", company="Navy") == []  # not searchable yet
    second = contact(crm_sandbox, account, **again)
    deliver(crm_env, tenant_id, "hubspot", "contact", second)
    assert merges(crm_env) == [(merged_id(tenant_id, first), second, "merged")]


def test_a_namesake_in_the_index_does_not_hide_an_older_twin_only_the_search_knows(hubspot, crm_env, crm_sandbox):
    tenant_id, account = hubspot()
    _, properties = LEAD["hubspot"]
    old = contact(crm_sandbox, account, **properties)  # before LeadRelay listened: in no index, searchable
    time.sleep(LAG_S + 0.2)
    namesake = contact(crm_sandbox, account, "gary@yard.example", firstname="Gary", lastname="Hopper",
                       company="Navy Yard")
    deliver(crm_env, tenant_id, "hubspot", "contact", namesake)  # in the index now, not yet in the search
    twin = contact(crm_sandbox, account, **_variant("hubspot", dict(properties)))
    deliver(crm_env, tenant_id, "hubspot", "contact", twin)  # the index offers the namesake, the search the twin
    survivor = merged_id(tenant_id, old)
    assert merges(crm_env) == [(survivor, twin, "merged")]
    assert sorted(route_decisions(crm_env)) == sorted([namesake, survivor])  # the twin's decision moved with it


def log_call(server, account: dict, lead_id: str) -> None:
    """The rep logs a call on the lead (HubSpot's "Last activity date" moves at once; search sees the call later)."""
    call = record_id("hubspot", simulate(server, account, {"action": "create", "object_type": "calls", "properties": {
        "hs_timestamp": dt.datetime.now(dt.UTC).isoformat(), "hs_call_title": "First call",
        "hs_call_status": "COMPLETED"}}))
    simulate(server, account, {"action": "associate", "object_type": "calls", "id": call,
                               "to_object_type": "contacts", "to_id": lead_id})


def planned_at(env, job_id: str) -> dt.datetime:
    registry = Queue("sla", connection=Redis.from_url(env["REDIS_URL"])).scheduled_job_registry
    return registry.get_scheduled_time(job_key(job_id))


def test_an_sla_check_looks_again_after_the_lag_before_it_breaches_or_escalates(hubspot, crm_env, crm_sandbox):
    tenant_id, account = hubspot(SLA_RULES, SLA_USERS)
    lead = contact(crm_sandbox, account, "grace@lag.example", firstname="Grace", lastname="Hopper")
    deliver(crm_env, tenant_id, "hubspot", "contact", lead)
    with session_scope(crm_env["DATABASE_URL"]) as s:
        timer = s.scalar(select(SlaTimer))
        s.expunge(timer)
    due = int(timer.due_at.timestamp())

    log_call(crm_sandbox, account, lead)  # a moment before the check: the activity search cannot see it yet
    asked = dt.datetime.now(dt.UTC)
    assert check_sla(tenant_id, timer.id, due) == "rechecking"
    assert dt.timedelta(seconds=9) < planned_at(crm_env, f"sla-settle-{timer.id}-{due}") - asked \
        < dt.timedelta(seconds=11)  # HubSpot's SEARCH_LAG later
    time.sleep(LAG_S + 0.2)
    assert check_sla(tenant_id, timer.id, due, True) == "met"  # the planned job, run at its time
    assert sla_outcomes(crm_env) == ["task_created", "met"]


def test_an_escalation_step_looks_again_after_the_lag_before_it_escalates(hubspot, crm_env, crm_sandbox):
    tenant_id, account = hubspot(SLA_RULES, SLA_USERS)
    lead = contact(crm_sandbox, account, "alan@lag.example", firstname="Alan", lastname="Turing")
    deliver(crm_env, tenant_id, "hubspot", "contact", lead)
    with session_scope(crm_env["DATABASE_URL"]) as s:
        timer_id, due = s.scalar(select(SlaTimer.id)), int(s.scalar(select(SlaTimer.due_at)).timestamp())
    assert check_sla(tenant_id, timer_id, due) == "rechecking"
    assert check_sla(tenant_id, timer_id, due, True) == "breached"  # nobody acted: the second look says so too

    log_call(crm_sandbox, account, lead)  # the rep acts a moment before the manager would be asked in
    assert escalate_sla(tenant_id, timer_id, 0) == "rechecking"
    time.sleep(LAG_S + 0.2)
    assert escalate_sla(tenant_id, timer_id, 0, True) == "met_late"
    assert sla_outcomes(crm_env) == ["task_created", "breached", "met_late"]
