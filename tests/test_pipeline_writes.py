"""Write-back in batches (pipeline_writes) with the in-memory FakeCRMAdapter: one owner write and one task write
per drain batch, per-record refusals to review, a rate limit finished by the retry without routing again."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from integration.db import session_scope
from integration.errors import CRMRateLimited, CRMRecordRefused, CRMValidationError
from integration.models import Decision, ReviewItem, RuleSetVersion, SlaTimer
from integration.pipeline.flow import process_records
from integration.records import CRMUser
from tests.fakes import FakeFollowUpCRM, tenant_with_rules

ANA, BEN, CY = "ana@acme.test", "ben@acme.test", "cy@acme.test"
RULES = {
    "version": 1, "timezone": "UTC",
    "owners": [{"email": ANA}, {"email": BEN}, {"email": CY}],
    "pools": {"team": {"strategy": "round_robin", "members": [{"owner": e} for e in (ANA, BEN, CY)]}},
    "routing": [{"name": "Everyone", "when": {"has_email": True}, "assign": {"pool": "team"}}],
    "fallback": {"review": True},
    "sla": {"hot": {"first_touch": "5m"}, "warm": {"first_touch": "4h"}, "nurture": {"first_touch": "2d"}},
}


@pytest.fixture()
def crm(app, env, wire_adapters):
    fake = FakeFollowUpCRM()
    fake.users = [CRMUser(id=f"u{n}", email=e, name=e.split("@")[0]) for n, e in enumerate((ANA, BEN, CY), 1)]
    people = ["Ada Lovelace", "Alan Turing", "Grace Hopper", "Edsger Dijkstra", "Barbara Liskov", "Donald Knuth"]
    for n, name in enumerate(people, 1):
        first, last = name.split()
        fake.put("contact", f"c{n}", email=f"{first}.{last}@example.com".lower(), first_name=first, last_name=last)
    wire_adapters(lambda _tenant_id: fake)
    tenant_with_rules(env["DATABASE_URL"], fake, RULES)
    return fake


def run(env, fake, ids: list[str]) -> None:
    """What the drain does with one batch of changed contacts."""
    with session_scope(env["DATABASE_URL"]) as s:
        process_records(s, fake.tenant_id, fake, "contact", [fake.records[("contact", i)] for i in ids], gone=[])


def owners(fake, ids: list[str]) -> list[str | None]:
    return [fake.records[("contact", i)].owner_id for i in ids]


def test_a_batch_of_leads_costs_one_owner_write_and_one_task_write(crm, env):
    ids = [f"c{n}" for n in range(1, 7)]
    run(env, crm, ids)
    assert owners(crm, ids) == ["u1", "u2", "u3", "u1", "u2", "u3"]  # round-robin in arrival order
    assert crm.records[("contact", "c1")].fields["leadrelay_rule"] == "Everyone"
    assert (crm.calls["set_owners"], crm.calls["create_tasks"]) == (1, 1)
    assert (crm.calls["set_owner"], crm.calls["create_task"]) == (0, 0)
    assert sorted(t.owner_id for t in crm.tasks.values()) == ["u1", "u1", "u2", "u2", "u3", "u3"]
    with session_scope(env["DATABASE_URL"]) as s:
        assert len(s.scalars(select(SlaTimer).where(SlaTimer.task_id.is_not(None))).all()) == 6
        assert all(d.inputs.get("written_at") for d in s.scalars(select(Decision).where(Decision.kind == "route")))


def test_a_replayed_batch_writes_nothing_again(crm, env):
    run(env, crm, ["c1", "c2"])
    run(env, crm, ["c1", "c2"])
    assert (crm.calls["set_owners"], crm.calls["create_tasks"], len(crm.tasks)) == (1, 1, 2)


def test_a_record_the_batch_refuses_is_written_alone_without_the_refused_fields(crm, env):
    real = crm.set_owners
    crm.set_owners = lambda object_type, writes: {
        **real(object_type, writes), "c2": CRMValidationError("Property leadrelay_reason is too long")}
    refused_fields = crm.set_owner

    def owner_only(object_type, record_id, owner_id, fields=None):
        if fields:
            raise CRMValidationError("Property leadrelay_reason is too long")
        refused_fields(object_type, record_id, owner_id)

    crm.set_owner = owner_only
    run(env, crm, ["c1", "c2", "c3"])
    assert owners(crm, ["c1", "c2", "c3"]) == ["u1", "u2", "u3"]
    with session_scope(env["DATABASE_URL"]) as s:
        c2 = s.scalar(select(Decision).where(Decision.object_id == "c2", Decision.kind == "route"))
        assert "too long" in c2.inputs["fields_error"] and c2.inputs["written_at"]
    assert len(crm.tasks) == 3


def test_a_record_the_crm_refuses_whatever_is_written_goes_to_review_once_and_is_not_retried_alone(crm, env):
    """A refusal about the record itself (CRMRecordRefused, e.g. a Salesforce duplicate rule that blocks): no write
    of the owner alone after it, one open review item with the CRM's words, tried again only when the lead changes."""
    refusal = CRMRecordRefused("DUPLICATES_DETECTED: Use one of these records? (duplicate rule R matched c9)")
    real_many, real_one = crm.set_owners, crm.set_owner
    crm.set_owners = lambda object_type, writes: {
        **real_many(object_type, [w for w in writes if w.record_id != "c2"]), "c2": refusal}

    def refuse_c2(object_type, record_id, owner_id, fields=None):
        if record_id == "c2":
            crm.calls["c2 refused"] += 1
            raise refusal
        real_one(object_type, record_id, owner_id, fields)

    crm.set_owner = refuse_c2
    run(env, crm, ["c1", "c2"])
    run(env, crm, ["c2"])  # a later change of the lead brings the write back once
    assert owners(crm, ["c1", "c2"]) == ["u1", None] and crm.calls["c2 refused"] == 2
    with session_scope(env["DATABASE_URL"]) as s:
        items = s.scalars(select(ReviewItem).where(ReviewItem.status == "open")).all()
        assert [(i.kind, i.object_id, i.reason) for i in items] == [("crm_error", "c2", f"CRMRecordRefused: {refusal}")]
        c2 = s.scalar(select(Decision).where(Decision.object_id == "c2", Decision.kind == "route"))
        assert c2.outcome == BEN and "written_at" not in c2.inputs and "fields_error" not in c2.inputs
    assert [t.owner_id for t in crm.tasks.values()] == ["u1"]  # c1's SLA task; none for an owner not written


def test_a_record_deleted_before_the_write_goes_to_review_and_the_others_are_written(crm, env):
    real = crm.set_owners

    def deleted_meanwhile(object_type, writes):
        crm.records.pop(("contact", "c2"), None)
        return real(object_type, writes)

    crm.set_owners = deleted_meanwhile
    run(env, crm, ["c1", "c2", "c3"])
    assert [crm.records[("contact", i)].owner_id for i in ("c1", "c3")] == ["u1", "u3"]
    with session_scope(env["DATABASE_URL"]) as s:
        review = s.scalars(select(ReviewItem)).all()
        assert [(r.kind, r.object_id) for r in review] == [("crm_error", "c2")]
    assert sorted(t.owner_id for t in crm.tasks.values()) == ["u1", "u3"]


def test_a_rate_limited_write_is_finished_by_the_retry_without_routing_again(crm, env):
    ids = ["c1", "c2"]
    real = crm.set_owners
    crm.set_owners = lambda object_type, writes: {w.record_id: CRMRateLimited("429", retry_after=2) for w in writes}
    with pytest.raises(CRMRateLimited):
        run(env, crm, ids)
    assert owners(crm, ids) == [None, None] and crm.tasks == {}
    crm.set_owners = real
    run(env, crm, ids)  # the drain's retry after Retry-After
    assert owners(crm, ids) == ["u1", "u2"]  # the decisions made before the 429, not a second round
    run(env, crm, ["c3"])
    assert owners(crm, ["c3"]) == ["u3"]  # the pointer moved twice, not four times
    assert len(crm.tasks) == 3


def test_tasks_the_crm_rate_limits_are_created_later_by_their_own_job(crm, env):
    from integration.followup.sla import open_sla_task

    crm.create_tasks = lambda specs: [CRMRateLimited("429", retry_after=1)] * len(specs)
    run(env, crm, ["c1", "c2"])
    assert owners(crm, ["c1", "c2"]) == ["u1", "u2"] and crm.tasks == {}
    assert [open_sla_task(crm.tenant_id, "contact", i) for i in ("c1", "c2")] == ["created", "created"]
    assert sorted(t.owner_id for t in crm.tasks.values()) == ["u1", "u2"]


def test_a_duplicate_within_the_batch_is_merged_into_its_twin_which_keeps_its_owner(crm, env):
    crm.put("contact", "c7", email="ada.lovelace@example.com", first_name="Ada", last_name="Lovelace")
    run(env, crm, ["c1", "c2", "c7"])
    assert ("contact", "c7") not in crm.records and crm.calls["merge"] == 1
    assert owners(crm, ["c1", "c2"]) == ["u1", "u2"]
    with session_scope(env["DATABASE_URL"]) as s:
        # the decision keeps its key; it follows the lead onto the record it was merged into
        c7 = s.scalar(select(Decision).where(Decision.idempotency_key == "route:contact:c7"))
        assert (c7.object_id, c7.outcome, c7.reason) == ("c1", "merged", "Duplicate of c1: stays with its owner")
    assert len(crm.tasks) == 2


def test_a_new_lead_that_survives_the_merge_keeps_the_owner_of_its_twin(crm, env):
    with session_scope(env["DATABASE_URL"]) as s:
        s.add(RuleSetVersion(tenant_id=crm.tenant_id, version=2, status="published",
                             body={**RULES, "dedup": {"keep": "most_complete"}}))
        s.execute(RuleSetVersion.__table__.update().where(RuleSetVersion.version == 1).values(status="archived"))
    run(env, crm, ["c1"])
    crm.put("contact", "c7", email="ada.lovelace@example.com", first_name="Ada", last_name="Lovelace",
            phone="+44 20 7946 0018", company="Analytical Engines Ltd", city="London", postcode="W1A 1AA",
            country="GB", title="Analyst", website="engines.example", lifecycle_stage="lead")
    run(env, crm, ["c7"])
    assert ("contact", "c1") not in crm.records and owners(crm, ["c7"]) == ["u1"]
    run(env, crm, ["c2"])
    assert owners(crm, ["c2"]) == ["u2"]  # the merge took no turn from the pool
    with session_scope(env["DATABASE_URL"]) as s:
        c7 = s.scalar(select(Decision).where(Decision.idempotency_key == "route:contact:c7"))
        assert (c7.outcome, c7.reason) == (ANA, f"Duplicate merged into this lead: stays with its owner {ANA}")
        # c1's own decision followed it onto c7 under its own key
        c1 = s.scalar(select(Decision).where(Decision.idempotency_key == "route:contact:c1"))
        assert (c1.object_id, c1.outcome) == ("c7", ANA)
    assert sorted(t.owner_id for t in crm.tasks.values()) == ["u1", "u2"]  # no second task for the same person


def test_a_kept_owner_whose_write_was_interrupted_gets_no_sla_task_when_the_retry_finishes_it(crm, env):
    """The new lead survived a merge and keeps its twin's owner (no new SLA clock); a 429 on the owner write leaves
    the decision unwritten, and the drain's retry finishes the write — still without a task."""
    with session_scope(env["DATABASE_URL"]) as s:
        s.execute(RuleSetVersion.__table__.update().values(body={
            **RULES, "dedup": {"keep": "most_complete"},  # every lead hot: the default tier would hide a second clock
            "scoring": {"rules": [{"when": {"has_email": True}, "points": 100}], "tiers": {"hot": 60, "warm": 30}}}))
    run(env, crm, ["c1"])
    crm.put("contact", "c7", email="ada.lovelace@example.com", first_name="Ada", last_name="Lovelace",
            phone="+44 20 7946 0018", company="Analytical Engines Ltd", city="London", postcode="W1A 1AA",
            country="GB", title="Analyst", website="engines.example", lifecycle_stage="lead")
    real = crm.set_owners
    crm.set_owners = lambda object_type, writes: {w.record_id: CRMRateLimited("429", retry_after=2) for w in writes}
    with pytest.raises(CRMRateLimited):
        run(env, crm, ["c7"])
    crm.set_owners = real
    run(env, crm, ["c7"])  # the drain's retry
    assert owners(crm, ["c7"]) == ["u1"]
    assert sorted(t.owner_id for t in crm.tasks.values()) == ["u1"]  # c1's task only: no second one for Ana


def test_the_account_owner_rule_looks_the_batchs_companies_up_in_one_call(crm, env):
    from integration.records import Company

    rules = {**RULES, "routing": [{"name": "Account owner", "when": {"account_owner": True}, "assign": "account_owner"},
                                  *RULES["routing"]]}
    with session_scope(env["DATABASE_URL"]) as s:
        s.execute(RuleSetVersion.__table__.update().values(body=rules))
    crm.companies["example.com"] = Company(id="org1", name="Example", domain="example.com", owner_id="u3")
    crm.put("contact", "c8", email="kay@elsewhere.example", first_name="Kay", last_name="Sparck")
    run(env, crm, ["c1", "c2", "c8"])
    assert owners(crm, ["c1", "c2", "c8"]) == ["u3", "u3", "u1"]  # c8's domain has no company: the pool
    assert (crm.calls["find_companies"], crm.calls["find_company"]) == (1, 0)
    run(env, crm, ["c1", "c2"])  # a replay: decided leads cost no lookup
    crm.put("contact", "c9", email="lin@example.com", first_name="Lin", last_name="Ostrom")
    crm.put("contact", "c10", email="ada@elsewhere.example", first_name="Ada", last_name="Yonath")
    run(env, crm, ["c9", "c10"])  # the next batch: both domains' answers are remembered (in Redis, for every worker)
    assert owners(crm, ["c9", "c10"]) == ["u3", "u2"]
    assert (crm.calls["find_companies"], crm.calls["find_company"]) == (1, 0)
