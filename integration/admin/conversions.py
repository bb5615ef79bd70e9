"""Conversion KPIs: what became of the leads routed in a date range, overall, by source and by routing path.

The population is the route decisions made in [start, end] (whole UTC days; a record re-created by an undo is no
new lead), as marketplace/kpi_figures.py counts leads. Every rate counts leads of that population only (one lead
is one numerator at most), so each is 0–100 % whatever the group. Definitions (README "Conversion KPIs and the
weekly summary" and the page's help say the same, one sentence each) are in DEFINITIONS.

Stored facts it reads, and who writes them: the route Decision (pipeline: outcome = owner email, review or merged;
inputs rule, lead.source, reason names the pool), LeadConversion (followup.conversions), OutboundMessage
(outreach's first response: accepted_at − record_created_at), the SLA Decision met / met_late
(followup.sla.met: inputs first_touch_seconds, from routing to the owner's first touch), SlaTimer (key `sla:…`:
the lead had an SLA clock), ReviewItem (validation: a required field missing; crm_error: a CRM write failed),
IntakeSubmission.fields (where web-form capture keeps utm_*), reactivation Decisions (followup.stale).
"""
from __future__ import annotations

import datetime as dt
import logging
import math
import re
import statistics
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import delete, func, select, tuple_
from sqlalchemy.orm import Session

from integration.config import get_settings
from integration.db import session_scope
from integration.jobs import job
from integration.models import (
    AutomationHold,
    Decision,
    InboundMessageRow,
    IntakeSubmission,
    LeadConversion,
    OutboundMessage,
    ReviewItem,
    SlaTimer,
    Tenant,
)
from integration.models.outreach import DEAL, MEETING, SENT, SKIPPED, WON
from integration.outreach.senders import (
    Accepted,
    Outgoing,
    SenderNotConfigured,
    SendFailed,
    SendRefused,
    sender_for,
)
from integration.queues import MAINTENANCE

log = logging.getLogger("leadrelay.weekly")

RESTORED = "restored"
NOT_ROUTED = frozenset({"review", "merged", RESTORED})
MET = ("met", "met_late")
UTM_FIELDS = ("utm_source", "utm_medium", "utm_campaign")  # the three a tracked link always carries
NO_SOURCE, NO_RULE, NO_POOL = "(no source)", "(no rule)", "(no pool)"
# the router's reason names the pool as "pool west → alice@…" or "pool west: nobody available"
POOL = re.compile(r"\bpool ([^\s:→]+)")
CHUNK = 500  # (object_type, object_id) pairs per IN query

DEFINITIONS = {
    "leads": "Leads routed in the date range (one route decision each; a record re-created by an undo is not "
             "a new lead).",
    "meeting_rate": "Leads of the range with a meeting logged in the CRM since they arrived.",
    "deal_rate": "Leads of the range that are a contact of a deal created since they arrived.",
    "won_rate": "Leads of the range that are a contact of a deal won since they arrived.",
    "auto_response": "Time from the lead's creation in the CRM to the provider accepting LeadRelay's first "
                     "automated reply (the first one sent per lead).",
    "human_response": "Time from routing to the owner's first touch, as the SLA clock recorded it when met "
                      "(on time or late).",
    "inside_sla_rate": "Leads with an SLA clock whose owner made the first touch before the deadline.",
    "reactivation_rate": "Stale leads reactivated in the range (a task or cadence for their owner) that showed "
                         "activity afterwards: a met SLA clock, a reply, a meeting or a deal.",
    "missing_field_rate": "Leads of the range sent to review because a required field was missing or unusable "
                          "(a validation review item).",
    "source_rate": "Leads of the range whose route decision has a source.",
    "utm_rate": "Leads of the range captured by a web form with utm_source, utm_medium and utm_campaign.",
    "sync_failure_rate": "Leads routed to an owner in the range whose CRM write failed (a crm_error review item).",
    "clear_owner_rate": "Leads of the range routed to an active CRM owner (not to review, not merged).",
}


@dataclass(frozen=True)
class Lead:
    object_type: str
    object_id: str
    routed_at: dt.datetime
    outcome: str  # the owner's email (lower case), review, merged
    source: str
    rule: str
    pool: str

    @property
    def key(self) -> tuple[str, str]:
        return (self.object_type, self.object_id)

    @property
    def owned(self) -> bool:
        return self.outcome not in NOT_ROUTED


@dataclass
class Figures:
    """One group's figures (overall, one source, one rule/pool/owner path)."""

    leads: int = 0
    meetings: int = 0
    deals: int = 0
    won: int = 0
    auto_seconds: list[float] = field(default_factory=list)
    human_seconds: list[float] = field(default_factory=list)
    with_sla: int = 0
    inside_sla: int = 0
    missing_field: int = 0
    with_source: int = 0
    with_utm: int = 0
    owned: int = 0
    sync_failed: int = 0

    @staticmethod
    def rate(part: int, whole: int) -> float | None:
        return round(100 * part / whole, 1) if whole else None

    @property
    def meeting_rate(self) -> float | None:
        return self.rate(self.meetings, self.leads)

    @property
    def deal_rate(self) -> float | None:
        return self.rate(self.deals, self.leads)

    @property
    def won_rate(self) -> float | None:
        return self.rate(self.won, self.leads)

    @property
    def inside_sla_rate(self) -> float | None:
        return self.rate(self.inside_sla, self.with_sla)

    @property
    def missing_field_rate(self) -> float | None:
        return self.rate(self.missing_field, self.leads)

    @property
    def source_rate(self) -> float | None:
        return self.rate(self.with_source, self.leads)

    @property
    def utm_rate(self) -> float | None:
        return self.rate(self.with_utm, self.leads)

    @property
    def clear_owner_rate(self) -> float | None:
        return self.rate(self.owned, self.leads)

    @property
    def sync_failure_rate(self) -> float | None:
        return self.rate(self.sync_failed, self.owned)

    @property
    def auto_median(self) -> float | None:
        return statistics.median(self.auto_seconds) if self.auto_seconds else None

    @property
    def auto_p90(self) -> float | None:
        return percentile(self.auto_seconds, 0.9)

    @property
    def human_median(self) -> float | None:
        return statistics.median(self.human_seconds) if self.human_seconds else None

    @property
    def human_p90(self) -> float | None:
        return percentile(self.human_seconds, 0.9)


@dataclass
class Conversions:
    start: dt.date
    end: dt.date
    overall: Figures = field(default_factory=Figures)
    by_source: dict[str, Figures] = field(default_factory=dict)
    # (rule, pool, owner email or "(review)" / "(merged)")
    by_path: dict[tuple[str, str, str], Figures] = field(default_factory=dict)
    reactivated: int = 0
    reactivated_active: int = 0

    @property
    def reactivation_rate(self) -> float | None:
        return Figures.rate(self.reactivated_active, self.reactivated)


def percentile(values: list[float], p: float) -> float | None:
    """Nearest-rank percentile (p90 of 10 values is the 9th smallest), as kpi_figures."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p * len(ordered)) - 1)]


def window(start: dt.date, end: dt.date) -> tuple[dt.datetime, dt.datetime]:
    return (dt.datetime.combine(start, dt.time.min, tzinfo=dt.UTC),
            dt.datetime.combine(end + dt.timedelta(days=1), dt.time.min, tzinfo=dt.UTC))


def population(session: Session, tenant_id: int, start: dt.date, end: dt.date, owner: str = "") -> list[Lead]:
    """The leads routed in [start, end] (to one owner when given), each with its source and routing path."""
    lo, hi = window(start, end)
    stmt = select(Decision.object_type, Decision.object_id, Decision.created_at, Decision.outcome, Decision.reason,
                  Decision.inputs).where(
        Decision.tenant_id == tenant_id, Decision.kind == "route", Decision.outcome != RESTORED,
        Decision.created_at >= lo, Decision.created_at < hi).order_by(Decision.created_at, Decision.id)
    if owner:
        stmt = stmt.where(func.lower(Decision.outcome) == owner.lower())
    rows = session.execute(stmt)
    leads = []
    for object_type, object_id, created, outcome, reason, inputs in rows:
        inputs = inputs or {}
        source = str(((inputs.get("lead") or {}).get("source")) or "").strip()
        pool = POOL.search(reason or "")
        leads.append(Lead(object_type, object_id, _utc(created),
                          outcome if outcome in NOT_ROUTED else outcome.lower(), source,
                          str(inputs.get("rule") or ""), pool.group(1) if pool else ""))
    return leads


def compute(session: Session, tenant_id: int, start: dt.date, end: dt.date, owner: str = "") -> Conversions:
    """Every conversion figure of the tenant's leads routed in [start, end] (to one owner when given; the
    reactivation rate is the tenant's whole, as stale leads are not leads of the range)."""
    result = Conversions(start=start, end=end)
    leads = population(session, tenant_id, start, end, owner)
    keys = [lead.key for lead in leads]
    converted = _conversions(session, tenant_id, keys)
    auto = _first_auto_response(session, tenant_id, keys)
    human = _first_touch(session, tenant_id, keys)
    clocks = _with_sla_clock(session, tenant_id, keys)
    review = _review_kinds(session, tenant_id, keys)
    utm = _with_utm(session, tenant_id, keys)
    for lead in leads:
        groups = [result.overall, result.by_source.setdefault(lead.source or NO_SOURCE, Figures()),
                  result.by_path.setdefault((lead.rule or NO_RULE, lead.pool or NO_POOL,
                                             lead.outcome if lead.owned else f"({lead.outcome})"), Figures())]
        kinds, touch = converted.get(lead.key, set()), human.get(lead.key)
        for f in groups:
            f.leads += 1
            f.meetings += MEETING in kinds
            f.deals += DEAL in kinds or WON in kinds  # a deal won was a deal first
            f.won += WON in kinds
            if lead.key in auto:
                f.auto_seconds.append(auto[lead.key])
            if touch is not None:
                f.human_seconds.append(touch[0])
            if lead.key in clocks:
                f.with_sla += 1
                f.inside_sla += touch is not None and touch[1] == "met"
            f.missing_field += "validation" in review.get(lead.key, ())
            f.with_source += bool(lead.source)
            f.with_utm += lead.key in utm
            if lead.owned:
                f.owned += 1
                f.sync_failed += "crm_error" in review.get(lead.key, ())
    result.reactivated, result.reactivated_active = _reactivations(session, tenant_id, start, end)
    return result


def _chunks(keys: list[tuple[str, str]]) -> Iterable[list[tuple[str, str]]]:
    for i in range(0, len(keys), CHUNK):
        yield keys[i:i + CHUNK]


def _conversions(session: Session, tenant_id: int, keys) -> dict[tuple[str, str], set[str]]:
    found: dict[tuple[str, str], set[str]] = defaultdict(set)
    for part in _chunks(keys):
        for object_type, object_id, kind in session.execute(select(
                LeadConversion.object_type, LeadConversion.object_id, LeadConversion.kind).where(
                LeadConversion.tenant_id == tenant_id,
                tuple_(LeadConversion.object_type, LeadConversion.object_id).in_(part))):
            found[(object_type, object_id)].add(kind)
    return found


def _first_auto_response(session: Session, tenant_id: int, keys) -> dict[tuple[str, str], float]:
    """Seconds from the lead's CRM creation to its first accepted automated message."""
    first: dict[tuple[str, str], tuple[dt.datetime, float]] = {}
    for part in _chunks(keys):
        for object_type, object_id, accepted, created in session.execute(select(
                OutboundMessage.object_type, OutboundMessage.object_id, OutboundMessage.accepted_at,
                OutboundMessage.record_created_at).where(
                OutboundMessage.tenant_id == tenant_id, OutboundMessage.status == SENT,
                OutboundMessage.accepted_at.is_not(None), OutboundMessage.record_created_at.is_not(None),
                tuple_(OutboundMessage.object_type, OutboundMessage.object_id).in_(part))):
            accepted, key = _utc(accepted), (object_type, object_id)
            if key not in first or accepted < first[key][0]:
                first[key] = (accepted, max(0.0, (accepted - _utc(created)).total_seconds()))
    return {key: seconds for key, (_, seconds) in first.items()}


def _first_touch(session: Session, tenant_id: int, keys) -> dict[tuple[str, str], tuple[float, str]]:
    """The owner's first touch per lead (its first met SLA clock: seconds from routing, met or met_late)."""
    first: dict[tuple[str, str], tuple[float, str]] = {}
    for part in _chunks(keys):
        for object_type, object_id, outcome, inputs in session.execute(select(
                Decision.object_type, Decision.object_id, Decision.outcome, Decision.inputs).where(
                Decision.tenant_id == tenant_id, Decision.kind == "sla", Decision.outcome.in_(MET),
                tuple_(Decision.object_type, Decision.object_id).in_(part)).order_by(Decision.created_at,
                                                                                     Decision.id)):
            seconds = (inputs or {}).get("first_touch_seconds")
            if isinstance(seconds, int | float):
                first.setdefault((object_type, object_id), (float(seconds), outcome))
    return first


def _with_sla_clock(session: Session, tenant_id: int, keys) -> set[tuple[str, str]]:
    found = set()
    for part in _chunks(keys):
        found.update((object_type, object_id) for object_type, object_id in session.execute(select(
            SlaTimer.object_type, SlaTimer.object_id).where(
            SlaTimer.tenant_id == tenant_id, SlaTimer.key.like("sla:%"),
            tuple_(SlaTimer.object_type, SlaTimer.object_id).in_(part))))
    return found


def _review_kinds(session: Session, tenant_id: int, keys) -> dict[tuple[str, str], set[str]]:
    found: dict[tuple[str, str], set[str]] = defaultdict(set)
    for part in _chunks(keys):
        for object_type, object_id, kind in session.execute(select(
                ReviewItem.object_type, ReviewItem.object_id, ReviewItem.kind).where(
                ReviewItem.tenant_id == tenant_id, ReviewItem.kind.in_(("validation", "crm_error")),
                tuple_(ReviewItem.object_type, ReviewItem.object_id).in_(part))):
            found[(object_type, object_id)].add(kind)
    return found


def _with_utm(session: Session, tenant_id: int, keys) -> set[tuple[str, str]]:
    found = set()
    for part in _chunks(keys):
        for object_type, record_id, fields in session.execute(select(
                IntakeSubmission.object_type, IntakeSubmission.record_id, IntakeSubmission.fields).where(
                IntakeSubmission.tenant_id == tenant_id,
                tuple_(IntakeSubmission.object_type, IntakeSubmission.record_id).in_(part))):
            if all(str((fields or {}).get(k) or "").strip() for k in UTM_FIELDS):
                found.add((object_type, record_id))
    return found


def _reactivations(session: Session, tenant_id: int, start: dt.date, end: dt.date) -> tuple[int, int]:
    """(leads reactivated in the range, of which with activity after their first reactivation there)."""
    lo, hi = window(start, end)
    since: dict[tuple[str, str], dt.datetime] = {}
    for object_type, object_id, at in session.execute(select(
            Decision.object_type, Decision.object_id, Decision.created_at).where(
            Decision.tenant_id == tenant_id, Decision.kind == "reactivation",
            Decision.outcome.in_(("task", "cadence")), Decision.created_at >= lo, Decision.created_at < hi)):
        since.setdefault((object_type, object_id), _utc(at))
        since[(object_type, object_id)] = min(since[(object_type, object_id)], _utc(at))
    active = set()
    keys = list(since)
    for part in _chunks(keys):
        for query in (
                select(Decision.object_type, Decision.object_id, Decision.created_at).where(
                    Decision.tenant_id == tenant_id, Decision.kind == "sla", Decision.outcome.in_(MET),
                    tuple_(Decision.object_type, Decision.object_id).in_(part)),
                select(InboundMessageRow.object_type, InboundMessageRow.object_id,
                       InboundMessageRow.received_at).where(
                    InboundMessageRow.tenant_id == tenant_id,
                    tuple_(InboundMessageRow.object_type, InboundMessageRow.object_id).in_(part)),
                select(LeadConversion.object_type, LeadConversion.object_id, LeadConversion.at).where(
                    LeadConversion.tenant_id == tenant_id,
                    tuple_(LeadConversion.object_type, LeadConversion.object_id).in_(part))):
            for object_type, object_id, at in session.execute(query):
                if _utc(at) >= since[(object_type, object_id)]:
                    active.add((object_type, object_id))
    return len(since), len(active)


def _utc(value: dt.datetime) -> dt.datetime:
    return value.astimezone(dt.UTC) if value.tzinfo else value.replace(tzinfo=dt.UTC)


# The weekly summary ------------------------------------------------------------------------------------------

WEEK = 7
TOP_SOURCES = 3
WEEKLY_SETTING = "weekly_summary"  # tenant.settings: {"on": bool, "to": [email, …]}


@dataclass
class Week:
    start: dt.date
    end: dt.date
    figures: Figures
    top_sources: list[tuple[str, int]]
    conversions: dict[str, int]  # meeting / deal / won recorded in the week (of any lead LeadRelay routed)
    handoffs: int  # leads automation was told to leave alone in the week (AutomationHold rows set)
    responses: dict[str, int]  # first responses sent / skipped in the week (OutboundMessage by status)


@dataclass
class WeeklySummary:
    tenant_name: str
    this: Week
    before: Week

    def lines(self) -> list[tuple[str, str, str]]:
        """(figure, this week, the week before) in words, for the page and the email."""
        a, b = self.this, self.before

        def pct(v):
            return "—" if v is None else f"{v:.1f} %"

        def secs(v):
            if v is None:
                return "—"
            v = round(v)
            return f"{v // 3600} h {v % 3600 // 60} min" if v >= 3600 else f"{v // 60} min {v % 60} s" if v >= 60 \
                else f"{v} s"

        def src(week):
            return ", ".join(f"{s} ({n})" for s, n in week.top_sources) or "—"

        return [
            ("Leads routed", str(a.figures.leads), str(b.figures.leads)),
            ("With a clear owner", pct(a.figures.clear_owner_rate), pct(b.figures.clear_owner_rate)),
            ("Automated first response (median)", secs(a.figures.auto_median), secs(b.figures.auto_median)),
            ("Owner's first touch (median)", secs(a.figures.human_median), secs(b.figures.human_median)),
            ("Next action inside SLA", pct(a.figures.inside_sla_rate), pct(b.figures.inside_sla_rate)),
            ("Meetings", str(a.conversions.get(MEETING, 0)), str(b.conversions.get(MEETING, 0))),
            ("Deals", str(a.conversions.get(DEAL, 0)), str(b.conversions.get(DEAL, 0))),
            ("Deals won", str(a.conversions.get(WON, 0)), str(b.conversions.get(WON, 0))),
            ("Top sources", src(a), src(b)),
            ("Handoffs to a person", str(a.handoffs), str(b.handoffs)),
            ("First responses sent", str(a.responses.get(SENT, 0)), str(b.responses.get(SENT, 0))),
            ("First responses skipped", str(a.responses.get(SKIPPED, 0)), str(b.responses.get(SKIPPED, 0))),
        ]

    def subject(self) -> str:
        return f"LeadRelay weekly summary · {self.tenant_name} · {self.this.start} to {self.this.end}"

    def text(self) -> str:
        width = max(len(name) for name, _, _ in self.lines())
        rows = [f"{'':{width}}  {'This week':>14}  {'Week before':>14}"]
        rows += [f"{name:{width}}  {now:>14}  {then:>14}" if name != "Top sources"
                 else f"{name:{width}}  {now}\n{'':{width}}  (week before: {then})" for name, now, then in self.lines()]
        return (f"{self.tenant_name}: {self.this.start} to {self.this.end}, compared with "
                f"{self.before.start} to {self.before.end} (UTC days).\n\n" + "\n".join(rows) + "\n")


def week(session: Session, tenant_id: int, start: dt.date, end: dt.date) -> Week:
    figures = compute(session, tenant_id, start, end)
    lo, hi = window(start, end)
    kinds = session.execute(select(LeadConversion.kind, func.count()).where(
        LeadConversion.tenant_id == tenant_id, LeadConversion.at >= lo, LeadConversion.at < hi).group_by(
        LeadConversion.kind)).all()
    handoffs = session.scalar(select(func.count(func.distinct(AutomationHold.object_id))).where(
        AutomationHold.tenant_id == tenant_id, AutomationHold.created_at >= lo, AutomationHold.created_at < hi))
    responses = session.execute(select(OutboundMessage.status, func.count()).where(
        OutboundMessage.tenant_id == tenant_id, OutboundMessage.created_at >= lo, OutboundMessage.created_at < hi)
        .group_by(OutboundMessage.status)).all()
    top = sorted(((s, f.leads) for s, f in figures.by_source.items() if s != NO_SOURCE), key=lambda x: (-x[1], x[0]))
    return Week(start, end, figures.overall, top[:TOP_SOURCES], dict(kinds), handoffs or 0, dict(responses))


def weekly_summary(session: Session, tenant_id: int, tenant_name: str, today: dt.date) -> WeeklySummary:
    """The last 7 whole days up to `today` (included) against the 7 before."""
    start = today - dt.timedelta(days=WEEK - 1)
    before = start - dt.timedelta(days=WEEK)
    return WeeklySummary(tenant_name, week(session, tenant_id, start, today),
                         week(session, tenant_id, before, start - dt.timedelta(days=1)))


def email_summary(summary: WeeklySummary, tenant_id: int, to: str) -> Accepted:
    """Hand the summary to the tenant's email sender; SenderNotConfigured when it has none, SendRefused /
    SendFailed as the sender says. The key makes a second click the same message (one Message-ID)."""
    sender = sender_for(tenant_id, "email")
    return sender.send(Outgoing(channel="email", to=to, subject=summary.subject(), body=summary.text(),
                                from_name="LeadRelay", key=f"weekly:{tenant_id}:{summary.this.end}:{to.lower()}"))


# The weekly job --------------------------------------------------------------------------------------------------

RUN_WEEKDAY, RUN_HOUR_UTC = 0, 7  # Monday 07:00 UTC: the week that ended on Sunday, before most working days start


def next_run(now: dt.datetime, tenant_id: int) -> dt.datetime:
    """The next Monday 07:xx UTC after `now` (the minute spread by tenant, so tenants do not all send at once)."""
    at = now.replace(hour=RUN_HOUR_UTC, minute=tenant_id % 60, second=0, microsecond=0)
    at += dt.timedelta(days=(RUN_WEEKDAY - at.weekday()) % 7)
    return at if at > now else at + dt.timedelta(days=7)


def schedule_weekly_summary(tenant_id: int):
    """Plan the tenant's next weekly email (one job id per Monday: planning it twice changes nothing)."""
    at = next_run(dt.datetime.now(dt.UTC), tenant_id)
    return weekly_summary_job.enqueue(tenant_id, job_id=f"weekly-{tenant_id}-{at:%Y%m%d}", at=at)


@job(MAINTENANCE, name="weekly_summary", timeout=300)
def weekly_summary_job(tenant_id: int, week_end: str | None = None) -> int:
    """Email the summary of the 7 days up to `week_end` (default: yesterday) to the addresses the tenant's switch
    keeps; each address once per week (a Decision claimed before the send, so a retried job never sends twice).
    Returns emails sent. Plans next week's run while the switch is on."""
    database_url = get_settings().database_url
    with session_scope(database_url) as session:
        tenant = session.get(Tenant, tenant_id)
        setting = ((tenant.settings or {}).get(WEEKLY_SETTING) or {}) if tenant else {}
        if not setting.get("on"):
            return 0
        end = dt.date.fromisoformat(week_end) if week_end else dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
        summary = weekly_summary(session, tenant_id, tenant.name, end)
    sent = 0
    try:
        for to in [a for a in setting.get("to") or [] if isinstance(a, str) and "@" in a]:
            sent += _send_once(database_url, tenant_id, summary, to)
    finally:
        if week_end is None:
            schedule_weekly_summary(tenant_id)
    return sent


def _send_once(database_url: str, tenant_id: int, summary: WeeklySummary, to: str) -> int:
    key = f"weekly:{summary.this.end}:{to.lower()}"[:200]
    with session_scope(database_url) as session:
        if session.scalar(select(Decision.id).where(Decision.tenant_id == tenant_id,
                                                    Decision.idempotency_key == key)) is not None:
            return 0
        session.add(Decision(tenant_id=tenant_id, idempotency_key=key, kind="weekly_summary", object_type="tenant",
                             object_id=str(tenant_id), outcome="sent",
                             reason=f"Weekly summary {summary.this.start} to {summary.this.end} emailed to {to}"[:500],
                             inputs={"to": to}))
    try:
        email_summary(summary, tenant_id, to)
    except (SenderNotConfigured, SendRefused) as exc:
        # nothing a retry mends: the claim stays, with why, for the audit log
        with session_scope(database_url) as session:
            row = session.scalar(select(Decision).where(Decision.tenant_id == tenant_id,
                                                        Decision.idempotency_key == key))
            row.outcome = "not sent"
            row.reason = (f"Weekly summary not emailed to {to}: "
                          f"{'no email sender is set up' if isinstance(exc, SenderNotConfigured) else exc}")[:500]
        log.warning("weekly-summary.not-sent", extra={"tenant_id": tenant_id, "reason": type(exc).__name__})
        return 0
    except SendFailed:
        with session_scope(database_url) as session:  # let the retry send it
            session.execute(delete(Decision).where(Decision.tenant_id == tenant_id,
                                                   Decision.idempotency_key == key))
        raise
    return 1
