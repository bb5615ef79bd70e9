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
from integration.backfill import backfill_tenant
from integration.errors import CRMTransient, UnknownPlatform
from integration.intake import enqueue_drain
from integration.models import ConsoleUser, Membership, utcnow
from integration.sweep import schedule_sweep
from integration.tenancy import upsert_tenant
from marketplace.access import ADMIN, login_user
from marketplace.agency import link_with_invite
from oauth.base import DisallowedHost, Identity, OAuthFailure, OAuthProvider
from oauth.jobs import verify_installation
from oauth.registry import get_provider
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
    message = FAILURE_TEXT[reason].format(platform=platform.capitalize(), PLATFORM=platform.upper(), detail=detail)
    return render_template("install_failed.html", platform=platform, reason=reason, message=message,
                           retry_url=url_for("install.start", platform=platform)), status


def redirect_uri(platform: str) -> str:
    base = current_app.config.get("PUBLIC_URL") or request.host_url.rstrip("/")
    return f"{base}{url_for('install.callback', platform=platform)}"


def start_oauth(platform: str, purpose: str):
    provider = _provider(platform)
    if not provider.configured:
        return _fail(platform, InstallFailure.NOT_CONFIGURED, status=503)
    state = secrets.token_urlsafe(32)
    url, verifier = provider.authorization_url(redirect_uri(platform), state)
    session["oauth"] = {"platform": platform, "state": state, "verifier": verifier, "purpose": purpose,
                        "invite": request.args.get("invite"), "next": request.args.get("next"),
                        "started": time.time()}
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
    user = _sign_in(platform, identity)
    if pending.get("purpose") == "login":
        return redirect(_safe_next(pending.get("next")) or url_for("console.home"))
    tenant = _install(platform, identity, token, user, pending.get("invite"))
    return redirect(url_for("console.onboarding", tenant_id=tenant.id))


def _sign_in(platform: str, identity: Identity) -> ConsoleUser:
    db = g.db
    user = db.scalar(select(ConsoleUser).where(ConsoleUser.platform == platform,
                                               ConsoleUser.external_user_id == identity.user_id))
    if user is None:
        user = ConsoleUser(platform=platform, external_user_id=identity.user_id, email=identity.user_email or "")
        db.add(user)
    user.email = identity.user_email or user.email
    user.name = identity.user_name or user.name
    user.last_login_at = utcnow()
    db.flush()
    login_user(user)
    g.user = user
    return user


def build_installation(identity: Identity, token: dict) -> dict:
    """What the tenant row keeps: must contain external_id."""
    # fields identify() needs again later (Salesforce id URL, Pipedrive api_domain) — not secrets
    keep = {k: token[k] for k in ("id", "instance_url", "api_domain") if k in token}
    return {"external_id": identity.external_id, "name": identity.name, "api_base": identity.api_base,
            "settings": {"identity_token_fields": keep, "installed_by": identity.user_email,
                         # writes through this grant are attributed to this CRM user (echo detection)
                         "integration_user_id": identity.user_id}}


def _install(platform: str, identity: Identity, token: dict, user: ConsoleUser, invite: str | None):
    db = g.db
    tenant, created = upsert_tenant(db, platform, build_installation(identity, token))
    TokenStore().save(db, tenant.id, token, keep_refresh=False)
    if db.scalar(select(Membership).where(Membership.user_id == user.id, Membership.tenant_id == tenant.id)) is None:
        db.add(Membership(tenant_id=tenant.id, user_id=user.id, role=ADMIN))
    if invite:
        link_with_invite(db, tenant, invite)
    db.commit()
    # follow-up work goes to a worker, never into the request (rule 9)
    verify_installation.enqueue(tenant.id, job_id=f"verify-installation-{tenant.id}")
    subscribe_tenant_webhooks.enqueue(tenant.id, job_id=f"subscribe-webhooks-{tenant.id}")
    ensure_tenant_fields.enqueue(tenant.id, job_id=f"ensure-fields-{tenant.id}")
    schedule_sweep(tenant.id)
    backfill_tenant.enqueue(tenant.id, job_id=f"backfill-{tenant.id}")
    if not created:
        enqueue_drain(tenant.id, force=True)  # a reconnect: events that waited while it was paused go now
    log.info("install.completed", extra={"tenant_id": tenant.id, "platform": platform, "created": created})
    return tenant


def _safe_next(target: str | None) -> str | None:
    # only local paths: never an open redirect
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return None
