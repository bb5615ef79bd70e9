"""Console sign-in with a CRM identity, logout, and Pipedrive's uninstall callback."""
from __future__ import annotations

import base64
import hmac
import logging

from flask import Blueprint, g, jsonify, redirect, render_template, request, url_for
from sqlalchemy import select

from integration.admin.tenancy import erase_tenant_data, mark_uninstalled
from integration.models import Tenant
from marketplace.access import logout_user, require_login, safe_local_path
from marketplace.install import start_oauth
from marketplace.params import json_too_deep
from oauth.registry import PLATFORMS, get_provider

log = logging.getLogger("leadrelay.auth")
auth_bp = Blueprint("auth", __name__)


@auth_bp.get("/login")
def login():
    if g.user is not None:
        return redirect(url_for("console.home"))
    return render_template("login.html", platforms=PLATFORMS, next=safe_local_path(request.args.get("next")) or "")


@auth_bp.get("/login/<platform>")
def login_with(platform: str):
    return start_oauth(platform, "login")


@auth_bp.get("/console/account/link/<platform>")
@require_login
def link_with(platform: str):
    """Sign in through another CRM to make that sign-in open this same console login."""
    return start_oauth(platform, "link")


@auth_bp.post("/logout")
def logout():
    """End this session on the server too: a cookie copied before logout no longer works."""
    logout_user(g.db)
    return redirect(url_for("auth.login"))


@auth_bp.route("/oauth/pipedrive/uninstall", methods=["DELETE", "POST"])
@auth_bp.route("/oauth/pipedrive/callback", methods=["DELETE"])
def pipedrive_uninstall():
    """Pipedrive calls this when an admin uninstalls the app: Basic auth with our client id and secret.

    Pipedrive sends the DELETE to the app's callback URL (https://pipedrive.readme.io/docs/app-uninstallation);
    /oauth/pipedrive/uninstall is the same handler under a name that says what it does.
    """
    provider = get_provider("pipedrive")
    if not provider.configured:
        log.error("pipedrive.uninstall.not-configured")
        return jsonify({"error": "not_configured"}), 401
    expected = "Basic " + base64.b64encode(f"{provider.client_id}:{provider.client_secret}".encode()).decode()
    # bytes: compare_digest raises TypeError on a str with non-ASCII characters, and the header is the caller's
    if not hmac.compare_digest(request.headers.get("Authorization", "").encode(), expected.encode()):
        log.warning("pipedrive.uninstall.bad-credentials")
        return jsonify({"error": "unauthorized"}), 401
    body = {} if json_too_deep(request.get_data(), 32) else request.get_json(silent=True)
    body = body if isinstance(body, dict) else {}
    company_id = str(body.get("company_id", ""))
    tenant = g.db.scalar(select(Tenant).where(Tenant.platform == "pipedrive", Tenant.external_id == company_id))
    if tenant is None:
        log.info("pipedrive.uninstall.unknown-company")
        return jsonify({"ok": True}), 200
    mark_uninstalled(g.db, tenant)
    g.db.commit()
    erase_tenant_data.enqueue(tenant.id, "uninstalled in Pipedrive", job_id=f"erase-tenant-{tenant.id}")
    log.info("pipedrive.uninstall.done", extra={"tenant_id": tenant.id})
    return jsonify({"ok": True}), 200
