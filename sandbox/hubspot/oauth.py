"""HubSpot OAuth: authorize page, v1 token endpoint, token metadata, refresh-token delete.

https://developers.hubspot.com/docs/api-reference/auth-oauth-v3/guide (authorize parameters),
https://developers.hubspot.com/docs/methods/oauth2/oauth2-quickstart (client credentials in the form body),
https://developers.hubspot.com/docs/api-reference/legacy/authentication/oauth-tokens/v1/get-oauth-token-metadata.
Token errors keep the legacy `status`/`message` and add RFC 6749 `error`/`error_description`
(https://developers.hubspot.com/changelog/new-oauth-v3-api-endpoints-and-standardized-error-responses).

Sandbox extensions of the authorize page: `account` (or `portal_id`) picks the portal (default: the newest),
`login_hint=<email>` picks which of its users approves (default: its first active super admin). The tokens
then act as that user: token info `user` / `user_id`, and the user provisioning API.
"""
from __future__ import annotations

import base64
import hashlib
import html
import secrets
import time
import uuid
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from flask import Blueprint, Response, jsonify, redirect, request

from sandbox.hubspot.hubstate import App, app_for_client, install
from sandbox.hubspot.owners import all_owners

if TYPE_CHECKING:
    from sandbox.context import Sandbox
    from sandbox.state import Account, Token


def token_error(status: str, message: str, error: str, http: int = 400) -> tuple[Response, int]:
    """The token endpoint's error body (e.g. BAD_REFRESH_TOKEN / invalid_grant)."""
    return jsonify({"status": status, "message": message, "correlationId": str(uuid.uuid4()),
                    "error": error, "error_description": message}), http


def _page(title: str, body: str, status: int = 200) -> tuple[str, int]:
    return (f"<!doctype html><html><head><title>{html.escape(title)}</title></head>"
            f"<body><h1>{html.escape(title)}</h1>{body}</body></html>"), status


def _pick_account(sandbox: Sandbox, wanted: str | None) -> Account | None:
    accounts = sandbox.store.accounts_for("hubspot")
    if wanted:
        return next((a for a in accounts if a.id == wanted), None)
    return accounts[-1] if accounts else None


def default_user(account: Account) -> dict[str, Any]:
    """Who approves when nobody is named: the first active super admin, else the first active user."""
    owners = all_owners(account)
    active = [o for o in owners if o.get("active", True)]
    return next((o for o in active if o.get("superAdmin")), active[0] if active else owners[0] if owners else {})


def _pick_user(account: Account, hint: str | None) -> dict[str, Any] | None:
    """The active user whose email is `login_hint` (a sandbox extension), or the default approver."""
    if not hint:
        return default_user(account)
    return next((o for o in all_owners(account) if o["email"].lower() == hint.strip().lower()
                 and o.get("active", True)), None)


def _issue_code(sandbox: Sandbox, app: App, account: Account, args: dict[str, str]) -> str:
    code = "hs-code-" + secrets.token_urlsafe(18)
    with sandbox.store.lock:
        user = _pick_user(account, args.get("login_hint")) or {}
        sandbox.store.codes[code] = {
            "platform": "hubspot", "client_id": app.client_id, "account_id": account.id,
            "user_id": str(user.get("userId", "")),
            "redirect_uri": args.get("redirect_uri", ""), "scopes": (args.get("scope") or "").split() + [
                # the portal grants the optional scopes it has the features for: all of them unless the account body
                # said `withheld_scopes` (a portal without Sales Hub Professional has no sequences scopes), and a
                # sequence enrollment still needs the user's seat: sandbox/hubspot/outreach.py
                s for s in (args.get("optional_scope") or "").split() if s not in (args.get("scope") or "").split()
                and s not in account.extra.get("withheld_scopes", ())],
            "code_challenge": args.get("code_challenge"),
            "code_challenge_method": args.get("code_challenge_method", "plain"), "issued": time.time()}
    return code


def _approve(sandbox: Sandbox, app: App, account: Account, args: dict[str, str]):
    code = _issue_code(sandbox, app, account, args)
    query = {"code": code, **({"state": args["state"]} if args.get("state") else {})}
    sep = "&" if "?" in args["redirect_uri"] else "?"
    return redirect(args["redirect_uri"] + sep + urlencode(query), code=302)


def _consent(app: App, account: Account, args: dict[str, str]) -> tuple[str, int]:
    hidden = "".join(f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
                     for k, v in args.items())
    scopes = "".join(f"<li>{html.escape(s)}</li>" for s in (args.get("scope") or "").split())
    body = (f"<p>App {app.app_id} wants to connect to HubSpot account {html.escape(account.name)} "
            f"({account.id}).</p><ul>{scopes}</ul><form method=post action=/oauth/authorize>{hidden}"
            f'<input type="hidden" name="account" value="{account.id}">'
            '<button type="submit" name="approve" value="1">Connect app</button></form>')
    return _page("Choose an account", body)


def _check_authorize(sandbox: Sandbox, args: dict[str, str]):
    app = app_for_client(sandbox, args.get("client_id"))
    if app is None:
        return None, None, _page("Authorization failed", "<p>Unknown client_id.</p>", 400)
    if app.redirect_uris and args.get("redirect_uri") not in app.redirect_uris:
        return None, None, _page("Authorization failed", "<p>redirect_uri does not match the app.</p>", 400)
    account = _pick_account(sandbox, args.get("account") or args.get("portal_id"))
    if account is None:
        return None, None, _page("Authorization failed", "<p>No HubSpot account in the sandbox.</p>", 400)
    with sandbox.store.lock:
        user = _pick_user(account, args.get("login_hint"))
    if user is None:
        return None, None, _page("Authorization failed", "<p>login_hint names no active user of this account.</p>",
                                 400)
    return app, account, None


def _verifier_ok(entry: dict[str, Any], verifier: str | None) -> bool:
    challenge = entry.get("code_challenge")
    if not challenge:
        return True
    if not verifier:
        return False
    if entry.get("code_challenge_method", "plain").upper() == "S256":
        digest = hashlib.sha256(verifier.encode()).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode() == challenge
    return verifier == challenge


def _token_response(sandbox: Sandbox, account_id: str, app: App, scopes: list[str], user_id: str,
                    refresh: str | None = None) -> Response:
    ttl = float(sandbox.config.oauth_setting("hubspot", "access_ttl", 1800))
    access = sandbox.store.issue_token(account_id, "access", ttl, prefix="hs-at-", client_id=app.client_id,
                                       scopes=scopes, user_id=user_id)
    if refresh is None or sandbox.config.oauth_setting("hubspot", "rotate_refresh", False):
        refresh = sandbox.store.issue_token(account_id, "refresh", None, prefix="hs-rt-",
                                            client_id=app.client_id, scopes=scopes, user_id=user_id).value
    return jsonify({"token_type": "bearer", "refresh_token": refresh, "access_token": access.value,
                    "expires_in": int(ttl)})


def _exchange_code(sandbox: Sandbox, app: App, form: dict[str, str]):
    with sandbox.store.lock:
        entry = sandbox.store.codes.pop(form.get("code", ""), None)
    if entry is None or entry["client_id"] != app.client_id or entry["platform"] != "hubspot":
        return token_error("BAD_AUTH_CODE", "missing or unknown auth code", "invalid_grant")
    if entry["redirect_uri"] and form.get("redirect_uri") != entry["redirect_uri"]:
        return token_error("BAD_REDIRECT_URI", "redirect_uri does not match initial auth request", "invalid_grant")
    if not _verifier_ok(entry, form.get("code_verifier")):
        return token_error("BAD_AUTH_CODE", "code_verifier does not match the code_challenge", "invalid_grant")
    account = sandbox.store.account(entry["account_id"])
    install(sandbox, account, app.client_id)
    return _token_response(sandbox, account.id, app, entry["scopes"], entry.get("user_id", ""))


def _refresh(sandbox: Sandbox, app: App, form: dict[str, str]):
    tok = sandbox.store.token(form.get("refresh_token", ""), "refresh")
    if tok is None or tok.client_id != app.client_id:
        return token_error("BAD_REFRESH_TOKEN", "missing or unknown refresh token", "invalid_grant")
    if tok.client_id not in sandbox.store.account(tok.account_id).extra.get("installed_apps", []):
        return token_error("BAD_REFRESH_TOKEN", "missing or unknown refresh token", "invalid_grant")
    return _token_response(sandbox, tok.account_id, app, tok.scopes, tok.user_id, refresh=tok.value)


def _metadata(sandbox: Sandbox, tok: Token, kind: str) -> dict[str, Any]:
    account = sandbox.store.account(tok.account_id)
    app = app_for_client(sandbox, tok.client_id)
    with sandbox.store.lock:
        approver = [o for o in all_owners(account) if str(o["userId"]) == tok.user_id]
        installer = approver[0] if approver else default_user(account)  # control-API tokens: the admin
    data = {"token": tok.value, "user": installer.get("email", ""), "hub_domain": account.extra.get("hub_domain"),
            "scopes": tok.scopes, "hub_id": int(account.id), "user_id": installer.get("userId", 0),
            "token_type": kind}
    if kind == "access":
        data.update(app_id=app.app_id if app else 0, is_private_distribution=False,
                    expires_in=max(0, int((tok.expires_at or time.time() + 1800) - time.time())))
    else:
        data["client_id"] = tok.client_id
    return data


def _not_found(what: str):
    return jsonify({"status": "error", "message": f"{what} not found", "correlationId": str(uuid.uuid4()),
                    "category": "OBJECT_NOT_FOUND"}), 404


def oauth_blueprint(sandbox: Sandbox) -> Blueprint:
    """Authorize page and token endpoints (latency applies, fault injection does not)."""
    bp = Blueprint("hubspot_oauth", __name__)
    _authorize_routes(bp, sandbox)
    _token_routes(bp, sandbox)
    return bp


def _authorize_routes(bp: Blueprint, sandbox: Sandbox) -> None:
    @bp.get("/oauth/authorize")
    def authorize():
        # the SDK's get_auth_url hard-codes https://app.hubspot.com; we serve the same path here
        args = {k: v for k, v in request.args.items()}
        app, account, error = _check_authorize(sandbox, args)
        if error:
            return error
        if sandbox.config.consent_page:
            return _consent(app, account, args)
        return _approve(sandbox, app, account, args)

    @bp.post("/oauth/authorize")
    def authorize_approve():
        args = {k: v for k, v in request.form.items() if k != "approve"}
        app, account, error = _check_authorize(sandbox, args)
        return error or _approve(sandbox, app, account, args)


def _token(sandbox: Sandbox, form: dict[str, str]):
    app = app_for_client(sandbox, form.get("client_id"))
    if app is None:
        return token_error("BAD_CLIENT_ID", "missing or unknown client id", "invalid_client")
    if form.get("client_secret") != app.client_secret:
        return token_error("BAD_CLIENT_SECRET", "missing or invalid client secret", "invalid_client")
    grant = form.get("grant_type")
    if grant == "authorization_code":
        return _exchange_code(sandbox, app, form)
    if grant == "refresh_token":
        return _refresh(sandbox, app, form)
    return token_error("BAD_GRANT_TYPE", f"unsupported grant_type {grant!r}", "unsupported_grant_type")


def _token_routes(bp: Blueprint, sandbox: Sandbox) -> None:
    @bp.post("/oauth/v1/token")
    def token():
        return _token(sandbox, {k: v for k, v in request.form.items()})

    @bp.get("/oauth/v1/access-tokens/<value>")
    def access_token_info(value: str):
        tok = sandbox.store.token(value, "access")
        if tok is None:
            return _not_found("Access token")
        return jsonify(_metadata(sandbox, tok, "access"))

    @bp.get("/oauth/v1/refresh-tokens/<value>")
    def refresh_token_info(value: str):
        tok = sandbox.store.token(value, "refresh")
        if tok is None:
            return _not_found("Refresh token")
        return jsonify(_metadata(sandbox, tok, "refresh"))

    @bp.delete("/oauth/v1/refresh-tokens/<value>")
    def delete_refresh_token(value: str):
        # does not uninstall the app nor kill issued access tokens (https://developers.hubspot.com/docs-beta/oauth/tokens)
        if sandbox.store.token(value, "refresh") is None:
            return _not_found("Refresh token")
        sandbox.store.revoke(value)
        return Response(status=204)
