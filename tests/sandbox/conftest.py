"""A real sandbox server (HTTP + HTTPS on loopback) shared by the sandbox and contract tests."""
from __future__ import annotations

import pytest
import requests

from sandbox.config import SandboxConfig
from sandbox.server import SandboxServer


@pytest.fixture(scope="session")
def sandbox_server(tmp_path_factory):
    server = SandboxServer(port=0, tls_port=0, cert_dir=str(tmp_path_factory.mktemp("sandbox-tls")),
                           config=SandboxConfig(seed=1))
    server.start()
    yield server
    server.stop()


@pytest.fixture()
def sandbox(sandbox_server):
    """The running sandbox with a fresh default config for each test."""
    sandbox_server.sandbox.config.reset()
    return sandbox_server


@pytest.fixture()
def http(sandbox_server):
    """A requests session that trusts the sandbox CA (and ignores the machine's CA bundle variables)."""
    session = requests.Session()
    session.trust_env = False
    session.verify = sandbox_server.sandbox.ca_file
    return session


def control(server: SandboxServer) -> requests.Session:
    """A session for the control API on the plain-HTTP listener (the machine's proxy variables ignored)."""
    session = requests.Session()
    session.trust_env = False
    return session


def new_account(server: SandboxServer, platform: str, users: list[dict] | None = None, **extra) -> dict:
    """Create an account through the control API; returns its account_id, access_token, api_base."""
    resp = control(server).post(f"{server.url}/_sandbox/accounts",
                                json={"platform": platform, "name": f"test {platform}", "users": users or [],
                                      **extra}, timeout=10)
    resp.raise_for_status()
    return resp.json()
