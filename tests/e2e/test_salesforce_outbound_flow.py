"""Salesforce Outbound Messages as a real org sends them, end to end: the sandbox batches the notifications of several
new leads into one SOAP message carrying only the fields the admin selected (Id alone, or the list LeadRelay asks
for); the live app acknowledges it, the pipeline routes every lead in it, and the echo of LeadRelay's own owner
write (another batched message) changes nothing."""
from __future__ import annotations

import pytest
from lxml import etree
from sqlalchemy import select

from integration.db import session_scope
from integration.models import EventRecord
from tests.e2e.conftest import wait_for
from tests.e2e.live_stack import LiveStack, _install_tenant, point_salesforce_outbound, wired_stack

pytestmark = pytest.mark.e2e
WINDOW_MS = 2000  # three simulated UI saves share one message even on a busy machine


def messages(stack: LiveStack) -> list[list[str]]:
    """The record ids of each Outbound Message the app acknowledged (in delivery order)."""
    found = []
    # this test's org only: the sandbox's log is the session's, and an earlier test's org may still be delivering
    # (Outbound Messages retry) to an app on the same URL
    org = stack.tenants["salesforce"].account_id
    for delivery in stack.control("GET", "/webhooks")["deliveries"]:
        if (delivery["platform"] == "salesforce" and delivery["account_id"] == org
                and delivery["url"].startswith(stack.url) and delivery["status"] == 200):
            root = etree.fromstring(delivery["body"].encode())
            found.append(root.xpath("//*[local-name()='sObject']/*[local-name()='Id']/text()"))
    return found


def events(stack: LiveStack) -> list[tuple[str, str]]:
    with session_scope(stack.env["DATABASE_URL"]) as s:
        return [(e.object_id, e.kind) for e in s.scalars(select(EventRecord).order_by(EventRecord.id))]


def writes(stack: LiveStack) -> int:
    return sum(1 for c in stack.calls("salesforce") if c["method"] in ("PATCH", "POST") and "/sobjects" in c["path"])


@pytest.mark.parametrize(("fields", "kind"), [(["Id"], "changed"), (None, "created")],
                         ids=["id-only", "documented-fields"])
def test_one_message_of_three_notifications_routes_all_three_leads(crm_env, app, live_app, crm_sandbox, monkeypatch,
                                                                   fields, kind):
    with wired_stack(crm_env, live_app, crm_sandbox, monkeypatch) as stack:
        stack.tenants["salesforce"] = _install_tenant(stack, app, "salesforce")
        stack.work(["maintenance"])  # the install's jobs: grant checked, webhook key made
        point_salesforce_outbound(stack, **({"fields": fields} if fields else {}))
        stack.configure(outbound_batch_ms=WINDOW_MS)
        leads = [stack.create_lead("salesforce", n, tag="om") for n in range(3)]

        wait_for(lambda: len(events(stack)) == 3, timeout=30, what="the message's three events")
        # the sandbox logs a delivery once it has read the app's answer, which the app sends after storing the
        # events: under load the log can lag the events by a moment
        wait_for(lambda: messages(stack), timeout=10, what="the sandbox's log of the acknowledged message")
        assert messages(stack) == [leads]  # one message, three notifications, one Ack
        assert events(stack) == [(lead, kind) for lead in leads]
        stack.settle()
        decisions = {d.object_id: d for d in stack.route_decisions("salesforce")}
        assert sorted(decisions) == sorted(leads)
        owners = stack.owners_in_crm("salesforce")
        assert {lead: owners[lead] for lead in leads} == {lead: decisions[lead].inputs["owner_id"] for lead in leads}

        written = writes(stack)  # the owners in one sObject Collections call, then the SLA tasks
        wait_for(lambda: len(messages(stack)) == 2, timeout=30, what="the echo of LeadRelay's owner write")
        assert sorted(messages(stack)[1]) == sorted(leads)  # one call's notifications: one message
        stack.settle()
        if fields == ["Id"]:  # no LastModifiedById: stored, read once, found decided and written
            assert len(events(stack)) == 6
        else:  # LastModifiedById is the integration user and the write log knows the write: dropped at intake
            assert len(events(stack)) == 3
        assert writes(stack) == written, "the echo of LeadRelay's own write caused another write"
        assert {d.object_id: d.outcome for d in stack.route_decisions("salesforce")} == {
            lead: decisions[lead].outcome for lead in leads}
        assert stack.failed_jobs() == {}
