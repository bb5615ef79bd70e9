"""With REDIS_URL unset, LeadRelay runs a private real Redis under var/ and stops it on exit."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from redis import Redis

from leadrelay.embedded_redis import EmbeddedRedis, ensure_redis_url, stop_owned


def test_starts_a_private_server_under_var_and_exports_its_url(monkeypatch):
    monkeypatch.delenv("REDIS_URL", raising=False)
    var = Path(tempfile.mkdtemp(prefix="lr-var-"))
    url = ensure_redis_url(var)
    try:
        assert url == f"unix://{var / 'redis' / 'redis.sock'}"
        assert os.environ["REDIS_URL"] == url  # children (workers, gunicorn) share it
        assert Redis.from_url(url).ping()
        assert EmbeddedRedis(var / "redis").ensure().process is None  # found running: reused, not started twice
    finally:
        stop_owned()
    assert not EmbeddedRedis(var / "redis").alive()


def test_a_stale_socket_from_a_dead_server_is_replaced():
    directory = Path(tempfile.mkdtemp(prefix="lr-var-"))
    (directory / "redis.sock").touch()
    server = EmbeddedRedis(directory, persistent=False).ensure()
    try:
        assert server.process is not None and server.alive()
    finally:
        server.stop()


def test_redis_url_wins_when_set(monkeypatch):
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6390/0")
    assert ensure_redis_url(Path("/nonexistent")) == "redis://127.0.0.1:6390/0"
