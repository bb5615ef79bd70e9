"""Onboarding after install: connection, the CRM users found, a starter rule set, simulate, go live."""
from __future__ import annotations

import logging
import zoneinfo

from flask import Blueprint, flash, g, redirect, render_template, url_for
from sqlalchemy import select

from integration.admin.simulate import read_progress
from integration.crm.wiring import NotWired, adapter_for
from integration.errors import LeadRelayError
from integration.models import Credential, Tenant
from integration.records import CRMUser
from integration.rules import RulesError, load_rules
from marketplace.access import tenant_view
from marketplace.console_health import backfill_state
from marketplace.console_publish import not_publishable
from marketplace.console_rules import add_version, as_yaml, live_version, working_draft

log = logging.getLogger("leadrelay.console.onboarding")
onboarding_bp = Blueprint("console_onboarding", __name__, url_prefix="/console")
STARTER_POOL = "team"
STEPS = (("connected", "Connect your CRM"), ("users", "Find your CRM users"), ("starter", "Prepare a rule set"),
         ("simulate", "Try it on your recent leads"), ("live", "Go live"), ("backfill", "Read your existing leads"))


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
    live = live_version(g.db, tenant.id)
    # the draft being prepared: the newest one newer than what is live (an older draft is history, not a next step)
    draft = working_draft(g.db, tenant.id)
    has_token = g.db.scalar(select(Credential.id).where(Credential.tenant_id == tenant.id)) is not None
    progress = read_progress(tenant.id, draft.version) if draft is not None else None
    backfill = backfill_state(tenant)
    steps = checklist(tenant, has_token, users, problem, draft, progress, live, backfill)
    done = sum(1 for s in steps if s["state"] == "done")
    return render_template("console/onboarding.html", tenant=tenant, role=g.role, users=users, problem=problem,
                           draft=draft, draft_text=as_yaml(draft.body) if draft else "", progress=progress,
                           live=live, has_token=has_token, backfill=backfill, steps=steps,
                           by={s["key"]: s for s in steps}, done=done,
                           percent=round(100 * done / len(steps)), blocked=not_publishable(draft)
                           if draft is not None else None)


def checklist(tenant: Tenant, has_token: bool, users: list[CRMUser], problem: str | None, draft, progress, live,
              backfill) -> list[dict]:
    """The onboarding steps in order, each done or not; the first one not done is the current one."""
    simulated = bool(progress and progress.get("state") == "done")
    done = {
        "connected": tenant.status == "active" and has_token,
        "users": not problem and any(u.active for u in users),
        "starter": draft is not None or live is not None,
        "simulate": simulated or (live is not None and draft is None),
        "live": live is not None and draft is None,
        "backfill": bool(backfill and backfill["state"] == "finished"),
    }
    steps, current = [], False
    for key, title in STEPS:
        state = "done" if done[key] else ("todo" if current else "current")
        current = current or state == "current"
        steps.append({"key": key, "title": title, "state": state})
    return steps


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
