"""Console identities: who a CRM sign-in is, signing in, and linking one person's sign-ins across CRMs.

A console user is keyed by (platform, CRM account, CRM user id). The email a CRM returns is whatever that user
typed in their own account, so it is displayed, never used to find or trust anyone.
"""
from __future__ import annotations

import logging

from flask import abort, flash, g, redirect, url_for
from sqlalchemy import select

from integration.models import ConsoleIdentity, ConsoleUser, Membership, utcnow
from marketplace.access import RANK, login_user, revoke_sessions
from marketplace.invitations import accept_for_crm_identity, audit, grant_tenant_role
from oauth.base import Identity
from oauth.registry import crm_title

log = logging.getLogger("leadrelay.identities")


def find_user(platform: str, identity: Identity) -> ConsoleUser | None:
    """The console user of this CRM identity: (platform, CRM account, CRM user id), never the email."""
    db, key = g.db, (platform, identity.external_id, identity.user_id)
    user = db.scalar(select(ConsoleUser).where(ConsoleUser.platform == key[0],
                                               ConsoleUser.external_account_id == key[1],
                                               ConsoleUser.external_user_id == key[2]))
    if user is None:
        linked = db.scalar(select(ConsoleIdentity).where(ConsoleIdentity.platform == key[0],
                                                         ConsoleIdentity.external_account_id == key[1],
                                                         ConsoleIdentity.external_user_id == key[2]))
        user = db.get(ConsoleUser, linked.user_id) if linked else None
    if user is None:
        # a row from before identities carried their account: claimed by the same (platform, user id) once
        user = db.scalar(select(ConsoleUser).where(ConsoleUser.platform == key[0],
                                                   ConsoleUser.external_account_id == "",
                                                   ConsoleUser.external_user_id == key[2]))
        if user is not None:
            user.external_account_id = key[1]
    return user


def sign_in(platform: str, identity: Identity) -> ConsoleUser:
    db = g.db
    if not identity.user_id or not identity.external_id:
        abort(400, description=f"{crm_title(platform)} did not say which user signed in; try again")
    user = find_user(platform, identity)
    first = user is None
    if first:
        user = ConsoleUser(platform=platform, external_account_id=identity.external_id,
                           external_user_id=identity.user_id, email=identity.user_email or "")
        db.add(user)
    # shown to other members only; never used to find or trust anyone
    user.email = identity.user_email or user.email
    user.name = identity.user_name or user.name
    user.last_login_at = utcnow()
    db.flush()
    login_user(db, user)  # a new session: what is flashed goes after it
    g.user = user
    if first:
        _first_sign_in_notice(platform)
    accepted = accept_for_crm_identity(db, user, platform, identity.external_id, identity.user_email)
    if accepted:
        flash(f"{accepted} invitation{'s' if accepted > 1 else ''} accepted.", "info")
    return user


def _first_sign_in_notice(platform: str) -> None:
    """A first sign-in through this CRM: say how to join it to an existing login, and link nothing.

    The same sentence for everyone: saying so only when the CRM's email matches an existing login would tell anyone
    who types a stranger's email into their own CRM profile that the stranger uses LeadRelay, and through which
    CRM. Joining two logins takes signing in through both CRMs (link_identity).
    """
    flash(f"This is a new LeadRelay login for your {crm_title(platform)} sign-in. If you already use LeadRelay "
          f"through another CRM, sign in there instead, open Your profile and link this {crm_title(platform)} "
          "sign-in: until then this login has access only to what it is invited to or installs.", "info")


def link_identity(platform: str, identity: Identity, user_id: object):
    """Add a CRM identity the signed-in person just proved they control to their console user."""
    db, user = g.db, g.user
    if user is None or user.id != user_id:
        abort(400, description="Linking was started by another sign-in; sign in again and start it from the console")
    other = find_user(platform, identity)
    if other is not None and other.id != user.id:
        try:
            merge_users(db, into=user, other=other)
        except IdentityConflict as exc:
            flash(str(exc), "error")
            return redirect(url_for("console_settings.me"))
    elif other is None:
        db.add(ConsoleIdentity(user_id=user.id, platform=platform, external_account_id=identity.external_id,
                               external_user_id=identity.user_id, email=identity.user_email or ""))
    db.flush()
    accept_for_crm_identity(db, user, platform, identity.external_id, identity.user_email)
    for tenant_id in db.scalars(select(Membership.tenant_id).where(Membership.user_id == user.id)).all():
        audit(db, tenant_id, "identity-linked", f"{user.email or user.name} linked their {crm_title(platform)} "
              f"sign-in ({identity.user_email or identity.user_id}) to their LeadRelay login",
              user.email or str(user.id), platform=platform, console_user_id=user.id)
    log.info("console.identity-linked", extra={"platform": platform})
    flash(f"Your {crm_title(platform)} sign-in ({identity.user_email}) is linked: it now opens this same "
          "LeadRelay login.", "success")
    return redirect(url_for("console_settings.me"))


def merge_users(db, into: ConsoleUser, other: ConsoleUser) -> None:
    """One person, two console users: `other`'s identity and access move to `into` (the higher role wins)."""
    if other.agency_id is not None and into.agency_id not in (None, other.agency_id):
        raise IdentityConflict("That sign-in belongs to another agency's team than yours; it was not linked.")
    for membership in db.scalars(select(Membership).where(Membership.user_id == other.id)).all():
        grant_tenant_role(db, membership.tenant_id, into, membership.role)
        db.delete(membership)
    if other.agency_id is not None:
        stronger = RANK[other.agency_role] > RANK.get(into.agency_role, 0)
        into.agency_id = other.agency_id
        into.agency_role = other.agency_role if stronger else into.agency_role
    for linked in db.scalars(select(ConsoleIdentity).where(ConsoleIdentity.user_id == other.id)).all():
        linked.user_id = into.id
    db.flush()
    db.add(ConsoleIdentity(user_id=into.id, platform=other.platform, external_account_id=other.external_account_id,
                           external_user_id=other.external_user_id, email=other.email))
    revoke_sessions(db, other.id)
    db.delete(other)


class IdentityConflict(Exception):
    """Two console users cannot be joined (the message says why)."""
