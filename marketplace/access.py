"""Who is signed in, and which tenants they may see or change. Every console query goes through here."""
from __future__ import annotations

import functools
from collections.abc import Callable

from flask import abort, g, redirect, request, session, url_for
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from integration.models import ConsoleUser, Membership, Tenant

ADMIN, VIEWER = "admin", "viewer"


def current_user(db: Session) -> ConsoleUser | None:
    user_id = session.get("user_id")
    if user_id is None:
        return None
    user = db.get(ConsoleUser, user_id)
    if user is None or session.get("user_version") != _version(user):
        session.clear()
        return None
    return user


def _version(user: ConsoleUser) -> str:
    return f"{user.id}:{user.platform}:{user.external_user_id}"


def login_user(user: ConsoleUser) -> None:
    session.clear()  # a new session on sign-in: no fixation
    session["user_id"] = user.id
    session["user_version"] = _version(user)
    session.permanent = True


def visible_tenants_query(user: ConsoleUser):
    """Tenants the user may see: their memberships, plus their agency's tenants."""
    member_of = select(Membership.tenant_id).where(Membership.user_id == user.id)
    conditions = [Tenant.id.in_(member_of)]
    if user.agency_id is not None and user.agency_role in (ADMIN, VIEWER):
        conditions.append(Tenant.agency_id == user.agency_id)
    return select(Tenant).where(or_(*conditions))


def role_for(db: Session, user: ConsoleUser, tenant: Tenant) -> str | None:
    """The user's role on the tenant: admin, viewer, or None (not visible)."""
    roles = set()
    membership = db.scalar(select(Membership).where(Membership.user_id == user.id, Membership.tenant_id == tenant.id))
    if membership is not None:
        roles.add(membership.role)
    if user.agency_id is not None and tenant.agency_id == user.agency_id and user.agency_role:
        roles.add(user.agency_role)
    if ADMIN in roles:
        return ADMIN
    return VIEWER if VIEWER in roles else None


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
