"""Issue 20: the weekly summary (last 7 days against the 7 before) as a console page, "Email it to me" through the
tenant's email sender, and the weekly switch; figures of one tenant only."""
from __future__ import annotations

import datetime as dt
import re
from typing import ClassVar

import pytest
from sqlalchemy import select

from integration.admin import conversions as cv
from integration.db import session_scope
from integration.models import (
    AutomationHold,
    Decision,
    LeadConversion,
    OutboundMessage,
    Tenant,
    TenantStatus,
)
from integration.outreach.senders import (
    Accepted,
    Outgoing,
    SenderNotConfigured,
    SendFailed,
    SendRefused,
    set_sender_factory,
)
from tests.console_helpers import add_members, sign_in


def today() -> dt.date:
    """Read when used, never at import: a run that crosses midnight UTC must compare the pages' day with its own."""
    return dt.datetime.now(dt.UTC).date()


def moment(days_ago: int) -> dt.datetime:
    return dt.datetime.combine(today() - dt.timedelta(days=days_ago), dt.time(10), tzinfo=dt.UTC)


class Outbox:
    """A Sender that keeps what it is handed, as a mail server that accepted it would (the port's contract)."""

    CHANNEL: ClassVar[str] = "email"
    DAILY_LIMIT: ClassVar[int | None] = None

    def __init__(self) -> None:
        self.sent: list[tuple[int, Outgoing]] = []
        self.tenant_id = 0

    def send(self, message: Outgoing) -> Accepted:
        self.sent.append((self.tenant_id, message))
        return Accepted(provider_id=f"<{message.key}@test>", accepted_at=dt.datetime.now(dt.UTC),
                        sender="leadrelay@acme.test")


class Refusing(Outbox):
    def send(self, message: Outgoing) -> Accepted:
        raise SendRefused("invalid_recipient", "550 5.1.1 mailbox unavailable")


@pytest.fixture()
def senders():
    """(tenant id, channel) → sender: tenant ids listed in `configured` have one, the rest have none."""
    plugged: dict[int, Outbox] = {}

    def factory(tenant_id: int, channel: str):
        if tenant_id not in plugged or channel != "email":
            raise SenderNotConfigured("no email sender")
        plugged[tenant_id].tenant_id = tenant_id
        return plugged[tenant_id]

    replaced = set_sender_factory(factory)
    yield plugged
    set_sender_factory(replaced)


def route(tenant_id, lead, days_ago, outcome="ana@acme.test", source="Web form"):
    return Decision(tenant_id=tenant_id, idempotency_key=f"route:contact:{lead}", kind="route", object_type="contact",
                    object_id=lead, outcome=outcome, reason="pool west → ana", inputs={"rule": "West",
                                                                                         "lead": {"source": source}},
                    created_at=moment(days_ago))


def outbound(tenant_id, lead, days_ago, status):
    return OutboundMessage(tenant_id=tenant_id, key=f"ack:contact:{lead}:email", object_type="contact",
                           object_id=lead, channel="email", status=status, created_at=moment(days_ago),
                           record_created_at=moment(days_ago),
                           accepted_at=moment(days_ago) + dt.timedelta(seconds=42) if status == "sent" else None)


@pytest.fixture()
def world(app, env):
    with session_scope(env["DATABASE_URL"]) as s:
        one = Tenant(platform="hubspot", external_id="k1", name="Acme", status=TenantStatus.ACTIVE)
        two = Tenant(platform="hubspot", external_id="k2", name="Other", status=TenantStatus.ACTIVE)
        s.add_all([one, two])
        s.flush()
        users = add_members(s, one.id, {"alice": "admin", "victor": "viewer"})
        t, u = one.id, two.id
        s.add_all([
            # this week: three leads (two from the web form, one referral), the week before: one
            route(t, "a1", 0), route(t, "a2", 3), route(t, "a3", 6, source="Referral"), route(t, "b1", 8),
            route(t, "old", 20),
            LeadConversion(tenant_id=t, object_type="contact", object_id="a1", kind="meeting", at=moment(1)),
            LeadConversion(tenant_id=t, object_type="contact", object_id="b1", kind="deal", at=moment(2)),
            LeadConversion(tenant_id=t, object_type="contact", object_id="old", kind="won", at=moment(10)),
            outbound(t, "a1", 0, "sent"), outbound(t, "a2", 3, "skipped"), outbound(t, "b1", 8, "sent"),
            AutomationHold(tenant_id=t, object_type="contact", object_id="a2", kind="skip_automation",
                           created_at=moment(3)),
            AutomationHold(tenant_id=t, object_type="contact", object_id="a2", kind="stop", created_at=moment(2)),
            # the other tenant: much more, none of it Acme's
            *[route(u, f"z{i}", 1, source="Secret fair") for i in range(9)],
            LeadConversion(tenant_id=u, object_type="contact", object_id="z1", kind="won", at=moment(1)),
            outbound(u, "z1", 1, "sent"),
            AutomationHold(tenant_id=u, object_type="contact", object_id="z1", kind="stop", created_at=moment(1)),
        ])
    return {"tenant": t, "other": u, **users}


def test_the_summary_compares_the_last_7_days_with_the_7_before(env, world):
    with session_scope(env["DATABASE_URL"]) as s:
        summary = cv.weekly_summary(s, world["tenant"], "Acme", today())
    lines = {name: (now, then) for name, now, then in summary.lines()}
    assert (summary.this.start, summary.this.end) == (today() - dt.timedelta(days=6), today())
    assert (summary.before.start, summary.before.end) == (today() - dt.timedelta(days=13),
                                                          today() - dt.timedelta(days=7))
    assert lines["Leads routed"] == ("3", "1")
    assert lines["Top sources"] == ("Web form (2), Referral (1)", "Web form (1)")
    assert (lines["Meetings"], lines["Deals"], lines["Deals won"]) == (("1", "0"), ("1", "0"), ("0", "1"))
    assert lines["Handoffs to a person"] == ("1", "0")  # one lead, two holds
    assert (lines["First responses sent"], lines["First responses skipped"]) == (("1", "1"), ("1", "0"))
    assert lines["Automated first response (median)"] == ("42 s", "42 s")
    assert lines["With a clear owner"] == ("100.0 %", "100.0 %")


def _csrf(client, path: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).get_data(as_text=True)).group(1)


def test_the_page_renders_and_emails_it_through_the_tenants_sender(app, world, senders):
    senders[world["tenant"]] = outbox = Outbox()
    senders[world["other"]] = other_outbox = Outbox()
    alice, path = sign_in(app, world["alice"]), f"/console/tenants/{world['tenant']}/weekly-summary"
    page = alice.get(path).get_data(as_text=True)
    assert re.search(r'data-figure="Leads routed"><th scope="row">Leads routed</th><td class="num">3</td>'
                     r'<td class="num">1</td>', page)
    assert "Secret fair" not in page
    response = alice.post(f"{path}/email", data={"csrf_token": _csrf(alice, path)})
    assert response.status_code == 303
    assert len(outbox.sent) == 1 and other_outbox.sent == []
    tenant_id, message = outbox.sent[0]
    assert (tenant_id, message.channel, message.to) == (world["tenant"], "email", "alice@example.com")
    assert message.subject.startswith("LeadRelay weekly summary · Acme")
    assert re.search(r"Leads routed\s+3\s+1", message.body)
    assert "on its way to alice@example.com" in alice.get(path).get_data(as_text=True)


def test_without_a_sender_the_page_says_to_set_one_up(app, world, senders):
    alice, path = sign_in(app, world["alice"]), f"/console/tenants/{world['tenant']}/weekly-summary"
    assert alice.post(f"{path}/email", data={"csrf_token": _csrf(alice, path)}).status_code == 303
    assert "no email sender yet: set one up under Settings" in alice.get(path).get_data(as_text=True)


def test_a_refusing_sender_is_said_not_raised(app, world, senders):
    senders[world["tenant"]] = Refusing()
    alice, path = sign_in(app, world["alice"]), f"/console/tenants/{world['tenant']}/weekly-summary"
    assert alice.post(f"{path}/email", data={"csrf_token": _csrf(alice, path)}).status_code == 303
    assert "did not take the summary: 550 5.1.1 mailbox unavailable" in alice.get(path).get_data(as_text=True)


def test_the_weekly_switch_keeps_the_admins_address(app, env, world):
    alice, path = sign_in(app, world["alice"]), f"/console/tenants/{world['tenant']}/weekly-summary"
    assert alice.post(f"{path}/schedule", data={"on": "1", "csrf_token": _csrf(alice, path)}).status_code == 303
    assert "Emailed every Monday to alice@example.com" in alice.get(path).get_data(as_text=True)
    with session_scope(env["DATABASE_URL"]) as s:
        assert s.get(Tenant, world["tenant"]).settings[cv.WEEKLY_SETTING] == {"on": True,
                                                                            "to": ["alice@example.com"]}
        assert cv.WEEKLY_SETTING not in (s.get(Tenant, world["other"]).settings or {})
    alice.post(f"{path}/schedule", data={"on": "0", "csrf_token": _csrf(alice, path)})
    assert "Not emailed automatically" in alice.get(path).get_data(as_text=True)


def test_a_viewer_reads_it_but_cannot_send_it(app, world, senders):
    senders[world["tenant"]] = outbox = Outbox()
    victor, path = sign_in(app, world["victor"]), f"/console/tenants/{world['tenant']}/weekly-summary"
    page = victor.get(path)
    assert page.status_code == 200 and "Email it to me" not in page.get_data(as_text=True)
    token = _csrf(victor, f"/console/tenants/{world['tenant']}/kpis")
    assert victor.post(f"{path}/email", data={"csrf_token": token}).status_code == 403 and outbox.sent == []


class Flaky(Outbox):
    def send(self, message: Outgoing) -> Accepted:
        raise SendFailed("421 try again later")


def _switch(env, tenant_id: int, on: bool, *to: str) -> None:
    with session_scope(env["DATABASE_URL"]) as s:
        Tenant.merge_settings(s, tenant_id, {cv.WEEKLY_SETTING: {"on": on, "to": list(to)}})


def _audit(env, tenant_id: int) -> list[tuple[str, str]]:
    with session_scope(env["DATABASE_URL"]) as s:
        return [(d.outcome, d.reason) for d in s.scalars(select(Decision).where(
            Decision.tenant_id == tenant_id, Decision.kind == "weekly_summary").order_by(Decision.id))]


def test_the_weekly_job_emails_each_address_once_a_week(env, world, senders):
    senders[world["tenant"]] = outbox = Outbox()
    _switch(env, world["tenant"], True, "alice@example.com", "boss@example.com")
    end = today().isoformat()
    assert cv.weekly_summary_job(world["tenant"], end) == 2
    assert cv.weekly_summary_job(world["tenant"], end) == 0  # a retried delivery of the same job
    assert sorted(m.to for _, m in outbox.sent) == ["alice@example.com", "boss@example.com"]
    assert all(re.search(r"Leads routed\s+3\s+1", m.body) for _, m in outbox.sent)
    assert [o for o, _ in _audit(env, world["tenant"])] == ["sent", "sent"]
    assert _audit(env, world["other"]) == []


def test_the_weekly_job_does_nothing_when_switched_off(env, world, senders):
    senders[world["tenant"]] = outbox = Outbox()
    _switch(env, world["tenant"], False, "alice@example.com")
    assert cv.weekly_summary_job(world["tenant"], today().isoformat()) == 0 and outbox.sent == []


def test_a_tenant_without_a_sender_gets_an_audited_not_sent(env, world, senders):
    _switch(env, world["tenant"], True, "alice@example.com")
    assert cv.weekly_summary_job(world["tenant"], today().isoformat()) == 0
    assert _audit(env, world["tenant"]) == [("not sent", "Weekly summary not emailed to alice@example.com: no email "
                                                         "sender is set up")]


def test_a_temporary_failure_is_retried_not_marked_sent(env, world, senders):
    senders[world["tenant"]] = Flaky()
    _switch(env, world["tenant"], True, "alice@example.com")
    with pytest.raises(SendFailed):
        cv.weekly_summary_job(world["tenant"], today().isoformat())
    assert _audit(env, world["tenant"]) == []
    senders[world["tenant"]] = outbox = Outbox()
    assert cv.weekly_summary_job(world["tenant"], today().isoformat()) == 1 and len(outbox.sent) == 1


def test_the_next_run_is_a_monday_morning():
    sunday = dt.datetime(2026, 3, 8, 23, 0, tzinfo=dt.UTC)
    assert cv.next_run(sunday, 5) == dt.datetime(2026, 3, 9, 7, 5, tzinfo=dt.UTC)
    monday_late = dt.datetime(2026, 3, 9, 8, 0, tzinfo=dt.UTC)
    assert cv.next_run(monday_late, 5) == dt.datetime(2026, 3, 16, 7, 5, tzinfo=dt.UTC)


def test_turning_the_switch_on_plans_the_job(app, env, world):
    from redis import Redis
    from rq.job import Job

    from integration.jobs import job_key

    alice, path = sign_in(app, world["alice"]), f"/console/tenants/{world['tenant']}/weekly-summary"
    alice.post(f"{path}/schedule", data={"on": "1", "csrf_token": _csrf(alice, path)})
    at = cv.next_run(dt.datetime.now(dt.UTC), world["tenant"])
    planned = Job.fetch(job_key(f"weekly-{world['tenant']}-{at:%Y%m%d}"), connection=Redis.from_url(env["REDIS_URL"]))
    assert planned.get_status() == "scheduled" and planned.args == (world["tenant"],)


def test_the_agency_sees_each_of_its_portals_week(app, env, world):
    from integration.models import Agency, ConsoleUser

    with session_scope(env["DATABASE_URL"]) as s:
        agency = Agency(name="Growth Co")
        s.add(agency)
        s.flush()
        s.get(Tenant, world["tenant"]).agency_id, s.get(Tenant, world["tenant"]).agency_grant = agency.id, "viewer"
        third = Tenant(platform="hubspot", external_id="k3", name="Not linked", status=TenantStatus.ACTIVE)
        ada = ConsoleUser(platform="hubspot", external_account_id="test", external_user_id="ada", email="ada@growth.co",
                          name="Ada", agency_id=agency.id, agency_role="viewer")
        s.add_all([third, ada])
        s.flush()
        ada_id = ada.id
    text = sign_in(app, ada_id).get("/console/agency/weekly-summary").get_data(as_text=True)
    row = re.search(rf'<tr data-portal="{world["tenant"]}">(.*?)</tr>', text, re.S).group(1)
    assert "Acme" in row and re.search(r'<td class="num">3 <span class="muted">\(1\)</span></td>', row)
    assert "Web form (2), Referral (1)" in row
    assert "Other" not in text and "Not linked" not in text and "Secret fair" not in text
