"""Finding 2, the CRM's half: each provider's identify() says whether the approving user is an admin there.

HubSpot: superAdmin from the user provisioning API; Salesforce: Modify All Data or Customize Application through
the profile or a permission set; Pipedrive: /v1/users/me is_admin. The user is picked on the sandbox's authorize
page with login_hint, through each provider's real authorization URL and code exchange.
"""
from __future__ import annotations

import logging
from urllib.parse import parse_qs, urlsplit

import pytest

from oauth.base import as_flag
from oauth.hubspot import HubSpotOAuth
from oauth.registry import get_provider
from oauth.salesforce import SalesforceOAuth
from tests.conftest import PUBLIC_URL
from tests.crm_helpers import ACCOUNT_PARAM, browser, new_account

PLATFORMS = ["hubspot", "pipedrive", "salesforce"]
USERS = [{"email": "ada.admin@acme.test", "name": "Ada Admin", "admin": True},
         {"email": "rick.rep@acme.test", "name": "Rick Rep", "admin": False}]


def _identify(crm_sandbox, platform: str, account_id: str, email: str):
    """Authorize as `email`, exchange the code and identify, as the install callback does."""
    provider = get_provider(platform)
    redirect_uri = f"{PUBLIC_URL}/oauth/{platform}/callback"
    url, verifier = provider.authorization_url(redirect_uri, "state-1")
    url += f"&{ACCOUNT_PARAM[platform]}={account_id}&login_hint={email}"
    approved = browser(crm_sandbox).get(url, allow_redirects=False, timeout=10)
    assert approved.status_code == 302, approved.text
    code = parse_qs(urlsplit(approved.headers["Location"]).query)["code"][0]
    return provider.identify(provider.exchange_code(code, redirect_uri, verifier))


@pytest.mark.parametrize("platform", PLATFORMS)
def test_identify_says_admin_for_an_admin_and_not_for_a_plain_user(crm_env, crm_sandbox, platform):
    account = new_account(crm_sandbox, platform, name=f"Acme {platform}", users=USERS)["account_id"]
    admin = _identify(crm_sandbox, platform, account, "ada.admin@acme.test")
    rep = _identify(crm_sandbox, platform, account, "rick.rep@acme.test")
    assert (admin.user_email, admin.is_admin) == ("ada.admin@acme.test", True)
    assert (rep.user_email, rep.is_admin) == ("rick.rep@acme.test", False)
    assert admin.external_id == rep.external_id and admin.user_id != rep.user_id


def test_hubspot_without_the_users_scope_is_unknown_not_false(crm_env, crm_sandbox, monkeypatch, caplog):
    monkeypatch.setattr(HubSpotOAuth, "SCOPES", tuple(s for s in HubSpotOAuth.SCOPES if s != "settings.users.read"))
    account = new_account(crm_sandbox, "hubspot", users=USERS)["account_id"]
    with caplog.at_level(logging.WARNING, logger="leadrelay.oauth"):
        identity = _identify(crm_sandbox, "hubspot", account, "ada.admin@acme.test")
    assert identity.is_admin is None
    [record] = [r for r in caplog.records if r.getMessage() == "hubspot.identify.admin-unknown"]
    assert (record.status, record.category) == (403, "MISSING_SCOPES")


def test_salesforce_user_who_may_not_read_permissions_is_not_an_admin(crm_env, crm_sandbox, caplog):
    # Salesforce lets any user self-authorize a connected app: an unanswered question must not admit them
    users = [*USERS, {"email": "tess.temp@acme.test", "profile": "Minimum Access - Salesforce"}]
    account = new_account(crm_sandbox, "salesforce", users=users)["account_id"]
    with caplog.at_level(logging.WARNING, logger="leadrelay.oauth"):
        identity = _identify(crm_sandbox, "salesforce", account, "tess.temp@acme.test")
    assert identity.is_admin is False
    [record] = [r for r in caplog.records if r.getMessage() == "salesforce.identify.admin-unknown"]
    assert (record.status, record.category) == (400, "INVALID_TYPE")


@pytest.mark.parametrize("user_id", ["005' OR AssigneeId != '", "005000000000000AAAXYZ", "00Q000000000000", ""])
def test_salesforce_user_id_is_validated_before_it_reaches_soql(crm_env, user_id):
    # no HTTP call is made: a token that would be refused proves it
    assert SalesforceOAuth().is_admin("https://acme.my.salesforce.com", user_id, {"access_token": "x"}) is False


@pytest.mark.parametrize(("sent", "flag"), [(1, True), (0, False), (True, True), (False, False), ("1", True),
                                            ("true", True), ("false", False), (None, None), ("yes", None), (2, None)])
def test_pipedrive_is_admin_is_read_as_sent(sent, flag):
    assert as_flag(sent) is flag


def test_salesforce_asks_with_the_adapters_api_version():
    from adapters.salesforce.client import API_VERSION

    assert SalesforceOAuth.API_VERSION == API_VERSION
