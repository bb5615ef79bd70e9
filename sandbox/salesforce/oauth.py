"""OAuth 2.0 web-server flow: authorize (PKCE), token (code / refresh), revoke, identity URL, userinfo.

Token answers carry access_token, refresh_token (code exchange only, unless rotation is on), instance_url,
id (identity URL /id/<org>/<user>), issued_at, signature, token_type, scope, and no expires_in.
https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/intro_understanding_web_server_oauth_flow.htm
signature = Base64(HMAC-SHA256(client_secret, id + issued_at)), as the flow documentation describes.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
import weakref
from functools import partial
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Response, jsonify, redirect, request

from sandbox.salesforce import org
from sandbox.salesforce.identity import identity_routes

CODE_TTL = 15 * 60
# per-sandbox registry of connected apps (the PLATFORM object is shared by every Sandbox in a process)
APPS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def apps(sandbox: Any) -> dict[str, dict[str, Any]]:
    return APPS.setdefault(sandbox.store, {})


def oauth_error(error: str, description: str, status: int = 400) -> Response:
    response = jsonify({"error": error, "error_description": description})
    response.status_code = status
    return response


def _page_error(error: str, description: str) -> Response:
    # Salesforce shows these on its own error page instead of redirecting to an untrusted redirect_uri
    return Response(urlencode({"error": error, "error_description": description}), status=400,
                    content_type="text/plain; charset=utf-8")


def _find_user(sandbox: Any, hint: str | None, org_id: str | None = None) -> tuple[Any, str] | None:
    """(org, user id) for a login_hint (username, email, or the consent page's user id) among active users,
    in the org `account=` names (a sandbox extension) or any; no hint: that org's (or the newest org's) admin.
    None when nothing matches: an unknown hint never falls back to the admin."""
    with sandbox.store.lock:
        orgs = [a for a in sandbox.store.accounts_for(org.NAME) if not org_id or a.id == org_id]
        if not orgs:
            return None
        if not hint:
            return orgs[-1], orgs[-1].extra["admin_user_id"]
        for account in reversed(orgs):  # usernames repeat across sandbox orgs: the newest org wins
            for user_id, user in account.table("User").items():
                names = (user_id.lower(), (user.get("Username") or "").lower(), (user.get("Email") or "").lower())
                if user.get("IsActive") and hint.strip().lower() in names:
                    return account, user_id
        return None


def _consent_page(sandbox: Any, params: dict[str, str]) -> str:
    with sandbox.store.lock:
        options = "".join(
            f'<option value="{uid}">{u["Username"]} ({a.name})</option>'
            for a in sandbox.store.accounts_for(org.NAME) for uid, u in a.table("User").items() if u["IsActive"])
    hidden = "".join(f'<input type="hidden" name="{k}" value="{v}">' for k, v in params.items())
    app_name = apps(sandbox).get(params.get("client_id", ""), {}).get("name", "An app")
    return (f"<!doctype html><html><head><title>Allow Access?</title></head><body><h1>Allow Access?</h1>"
            f"<p>{app_name} is asking to access your Salesforce data.</p>"
            f'<form method="post" action="/services/oauth2/authorize">{hidden}'
            f'<label>Log in as <select name="user_id">{options}</select></label>'
            '<button type="submit" name="decision" value="allow">Allow</button>'
            '<button type="submit" name="decision" value="deny">Deny</button></form></body></html>')


def _issue_code(sandbox: Any, params: dict[str, str], account: Any, user_id: str) -> str:
    code = "aPrx" + secrets.token_urlsafe(24)
    with sandbox.store.lock:
        sandbox.store.codes[code] = {
            "platform": org.NAME, "account_id": account.id, "user_id": user_id,
            "client_id": params["client_id"], "redirect_uri": params.get("redirect_uri", ""),
            "code_challenge": params.get("code_challenge"),
            "code_challenge_method": params.get("code_challenge_method") or "S256",
            "scope": params.get("scope") or "", "expires_at": time.time() + CODE_TTL}
    return code


def _with_query(url: str, values: dict[str, str]) -> str:
    return url + ("&" if "?" in url else "?") + urlencode({k: v for k, v in values.items() if v is not None})


def signature(secret: str, identity_url: str, issued_at: str) -> str:
    digest = hmac.new(secret.encode(), (identity_url + issued_at).encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def _pkce_ok(code: dict[str, Any], verifier: str | None) -> str | None:
    """None when PKCE passes, else the OAuth error code (invalid_grant without a verifier)."""
    challenge = code.get("code_challenge")
    if not challenge:
        return None
    if not verifier:
        return "invalid_grant"
    if code["code_challenge_method"].lower() == "plain":
        expected = verifier
    else:
        expected = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    return None if hmac.compare_digest(expected, challenge) else "invalid_request"


def oauth_blueprint(sandbox: Any) -> Blueprint:
    """The salesforce_oauth blueprint (latency applies, faults do not)."""
    bp = Blueprint("salesforce_oauth", __name__)
    bp.add_url_rule("/services/oauth2/authorize", "authorize", partial(authorize, sandbox), methods=["GET", "POST"])
    bp.add_url_rule("/services/oauth2/token", "token", partial(token, sandbox), methods=["POST"])
    bp.add_url_rule("/services/oauth2/revoke", "revoke", partial(revoke, sandbox), methods=["GET", "POST"])
    identity_routes(bp, sandbox)
    return bp


def authorize(sandbox: Any) -> Response:
    """Authorization endpoint: checks the app and redirect_uri, then auto-approves or shows consent."""
    params = {k: v for k, v in request.values.items() if k not in ("decision", "user_id")}
    app = apps(sandbox).get(params.get("client_id", ""))
    if app is None:
        return _page_error("invalid_client_id", "client identifier invalid")
    redirect_uri = params.get("redirect_uri", "")
    if redirect_uri not in app.get("redirect_uris", []):
        return _page_error("redirect_uri_mismatch", "redirect_uri must match configuration")
    state = params.get("state")
    if params.get("response_type") != "code":
        return redirect(_with_query(redirect_uri, {"error": "unsupported_response_type",
                                                   "error_description": "response type not supported",
                                                   "state": state}))
    if request.method == "GET" and sandbox.config.consent_page:
        return Response(_consent_page(sandbox, params), content_type="text/html; charset=utf-8")
    if request.form.get("decision") == "deny":
        return redirect(_with_query(redirect_uri, {"error": "access_denied",
                                                   "error_description": "end-user denied authorization",
                                                   "state": state}))
    found = _find_user(sandbox, request.form.get("user_id") or params.get("login_hint"), params.get("account"))
    if found is None:
        return _page_error("invalid_request", "no such Salesforce org or active user (account / login_hint)")
    code = _issue_code(sandbox, params, *found)
    return redirect(_with_query(redirect_uri, {"code": code, "state": state}))


def token(sandbox: Any) -> Response:
    """Token endpoint: client_secret_post or HTTP Basic client authentication."""
    client_id, client_secret = request.form.get("client_id"), request.form.get("client_secret")
    if request.authorization and request.authorization.type == "basic":
        client_id = request.authorization.username or client_id
        client_secret = request.authorization.password or client_secret
    app = apps(sandbox).get(client_id or "")
    if app is None:
        return oauth_error("invalid_client_id", "client identifier invalid")
    secret_ok = client_secret == app["client_secret"] if client_secret is not None \
        else not app.get("require_secret", True)
    if not secret_ok:
        return oauth_error("invalid_client", "invalid client credentials")
    grant = request.form.get("grant_type")
    if grant == "authorization_code":
        return _exchange_code(sandbox, app)
    if grant == "refresh_token":
        return _refresh(sandbox, app)
    return oauth_error("unsupported_grant_type", "grant type not supported")


def revoke(sandbox: Any) -> Response:
    """Revoke an access or refresh token; a refresh token takes its access tokens with it."""
    value = request.values.get("token", "")
    with sandbox.store.lock:
        tok = sandbox.store.tokens.get(value)
        if tok is None or tok.revoked:
            return oauth_error("invalid_token", "invalid token")
        account = sandbox.store.account(tok.account_id)
        family = account.extra.get("refresh_tokens", {}).get(value, {}) if account else {}
        for child in [value, *family.get("children", [])]:
            sandbox.store.revoke(child)
    return Response(status=200)


def _grant(sandbox: Any, account: Any, user_id: str, app: dict[str, Any], scopes: list[str],
           refresh_value: str | None) -> dict[str, Any]:
    """Issue an access token (and remember who it acts as); returns the token response body."""
    ttl = float(sandbox.config.oauth_setting(org.NAME, "access_ttl", 7200))
    access = sandbox.store.issue_token(account.id, "access", ttl=ttl, prefix=account.id[:15] + "!",
                                       client_id=app["client_id"], scopes=scopes)
    with sandbox.store.lock:
        account.extra.setdefault("token_users", {})[access.value] = user_id
        if refresh_value:
            account.extra["refresh_tokens"][refresh_value]["children"].append(access.value)
    identity_url = f"{sandbox.public_url}/id/{account.id}/{user_id}"
    issued_at = str(int(time.time() * 1000))
    return {"access_token": access.value, "signature": signature(app["client_secret"], identity_url, issued_at),
            "scope": " ".join(scopes), "instance_url": account.api_base or sandbox.public_url,
            "id": identity_url, "token_type": "Bearer", "issued_at": issued_at}


def _new_refresh(sandbox: Any, account: Any, user_id: str, app: dict[str, Any], scopes: list[str]) -> str:
    tok = sandbox.store.issue_token(account.id, "refresh", ttl=None, prefix="5Aep861",
                                    client_id=app["client_id"], scopes=scopes)
    with sandbox.store.lock:
        account.extra.setdefault("refresh_tokens", {})[tok.value] = {"user_id": user_id, "children": []}
    return tok.value


def _exchange_code(sandbox: Any, app: dict[str, Any]) -> Response:
    with sandbox.store.lock:
        code = sandbox.store.codes.pop(request.form.get("code", ""), None)
    if code is None or code["platform"] != org.NAME or code["client_id"] != app["client_id"]:
        return oauth_error("invalid_grant", "invalid authorization code")
    if code["expires_at"] < time.time():
        return oauth_error("invalid_grant", "expired authorization code")
    if request.form.get("redirect_uri", "") != code["redirect_uri"]:
        return oauth_error("redirect_uri_mismatch", "redirect_uri must match configuration")
    pkce = _pkce_ok(code, request.form.get("code_verifier"))
    if pkce:
        return oauth_error(pkce, "invalid code verifier")
    account = sandbox.store.account(code["account_id"])
    scopes = code["scope"].split() or ["api", "refresh_token"]
    refresh = None
    if {"refresh_token", "offline_access", "full"} & set(scopes):
        refresh = _new_refresh(sandbox, account, code["user_id"], app, scopes)
    body = _grant(sandbox, account, code["user_id"], app, scopes, refresh)
    if refresh:
        body["refresh_token"] = refresh
    _install(sandbox, account, app)
    return jsonify(body)


def _refresh(sandbox: Any, app: dict[str, Any]) -> Response:
    value = request.form.get("refresh_token", "")
    tok = sandbox.store.token(value, "refresh")
    account = sandbox.store.account(tok.account_id) if tok else None
    if tok is None or account is None or tok.client_id != app["client_id"]:
        return oauth_error("invalid_grant", "expired access/refresh token")
    with sandbox.store.lock:
        user_id = account.extra["refresh_tokens"][value]["user_id"]
    if sandbox.config.oauth_setting(org.NAME, "rotate_refresh", False):
        new_value = _new_refresh(sandbox, account, user_id, app, tok.scopes)
        body = _grant(sandbox, account, user_id, app, tok.scopes, new_value)
        body["refresh_token"] = new_value
        sandbox.store.revoke(value)
        return jsonify(body)
    return jsonify(_grant(sandbox, account, user_id, app, tok.scopes, value))


def _install(sandbox: Any, account: Any, app: dict[str, Any]) -> None:
    """An app that ships an outbound message endpoint gets it configured in the org it is installed in."""
    url = app.get("outbound_message_url")
    if url:
        from sandbox.salesforce import outbound

        with sandbox.store.lock:
            if not account.extra.get("outbound"):
                outbound.configure(account, {"endpoint_url": url, "objects": app.get("outbound_objects")},
                                   sandbox.store.next_int())
