"""Agencies: create one, invite client portals, link a tenant with an invite code."""
from __future__ import annotations

import datetime as dt
import hashlib
import logging
import secrets

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from sqlalchemy import select

from integration.models import Agency, AgencyInvite, Tenant, utcnow
from marketplace.access import ADMIN, require_login, visible_tenants_query
from marketplace.agency_portfolio import portfolio, sorted_rows
from oauth.registry import PLATFORMS

log = logging.getLogger("leadrelay.agency")
agency_bp = Blueprint("agency", __name__, url_prefix="/console/agency")
INVITE_TTL = dt.timedelta(days=14)


def _hash(code: str) -> str:
    return hashlib.sha256(code.strip().encode()).hexdigest()


def link_with_invite(db, tenant: Tenant, code: str) -> bool:
    """Link `tenant` to the invite's agency if the code is valid, unused and not expired."""
    invite = db.scalar(select(AgencyInvite).where(AgencyInvite.code_hash == _hash(code)))
    if invite is None or invite.used_at is not None or invite.expires_at < utcnow():
        log.warning("agency.invite-rejected", extra={"tenant_id": tenant.id})
        return False
    tenant.agency_id = invite.agency_id
    invite.used_at, invite.tenant_id = utcnow(), tenant.id
    log.info("agency.tenant-linked", extra={"tenant_id": tenant.id, "agency_id": invite.agency_id})
    return True


@agency_bp.get("")
@require_login
def overview():
    user = g.user
    if user.agency_id is None:
        return render_template("console/agency_new.html")
    tenants = g.db.scalars(select(Tenant).where(Tenant.agency_id == user.agency_id).order_by(Tenant.name)).all()
    agency = g.db.get(Agency, user.agency_id)
    sort, descending = request.args.get("sort", "name"), request.args.get("desc") == "1"
    rows = sorted_rows(portfolio(g.db, list(tenants)), sort, descending)
    return render_template("console/agency.html", agency=agency, tenants=tenants, rows=rows, sort=sort,
                           desc=descending, platforms=PLATFORMS)


@agency_bp.post("")
@require_login
def create():
    user = g.user
    if user.agency_id is not None:
        abort(409, description="you already belong to an agency")
    name = (request.form.get("name") or "").strip()
    if not name or len(name) > 200:
        flash("Give the agency a name (at most 200 characters).", "error")
        return redirect(url_for("agency.overview"))
    agency = Agency(name=name)
    g.db.add(agency)
    g.db.flush()
    user.agency_id, user.agency_role = agency.id, ADMIN
    # the creator's own tenants join the new agency
    for tenant in g.db.scalars(visible_tenants_query(user)).all():
        if tenant.agency_id is None:
            tenant.agency_id = agency.id
    return redirect(url_for("agency.overview"))


@agency_bp.post("/invites")
@require_login
def create_invite():
    user = g.user
    if user.agency_id is None or user.agency_role != ADMIN:
        abort(403, description="only an agency admin can invite client portals")
    code = secrets.token_urlsafe(18)
    g.db.add(AgencyInvite(agency_id=user.agency_id, code_hash=_hash(code), created_by=user.id,
                          expires_at=utcnow() + INVITE_TTL))
    links = {p: url_for("install.start", platform=p, invite=code, _external=True) for p in PLATFORMS}
    return render_template("console/invite_created.html", code=code, links=links, ttl_days=INVITE_TTL.days)
