"""Adapter contract tests: the real adapter, the official SDK inside it, the sandbox on the other side."""
from __future__ import annotations

import pytest
import requests

from integration.protocols import TenantRef


class StaticTokens:
    """A TokenProvider over a sandbox control-API token; counts refresh requests."""

    def __init__(self, token: str, refreshed: str | None = None) -> None:
        self.token, self.refreshed, self.refresh_calls = token, refreshed, 0

    def access_token(self) -> str:
        return self.token

    def after_unauthorized(self, rejected: str) -> str:
        self.refresh_calls += 1
        if self.refreshed is None:
            from integration.errors import ReauthRequired

            raise ReauthRequired(0, "no refresh possible in this test")
        self.token = self.refreshed
        return self.token


class RecordingWrites:
    """A WriteLog that keeps what the adapter reported."""

    def __init__(self) -> None:
        self.writes: list[tuple[str, str, tuple[str, ...]]] = []

    def remember(self, object_type, object_id, fields) -> None:
        self.writes.append((object_type, str(object_id), tuple(fields)))


class RecordingBudget:
    """A RateBudget that never waits and records what was taken and observed."""

    def __init__(self) -> None:
        self.acquired: list[tuple[str, int]] = []
        self.observed: list[tuple] = []
        self.held: list[tuple[str, float]] = []
        self.penalized: list[tuple[str, float]] = []

    def acquire(self, bucket: str = "default", cost: int = 1) -> None:
        self.acquired.append((bucket, cost))

    def observe(self, bucket, remaining, limit=None, reset_after=None) -> None:
        self.observed.append((bucket, remaining, limit, reset_after))

    def exhausted(self, bucket: str, until: float) -> None:
        self.held.append((bucket, until))

    def penalize(self, bucket: str, retry_after: float) -> None:
        self.penalized.append((bucket, retry_after))


@pytest.fixture(scope="session")
def adapter_sandbox(tmp_path_factory, monkeypatch_session):
    """A sandbox for adapter tests; LEADRELAY_SANDBOX_CA set so adapters verify its HTTPS."""
    from sandbox.config import SandboxConfig
    from sandbox.server import SandboxServer

    server = SandboxServer(port=0, tls_port=0, cert_dir=str(tmp_path_factory.mktemp("adapter-tls")),
                           config=SandboxConfig(seed=3)).start()
    monkeypatch_session.setenv("LEADRELAY_SANDBOX_URL", server.tls_url)
    monkeypatch_session.setenv("LEADRELAY_SANDBOX_CA", server.sandbox.ca_file)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def monkeypatch_session():
    mp = pytest.MonkeyPatch()
    yield mp
    mp.undo()


def sandbox_account(server, platform: str, seed: str | None = "demo", **extra) -> dict:
    """A fresh sandbox account (demo-seeded by default): account_id, access_token, api_base."""
    http = requests.Session()
    http.trust_env = False
    body = {"platform": platform, "name": f"{platform} contract", "users": [], **extra}
    if seed:
        body["seed"] = seed
    resp = http.post(f"{server.url}/_sandbox/accounts", json=body, timeout=10)
    resp.raise_for_status()
    return resp.json()


def tenant_for(account: dict, platform: str, tenant_id: int = 1, **settings) -> TenantRef:
    return TenantRef(id=tenant_id, platform=platform, external_id=str(account["account_id"]),
                     api_base=account["api_base"], settings=settings)


@pytest.fixture()
def writes() -> RecordingWrites:
    return RecordingWrites()


@pytest.fixture()
def budget() -> RecordingBudget:
    return RecordingBudget()


def shared_budget(redis_url: str, adapter_cls, tenant_id: int = 1):
    """The tenant's rate budget in Redis, shared by every worker, as build_adapter makes it (but never waiting)."""
    from redis import Redis

    from integration.ratelimit import RedisRateBudget

    return RedisRateBudget(Redis.from_url(redis_url), tenant_id, adapter_cls.RATE_LIMITS, max_wait=0.0)


def believed_limits(redis_url: str, adapter_cls, tenant_id: int = 1) -> dict[str, int | None]:
    """The limit the tenant's shared budget believes for each bucket, from a 429 or headers (None: the declared)."""
    from redis import Redis

    from integration.ratelimit import read_budgets

    return {b.bucket: b.learned for b in read_budgets(Redis.from_url(redis_url), tenant_id, adapter_cls.RATE_LIMITS)}
