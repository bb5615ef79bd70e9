"""Installing into a CRM account whose leads reps already own changes no owner (issue 13, defect 1).

The journey, on each CRM, with a real worker process and the sandbox posting real webhooks to the live app: leads
owned by reps, created moments before the install; the install through OAuth and its backfill; a lead a rep takes
while the admin prepares the rules; a simulation, then "go live" in the console; reps edit every lead; a sweep.
No owner changes and no task is created, while a lead created after going live is routed with its SLA task.
"""
from __future__ import annotations

import pytest
import yaml
from redis import Redis
from rq import Worker
from sqlalchemy import select

from integration.admin.simulate import read_progress
from integration.db import session_scope
from integration.models import Tenant
from tests.crm_helpers import install, new_account
from tests.e2e.conftest import start_worker, stop_worker, wait_for
from tests.e2e.live_stack import PLATFORMS, SANDBOX_OBJECT, LiveStack, Tenancy, point_salesforce_outbound, wired_stack
from tests.team_rules import ANA, BEN, OWNER_FIELD, OWNERS, RULES, USERS

pytestmark = pytest.mark.e2e

TASKS = {"hubspot": "tasks", "salesforce": "Task", "pipedrive": "activities"}
EDIT = {"hubspot": {"jobtitle": "CTO"}, "salesforce": {"Title": "CTO"}, "pipedrive": {"name": "Ada Lovelace-King"}}


class Journey:
    def __init__(self, stack: LiveStack, platform: str, account_id: str) -> None:
        self.stack, self.platform, self.account_id = stack, platform, account_id

    def _get(self, what: str) -> list[dict]:
        return self.stack.control("GET", f"/accounts/{self.account_id}/{what}")["results"]

    def user_ids(self) -> dict[str, str]:
        table, email, key = USERS[self.platform]
        return {str(u[email]).lower(): str(u[key]) for u in self._get(table)}

    def _simulate(self, payload: dict) -> dict:
        return self.stack.control("POST", f"/accounts/{self.account_id}/simulate", json=payload)

    def create_owned(self, n: int, owner_id: str) -> str:
        """A lead a rep creates in the CRM and owns."""
        value = int(owner_id) if self.platform == "pipedrive" else owner_id
        props = {**_person(self.platform, n), OWNER_FIELD[self.platform]: value}
        made = self._simulate({"action": "create", "object_type": SANDBOX_OBJECT[self.platform], "properties": props})
        return str(made.get("id") or made.get("Id") or made.get("data", {}).get("id"))

    def edit(self, lead_id: str) -> None:
        self._simulate({"action": "update", "object_type": SANDBOX_OBJECT[self.platform], "id": lead_id,
                        "properties": EDIT[self.platform]})

    def tasks(self) -> list[dict]:
        return self._get(TASKS[self.platform])

    def settle(self) -> None:
        """Until every webhook is delivered and the worker process has nothing left to do soon."""
        self.stack.wait_webhooks_idle(timeout=60)
        self.stack.wait_idle(timeout=90)


def _person(platform: str, n: int) -> dict:
    first, last, email = "Ada", f"Lovelace{chr(97 + n)}", f"ada.{n}@owned{n}.example"
    if platform == "hubspot":
        return {"firstname": first, "lastname": last, "email": email}
    if platform == "salesforce":
        return {"FirstName": first, "LastName": last, "Email": email, "Company": f"Owned {n}"}
    return {"name": f"{first} {last}", "emails": [{"value": email, "primary": True, "label": "work"}]}


@pytest.mark.parametrize("platform", PLATFORMS)
def test_installing_into_an_account_whose_leads_are_owned_changes_no_owner_and_creates_no_task(
        crm_env, app, live_app, crm_sandbox, monkeypatch, platform):
    app.config["WTF_CSRF_ENABLED"] = False  # the admin's console posts below, without the form's token
    with wired_stack(crm_env, live_app, crm_sandbox, monkeypatch) as stack:
        account = new_account(crm_sandbox, platform, name=f"Owned {platform}", users=OWNERS)
        journey = Journey(stack, platform, account["account_id"])
        users = journey.user_ids()
        owned = [journey.create_owned(n, users[ANA if n % 2 else BEN]) for n in range(4)]  # before the install

        admin = app.test_client()  # the admin's browser: installs, then works in the console
        assert install(admin, crm_sandbox, platform, account["account_id"]).status_code == 302
        with session_scope(crm_env["DATABASE_URL"]) as s:
            tenant_id = s.scalar(select(Tenant.id).where(Tenant.platform == platform))
        stack.tenants[platform] = Tenancy(platform, tenant_id, account["account_id"])
        worker = start_worker(stack.env)
        try:
            wait_for(lambda: Worker.count(connection=Redis.from_url(stack.env["REDIS_URL"])) >= 1
                     or worker.poll() is not None, what="the worker to register")
            journey.settle()  # the install's jobs: grants checked, webhooks subscribed, fields, the backfill
            if platform == "salesforce":
                point_salesforce_outbound(stack)
            owned.append(journey.create_owned(7, users[ANA]))  # a rep's lead while the admin prepares the rules
            journey.settle()
            before = {i: o for i, o in stack.owners_in_crm(platform).items() if i in owned}

            _go_live(admin, tenant_id)  # simulate, then "Go live with version 1"
            for lead_id in owned:
                journey.edit(lead_id)
            journey.settle()
            from integration.intake.sweep import sweep_tenant

            sweep_tenant.enqueue(tenant_id, job_id=f"sweep-{tenant_id}-journey")  # now, not in five minutes
            journey.settle()
            new = stack.create_lead(platform, 1, tag="journey")  # a lead created after going live
            wait_for(lambda: stack.route_decisions(platform), timeout=60, what="the new lead's route decision")
            journey.settle()
        finally:
            log = stop_worker(worker)
        owners = stack.owners_in_crm(platform)
        assert {i: owners[i] for i in owned} == before, "an owner a rep set was changed"
        assert [d.object_id for d in stack.route_decisions(platform)] == [new]
        assert owners[new] == stack.route_decisions(platform)[0].inputs["owner_id"]
        assert len(journey.tasks()) == 1  # the new lead's SLA task; none for the leads reps owned
        assert stack.failed_jobs() == {}, log[-3000:]


def _go_live(admin, tenant_id: int) -> None:
    """The admin saves the rules as a draft, simulates them over the account's leads, and goes live."""
    assert admin.post(f"/console/tenants/{tenant_id}/rules", data={"body": yaml.safe_dump(RULES)}).status_code == 303
    assert admin.post(f"/console/tenants/{tenant_id}/simulate", data={"version": "1", "limit": "50"}).status_code == 303
    done = wait_for(lambda: (read_progress(tenant_id, 1) or {}).get("state") in ("done", "failed"), timeout=60,
                    what="the simulation")
    assert done and read_progress(tenant_id, 1)["state"] == "done", read_progress(tenant_id, 1)
    assert admin.post(f"/console/tenants/{tenant_id}/rules/1/publish", data={"confirm": "yes"}).status_code == 303
