"""Shared fixtures: a real Redis server for the session, a fresh database and Redis db per test."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
from redis import Redis

from integration.embedded_redis import EmbeddedRedis

ROOT = Path(__file__).resolve().parent.parent
TEST_REDIS_DB = 1


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    """A real redis-server for the whole run (never fakeredis: queue behaviour is under test)."""
    if os.environ.get("TEST_REDIS_URL"):
        yield os.environ["TEST_REDIS_URL"].rstrip("/")
        return
    # unix socket paths are limited to ~108 bytes: keep it short
    directory = Path(tempfile.mkdtemp(prefix="lr-redis-"))
    server = EmbeddedRedis(directory, persistent=False).ensure()
    yield server.url
    server.stop()
    shutil.rmtree(directory, ignore_errors=True)


def _with_db(url: str, db: int) -> str:
    return f"{url}?db={db}" if url.startswith("unix://") else f"{url}/{db}"


@pytest.fixture()
def redis_url(redis_server) -> str:
    url = _with_db(redis_server, TEST_REDIS_DB)
    Redis.from_url(url).flushdb()
    return url


@pytest.fixture()
def env(tmp_path, redis_url, monkeypatch) -> dict[str, str]:
    """A clean environment for one test: its own var dir, SQLite database and flushed Redis db."""
    values = {
        "LEADRELAY_VAR_DIR": str(tmp_path / "var"),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'leadrelay.db'}",
        "REDIS_URL": redis_url,
        "LEADRELAY_SECRET_KEY": "test-secret-key-not-for-production",
        "LEADRELAY_LOG_FORMAT": "text",
        "LEADRELAY_LOG_LEVEL": "WARNING",
        "LEADRELAY_JOB_BACKOFF_SECONDS": "1",
    }
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    return values


@pytest.fixture()
def app(env):
    from app import create_app

    return create_app({"TESTING": True})


@pytest.fixture()
def client(app):
    return app.test_client()


@pytest.fixture()
def wire_adapters():
    """`wire_adapters(factory)` makes `factory` the one adapter_for builds with for this test (e.g. `lambda
    tenant_id: fake`); the factory it replaced, build_adapter as create_app wired it, is back after the test."""
    from integration.crm.wiring import set_adapter_factory

    replaced = []

    def use(factory):
        previous = set_adapter_factory(factory)
        if not replaced:  # a test may swap twice: the first one replaced is what comes back
            replaced.append(previous)

    yield use
    if replaced:
        set_adapter_factory(replaced[0])


# PostgreSQL ---------------------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_postgres_user(cmd: list[str]) -> list[str]:
    # initdb refuses to run as root; Debian's postgres user owns the cluster instead
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


@pytest.fixture(scope="session")
def postgres_server():
    """A PostgreSQL server URL: TEST_POSTGRES_URL, or a throw-away cluster if initdb is installed.

    Skipped when neither is available, except under CI (CI=true), where a missing server fails.
    """
    if os.environ.get("TEST_POSTGRES_URL"):
        yield os.environ["TEST_POSTGRES_URL"]
        return
    initdb = shutil.which("initdb") or next(iter(sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))), None)
    if not initdb:
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL is required in CI: install postgresql or set TEST_POSTGRES_URL")
        pytest.skip("no PostgreSQL server available (install postgresql or set TEST_POSTGRES_URL)")
    bindir = Path(initdb).resolve().parent
    data = Path(tempfile.mkdtemp(prefix="lr-pg-"))
    if os.geteuid() == 0:
        shutil.chown(data, "postgres", "postgres")
    port = _free_port()
    subprocess.run(_as_postgres_user([str(bindir / "initdb"), "-D", str(data / "db"), "-U", "postgres", "-A", "trust",
                                      "--no-sync"]), check=True, capture_output=True)
    subprocess.run(_as_postgres_user([str(bindir / "pg_ctl"), "-D", str(data / "db"), "-l", str(data / "log"), "-w",
                                      "-o", f"-k {data} -p {port} -c listen_addresses=127.0.0.1 -c fsync=off",
                                      "start"]), check=True, capture_output=True)
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(_as_postgres_user([str(bindir / "pg_ctl"), "-D", str(data / "db"), "-m", "immediate",
                                          "stop"]), capture_output=True)
        shutil.rmtree(data, ignore_errors=True)


_db_counter = iter(range(1, 10_000))


@pytest.fixture()
def postgres_url(postgres_server):
    """A fresh, empty PostgreSQL database for one test."""
    import psycopg

    name = f"lr_test_{os.getpid()}_{next(_db_counter)}_{int(time.time())}"
    admin = postgres_server.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = postgres_server.rsplit("/", 1)[0]
    yield f"{base}/{name}"
    from integration.db import dispose_engines

    dispose_engines()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request, tmp_path):
    """Each storage test runs on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'storage.db'}"
    return request.getfixturevalue("postgres_url")


# The CRM sandbox, with LeadRelay's three apps registered ------------------------------------------

APPS = {p: {"client_id": f"lr-{p}-client", "client_secret": f"lr-{p}-secret-0123456789"}
        for p in ("hubspot", "salesforce", "pipedrive")}
PUBLIC_URL = "http://localhost"


@pytest.fixture(scope="session")
def crm_sandbox(tmp_path_factory):
    """A running sandbox (HTTP + HTTPS) where LeadRelay's apps for all three CRMs are registered."""
    import requests

    from sandbox.config import SandboxConfig
    from sandbox.server import SandboxServer

    server = SandboxServer(port=0, tls_port=0, cert_dir=str(tmp_path_factory.mktemp("crm-tls")),
                           config=SandboxConfig(seed=7)).start()
    http = requests.Session()
    http.trust_env = False
    for platform, creds in APPS.items():
        body = {"platform": platform, **creds, "redirect_uris": [f"{PUBLIC_URL}/oauth/{platform}/callback"],
                "uninstall_url": f"{PUBLIC_URL}/oauth/pipedrive/uninstall"}
        http.post(f"{server.url}/_sandbox/apps", json=body, timeout=10).raise_for_status()
    yield server
    server.stop()


@pytest.fixture()
def crm_env(env, crm_sandbox, monkeypatch) -> dict[str, str]:
    """`env` plus everything that points LeadRelay's providers and adapters at the sandbox."""
    from cryptography.fernet import Fernet

    crm_sandbox.sandbox.config.reset()
    values = {"LEADRELAY_SANDBOX_URL": crm_sandbox.tls_url, "LEADRELAY_SANDBOX_CA": crm_sandbox.sandbox.ca_file,
              "LEADRELAY_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
              "LEADRELAY_SMTP_URL": crm_sandbox.smtp_url}  # email with no tenant SMTP server: the sandbox's
    for platform, creds in APPS.items():
        values[f"{platform.upper()}_CLIENT_ID"] = creds["client_id"]
        values[f"{platform.upper()}_CLIENT_SECRET"] = creds["client_secret"]
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    return {**env, **values}


@pytest.fixture()
def live_app(app):
    """The app served on a real loopback port (for callbacks the sandbox makes to us)."""
    import threading

    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
