"""Console test helpers: members of a tenant, and a signed-in test client."""
from __future__ import annotations

from integration.models import ConsoleUser, Membership


def add_members(session, tenant_id: int, roles: dict[str, str]) -> dict[str, int]:
    """Console users (hubspot identities named after their key) with the given roles on the tenant."""
    ids = {}
    for name, role in roles.items():
        user = ConsoleUser(platform="hubspot", external_account_id="test", external_user_id=name,
                           email=f"{name}@example.com", name=name)
        session.add(user)
        session.flush()
        session.add(Membership(tenant_id=tenant_id, user_id=user.id, role=role))
        ids[name] = user.id
    return ids


def sign_in(app, user_id: int, name: str = ""):
    """A test client whose session is signed in as the user (as after "Sign in with HubSpot").

    `name` is unused, kept for the callers that pass it. The server-side session row is made as login_user makes
    it, so logout and revocation apply to these clients too.
    """
    from integration.db import session_scope
    from marketplace.access import login_user

    client = app.test_client()
    with app.test_request_context("/"), session_scope(app.config["LEADRELAY_SETTINGS"].database_url) as db:
        from flask import session

        login_user(db, db.get(ConsoleUser, user_id))
        values = dict(session)
    with client.session_transaction() as sess:
        sess.update(values)
    return client


def simulate(client, redis_url: str, tenant_id: int, version: int, limit: int = 50) -> dict:
    """The admin simulates a rule-set version in the console; the job runs here (BurstWorker). Returns the result."""
    from redis import Redis

    from integration.admin.simulate import read_progress
    from tests.workers import BurstWorker

    resp = client.post(f"/console/tenants/{tenant_id}/simulate", data={"version": str(version), "limit": str(limit)})
    assert resp.status_code == 303, resp.get_data(as_text=True)
    BurstWorker(["maintenance"], connection=Redis.from_url(redis_url)).work(burst=True)
    progress = read_progress(tenant_id, version)
    assert progress and progress["state"] == "done", progress
    return progress["result"]


def go_live(client, redis_url: str, tenant_id: int, version: int, data: dict | None = None):
    """What publishing takes in the console: simulate the version, then confirm on the confirmation page."""
    simulate(client, redis_url, tenant_id, version)
    page = client.get(f"/console/tenants/{tenant_id}/rules/{version}/publish")
    assert page.status_code == 200 and "data-confirm-publish" in page.get_data(as_text=True)
    return client.post(f"/console/tenants/{tenant_id}/rules/{version}/publish", data={"confirm": "yes", **(data or {})})
