"""Profiles, permission sets and their assignments: who in an org is an admin, as Salesforce records it.

Every profile owns a permission set (IsOwnedByProfile, ProfileId, a Name derived from the profile id such as
X00e…), and every user has a PermissionSetAssignment to their profile's one, so one query over
PermissionSetAssignment sees both profile and permission-set grants
(https://help.salesforce.com/s/articleView?id=000387815). Since Summer '20 only users with View Setup and
Configuration, Assign Permission Sets or Manage Users may read PermissionSet and PermissionSetAssignment; to
others the object "is not supported"
(https://developer.salesforce.com/docs/atlas.en-us.api.meta/api/sforce_api_objects_permissionsetassignment.htm).
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sandbox.platform import PlatformError
from sandbox.salesforce import ids
from sandbox.salesforce.schema import PERMISSION_FIELDS
from sandbox.salesforce.values import SFError
from sandbox.state import Account

ADMIN_PROFILE, STANDARD_PROFILE = "System Administrator", "Standard User"
MINIMUM_PROFILE = "Minimum Access - Salesforce"
# standard profiles and the permissions the sandbox tracks (UNCONFIRMED: Standard User's View Setup default)
PROFILES: dict[str, dict[str, bool]] = {
    ADMIN_PROFILE: dict.fromkeys(PERMISSION_FIELDS, True),
    STANDARD_PROFILE: {**dict.fromkeys(PERMISSION_FIELDS, False), "PermissionsViewSetup": True},
    MINIMUM_PROFILE: dict.fromkeys(PERMISSION_FIELDS, False),
}
RESTRICTED = ("PermissionSet", "PermissionSetAssignment")
SETUP_READERS = ("PermissionsViewSetup", "PermissionsAssignPermissionSets", "PermissionsManageUsers")


def profile_for(user: dict[str, Any], is_admin: bool) -> str:
    """The profile a control-API user gets: its "profile", else System Administrator or Standard User."""
    wanted = user.get("profile") or (ADMIN_PROFILE if is_admin else STANDARD_PROFILE)
    if wanted not in PROFILES:
        raise PlatformError(f"unknown Salesforce profile {wanted!r}; known: {', '.join(PROFILES)}")
    return wanted


def create_profiles(account: Account, stamp: str, next_serial: Callable[[], int]) -> dict[str, str]:
    """The standard profiles with their owned permission sets; returns {profile name: profile id}."""
    profiles, sets = account.table("Profile"), account.table("PermissionSet")
    found: dict[str, str] = {}
    for name, perms in PROFILES.items():
        profile_id = ids.make_id("Profile", next_serial())
        dates = {"CreatedDate": stamp, "CreatedById": None, "LastModifiedDate": stamp, "LastModifiedById": None,
                 "SystemModstamp": stamp}
        profiles[profile_id] = {"Id": profile_id, "Name": name, "UserType": "Standard", "Description": None,
                                **perms, **dates}
        set_id = ids.make_id("PermissionSet", next_serial())
        sets[set_id] = {"Id": set_id, "Name": f"X{profile_id}", "Label": f"X{profile_id}", "Description": None,
                        "IsOwnedByProfile": True, "IsCustom": False, "ProfileId": profile_id,
                        "NamespacePrefix": None, **perms, **dates}
        found[name] = profile_id
    return found


def assign(account: Account, user_id: str, permission_set_id: str, stamp: str, serial: int) -> dict[str, Any]:
    """A PermissionSetAssignment of a permission set to a user."""
    assignment_id = ids.make_id("PermissionSetAssignment", serial)
    row = {"Id": assignment_id, "AssigneeId": user_id, "PermissionSetId": permission_set_id,
           "PermissionSetGroupId": None, "IsActive": True, "ExpirationDate": None, "SystemModstamp": stamp}
    account.table("PermissionSetAssignment")[assignment_id] = row
    return row


def profile_set(account: Account, profile_id: str) -> str:
    """The id of the permission set a profile owns."""
    return next(s["Id"] for s in account.table("PermissionSet").values() if s.get("ProfileId") == profile_id)


def user_sets(account: Account, user_id: str) -> list[dict[str, Any]]:
    """Every permission set assigned to the user (their profile's included)."""
    sets = account.table("PermissionSet")
    return [sets[a["PermissionSetId"]] for a in account.table("PermissionSetAssignment").values()
            if a["AssigneeId"] == user_id and a.get("IsActive", True) and a["PermissionSetId"] in sets]


def has_permission(account: Account, user_id: str, *names: str) -> bool:
    """True when any of the user's permission sets grants any of `names`."""
    return any(s.get(name) for s in user_sets(account, user_id) for name in names)


def check_readable(account: Account, object_name: str, user_id: str) -> None:
    """INVALID_TYPE, as Salesforce answers, when the user may not read PermissionSet(Assignment)."""
    if object_name in RESTRICTED and not has_permission(account, user_id, *SETUP_READERS):
        raise SFError("INVALID_TYPE", f"sObject type '{object_name}' is not supported. If you are attempting to "
                      "use a custom object, be sure to append the '__c' after the entity name. Please reference "
                      "your WSDL or the describe call for the appropriate names.")
