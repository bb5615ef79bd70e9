"""Install and sign-in through each CRM's OAuth: authorize → callback → identify → upsert → onboarding."""
from __future__ import annotations

import hmac
import logging
import secrets
import time
from enum import StrEnum

from flask import Blueprint, abort, current_app, g, redirect, render_template, request, session, url_for
from sqlalchemy import select

from adapters.subscriptions import ensure_tenant_fields, subscribe_tenant_webhooks
from integration.admin.tenancy import upsert_tenant
from integration.errors import CRMTransient, UnknownPlatform
from integration.intake.backfill import backfill_tenant
from integration.intake.events import enqueue_drain
from integration.intake.sweep import schedule_sweep
from integration.models import ConsoleUser, Tenant
from marketplace.access import ADMIN, member_role, safe_local_path
from marketplace.agency import link_with_invite
from marketplace.identities import link_identity, sign_in
from marketplace.intake_api import enqueue_held
from marketplace.invitations import audit, grant_tenant_role
from oauth.base import DisallowedHost, Identity, OAuthFailure, OAuthProvider
from oauth.jobs import verify_installation
from oauth.registry import crm_title, get_provider
from oauth.tokens import TokenStore

log = logging.getLogger("leadrelay.install")
install_bp = Blueprint("install", __name__)
STATE_MAX_AGE = 15 * 60


class InstallFailure(StrEnum):
    NOT_CONFIGURED = "not_configured"
    ACCESS_DENIED = "access_denied"
    STATE_MISMATCH = "state_mismatch"
    STATE_EXPIRED = "state_expired"
    MISSING_CODE = "missing_code"
    TOKEN_EXCHANGE_FAILED = "token_exchange_failed"  # noqa: S105 - a reason code, not a secret
    HOST_NOT_ALLOWED = "host_not_allowed"
    PLATFORM_UNAVAILABLE = "platform_unavailable"


# What the admin is told, and what to do next.
FAILURE_TEXT = {
    InstallFailure.NOT_CONFIGURED: "This LeadRelay server has no app credentials for {platform}. The operator must "
                                   "set {PLATFORM}_CLIENT_ID and {PLATFORM}_CLIENT_SECRET.",
    InstallFailure.ACCESS_DENIED: "The installation was cancelled in {platform}. Start again and approve access.",
    InstallFailure.STATE_MISMATCH: "This sign-in link was not started here or was already used. Start the "
                                   "installation again from the beginning.",
    InstallFailure.STATE_EXPIRED: "The installation took too long. Start it again.",
    InstallFailure.MISSING_CODE: "{platform} did not send an authorization code. Start the installation again.",
    InstallFailure.TOKEN_EXCHANGE_FAILED: "{platform} refused the authorization ({detail}). Start again; if it "
                                          "keeps failing, check the app's redirect URL and credentials.",
    InstallFailure.HOST_NOT_ALLOWED: "{platform} answered with an address LeadRelay does not trust ({detail}). "
                                     "Nothing was installed. Contact support.",
    InstallFailure.PLATFORM_UNAVAILABLE: "{platform} is not answering right now. Try again in a few minutes.",
}


def _provider(platform: str) -> OAuthProvider:
    try:
        return get_provider(platform)
    except UnknownPlatform:
        abort(404, description=f"unknown platform {platform!r}")


def _fail(platform: str, reason: InstallFailure, detail: str = "", status: int = 400):
    log.warning("install.failed", extra={"platform": platform, "reason": str(reason)})
    message = FAILURE_TEXT[reason].format(platform=crm_title(platform), PLATFORM=platform.upper(), detail=detail)
    return render_template("install_failed.html", platform=platform, reason=reason, message=message,
                           retry_url=url_for("install.start", platform=platform)), status


def public_base() -> str:
    """The app's URL: LEADRELAY_PUBLIC_URL, else the host this request came to."""
    return current_app.config.get("PUBLIC_URL") or request.host_url.rstrip("/")


def redirect_uri(platform: str) -> str:
    return f"{public_base()}{url_for('install.callback', platform=platform)}"


def start_oauth(platform: str, purpose: str):
    provider = _provider(platform)
    if not provider.configured:
        return _fail(platform, InstallFailure.NOT_CONFIGURED, status=503)
    state = secrets.token_urlsafe(32)
    url, verifier = provider.authorization_url(redirect_uri(platform), state)
    session["oauth"] = {"platform": platform, "state": state, "verifier": verifier, "purpose": purpose,
                        "invite": request.args.get("invite"), "next": safe_local_path(request.args.get("next")),
                        "user_id": g.user.id if purpose == "link" and g.user else None, "started": time.time()}
    return redirect(url)


@install_bp.get("/install/<platform>")
def start(platform: str):
    """The marketplace's install link lands here."""
    return start_oauth(platform, "install")


@install_bp.get("/oauth/<platform>/callback")
def callback(platform: str):
    provider = _provider(platform)
    pending = session.pop("oauth", None) or {}
    if request.args.get("error"):
        return _fail(platform, InstallFailure.ACCESS_DENIED)
    state = request.args.get("state", "")
    if pending.get("platform") != platform or not hmac.compare_digest(str(pending.get("state", "")), state):
        return _fail(platform, InstallFailure.STATE_MISMATCH)
    if time.time() - float(pending.get("started", 0)) > STATE_MAX_AGE:
        return _fail(platform, InstallFailure.STATE_EXPIRED)
    code = request.args.get("code")
    if not code:
        return _fail(platform, InstallFailure.MISSING_CODE)
    try:
        token = provider.exchange_code(code, redirect_uri(platform), pending.get("verifier"))
        identity = provider.identify(token)
    except DisallowedHost as exc:
        return _fail(platform, InstallFailure.HOST_NOT_ALLOWED, str(exc))
    except OAuthFailure as exc:
        return _fail(platform, InstallFailure.TOKEN_EXCHANGE_FAILED, exc.reason)
    except CRMTransient:
        return _fail(platform, InstallFailure.PLATFORM_UNAVAILABLE, status=503)
    purpose = pending.get("purpose")
    if purpose == "link":
        return link_identity(platform, identity, pending.get("user_id"))
    user = sign_in(platform, identity)
    if purpose == "login":
        return redirect(safe_local_path(pending.get("next")) or url_for("console.home"))
    return _install(platform, identity, token, user, pending.get("invite"))


def build_installation(identity: Identity, token: dict) -> dict:
    """What the tenant row keeps: must contain external_id."""
    # fields identify() needs again later (Salesforce id URL, Pipedrive api_domain) — not secrets
    keep = {k: token[k] for k in ("id", "instance_url", "api_domain") if k in token}
    return {"external_id": identity.external_id, "name": identity.name, "api_base": identity.api_base,
            "settings": {"identity_token_fields": keep, "installed_by": identity.user_email,
                         # writes through this grant are attributed to this CRM user (echo detection)
                         "integration_user_id": identity.user_id}}


def may_install(db, tenant: Tenant | None, identity: Identity, user: ConsoleUser) -> bool:
    """Whether this sign-in may create the tenant, or replace its tokens and integration user.

    The CRM's word decides (identity.is_admin). When the CRM could not tell (None), the first install is
    trusted, since only users the CRM lets install apps reach it, and a later one only from someone who is
    already the tenant's admin by their own membership.
    """
    if identity.is_admin is not None:
        return identity.is_admin
    return tenant is None or member_role(db, user, tenant) == ADMIN


def _install(platform: str, identity: Identity, token: dict, user: ConsoleUser, invite: str | None):
    db = g.db
    existing = db.scalar(select(Tenant).where(Tenant.platform == platform,
                                              Tenant.external_id == str(identity.external_id)))
    if not may_install(db, existing, identity, user):
        return _not_admin(platform, identity, existing)
    tenant, created = upsert_tenant(db, platform, build_installation(identity, token))
    TokenStore().save(db, tenant.id, token, keep_refresh=False)
    grant_tenant_role(db, tenant.id, user, ADMIN)
    audit(db, tenant.id, "installed" if created else "reconnected",
          f"{identity.user_email or identity.user_name} ({crm_title(platform)} admin) "
          f"{'installed LeadRelay' if created else 'reconnected LeadRelay: its tokens now come from this grant'}",
          identity.user_email or identity.user_id, crm_admin=identity.is_admin, crm_user_id=identity.user_id)
    if invite:
        link_with_invite(db, tenant, invite, ADMIN, by=user)
    db.commit()
    # follow-up work goes to a worker, never into the request (rule 9)
    verify_installation.enqueue(tenant.id, job_id=f"verify-installation-{tenant.id}")
    subscribe_tenant_webhooks.enqueue(tenant.id, public_base(), job_id=f"subscribe-webhooks-{tenant.id}")
    ensure_tenant_fields.enqueue(tenant.id, job_id=f"ensure-fields-{tenant.id}")
    schedule_sweep(tenant.id)
    backfill_tenant.enqueue(tenant.id, job_id=f"backfill-{tenant.id}")
    if not created:
        enqueue_drain(tenant.id, force=True)  # a reconnect: events that waited while it was paused go now
        enqueue_held(db, tenant.id)  # and web-form submissions received meanwhile
    log.info("install.completed", extra={"tenant_id": tenant.id, "platform": platform, "new_tenant": created})
    return redirect(url_for("console.onboarding", tenant_id=tenant.id))


def _not_admin(platform: str, identity: Identity, tenant: Tenant | None):
    """A CRM user who is not an admin there: nothing installed, no token replaced, no role given."""
    name = crm_title(platform)
    log.warning("install.refused-not-admin", extra={"platform": platform, "tenant_id": tenant.id if tenant else None,
                                                    "existing": tenant is not None})
    if tenant is not None:
        audit(g.db, tenant.id, "reinstall-refused", f"{identity.user_email or identity.user_name} tried to install "
              f"LeadRelay again but is not a {name} admin: nothing changed", identity.user_email or identity.user_id,
              crm_user_id=identity.user_id)
        message = (f"LeadRelay is already installed for {tenant.name}. Only a {name} admin of the account can "
                   f"reconnect it, so nothing changed: it still works through the admin's connection. If an admin "
                   f"invited you, your access is in the console.")
    else:
        message = (f"Only a {name} admin can install LeadRelay for {identity.name}. Nothing was installed: ask an "
                   f"admin of the account to install it, then to invite you.")
    return render_template("install_failed.html", platform=platform, reason="not_admin", message=message,
                           retry_url=url_for("console.home"), retry_label="Go to the console"), 403
