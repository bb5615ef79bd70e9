"""Pipedrive's OAuth server (real host https://oauth.pipedrive.com/oauth/): served on the sandbox at the real
paths /oauth/authorize|token|revoke (authorize shared with HubSpot by client_id) and under /pipedrive/oauth/.

https://pipedrive.readme.io/docs/marketplace-oauth-authorization and /docs/app-uninstallation :
* GET /authorize?client_id&redirect_uri&state -> consent ("Allow and install" / "Cancel") -> redirect with
  code (valid 5 minutes) or error=user_denied;
* POST /token, form-encoded, client credentials by HTTP Basic (body credentials tolerated, "not recommended"):
  access_token, token_type, refresh_token, scope, expires_in, api_domain. Refresh returns the *same* refresh
  token with its 60-day expiry reset;
* POST /revoke (RFC 7009): a refresh token removes all OAuth data (app uninstalled), an access token only itself;
  always 200.
Error texts follow https://pipedrive.readme.io/docs/marketplace-oauth-and-api-proxy-status-codes ; the JSON
field layout of OAuth errors is not documented there (UNCONFIRMED) — we answer {"success": false, "error",
"message"}.

No PKCE: Pipedrive documents only client_id, redirect_uri and state for /authorize and grant_type, code and
redirect_uri for /token (the pages above and developers.pipedrive.com/docs/api/v1/Oauth), so code_challenge
and code_verifier are ignored here, as we assume the real server ignores unknown parameters (UNCONFIRMED).
What is enforced: a code is single-use, valid 5 minutes, for its client only, and redeemed with the exact
redirect_uri it was issued for.

Sandbox extensions of the authorize page: `company_id` picks the company (default: the newest) and
`login_hint=<email>` which of its active users approves (default: its first admin). Pipedrive binds every
token to the user who granted it (docs/marketplace-oauth-api), so /v1/users/me (with `is_admin`) and the
user behind API writes are that user.
"""
from __future__ import annotations

import base64
import html
import secrets
import time
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, jsonify, redirect, request

from sandbox.context import Sandbox
from sandbox.pipedrive.core import NAME, admin_user, users
from sandbox.state import Account, Token

CODE_TTL, REFRESH_TTL = 300.0, 60 * 24 * 3600.0


def oauth_error(message: str, error: str = "invalid_request", status: int = 400):
    return jsonify({"success": False, "error": error, "message": message}), status


def client_credentials() -> tuple[str, str]:
    auth = request.authorization
    if auth is not None and auth.type == "basic":
        return auth.username or "", auth.password or ""
    return request.form.get("client_id", ""), request.form.get("client_secret", "")


def blueprint(sandbox: Sandbox, apps: dict[str, dict[str, Any]]) -> Blueprint:
    """Served at /pipedrive/oauth/* and at the real paths /oauth/token, /oauth/revoke, /oauth/authorize."""
    bp = Blueprint("pipedrive_oauth", __name__)
    for prefix in ("/pipedrive/oauth", "/oauth"):
        bp.add_url_rule(f"{prefix}/token", f"token{prefix}", lambda: token(sandbox, apps), methods=["POST"])
        bp.add_url_rule(f"{prefix}/revoke", f"revoke{prefix}", lambda: revoke(sandbox, apps), methods=["POST"])
    bp.add_url_rule("/pipedrive/oauth/authorize", "authorize", lambda: authorize(sandbox, apps),
                    methods=["GET", "POST"])

    @bp.before_app_request
    def shared_authorize_path():
        # HubSpot's emulator also serves /oauth/authorize (app.hubspot.com/oauth/authorize). Apps that re-host
        # https://oauth.pipedrive.com/oauth/authorize on the sandbox land there too, so answer it here when the
        # client_id is a registered Pipedrive app and leave every other request to HubSpot.
        if request.path == "/oauth/authorize" and request.values.get("client_id", "") in apps:
            return authorize(sandbox, apps)
        return None

    return bp


def authorize(sandbox: Sandbox, apps: dict[str, dict[str, Any]]):
    """The install dialog; POST carries the user's decision from the consent page."""
    params = request.values
    app = apps.get(params.get("client_id", ""))
    redirect_uri = params.get("redirect_uri", "")
    if app is None:
        return "App cannot be installed for requested company", 400
    if app.get("redirect_uris") and redirect_uri not in app["redirect_uris"]:
        return "Invalid request: redirect_uri is invalid", 400
    account = _target_account(sandbox, params.get("company_id"))
    if account is None:
        return "No Pipedrive company in the sandbox: create one with POST /_sandbox/accounts", 400
    with sandbox.store.lock:
        approver = _approver(account, params.get("login_hint"))
    if approver is None:
        return "Invalid request: login_hint names no active user of this company", 400
    if request.method == "GET" and sandbox.config.consent_page:
        return _consent_page(app, account, params)
    back: dict[str, str] = {}
    if request.method == "POST" and params.get("decision") != "approve":
        back["error"] = "user_denied"
    else:
        back["code"] = _issue_code(sandbox, account, app, redirect_uri, approver)
    if params.get("state"):
        back["state"] = params["state"]
    return redirect(f"{redirect_uri}{'&' if '?' in redirect_uri else '?'}{urlencode(back)}")


def _app_for_request(apps: dict[str, dict[str, Any]]) -> tuple[dict[str, Any] | None, Any]:
    client_id, secret = client_credentials()
    if not client_id or not secret:
        return None, oauth_error("Invalid client: cannot retrieve client credentials", "invalid_client")
    app = apps.get(client_id)
    if app is None or not secrets.compare_digest(app["client_secret"], secret):
        return None, oauth_error("Invalid client: client is invalid", "invalid_client", 401)
    return app, None


def token(sandbox: Sandbox, apps: dict[str, dict[str, Any]]):
    """POST /oauth/token: authorization_code and refresh_token grants."""
    if request.mimetype != "application/x-www-form-urlencoded":
        return oauth_error("Invalid request: content must be application/x-www-form-urlencoded")
    app, failure = _app_for_request(apps)
    if app is None:
        return failure
    grant = request.form.get("grant_type")
    if not grant:
        return oauth_error("Missing parameter: grant_type")
    if grant == "authorization_code":
        return _exchange_code(sandbox, app)
    if grant == "refresh_token":
        return _refresh(sandbox, app)
    return oauth_error("Unsupported grant type: grant_type is invalid", "unsupported_grant_type")


def revoke(sandbox: Sandbox, apps: dict[str, dict[str, Any]]):
    """POST /oauth/revoke: refresh token = uninstall (all tokens), access token = just that token."""
    app, failure = _app_for_request(apps)
    if app is None:
        return failure
    value = request.form.get("token", "")
    with sandbox.store.lock:
        tok = sandbox.store.tokens.get(value)
        if tok is not None and tok.client_id == app["client_id"]:
            if tok.kind == "refresh":
                account = sandbox.store.account(tok.account_id)
                if account is not None:
                    uninstall(sandbox, account, app["client_id"])
            else:
                tok.revoked = True
    return "", 200  # RFC 7009: 200 also for unknown tokens


def _target_account(sandbox: Sandbox, company: str | None) -> Account | None:
    """The company the user installs into: ?company_id= (sandbox extension) or the newest Pipedrive company."""
    accounts = sandbox.store.accounts_for(NAME)
    if company:
        return next((a for a in accounts if str(a.extra.get("company_id")) == company or a.id == company), None)
    return accounts[-1] if accounts else None


def _approver(account: Account, hint: str | None) -> dict[str, Any] | None:
    """The active user named by login_hint (email), or the company's admin when there is no hint."""
    if not hint:
        return admin_user(account)
    return next((u for u in users(account) if u["email"].lower() == hint.strip().lower() and u["active_flag"]),
                None)


def _issue_code(sandbox: Sandbox, account: Account, app: dict[str, Any], redirect_uri: str,
                approver: dict[str, Any]) -> str:
    # real codes look like <company id>.<user id>.<random>
    code = f"{account.extra['company_id']}.{approver['id']}.{secrets.token_hex(20)}"
    with sandbox.store.lock:
        sandbox.store.codes[code] = {"platform": NAME, "account_id": account.id, "client_id": app["client_id"],
                                     "redirect_uri": redirect_uri, "expires_at": time.time() + CODE_TTL,
                                     "user_id": approver["id"]}
    return code


def _exchange_code(sandbox: Sandbox, app: dict[str, Any]):
    code = request.form.get("code", "")
    with sandbox.store.lock:
        entry = sandbox.store.codes.pop(code, None)
    if entry is None or entry["platform"] != NAME or entry["client_id"] != app["client_id"]:
        return oauth_error("Invalid grant: authorization_code is invalid", "invalid_grant")
    if entry["expires_at"] < time.time():
        return oauth_error("Invalid grant: authorization_code has expired", "invalid_grant")
    if request.form.get("redirect_uri") != entry["redirect_uri"]:
        return oauth_error("Invalid request: redirect_uri is invalid")
    account = sandbox.store.account(entry["account_id"])
    scopes = list(app.get("scopes") or DEFAULT_SCOPES)
    with sandbox.store.lock:
        account.extra.setdefault("installs", {})[app["client_id"]] = {"user_id": entry["user_id"],
                                                                     "scopes": scopes, "installed_at": time.time()}
    refresh = sandbox.store.issue_token(account.id, "refresh", REFRESH_TTL, client_id=app["client_id"], scopes=scopes,
                                        user_id=str(entry["user_id"]))
    return _token_response(sandbox, account, refresh, scopes)


def _refresh(sandbox: Sandbox, app: dict[str, Any]):
    tok = sandbox.store.token(request.form.get("refresh_token", ""), "refresh")
    if tok is None or tok.client_id != app["client_id"]:
        return oauth_error("Invalid grant: refresh_token is invalid", "invalid_grant")
    with sandbox.store.lock:
        tok.expires_at = time.time() + REFRESH_TTL  # same refresh token, expiry reset to 60 days
    account = sandbox.store.account(tok.account_id)
    return _token_response(sandbox, account, tok, tok.scopes)


def _token_response(sandbox: Sandbox, account: Account, refresh: Token, scopes: list[str]):
    ttl = float(sandbox.config.oauth_setting(NAME, "access_ttl", 3600))
    access = sandbox.store.issue_token(account.id, "access", ttl, prefix="v1u:", client_id=refresh.client_id,
                                       scopes=scopes, user_id=refresh.user_id)
    return jsonify({"access_token": access.value, "token_type": "Bearer", "refresh_token": refresh.value,
                    "scope": ",".join(scopes), "expires_in": int(ttl), "api_domain": account.api_base})


def uninstall(sandbox: Sandbox, account: Account, client_id: str) -> None:
    """Invalidate every token of the app in this company and drop its install and webhooks."""
    from sandbox.pipedrive.webhooks import remove_app_hooks

    with sandbox.store.lock:
        for tok in sandbox.store.tokens.values():
            if tok.account_id == account.id and tok.client_id == client_id:
                tok.revoked = True
        account.extra.setdefault("installs", {}).pop(client_id, None)
        remove_app_hooks(account, client_id)


def basic_auth(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


DEFAULT_SCOPES = ("base", "deals:full", "contacts:full", "activities:full", "leads:full", "users:read", "mail:read",
                  "search:read", "admin")


def _consent_page(app: dict[str, Any], account: Account, params) -> str:
    esc = html.escape
    hidden = "".join(f'<input type="hidden" name="{esc(k)}" value="{esc(params.get(k, ""))}">'
                     for k in ("client_id", "redirect_uri", "state", "login_hint") if params.get(k) is not None)
    hidden += f'<input type="hidden" name="company_id" value="{esc(str(account.extra["company_id"]))}">'
    scopes = "".join(f"<li>{esc(s)}</li>" for s in (app.get("scopes") or DEFAULT_SCOPES))
    return (f"<!doctype html><html><head><title>Pipedrive - install {esc(app.get('name') or app['client_id'])}"
            f"</title></head><body><h1>Install {esc(app.get('name') or app['client_id'])}</h1>"
            f"<p>into <b>{esc(account.name)}</b> ({esc(account.extra['company_domain'])}.pipedrive.com)</p>"
            f"<p>This app will be able to:</p><ul>{scopes}</ul>"
            f'<form method="post" action="">{hidden}'
            '<button type="submit" name="decision" value="approve" id="approve">Allow and install</button> '
            '<button type="submit" name="decision" value="deny" id="cancel">Cancel</button></form></body></html>')
