"""Who is signed in, and which tenants they may see or change. Every console query goes through here.

Roles are granted, never inferred: a tenant role comes from a Membership (created by the install of a CRM admin,
or by accepting an invitation), and an agency role reaches a tenant only as far as that tenant's own admin
granted the agency (`Tenant.agency_grant`).
"""
from __future__ import annotations

import datetime as dt
import functools
import hashlib
import secrets
import unicodedata
from collections.abc import Callable
from urllib.parse import urlsplit

from flask import abort, current_app, g, redirect, request, session, url_for
from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from integration.models import ConsoleSession, ConsoleUser, Membership, Tenant, utcnow

ADMIN, VIEWER = "admin", "viewer"
RANK = {None: 0, VIEWER: 1, ADMIN: 2}


def _session_key(sid: str) -> str:
    return hashlib.sha256(sid.encode()).hexdigest()


def current_user(db: Session) -> ConsoleUser | None:
    """The user of this request's session, if the server-side session row is still valid."""
    sid = session.get("sid")
    if not sid or not isinstance(sid, str):
        if session.get("user_id") is not None:
            session.clear()  # a cookie from before server-side sessions: sign in again
        return None
    row = db.get(ConsoleSession, _session_key(sid))
    if row is None or row.revoked_at is not None or row.expires_at <= utcnow() or row.user_id != session.get(
            "user_id"):
        session.clear()
        return None
    return db.get(ConsoleUser, row.user_id)


def login_user(db: Session, user: ConsoleUser) -> None:
    """Start a new server-side session for `user` (a new cookie too: no fixation)."""
    session.clear()
    purge_sessions(db)
    sid = secrets.token_urlsafe(32)
    lifetime = current_app.permanent_session_lifetime
    db.add(ConsoleSession(id=_session_key(sid), user_id=user.id, expires_at=utcnow() + lifetime))
    db.flush()
    session["sid"], session["user_id"] = sid, user.id
    session.permanent = True


def logout_user(db: Session) -> None:
    """Revoke this browser's session on the server, so a copied cookie stops working too."""
    sid = session.get("sid")
    if isinstance(sid, str) and sid:
        db.execute(update(ConsoleSession).where(ConsoleSession.id == _session_key(sid))
                   .values(revoked_at=utcnow()))
    session.clear()


def revoke_sessions(db: Session, user_id: int) -> int:
    """End every session of a user ("sign out everywhere")."""
    result = db.execute(update(ConsoleSession).where(ConsoleSession.user_id == user_id,
                                                     ConsoleSession.revoked_at.is_(None))
                        .values(revoked_at=utcnow()))
    return result.rowcount or 0


def purge_sessions(db: Session, older_than: dt.timedelta = dt.timedelta(days=7)) -> None:
    """Forget sessions that ended more than a week ago."""
    cutoff = utcnow() - older_than
    db.execute(ConsoleSession.__table__.delete().where(or_(ConsoleSession.expires_at < cutoff,
                                                           ConsoleSession.revoked_at < cutoff)))


def _agency_reach(user: ConsoleUser):
    """SQL condition: tenants the user reaches through their agency (linked, with a grant)."""
    if user.agency_id is None or user.agency_role not in (ADMIN, VIEWER):
        return None
    return and_(Tenant.agency_id == user.agency_id, Tenant.agency_grant.in_((ADMIN, VIEWER)))


def visible_tenants_query(user: ConsoleUser):
    """Tenants the user may see: their memberships, plus their agency's tenants."""
    member_of = select(Membership.tenant_id).where(Membership.user_id == user.id)
    conditions = [Tenant.id.in_(member_of)]
    reach = _agency_reach(user)
    if reach is not None:
        conditions.append(reach)
    return select(Tenant).where(or_(*conditions))


def admin_tenants_query(user: ConsoleUser):
    """Tenants where the user is admin by their own membership (not through an agency)."""
    admin_of = select(Membership.tenant_id).where(Membership.user_id == user.id, Membership.role == ADMIN)
    return select(Tenant).where(Tenant.id.in_(admin_of))


def member_role(db: Session, user: ConsoleUser, tenant: Tenant) -> str | None:
    """The role the user holds on the tenant by their own membership."""
    return db.scalar(select(Membership.role).where(Membership.user_id == user.id,
                                                   Membership.tenant_id == tenant.id))


def agency_role_on(user: ConsoleUser, tenant: Tenant) -> str | None:
    """The user's agency role on the tenant, capped by what the tenant's admin granted the agency."""
    if user.agency_id is None or tenant.agency_id != user.agency_id:
        return None
    role, grant = user.agency_role, tenant.agency_grant
    if role not in (ADMIN, VIEWER) or grant not in (ADMIN, VIEWER):
        return None
    return min(role, grant, key=RANK.__getitem__)


def role_for(db: Session, user: ConsoleUser, tenant: Tenant) -> str | None:
    """The user's role on the tenant: admin, viewer, or None (not visible)."""
    roles = (member_role(db, user, tenant), agency_role_on(user, tenant))
    return max(roles, key=RANK.__getitem__)


def safe_local_path(target: object, prefix: str = "/") -> str | None:
    """`target` if it is a path on this site under `prefix`, else None (never an open redirect).

    Browsers drop tabs and newlines inside URLs and read `\\` as `/`, so `/\\t/evil.example` means
    `//evil.example`: any whitespace, control character or backslash is refused outright.
    """
    if not isinstance(target, str) or not target.startswith(prefix) or len(target) > 2000:
        return None
    if any(ch.isspace() or ch == "\\" or unicodedata.category(ch)[0] in "CZ" for ch in target):
        return None
    parts = urlsplit(target)
    if target.startswith("//") or parts.scheme or parts.netloc or not parts.path.startswith("/"):
        return None
    return target


def require_login(view: Callable) -> Callable:
    @functools.wraps(view)
    def wrapped(*args, **kwargs):
        if g.user is None:
            return redirect(url_for("auth.login", next=request.full_path))
        return view(*args, **kwargs)

    return wrapped


def tenant_view(write: bool = False) -> Callable:
    """Console view on /tenants/<tenant_id>: 404 when not visible, 403 when a viewer tries to change."""

    def decorate(view: Callable) -> Callable:
        @functools.wraps(view)
        @require_login
        def wrapped(tenant_id: int, *args, **kwargs):
            tenant = g.db.get(Tenant, tenant_id)
            role = role_for(g.db, g.user, tenant) if tenant is not None else None
            if role is None:
                abort(404)
            if write and role != ADMIN:
                abort(403, description="viewers cannot change this; ask a tenant or agency admin")
            g.tenant, g.role = tenant, role
            return view(tenant, *args, **kwargs)

        return wrapped

    return decorate
