"""Authentication, scopes and rate limits in front of every API route."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Blueprint, g, request

from sandbox.context import Sandbox
from sandbox.pipedrive.core import NAME, PdError, admin_user
from sandbox.pipedrive.limits import LimitExceeded, RateLimiter, path_template
from sandbox.pipedrive.ops import Actor
from sandbox.state import Account

# Scopes: https://pipedrive.readme.io/docs/marketplace-scopes-and-permissions-explanations
ALL_SCOPES = ("base", "deals:full", "contacts:full", "activities:full", "leads:full", "users:read", "mail:read",
              "search:read", "admin")


@dataclass
class Ctx:
    account: Account
    actor: Actor
    client_id: str


def _token() -> str | None:
    # OAuth apps send "Authorization: Bearer"; API-token integrations send ?api_token=
    return Sandbox.bearer_token() or request.args.get("api_token") or None


def _scope_ok(granted: list[str], family: str, write: bool) -> bool:
    if not granted or family == "base":
        return True  # tokens made by the control API (like a personal API token) carry every permission
    wanted = {f"{family}:full"} if write else {f"{family}:full", f"{family}:read"}
    if family == "search":
        wanted = {"search:read", "contacts:read", "contacts:full", "deals:read", "deals:full", "leads:read",
                  "leads:full"}
    if family == "admin":
        wanted = {"admin"}
    return bool(wanted & set(granted))


def endpoint() -> tuple[str, str]:
    """(method, path template) of the request, as Pipedrive's OpenAPI documents name it: /api/v2/persons/{id}."""
    return request.method, path_template(request.url_rule.rule, request.view_args or {})


def check(sandbox: Sandbox, limiter: RateLimiter, family: str, write: bool) -> Ctx:
    """Authenticate, check the scope and charge the endpoint's token cost; raises PdError with Pipedrive's answer."""
    value = _token()
    account = sandbox.authenticate(NAME, value)
    if account is None:
        raise PdError(401, "Invalid token: access_token is invalid" if Sandbox.bearer_token()
                      else "You need to be authorized to make this request.")
    tok = sandbox.store.token(value, "access")
    client_id = tok.client_id if tok else ""
    if not _scope_ok(tok.scopes if tok else [], family, write):
        raise PdError(403, "Scope and URL mismatch")
    with sandbox.store.lock:
        install = account.extra.get("installs", {}).get(client_id) or {}
        # an OAuth token acts as the user who approved it; control-API tokens as the installer or admin
        user_id = (tok.user_id if tok else "") or install.get("user_id") or admin_user(account)["id"]
        try:
            g.pd_headers = limiter.charge(sandbox.config, account, value, bool(client_id), *endpoint())
        except LimitExceeded as exc:
            g.pd_headers = exc.headers
            raise
    return Ctx(account=account, actor=Actor(user_id=int(user_id), source="api"), client_id=client_id)


def install_handlers(bp: Blueprint) -> None:
    """Pipedrive error envelopes and rate-limit headers on every response of the blueprint."""

    @bp.errorhandler(PdError)
    def pd_error(exc: PdError):
        return exc.response()

    @bp.errorhandler(404)
    def not_found(_exc: Any):
        return PdError(404, "Unknown method .").response()

    @bp.errorhandler(405)
    def not_allowed(_exc: Any):
        return PdError(405, "Method not allowed").response()

    @bp.after_request
    def add_headers(response):
        for key, value in (getattr(g, "pd_headers", None) or {}).items():
            response.headers[key] = value
        return response


def body() -> dict[str, Any]:
    """The JSON (or form) body of a write."""
    data = request.get_json(silent=True)
    if data is None and request.form:
        data = request.form.to_dict()
    if not isinstance(data, dict):
        raise PdError(400, "Request body must be a JSON object")
    return data
