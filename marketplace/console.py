"""The admin console: tenants, onboarding, rules, members, disconnect. Every route is tenant-scoped."""
from __future__ import annotations

import json
import logging

import yaml
from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from sqlalchemy import func, select

from integration.models import ConsoleUser, EventRecord, Membership, ReviewItem, RuleSetVersion, Tenant
from integration.rules import RulesError, load_rules
from marketplace.access import ADMIN, VIEWER, require_login, tenant_view, visible_tenants_query
from marketplace.agency import link_with_invite
from marketplace.console_onboarding import onboarding_page
from marketplace.console_rules import add_version, as_yaml, get_version, live_version, located_issues, numbered, publish
from oauth.disconnect import disconnect as disconnect_tenant
from oauth.registry import PLATFORMS

log = logging.getLogger("leadrelay.console")
console_bp = Blueprint("console", __name__, url_prefix="/console")
MAX_RULES_BYTES = 512 * 1024


@console_bp.get("/")
@require_login
def home():
    tenants = g.db.scalars(visible_tenants_query(g.user).order_by(Tenant.name)).all()
    return render_template("console/home.html", tenants=tenants, platforms=PLATFORMS)


@console_bp.get("/tenants/<int:tenant_id>")
@tenant_view()
def tenant(tenant: Tenant):
    events = g.db.scalar(select(func.count()).select_from(EventRecord).where(EventRecord.tenant_id == tenant.id))
    waiting = g.db.scalar(select(func.count()).select_from(EventRecord).where(
        EventRecord.tenant_id == tenant.id, EventRecord.status.in_(("received", "waiting"))))
    review = g.db.scalar(select(func.count()).select_from(ReviewItem).where(
        ReviewItem.tenant_id == tenant.id, ReviewItem.status == "open"))
    return render_template("console/tenant.html", tenant=tenant, role=g.role, events=events, waiting=waiting,
                           review=review)


@console_bp.get("/tenants/<int:tenant_id>/onboarding")
@tenant_view()
def onboarding(tenant: Tenant):
    return onboarding_page(tenant)


@console_bp.post("/tenants/<int:tenant_id>/disconnect")
@tenant_view(write=True)
def disconnect(tenant: Tenant):
    """Revoke the grant (best effort), stop processing, erase the tenant's data in a job."""
    note = disconnect_tenant(g.db, tenant, f"{g.user.email} in the console")
    flash(f"{tenant.name} is disconnected; its data is being erased ({note}).", "info")
    return redirect(url_for("console.home"))


@console_bp.get("/tenants/<int:tenant_id>/rules")
@tenant_view()
def rules(tenant: Tenant):
    """History, and the editor prefilled with a version's text (?edit=V) or the live one."""
    source = get_version(g.db, tenant.id, request.args["edit"]) if request.args.get("edit") else None
    source = source or live_version(g.db, tenant.id)
    return _rules_page(tenant, as_yaml(source.body) if source else "", [])


@console_bp.post("/tenants/<int:tenant_id>/rules")
@tenant_view(write=True)
def save_rules(tenant: Tenant):
    """Save a draft after validating it against RULES.md; errors name the line and path and keep the text."""
    text = request.form.get("body", "")
    if len(text.encode()) > MAX_RULES_BYTES:
        return _rules_page(tenant, text, [{"line": None, "text": "The rule set is larger than 512 KB."}]), 400
    try:
        load_rules(text)
    except RulesError as exc:
        return _rules_page(tenant, text, located_issues(text, exc.issues)), 400
    row = add_version(g.db, tenant.id, stored_body(text), g.user.email)
    flash(f"Saved draft version {row.version}.", "info")
    return redirect(url_for("console.rules", tenant_id=tenant.id)), 303


def stored_body(text: str) -> dict:
    """The document as the admin wrote it (JSON-safe: YAML dates become text, which the loader reads back)."""
    return json.loads(json.dumps(yaml.safe_load(text), default=str))


def _rules_page(tenant: Tenant, text: str, errors: list[dict]):
    versions = g.db.scalars(RuleSetVersion.for_tenant(tenant.id).order_by(RuleSetVersion.version.desc())).all()
    return render_template("console/rules.html", tenant=tenant, role=g.role, versions=versions, draft=text,
                           errors=errors, listing=numbered(text, errors) if errors else [])


@console_bp.post("/tenants/<int:tenant_id>/rules/<int:version>/publish")
@tenant_view(write=True)
def publish_rules(tenant: Tenant, version: int):
    target = get_version(g.db, tenant.id, version)
    if target is None:
        flash(f"No version {version}.", "error")
        return redirect(url_for("console.rules", tenant_id=tenant.id)), 303
    publish(g.db, target)
    flash(f"Version {version} is live.", "info")
    return redirect(request.form.get("next") if _local(request.form.get("next"))
                    else url_for("console.rules", tenant_id=tenant.id)), 303


def _local(target: str | None) -> bool:
    """Only redirect back to a page of this console (no open redirect)."""
    return bool(target) and target.startswith("/console/") and "//" not in target and "\\" not in target


@console_bp.get("/tenants/<int:tenant_id>/members")
@tenant_view()
def members(tenant: Tenant):
    rows = g.db.execute(select(Membership, ConsoleUser).join(ConsoleUser, ConsoleUser.id == Membership.user_id)
                        .where(Membership.tenant_id == tenant.id).order_by(ConsoleUser.email)).all()
    return render_template("console/members.html", tenant=tenant, role=g.role, rows=rows)


@console_bp.post("/tenants/<int:tenant_id>/members")
@tenant_view(write=True)
def add_member(tenant: Tenant):
    email = (request.form.get("email") or "").strip().lower()
    role = request.form.get("role", VIEWER)
    if role not in (ADMIN, VIEWER):
        flash("Role must be admin or viewer.", "error")
        return redirect(url_for("console.members", tenant_id=tenant.id)), 303
    user = g.db.scalar(select(ConsoleUser).where(func.lower(ConsoleUser.email) == email))
    if user is None:
        flash(f"{email} has not signed in to LeadRelay yet; ask them to sign in once, then add them.", "error")
        return redirect(url_for("console.members", tenant_id=tenant.id)), 303
    membership = g.db.scalar(select(Membership).where(Membership.user_id == user.id,
                                                      Membership.tenant_id == tenant.id))
    if membership is None:
        g.db.add(Membership(tenant_id=tenant.id, user_id=user.id, role=role))
    else:
        membership.role = role
    flash(f"{email} is now {role}.", "info")
    return redirect(url_for("console.members", tenant_id=tenant.id)), 303


@console_bp.post("/tenants/<int:tenant_id>/agency")
@tenant_view(write=True)
def join_agency(tenant: Tenant):
    if link_with_invite(g.db, tenant, request.form.get("code", "")):
        flash("This account is now managed by the agency.", "info")
    else:
        flash("That invite code is not valid (wrong, used or expired).", "error")
    return redirect(url_for("console.tenant", tenant_id=tenant.id)), 303
