"""The demo's story: leads arrive through the CRMs' webhooks while the people in the CRMs react as they would.

Before LeadRelay is installed, someone created the company "Vandelay Industries" in each CRM, owned by Drew.
Then the leads of demo_script are created over `seconds`; meanwhile, watching LeadRelay's decisions as a rep
watches their task list:
- the owner of the hot lead "hot_met" calls it (a call logged in the CRM) within its 5 minutes;
- nobody calls the hot lead "hot_breached": LeadRelay escalates; once it was reassigned, the new owner calls;
- once the account lead is routed to Drew, Drew wins a deal with that person (Salesforce: with her contact at
  the account, since Salesforce keeps people who buy as Contacts).
The story waits until every beat it expects happened (demo_report.beats) or its deadline passed. SLA durations
run on the demo clock (LEADRELAY_TIME_SCALE=DEMO_TIME_SCALE for the workers): 5 minutes pass in 5 seconds.
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import select

from integration.config import get_settings
from integration.db import session_scope
from integration.models import Decision, SlaTimer
from leadrelay import demo_report
from leadrelay.demo_crm import SandboxCRM, crm_for
from leadrelay.demo_flow import LEAD_OBJECT, tenants_of, wait_until_ready
from leadrelay.demo_script import ACCOUNT, ACCOUNT_OWNER, Person, lead_properties, schedule, story_size

DEMO_TIME_SCALE = 60  # what `leadrelay demo` sets LEADRELAY_TIME_SCALE to for its workers and web app
# after the last lead: the slowest beat is HubSpot's breach, escalations and the new owner's call, about 45 s after
# its lead (each check that finds no touch looks again after HubSpot's 10-second search lag before it decides)
SETTLE_S = 45


@dataclass
class SentLead:
    platform: str
    object_id: str
    person: Person
    sent_at: float  # before the create call: a lead is never owned before it was sent


@dataclass
class StoryRun:
    """Everything the report needs about this run: its CRMs, tenants, leads and what people did."""

    sandbox_url: str
    crms: dict[str, SandboxCRM] = field(default_factory=dict)
    tenants: dict[str, int] = field(default_factory=dict)
    companies: dict[str, str] = field(default_factory=dict)  # platform -> the account company's id
    sent: list[SentLead] = field(default_factory=list)
    actions: list[dict] = field(default_factory=list)  # what people did in the CRMs, in order
    not_shown: dict[str, dict[str, str]] = field(default_factory=dict)  # beat -> platform -> why
    calls_before: int = 0
    started: float = field(default_factory=time.time)

    def lead(self, platform: str, role: str) -> SentLead | None:
        return next((s for s in self.sent if s.platform == platform and s.person.role == role), None)

    def did(self, platform: str, role: str, what: str) -> dict | None:
        return next((a for a in self.actions if (a["crm"], a["role"], a["what"]) == (platform, role, what)), None)

    def record(self, platform: str, role: str, what: str, **details) -> None:
        self.actions.append({"crm": platform, "role": role, "what": what, "at_s": round(time.time() - self.started, 1),
                             **details})


def people_before_install(sandbox_url: str, ca_file: str, run: StoryRun) -> Callable[[dict], None]:
    """What happened in each CRM before LeadRelay: an admin created the account company, owned by Drew."""
    def prepare(account: dict) -> None:
        crm = crm_for(sandbox_url, account, ca_file)
        run.crms[crm.PLATFORM] = crm
        run.companies[crm.PLATFORM] = crm.create_company(ACCOUNT, ACCOUNT_OWNER)
        run.record(crm.PLATFORM, "account_owner", "company created",
                   detail=f"{ACCOUNT.name} ({ACCOUNT.domain}), owner {ACCOUNT_OWNER}, before LeadRelay was installed")
    return prepare


def send_leads(run: StoryRun, count: int, seconds: float) -> None:
    """The scripted and random leads over `seconds`, the CRMs taking turns; people react in between."""
    plan = schedule(list(run.crms), count)
    if count < story_size(list(run.crms)):
        print(f"    ({count} leads are fewer than the whole story takes, {story_size(list(run.crms))}: the report "
              f"names the beats left out)", flush=True)
    run.calls_before = demo_report.crm_calls(run)
    start, pace = time.monotonic(), seconds / max(len(plan), 1)
    for i, (platform, person) in enumerate(plan):
        sent_at = time.time()
        object_id = run.crms[platform].create_lead(lead_properties(platform, person))
        run.sent.append(SentLead(platform, object_id, person, sent_at))
        react(run)
        time.sleep(max(0.0, start + (i + 1) * pace - time.monotonic()))


def wait_for_story(run: StoryRun, timeout: float, progress: Callable[[int, int], None]) -> None:
    """React and wait until every lead is decided and every expected beat happened, or `timeout` passed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        react(run)
        state = demo_report.beats(run)
        progress(state.decided, len(run.sent))
        if state.finished:
            return
        time.sleep(0.5)


# people reacting to what LeadRelay did ------------------------------------------------------------------
def react(run: StoryRun) -> None:
    timers, decisions = _story_rows(run)
    _note_real_time_clock(run, [t for rows in timers.values() for t in rows])
    for platform, crm in run.crms.items():
        _call_when_due(run, crm, "hot_met", timers.get((platform, "hot_met"), []), generation=0)
        reassigned = [t for t in timers.get((platform, "hot_breached"), []) if ":r" in t.key]
        _call_when_due(run, crm, "hot_breached", reassigned, generation=1)
        if decisions.get((platform, "account_owner")) is not None:
            _win_the_deal(run, crm, decisions[(platform, "account_owner")])


def _story_rows(run: StoryRun) -> tuple[dict, dict]:
    """The SLA timers and route decisions of the leads people react to, keyed by (platform, role)."""
    roles = {(s.platform, s.object_id): s.person.role for s in run.sent
             if s.person.role in ("hot_met", "hot_breached", "account_owner")}
    by_tenant = {tenant: platform for platform, tenant in run.tenants.items()}
    ids = [object_id for _, object_id in roles]
    with session_scope(get_settings().database_url) as s:
        timer_rows = s.scalars(select(SlaTimer).where(SlaTimer.tenant_id.in_(by_tenant), SlaTimer.key.startswith(
            "sla:"), SlaTimer.object_id.in_(ids)).order_by(SlaTimer.id)).all()
        route_rows = s.scalars(select(Decision).where(Decision.tenant_id.in_(by_tenant), Decision.kind == "route",
                                                      Decision.object_id.in_(ids))).all()
        s.expunge_all()
    timers: dict[tuple[str, str], list[SlaTimer]] = {}
    for timer in timer_rows:
        role = roles.get((by_tenant[timer.tenant_id], timer.object_id))
        if role:
            timers.setdefault((by_tenant[timer.tenant_id], role), []).append(timer)
    decisions = {(by_tenant[d.tenant_id], roles[(by_tenant[d.tenant_id], d.object_id)]): d for d in route_rows
                 if (by_tenant[d.tenant_id], d.object_id) in roles}
    return timers, decisions


def _call_when_due(run: StoryRun, crm: SandboxCRM, role: str, timers: list[SlaTimer], generation: int) -> None:
    """The timer's owner logs a call on the lead, once, a moment after the clock started and before it is due.

    CRMs keep activity times to the second (Pipedrive's add_time), so the call waits for the next whole second
    after the clock started: a call logged in that same second could read as older than the clock."""
    timer = timers[0] if timers else None
    if timer is None or timer.task_id is None or run.did(crm.PLATFORM, role, f"call {generation}"):
        return
    started = timer.created_at.timestamp()
    if time.time() < math.floor(started) + 1.2:
        return
    owner = crm.email_of(timer.owner_id)
    if owner is None:
        return
    crm.log_call(timer.object_id, owner, "Reached them, booked a demo.")
    run.record(crm.PLATFORM, role, f"call {generation}", who=owner, lead_id=timer.object_id,
               after_s=round(time.time() - started, 1),
               due_in_s=round(timer.due_at.timestamp() - time.time(), 1))


def _win_the_deal(run: StoryRun, crm: SandboxCRM, route: Decision) -> None:
    """Drew, who owns the account, wins a deal with the person who came in (Salesforce: her contact)."""
    if run.did(crm.PLATFORM, "account_owner", "deal won"):
        return
    person = run.lead(crm.PLATFORM, "account_owner").person
    contact = route.object_id
    if LEAD_OBJECT[crm.PLATFORM][1] == "lead":  # Salesforce leads are not contacts: she is one at the account now
        contact = crm.create("Contact", {"FirstName": person.first, "LastName": person.last, "Email": person.email,
                                         "AccountId": run.companies[crm.PLATFORM],
                                         "OwnerId": crm.user(ACCOUNT_OWNER).owner_id}, ACCOUNT_OWNER)
    deal = crm.win_deal(contact, f"{ACCOUNT.name} - annual plan", ACCOUNT_OWNER)
    run.record(crm.PLATFORM, "account_owner", "deal won", who=ACCOUNT_OWNER, contact_id=contact, deal_id=deal,
               at=time.time())


def _note_story_cut_short(run: StoryRun) -> None:
    """Beats whose people were not sent (fewer leads than the story takes) are not waited for."""
    for beat, roles in demo_report.NEEDS.items():
        for platform in run.crms:
            if not any(run.lead(platform, role) for role in roles):
                run.not_shown.setdefault(beat, {})[platform] = (
                    f"not in this run: {len(run.sent)} leads are fewer than the whole story takes "
                    f"({story_size(list(run.crms))})")


def _note_real_time_clock(run: StoryRun, timers: list[SlaTimer]) -> None:
    """Workers on real time (LEADRELAY_TIME_SCALE unset): no hot lead's 5 minutes pass within the demo, so no SLA
    is met, breached or escalated; the story says so instead of waiting for it."""
    if "sla_met" in run.not_shown or not any((t.due_at - t.created_at).total_seconds() > 60 for t in timers
                                             if t.policy == "hot"):
        return
    why = (f"the workers' SLA clock runs in real time (LEADRELAY_TIME_SCALE unset; the demo uses "
           f"{DEMO_TIME_SCALE}): a 5-minute first touch does not fall due within the demo")
    for beat in demo_report.SLA_BEATS:
        run.not_shown[beat] = dict.fromkeys(run.crms, why)


def tell(accounts: dict[str, dict], run: StoryRun, count: int, seconds: float,
         progress: Callable[[int, int], None]) -> dict:
    """Send the leads, let people react, wait for the story to finish; returns the report."""
    run.tenants = tenants_of(accounts)
    wait_until_ready(run.tenants)
    send_leads(run, count, seconds)
    _note_story_cut_short(run)
    wait_for_story(run, SETTLE_S, progress)
    return demo_report.report(run)
