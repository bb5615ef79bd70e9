"""Per-sandbox HubSpot state that is not account data: the app registry and counters."""
from __future__ import annotations

import itertools
import threading
import weakref
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sandbox.context import Sandbox
    from sandbox.state import Account


@dataclass
class App:
    """A registered public app (legacy-app model: webhook settings live on the app)."""

    client_id: str
    client_secret: str
    app_id: int
    redirect_uris: list[str]
    target_url: str | None
    subscriptions: list[dict[str, Any]]
    scopes: list[str] = field(default_factory=list)


@dataclass
class HubState:
    apps: dict[str, App] = field(default_factory=dict)
    event_ids: Any = field(default_factory=lambda: itertools.count(1))
    subscription_ids: Any = field(default_factory=lambda: itertools.count(100001))
    lock: Any = field(default_factory=threading.Lock)
    # rate-limit windows: key -> list of request epoch seconds
    windows: dict[tuple, list[float]] = field(default_factory=dict)


_STATES: weakref.WeakKeyDictionary[Sandbox, HubState] = weakref.WeakKeyDictionary()
_STATES_LOCK = threading.Lock()


def hub(sandbox: Sandbox) -> HubState:
    """The HubSpot state belonging to this sandbox instance (the PLATFORM object is shared)."""
    with _STATES_LOCK:
        state = _STATES.get(sandbox)
        if state is None:
            state = _STATES[sandbox] = HubState()
        return state


def app_for_client(sandbox: Sandbox, client_id: str | None) -> App | None:
    """The registered app with this client id."""
    if not client_id:
        return None
    return hub(sandbox).apps.get(client_id)


def installed_apps(sandbox: Sandbox, account: Account) -> list[App]:
    """Apps installed in the account (a code was exchanged, or install_app at creation)."""
    with sandbox.store.lock:
        ids = list(account.extra.get("installed_apps", []))
    apps = hub(sandbox).apps
    return [apps[c] for c in ids if c in apps]


def install(sandbox: Sandbox, account: Account, client_id: str) -> None:
    """Mark the app as installed in the account."""
    with sandbox.store.lock:
        ids = account.extra.setdefault("installed_apps", [])
        if client_id not in ids:
            ids.append(client_id)


def uninstall(sandbox: Sandbox, account: Account, client_id: str) -> None:
    """Remove the app from the account and revoke every token it holds there."""
    with sandbox.store.lock:
        ids = account.extra.setdefault("installed_apps", [])
        if client_id in ids:
            ids.remove(client_id)
        for tok in sandbox.store.tokens.values():
            if tok.account_id == account.id and tok.client_id == client_id:
                tok.revoked = True


# clock ------------------------------------------------------------------------------------
def now_ms(sandbox: Sandbox, account: Account) -> int:
    """Strictly increasing epoch-ms per account, so "modified since" cursors never tie."""
    with sandbox.store.lock:
        now = int(datetime.now(UTC).timestamp() * 1000)
        last = account.extra.get("clock_ms", 0)
        value = max(now, last + 1)
        account.extra["clock_ms"] = value
        return value


def iso(ms: int) -> str:
    """HubSpot's timestamp format: 2019-10-30T03:30:17.883Z."""
    dt = datetime.fromtimestamp(ms / 1000, tz=UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def to_ms(value: Any) -> int | None:
    """Parse epoch-ms, ISO-8601 or a YYYY-MM-DD date into epoch-ms (None if not a time)."""
    if value is None or value == "":
        return None
    text = str(value).strip()
    if text.lstrip("-").isdigit():
        return int(text)
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp() * 1000)
