"""Issue 13 (8): a simulation backs off on the CRM's 429 and completes, says why fewer leads were read than asked,
and tells a rule change apart from a round-robin reshuffle (with a "changed only" view)."""
from __future__ import annotations

import datetime as dt
import re

import pytest
import yaml
from redis import Redis
from rq import Queue

from integration.admin.simulate import MAX_WAIT, Patience, read_progress, simulate_rules, start_simulation
from integration.db import session_scope
from integration.errors import CRMRateLimited
from integration.models import RuleSetVersion, Tenant
from integration.queues import QUEUES
from integration.records import CRMUser
from tests.console_helpers import add_members, sign_in
from tests.crm_helpers import browser, install_with_rules
from tests.e2e.test_pipeline_flow import OWNERS, RULES
from tests.fakes import FakeCRMAdapter
from tests.workers import BurstWorker

T0 = dt.datetime(2026, 3, 2, 15, 0, tzinfo=dt.UTC)


def work(env) -> None:
    BurstWorker(["maintenance"], connection=Redis.from_url(env["REDIS_URL"])).work(burst=True)


# Against the sandbox: HubSpot's per-second search limit ---------------------------------------------------------

def test_a_simulation_backs_off_on_hubspots_secondly_limit_and_completes(app, crm_env, crm_sandbox):
    """Issue 13: the first run of a 200-lead simulation stopped with "the CRM answered: HubSpot 429 … secondly
    limit"; a retry 12 s later worked. It reads through the rate budget and waits out the 429 now."""
    tenant_id, account = install_with_rules(crm_sandbox, app.test_client(), crm_env["DATABASE_URL"], "hubspot",
                                            RULES, "Sim 429", OWNERS)
    http = browser(crm_sandbox)
    for i in range(12):
        http.post(f"{crm_sandbox.url}/_sandbox/accounts/{account['account_id']}/simulate", json={
            "action": "create", "object_type": "contacts",
            "properties": {"firstname": f"Lead{i}", "lastname": "Test", "email": f"lead{i}@firm{i}.example"}},
        ).raise_for_status()
    connection = Redis.from_url(crm_env["REDIS_URL"])
    for name in QUEUES:
        Queue(name, connection=connection).empty()  # the install's own follow-up jobs are not under test here
    crm_sandbox.sandbox.config.update({"limits": {"hubspot": {"search_per_second": 1}}})
    start_simulation(tenant_id, 1, 200)
    work(crm_env)
    progress = read_progress(tenant_id, 1)
    assert progress["state"] == "done", progress.get("error")
    result = progress["result"]
    assert result["leads"] == 12 and result["rate_limit_waits"] >= 1  # the second search in a second got a 429
    assert result["reading"]["shortfall"] == ("Read 12 of the 200 leads asked: that is every contact in the CRM "
                                              "(it holds no more).")
    with session_scope(crm_env["DATABASE_URL"]) as s:
        admin = add_members(s, tenant_id, {"sim-admin": "admin"})["sim-admin"]
    page = sign_in(app, admin).get(f"/console/tenants/{tenant_id}/simulate?version=1").get_data(as_text=True)
    assert "Read 12 of the 200 leads asked: that is every contact in the CRM" in page
    assert re.search(r"HubSpot asked LeadRelay to slow down \d+ times?", page)  # the CRM by its name


# With the in-memory CRM ---------------------------------------------------------------------------------------

SIM_RULES = """version: 1
owners: [{email: ann@acme.test}, {email: bob@acme.test}, {email: cid@acme.test}]
pools:
  team: {strategy: round_robin, members: [{owner: ann@acme.test}, {owner: bob@acme.test}]}
routing:
  - name: Germany
    when: {country: [DE]}
    assign: {owner: bob@acme.test}
  - name: Everyone
    when: {has_email: true}
    assign: {pool: team}
fallback: {review: true}
"""


@pytest.fixture()
def fake_world(app, env, wire_adapters):
    app.config["WTF_CSRF_ENABLED"] = False
    fake = FakeCRMAdapter()
    fake.users = [CRMUser("u1", "ann@acme.test", "Ann"), CRMUser("u2", "bob@acme.test", "Bob"),
                  CRMUser("u3", "cid@acme.test", "Cid")]
    wire_adapters(lambda tenant_id: fake)
    with session_scope(env["DATABASE_URL"]) as s:
        tenant = Tenant(platform="hubspot", external_id="sim", name="Sim")
        s.add(tenant)
        s.flush()
        s.add(RuleSetVersion(tenant_id=tenant.id, version=1, status="draft", body=yaml.safe_load(SIM_RULES)))
        alice = add_members(s, tenant.id, {"alice": "admin"})["alice"]
        tenant_id = tenant.id
    return fake, tenant_id, sign_in(app, alice)


NAMES = ["Ada", "Grace", "Alan", "Linus", "Margaret", "Dennis"]


def lead(fake: FakeCRMAdapter, n: int, owner: str | None, country: str = "US", email: bool = True) -> None:
    fields = {"first_name": NAMES[n - 1], "last_name": "Smith", "country": country, "phone": f"+1415555010{n}"}
    if email:
        fields["email"] = f"l{n}@x{n}.test"
    fake.put("contact", f"c{n}", updated_at=T0 + dt.timedelta(minutes=n), owner_id=owner, **fields)


def test_a_rule_change_is_told_apart_from_a_round_robin_turn(env, fake_world):
    fake, tenant_id, alice = fake_world
    lead(fake, 1, "u1", country="DE")  # ann → bob by the Germany rule: a rule change
    lead(fake, 2, "u2")  # pool team's first turn is ann: bob → ann, the same pool
    lead(fake, 3, "u2")  # then bob: unchanged
    lead(fake, 4, "u3")  # cid is no member of the pool: a rule change
    lead(fake, 5, None)  # no owner now
    lead(fake, 6, "u1", email=False)  # no email: no rule matches, the fallback is review
    alice.post(f"/console/tenants/{tenant_id}/simulate", data={"version": "1", "limit": "50"})
    work(env)
    result = read_progress(tenant_id, 1)["result"]
    assert {r["id"]: (r["current"], r["simulated"], r["change"]) for r in result["rows"]} == {
        "c1": ("ann@acme.test", "bob@acme.test", "rule"), "c2": ("bob@acme.test", "ann@acme.test", "rotation"),
        "c3": ("bob@acme.test", "bob@acme.test", "same"), "c4": ("cid@acme.test", "ann@acme.test", "rule"),
        "c5": ("", "bob@acme.test", "unowned"), "c6": ("ann@acme.test", "review", "rule")}
    assert (result["changed"], result["changed_by_rule"], result["reshuffled"], result["unowned"]) == (5, 3, 1, 1)
    base = f"/console/tenants/{tenant_id}/simulate?version=1"
    page = alice.get(base).get_data(as_text=True)
    assert "5</strong> would get another owner: <strong data-changed-by-rule>3</strong> because of a rule" in page
    assert "<strong data-reshuffled>1</strong> only by the round-robin's turn" in page
    assert "Read 6 of the 50 leads asked: that is every contact in the CRM" in page

    def shown(show: str) -> list[str]:
        return re.findall(r'data-lead="(c\d)"', alice.get(f"{base}&show={show}").get_data(as_text=True))

    assert shown("all") == ["c1", "c2", "c3", "c4", "c5", "c6"]
    assert shown("changed") == ["c1", "c2", "c4", "c5", "c6"]
    assert shown("rules") == ["c1", "c4", "c5", "c6"]
    assert "same pool team" in alice.get(f"{base}&show=changed").get_data(as_text=True)
    assert alice.get(f"{base}&show=bogus").status_code == 400


def test_patience_waits_out_429s_and_gives_up_on_a_long_wait():
    waits, slept = [], []
    answers = iter([CRMRateLimited("429 secondly", 1.0), CRMRateLimited("429 secondly", 0.5), "page"])

    def call():
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    patience = Patience(on_wait=lambda s, e: waits.append(s), sleep=slept.append)
    assert patience.call(call) == "page" and slept == [1.0, 0.5] and (patience.waits, patience.waited) == (2, 1.5)
    with pytest.raises(CRMRateLimited):
        Patience(sleep=slept.append).call(lambda: (_ for _ in ()).throw(CRMRateLimited("daily", MAX_WAIT + 1)))


def test_a_long_retry_after_puts_the_simulation_back_for_later(env, fake_world):
    fake, tenant_id, _ = fake_world
    lead(fake, 1, "u1")
    fake.changed_since = lambda *a, **k: (_ for _ in ()).throw(CRMRateLimited("daily limit used up", 3600.0))
    simulate_rules(tenant_id, 1, 10)
    progress = read_progress(tenant_id, 1)
    assert progress["state"] == "waiting" and "starts again at" in progress["notice"]
    scheduled = Queue("maintenance", connection=Redis.from_url(env["REDIS_URL"])).scheduled_job_registry
    assert scheduled.get_job_ids() == [f"simulate-{tenant_id}-1-10-later-2"]
    simulate_rules(tenant_id, 1, 10, 3)  # the last attempt: the admin is told to try later
    assert read_progress(tenant_id, 1)["state"] == "failed"
    assert "kept answering that LeadRelay is over its API limit" in read_progress(tenant_id, 1)["error"]
