"""Onboarding after install: connection, the CRM users found, a starter rule set, simulate, go live."""
from __future__ import annotations

import logging
import zoneinfo

from flask import Blueprint, flash, g, redirect, render_template, url_for
from sqlalchemy import select

from integration.admin.simulate import read_progress
from integration.crm.wiring import NotWired, adapter_for
from integration.errors import LeadRelayError
from integration.models import Credential, RuleSetVersion, Tenant
from integration.records import CRMUser
from integration.rules import RulesError, load_rules
from marketplace.access import tenant_view
from marketplace.console_health import backfill_state
from marketplace.console_rules import add_version, as_yaml, live_version

log = logging.getLogger("leadrelay.console.onboarding")
onboarding_bp = Blueprint("console_onboarding", __name__, url_prefix="/console")
STARTER_POOL = "team"


def crm_users(tenant: Tenant) -> tuple[list[CRMUser], str | None]:
    """The CRM's users, or a message saying why they could not be read."""
    if not tenant.is_processing:
        return [], f"The {tenant.platform} account is {tenant.status.replace('_', ' ')}: re-connect it first."
    try:
        return adapter_for(tenant.id).list_users(), None
    except (LeadRelayError, NotWired) as exc:
        log.warning("onboarding.crm-unreachable", extra={"tenant_id": tenant.id, "error": type(exc).__name__})
        return [], f"LeadRelay could not reach {tenant.platform} just now ({type(exc).__name__}); try again shortly."


def starter_rules(users: list[CRMUser]) -> dict:
    """Every active user in one round-robin pool for any reachable lead; anything else goes to review."""
    active = sorted({u.email.lower(): u for u in users if u.active and u.email}.values(), key=lambda u: u.email)
    zones = zoneinfo.available_timezones()
    owners = [{"email": u.email.lower(), **({"name": u.name} if u.name else {}),
               **({"timezone": u.timezone} if u.timezone in zones else {})} for u in active]
    return {
        "version": 1,
        "owners": owners,
        "pools": {STARTER_POOL: {"strategy": "round_robin", "members": [{"owner": o["email"]} for o in owners]}},
        "routing": [{"name": "Everyone reachable", "when": {"has_email": True, "has_phone": True, "any": True},
                     "assign": {"pool": STARTER_POOL}}],
        "fallback": {"review": True},
    }


def onboarding_page(tenant: Tenant):
    """The page behind `console.onboarding` (that endpoint name is where the install flow lands)."""
    users, problem = crm_users(tenant)
    draft = g.db.scalar(RuleSetVersion.for_tenant(tenant.id).where(RuleSetVersion.status == "draft")
                        .order_by(RuleSetVersion.version.desc()).limit(1))
    has_token = g.db.scalar(select(Credential.id).where(Credential.tenant_id == tenant.id)) is not None
    progress = read_progress(tenant.id, draft.version) if draft is not None else None
    return render_template("console/onboarding.html", tenant=tenant, role=g.role, users=users, problem=problem,
                           draft=draft, draft_text=as_yaml(draft.body) if draft else "", progress=progress,
                           live=live_version(g.db, tenant.id), has_token=has_token,
                           backfill=backfill_state(tenant))


@onboarding_bp.post("/tenants/<int:tenant_id>/onboarding/starter")
@tenant_view(write=True)
def starter(tenant: Tenant):
    """Save the starter rule set, prefilled from the CRM's active users, as a draft."""
    users, problem = crm_users(tenant)
    if problem or not any(u.active for u in users):
        flash(problem or "No active users in the CRM: add one there, then try again.", "error")
        return redirect(url_for("console.onboarding", tenant_id=tenant.id)), 303
    body = starter_rules(users)
    try:
        load_rules(body)
    except RulesError as exc:  # e.g. two CRM users sharing an email: let the admin write the rules instead
        flash(f"The starter rule set does not fit this account ({exc}); write one in the rules editor.", "error")
        return redirect(url_for("console.rules", tenant_id=tenant.id)), 303
    row = add_version(g.db, tenant.id, body, f"{g.user.email} (starter)")
    flash(f"Draft version {row.version}: {len(body['owners'])} users in a round-robin pool. Simulate it next.", "info")
    return redirect(url_for("console.onboarding", tenant_id=tenant.id)), 303
