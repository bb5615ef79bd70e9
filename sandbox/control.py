"""The control API under /_sandbox/: accounts, apps, records, calls, simulate, config."""
from __future__ import annotations

from dataclasses import asdict

from flask import Blueprint, abort, jsonify, request

from sandbox.context import Sandbox
from sandbox.platform import PlatformError


def _json_body() -> dict:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        abort(jsonify({"error": "expected a JSON object body"}), 400)
    return body


def control_blueprint(sandbox: Sandbox) -> Blueprint:  # noqa: C901 - one factory of many small routes
    bp = Blueprint("sandbox_control", __name__, url_prefix="/_sandbox")

    def account_or_404(account_id: str):
        account = sandbox.store.account(account_id)
        if account is None:
            abort(jsonify({"error": f"no account {account_id!r}"}), 404)
        return account

    @bp.errorhandler(PlatformError)
    def platform_error(exc: PlatformError):
        return jsonify({"error": str(exc)}), exc.status

    @bp.get("/health")
    def health():
        return jsonify({"ok": True, "platforms": sorted(sandbox.platforms), "public_url": sandbox.public_url,
                        "ca_file": sandbox.ca_file, "smtp_url": sandbox.smtp_url})

    @bp.post("/accounts")
    def create_account():
        body = _json_body()
        platform = sandbox.platform(str(body.get("platform", "")))
        users = body.get("users") or []
        if not isinstance(users, list) or not all(isinstance(u, dict) and u.get("email") for u in users):
            return jsonify({"error": "users must be a list of objects with at least an email"}), 400
        account = platform.create_account(sandbox, str(body.get("name") or f"{platform.NAME} account"), users)
        if body.get("seed") == "demo":
            platform.seed_demo(sandbox, account)
        ttl = body.get("token_ttl")
        token = sandbox.store.issue_token(account.id, "access", ttl=float(ttl) if ttl else None,
                                          prefix=f"{platform.NAME[:2]}-")
        return jsonify({"account_id": account.id, "access_token": token.value, "api_base": account.api_base,
                        "platform": platform.NAME, "name": account.name}), 201

    @bp.get("/accounts")
    def list_accounts():
        with sandbox.store.lock:
            accounts = [{"account_id": a.id, "platform": a.platform, "name": a.name, "api_base": a.api_base}
                        for a in sandbox.store.accounts.values()]
        return jsonify({"accounts": accounts})

    @bp.post("/apps")
    def register_app():
        body = _json_body()
        platform = sandbox.platform(str(body.get("platform", "")))
        if not body.get("client_id") or not body.get("client_secret"):
            return jsonify({"error": "client_id and client_secret are required"}), 400
        platform.register_app(sandbox, body)
        return jsonify({"ok": True}), 201

    @bp.get("/accounts/<account_id>/calls")
    def calls(account_id: str):
        account = account_or_404(account_id)
        with sandbox.store.lock:
            return jsonify({"calls": [asdict(c) for c in account.calls]})

    @bp.delete("/accounts/<account_id>/calls")
    def reset_calls(account_id: str):
        account = account_or_404(account_id)
        with sandbox.store.lock:
            account.calls.clear()
        return jsonify({"ok": True})

    @bp.post("/accounts/<account_id>/tokens/expire")
    def expire_tokens(account_id: str):
        # what an hour passing does to a 1-hour token, at once: tests of a refresh need not sleep out a lifetime
        account = account_or_404(account_id)
        return jsonify({"expired": sandbox.store.expire_access_tokens(account.id)})

    @bp.post("/accounts/<account_id>/simulate")
    def simulate(account_id: str):
        account = account_or_404(account_id)
        record = sandbox.platforms[account.platform].simulate(sandbox, account, _json_body())
        return jsonify(record), 200

    @bp.get("/accounts/<account_id>/<object_type>")
    def records(account_id: str, object_type: str):
        account = account_or_404(account_id)
        rows = sandbox.platforms[account.platform].list_records(sandbox, account, object_type)
        return jsonify({"results": rows, "total": len(rows)})

    @bp.get("/webhooks")
    def webhook_history():
        return jsonify({"deliveries": list(sandbox.outbox.history), "pending": sandbox.outbox.pending()})

    @bp.get("/config")
    def get_config():
        return jsonify(sandbox.config.public())

    @bp.post("/config")
    def set_config():
        try:
            unknown = sandbox.config.update(_json_body())
        except ValueError as exc:
            return jsonify({"error": str(exc)}), 400
        if unknown:
            return jsonify({"error": f"unknown or invalid settings: {', '.join(unknown)}",
                            "settings": sorted(sandbox.config.public())}), 400
        return jsonify(sandbox.config.public())

    @bp.post("/config/reset")
    def reset_config():
        sandbox.config.reset()
        return jsonify(sandbox.config.public())

    return bp
