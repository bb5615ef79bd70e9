"""Identity URL (GET /id/<orgId>/<userId>) and OpenID userinfo (GET /services/oauth2/userinfo).

https://developer.salesforce.com/docs/atlas.en-us.mobile_sdk.meta/mobile_sdk/oauth_using_identity_urls.htm
The token may come as a Bearer header or ?oauth_token=; API URLs contain the literal {version} unless the
`version` parameter is given. A bad token answers 403 "Bad_OAuth_Token" (plain text), as Salesforce's
identity service does.
"""
from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request

from sandbox.salesforce import org

_OFFSETS = {"America/Los_Angeles": -28800000, "America/Denver": -25200000, "America/Chicago": -21600000,
            "America/New_York": -18000000, "Europe/London": 0, "GMT": 0, "Europe/Berlin": 3600000,
            "Asia/Kolkata": 19800000, "Asia/Tokyo": 32400000, "Australia/Sydney": 36000000}


def _forbidden(text: str) -> Response:
    return Response(text, status=403, content_type="text/plain")


def _caller(sandbox: Any) -> tuple[Any, str] | None:
    token = sandbox.bearer_token() or request.values.get("oauth_token") or request.values.get("access_token")
    account = sandbox.authenticate(org.NAME, token)
    if account is None:
        return None
    with sandbox.store.lock:
        return account, org.actor_for(account, token)


def _urls(base: str, org_id: str, user_id: str, version: str) -> dict[str, str]:
    org15 = org_id[:15]
    return {
        "enterprise": f"{base}/services/Soap/c/{version}/{org15}",
        "metadata": f"{base}/services/Soap/m/{version}/{org15}",
        "partner": f"{base}/services/Soap/u/{version}/{org15}",
        "rest": f"{base}/services/data/v{version}/",
        "sobjects": f"{base}/services/data/v{version}/sobjects/",
        "search": f"{base}/services/data/v{version}/search/",
        "query": f"{base}/services/data/v{version}/query/",
        "recent": f"{base}/services/data/v{version}/recent/",
        "profile": f"{base}/{user_id}",
        "custom_domain": base,
    }


def identity(sandbox: Any, account: Any, user_id: str) -> dict[str, Any]:
    """The identity service's JSON for one user."""
    user = account.table("User")[user_id]
    base = account.api_base or sandbox.public_url
    version = request.values.get("version", "{version}")
    if version == "latest":
        version = "59.0"
    return {
        "id": f"{sandbox.public_url}/id/{account.id}/{user_id}", "asserted_user": True,
        "user_id": user_id, "organization_id": account.id, "username": user["Username"],
        "nick_name": user["Username"].split("@")[0], "display_name": user["Name"], "email": user["Email"],
        "email_verified": True, "first_name": user.get("FirstName"), "last_name": user["LastName"],
        "timezone": user["TimeZoneSidKey"], "photos": {"picture": f"{base}/profilephoto/005/F",
                                                        "thumbnail": f"{base}/profilephoto/005/T"},
        "addr_street": None, "addr_city": None, "addr_state": None, "addr_country": None, "addr_zip": None,
        "mobile_phone": None, "mobile_phone_verified": False, "is_lightning_login_user": False,
        "status": {"created_date": None, "body": None}, "urls": _urls(base, account.id, user_id, version),
        "active": bool(user["IsActive"]), "user_type": "STANDARD", "language": "en_US", "locale": "en_US",
        "utcOffset": _OFFSETS.get(user["TimeZoneSidKey"], 0), "last_modified_date": user["LastModifiedDate"],
        "is_app_installed": True,
    }


def userinfo(sandbox: Any, account: Any, user_id: str) -> dict[str, Any]:
    """OpenID Connect claims for the token's user."""
    info = identity(sandbox, account, user_id)
    return {
        "sub": info["id"], "user_id": user_id, "organization_id": account.id,
        "preferred_username": info["username"], "nickname": info["nick_name"], "name": info["display_name"],
        "email": info["email"], "email_verified": True, "given_name": info["first_name"],
        "family_name": info["last_name"], "zoneinfo": info["timezone"], "photos": info["photos"],
        "profile": info["urls"]["profile"], "picture": info["photos"]["picture"], "address": {},
        "is_salesforce_integration_user": False, "urls": info["urls"], "active": info["active"],
        "user_type": info["user_type"], "language": info["language"], "locale": info["locale"],
        "utcOffset": info["utcOffset"], "updated_at": info["last_modified_date"],
    }


def identity_routes(bp: Blueprint, sandbox: Any) -> None:
    @bp.route("/id/<org_id>/<user_id>", methods=["GET", "POST"])
    def identity_url(org_id: str, user_id: str):
        caller = _caller(sandbox)
        if caller is None:
            return _forbidden("Bad_OAuth_Token")
        account, _ = caller
        with sandbox.store.lock:
            if org_id != account.id or user_id not in account.table("User"):
                return _forbidden("Bad_Id")
            return jsonify(identity(sandbox, account, user_id))

    @bp.route("/services/oauth2/userinfo", methods=["GET", "POST"])
    def openid_userinfo():
        caller = _caller(sandbox)
        if caller is None:
            return _forbidden("Bad_OAuth_Token")
        with sandbox.store.lock:
            return jsonify(userinfo(sandbox, *caller))
