"""Issue #20's handoff end to end on each CRM (real worker process, live app, sandbox in its realistic profile):
a pricing question in a reply gives the owner a high-priority task and pauses the cadence; an opt-out reply marks the
record do-not-contact in the CRM and stops everything; a referral is never messaged and its owner gets the rule's
task; a texted STOP through the Twilio emulator to the tenant's webhook stops messages to the lead.

Replies are read from the CRM by the `read_inbound` job, every LEADRELAY_INBOUND_INTERVAL (3 s here) seconds.
One installed tenant per CRM serves every case of the test.
"""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from integration.db import session_scope
from integration.models import SlaTimer, Tenant
from tests.e2e.conftest import wait_for
from tests.e2e.live_stack import LEAD_OBJECT, SANDBOX_OBJECT
from tests.e2e.test_first_response_flow import OWNERS, PLATFORMS, Outreach, e164, outreach_fixture, rules  # noqa: F401

pytestmark = pytest.mark.e2e
PRICING, OPT_OUT, REFERRAL = "Pricing question", "Opt-out", "Referral"
HANDOFF = [
    {"name": OPT_OUT, "trigger": "reply", "when": {"opt_out": True}, "actions": ["do_not_contact"]},
    {"name": PRICING, "trigger": "reply", "when": {"phrases": ["price", "pricing", "quote"]},
     "actions": ["notify_owner", "pause_cadence"], "within": "30m", "say": "Pricing question: call back"},
    {"name": REFERRAL, "trigger": "new_lead", "when": {"source": ["referral"]},
     "actions": ["skip_automation", "notify_owner"], "within": "2h", "say": "Referral: take it personally"},
]
CADENCES = {"hot": [{"after": "1d", "task": "email"}, {"after": "3d", "task": "call"}], "pause_on": ["reply"]}
TASKS = {"hubspot": "tasks", "salesforce": "Task", "pipedrive": "activities"}


def reply(o: Outreach, lead_id: str, text: str) -> None:
    """The lead answers the acknowledgment by email; the CRM's inbox sync logs it on the record."""
    o.stack.simulate(o.platform, {"action": "reply", "object_type": SANDBOX_OBJECT[o.platform], "id": lead_id,
                                  "properties": {"subject": "Re: Thanks for your request, Grace", "text": text}})


def handoff_outcomes(o: Outreach, lead_id: str) -> list[str]:
    return [d.outcome for d in o.decisions("handoff", lead_id)]


def owner_tasks(o: Outreach, lead_id: str, headline: str) -> list[dict]:
    return o.rows_about(TASKS[o.platform], lead_id, headline)


def due_of(platform: str, task: dict) -> dt.datetime:
    """The task's due time as each CRM keeps it (Salesforce's ActivityDate has no time of day: end of that day)."""
    if platform == "hubspot":
        raw = task["properties"]["hs_timestamp"]
        return (dt.datetime.fromtimestamp(int(raw) / 1000, dt.UTC) if str(raw).isdigit()
                else dt.datetime.fromisoformat(str(raw).replace("Z", "+00:00")))
    if platform == "salesforce":
        day = dt.date.fromisoformat(task["ActivityDate"])
        return dt.datetime.combine(day, dt.time(23, 59, 59), dt.UTC)
    when = f"{task['due_date']}T{task.get('due_time') or '23:59'}"
    return dt.datetime.fromisoformat(when).replace(tzinfo=dt.UTC)


def high_priority(platform: str, task: dict) -> bool | None:
    """None where LeadRelay writes no priority: Pipedrive's activities carry none the adapter sets (its
    create_task sends subject, type, due, owner and note), so the due time is what makes it urgent there."""
    if platform == "hubspot":
        return task["properties"].get("hs_task_priority") == "HIGH"
    if platform == "salesforce":
        return task.get("Priority") == "High"
    return None


def opted_out(record) -> bool:
    """email_opt_out as the adapter reads it back: a bool on every CRM."""
    return record.fields.get("email_opt_out") is True


def meet_sla_and_try_the_cadence(o: Outreach, lead_id: str) -> list[SlaTimer]:
    """The owner touches the lead (the SLA task done), the SLA check runs as the worker would at the due time; the
    lead's cadence rows after that."""
    from adapters.factory import build_adapter
    from integration.followup.sla import check_sla

    timer = o.timer(lead_id)
    build_adapter(o.tenant_id).complete_task(timer.task_id)
    outcome = check_sla(o.tenant_id, timer.id, int(timer.due_at.timestamp()))
    if outcome == "rechecking":  # HubSpot's lagging search: the second look, at once
        outcome = check_sla(o.tenant_id, timer.id, int(timer.due_at.timestamp()), True)
    assert outcome == "met", outcome
    with session_scope(o.db) as s:
        rows = s.scalars(select(SlaTimer).where(SlaTimer.tenant_id == o.tenant_id, SlaTimer.object_id == lead_id,
                                                SlaTimer.policy.startswith("cadence:"))).all()
        s.expunge_all()
        return list(rows)


def start_reading_replies(o: Outreach) -> None:
    """The tenant's sweep now rather than in minutes: it plans the replies' reader (the rules have reply rules)."""
    from integration.intake.sweep import sweep_tenant

    sweep_tenant.enqueue(o.tenant_id, job_id=f"sweep-{o.tenant_id}-handoff")


@pytest.mark.parametrize("platform", PLATFORMS)
def test_replies_referrals_and_a_texted_stop_hand_the_lead_to_a_human(outreach, platform):
    o = outreach(platform, rules(handoff=HANDOFF, cadences=CADENCES), horizon=1,
                 LEADRELAY_INBOUND_INTERVAL="3")
    start_reading_replies(o)

    # 3. a pricing question: the owner's high-priority task due within the rule's 30 minutes, the cadence paused
    asking, _ = o.create_lead(0, "price")
    assert o.settled_outbound(asking)["email"].status == "sent"
    asked_at = dt.datetime.now(dt.UTC)
    reply(o, asking, "Thanks! What is your pricing for 50 seats? I need a quote this week.")
    wait_for(lambda: o.holds(asking) == {"paused"}, timeout=60, what="the pricing reply's hold")
    assert handoff_outcomes(o, asking) == ["notify_owner", "pause_cadence"]
    [task] = wait_for(lambda: owner_tasks(o, asking, "Pricing question: call back"), timeout=30,
                      what="the owner's pricing task")
    assert high_priority(platform, task) in (True, None), task
    due = due_of(platform, task)
    if platform == "salesforce":  # a date only: due today (or tomorrow, past midnight UTC)
        assert asked_at.date() <= due.date() <= (asked_at + dt.timedelta(minutes=30)).date()
    else:
        assert asked_at - dt.timedelta(minutes=1) <= due <= asked_at + dt.timedelta(minutes=31), (asked_at, due)
    assert "pricing" in str(task).lower()  # the lead's words quoted for the owner
    assert meet_sla_and_try_the_cadence(o, asking) == []  # no cadence step for a paused lead

    # 4. an opt-out reply: do-not-contact in the CRM, everything stopped
    leaving, _ = o.create_lead(1, "leave")
    assert o.settled_outbound(leaving)["email"].status == "sent"
    reply(o, leaving, "Please unsubscribe me.")
    # the action's audit row is claimed before the CRM is written: its holds come last
    wait_for(lambda: {"stop", "do_not_contact"} <= o.holds(leaving), timeout=60, what="the opt-out's holds")
    assert handoff_outcomes(o, leaving) == ["do_not_contact"]
    from adapters.factory import build_adapter

    # LeadRelay's holds come first, the CRM's mark right after them (handoff._do_not_contact)
    wait_for(lambda: opted_out(build_adapter(o.tenant_id).get_record(LEAD_OBJECT[platform], leaving)), timeout=30,
             what="the CRM's do-not-contact mark")
    assert meet_sla_and_try_the_cadence(o, leaving) == []
    assert len(o.mail("grace.leave.1@navy1leave.example")) == 1  # the acknowledgment only

    # 5. a referral from a web form: never messaged, its owner gets the rule's task
    public_id = o.post_form({"first_name": "Grace", "last_name": "Referredhopper", "email": "grace.ref@navyref.example",
                             "phone": "+49 151 2345 6795", "company": "Navy", "source": "referral",
                             "consent": "yes"})
    referred = o.form_record(public_id)
    rows = o.settled_outbound(referred)
    assert {(r.channel, r.status, r.reason) for r in rows.values()} == {
        ("email", "skipped", "automation_hold"), ("sms", "skipped", "automation_hold")}
    assert o.mail("grace.ref@navyref.example") == [] and o.texts("+4915123456795") == []
    wait_for(lambda: owner_tasks(o, referred, "Referral: take it personally"), timeout=30,
             what="the referral's owner task")
    assert "skip_automation" in o.holds(referred)
    if platform == "salesforce":  # the CRM's own lead source, set by a rep
        partner, _ = o.create_lead(6, "partner", LeadSource="Employee Referral")
        rows = o.settled_outbound(partner)
        assert {r.reason for r in rows.values()} == {"automation_hold"}, [r.detail for r in rows.values()]
        assert o.mail("grace.partner.6@navy6partner.example") == []

    # 6. STOP texted to the tenant's number, posted by the Twilio emulator to the tenant's webhook
    texting, _ = o.create_lead(4, "stop")
    assert o.settled_outbound(texting)["sms"].status == "sent"
    with session_scope(o.db) as s:
        key = s.get(Tenant, o.tenant_id).settings["senders"]["sms"]["inbound_key"]
    twilio = o.stack.tenants[platform].twilio
    answer = o.stack.control("POST", "/twilio/inbound", json={
        "from": e164(4), "to": twilio["from_number"], "body": "STOP",
        "url": f"{o.stack.url}/webhooks/sms/{o.tenant_id}/{key}"})
    assert answer["status"] == 200, answer
    wait_for(lambda: "do_not_contact" in o.holds(texting), timeout=60, what="the STOP's hold")
    # LeadRelay's holds come first, the CRM's mark right after them (handoff._do_not_contact)
    wait_for(lambda: opted_out(build_adapter(o.tenant_id).get_record(LEAD_OBJECT[platform], texting)), timeout=30,
             what="the CRM's do-not-contact mark")
    assert meet_sla_and_try_the_cadence(o, texting) == []
    texts_before = len(o.texts(e164(4)))
    from integration.outreach.firstresponse import send_first_response

    send_first_response.enqueue(o.tenant_id, LEAD_OBJECT[platform], texting, job_id=f"ack-again-{texting}")
    o.settle()
    assert len(o.texts(e164(4))) == texts_before
