"""Agencies: create one, invite client portals, link a tenant with an invite code."""
from __future__ import annotations

import datetime as dt
import logging
import secrets

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from sqlalchemy import select

from integration.admin import conversions as cv
from integration.models import Agency, AgencyInvite, AgencyInviteUse, ConsoleUser, Invitation, Tenant, utcnow
from marketplace.access import ADMIN, VIEWER, admin_tenants_query, require_login, visible_tenants_query
from marketplace.agency_portfolio import portfolio, sort_args, sorted_rows
from marketplace.invitations import EMAIL, INVITE_TTL, audit, create_invitation, pending, token_hash
from marketplace.params import ID_MAX
from marketplace.tenant_health import work_class_label
from oauth.crypto import EncryptionKeyError, TokenCipher
from oauth.registry import PLATFORMS

log = logging.getLogger("leadrelay.agency")
agency_bp = Blueprint("agency", __name__, url_prefix="/console/agency")
CLIENT_INVITE_TTL = dt.timedelta(days=14)


def find_invite(db, code: str) -> AgencyInvite | None:
    code = (code or "").strip()
    if not code or len(code) > 200:
        return None
    return db.scalar(select(AgencyInvite).where(AgencyInvite.code_hash == token_hash(code)))


def invite_refusal(db, code: str) -> str | None:
    """Why this code links nothing, in words for the tenant admin who typed it; None when it is usable."""
    invite = find_invite(db, code)
    if invite is None:
        return "That invite code is not valid: check it was copied whole, or ask the agency for a new one."
    return invite.refusal(utcnow())


def link_with_invite(db, tenant: Tenant, code: str, grant: str = ADMIN, by: ConsoleUser | None = None) -> bool:
    """Link `tenant` to the invite's agency if the code is valid, not revoked and not expired.

    The caller must be the tenant's own admin; `grant` is the most the agency's team may do on the tenant, chosen
    by that admin: the invite carries no role of its own, so however often it is used it gives no more than that.
    Each use is recorded on the invite (the agency sees it) and audited on the tenant.
    """
    invite = find_invite(db, code)
    if invite is None or invite.refusal(utcnow()) is not None or grant not in (ADMIN, VIEWER):
        log.warning("agency.invite-rejected", extra={"tenant_id": tenant.id})
        return False
    agency = db.get(Agency, invite.agency_id)
    tenant.agency_id, tenant.agency_grant = invite.agency_id, grant
    who = (by.email or by.name) if by is not None else "an admin installing LeadRelay"
    db.add(AgencyInviteUse(invite_id=invite.id, tenant_id=tenant.id, tenant_name=tenant.name,
                           platform=tenant.platform, used_by=by.id if by is not None else None,
                           used_by_email=by.email if by is not None else ""))
    audit(db, tenant.id, "agency-linked", f"{who} let the agency {agency.name if agency else ''} manage this "
          f"account as {grant}, with one of its invite codes", "agency", grant=grant, invite_id=invite.id)
    log.info("agency.tenant-linked", extra={"tenant_id": tenant.id, "agency_id": invite.agency_id})
    return True


def invite_code(invite: AgencyInvite) -> str | None:
    """The invite's code, for its agency's admins to copy again (None for invites made before it was kept)."""
    if invite.code_enc is None:
        return None
    try:
        return TokenCipher.from_settings().decrypt(invite.code_enc)
    except EncryptionKeyError:
        return None  # the key it was made under is gone: the admin makes a new invite


def install_links(code: str) -> dict[str, str]:
    return {p: url_for("install.start", platform=p, invite=code, _external=True) for p in PLATFORMS}


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
    admin = user.agency_role == ADMIN
    return render_template("console/agency.html", agency=agency, tenants=tenants, rows=rows, sort=sort,
                           desc=descending, platforms=PLATFORMS, team=_team(user.agency_id), admin=admin,
                           invitations=pending(g.db, agency_id=user.agency_id) if admin else [],
                           invites=_invites(user.agency_id) if admin else [], now=utcnow(),
                           work_class_label=work_class_label)


def _invites(agency_id: int) -> list[dict]:
    """The agency's client invites, newest first, each with its code (to copy again), state and uses."""
    rows = []
    now = utcnow()
    for invite in g.db.scalars(select(AgencyInvite).where(AgencyInvite.agency_id == agency_id)
                               .order_by(AgencyInvite.created_at.desc(), AgencyInvite.id.desc())).all():
        code = invite_code(invite)
        state = "revoked" if invite.revoked_at else "expired" if invite.expires_at <= now else "open"
        rows.append({"invite": invite, "code": code, "state": state, "uses": list(invite.uses),
                     "links": install_links(code) if code and state == "open" else {}})
    return rows


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
    """A client invite: one code (and an install link per CRM) the agency may send to every client."""
    user = _agency_admin("invite client portals")
    code = secrets.token_urlsafe(18)
    g.db.add(AgencyInvite(agency_id=user.agency_id, code_hash=token_hash(code), created_by=user.id,
                          code_enc=TokenCipher.from_settings().encrypt(code),
                          expires_at=utcnow() + CLIENT_INVITE_TTL))
    return render_template("console/invite_created.html", code=code, links=install_links(code),
                           ttl_days=CLIENT_INVITE_TTL.days, expires=utcnow() + CLIENT_INVITE_TTL)


def _own_invite(invite_id: object) -> AgencyInvite | None:
    """An invite of the signed-in admin's agency; None for anything else (another agency's invites look absent)."""
    user = _agency_admin("revoke client invites")
    try:
        number = int(str(invite_id))
    except ValueError:
        return None
    invite = g.db.get(AgencyInvite, number) if 0 < number <= ID_MAX else None
    return invite if invite is not None and invite.agency_id == user.agency_id else None


def _no_such_invite():
    flash("That client invite is not one of your agency's; pick one from the list.", "error")
    return redirect(url_for("agency.overview") + "#invites"), 303


@agency_bp.get("/invites/revoke")
@require_login
def confirm_revoke_invite():
    """What revoking does, before it is done."""
    invite = _own_invite(request.args.get("invite_id"))
    if invite is None:
        return _no_such_invite()
    uses = len(invite.uses)
    return render_template("console/confirm.html", title="Revoke this client invite?",
                           lines=[f"The invite made on {invite.created_at:%-d %b %Y} stops working at once: nobody "
                                  "can link a portal or install LeadRelay with its code or links any more.",
                                  f"The {uses} portal{'' if uses == 1 else 's'} already linked with it stay linked; "
                                  "only each portal's own admin can unlink their account from the agency."],
                           action=url_for("agency.revoke_invite"), fields={"invite_id": invite.id},
                           button="Revoke the invite", danger=True, cancel=url_for("agency.overview") + "#invites")


@agency_bp.post("/invites/revoke")
@require_login
def revoke_invite():
    invite = _own_invite(request.form.get("invite_id"))
    if invite is None:
        return _no_such_invite()
    if invite.revoked_at is None:
        invite.revoked_at = utcnow()
        log.info("agency.invite-revoked", extra={"agency_id": invite.agency_id, "invite_id": invite.id})
    flash("The client invite is revoked: its code and links no longer work.", "success")
    return redirect(url_for("agency.overview") + "#invites"), 303


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


def _team_invitation(invitation_id: object) -> Invitation | None:
    """A pending team invitation of the signed-in admin's agency; None for anything else."""
    user = _agency_admin("revoke team invitations")
    try:
        number = int(str(invitation_id))
    except ValueError:
        return None
    invitation = g.db.get(Invitation, number) if 0 < number <= ID_MAX else None
    ours = invitation is not None and invitation.agency_id == user.agency_id and invitation.open(utcnow())
    return invitation if ours else None


@agency_bp.get("/team/revoke")
@require_login
def confirm_revoke_teammate():
    invitation = _team_invitation(request.args.get("invitation_id"))
    if invitation is None:
        flash("That team invitation is no longer pending: it was accepted, revoked or has expired.", "info")
        return redirect(url_for("agency.overview") + "#team"), 303
    return render_template("console/confirm.html", title=f"Revoke the invitation of {invitation.email}?",
                           lines=[f"The link sent to {invitation.email} stops working at once: it will not make "
                                  f"them {invitation.role} of the agency's team.", "You can invite them again later."],
                           action=url_for("agency.revoke_teammate"), fields={"invitation_id": invitation.id},
                           button="Revoke the invitation", danger=True, cancel=url_for("agency.overview") + "#team")


@agency_bp.post("/team/revoke")
@require_login
def revoke_teammate():
    invitation = _team_invitation(request.form.get("invitation_id"))
    if invitation is None:
        flash("That team invitation is no longer pending: it was accepted, revoked or has expired.", "info")
        return redirect(url_for("agency.overview") + "#team"), 303
    invitation.revoked_at = utcnow()
    log.info("agency.team-invitation-revoked", extra={"agency_id": invitation.agency_id})
    flash(f"The invitation of {invitation.email} is revoked.", "success")
    return redirect(url_for("agency.overview") + "#team"), 303


@agency_bp.get("/weekly-summary")
@require_login
def weekly_summary():
    """Each client portal's last 7 days against the 7 before, one row per portal the user can see."""
    user = g.user
    if user.agency_id is None or user.agency_role not in (ADMIN, VIEWER):
        abort(403, description="the weekly summary across portals belongs to an agency; ask an agency admin")
    tenants = g.db.scalars(visible_tenants_query(user).where(Tenant.agency_id == user.agency_id)
                           .order_by(Tenant.name)).all()
    today = dt.datetime.now(dt.UTC).date()
    summaries = [(tenant, cv.weekly_summary(g.db, tenant.id, tenant.name, today)) for tenant in tenants]
    return render_template("console/agency_weekly.html", agency=g.db.get(Agency, user.agency_id),
                           summaries=summaries)
