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
