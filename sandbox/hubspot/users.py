"""User provisioning API: GET /settings/v3/users/{userId} (by user id, or by email with idProperty=EMAIL).

Shape: hubspot-api-client's PublicUser (hubspot/settings/users/models/public_user.py) and
https://developers.hubspot.com/docs/api-reference/settings-user-provisioning-v3/users/get-settings-v3-users-userId
(id, email, firstName, lastName, roleIds, roleId, primaryTeamId, secondaryTeamIds, superAdmin,
sendWelcomeEmail). Needs one of the user scopes; without it HubSpot answers 403 MISSING_SCOPES
(body as in https://github.com/HubSpot/hubspot-api-nodejs/issues/268). Tokens made by the control API
have no app and pass, like a private app's token with every scope.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import Blueprint, g, jsonify, request

from sandbox.hubspot.errors import HubSpotError
from sandbox.hubspot.owners import all_owners

if TYPE_CHECKING:
    from sandbox.context import Sandbox
    from sandbox.state import Account

# the reference lists one of these (settings.users.write also implies reading, as for the POST)
READ_SCOPES = ("settings.users.read", "settings.users.write", "crm.objects.users.read", "crm.objects.users.write")
SCOPES_LINK = "https://developers.hubspot.com/scopes"


def missing_scopes(required: tuple[str, ...]) -> HubSpotError:
    """403 MISSING_SCOPES, naming the scopes that would do."""
    return HubSpotError(403, "This app hasn't been granted all required scopes to make this call. Read more about "
                        f"required scopes here: {SCOPES_LINK}.", "MISSING_SCOPES",
                        errors=[{"message": "One or more of the following scopes are required.",
                                 "context": {"requiredScopes": list(required)}}],
                        extra={"links": {"scopes": SCOPES_LINK}})


def public_user(owner: dict[str, Any]) -> dict[str, Any]:
    """An account user as the user provisioning API returns it."""
    teams = owner.get("teams") or []
    primary = next((t for t in teams if t.get("primary")), None)
    out: dict[str, Any] = {
        "id": str(owner["userId"]), "email": owner["email"], "firstName": owner.get("firstName", ""),
        "lastName": owner.get("lastName", ""), "roleIds": [str(r) for r in owner.get("roleIds", [])],
        "secondaryTeamIds": [str(t["id"]) for t in teams if t is not primary],
        "superAdmin": bool(owner.get("superAdmin")), "sendWelcomeEmail": False,
    }
    if primary is not None:
        out["primaryTeamId"] = str(primary["id"])
    if owner.get("roleIds"):
        out["roleId"] = str(owner["roleIds"][0])
    return out


def find_user(account: Account, key: str, by_email: bool) -> dict[str, Any] | None:
    """The owner record of a user (deactivated ones included), or None."""
    for owner in all_owners(account):
        value = owner["email"].lower() if by_email else str(owner["userId"])
        if value == (key.lower() if by_email else key):
            return owner
    return None


def users_routes(bp: Blueprint, sandbox: Sandbox) -> None:
    @bp.get("/settings/v3/users/<user_id>")
    def get_user(user_id: str):
        token = g.hs_token
        if token.client_id and not set(READ_SCOPES) & set(token.scopes):
            raise missing_scopes(READ_SCOPES)
        by_email = request.args.get("idProperty", "USER_ID").upper() == "EMAIL"
        with sandbox.store.lock:
            owner = find_user(g.hs_account, user_id, by_email)
            if owner is None:
                raise HubSpotError(404, f"User {user_id} not found", "OBJECT_NOT_FOUND",
                                   context={"id": [user_id]})
            return jsonify(public_user(owner))
