"""Simulation pages: start a rule-set version's dry run over recent CRM leads, watch it, read the result."""
from __future__ import annotations

from flask import Blueprint, flash, g, redirect, render_template, request, url_for

from integration.admin.simulate import DEFAULT_LEADS, MAX_LEADS, read_progress, start_simulation
from integration.models import RuleSetVersion, Tenant
from integration.rules import RulesError, load_rules
from marketplace.access import safe_local_path, tenant_view
from marketplace.console_rules import get_version, live_version
from marketplace.params import choice_arg, int_arg

simulate_bp = Blueprint("console_simulate", __name__, url_prefix="/console")
SHOWN_ROWS = 500
RUNNING = ("queued", "reading", "waiting", "running")
# ?show=: every lead, those whose owner would change, or only those the rules move (no round-robin reshuffles)
VIEWS = {"all": None, "changed": ("rule", "unowned", "rotation"), "rules": ("rule", "unowned")}
CHANGE_LABELS = {"same": "", "rule": "rule change", "unowned": "gets an owner", "rotation": "round-robin turn"}


@simulate_bp.get("/tenants/<int:tenant_id>/simulate")
@tenant_view()
def simulate(tenant: Tenant):
    """?version=V: its simulation (progress bar while it runs, then per-lead owners and totals)."""
    int_arg(request.args, "version")  # 400 unless blank or a version number
    return _page(tenant, request.args.get("version", ""), choice_arg(request.args, "show", VIEWS, "all"))


def _page(tenant: Tenant, asked: str, show: str = "all") -> str:
    version = get_version(g.db, tenant.id, asked) if asked else None
    progress = read_progress(tenant.id, version.version) if version is not None else None
    rows = shown_rows(progress, show)
    versions = g.db.scalars(RuleSetVersion.for_tenant(tenant.id).order_by(RuleSetVersion.version.desc())
                            .limit(20)).all()
    live = live_version(g.db, tenant.id)
    return render_template("console/simulate.html", tenant=tenant, role=g.role, version=version, asked=asked,
                           progress=progress, paused=not tenant.is_processing,
                           running=bool(progress and progress["state"] in RUNNING and tenant.is_processing),
                           versions=versions, live=live, shown=SHOWN_ROWS, default_leads=DEFAULT_LEADS,
                           max_leads=MAX_LEADS, percent=percent(progress), show=show, rows=rows,
                           change_labels=CHANGE_LABELS, names=owner_names_of(progress))


def owner_names_of(progress: dict | None) -> dict[str, str]:
    """Owner names by email as the simulation found them in the CRM (a result from before names were kept: {})."""
    if not progress or progress.get("state") != "done":
        return {}
    return dict(progress["result"].get("owner_names") or {})


def shown_rows(progress: dict | None, show: str) -> list[dict]:
    """The result's rows for the view (a result stored before changes were classified counts as rule changes)."""
    if not progress or progress.get("state") != "done":
        return []
    rows = progress["result"]["rows"]
    kinds = VIEWS[show]
    if kinds is None:
        return rows
    return [r for r in rows if r.get("change", "same" if r["current"] == r["simulated"] else "rule") in kinds]


def percent(progress: dict | None) -> int:
    if not progress or not progress.get("total"):
        return 0
    return min(100, round(100 * progress.get("done", 0) / progress["total"]))


@simulate_bp.post("/tenants/<int:tenant_id>/simulate")
@tenant_view(write=True)
def start(tenant: Tenant):
    """Run the simulation as a job on the maintenance queue; nothing is written to the CRM."""
    version = get_version(g.db, tenant.id, request.form.get("version", ""))
    if version is None:
        flash("Choose a saved rule-set version to simulate.", "error")
        return redirect(url_for("console_simulate.simulate", tenant_id=tenant.id)), 303
    try:
        load_rules(version.body)  # the job would fail on it; a version stored before the limits is refused here
    except RulesError as exc:
        flash(f"Version {version.version} cannot be simulated: {exc}", "error")
        return _page(tenant, str(version.version)), 400
    try:
        limit = int(request.form.get("limit") or DEFAULT_LEADS)
    except ValueError:
        limit = DEFAULT_LEADS
    start_simulation(tenant.id, version.version, limit)
    # started from the publish confirmation page: back there, where the result decides whether to go live
    back = safe_local_path(request.form.get("next"), "/console/")
    return redirect(back or url_for("console_simulate.simulate", tenant_id=tenant.id, version=version.version)), 303
