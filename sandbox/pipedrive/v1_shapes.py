"""API v1 shapes: users (/v1/users, /v1/users/me) and persons as the out-of-support v1 endpoints return them."""
from __future__ import annotations

from typing import Any

from sandbox.pipedrive.core import company_domain, company_id, user, v1_time
from sandbox.state import Account


def v1_user(account: Account, u: dict[str, Any], me: bool = False) -> dict[str, Any]:
    """BaseUser (github.com/pipedrive/client-nodejs docs/BaseUser.md); /users/me adds the company fields."""
    out = {
        "id": u["id"], "name": u["name"], "default_currency": "USD", "locale": u.get("locale", "en_US"),
        "lang": 1, "email": u["email"], "phone": u.get("phone"), "activated": u["active_flag"],
        "last_login": u.get("last_login", "2025-01-01 09:00:00"), "created": u.get("created", "2024-01-01 09:00:00"),
        "modified": u.get("modified", "2024-01-01 09:00:00"), "has_created_company": bool(u.get("is_admin")),
        "access": [{"app": "sales", "admin": bool(u.get("is_admin")), "permission_set_id": "sales-default"}],
        "active_flag": u["active_flag"], "timezone_name": u["timezone_name"],
        "timezone_offset": u.get("timezone_offset", "+00:00"), "role_id": 1, "icon_url": None,
        "is_you": me, "is_deleted": False, "is_admin": 1 if u.get("is_admin") else 0,
    }
    if me:
        out.update(company_id=company_id(account), company_name=account.name,
                   company_domain=company_domain(account), company_country="US",
                   company_industry=None, language={"language_code": "en", "country_code": "US"})
    return out


def owner_ref(account: Account, owner_id: int | None) -> dict[str, Any] | None:
    u = user(account, owner_id) if owner_id else None
    if u is None:
        return None
    return {"id": u["id"], "name": u["name"], "email": u["email"], "has_pic": 0, "pic_hash": None,
            "active_flag": u["active_flag"], "value": u["id"]}


def v1_person(account: Account, row: dict[str, Any]) -> dict[str, Any]:
    """A v2-stored person rendered like GET /v1/persons/{id} (objects for owner_id/org_id, email/phone arrays)."""
    org = account.table("organizations").get(str(row.get("org_id"))) if row.get("org_id") else None
    org_ref = None
    if org:
        org_ref = {"name": org["name"], "people_count": None, "owner_id": org.get("owner_id"),
                   "address": (org.get("address") or {}).get("value"), "active_flag": not org.get("is_deleted"),
                   "cc_email": None, "value": org["id"]}
    blank = [{"value": "", "primary": True}]
    return {
        "id": row["id"], "company_id": company_id(account), "owner_id": owner_ref(account, row.get("owner_id")),
        "org_id": org_ref, "name": row["name"], "first_name": row.get("first_name"),
        "last_name": row.get("last_name"), "phone": row.get("phones") or blank, "email": row.get("emails") or blank,
        "add_time": v1_time(row["add_time"]), "update_time": v1_time(row["update_time"]),
        "active_flag": not row.get("is_deleted"), "visible_to": str(row.get("visible_to", 3)),
        "label_ids": row.get("label_ids", []), "owner_name": (user(account, row.get("owner_id")) or {}).get("name"),
        "org_name": org["name"] if org else None, **(row.get("custom_fields") or {}),
    }


def v1_person_input(data: dict[str, Any]) -> dict[str, Any]:
    """v1 person bodies use email/phone (string, strings or objects) and custom field hashes at top level."""
    out = {k: v for k, v in data.items() if k not in ("email", "phone")}
    if "email" in data:
        out["emails"] = data["email"]
    if "phone" in data:
        out["phones"] = data["phone"]
    custom = {k: out.pop(k) for k in list(out) if len(k) == 40 and all(c in "0123456789abcdef" for c in k)}
    if custom:
        out["custom_fields"] = custom
    return out
