"""Console test helpers: members of a tenant, and a signed-in test client."""
from __future__ import annotations

from integration.models import ConsoleUser, Membership


def add_members(session, tenant_id: int, roles: dict[str, str]) -> dict[str, int]:
    """Console users (hubspot identities named after their key) with the given roles on the tenant."""
    ids = {}
    for name, role in roles.items():
        user = ConsoleUser(platform="hubspot", external_user_id=name, email=f"{name}@example.com", name=name)
        session.add(user)
        session.flush()
        session.add(Membership(tenant_id=tenant_id, user_id=user.id, role=role))
        ids[name] = user.id
    return ids


def sign_in(app, user_id: int, name: str):
    """A test client whose session is signed in as the user (as after "Sign in with HubSpot")."""
    client = app.test_client()
    with client.session_transaction() as sess:
        sess["user_id"] = user_id
        sess["user_version"] = f"{user_id}:hubspot:{name}"
    return client
