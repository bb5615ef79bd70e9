"""A routed hot lead in each CRM: its call task due in 5 minutes, met when done, else manager then reassignment.

The due-time jobs are called directly (as the worker would at their time) instead of waiting minutes.
"""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from integration.db import session_scope
from integration.models import Decision, RuleSetVersion, SlaTimer, Tenant
from integration.sla import check_sla
from integration.sla_escalation import escalate_sla
from tests.crm_helpers import install, new_account
from tests.e2e.test_pipeline_flow import LEAD, LEAD_OBJECT, deliver, record_id, simulate

# The manager comes first: the Salesforce sandbox makes its first user every other user's manager.
USERS = [{"email": "max.manager@leadrelay.test", "name": "Max Manager", "timezone": "America/New_York"},
         {"email": "ana.owner@leadrelay.test", "name": "Ana Owner", "timezone": "America/New_York"},
         {"email": "ben.owner@leadrelay.test", "name": "Ben Owner", "timezone": "Europe/Berlin"}]
MANAGER, ANA, BEN = (u["email"] for u in USERS)
RULES = {
    "version": 1, "timezone": "UTC",
    "owners": [{"email": MANAGER, "manager": True}, {"email": ANA}, {"email": BEN}],
    "pools": {"team": {"strategy": "round_robin", "members": [{"owner": ANA}, {"owner": BEN}]}},
    "routing": [{"name": "Everyone", "when": {"has_email": True}, "assign": {"pool": "team"}}],
    "fallback": {"review": True},
    "scoring": {"rules": [{"when": {"has_email": True}, "points": 70}]},  # every lead with an email is hot
    "sla": {"hot": {"first_touch": "5m", "business_hours": False,
                    "escalate": [{"after": "5m", "action": "notify_manager"}, {"after": "15m", "action": "reassign"}]}},
}


@pytest.fixture()
def routed(crm_env, app, crm_sandbox):
    """A new hot lead in `platform`, delivered and routed: (tenant id, lead id, the SLA timer, the adapter)."""
    def make(platform: str):
        from adapters.factory import build_adapter

        account = new_account(crm_sandbox, platform, name=f"SLA {platform}", users=USERS)
        assert install(app.test_client(), crm_sandbox, platform, account["account_id"]).status_code == 302
        with session_scope(crm_env["DATABASE_URL"]) as s:
            tenant_id = s.scalar(select(Tenant.id))
            s.add(RuleSetVersion(tenant_id=tenant_id, version=1, status="published", body=RULES))
        object_type, properties = LEAD[platform]
        lead_id = record_id(platform, simulate(crm_sandbox, account, {"action": "create", "object_type": object_type,
                                                                      "properties": properties}))
        deliver(crm_env, tenant_id, platform, LEAD_OBJECT[platform], lead_id)
        deliver(crm_env, tenant_id, platform, LEAD_OBJECT[platform], lead_id, n=1)  # the webhook, replayed
        with session_scope(crm_env["DATABASE_URL"]) as s:
            timers = s.scalars(select(SlaTimer)).all()
            assert len(timers) == 1, s.scalars(select(Decision.reason)).all()
        return tenant_id, lead_id, timers[0], build_adapter(tenant_id)
    return make


def users_by_email(adapter) -> dict[str, str]:
    return {u.email.lower(): u.id for u in adapter.list_users()}


def sla_outcomes(env) -> list[str]:
    with session_scope(env["DATABASE_URL"]) as s:
        return list(s.scalars(select(Decision.outcome).where(Decision.kind == "sla").order_by(Decision.id)))


PLATFORMS = ["hubspot", "salesforce", "pipedrive"]


@pytest.mark.parametrize("platform", PLATFORMS)
def test_a_hot_lead_gets_a_call_task_due_in_5_minutes_and_completing_it_meets_the_sla(routed, crm_env, platform):
    tenant_id, lead_id, timer, adapter = routed(platform)
    assert timer.due_at - timer.created_at == dt.timedelta(minutes=5)
    task = adapter.get_task(timer.task_id)
    assert task is not None and not task.done and task.owner_id == timer.owner_id
    if platform == "salesforce":  # ActivityDate has no time of day
        assert task.due_at.date() == timer.due_at.astimezone(dt.UTC).date()
    else:
        assert abs(task.due_at - timer.due_at) < dt.timedelta(minutes=1)
    assert adapter.get_record(LEAD_OBJECT[platform], lead_id).owner_id == timer.owner_id

    adapter.complete_task(timer.task_id)
    due = int(timer.due_at.timestamp())
    assert check_sla(tenant_id, timer.id, due) == "met"
    assert check_sla(tenant_id, timer.id, due) == "stale"  # a retried job changes nothing
    assert sla_outcomes(crm_env) == ["task_created", "met"]


@pytest.mark.parametrize("platform", PLATFORMS)
def test_an_untouched_hot_lead_escalates_to_the_manager_then_is_reassigned(routed, crm_env, platform):
    tenant_id, lead_id, timer, adapter = routed(platform)
    ids = users_by_email(adapter)
    first_owner = next(email for email, uid in ids.items() if uid == timer.owner_id)
    other = BEN if first_owner == ANA else ANA

    assert check_sla(tenant_id, timer.id, int(timer.due_at.timestamp())) == "breached"
    assert escalate_sla(tenant_id, timer.id, 0) == "notified"
    assert escalate_sla(tenant_id, timer.id, 0) == "stale"
    with session_scope(crm_env["DATABASE_URL"]) as s:
        notified = s.scalar(select(Decision).where(Decision.outcome == "notify_manager"))
    manager_task = adapter.get_task(notified.inputs["task_id"])
    assert manager_task.owner_id == ids[MANAGER] and not manager_task.done

    assert escalate_sla(tenant_id, timer.id, 1) == "reassigned"
    assert escalate_sla(tenant_id, timer.id, 1) == "stale"
    assert adapter.get_record(LEAD_OBJECT[platform], lead_id).owner_id == ids[other]
    assert adapter.get_task(timer.task_id).done  # the old task, closed with a note
    with session_scope(crm_env["DATABASE_URL"]) as s:
        new = s.scalars(select(SlaTimer).order_by(SlaTimer.id)).all()[-1]
    assert (new.owner_id, new.status) == (ids[other], "pending")
    assert adapter.get_task(new.task_id).owner_id == ids[other]
    assert sla_outcomes(crm_env) == ["task_created", "breached", "notify_manager", "reassigned", "task_created"]
