"""Agencies: create one, invite client portals, link a tenant with an invite code."""
from __future__ import annotations

import datetime as dt
import logging
import secrets

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from sqlalchemy import select

from integration.models import Agency, AgencyInvite, ConsoleUser, Tenant, utcnow
from marketplace.access import ADMIN, VIEWER, admin_tenants_query, require_login, visible_tenants_query
from marketplace.agency_portfolio import portfolio, sort_args, sorted_rows
from marketplace.invitations import EMAIL, INVITE_TTL, create_invitation, pending, token_hash
from oauth.registry import PLATFORMS

log = logging.getLogger("leadrelay.agency")
agency_bp = Blueprint("agency", __name__, url_prefix="/console/agency")
CLIENT_INVITE_TTL = dt.timedelta(days=14)


def link_with_invite(db, tenant: Tenant, code: str, grant: str = ADMIN) -> bool:
    """Link `tenant` to the invite's agency if the code is valid, unused and not expired.

    The caller must be the tenant's own admin; `grant` is the most the agency's team may do on the tenant.
    """
    invite = db.scalar(select(AgencyInvite).where(AgencyInvite.code_hash == token_hash(code)))
    if invite is None or invite.used_at is not None or invite.expires_at < utcnow():
        log.warning("agency.invite-rejected", extra={"tenant_id": tenant.id})
        return False
    tenant.agency_id, tenant.agency_grant = invite.agency_id, grant
    invite.used_at, invite.tenant_id = utcnow(), tenant.id
    log.info("agency.tenant-linked", extra={"tenant_id": tenant.id, "agency_id": invite.agency_id})
    return True


@agency_bp.get("")
@require_login
def overview():
    user = g.user
    if user.agency_id is None:
        return render_template("console/agency_new.html")
    tenants = g.db.scalars(visible_tenants_query(user).where(Tenant.agency_id == user.agency_id)
                           .order_by(Tenant.name)).all()
    agency = g.db.get(Agency, user.agency_id)
    sort, descending = sort_args(request.args)
    rows = sorted_rows(portfolio(g.db, list(tenants)), sort, descending)
    return render_template("console/agency.html", agency=agency, tenants=tenants, rows=rows, sort=sort,
                           desc=descending, platforms=PLATFORMS, team=_team(user.agency_id),
                           invitations=pending(g.db, agency_id=user.agency_id) if user.agency_role == ADMIN else [])


def _team(agency_id: int) -> list[ConsoleUser]:
    return list(g.db.scalars(select(ConsoleUser).where(ConsoleUser.agency_id == agency_id)
                             .order_by(ConsoleUser.email)).all())


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
    # the tenants the creator administers in their own right join the new agency, with admin access, since
    # that is the role the creator holds there; tenants they only view (or reach otherwise) stay out
    for tenant in g.db.scalars(admin_tenants_query(user)).all():
        if tenant.agency_id is None:
            tenant.agency_id, tenant.agency_grant = agency.id, ADMIN
    return redirect(url_for("agency.overview"))


def _agency_admin(to_do: str) -> ConsoleUser:
    """The signed-in agency admin; 403 for anyone else."""
    if g.user.agency_id is None or g.user.agency_role != ADMIN:
        abort(403, description=f"only an agency admin can {to_do}")
    return g.user


@agency_bp.post("/invites")
@require_login
def create_invite():
    user = _agency_admin("invite client portals")
    code = secrets.token_urlsafe(18)
    g.db.add(AgencyInvite(agency_id=user.agency_id, code_hash=token_hash(code), created_by=user.id,
                          expires_at=utcnow() + CLIENT_INVITE_TTL))
    links = {p: url_for("install.start", platform=p, invite=code, _external=True) for p in PLATFORMS}
    return render_template("console/invite_created.html", code=code, links=links, ttl_days=CLIENT_INVITE_TTL.days)


@agency_bp.post("/team")
@require_login
def invite_teammate():
    """An agency admin invites someone to the agency's team; they join by opening the single-use link."""
    user = _agency_admin("invite to the agency's team")
    email = (request.form.get("email") or "").strip().lower()
    role = request.form.get("role", VIEWER)
    if role not in (ADMIN, VIEWER) or not EMAIL.fullmatch(email):
        flash("Enter an email address and a role (admin or viewer).", "error")
        return redirect(url_for("agency.overview")), 303
    token = create_invitation(g.db, user, email, role, agency_id=user.agency_id)
    link = url_for("invitations.show", token=token, _external=True)
    return render_template("console/invite_created.html", invitation_link=link, invited_email=email, invited_role=role,
                           ttl_days=INVITE_TTL.days)
