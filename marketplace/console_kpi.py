"""The KPI dashboard and its CSV exports (summary, per day, per lead); the figures are marketplace/kpi_figures.py's.

A date the page cannot use is a 400 that shows the form again with what was wrong (JSON callers get the JSON
error); the exports answer 400 with the same message.
"""
from __future__ import annotations

import datetime as dt
import io
import logging
from collections.abc import Iterator

from flask import Blueprint, Response, current_app, flash, g, redirect, render_template, request, url_for
from markupsafe import Markup

from integration.admin import conversions as cv
from integration.admin import csvsafe
from integration.db import session_scope
from integration.models import Tenant
from integration.outreach.senders import SenderNotConfigured, SendFailed, SendRefused
from marketplace import kpi_figures as kf
from marketplace import record_display
from marketplace.access import tenant_view
from marketplace.errors import wants_json
from marketplace.params import EARLIEST_DATE, LATEST_DATE, ParamError, choice_arg, text_arg
from marketplace.svg import bar_chart, day_chart

kpi_bp = Blueprint("console_kpi", __name__, url_prefix="/console")
log = logging.getLogger("leadrelay.console.kpi")
EXPORTS = ("summary", "days", "leads")


def duration(seconds: float | None) -> str:
    """A time as people say it: 0.4 s, 25 s, 4 min 12 s, 2 h 5 min, 3 d 4 h."""
    if seconds is None:
        return "—"
    if seconds < 9.95:
        return f"{seconds:.1f} s"
    whole = round(seconds)
    for size, unit, smaller, rest in ((86400, "d", 3600, "h"), (3600, "h", 60, "min"), (60, "min", 1, "s")):
        if whole >= size:
            big, left = divmod(whole, size)
            left //= smaller
            return f"{big} {unit}" + (f" {left} {rest}" if left else "")
    return f"{whole} s"


def short_duration(seconds: float) -> str:
    """An axis label: 0 s, 30 s, 2 min, 1.5 h."""
    if seconds < 120:
        return f"{seconds:g} s"
    return f"{seconds / 60:g} min" if seconds < 7200 else f"{seconds / 3600:g} h"


def percent(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f} %"


def sla_value(name: str, value) -> str:
    """An all-time SLA figure as the page shows it: times as durations, rates as percentages."""
    if value is None:
        return "—"
    if name.endswith("_seconds"):
        return duration(value)
    if name.endswith("_rate"):
        return percent(100 * value)
    return str(value)


@kpi_bp.get("/tenants/<int:tenant_id>/kpis")
@tenant_view()
def kpis(tenant: Tenant):
    try:
        span, owner = kf.date_range(request.args), text_arg(request.args, "owner")
    except ParamError as exc:
        if wants_json():
            raise
        return render_template("console/kpis.html", tenant=tenant, role=g.role, k=None, error=_message(exc),
                               args=request.args), 400
    k = kf.compute(g.db, tenant.id, span.start, span.end, owner)
    conv = cv.compute(g.db, tenant.id, span.start, span.end, owner)
    names = owner_names(tenant) if k.per_owner or conv.by_path else {}
    return render_template("console/kpis.html", tenant=tenant, role=g.role, k=k, note=span.note, args=request.args,
                           charts=charts(k, names), owners=k.per_owner.most_common(20),
                           sla=kf.sla_figures(g.db, tenant.id), conv=conv, paths=paths(conv, names),
                           sources=sorted(conv.by_source.items(), key=lambda kv: (-kv[1].leads, kv[0])),
                           help=cv.DEFINITIONS, duration=duration, percent=percent, sla_label=kf.sla_label,
                           sla_value=sla_value)


def paths(conv: cv.Conversions, names: dict[str, str]) -> list[tuple[str, str, str, cv.Figures]]:
    """The routing-path rows (rule, pool, owner by name), most leads first."""
    rows = [(rule, pool, owner if owner.startswith("(") else names.get(owner) or owner, figures)
            for (rule, pool, owner), figures in conv.by_path.items()]
    return sorted(rows, key=lambda r: (-r[3].leads, r[0], r[1], r[2]))


FIELDS = {"start": "From", "end": "To", "owner": "Owner"}


def _message(exc: ParamError) -> str:
    """The 400's message (params.py's, for machines) in the words of the form the admin filled in."""
    problem = str(exc.description).removeprefix(f"{exc.param}: ")
    field, raw = FIELDS.get(exc.param, exc.param), (request.args.get(exc.param) or "").strip()[:40]
    if problem.startswith("expected a date"):
        return (f"The {field} date “{raw}” is not a date LeadRelay can use: enter it as YYYY-MM-DD, "
                f"between {EARLIEST_DATE} and {LATEST_DATE}")
    if problem.startswith("after end"):
        problem = problem.removeprefix("after end: ")
        return problem[:1].upper() + problem[1:]
    return f"{field}: {problem}"


def owner_names(tenant: Tenant) -> dict[str, str]:
    """Owner email (lower case) -> name; empty when the account or Redis cannot say, and the charts then name
    owners by email alone."""
    return record_display.owner_names(tenant.id) if tenant.is_processing else {}


def owner_label(email: str, names: dict[str, str]) -> str:
    name = names.get(email.lower())
    return f"{name} · {email}" if name else email


def charts(k: kf.Kpis, names: dict[str, str] | None = None) -> dict[str, Markup]:
    days = k.days()
    dates = [d for d, _ in days]
    owners = k.per_owner.most_common(20)
    return {
        "leads": day_chart(dates, [day.leads for _, day in days], title="Leads per day", what="leads", unit="Leads",
                           series=[("Routed automatically", [day.automatic for _, day in days]),
                                   ("Sent to review", [day.review for _, day in days]),
                                   ("Merged on arrival", [day.merged for _, day in days])]),
        "speed": day_chart(dates, [day.median for _, day in days], title="Median speed-to-owner per day",
                           what="median speed-to-owner", unit="Median time to owner", fmt=short_duration,
                           value_fmt=duration, line=True, whole=False),
        "owners": bar_chart([owner_label(o, names or {}) for o, _ in owners], [n for _, n in owners],
                            title="Leads per owner", what="leads"),
        "escalations": day_chart(dates, [k.escalations_per_day[d] for d in dates], title="Escalations per day",
                                 what="escalations", unit="Escalations"),
        "failures": day_chart(dates, [k.failures_per_day[d] for d in dates], title="Sync failures per day",
                              what="sync failures", unit="Sync failures"),
    }


@kpi_bp.get("/tenants/<int:tenant_id>/kpis.csv")
@tenant_view()
def kpis_csv(tenant: Tenant):
    """?export=summary (default; sectioned key/value rows), days (one row per day) or leads (one row per lead)."""
    span, owner = kf.date_range(request.args), text_arg(request.args, "owner")
    export = choice_arg(request.args, "export", EXPORTS, "summary")
    if export == "leads":
        body = _lead_rows(current_app.config["LEADRELAY_SETTINGS"].database_url, tenant.id, span, owner)
    else:
        k = kf.compute(g.db, tenant.id, span.start, span.end, owner)
        body = _csv(_day_rows(k) if export == "days" else _summary_rows(k, kf.sla_figures(g.db, tenant.id)))
    name = f"leadrelay-kpis-{export}-{tenant.id}-{span.start.isoformat()}-{span.end.isoformat()}.csv"
    return Response(body, mimetype="text/csv", headers={"Content-Disposition": f'attachment; filename="{name}"'})


def _csv(rows) -> str:
    out = io.StringIO()
    csvsafe.writer(out).writerows(rows)  # owners' emails and the owner filter are typed by users: no formulas
    return out.getvalue()


def _summary_rows(k: kf.Kpis, sla) -> Iterator[list]:
    yield ["section", "key", "value"]
    for name, value in kf.summary(k):
        yield ["summary", name, "" if value is None else value]
    for name, value in sla or []:
        yield ["sla_all_time", name, "" if value is None else value]
    for owner, count in k.per_owner.most_common():
        yield ["leads_per_owner", owner, count]
    for outcome in kf.ESCALATIONS:
        yield ["escalations", outcome, k.escalations[outcome]]
    for label, leads, active in k.aging:
        yield ["stage_aging_leads", label, leads]
        yield ["stage_aging_with_stage_activity", label, active]
    for day, figures in k.days():
        yield ["leads_per_day", day.isoformat(), figures.leads]
        yield ["median_speed_seconds_per_day", day.isoformat(), _round(figures.median)]
        yield ["escalations_per_day", day.isoformat(), k.escalations_per_day[day]]
        yield ["sync_failures_per_day", day.isoformat(), k.failures_per_day[day]]


def _day_rows(k: kf.Kpis) -> Iterator[list]:
    yield ["day", "leads", "routed_automatically", "sent_to_review", "merged_on_arrival", "duplicates",
           "duplicate_rate_pct", "median_speed_to_owner_seconds", "escalations", "sync_failures"]
    for day, d in k.days():
        yield [day.isoformat(), d.leads, d.automatic, d.review, d.merged, d.duplicates,
               "" if not d.leads else round(100 * d.duplicates / d.leads, 1), _round(d.median),
               k.escalations_per_day[day], k.failures_per_day[day]]


def _lead_rows(database_url: str, tenant_id: int, span: kf.Range, owner: str) -> Iterator[str]:
    """The population one lead a row, streamed in chunks (a year of leads does not sit in memory as text), from
    its own session: the request's is closed once the response has started."""
    out = io.StringIO()
    writer = csvsafe.writer(out)
    writer.writerow(["routed_at", "object_type", "lead_id", "owner", "rule", "speed_to_owner_seconds",
                     "duplicate", "sla", "reason"])
    with session_scope(database_url) as db:
        for n, lead in enumerate(kf.leads(db, tenant_id, span.start, span.end, owner, with_reason=True), 1):
            writer.writerow([lead.routed_at.isoformat(), lead.object_type, lead.object_id, lead.outcome, lead.rule,
                             _round(lead.speed), lead.duplicate, lead.sla, lead.reason])
            if n % 500 == 0:
                yield out.getvalue()
                out.seek(0)
                out.truncate()
    yield out.getvalue()


def _round(value: float | None) -> float | str:
    return "" if value is None else round(value, 3)


# The weekly summary ----------------------------------------------------------------------------------------------

def _summary(tenant: Tenant) -> cv.WeeklySummary:
    return cv.weekly_summary(g.db, tenant.id, tenant.name, dt.datetime.now(dt.UTC).date())


@kpi_bp.get("/tenants/<int:tenant_id>/weekly-summary")
@tenant_view()
def weekly_summary(tenant: Tenant):
    setting = (tenant.settings or {}).get(cv.WEEKLY_SETTING) or {}
    return render_template("console/weekly_summary.html", tenant=tenant, role=g.role, summary=_summary(tenant),
                           weekly_on=bool(setting.get("on")), weekly_to=setting.get("to") or [],
                           my_email=g.user.email or "")


@kpi_bp.post("/tenants/<int:tenant_id>/weekly-summary/email")
@tenant_view(write=True)
def email_weekly_summary(tenant: Tenant):
    """"Email it to me": the summary through the tenant's own email sender, to the signed-in admin."""
    back = redirect(url_for("console_kpi.weekly_summary", tenant_id=tenant.id)), 303
    if not g.user.email:
        flash("Your sign-in has no email address, so there is nowhere to send the summary.", "error")
        return back
    try:
        cv.email_summary(_summary(tenant), tenant.id, g.user.email)
    except SenderNotConfigured:
        flash("This account has no email sender yet: set one up under Settings → First response (SMTP or the "
              "CRM's own sending), then send the summary again.", "error")
        return back
    except (SendRefused, SendFailed) as exc:
        log.warning("weekly-summary.send-failed", extra={"tenant_id": tenant.id, "reason": type(exc).__name__})
        flash(f"The email sender did not take the summary: {str(exc)[:200]}", "error")
        return back
    flash(f"The weekly summary is on its way to {g.user.email}.", "success")
    return back


@kpi_bp.post("/tenants/<int:tenant_id>/weekly-summary/schedule")
@tenant_view(write=True)
def schedule_weekly_summary(tenant: Tenant):
    """The switch: every Monday, the summary to the admin who turned it on (and others who did before)."""
    on = request.form.get("on") == "1"
    setting = dict((tenant.settings or {}).get(cv.WEEKLY_SETTING) or {})
    to = [a for a in setting.get("to") or [] if isinstance(a, str)]
    if on and not g.user.email:
        flash("Your sign-in has no email address, so the weekly email cannot go to you.", "error")
        return redirect(url_for("console_kpi.weekly_summary", tenant_id=tenant.id)), 303
    if on and g.user.email.lower() not in [a.lower() for a in to]:
        to.append(g.user.email)
    Tenant.merge_settings(g.db, tenant.id, {cv.WEEKLY_SETTING: {"on": on, "to": to if on else []}})
    if on:
        g.db.commit()  # the job reads the switch from its own session
        cv.schedule_weekly_summary(tenant.id)
    flash("The weekly summary will be emailed every Monday." if on else "The weekly summary email is off.",
          "success")
    return redirect(url_for("console_kpi.weekly_summary", tenant_id=tenant.id)), 303
