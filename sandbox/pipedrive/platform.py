"""The Pipedrive `Platform`: accounts (companies), apps, simulate, list_records, blueprints."""
from __future__ import annotations

import copy
import re
import time
import weakref
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import requests
from flask import Blueprint

from sandbox.context import Sandbox
from sandbox.pipedrive import api_v1, api_v2, mailbox, model, oauth, ops, seed
from sandbox.pipedrive.core import ENTITY, NAME, PdError, admin_user, error_response, iso, users
from sandbox.pipedrive.limits import RateLimiter
from sandbox.pipedrive.v1_shapes import v1_user
from sandbox.pipedrive.webhooks import public_view, subscriptions
from sandbox.platform import PlatformError
from sandbox.state import Account, Store

DEFAULT_USERS = [
    {"email": "olivia.owner@example.com", "name": "Olivia Owner", "timezone": "America/New_York"},
    {"email": "lars.berg@example.com", "name": "Lars Berg", "timezone": "Europe/Stockholm"},
    {"email": "priya.nair@example.com", "name": "Priya Nair", "timezone": "Asia/Kolkata"},
    {"email": "mateo.silva@example.com", "name": "Mateo Silva", "timezone": "America/Sao_Paulo"},
]
SINGULAR = {v: k for k, v in ENTITY.items()}


class _State:
    """Per-server state that is not account data: registered apps and burst windows."""

    def __init__(self) -> None:
        self.apps: dict[str, dict[str, Any]] = {}
        self.limiter = RateLimiter()


def _offset(tz: str) -> str:
    try:
        raw = datetime.now(ZoneInfo(tz)).strftime("%z")
    except (ZoneInfoNotFoundError, ValueError):
        return "+00:00"
    return f"{raw[:3]}:{raw[3:]}"


class PipedrivePlatform:
    NAME = NAME

    def __init__(self) -> None:
        self._states: weakref.WeakKeyDictionary[Store, _State] = weakref.WeakKeyDictionary()

    def state(self, sandbox: Sandbox) -> _State:
        return self._states.setdefault(sandbox.store, _State())

    def blueprints(self, sandbox: Sandbox) -> list[Blueprint]:
        """OAuth server, API v2 and API v1 blueprints."""
        st = self.state(sandbox)
        return [oauth.blueprint(sandbox, st.apps), api_v2.blueprint(sandbox, st.limiter),
                api_v1.blueprint(sandbox, st.limiter)]

    @staticmethod
    def fault_response(status: int):
        """Fault injection answers in Pipedrive's error envelope."""
        return error_response(status, "Internal Server Error")

    def create_account(self, sandbox: Sandbox, name: str, users_in: list[dict[str, Any]]) -> Account:
        """A company with its users; "admin" (bool) makes a user an admin, by default only the first one."""
        cid = 13_000_000 + sandbox.store.next_int()
        slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "company"
        account = Account(id=f"pd-{cid}", platform=NAME, name=name, api_base=sandbox.public_url)
        account.extra.update(company_id=cid, company_domain=f"{slug}-{cid}", users=[], seq={}, webhooks={},
                             installs={})
        for i, raw in enumerate(users_in or DEFAULT_USERS):
            tz = raw.get("timezone") or raw.get("timezone_name") or raw.get("time_zone") or "UTC"
            email = raw["email"]
            account.extra["users"].append({
                "id": 20_000_000 + sandbox.store.next_int(), "email": email,
                "name": raw.get("name") or email.split("@")[0].replace(".", " ").title(),
                "timezone_name": tz, "timezone_offset": _offset(tz),
                "active_flag": bool(raw.get("active", raw.get("active_flag", True))),
                "is_admin": bool(raw.get("admin", raw.get("is_admin", i == 0)))})
        return sandbox.store.add_account(account)

    def seed_demo(self, sandbox: Sandbox, account: Account) -> None:
        """Owners, 8 organizations with websites, 30 persons (duplicates, hard negatives), deals, activities."""
        with sandbox.store.lock:
            seed.seed(account)

    def list_records(self, sandbox: Sandbox, account: Account, object_type: str) -> list[dict[str, Any]]:
        """Live records in API shape; also "users" (v1 shape) and "webhooks"."""
        object_type = SINGULAR.get(object_type, object_type)
        with sandbox.store.lock:
            if object_type == "users":
                return [v1_user(account, u) for u in users(account)]
            if object_type == "webhooks":
                return [public_view(h) for h in subscriptions(account).values()]
            if object_type in ("notes", "note"):
                return sorted((copy.deepcopy(n) for n in account.table("notes").values() if n.get("active_flag")),
                              key=lambda n: n["id"])
            if object_type not in ENTITY:
                raise PlatformError(f"unknown Pipedrive object type {object_type!r}", 404)
            rows = [copy.deepcopy(r) for r in account.table(object_type).values() if not r.get("is_deleted")]
        return sorted(rows, key=lambda r: str(r["id"]).zfill(12))

    def register_app(self, sandbox: Sandbox, app: dict[str, Any]) -> None:
        """client_id, client_secret, redirect_uris, uninstall_url (default: first redirect URI), scopes, name."""
        uris = app.get("redirect_uris") or ([app["redirect_uri"]] if app.get("redirect_uri") else [])
        self.state(sandbox).apps[app["client_id"]] = {**app, "redirect_uris": list(uris)}

    @staticmethod
    def _company_setting(sandbox: Sandbox, account: Account, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        """"campaigns": the company buys (or drops) Campaigns, persons gain marketing_status; "activity_priorities":
        the company's activity priority options ([]: no priority field)."""
        if action == "campaigns":
            with sandbox.store.lock:
                account.extra[model.CAMPAIGNS] = bool(payload.get("enabled"))
            return {"campaigns": account.extra[model.CAMPAIGNS]}
        options = payload.get("options")
        if not isinstance(options, list) or not all(isinstance(o, dict) and "id" in o for o in options):
            raise PlatformError("options must be a list of {id, label}")
        with sandbox.store.lock:
            account.extra[model.PRIORITIES] = [{"id": int(o["id"]), "label": str(o.get("label") or "")}
                                               for o in options]
        return {"options": account.extra[model.PRIORITIES]}

    def simulate(self, sandbox: Sandbox, account: Account, payload: dict[str, Any]) -> dict[str, Any]:
        """A change made in the Pipedrive web app (change_source "app"), or an app uninstall."""
        action = payload.get("action")
        if action == "uninstall":
            return self._uninstall(sandbox, account, payload)
        if action in ("campaigns", "activity_priorities"):
            return self._company_setting(sandbox, account, action, payload)
        if action in ("reply", "log_meeting"):
            return self._lead_activity(sandbox, account, action, payload)
        object_type = SINGULAR.get(payload.get("object_type", ""), payload.get("object_type", ""))
        if object_type not in ENTITY:
            raise PlatformError(f"object_type must be one of {', '.join(ENTITY)}")
        with sandbox.store.lock:
            uid = int(payload.get("user_id") or admin_user(account)["id"])
        actor = ops.Actor(user_id=uid, source="app")
        props = payload.get("properties") or {}
        try:
            if action == "create":
                return ops.create(sandbox, account, object_type, props, actor)
            if action == "update":
                return ops.update(sandbox, account, object_type, payload["id"], props, actor)
            if action == "delete":
                return ops.delete(sandbox, account, object_type, payload["id"], actor)
            if action == "merge" and object_type in ("persons", "organizations"):
                return ops.merge(sandbox, account, object_type, payload["id"], payload["merge_with_id"], actor)
        except PdError as exc:
            raise PlatformError(exc.error, exc.status) from exc
        except KeyError as exc:
            raise PlatformError(f"missing {exc.args[0]!r} in simulate payload") from exc
        raise PlatformError(f"unsupported action {action!r}")

    def _lead_activity(self, sandbox: Sandbox, account: Account, action: str,
                       payload: dict[str, Any]) -> dict[str, Any]:
        """reply: the person's answer in the owner's synced inbox (a Mailbox thread and message);
        log_meeting: a meeting activity on the person, as a user logs it in the app."""
        if SINGULAR.get(payload.get("object_type", ""), payload.get("object_type", "")) != "persons":
            raise PlatformError(f"{action} needs object_type person")
        props = payload.get("properties") or {}
        try:
            with sandbox.store.lock:
                person = copy.deepcopy(ops.get_live(account, "persons", payload.get("id")))
                if action == "reply":
                    return mailbox.receive(account, person, str(props.get("subject") or ""),
                                           str(props.get("text") or ""), props.get("from"))
            actor = ops.Actor(user_id=int(payload.get("user_id") or person["owner_id"]), source="app")
            return ops.create(sandbox, account, "activities", {
                "subject": props.get("subject") or "Meeting", "type": "meeting", "done": bool(props.get("done")),
                "participants": [{"person_id": person["id"], "primary": True}], "owner_id": person["owner_id"],
            }, actor)
        except PdError as exc:
            raise PlatformError(exc.error, exc.status) from exc

    def _uninstall(self, sandbox: Sandbox, account: Account, payload: dict[str, Any]) -> dict[str, Any]:
        """DELETE to the app's callback URL with Basic client_id:client_secret and a JSON body, then revoke.

        https://pipedrive.readme.io/docs/app-uninstallation ("Response code and body ... are not read").
        """
        app = self.state(sandbox).apps.get(payload.get("client_id", ""))
        if app is None:
            raise PlatformError("unknown client_id", 404)
        with sandbox.store.lock:
            install = account.extra.get("installs", {}).get(app["client_id"]) or {}
            uid = install.get("user_id") or admin_user(account)["id"]
        body = {"client_id": app["client_id"], "company_id": account.extra["company_id"], "user_id": uid,
                "timestamp": iso(time.time())}
        url = app.get("uninstall_url") or (app["redirect_uris"][0] if app["redirect_uris"] else None)
        status: int | str | None = None
        if url:
            try:
                with requests.Session() as session:
                    session.trust_env = False
                    resp = session.delete(url, json=body, timeout=10,
                                          headers={"Authorization": oauth.basic_auth(app["client_id"],
                                                                                     app["client_secret"])})
                status = resp.status_code
            except requests.RequestException as exc:
                status = f"error: {type(exc).__name__}"
        oauth.uninstall(sandbox, account, app["client_id"])
        return {"uninstalled": True, "callback_url": url, "callback_status": status, **body}
