"""`leadrelay web`: the Flask app behind gunicorn."""
from __future__ import annotations

import logging
from pathlib import Path

from gunicorn.app.base import BaseApplication
from gunicorn.glogging import Logger

from integration.config import get_settings
from integration.db import migrate
from integration.logs import configure_logging, protect
from leadrelay.processes import share_redis

log = logging.getLogger("leadrelay.web")
# sun_path is 108 bytes on Linux (104 on the BSDs), its terminating NUL included
UNIX_SOCKET_PATH_MAX = 103


class RedactingLogger(Logger):
    """Gunicorn's own log through LeadRelay's redacting filter: at DEBUG it logs every request line, path
    included (a Salesforce webhook's path carries the tenant's secret)."""

    def setup(self, cfg) -> None:
        super().setup(cfg)
        for log in (self.error_log, self.access_log):
            for handler in log.handlers:
                protect(handler)


class _Gunicorn(BaseApplication):
    def __init__(self, options: dict) -> None:
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self):
        from app import create_app

        return create_app()


def control_socket(var_dir: Path, port: int) -> dict:
    """Gunicorn's control socket settings for the instance on `port`: its own socket under the var dir.

    Gunicorn (25.1+) opens one at `$XDG_RUNTIME_DIR/gunicorn.ctl` or `~/.gunicorn/gunicorn.ctl` by default, the same
    path for every instance on the host: each start unlinks the previous instance's socket and each stop removes the
    path, so `gunicornc` reaches the wrong instance or none. One socket per port is unique on the host even when two
    instances share a var dir."""
    path = var_dir / "run" / f"gunicorn-{port}.ctl"
    if len(str(path).encode()) > UNIX_SOCKET_PATH_MAX:
        log.warning("web.control-socket.disabled", extra={"path": str(path), "reason": "path too long for a socket"})
        return {"control_socket_disable": True}
    return {"control_socket": str(path)}


def serve(host: str, port: int, workers: int, threads: int) -> int:
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format)  # the master's own lines (migrations), redacted
    share_redis(settings)  # before forking, so every gunicorn worker shares one Redis
    migrate(settings.database_url)  # once, in the master: workers then find the schema at head
    print(f"LeadRelay web app listening on http://{host}:{port}  (health: http://{host}:{port}/healthz)",
          flush=True)
    _Gunicorn({"bind": f"{host}:{port}", "workers": workers, "threads": threads, "worker_class": "gthread",
               "logger_class": RedactingLogger,
               "accesslog": None, "errorlog": "-", "loglevel": settings.log_level.lower(),
               "timeout": 60, "graceful_timeout": 20, **control_socket(settings.var_dir, port)}).run()
    return 0
