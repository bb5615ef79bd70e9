"""Agency rule-set templates: copy a portal's rules under a name, roll them out as drafts, simulate, publish."""
from __future__ import annotations

import logging

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from integration.admin.simulate import DEFAULT_LEADS, read_progress, start_simulation
from integration.models import AgencyTemplate, RuleSetVersion, Tenant, utcnow
from integration.rules import RulesError, check_limits, load_rules
from marketplace.access import ADMIN, VIEWER, agency_role_on, require_login
from marketplace.console_rules import add_version, as_yaml, get_version, live_version, publish
from marketplace.params import ID_MAX, int_arg
from oauth.registry import crm_title

log = logging.getLogger("leadrelay.agency.templates")
templates_bp = Blueprint("agency_templates", __name__, url_prefix="/console/agency/templates")


def _agency_id(write: bool = False) -> int:
    """The signed-in user's agency: 403 for anyone else, and for an agency viewer's change."""
    user = g.user
    if user.agency_id is None or user.agency_role not in (ADMIN, VIEWER):
        abort(403, description="rule-set templates belong to an agency; ask an agency admin")
    if write and user.agency_role != ADMIN:
        abort(403, description="agency viewers cannot change templates; ask an agency admin")
    return user.agency_id


def _portal(agency_id: int, tenant_id: object, write: bool = False) -> Tenant | None:
    """A portal of the agency, if the portal's own admin granted the agency enough to read (or `write`) it."""
    try:
        number = int(str(tenant_id))
    except ValueError:
        return None
    # past ID_MAX PostgreSQL's INTEGER cast fails (DataError, and the transaction with it), SQLite's binding too
    tenant = g.db.get(Tenant, number) if 0 < number <= ID_MAX else None
    if tenant is None or tenant.agency_id != agency_id:
        return None
    role = agency_role_on(g.user, tenant)
    return tenant if role == ADMIN or (role == VIEWER and not write) else None


def _template(agency_id: int, template_id: object) -> AgencyTemplate:
    template = AgencyTemplate.get_for_agency(g.db, template_id, agency_id)
    if template is None:
        abort(404)
    return template


def _source(tenant: Tenant) -> RuleSetVersion | None:
    """The portal's live version, else its newest one."""
    return live_version(g.db, tenant.id) or g.db.scalar(
        RuleSetVersion.for_tenant(tenant.id).order_by(RuleSetVersion.version.desc()).limit(1))


def _portals(agency_id: int) -> list[Tenant]:
    """The agency's portals its team may change (a portal granting the agency only viewer is left out)."""
    tenants = g.db.scalars(select(Tenant).where(Tenant.agency_id == agency_id).order_by(Tenant.name)).all()
    return [t for t in tenants if agency_role_on(g.user, t) == ADMIN]


@templates_bp.get("")
@require_login
def index():
    agency_id = _agency_id()
    templates = g.db.scalars(select(AgencyTemplate).where(AgencyTemplate.agency_id == agency_id)
                             .order_by(AgencyTemplate.name)).all()
    return render_template("console/agency_templates.html", templates=templates, portals=_portals(agency_id),
                           admin=g.user.agency_role == ADMIN)


@templates_bp.post("")
@require_login
def create():
    """Copy a portal's live rule set (else its latest version) as a named template."""
    agency_id = _agency_id(write=True)
    name = (request.form.get("name") or "").strip()
    tenant = _portal(agency_id, request.form.get("tenant_id", ""))
    source = _source(tenant) if tenant else None
    if not name or len(name) > 200 or source is None:
        flash("Name the template and pick a portal of the agency that has a rule set.", "error")
        return redirect(url_for("agency_templates.index")), 303
    try:
        check_limits(source.body)  # a version stored before the limits existed
    except RulesError as exc:
        flash(f"{tenant.name} version {source.version} cannot be a template: {exc}", "error")
        return index(), 400
    template = AgencyTemplate(agency_id=agency_id, name=name, body=dict(source.body), rollouts={},
                              created_by=g.user.email)
    g.db.add(template)
    try:
        g.db.flush()
    except IntegrityError:
        g.db.rollback()
        flash(f"A template named {name!r} already exists.", "error")
        return redirect(url_for("agency_templates.index")), 303
    flash(f"Template {name!r} copied from {tenant.name} version {source.version}.", "info")
    return redirect(url_for("agency_templates.view", template_id=template.id)), 303


@templates_bp.get("/view")
@require_login
def view():
    """The template's rules, the rollout form, and each rolled-out portal's draft with its simulation."""
    agency_id = _agency_id()
    return _view_page(agency_id, _template(agency_id, int_arg(request.args, "template_id")))


def _view_page(agency_id: int, template: AgencyTemplate) -> str:
    portals = _portals(agency_id)
    rows = []
    for tenant in portals:
        rollout = template.rollouts.get(str(tenant.id))
        if rollout:
            version = get_version(g.db, tenant.id, rollout["version"])
            rows.append({"tenant": tenant, "rollout": rollout, "version": version,
                         "progress": read_progress(tenant.id, rollout["version"])})
    running = any(r["progress"] and r["progress"]["state"] in ("queued", "reading", "running") for r in rows)
    return render_template("console/agency_template.html", template=template, text=as_yaml(template.body),
                           portals=portals, rows=rows, running=running, admin=g.user.agency_role == ADMIN,
                           default_leads=DEFAULT_LEADS, overall=rollout_progress(rows))


def rollout_progress(rows: list[dict]) -> dict:
    """The rollout as a whole: portals whose simulation finished (done or failed) out of those rolled out."""
    finished = sum(1 for r in rows if r["progress"] and r["progress"]["state"] in ("done", "failed"))
    live = sum(1 for r in rows if r["version"] is not None and r["version"].status == "published")
    total = len(rows)
    return {"finished": finished, "live": live, "total": total,
            "percent": round(100 * finished / total) if total else 0}


@templates_bp.post("/rollout")
@require_login
def rollout():
    """A draft of the template on each selected portal, each simulated in a job; nothing is published yet."""
    agency_id = _agency_id(write=True)
    template = _template(agency_id, request.form.get("template_id"))
    portals = [p for p in (_portal(agency_id, t, write=True) for t in request.form.getlist("tenant_id"))
               if p is not None]
    if not portals:
        flash("Select at least one portal.", "error")
        return redirect(url_for("agency_templates.view", template_id=template.id)), 303
    try:
        load_rules(template.body)  # held to the rule-set limits too: add_version refuses what they refuse
    except RulesError as exc:
        flash(f"The template is not a valid rule set any more: {exc}", "error")
        return _view_page(agency_id, template), 400
    limit = request.form.get("limit", type=int) or DEFAULT_LEADS
    rollouts = dict(template.rollouts)
    for tenant in portals:
        row = add_version(g.db, tenant.id, dict(template.body), f"{g.user.email} (template {template.name})")
        rollouts[str(tenant.id)] = {"version": row.version, "by": g.user.email, "at": utcnow().isoformat()}
        g.db.commit()  # the draft exists before its simulation job reads it
        start_simulation(tenant.id, row.version, limit)
    template.rollouts = rollouts
    log.info("agency.template-rolled-out", extra={"agency_id": agency_id, "template_id": template.id,
                                                  "tenants": [p.id for p in portals]})
    flash(f"Draft created and simulating on {len(portals)} portal(s); publish each when its result looks right.",
          "info")
    return redirect(url_for("agency_templates.view", template_id=template.id)), 303


def _drafts(agency_id: int, template: AgencyTemplate, tenant_ids: list[str]) -> list[tuple[Tenant, RuleSetVersion]]:
    """(portal, its draft of the template) for each id; 404 when one is not a portal the agency may change or has
    no draft of it (nothing is published then)."""
    found = []
    for tenant_id in tenant_ids:
        tenant = _portal(agency_id, tenant_id, write=True)
        rollout = template.rollouts.get(str(tenant.id)) if tenant else None
        version = get_version(g.db, tenant.id, rollout["version"]) if rollout else None
        if version is None:
            abort(404)
        found.append((tenant, version))
    return found


@templates_bp.get("/publish")
@require_login
def confirm_publish():
    """What publishing does on each selected portal, before it is done (?template_id=&tenant_id=…)."""
    agency_id = _agency_id(write=True)
    if request.args.get("template_id") is None:
        return redirect(url_for("agency_templates.index")), 303
    template = _template(agency_id, int_arg(request.args, "template_id"))
    drafts = [(t, v) for t, v in _drafts(agency_id, template, request.args.getlist("tenant_id")) if v.status == "draft"]
    if not drafts:
        flash("Nothing to publish: pick portals whose draft of this template is not live yet.", "info")
        return redirect(url_for("agency_templates.view", template_id=template.id)), 303
    names = ", ".join(f"{t.name} ({crm_title(t.platform)}, draft version {v.version})" for t, v in drafts)
    count = f"{len(drafts)} portal{'' if len(drafts) == 1 else 's'}"
    lines = [f"Publish template '{template.name}' on {count}: {names}.",
             "Each portal's live rules are replaced by the template at once: new leads there are routed by it.",
             "You can roll back each portal to its previous version from that portal's Rules page."]
    for tenant, version in drafts:
        progress = read_progress(tenant.id, version.version)
        result = progress.get("result") if progress and progress.get("state") == "done" else None
        lines.append(f"{tenant.name}: " + (f"the simulation over {result['leads']} recent leads gave "
                                           f"{result['changed']} a different owner and {result['review']} to review."
                                           if result else "not simulated yet — publishing it is a step in the dark."))
    return render_template("console/confirm.html", title=f"Publish '{template.name}' on {count}?", lines=lines,
                           action=url_for("agency_templates.publish_rollout"),
                           fields={"template_id": template.id, "tenant_id": [t.id for t, _v in drafts]},
                           button=f"Publish on {count}", danger=False,
                           cancel=url_for("agency_templates.view", template_id=template.id))


@templates_bp.post("/publish")
@require_login
def publish_rollout():
    """Publish the template's draft on each selected portal (after the confirmation page)."""
    agency_id = _agency_id(write=True)
    template = _template(agency_id, request.form.get("template_id"))
    drafts = _drafts(agency_id, template, request.form.getlist("tenant_id"))
    if not drafts:
        abort(404)
    for _tenant, version in drafts:
        publish(g.db, version)
    log.info("agency.template-published", extra={"agency_id": agency_id, "template_id": template.id,
                                                 "tenants": [t.id for t, _v in drafts]})
    flash("; ".join(f"{t.name}: version {v.version} ({template.name}) is live" for t, v in drafts) + ".", "success")
    return redirect(url_for("agency_templates.view", template_id=template.id)), 303
