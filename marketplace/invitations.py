"""Invitations: the only way a tenant role or an agency role reaches someone other than the installing admin.

An admin invites an email with a role. The invitation is accepted once, before it expires, either by a sign-in
through the tenant's own CRM account whose CRM user has that email (the CRM vouches for both), or by opening
the single-use link the admin passed on. A console user is never found by email: an email is whatever a CRM
user typed into their own profile.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import logging
import re
import secrets
import uuid

from flask import Blueprint, abort, flash, g, redirect, render_template, url_for
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from integration.models import Agency, ConsoleUser, Decision, Invitation, Membership, Tenant, utcnow
from marketplace.access import ADMIN, RANK, VIEWER, require_login

log = logging.getLogger("leadrelay.invitations")
invitations_bp = Blueprint("invitations", __name__)
INVITE_TTL = dt.timedelta(days=7)
ROLES = (ADMIN, VIEWER)
EMAIL = re.compile(r"[^@\s]{1,200}@[^@\s]{1,200}\.[^@\s]{2,63}")


def token_hash(token: str) -> str:
    return hashlib.sha256(token.strip().encode()).hexdigest()


def audit(db: Session, tenant_id: int, outcome: str, reason: str, subject: str = "", **inputs) -> None:
    """Record a change of access in the tenant's audit log (who did what to whom)."""
    db.add(Decision(tenant_id=tenant_id, idempotency_key=f"access:{uuid.uuid4().hex}", kind="access",
                    object_type="member", object_id=subject[:64], outcome=outcome, reason=reason[:500],
                    inputs=inputs))


def create_invitation(db: Session, by: ConsoleUser, email: str, role: str, *, tenant: Tenant | None = None,
                      agency_id: int | None = None) -> str:
    """A pending invitation; returns the link's secret token (shown once, only its hash is kept)."""
    if role not in ROLES or (tenant is None) == (agency_id is None):
        raise ValueError("an invitation is for one tenant or one agency, as admin or viewer")
    token = secrets.token_urlsafe(24)
    db.add(Invitation(tenant_id=tenant.id if tenant else None, agency_id=agency_id, email=email.strip().lower(),
                      role=role, token_hash=token_hash(token), created_by=by.id, expires_at=utcnow() + INVITE_TTL))
    if tenant is not None:
        audit(db, tenant.id, "invited", f"{by.email or by.name} invited {email} as {role}", email, role=role)
    log.info("invitation.created", extra={"tenant_id": tenant.id if tenant else None, "agency_id": agency_id})
    return token


def pending(db: Session, *, tenant_id: int | None = None, agency_id: int | None = None) -> list[Invitation]:
    now = utcnow()
    stmt = select(Invitation).where(Invitation.accepted_at.is_(None), Invitation.revoked_at.is_(None),
                                    Invitation.expires_at > now)
    stmt = stmt.where(Invitation.tenant_id == tenant_id) if tenant_id is not None else stmt.where(
        Invitation.agency_id == agency_id)
    return list(db.scalars(stmt.order_by(Invitation.email)).all())


def grant_tenant_role(db: Session, tenant_id: int, user: ConsoleUser, role: str) -> str:
    """Give the user `role` on the tenant, never lowering a role they already hold; returns the role held."""
    membership = db.scalar(select(Membership).where(Membership.user_id == user.id,
                                                    Membership.tenant_id == tenant_id))
    if membership is None:
        db.add(Membership(tenant_id=tenant_id, user_id=user.id, role=role))
        return role
    if RANK[role] > RANK.get(membership.role, 0):
        membership.role = role
    return membership.role


def accept(db: Session, invitation: Invitation, user: ConsoleUser, how: str) -> str:
    """Grant what the invitation says to `user`; returns a sentence for them. Refuses agency conflicts."""
    if invitation.agency_id is not None:
        if user.agency_id not in (None, invitation.agency_id):
            raise InvitationRefused("You already belong to another agency; leave it first.")
        if user.agency_id is None or RANK[invitation.role] > RANK.get(user.agency_role, 0):
            user.agency_id, user.agency_role = invitation.agency_id, invitation.role
        where = db.get(Agency, invitation.agency_id)
        text = f"You are now {user.agency_role} of the agency {where.name if where else ''}."
    else:
        held = grant_tenant_role(db, invitation.tenant_id, user, invitation.role)
        tenant = db.get(Tenant, invitation.tenant_id)
        audit(db, invitation.tenant_id, "invitation-accepted",
              f"{user.email or user.name} accepted the invitation for {invitation.email} ({how}) and is {held}",
              invitation.email, role=held, how=how, console_user_id=user.id)
        text = f"You are now {held} of {tenant.name if tenant else 'the account'}."
    invitation.accepted_at, invitation.accepted_by = utcnow(), user.id
    log.info("invitation.accepted", extra={"tenant_id": invitation.tenant_id, "agency_id": invitation.agency_id,
                                           "how": how})
    return text


class InvitationRefused(Exception):
    """The invitation cannot be accepted by this user (the message says why)."""


def accept_for_crm_identity(db: Session, user: ConsoleUser, platform: str, account_id: str, email: str) -> int:
    """Accept the open tenant invitations for `email` in the CRM account the user just signed in through."""
    if not email or not account_id:
        return 0
    tenant = db.scalar(select(Tenant).where(Tenant.platform == platform, Tenant.external_id == account_id))
    if tenant is None:
        return 0
    now, accepted = utcnow(), 0
    for invitation in db.scalars(select(Invitation).where(Invitation.tenant_id == tenant.id,
                                                          func.lower(Invitation.email) == email.strip().lower())):
        if invitation.open(now):
            accept(db, invitation, user, f"signed in as {email} in {platform} account {tenant.name}")
            accepted += 1
    return accepted


def _open_invitation(token: str) -> Invitation:
    invitation = g.db.scalar(select(Invitation).where(Invitation.token_hash == token_hash(token)))
    if invitation is None or not invitation.open(utcnow()):
        abort(404, description="This invitation link is not valid: it was used, revoked or has expired. "
                               "Ask the admin who invited you for a new one.")
    return invitation


@invitations_bp.get("/invitations/<token>")
@require_login
def show(token: str):
    invitation = _open_invitation(token)
    tenant = g.db.get(Tenant, invitation.tenant_id) if invitation.tenant_id else None
    agency = g.db.get(Agency, invitation.agency_id) if invitation.agency_id else None
    inviter = g.db.get(ConsoleUser, invitation.created_by) if invitation.created_by else None
    return render_template("invitation.html", invitation=invitation, tenant=tenant, agency=agency, inviter=inviter,
                           token=token)


@invitations_bp.post("/invitations/<token>")
@require_login
def accept_link(token: str):
    invitation = _open_invitation(token)
    try:
        message = accept(g.db, invitation, g.user, "invitation link")
    except InvitationRefused as exc:
        flash(str(exc), "error")
        return redirect(url_for("console.home")), 303
    flash(message, "info")
    target = url_for("console.tenant", tenant_id=invitation.tenant_id) if invitation.tenant_id else url_for(
        "agency.overview")
    return redirect(target), 303
