"""Orgs: creation with users, who is acting for a token, and the daily API request allocation."""
from __future__ import annotations

import re
import time
from typing import Any

from sandbox.salesforce import ids, permissions
from sandbox.salesforce.schema import PACKAGE_INSTALLED, SOBJECTS, TIME_ZONES
from sandbox.salesforce.values import SFError, stamp
from sandbox.state import Account

NAME = "salesforce"
# Enterprise Edition base allocation; the real formula adds 1,000 per licence (fact sheet §2.4).
DEFAULT_DAILY_REQUESTS = 100_000
DAY = 24 * 3600

DEFAULT_USERS = [
    {"email": "avery.admin@example.com", "name": "Avery Admin", "timezone": "America/Los_Angeles"},
    {"email": "blake.rivera@example.com", "name": "Blake Rivera", "timezone": "America/New_York"},
    {"email": "casey.muller@example.com", "name": "Casey Müller", "timezone": "Europe/Berlin"},
    {"email": "drew.tanaka@example.com", "name": "Drew Tanaka", "timezone": "Asia/Tokyo"},
]


def _split_name(user: dict[str, Any]) -> tuple[str, str]:
    if user.get("first_name") or user.get("last_name"):
        return user.get("first_name") or "", user.get("last_name") or user.get("first_name") or "User"
    name = (user.get("name") or user["email"].split("@")[0].replace(".", " ").title()).strip()
    first, _, last = name.rpartition(" ")
    return first, last or first


def new_org(sandbox: Any, name: str, users: list[dict[str, Any]]) -> Account:
    """An org with its users, each with a profile: System Administrator for those with "admin": true (by
    default only the first user), Standard User for the others, or the user's own "profile"."""
    org_id = ids.make_id("Organization", sandbox.store.next_int())
    account = Account(id=org_id, platform=NAME, name=name, api_base=sandbox.public_url)
    account.extra.update({"org_id": org_id, "token_users": {}, "cursors": {}, "outbound": {},
                          "api_usage": {"window_start": time.time(), "count": 0}})
    now = stamp(account.extra)
    profiles = permissions.create_profiles(account, now, sandbox.store.next_int)
    table = account.table("User")
    for index, user in enumerate(users or DEFAULT_USERS):
        first, last = _split_name(user)
        user_id = ids.make_id("User", sandbox.store.next_int())
        profile_id = profiles[permissions.profile_for(user, bool(user.get("admin", index == 0)))]
        permissions.assign(account, user_id, permissions.profile_set(account, profile_id), now,
                           sandbox.store.next_int())
        table[user_id] = {
            "Id": user_id, "Username": user.get("username") or user["email"].lower(), "FirstName": first or None,
            "LastName": last, "Name": " ".join(p for p in (first, last) if p), "Email": user["email"],
            "Alias": (first[:1] + last[:4]).lower(), "Title": user.get("title"), "Department": None,
            "Phone": user.get("phone"), "IsActive": bool(user.get("active", True)),
            "TimeZoneSidKey": user.get("timezone") or TIME_ZONES[index % len(TIME_ZONES)],
            "LocaleSidKey": "en_US", "LanguageLocaleKey": "en_US", "ManagerId": None, "ProfileId": profile_id,
            "UserType": "Standard", "CreatedDate": now, "CreatedById": None, "LastModifiedDate": now,
            "LastModifiedById": None, "SystemModstamp": now,
        }
    admin_profile = profiles[permissions.ADMIN_PROFILE]
    first_id = next((u["Id"] for u in table.values() if u["ProfileId"] == admin_profile), next(iter(table)))
    for record in table.values():
        record["CreatedById"] = record["LastModifiedById"] = first_id
        if record["Id"] != first_id:
            record["ManagerId"] = first_id
    for record in (*account.table("Profile").values(), *account.table("PermissionSet").values()):
        record["CreatedById"] = record["LastModifiedById"] = first_id
    account.extra["admin_user_id"] = first_id  # the admin who installs apps unless login_hint names another
    return sandbox.store.add_account(account)


def install_package(account: Account, version: str) -> dict[str, Any]:
    """The admin installs (or stays on) this version of LeadRelay's managed package; a later version's fields are
    absent from describe, and naming one answers INVALID_FIELD. Caller holds the lock."""
    if not re.fullmatch(r"\d+(\.\d+)*", version or ""):
        raise SFError("INVALID_INPUT", f"not a package version: {version!r}", 400)
    account.extra[PACKAGE_INSTALLED] = version
    return {"package_version": version}


def uninstall_package(account: Account) -> dict[str, Any]:
    """The admin uninstalls LeadRelay's managed package: its fields leave every object, with their values
    ("Uninstalling a package deletes all package data", https://help.salesforce.com/s/articleView?id=000386776).
    Caller holds the lock."""
    account.extra[PACKAGE_INSTALLED] = False
    for obj in SOBJECTS.values():
        gone = [name for name, spec in obj.fields.items() if spec.package]
        for record in account.table(obj.name).values() if gone else ():
            for name in gone:
                record.pop(name, None)
    return {"package_installed": False}


def actor_for(account: Account, token: str | None) -> str:
    """The user a token acts as: the authorizing user for OAuth tokens, else the org admin."""
    return account.extra.get("token_users", {}).get(token or "") or account.extra["admin_user_id"]


def ui_user(account: Account, requested: str | None = None) -> str:
    """The user behind a simulated UI change: the requested one, else an active non-integration user."""
    users = account.table("User")
    if requested and requested in users:
        return requested
    integration = set(account.extra.get("token_users", {}).values()) | {account.extra["admin_user_id"]}
    for user_id, user in users.items():
        if user_id not in integration and user.get("IsActive"):
            return user_id
    return account.extra["admin_user_id"]


def daily_limit(sandbox: Any) -> int:
    return int(sandbox.config.limit(NAME, "daily_api_requests", DEFAULT_DAILY_REQUESTS))


def consume_request(sandbox: Any, account: Account) -> bool:
    """Count one API request against the 24 h allocation; False when it is already used up."""
    usage = account.extra.setdefault("api_usage", {"window_start": time.time(), "count": 0})
    if time.time() - usage["window_start"] >= DAY:
        usage.update(window_start=time.time(), count=0)
    if usage["count"] >= daily_limit(sandbox):
        return False
    usage["count"] += 1
    return True


def usage_header(sandbox: Any, account: Account) -> str:
    """Sforce-Limit-Info value, e.g. api-usage=18/100000.

    https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/headers_api_usage.htm
    """
    used = account.extra.get("api_usage", {}).get("count", 0)
    return f"api-usage={used}/{daily_limit(sandbox)}"

