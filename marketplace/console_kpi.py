"""The KPI dashboard and its CSV: speed-to-owner, automatic vs review, duplicate rate, leads per owner, SLA.

Figures come from the audit (route and dedup Decisions, dedup ReviewItems) over a date range, default the last
30 days, optionally for one owner. Speed-to-owner is the route decision's written_at − crm_created_at.
"""
from __future__ import annotations

import datetime as dt
import io
import math
import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from flask import Blueprint, Response, g, render_template, request
from markupsafe import Markup
from sqlalchemy import String, case, distinct, exists, func, select, type_coerce
from sqlalchemy.orm import aliased

from integration import csvsafe
from integration.models import Decision, EventRecord, ReviewItem, Tenant
from integration.protocols import parse_iso
from marketplace.access import tenant_view
from marketplace.console_audit import midnight
from marketplace.params import date_arg, text_arg
from marketplace.svg import BAR_COLOR, EMPTY, SVG_OPEN, bar_chart, sparkline

kpi_bp = Blueprint("console_kpi", __name__, url_prefix="/console")
DEFAULT_DAYS, MAX_DAYS = 30, 366
NOT_ROUTED = frozenset({"review", "merged", "restored"})
ESCALATIONS = ("notify_manager", "reassigned")
STAGE_KINDS = ("lifecycle", "stale", "reactivation")  # stage changes and stale-lead actions (integration/stale.py)
AGE_BUCKETS = ((7, "0-7 days"), (14, "8-14 days"), (30, "15-30 days"), (90, "31-90 days"))
OLDEST_BUCKET = "over 90 days"


@dataclass
class Kpis:
    start: dt.date
    end: dt.date
    owner: str
    leads: int = 0
    automatic: int = 0
    review: int = 0
    merged_on_arrival: int = 0
    dedup_merges: int = 0
    dedup_reviews: int = 0
    speeds: list[float] = field(default_factory=list)
    per_owner: Counter = field(default_factory=Counter)
    per_day: dict[dt.date, list[float | None]] = field(default_factory=dict)  # day -> [leads, speeds...]
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

    def share(self, part: int) -> float | None:
        return round(100 * part / self.leads, 1) if self.leads else None

    @property
    def duplicate_rate(self) -> float | None:
        return self.share(self.dedup_merges + self.dedup_reviews)

    def days(self) -> list[tuple[dt.date, int, float | None]]:
        """(day, leads, median speed) for every day of the range."""
        out = []
        for i in range((self.end - self.start).days + 1):
            day = self.start + dt.timedelta(days=i)
            leads, speeds = self.per_day.get(day, (0, []))
            out.append((day, leads, statistics.median(speeds) if speeds else None))
        return out


def percentile(values: list[float], p: float) -> float | None:
    """Nearest-rank percentile (p90 of 10 values is the 9th smallest)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p * len(ordered)) - 1)]


def date_range(args) -> tuple[dt.date, dt.date]:
    """[start, end] from the query string: the last 30 days by default, at most MAX_DAYS; 400 out of range."""
    end = date_arg(args, "end") or dt.datetime.now(dt.UTC).date()
    start = date_arg(args, "start") or end - dt.timedelta(days=DEFAULT_DAYS - 1)
    if start > end:
        start, end = end, start
    return max(start, end - dt.timedelta(days=MAX_DAYS - 1)), end


def compute(session, tenant_id: int, start: dt.date, end: dt.date, owner: str = "") -> Kpis:
    """Every figure for the tenant over [start, end] (whole UTC days), for one owner when given."""
    k = Kpis(start=start, end=end, owner=owner)
    window = (midnight(start), midnight(end + dt.timedelta(days=1)))
    # the day as stored (a string on SQLite, whose UTC date is its first 10 characters): no per-row conversion
    stmt = select(Decision.outcome, type_coerce(Decision.created_at, String), Decision.inputs["written_at"].as_string(),
                  Decision.inputs["crm_created_at"].as_string()).where(
        Decision.tenant_id == tenant_id, Decision.kind == "route",
        Decision.created_at >= window[0], Decision.created_at < window[1])
    if owner:
        stmt = stmt.where(func.lower(Decision.outcome) == owner.lower())
    per_day: dict[dt.date, list] = defaultdict(lambda: [0, []])
    for outcome, created_at, written_at, crm_created_at in session.connection().execute(stmt):
        if outcome == "restored":
            continue  # re-created by an undo: not a new lead
        k.leads += 1
        day = per_day[_day(created_at)]
        day[0] += 1
        if outcome == "review":
            k.review += 1
        elif outcome == "merged":
            k.merged_on_arrival += 1
        else:
            k.automatic += 1
            k.per_owner[outcome.lower()] += 1
            speed = _speed(written_at, crm_created_at)
            if speed is not None:
                k.speeds.append(speed)
                day[1].append(speed)
    k.per_day = dict(per_day)
    k.dedup_merges = session.scalar(select(func.count()).select_from(Decision).where(
        Decision.tenant_id == tenant_id, Decision.kind == "dedup", Decision.created_at >= window[0],
        Decision.created_at < window[1]))
    k.dedup_reviews = session.scalar(select(func.count()).select_from(ReviewItem).where(
        ReviewItem.tenant_id == tenant_id, ReviewItem.kind == "dedup", ReviewItem.created_at >= window[0],
        ReviewItem.created_at < window[1]))
    _follow_ups(session, tenant_id, k, window)
    k.aging = stage_aging(session, tenant_id, min(window[1], dt.datetime.now(dt.UTC)), owner)
    return k


def _follow_ups(session, tenant_id: int, k: Kpis, window: tuple[dt.datetime, dt.datetime]) -> None:
    """Escalations (SLA decisions) and sync failures (failed events, CRM-error review items) per day."""
    escalated = select(Decision.outcome, type_coerce(Decision.created_at, String)).where(
        Decision.tenant_id == tenant_id, Decision.kind == "sla", Decision.outcome.in_(ESCALATIONS),
        Decision.created_at >= window[0], Decision.created_at < window[1])
    for outcome, created_at in session.connection().execute(escalated):
        k.escalations[outcome] += 1
        k.escalations_per_day[_day(created_at)] += 1
    failed = select(type_coerce(EventRecord.received_at, String)).where(
        EventRecord.tenant_id == tenant_id, EventRecord.status == "failed",
        EventRecord.received_at >= window[0], EventRecord.received_at < window[1])
    errors = select(type_coerce(ReviewItem.created_at, String)).where(
        ReviewItem.tenant_id == tenant_id, ReviewItem.kind == "crm_error",
        ReviewItem.created_at >= window[0], ReviewItem.created_at < window[1])
    for query, attr in ((failed, "failed_events"), (errors, "crm_errors")):
        for (at,) in session.connection().execute(query):
            setattr(k, attr, getattr(k, attr) + 1)
            k.failures_per_day[_day(at)] += 1


def stage_aging(session, tenant_id: int, ref: dt.datetime, owner: str = "") -> list[tuple[str, int, int]]:
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


def _day(value: str | dt.datetime) -> dt.date:
    if isinstance(value, dt.datetime):
        return (value.astimezone(dt.UTC) if value.tzinfo else value).date()
    return dt.date.fromisoformat(value[:10])


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


def sla_figures(session, tenant_id: int) -> list[tuple[str, Any]] | None:
    """The SLA figures as (name, value) rows, when the SLA follow-up offers them (None: it is not there)."""
    try:
        from integration.sla import sla_figures as figures
    except ImportError:
        try:
            from integration.sla_figures import sla_figures as figures
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


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds < 120:
        return f"{seconds:.1f} s"
    return f"{seconds / 60:.1f} min" if seconds < 7200 else f"{seconds / 3600:.1f} h"


@kpi_bp.get("/tenants/<int:tenant_id>/kpis")
@tenant_view()
def kpis(tenant: Tenant):
    start, end = date_range(request.args)
    k = compute(g.db, tenant.id, start, end, text_arg(request.args, "owner"))
    days = k.days()
    owners = k.per_owner.most_common(20)
    charts = {
        "owners": bar_chart([o for o, _ in owners], [n for _, n in owners], title="Leads per owner"),
        "leads": sparkline([n for _, n, _ in days], title="Leads per day"),
        "speed": sparkline([s for _, _, s in days], title="Median speed-to-owner per day"),
        "escalations": columns([k.escalations_per_day[d] for d, _, _ in days], "Escalations per day"),
        "failures": columns([k.failures_per_day[d] for d, _, _ in days], "Sync failures per day"),
    }
    return render_template("console/kpis.html", tenant=tenant, role=g.role, k=k, charts=charts, owners=owners,
                           sla=sla_figures(g.db, tenant.id), duration=duration)


def columns(counts: list[int], title: str, width: int = 640, height: int = 60) -> Markup:
    """One column per day, scaled to the busiest day (counts over time, where a line would suggest a trend)."""
    if not any(counts):
        return EMPTY
    step, top = width / len(counts), max(counts)
    bars = Markup("").join(Markup('<rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" fill="{f}">'
                                  '<title>{n}</title></rect>').format(
        x=i * step, y=height - height * n / top, w=max(1.0, step - 1), h=height * n / top, f=BAR_COLOR, n=n)
        for i, n in enumerate(counts))
    return SVG_OPEN.format(w=width, h=height, cls="chart columns", title=title) + bars + Markup("</svg>")


@kpi_bp.get("/tenants/<int:tenant_id>/kpis.csv")
@tenant_view()
def kpis_csv(tenant: Tenant):
    start, end = date_range(request.args)
    k = compute(g.db, tenant.id, start, end, text_arg(request.args, "owner"))
    out = io.StringIO()
    writer = csvsafe.writer(out)  # the owner filter and owners' emails are typed by users: no formulas
    writer.writerow(["section", "key", "value"])
    for name, value in summary(k):
        writer.writerow(["summary", name, "" if value is None else value])
    for name, value in sla_figures(g.db, tenant.id) or []:
        writer.writerow(["sla", name, "" if value is None else value])
    for owner, count in k.per_owner.most_common():
        writer.writerow(["leads_per_owner", owner, count])
    for outcome in ESCALATIONS:
        writer.writerow(["escalations", outcome, k.escalations[outcome]])
    for label, leads, active in k.aging:
        writer.writerow(["stage_aging_leads", label, leads])
        writer.writerow(["stage_aging_with_stage_activity", label, active])
    for day, leads, speed in k.days():
        writer.writerow(["escalations_per_day", day.isoformat(), k.escalations_per_day[day]])
        writer.writerow(["sync_failures_per_day", day.isoformat(), k.failures_per_day[day]])
        writer.writerow(["leads_per_day", day.isoformat(), leads])
        writer.writerow(["median_speed_seconds_per_day", day.isoformat(), "" if speed is None else round(speed, 3)])
    name = f"leadrelay-kpis-{tenant.id}-{start.isoformat()}-{end.isoformat()}.csv"
    return Response(out.getvalue(), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


def summary(k: Kpis) -> list[tuple[str, float | int | str | None]]:
    """The headline figures, in the order the page and the CSV show them."""
    def rnd(v: float | None) -> float | None:
        return None if v is None else round(v, 3)

    return [("start", k.start.isoformat()), ("end", k.end.isoformat()), ("owner", k.owner or "all"),
            ("leads", k.leads), ("routed_automatically", k.automatic), ("sent_to_review", k.review),
            ("merged_on_arrival", k.merged_on_arrival), ("pct_routed_automatically", k.share(k.automatic)),
            ("pct_sent_to_review", k.share(k.review)), ("dedup_merges", k.dedup_merges),
            ("dedup_reviews", k.dedup_reviews), ("duplicate_rate_pct", k.duplicate_rate),
            ("median_speed_to_owner_seconds", rnd(k.median)), ("p90_speed_to_owner_seconds", rnd(k.p90)),
            ("escalations", sum(k.escalations.values())), ("failed_events", k.failed_events),
            ("crm_errors", k.crm_errors), ("sync_failures", k.failed_events + k.crm_errors)]
