"""The KPI figures: one population of leads (route decisions in a date range, for one owner when asked), and every
rate computed over that population only.

A lead is a route decision (not one re-created by an undo). Its figures are its own: routed automatically, sent to
review or merged on arrival; a duplicate when it was merged into (or kept as) a twin, or sent to duplicate review;
its speed-to-owner (written_at − crm_created_at); its SLA outcome. So every numerator counts leads of the
denominator, and every rate is within 0–100 % whatever the filter (tests/test_kpi_properties.py).
"""
from __future__ import annotations

import datetime as dt
import math
import statistics
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import String, case, distinct, exists, func, literal, select, type_coerce
from sqlalchemy.orm import Session, aliased

from integration.models import Decision, EventRecord, ReviewItem
from integration.protocols import parse_iso
from marketplace.console_audit import midnight
from marketplace.params import ParamError, date_arg

DEFAULT_DAYS, MAX_DAYS = 30, 366
RESTORED = "restored"  # a record re-created by an undo: not a new lead
NOT_ROUTED = frozenset({"review", "merged", RESTORED})
ESCALATIONS = ("notify_manager", "reassigned")
SLA_DONE = ("met", "met_late", "breached")
# stage changes and stale-lead actions (integration/followup/stale.py)
STAGE_KINDS = ("lifecycle", "stale", "reactivation")
AGE_BUCKETS = ((7, "0-7 days"), (14, "8-14 days"), (30, "15-30 days"), (90, "31-90 days"))
OLDEST_BUCKET = "over 90 days"
LINK_MARGIN = dt.timedelta(days=1)  # a lead's duplicate review item and SLA outcome come at or after its routing
DUPLICATE_RULE = "Duplicate"  # the new lead survived a merge and kept its twin's owner (integration/pipeline/flow.py)


@dataclass(frozen=True)
class Lead:
    """One lead of the population, as the per-lead CSV lists it."""

    routed_at: dt.datetime
    object_type: str
    object_id: str
    outcome: str  # the owner's email, "review" or "merged"
    rule: str
    speed: float | None
    duplicate: str  # "merged", "review" or ""
    sla: str  # met, met_late, breached or "" (not decided yet, or no SLA)
    reason: str = ""

    @property
    def day(self) -> dt.date:
        return self.routed_at.date()

    @property
    def automatic(self) -> bool:
        return self.outcome not in NOT_ROUTED


@dataclass
class Day:
    leads: int = 0
    automatic: int = 0
    review: int = 0
    merged: int = 0
    duplicates: int = 0
    speeds: list[float] = field(default_factory=list)

    @property
    def median(self) -> float | None:
        return statistics.median(self.speeds) if self.speeds else None


@dataclass
class Kpis:
    start: dt.date
    end: dt.date
    owner: str
    leads: int = 0
    automatic: int = 0
    review: int = 0
    merged_on_arrival: int = 0
    duplicates_merged: int = 0  # leads of the population merged with a twin
    duplicates_review: int = 0  # leads of the population sent to duplicate review (and not merged)
    sla: Counter = field(default_factory=Counter)  # met / met_late / breached, per lead of the population
    speeds: list[float] = field(default_factory=list)
    per_owner: Counter = field(default_factory=Counter)
    per_day: dict[dt.date, Day] = field(default_factory=dict)
    escalations: Counter = field(default_factory=Counter)  # outcome -> count
    escalations_per_day: Counter = field(default_factory=Counter)
    failed_events: int = 0
    crm_errors: int = 0
    failures_per_day: Counter = field(default_factory=Counter)
    aging: list[tuple[str, int, int]] = field(default_factory=list)  # (bucket, leads, with stage activity)

    @property
    def median(self) -> float | None:
        return statistics.median(self.speeds) if self.speeds else None

    @property
    def p90(self) -> float | None:
        return percentile(self.speeds, 0.9)

    def share(self, part: int, whole: int | None = None) -> float | None:
        whole = self.leads if whole is None else whole
        return round(100 * part / whole, 1) if whole else None

    @property
    def duplicates(self) -> int:
        return self.duplicates_merged + self.duplicates_review

    @property
    def duplicate_rate(self) -> float | None:
        return self.share(self.duplicates)

    @property
    def sla_decided(self) -> int:
        return sum(self.sla[o] for o in SLA_DONE)

    @property
    def sla_met_rate(self) -> float | None:
        """Leads whose first touch came within their SLA, of those whose SLA is decided."""
        return self.share(self.sla["met"], self.sla_decided)

    def days(self) -> list[tuple[dt.date, Day]]:
        """Every day of the range, with its figures (an empty Day when nothing happened)."""
        return [(day, self.per_day.get(day) or Day())
                for day in (self.start + dt.timedelta(days=i) for i in range((self.end - self.start).days + 1))]


def percentile(values: list[float], p: float) -> float | None:
    """Nearest-rank percentile (p90 of 10 values is the 9th smallest)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p * len(ordered)) - 1)]


# The range --------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Range:
    start: dt.date
    end: dt.date
    note: str = ""  # said to the admin when the range was shortened


def date_range(args, today: dt.date | None = None) -> Range:
    """[start, end] from the query string: the last 30 days by default, at most MAX_DAYS (then the latest part).

    A date that is not one, or From after To, is a ParamError (400) whose message names the form's field."""
    start, end = date_arg(args, "start"), date_arg(args, "end")
    end = end or (today or dt.datetime.now(dt.UTC).date())
    start = start or end - dt.timedelta(days=DEFAULT_DAYS - 1)
    if start > end:
        raise ParamError("start", f"after end: the From date ({start}) is after the To date ({end}); swap them")
    if (end - start).days >= MAX_DAYS:
        shown = end - dt.timedelta(days=MAX_DAYS - 1)
        return Range(shown, end, f"The range is longer than {MAX_DAYS} days: showing its last {MAX_DAYS} days, "
                                 f"{shown} to {end}.")
    return Range(start, end)


# The population ---------------------------------------------------------------------------------------------

def leads(session: Session, tenant_id: int, start: dt.date, end: dt.date, owner: str = "",
          with_reason: bool = False) -> Iterator[Lead]:
    """The leads routed in [start, end] (whole UTC days), of one owner when given, each with its own figures."""
    window = (midnight(start), midnight(end + dt.timedelta(days=1)))
    in_review, sla = _duplicate_reviews(session, tenant_id, window), _sla_outcomes(session, tenant_id, window)
    # the day as stored (a string on SQLite): no per-row conversion; reasons only for the per-lead export
    stmt = select(Decision.outcome, type_coerce(Decision.created_at, String), Decision.object_type,
                  Decision.object_id, Decision.inputs["rule"].as_string(),
                  Decision.inputs["written_at"].as_string(), Decision.inputs["crm_created_at"].as_string(),
                  Decision.reason if with_reason else literal("")).where(
        Decision.tenant_id == tenant_id, Decision.kind == "route", Decision.outcome != RESTORED,
        Decision.created_at >= window[0], Decision.created_at < window[1]).order_by(Decision.created_at, Decision.id)
    if owner:
        stmt = stmt.where(func.lower(Decision.outcome) == owner.lower())
    for outcome, created, object_type, object_id, rule, written, crm_created, reason in \
            session.connection().execute(stmt.execution_options(yield_per=2000)):
        key = (object_type, object_id)
        merged = outcome == "merged" or rule == DUPLICATE_RULE
        duplicate = "merged" if merged else "review" if key in in_review else ""
        yield Lead(routed_at=_moment(created), object_type=object_type, object_id=object_id,
                   outcome=outcome if outcome in NOT_ROUTED else outcome.lower(), rule=rule or "",
                   speed=None if outcome in NOT_ROUTED else _speed(written, crm_created), duplicate=duplicate,
                   sla=sla.get(key, ""), reason=reason or "")


def _duplicate_reviews(session: Session, tenant_id: int, window) -> set[tuple[str, str]]:
    """Leads sent to duplicate review around the window (the review item is made when the lead is routed)."""
    return set(session.execute(select(ReviewItem.object_type, ReviewItem.object_id).where(
        ReviewItem.tenant_id == tenant_id, ReviewItem.kind == "dedup",
        ReviewItem.created_at >= window[0] - LINK_MARGIN, ReviewItem.created_at < window[1] + LINK_MARGIN)).all())


def _sla_outcomes(session: Session, tenant_id: int, window) -> dict[tuple[str, str], str]:
    """Each lead's latest decided SLA outcome (a reassigned lead's last owner counts), decided after the window
    opened."""
    rows = session.execute(select(Decision.object_type, Decision.object_id, Decision.outcome).where(
        Decision.tenant_id == tenant_id, Decision.kind == "sla", Decision.outcome.in_(SLA_DONE),
        Decision.created_at >= window[0]).order_by(Decision.created_at, Decision.id))
    return {(object_type, object_id): outcome for object_type, object_id, outcome in rows}


def compute(session: Session, tenant_id: int, start: dt.date, end: dt.date, owner: str = "") -> Kpis:
    """Every figure for the tenant over [start, end] (whole UTC days), for one owner when given."""
    k = Kpis(start=start, end=end, owner=owner)
    for lead in leads(session, tenant_id, start, end, owner):
        _count(k, lead)
    window = (midnight(start), midnight(end + dt.timedelta(days=1)))
    _follow_ups(session, tenant_id, k, window)
    k.aging = stage_aging(session, tenant_id, min(window[1], dt.datetime.now(dt.UTC)), owner)
    return k


def _count(k: Kpis, lead: Lead) -> None:
    day = k.per_day.setdefault(lead.day, Day())
    k.leads += 1
    day.leads += 1
    if lead.outcome == "review":
        k.review += 1
        day.review += 1
    elif lead.outcome == "merged":
        k.merged_on_arrival += 1
        day.merged += 1
    else:
        k.automatic += 1
        day.automatic += 1
        k.per_owner[lead.outcome] += 1
    if lead.duplicate:
        setattr(k, f"duplicates_{lead.duplicate}", getattr(k, f"duplicates_{lead.duplicate}") + 1)
        day.duplicates += 1
    if lead.speed is not None:
        k.speeds.append(lead.speed)
        day.speeds.append(lead.speed)
    if lead.sla:
        k.sla[lead.sla] += 1


def _follow_ups(session: Session, tenant_id: int, k: Kpis, window: tuple[dt.datetime, dt.datetime]) -> None:
    """Escalations (SLA decisions; of the owner's leads when filtered) and sync failures (failed events,
    CRM-error review items: they belong to no owner) per day."""
    escalated = select(Decision.outcome, type_coerce(Decision.created_at, String)).where(
        Decision.tenant_id == tenant_id, Decision.kind == "sla", Decision.outcome.in_(ESCALATIONS),
        Decision.created_at >= window[0], Decision.created_at < window[1])
    if k.owner:
        route = aliased(Decision)
        escalated = escalated.where(exists().where(
            route.tenant_id == Decision.tenant_id, route.object_type == Decision.object_type,
            route.object_id == Decision.object_id, route.kind == "route",
            func.lower(route.outcome) == k.owner.lower()))
    for outcome, created_at in session.connection().execute(escalated):
        k.escalations[outcome] += 1
        k.escalations_per_day[_moment(created_at).date()] += 1
    failed = select(type_coerce(EventRecord.received_at, String)).where(
        EventRecord.tenant_id == tenant_id, EventRecord.status == "failed",
        EventRecord.received_at >= window[0], EventRecord.received_at < window[1])
    errors = select(type_coerce(ReviewItem.created_at, String)).where(
        ReviewItem.tenant_id == tenant_id, ReviewItem.kind == "crm_error",
        ReviewItem.created_at >= window[0], ReviewItem.created_at < window[1])
    for query, attr in ((failed, "failed_events"), (errors, "crm_errors")):
        for (at,) in session.connection().execute(query):
            setattr(k, attr, getattr(k, attr) + 1)
            k.failures_per_day[_moment(at).date()] += 1


def stage_aging(session: Session, tenant_id: int, ref: dt.datetime, owner: str = "") -> list[tuple[str, int, int]]:
    """Leads routed to an owner before `ref`, per age bucket (days since routing), and how many of them had a
    lifecycle or stale-lead decision since; one grouped query (the object index serves the EXISTS)."""
    other = aliased(Decision)
    bucket = case(*[(Decision.created_at >= ref - dt.timedelta(days=days), label) for days, label in AGE_BUCKETS],
                  else_=OLDEST_BUCKET)
    moved = exists().where(other.tenant_id == Decision.tenant_id, other.object_type == Decision.object_type,
                           other.object_id == Decision.object_id, other.kind.in_(STAGE_KINDS))
    stmt = select(bucket, func.count(distinct(Decision.object_id)),
                  func.count(distinct(case((moved, Decision.object_id))))).where(
        Decision.tenant_id == tenant_id, Decision.kind == "route", Decision.outcome.notin_(NOT_ROUTED),
        Decision.created_at < ref).group_by(bucket)
    if owner:
        stmt = stmt.where(func.lower(Decision.outcome) == owner.lower())
    found = {label: (leads, active) for label, leads, active in session.execute(stmt)}
    return [(label, *found.get(label, (0, 0))) for label in [b for _, b in AGE_BUCKETS] + [OLDEST_BUCKET]]


def _moment(value: str | dt.datetime) -> dt.datetime:
    """A stored UTC datetime (a string on SQLite) as an aware datetime."""
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value.replace(" ", "T", 1))
    return value.astimezone(dt.UTC) if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _speed(written_at: str | None, crm_created_at: str | None) -> float | None:
    if not written_at or not crm_created_at:
        return None
    try:  # the pipeline writes both with isoformat(); parse_iso takes what other writers may have stored
        done, created = dt.datetime.fromisoformat(written_at), dt.datetime.fromisoformat(crm_created_at)
    except ValueError:
        done, created = parse_iso(written_at), parse_iso(crm_created_at)
    if done.tzinfo is None or created.tzinfo is None:
        done, created = done.replace(tzinfo=dt.UTC), created.replace(tzinfo=dt.UTC)
    return max(0.0, (done - created).total_seconds())


# The all-time SLA table and the headline figures -------------------------------------------------------------

def sla_figures(session: Session, tenant_id: int) -> list[tuple[str, Any]] | None:
    """The SLA follow-up's all-time figures as (name, value) rows (None: it is not there)."""
    try:
        from integration.followup.figures import sla_figures as figures
    except ImportError:
        return None
    return flatten(figures(session, tenant_id))


def flatten(values: dict, prefix: str = "") -> list[tuple[str, Any]]:
    """Scalar figures, nested ones named parent_child; lists (per-lead details) are left to the audit log."""
    rows = []
    for name, value in values.items():
        if isinstance(value, dict):
            rows += flatten(value, f"{prefix}{name}_")
        elif not isinstance(value, list | tuple):
            rows.append((f"{prefix}{name}", value))
    return rows


def summary(k: Kpis) -> list[tuple[str, float | int | str | None]]:
    """The headline figures, in the order the page and the CSV show them."""
    def rnd(v: float | None) -> float | None:
        return None if v is None else round(v, 3)

    return [("start", k.start.isoformat()), ("end", k.end.isoformat()), ("owner", k.owner or "all"),
            ("leads", k.leads), ("routed_automatically", k.automatic), ("sent_to_review", k.review),
            ("merged_on_arrival", k.merged_on_arrival), ("pct_routed_automatically", k.share(k.automatic)),
            ("pct_sent_to_review", k.share(k.review)), ("duplicates_merged", k.duplicates_merged),
            ("duplicates_to_review", k.duplicates_review), ("duplicate_rate_pct", k.duplicate_rate),
            ("median_speed_to_owner_seconds", rnd(k.median)), ("p90_speed_to_owner_seconds", rnd(k.p90)),
            ("sla_decided", k.sla_decided), ("sla_met", k.sla["met"]), ("sla_met_pct", k.sla_met_rate),
            ("escalations", sum(k.escalations.values())), ("failed_events", k.failed_events),
            ("crm_errors", k.crm_errors), ("sync_failures", k.failed_events + k.crm_errors)]


PERCENT_FIELDS = ("pct_routed_automatically", "pct_sent_to_review", "duplicate_rate_pct", "sla_met_pct")


# What the page calls each all-time SLA figure (the CSV keeps the keys).
SLA_LABELS = {
    "tasks_created": "Follow-up tasks created", "sla_met": "SLA met", "sla_met_late": "SLA met late",
    "sla_breached": "SLA breached", "sla_pending": "SLA clocks running", "sla_met_rate": "SLA met rate",
    "escalations": "Escalations", "managers_notified": "Managers notified", "reassigned": "Leads reassigned",
    "sent_to_review": "Sent to review", "cadences_started": "Cadences started",
    "cadence_steps_done": "Cadence steps done", "cadences_paused": "Cadences paused",
    "cadences_ended": "Cadences ended", "time_to_first_touch_leads": "Leads with a first touch",
    "time_to_first_touch_median_seconds": "Time to first touch (median)",
    "time_to_first_touch_p90_seconds": "Time to first touch (p90)",
}


def sla_label(name: str) -> str:
    """A figure's name in words; one the follow-up adds later reads as a sentence, not a key."""
    if name in SLA_LABELS:
        return SLA_LABELS[name]
    words = name.removesuffix("_seconds").replace("_", " ")
    return (words[:1].upper() + words[1:]).replace("sla", "SLA").replace("Sla", "SLA")
