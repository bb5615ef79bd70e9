"""Salesforce profiles, permission sets and assignments: who is an admin, as SOQL sees it, per OAuth user."""
from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import pytest
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceMalformedRequest

REDIRECT = "https://app.example.com/oauth/salesforce/callback"
USERS = [{"email": "ann@acme.example", "name": "Ann Admin"}, {"email": "ben@acme.example", "name": "Ben Rep"},
         {"email": "cy@acme.example", "name": "Cy Temp", "profile": "Minimum Access - Salesforce"}]
ADMIN_COUNT = ("SELECT COUNT() FROM PermissionSetAssignment WHERE AssigneeId = '{user}' AND "
               "(PermissionSet.PermissionsModifyAllData = true OR "
               "PermissionSet.PermissionsCustomizeApplication = true)")


@pytest.fixture()
def org(sandbox, http) -> dict:
    client_id = f"3MVG9perm{len(sandbox.sandbox.store.accounts)}"
    app = {"platform": "salesforce", "client_id": client_id, "client_secret": "cs", "redirect_uris": [REDIRECT]}
    http.post(f"{sandbox.url}/_sandbox/apps", json=app).raise_for_status()
    account = http.post(f"{sandbox.url}/_sandbox/accounts", json={"platform": "salesforce", "name": "Perm org",
                                                                  "users": USERS}).json()
    return {**account, "client_id": client_id}


def _as_user(sandbox, http, org, email: str) -> tuple[Salesforce, str]:
    """A REST client acting as the user login_hint names, and that user's id."""
    resp = http.get(f"{sandbox.tls_url}/services/oauth2/authorize", allow_redirects=False, params={
        "response_type": "code", "client_id": org["client_id"], "redirect_uri": REDIRECT, "login_hint": email,
        "account": org["account_id"]})
    assert resp.status_code == 302, resp.text
    code = parse_qs(urlparse(resp.headers["Location"]).query)["code"][0]
    token = http.post(f"{sandbox.tls_url}/services/oauth2/token", auth=(org["client_id"], "cs"), data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT}).json()
    sf = Salesforce(instance_url=token["instance_url"], session_id=token["access_token"], session=http,
                    version="59.0")
    return sf, token["id"].rsplit("/", 1)[1]


def test_users_have_profiles_and_profile_owned_permission_sets(sandbox, http, org):
    sf, _ = _as_user(sandbox, http, org, "ann@acme.example")
    users = sf.query("SELECT Email, Profile.Name, Profile.PermissionsModifyAllData FROM User ORDER BY Email")
    assert [(u["Email"], u["Profile"]["Name"], u["Profile"]["PermissionsModifyAllData"]) for u in users["records"]] \
        == [("ann@acme.example", "System Administrator", True), ("ben@acme.example", "Standard User", False),
            ("cy@acme.example", "Minimum Access - Salesforce", False)]
    owned = sf.query("SELECT Name, ProfileId, Profile.Name FROM PermissionSet WHERE IsOwnedByProfile = true")
    assert {r["Profile"]["Name"] for r in owned["records"]} >= {"System Administrator", "Standard User"}
    assert all(r["Name"] == "X" + r["ProfileId"] for r in owned["records"])
    rows = sf.query("SELECT Assignee.Email, PermissionSet.IsOwnedByProfile, PermissionSet.PermissionsModifyAllData "
                    "FROM PermissionSetAssignment ORDER BY AssigneeId")["records"]
    # sorted here: the sandbox orders ids case-insensitively, so AssigneeId order follows creation order only until
    # the shared server's id counter crosses a letter-case boundary (which other tests' records decide)
    assert sorted((r["Assignee"]["Email"], r["PermissionSet"]["PermissionsModifyAllData"]) for r in rows) \
        == [("ann@acme.example", True), ("ben@acme.example", False), ("cy@acme.example", False)]


def test_the_admin_count_query_separates_admins_from_the_others(sandbox, http, org):
    admin, admin_id = _as_user(sandbox, http, org, "ann@acme.example")
    rep, rep_id = _as_user(sandbox, http, org, "ben@acme.example")
    assert admin.query(ADMIN_COUNT.format(user=admin_id)) == {"totalSize": 1, "done": True, "records": []}
    assert rep.query(ADMIN_COUNT.format(user=rep_id))["totalSize"] == 0
    assert rep.query(ADMIN_COUNT.format(user=admin_id[:15]))["totalSize"] == 1  # 15-char ids match too


def test_users_without_view_setup_may_not_read_permission_set_assignments(sandbox, http, org):
    temp, temp_id = _as_user(sandbox, http, org, "cy@acme.example")
    with pytest.raises(SalesforceMalformedRequest) as exc:
        temp.query(ADMIN_COUNT.format(user=temp_id))
    assert exc.value.content[0]["errorCode"] == "INVALID_TYPE"
    assert temp.query("SELECT Id FROM User")["totalSize"] == 3  # other objects still answer


def test_admin_flags_from_the_control_api_pick_the_default_approver(sandbox, http, org):
    users = [{"email": "ann@acme.example", "admin": False}, {"email": "ben@acme.example", "admin": True}]
    account = http.post(f"{sandbox.url}/_sandbox/accounts", json={"platform": "salesforce", "name": "Flags org",
                                                                  "users": users}).json()
    resp = http.get(f"{sandbox.tls_url}/services/oauth2/authorize", allow_redirects=False, params={
        "response_type": "code", "client_id": org["client_id"], "redirect_uri": REDIRECT,
        "account": account["account_id"]})
    code = parse_qs(urlparse(resp.headers["Location"]).query)["code"][0]
    token = http.post(f"{sandbox.tls_url}/services/oauth2/token", auth=(org["client_id"], "cs"), data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT}).json()
    identity = http.get(token["id"], headers={"Authorization": f"Bearer {token['access_token']}"}).json()
    assert identity["email"] == "ben@acme.example"


def test_unknown_login_hint_and_unknown_profile_are_refused(sandbox, http, org):
    resp = http.get(f"{sandbox.tls_url}/services/oauth2/authorize", allow_redirects=False, params={
        "response_type": "code", "client_id": org["client_id"], "redirect_uri": REDIRECT,
        "login_hint": "mallory@evil.example", "account": org["account_id"]})
    assert resp.status_code == 400 and "invalid_request" in resp.text
    bad = http.post(f"{sandbox.url}/_sandbox/accounts", json={"platform": "salesforce", "name": "x", "users": [
        {"email": "x@acme.example", "profile": "Chief Everything Officer"}]})
    assert bad.status_code == 400 and "unknown Salesforce profile" in bad.json()["error"]
