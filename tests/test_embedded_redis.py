"""With REDIS_URL unset, LeadRelay runs a private real Redis under var/ and stops it on exit."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from redis import Redis
from rq import Queue

from integration.config import get_settings
from integration.embedded_redis import EmbeddedRedis, ensure_redis_url, stop_owned


def _own_var(monkeypatch) -> Path:
    var = Path(tempfile.mkdtemp(prefix="lr-var-"))  # short: a unix socket path is limited to ~108 bytes
    monkeypatch.setenv("LEADRELAY_VAR_DIR", str(var))
    monkeypatch.setenv("LEADRELAY_SECRET_KEY", "test-secret-key-not-for-production")
    return var


def test_starts_a_private_server_under_var_and_makes_it_the_settings_redis(monkeypatch):
    monkeypatch.delenv("REDIS_URL", raising=False)
    var = _own_var(monkeypatch)
    url = ensure_redis_url(get_settings())
    try:
        assert url == f"unix://{var / 'redis' / 'redis.sock'}"
        assert get_settings().redis_url == url  # what the queues, the jobs and the web app's requests use
        assert "REDIS_URL" not in os.environ  # nothing written into the environment
        assert Redis.from_url(url).ping()
        assert EmbeddedRedis(var / "redis").ensure().process is None  # found running: reused, not started twice
    finally:
        stop_owned()
    assert not EmbeddedRedis(var / "redis").alive()
    assert get_settings().redis_url is None  # stopped: the settings no longer name it


def test_a_stale_socket_from_a_dead_server_is_replaced():
    directory = Path(tempfile.mkdtemp(prefix="lr-var-"))
    (directory / "redis.sock").touch()
    server = EmbeddedRedis(directory, persistent=False).ensure()
    try:
        assert server.process is not None and server.alive()
    finally:
        server.stop()


def test_redis_url_wins_when_set(monkeypatch):
    _own_var(monkeypatch)
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6390/0")
    assert ensure_redis_url(get_settings()) == "redis://127.0.0.1:6390/0"
    assert not (Path(os.environ["LEADRELAY_VAR_DIR"]) / "redis").exists()  # no server started


def test_the_web_app_and_what_its_requests_enqueue_use_the_embedded_server(monkeypatch, tmp_path):
    from app import create_app
    from tests.workers import BurstWorker

    monkeypatch.delenv("REDIS_URL", raising=False)
    var = _own_var(monkeypatch)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'leadrelay.db'}")
    try:
        client = create_app({"TESTING": True}).test_client()
        assert "REDIS_URL" not in os.environ  # the app wrote nothing into the environment
        token = client.post("/api/v1/diagnostics/probes").json["token"]  # enqueued by integration code
        embedded = Redis.from_url(f"unix://{var / 'redis' / 'redis.sock'}")
        assert Queue("maintenance", connection=embedded).count == 1
        BurstWorker(["maintenance"], connection=embedded).work(burst=True)
        assert client.get(f"/api/v1/diagnostics/probes/{token}").json["done"] is True
    finally:
        stop_owned()
