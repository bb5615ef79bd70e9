"""The header's navigation: the account in view, the accounts to switch to, and the account's sections.

base.html asks for it only on a tenant page (the view put `tenant` in the context), so other pages run no query.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from flask import Flask, g, request, url_for

from integration.models import Tenant
from marketplace.access import visible_tenants_query
from oauth.registry import crm_title

# (path segment after /console/tenants/<id>, label). Settings is built by another page's blueprint: a literal path
# keeps this header working whether or not that blueprint is registered.
SECTIONS = (("", "Overview"), ("rules", "Rules"), ("simulate", "Simulate"), ("review", "Review"),
            ("audit", "Audit log"), ("outbox", "Outbox"), ("kpis", "KPIs"), ("health", "Health"),
            ("settings", "Settings"))
# Pages reached from a section that have no tab of their own: the tab they belong to is marked current.
BELONGS_TO = {"onboarding": "", "members": "settings", "agency": "settings"}
TENANT_PATH = re.compile(r"^/console/tenants/(\d+)(?:/([^/?#]+))?")
MAX_SWITCH = 200  # an agency's portfolio page lists them all; the menu is for the usual handful


@dataclass(frozen=True)
class Link:
    label: str
    url: str
    current: bool
    detail: str = ""


@dataclass(frozen=True)
class TenantNav:
    tenant: Tenant
    platform: str
    sections: tuple[Link, ...]
    switch: tuple[Link, ...]  # the other accounts the user may see, each on the same section


def section_of(path: str) -> str:
    """The tab a console path belongs to ("" is the overview; unknown pages mark no tab)."""
    match = TENANT_PATH.match(path)
    if not match:
        return ""
    segment = match.group(2) or ""
    if segment.endswith(".csv"):
        segment = segment.removesuffix(".csv")
    return BELONGS_TO.get(segment, segment)


def section_path(tenant_id: int, section: str) -> str:
    return f"/console/tenants/{tenant_id}" + (f"/{section}" if section else "")


def tenant_nav(tenant: object) -> TenantNav | None:
    """What the header shows for `tenant`, or None when it is not a tenant the signed-in user is viewing."""
    user = getattr(g, "user", None)
    if not isinstance(tenant, Tenant) or user is None or getattr(g, "db", None) is None:
        return None
    current = section_of(request.path)
    known = {s for s, _ in SECTIONS}
    sections = tuple(Link(label, url_for("console.tenant", tenant_id=tenant.id) if not s else
                          section_path(tenant.id, s), current == s) for s, label in SECTIONS)
    # Another account opens on the same tab (a version or item of this account would not exist there).
    target = current if current in known else ""
    others = g.db.scalars(visible_tenants_query(user).where(Tenant.id != tenant.id)
                          .order_by(Tenant.name, Tenant.id).limit(MAX_SWITCH)).all()
    switch = tuple(Link(t.name, section_path(t.id, target), False, crm_title(t.platform)) for t in others)
    return TenantNav(tenant=tenant, platform=crm_title(tenant.platform), sections=sections, switch=switch)


STATUSES = {"active": ("Active", "ok"), "reauth_required": ("Re-connect needed", "warn"),
            "paused": ("Paused", "muted"), "uninstalled": ("Uninstalled", "muted")}


def account_status(status: str) -> tuple[str, str]:
    """(label, badge tone) of a tenant's status, in words."""
    return STATUSES.get(status, (status.replace("_", " ").capitalize(), "muted"))


def has_agency() -> bool:
    user = getattr(g, "user", None)
    return bool(user is not None and user.agency_id is not None)


def register(app: Flask) -> None:
    @app.context_processor
    def navigation() -> dict:
        return {"tenant_nav": tenant_nav, "has_agency": has_agency, "account_status": account_status}

