"""Driving installs through the sandbox's OAuth servers, as an admin's browser would."""
from __future__ import annotations

from urllib.parse import quote, urlsplit

import requests

# How each sandbox authorize page is told which account the approving user is in (a sandbox extension).
ACCOUNT_PARAM = {"hubspot": "account", "salesforce": "account", "pipedrive": "company_id"}


def browser(server) -> requests.Session:
    http = requests.Session()
    http.trust_env = False
    http.verify = server.sandbox.ca_file
    return http


def new_account(server, platform: str, name: str = "Acme", **extra) -> dict:
    resp = browser(server).post(f"{server.url}/_sandbox/accounts",
                                json={"platform": platform, "name": name, "users": [], **extra}, timeout=10)
    resp.raise_for_status()
    return resp.json()


def expire_access_tokens(server, account_id: str) -> int:
    """The sandbox refuses every access token issued to the account so far, as once their lifetime is over."""
    resp = browser(server).post(f"{server.url}/_sandbox/accounts/{account_id}/tokens/expire", timeout=10)
    resp.raise_for_status()
    return resp.json()["expired"]


def authorize(client, server, platform: str, account_id: str, start: str | None = None,
              as_user: str | None = None) -> str:
    """Start at /install (or `start`), approve at the sandbox; returns our callback path with code and state.

    `as_user` is the email of the account's user who approves (the sandbox's `login_hint`); default its admin.
    """
    resp = client.get(start or f"/install/{platform}")
    assert resp.status_code == 302, resp.get_data(as_text=True)
    url = resp.headers["Location"]
    url += ("&" if "?" in url else "?") + f"{ACCOUNT_PARAM[platform]}={account_id}"
    if as_user:
        url += f"&login_hint={quote(as_user)}"
    approved = browser(server).get(url, allow_redirects=False, timeout=10)
    assert approved.status_code in (302, 303), approved.text
    parts = urlsplit(approved.headers["Location"])
    return f"{parts.path}?{parts.query}"


def install(client, server, platform: str, account_id: str, start: str | None = None, as_user: str | None = None):
    """The whole install; returns the response of our OAuth callback."""
    return client.get(authorize(client, server, platform, account_id, start, as_user))


def install_with_rules(server, client, database_url: str, platform: str, rules: dict, name: str,
                       users: list[dict]) -> tuple[int, dict]:
    """A sandbox account with these users, LeadRelay installed into it through OAuth, `rules` published.

    Returns (tenant id, sandbox account). Expects a fresh database (the tenant is the only one).
    """
    from sqlalchemy import select

    from integration.db import session_scope
    from integration.models import RuleSetVersion, Tenant

    account = new_account(server, platform, name=name, users=users)
    assert install(client, server, platform, account["account_id"]).status_code == 302
    with session_scope(database_url) as s:
        tenant_id = s.scalar(select(Tenant.id))
        s.add(RuleSetVersion(tenant_id=tenant_id, version=1, status="published", body=rules))
    return tenant_id, account
