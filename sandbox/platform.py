"""The contract every emulated platform (hubspot/, salesforce/, pipedrive/) implements."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from flask import Blueprint

if TYPE_CHECKING:
    from sandbox.context import Sandbox
    from sandbox.state import Account


class PlatformError(Exception):
    """A control-API request the platform cannot honour (unknown object type, bad payload)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


class Platform(Protocol):
    """One emulated CRM.

    NAME is "hubspot", "salesforce" or "pipedrive". Every method must be thread-safe (take
    `sandbox.store.lock` around reads and writes of account state).
    """

    NAME: str

    def blueprints(self, sandbox: Sandbox) -> list[Blueprint]:
        """Flask blueprints serving the platform's native API and OAuth paths."""

    def create_account(self, sandbox: Sandbox, name: str, users: list[dict[str, Any]]) -> Account:
        """Create and register an account with the given users; must set `api_base`."""

    def seed_demo(self, sandbox: Sandbox, account: Account) -> None:
        """Fill the account with demo data: owners, companies with owners, contacts incl. duplicates."""

    def list_records(self, sandbox: Sandbox, account: Account, object_type: str) -> list[dict[str, Any]]:
        """Stored records of `object_type` as the platform's API would return them."""

    def simulate(self, sandbox: Sandbox, account: Account, payload: dict[str, Any]) -> dict[str, Any]:
        """Apply a change "as a user in the CRM UI" and fire the platform's webhooks.

        payload: {"action": "create"|"update"|"delete"|"merge", "object_type": ..., "id": ...,
        "properties": {...}} in the platform's own field names. Returns the resulting record.
        """

    def register_app(self, sandbox: Sandbox, app: dict[str, Any]) -> None:
        """Remember an OAuth app (client_id, client_secret, redirect_uris, webhook settings)."""
