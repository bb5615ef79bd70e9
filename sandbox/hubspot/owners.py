"""Owners (GET /crm/v3/owners/, /crm/v3/owners/{ownerId}) built from the account's users.

Deactivated users are "archived" owners: listed only with archived=true, userId null, id kept in
userIdIncludingInactive (https://developers.hubspot.com/docs/guides/api/crm/owners). The owners API
has no time-zone field; the user's time zone is kept for the control API only.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import Blueprint, g, jsonify, request

from sandbox.hubspot.errors import HubSpotError

if TYPE_CHECKING:
    from sandbox.context import Sandbox
    from sandbox.state import Account


def public_owner(owner: dict[str, Any]) -> dict[str, Any]:
    """An owner as the owners API returns it."""
    archived = not owner.get("active", True)
    out = {"id": owner["id"], "email": owner["email"], "type": "PERSON", "firstName": owner.get("firstName", ""),
           "lastName": owner.get("lastName", ""), "userId": None if archived else owner["userId"],
           "userIdIncludingInactive": owner["userId"], "createdAt": owner["createdAt"],
           "updatedAt": owner["updatedAt"], "archived": archived}
    if owner.get("teams"):
        out["teams"] = owner["teams"]
    return out


def all_owners(account: Account) -> list[dict[str, Any]]:
    return sorted(account.extra.get("owners", {}).values(), key=lambda o: int(o["id"]))


def owners_routes(bp: Blueprint, sandbox: Sandbox) -> None:
    @bp.get("/crm/v3/owners/", strict_slashes=False)
    def list_owners():
        archived = request.args.get("archived", "false").lower() == "true"
        email = (request.args.get("email") or "").lower()
        limit = min(int(request.args.get("limit", 100)), 500)
        after = int(request.args.get("after") or 0)
        with sandbox.store.lock:
            rows = [public_owner(o) for o in all_owners(g.hs_account)]
        rows = [o for o in rows if o["archived"] == archived and (not email or o["email"].lower() == email)]
        out: dict[str, Any] = {"results": rows[after:after + limit]}
        if after + limit < len(rows):
            out["paging"] = {"next": {"after": str(after + limit), "link": f"?after={after + limit}"}}
        return jsonify(out)

    @bp.get("/crm/v3/owners/<owner_id>")
    def get_owner(owner_id: str):
        by_user = request.args.get("idProperty") == "userId"
        archived = request.args.get("archived", "false").lower() == "true"
        with sandbox.store.lock:
            for owner in all_owners(g.hs_account):
                pub = public_owner(owner)
                key = str(owner["userId"]) if by_user else owner["id"]
                if key == owner_id and pub["archived"] == archived:
                    return jsonify(pub)
        raise HubSpotError(404, f"Owner {owner_id} not found", "OBJECT_NOT_FOUND", context={"id": [owner_id]})
