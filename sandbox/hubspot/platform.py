"""HubSpotPlatform: the Platform protocol for HubSpot."""
from __future__ import annotations

import re
import uuid
from typing import TYPE_CHECKING, Any

from flask import Blueprint, has_request_context, jsonify, request

from sandbox.hubspot import associations as assoc
from sandbox.hubspot import outreach, records, seed, webhooks
from sandbox.hubspot.api import api_blueprint
from sandbox.hubspot.errors import HubSpotError
from sandbox.hubspot.hubstate import App, hub, install, iso, now_ms
from sandbox.hubspot.oauth import oauth_blueprint
from sandbox.hubspot.owners import all_owners, public_owner
from sandbox.hubspot.schema import TYPES, object_type
from sandbox.platform import PlatformError
from sandbox.state import Account

if TYPE_CHECKING:
    from sandbox.context import Sandbox


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "portal"


def _owner(n: int, user: dict[str, Any], stamp: str, first_user: bool) -> dict[str, Any]:
    first, _, last = str(user.get("name") or user["email"].split("@")[0]).partition(" ")
    # "superAdmin" is the user's flag in the user provisioning API (sandbox/hubspot/users.py); the owners API
    # does not show it. Default: the first user is the portal's super admin, the others are not.
    return {"id": str(60_000_000 + n), "userId": 9_000_000 + n, "email": user["email"], "firstName": first,
            "lastName": last, "timezone": user.get("timezone") or "UTC", "active": bool(user.get("active", True)),
            "superAdmin": bool(user.get("admin", first_user)), "createdAt": stamp, "updatedAt": stamp}


class HubSpotPlatform:
    """Emulated HubSpot (see the package docstring for what is and is not covered)."""

    NAME = "hubspot"

    def blueprints(self, sandbox: Sandbox) -> list[Blueprint]:
        """The API (faults apply) and OAuth (latency only) blueprints."""
        return [api_blueprint(sandbox), oauth_blueprint(sandbox)]

    def fault_response(self, status: int):
        """Injected server errors in HubSpot's error shape."""
        return jsonify({"status": "error", "message": "internal error", "correlationId": str(uuid.uuid4()),
                        "category": "INTERNAL_ERROR"}), status

    def create_account(self, sandbox: Sandbox, name: str, users: list[dict[str, Any]]) -> Account:
        """A portal whose users become owners (4 default users in different time zones if none).

        A user's optional "admin" (bool) makes them a super admin; without it only the first user is one.
        """
        hub_id = str(20_000_000 + sandbox.store.next_int())
        domain = f"{_slug(name)}.example.com"
        if not users:
            users = [{**u, "email": u["email"].format(domain=domain)} for u in seed.DEFAULT_USERS]
        account = Account(id=hub_id, platform=self.NAME, name=name, api_base=sandbox.public_url)
        stamp = iso(now_ms(sandbox, account))
        owners = [_owner(sandbox.store.next_int(), u, stamp, i == 0) for i, u in enumerate(users)]
        account.extra.update(owners={o["id"]: o for o in owners}, hub_domain=domain,
                             time_zone=owners[0]["timezone"], installed_apps=[])
        sandbox.store.add_account(account)
        # The control API passes only name and users; {"install_app": client_id} is read from its body.
        body = request.get_json(silent=True) if has_request_context() else None
        if isinstance(body, dict) and body.get("install_app"):
            install(sandbox, account, str(body["install_app"]))
        # sequences (sandbox/hubspot/outreach.py): which users hold a seat (index into `users`; default all) and the
        # daily enrollment cap per user
        if isinstance(body, dict) and isinstance(body.get("sequence_seats"), list):
            account.extra["sequence_seats"] = [owners[int(n)]["userId"] for n in body["sequence_seats"]]
        if isinstance(body, dict) and isinstance(body.get("sequences"), dict):
            account.extra["sequences"] = {
                str(k): {"name": str(v.get("name") or k), "subject": str(v.get("subject") or ""),
                         "body": str(v.get("body") or "")}
                for k, v in body["sequences"].items() if isinstance(v, dict)}
        if isinstance(body, dict) and isinstance(body.get("withheld_scopes"), list):
            account.extra["withheld_scopes"] = [str(s) for s in body["withheld_scopes"]]
        if isinstance(body, dict) and body.get("daily_enrollments") is not None:
            account.extra["daily_enrollments"] = int(body["daily_enrollments"])
        return account

    def seed_demo(self, sandbox: Sandbox, account: Account) -> None:
        """Companies with owners and domains, ~30 contacts incl. duplicates, a deal, tasks, a call."""
        seed.seed(sandbox, account)

    def list_records(self, sandbox: Sandbox, account: Account, object_type_name: str) -> list[dict[str, Any]]:
        """Live records with every stored property, or owners (archived ones included)."""
        with sandbox.store.lock:
            if object_type_name == "owners":
                return [public_owner(o) for o in all_owners(account)]
            otype = self._type(object_type_name)
            rows = sorted((r for r in account.table(otype.name).values() if not r["archived"]),
                          key=lambda r: int(r["id"]))
            return [records.serialize(account, otype, r, list(r["properties"]), associations=list(TYPES))
                    for r in rows]

    def simulate(self, sandbox: Sandbox, account: Account, payload: dict[str, Any]) -> dict[str, Any]:
        """A change made by a user in the HubSpot UI (changeSource CRM_UI, sourceId userId:<id>)."""
        otype = self._type(str(payload.get("object_type", "")))
        actor = records.Actor("CRM_UI", f"userId:{self._acting_user(account, payload)}")
        action = payload.get("action")
        try:
            with sandbox.store.lock:
                rec, events = self._apply(sandbox, account, otype, action, payload, actor)
                shown = TYPES[{"reply": "emails", "log_meeting": "meetings"}.get(str(action), otype.name)]
                out = records.serialize(account, shown, rec, list(rec["properties"]), associations=list(TYPES))
        except HubSpotError as exc:
            raise PlatformError(exc.message, exc.status) from exc
        webhooks.dispatch(sandbox, account, events)
        return out

    def register_app(self, sandbox: Sandbox, app: dict[str, Any]) -> None:
        """Remember a public app: credentials, redirect URIs, webhook target URL and subscriptions."""
        target = app.get("target_url") or app.get("webhook_url") or (app.get("webhooks") or {}).get("target_url")
        hub(sandbox).apps[str(app["client_id"])] = App(
            client_id=str(app["client_id"]), client_secret=str(app["client_secret"]),
            app_id=int(app.get("app_id") or 1_000_000 + sandbox.store.next_int()),
            redirect_uris=list(app.get("redirect_uris") or []), target_url=target,
            subscriptions=webhooks.normalize_subscriptions(sandbox, app.get("subscriptions")),
            scopes=list(app.get("scopes") or []))

    # helpers -------------------------------------------------------------------------------
    @staticmethod
    def _type(name: str):
        otype = object_type(name)
        if otype is None:
            raise PlatformError(f"unknown HubSpot object type {name!r}; known: {sorted(TYPES)}")
        return otype

    @staticmethod
    def _acting_user(account: Account, payload: dict[str, Any]) -> int:
        if payload.get("user_id"):
            return int(payload["user_id"])
        owners = [o for o in all_owners(account) if o.get("active", True)] or all_owners(account)
        return owners[0]["userId"] if owners else 0

    @staticmethod
    def _apply(sandbox, account, otype, action, payload, actor):
        props = payload.get("properties") or {}
        if action == "create":
            return records.create(sandbox, account, otype, props, actor, system=True)
        if action == "update":
            return records.update(sandbox, account, otype, str(payload.get("id")), props, actor, system=True)
        if action == "delete":
            rec = records.get(account, otype, str(payload.get("id")))
            return rec, records.archive(sandbox, account, otype, rec["id"], actor)
        if action == "merge":
            return records.merge(sandbox, account, otype, str(payload.get("primary_id")),
                                 str(payload.get("merged_id")), actor)
        if action == "associate":
            target = HubSpotPlatform._type(str(payload.get("to_object_type", "")))
            rec = records.get(account, otype, str(payload.get("id")))
            records.get(account, target, str(payload.get("to_id")))
            type_id = payload.get("association_type_id") or webhooks_default_type(otype.name, target.name)
            assoc.add(account, otype.name, rec["id"], target.name, str(payload["to_id"]), int(type_id))
            records.note_activity(sandbox, account, otype.name, target.name, str(payload["to_id"]))
            return rec, []
        if action in ("reply", "log_meeting"):
            if otype.name != "contacts":
                raise PlatformError(f"{action} is logged on contacts")
            contact = records.get(account, otype, str(payload.get("id")))
            log = outreach.simulate_reply if action == "reply" else outreach.simulate_meeting
            return log(sandbox, account, contact, props, actor)
        raise PlatformError(f"unknown action {action!r}; use create, update, delete, merge, associate, reply or "
                            "log_meeting")


def webhooks_default_type(from_type: str, to_type: str) -> int:
    """Default association type id between two object types (PlatformError if none)."""
    from sandbox.hubspot.schema import ASSOCIATION_TYPES
    if (from_type, to_type) not in ASSOCIATION_TYPES:
        raise PlatformError(f"no association between {from_type} and {to_type}")
    return ASSOCIATION_TYPES[(from_type, to_type)]
