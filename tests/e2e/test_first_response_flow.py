"""Issue #20's first response end to end on each CRM: a real worker process, the app live on a loopback port, the
sandbox (realistic profile) posting real webhooks, its SMTP server and Twilio emulator as the senders.

One installed tenant per CRM serves every case of the test (installs are the slow part): a lead created in the CRM
and one from a web form get their acknowledgment (email with Reply-To the owner, SMS) within 60 s, logged on the
record and named in the owner's SLA task; an opted-out lead gets no email; a lead inside the quiet hours no text.
"""
from __future__ import annotations

import datetime as dt
import json
import time
from zoneinfo import ZoneInfo

import pytest
from redis import Redis
from rq import Worker
from sqlalchemy import func, select

from integration.db import session_scope
from integration.models import Decision, RuleSetVersion, SlaTimer, Tenant
from integration.models.outreach import AutomationHold, OutboundMessage
from integration.pipeline.new_leads import SKEW
from marketplace import intake_keys
from tests.crm_helpers import install, new_account
from tests.e2e.conftest import start_worker, stop_worker, wait_for
from tests.e2e.live_stack import SANDBOX_OBJECT, LiveStack, Tenancy, point_salesforce_outbound, wired_stack

pytestmark = pytest.mark.e2e
PLATFORMS = ["hubspot", "salesforce", "pipedrive"]
ZONE = "Europe/Berlin"  # the rules' zone and the leads' (German mobiles): the quiet hours are read in it
OWNERS = [{"email": "ana.owner@leadrelay.test", "name": "Ana Owner", "timezone": ZONE},
          {"email": "ben.owner@leadrelay.test", "name": "Ben Owner", "timezone": ZONE}]
TEMPLATE = {"subject": "Thanks for your request, {first_name}",
            "body": "Hello {first_name},\n\n{owner_name} of {tenant_name} will call you today.\n",
            "sms": "Hi {first_name}, thanks for your request: {owner_first_name} will call you today."}


def quiet_window(inside: bool) -> str:
    """Quiet hours around now in the leads' zone (inside) or well away from now (not inside)."""
    hour = dt.datetime.now(ZoneInfo(ZONE)).hour
    start, end = ((hour - 1) % 24, (hour + 2) % 24) if inside else ((hour + 4) % 24, (hour + 6) % 24)
    return f"{start:02d}:00-{end:02d}:00"


def rules(quiet_inside: bool = False, **extra) -> dict:
    return {
        "version": 1, "timezone": ZONE,
        "owners": [{"email": o["email"], "timezone": ZONE} for o in OWNERS],
        "pools": {"team": {"strategy": "round_robin", "members": [{"owner": o["email"]} for o in OWNERS]}},
        "routing": [{"name": "Everyone", "when": {"has_email": True}, "assign": {"pool": "team"}}],
        "fallback": {"review": True},
        "scoring": {"rules": [{"when": {"has_email": True}, "points": 70}]},  # every lead with an email is hot
        "sla": {"hot": {"first_touch": "1h", "business_hours": False}},
        "first_response": {"hot": {"channels": ["email", "sms"], "template": "ack", "consent": "any"},
                           "basis": "legitimate interest (the lead asked to be contacted)",
                           "quiet_hours": quiet_window(quiet_inside), "templates": {"ack": {"en": TEMPLATE}}},
        **extra,
    }


def person(platform: str, n: int, tag: str, **extra) -> dict:
    """A distinct lead in the platform's own field names: a German mobile, its own email and name."""
    first, last = "Grace", f"Hopper{chr(97 + n)}{tag.capitalize()}"
    email, phone = f"grace.{tag}.{n}@navy{n}{tag}.example", f"+49 151 2345 {6700 + n}"
    if platform == "hubspot":
        return {"firstname": first, "lastname": last, "email": email, "phone": phone, **extra}
    if platform == "salesforce":
        return {"FirstName": first, "LastName": last, "Email": email, "Phone": phone, "Company": f"Navy {n}", **extra}
    return {"name": f"{first} {last}", "emails": [{"value": email, "primary": True, "label": "work"}],
            "phones": [{"value": phone, "primary": True, "label": "mobile"}], **extra}


def _values(node) -> set[str]:
    """Every scalar in a JSON row, as text (ids nest differently in each CRM's rows)."""
    if isinstance(node, dict):
        return set().union(*(_values(v) for v in node.values())) if node else set()
    if isinstance(node, list):
        return set().union(*(_values(v) for v in node)) if node else set()
    return {str(node)}


def e164(n: int) -> str:
    return f"+491512345{6700 + n}"


class Outreach:
    """One CRM's tenant on the live stack, its worker process running, and what the tests read back."""

    def __init__(self, stack: LiveStack, platform: str, app, horizon: float = 5) -> None:
        # jobs due within `horizon` seconds keep the worker "busy" (a periodic job's interval must be longer)
        self.stack, self.platform, self.app, self.horizon = stack, platform, app, horizon
        self.db = stack.env["DATABASE_URL"]

    @property
    def tenant_id(self) -> int:
        return self.stack.tenants[self.platform].tenant_id

    # the sandbox ---------------------------------------------------------------------------------------
    def rows(self, table: str) -> list[dict]:
        account = self.stack.tenants[self.platform].account_id
        return self.stack.control("GET", f"/accounts/{account}/{table}")["results"]

    def rows_about(self, table: str, lead_id: str, *words: str) -> list[dict]:
        """Rows of the sandbox table that name the lead's id and every word (as a rep would find them on it)."""
        return [row for row in self.rows(table) if lead_id in _values(row) and all(w in json.dumps(row) for w in words)]

    def mail(self, to: str) -> list[dict]:
        return self.stack.control("GET", "/mail", params={"to": to})["messages"]

    def texts(self, to: str) -> list[dict]:
        """The texts this tenant's Twilio number sent to `to` (the sandbox outlives the test)."""
        ours = self.stack.tenants[self.platform].twilio["from_number"]
        return [m for m in self.stack.control("GET", "/twilio/messages", params={"to": to})["messages"]
                if m["from"] == ours]

    def create_lead(self, n: int, tag: str, **extra) -> tuple[str, float]:
        """A lead created in the CRM's UI (its webhook goes to the live app); (its id, when)."""
        at = time.time()
        made = self.stack.simulate(self.platform, {"action": "create", "object_type": SANDBOX_OBJECT[self.platform],
                                                   "properties": person(self.platform, n, tag, **extra)})
        return str(made.get("id") or made.get("Id") or made.get("data", {}).get("id")), at

    def post_form(self, fields: dict) -> str:
        """A web form's post to the intake endpoint; the submission's public id."""
        with session_scope(self.db) as s:
            key = intake_keys.reveal(intake_keys.ensure_key(s, self.tenant_id)).key
        answer = self.app.test_client().post(f"/intake/v1/{key}/submissions", json=fields)
        assert answer.status_code == 202, answer.get_data(as_text=True)
        return answer.get_json()["submission_id"]

    def form_record(self, public_id: str, timeout: float = 60) -> str:
        from integration.models.capture import IntakeSubmission

        def done():
            with session_scope(self.db) as s:
                sub = s.scalar(select(IntakeSubmission).where(IntakeSubmission.public_id == public_id))
                return sub.record_id if sub is not None and sub.status != "accepted" else None
        return wait_for(done, timeout=timeout, what="the form's record")

    # LeadRelay's side --------------------------------------------------------------------------------
    def outbound(self, lead_id: str) -> dict[str, OutboundMessage]:
        with session_scope(self.db) as s:
            rows = s.scalars(select(OutboundMessage).where(OutboundMessage.tenant_id == self.tenant_id,
                                                           OutboundMessage.object_id == lead_id)).all()
            s.expunge_all()
            return {r.channel: r for r in rows}

    def settled_outbound(self, lead_id: str, channels=("email", "sms"), timeout: float = 60) -> dict:
        """The lead's outbox rows once each channel is decided (sent, skipped or failed) and logged."""
        def done():
            rows = self.outbound(lead_id)
            if set(rows) != set(channels) or any(r.status == "sending" for r in rows.values()):
                return None
            if any(r.status == "sent" and r.crm_log_id is None for r in rows.values()):
                return None
            return rows
        return wait_for(done, timeout=timeout, what=f"the acknowledgment of {lead_id}")

    def holds(self, lead_id: str) -> set[str]:
        with session_scope(self.db) as s:
            return set(s.scalars(select(AutomationHold.kind).where(AutomationHold.tenant_id == self.tenant_id,
                                                                   AutomationHold.object_id == lead_id)))

    def timer(self, lead_id: str) -> SlaTimer | None:
        with session_scope(self.db) as s:
            row = s.scalar(select(SlaTimer).where(SlaTimer.tenant_id == self.tenant_id,
                                                  SlaTimer.object_id == lead_id, SlaTimer.task_id.is_not(None)))
            if row is not None:
                s.expunge(row)
            return row

    def decisions(self, kind: str, lead_id: str | None = None) -> list[Decision]:
        with session_scope(self.db) as s:
            query = select(Decision).where(Decision.tenant_id == self.tenant_id, Decision.kind == kind)
            if lead_id is not None:
                query = query.where(Decision.object_id == lead_id)
            rows = s.scalars(query.order_by(Decision.id)).all()
            s.expunge_all()
            return list(rows)

    def skipped_counts(self) -> dict[str, int]:
        """Skips by reason, counted as the outbox page counts them."""
        with session_scope(self.db) as s:
            return dict(s.execute(select(OutboundMessage.reason, func.count()).where(
                OutboundMessage.tenant_id == self.tenant_id, OutboundMessage.status == "skipped").group_by(
                OutboundMessage.reason)).all())

    def publish(self, body: dict) -> None:
        with session_scope(self.db) as s:
            version = (s.scalar(select(func.max(RuleSetVersion.version)).where(
                RuleSetVersion.tenant_id == self.tenant_id)) or 0) + 1
            for old in s.scalars(select(RuleSetVersion).where(RuleSetVersion.tenant_id == self.tenant_id,
                                                              RuleSetVersion.status == "published")):
                old.status = "archived"
            s.flush()
            s.add(RuleSetVersion(tenant_id=self.tenant_id, version=version, status="published", body=body))

    def user_email(self, user_id: str) -> str:
        from adapters.factory import build_adapter

        return next(u.email.lower() for u in build_adapter(self.tenant_id).list_users() if u.id == user_id)

    def settle(self) -> None:
        self.stack.wait_webhooks_idle(timeout=60)
        self.stack.wait_idle(timeout=90, horizon=self.horizon)


def install_tenant(stack: LiveStack, app, platform: str, body: dict) -> Tenancy:
    """Installed through OAuth, live for a while already (the leads are new), `body` published, a Twilio account of
    the sandbox's saved as the tenant's SMS sender (API base: the sandbox)."""
    from adapters.senders.settings import save_sms

    account = new_account(stack.server, platform, name=f"Outreach {platform}", users=OWNERS)
    assert install(app.test_client(), stack.server, platform, account["account_id"]).status_code == 302
    twilio = stack.control("POST", "/twilio/accounts", json={})
    live_since = dt.datetime.now(dt.UTC) - SKEW - dt.timedelta(seconds=5)
    with session_scope(stack.env["DATABASE_URL"]) as s:
        tenant = s.scalar(select(Tenant).where(Tenant.platform == platform))
        tenant.installed_at = live_since
        s.add(RuleSetVersion(tenant_id=tenant.id, version=1, status="published", body=body,
                             created_at=live_since, published_at=live_since))
        s.flush()
        save_sms(s, tenant.id, account_sid=twilio["account_sid"], auth_token=twilio["auth_token"],
                 from_number=twilio["from_number"], api_base=twilio["api_base"])
        tenancy = Tenancy(platform=platform, tenant_id=tenant.id, account_id=account["account_id"])
    tenancy.twilio = twilio  # type: ignore[attr-defined]
    return tenancy


@pytest.fixture(name="outreach")
def outreach_fixture(crm_env, app, live_app, crm_sandbox, monkeypatch):
    """`outreach(platform, rules)`: the tenant installed and wired, a worker process running; yields an Outreach."""
    started: list = []

    def make(platform: str, body: dict, horizon: float = 5, **worker_env: str) -> Outreach:
        stack = started[0] if started else None
        if stack is None:
            ctx = wired_stack(crm_env, live_app, crm_sandbox, monkeypatch)
            stack = ctx.__enter__()
            started.append(stack)
            started.append(ctx)
        crm_sandbox.sandbox.mail.clear()
        stack.tenants[platform] = install_tenant(stack, app, platform, body)
        stack.env.update(worker_env)
        worker = start_worker(stack.env)
        started.append(worker)
        wait_for(lambda: Worker.count(connection=Redis.from_url(stack.env["REDIS_URL"])) >= 1
                 or worker.poll() is not None, what="the worker to register")
        assert worker.poll() is None, stop_worker(worker)
        found = Outreach(stack, platform, app, horizon)
        found.settle()  # the install's jobs: grants checked, webhooks subscribed, LeadRelay's fields
        if platform == "salesforce":
            point_salesforce_outbound(stack)
        return found

    yield make
    logs = [stop_worker(w) for w in started[2:]]
    if started:
        stack = started[0]
        failed = stack.failed_jobs()
        started[1].__exit__(None, None, None)
        assert failed == {}, "\n".join(log[-3000:] for log in logs)


def check_acknowledged(o: Outreach, lead_id: str, email: str, phone: str, created_at: float) -> None:
    """Everything issue #20 asks of a new lead's acknowledgment (Done-when 1)."""
    rows = o.settled_outbound(lead_id, timeout=max(1.0, created_at + 60 - time.time()))
    assert time.time() - created_at < 60
    mail_row, sms_row = rows["email"], rows["sms"]
    assert (mail_row.status, sms_row.status) == ("sent", "sent"), (mail_row.detail, sms_row.detail)
    for row in rows.values():
        assert row.accepted_at is not None and row.record_created_at is not None
        created = row.record_created_at if row.record_created_at.tzinfo else row.record_created_at.replace(
            tzinfo=dt.UTC)
        accepted = row.accepted_at if row.accepted_at.tzinfo else row.accepted_at.replace(tzinfo=dt.UTC)
        assert dt.timedelta(0) <= accepted - created < dt.timedelta(seconds=60), (created, accepted)
    owner_email = o.user_email(mail_row.owner_id)
    owner_name = next(u["name"] for u in OWNERS if u["email"] == owner_email)

    [mail] = o.mail(email)
    assert mail["subject"] == "Thanks for your request, Grace"
    assert mail["body"].startswith(f"Hello Grace,\n\n{owner_name} of ")
    assert "will call you today." in mail["body"]
    assert mail["reply_to"] is not None and owner_email in mail["reply_to"].lower()
    [text] = o.texts(phone)
    assert text["body"] == f"Hi Grace, thanks for your request: {owner_name.split()[0]} will call you today."
    assert text["from"] == o.stack.tenants[o.platform].twilio["from_number"]

    # on the record, as a rep sees it in the CRM: the email and the text logged
    tables = {"hubspot": ["emails", "communications"], "salesforce": ["Task"], "pipedrive": ["activities"]}[
        o.platform]
    logged = [row for t in tables for row in o.rows_about(t, lead_id, "Thanks for your request, Grace")]
    assert logged, f"the email is not logged on {lead_id}"
    assert mail_row.crm_log_id and sms_row.crm_log_id and mail_row.crm_log_id != sms_row.crm_log_id

    # the owner's first-touch task says what the lead already received
    timer = wait_for(lambda: o.timer(lead_id), timeout=30, what="the SLA task")
    task_table = {"hubspot": "tasks", "salesforce": "Task", "pipedrive": "activities"}[o.platform]

    def told():
        tasks = [r for r in o.rows(task_table) if str(r.get("id") or r.get("Id")) == timer.task_id]
        text = json.dumps(tasks)
        return text.count("Already sent to the lead by LeadRelay") >= 2 and "Thanks for your request, Grace" in text
    wait_for(told, timeout=30, what="the SLA task to say what the lead received")


@pytest.mark.parametrize("platform", PLATFORMS)
def test_new_leads_are_acknowledged_within_a_minute_unless_opted_out_or_in_quiet_hours(outreach, platform):
    o = outreach(platform, rules())

    # a lead created in the CRM: webhook → routed → acknowledged
    lead_id, at = o.create_lead(0, "crm")
    check_acknowledged(o, lead_id, "grace.crm.0@navy0crm.example", e164(0), at)

    # a lead from a web form, through the intake endpoint
    at = time.time()
    public_id = o.post_form({"first_name": "Grace", "last_name": "Formhopper", "email": "grace.form@navyform.example",
                             "phone": "+49 151 2345 6791", "company": "Navy", "consent": "yes"})
    form_lead = o.form_record(public_id)
    check_acknowledged(o, form_lead, "grace.form@navyform.example", "+4915123456791", at)

    # opted out of email in the CRM, as each CRM's UI keeps it
    opt_out = {"hubspot": {"hs_email_optout": "true"}, "salesforce": {"HasOptedOutOfEmail": True},
               "pipedrive": {"marketing_status": "unsubscribed"}}[platform]
    opted, _ = o.create_lead(2, "optout", **opt_out)
    rows = o.settled_outbound(opted)
    assert (rows["email"].status, rows["email"].reason) == ("skipped", "opted_out"), rows["email"].detail
    assert rows["sms"].status == "sent"  # email opt-out is not do-not-call
    assert o.mail("grace.optout.2@navy2optout.example") == []

    # the quiet hours around now in the lead's zone: no text, the email goes
    o.publish(rules(quiet_inside=True))
    quiet, _ = o.create_lead(3, "quiet")
    rows = o.settled_outbound(quiet)
    assert (rows["sms"].status, rows["sms"].reason) == ("skipped", "quiet_hours"), rows["sms"].detail
    assert rows["email"].status == "sent"
    assert o.texts(e164(3)) == []
    assert len(o.mail("grace.quiet.3@navy3quiet.example")) == 1

    counts = o.skipped_counts()
    assert (counts.get("opted_out"), counts.get("quiet_hours")) == (1, 1), counts
    outcomes = [d.outcome for d in o.decisions("first_response")]
    assert outcomes.count("skipped:opted_out") == 1 and outcomes.count("skipped:quiet_hours") == 1, outcomes
    assert not o.holds(lead_id) and not o.holds(form_lead)
