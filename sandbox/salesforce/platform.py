"""The Salesforce `Platform`: blueprints, org creation, demo seed, control-API views and simulation."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify

from sandbox.platform import PlatformError
from sandbox.salesforce import actions, duplicates, oauth, org, outbound, records
from sandbox.salesforce.rest import full_record, rest_blueprint
from sandbox.salesforce.schema import org_sobject, sobject
from sandbox.salesforce.soap import soap_blueprint
from sandbox.salesforce.values import SFError
from sandbox.state import Account

API_VERSION = "v59.0"


def _object_type(name: str) -> str:
    """Accept 'Lead', 'lead', 'leads', 'Opportunities' for the control API."""
    candidates = [name, name[:-1], name[:-3] + "y" if name.lower().endswith("ies") else name]
    for candidate in candidates:
        obj = sobject(candidate or "")
        if obj is not None:
            return obj.name
    raise PlatformError(f"unknown Salesforce object type {name!r}", status=404)


class SalesforcePlatform:
    """Salesforce orgs: REST + SOAP merge + OAuth + Outbound Messages."""

    NAME = org.NAME

    def blueprints(self, sandbox: Any) -> list[Blueprint]:
        outbound.install_ack_check(sandbox)
        return [rest_blueprint(sandbox), soap_blueprint(sandbox), oauth.oauth_blueprint(sandbox)]

    def fault_response(self, status: int):
        """Injected faults look like Salesforce's own 5xx body."""
        response = jsonify([{"message": "An unexpected error occurred. Please include this ErrorId if you "
                                        "contact support: 1234567890-12345 (-1234567890)",
                             "errorCode": "UNKNOWN_EXCEPTION"}])
        response.status_code = status
        return response

    def create_account(self, sandbox: Any, name: str, users: list[dict[str, Any]]) -> Account:
        """A new org with its users as Salesforce Users (defaults: 4 users in different time zones)."""
        return org.new_org(sandbox, name, users)

    def seed_demo(self, sandbox: Any, account: Account) -> None:
        """Accounts with owners and domains, contacts and leads with duplicates, tasks and an event."""
        from sandbox.salesforce.seed import seed

        with sandbox.store.lock:
            seed(account, sandbox.store.next_int)

    def list_records(self, sandbox: Any, account: Account, object_type: str) -> list[dict[str, Any]]:
        """Live (not deleted) records of a type, shaped like GET /sobjects/<type>/<id>."""
        obj = org_sobject(account, _object_type(object_type))
        with sandbox.store.lock:
            return [full_record(obj, r, API_VERSION) for r in account.table(obj.name).values()
                    if not r.get("IsDeleted")]

    def register_app(self, sandbox: Any, app: dict[str, Any]) -> None:
        """Remember a connected app: client_id (consumer key), client_secret, redirect_uris, and optionally
        outbound_message_url (+ outbound_objects) configured in every org that installs it."""
        registry = oauth.apps(sandbox)
        redirect_uris = app.get("redirect_uris") or ([app["redirect_uri"]] if app.get("redirect_uri") else [])
        registry[app["client_id"]] = {**app, "redirect_uris": list(redirect_uris)}

    def simulate(self, sandbox: Any, account: Account, payload: dict[str, Any]) -> dict[str, Any]:
        """A change made by a user in the Salesforce UI (or an admin setting up an outbound message, or
        uninstalling LeadRelay's managed package)."""
        action = payload.get("action")
        try:
            with sandbox.store.lock:
                if action == "configure_outbound":
                    return outbound.configure(account, payload.get("properties") or payload,
                                              sandbox.store.next_int())
                if action == "uninstall_package":
                    return org.uninstall_package(account)
                if action in ("reply", "log_meeting"):
                    return actions.simulate(sandbox, account, action, payload)
                if action == "install_package":
                    return org.install_package(account, str(payload.get("version") or ""))
                return self._change(sandbox, account, action, payload)
        except SFError as err:
            raise PlatformError(f"{err.code}: {err.message}", status=err.status) from None

    def _change(self, sandbox: Any, account: Account, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        name = _object_type(str(payload.get("object_type") or ""))
        actor = org.ui_user(account, payload.get("user_id"))
        props = payload.get("properties") or {}
        # a user in the UI sees a duplicate alert and may save anyway; a block stops them as it stops the API
        guard = duplicates.guard(sandbox, account, allow_save=True)
        if action == "create":
            record = records.create(account, name, props, actor, sandbox.store.next_int(), guard=guard)
        elif action == "update":
            record = records.update(account, name, str(payload.get("id", "")), props, actor, guard=guard)
        elif action == "delete":
            record = records.delete(account, name, str(payload.get("id", "")), actor)
        elif action == "merge":
            merged_ids = [str(i) for i in payload.get("merged_ids") or []]
            result = records.merge(account, name, str(payload.get("master_id", "")), merged_ids, props, actor)
            record = result["record"]
        else:
            raise PlatformError(f"unknown action {action!r}: create, update, delete, merge, configure_outbound, "
                                "uninstall_package")
        if action != "delete":
            outbound.notify(sandbox, account, name, record)
        return full_record(org_sobject(account, name), record, API_VERSION)
