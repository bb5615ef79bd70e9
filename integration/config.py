"""Settings, read from environment variables only (each one documented in the README)."""
from __future__ import annotations

import functools
import math
import os
from dataclasses import dataclass, field
from pathlib import Path


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from exc


def time_scale() -> float:
    """LEADRELAY_TIME_SCALE alone: due times are computed often, and reading it needs none of the other settings
    (`Settings.from_env` also makes a dev secret under var/ when none is set)."""
    raw = os.environ.get("LEADRELAY_TIME_SCALE", "").strip()
    if not raw:
        return 1.0
    try:
        scale = float(raw)
    except ValueError:
        scale = math.nan
    if not math.isfinite(scale) or scale <= 0:
        raise ConfigError(f"LEADRELAY_TIME_SCALE must be a positive number (60: five minutes pass in five seconds), "
                          f"got {raw!r}")
    return scale


def _list(name: str, default: str) -> tuple[str, ...]:
    raw = os.environ.get(name, default)
    return tuple(part.strip() for part in raw.split(",") if part.strip())


class ConfigError(ValueError):
    """A setting is missing or malformed; the message says which and what to do."""


@dataclass(frozen=True)
class Settings:
    var_dir: Path
    database_url: str
    redis_url: str | None  # None: an embedded Redis server is started under var_dir
    secret_key: str = field(repr=False)
    log_level: str
    log_format: str  # "json" | "text"
    job_retries: int
    job_backoff_seconds: int
    worker_class: str  # "simple" (jobs run in the worker process) | "fork" (a work horse per job)
    queues: tuple[str, ...] = field(default=())
    trusted_proxies: int = 0  # reverse proxies in front of the web app whose X-Forwarded-* headers are believed
    operator_token: str | None = field(default=None, repr=False)  # bearer token of the diagnostics API
    # Rule-set durations (SLA first touch, escalation steps, cadence steps) are divided by this when a due time is
    # computed: 1 in production; `leadrelay demo` runs its workers at 60 so a 5-minute SLA plays out in 5 seconds.
    # Timestamps stay real: activities a rep logs in the CRM are compared with real times.
    time_scale: float = 1.0
    # where a browser reaches the CRM sandbox's OAuth pages: plain HTTP on loopback in the demo, so signing in
    # shows no certificate warning while the SDKs keep LEADRELAY_SANDBOX_URL's HTTPS (simple-salesforce needs it)
    sandbox_browser_url: str | None = None

    @classmethod
    def from_env(cls) -> Settings:
        var_dir = Path(os.environ.get("LEADRELAY_VAR_DIR", "var")).resolve()
        database_url = os.environ.get("DATABASE_URL", "").strip() or f"sqlite:///{var_dir / 'leadrelay.db'}"
        worker_class = os.environ.get("LEADRELAY_WORKER_CLASS", "simple").strip()
        if worker_class not in ("simple", "fork"):
            raise ConfigError(f"LEADRELAY_WORKER_CLASS must be 'simple' or 'fork', got {worker_class!r}")
        log_format = os.environ.get("LEADRELAY_LOG_FORMAT", "json").strip()
        if log_format not in ("json", "text"):
            raise ConfigError(f"LEADRELAY_LOG_FORMAT must be 'json' or 'text', got {log_format!r}")
        return cls(
            var_dir=var_dir,
            database_url=_normalize_database_url(database_url),
            redis_url=os.environ.get("REDIS_URL", "").strip() or None,
            secret_key=os.environ.get("LEADRELAY_SECRET_KEY", "").strip() or _dev_secret(var_dir),
            log_level=os.environ.get("LEADRELAY_LOG_LEVEL", "INFO").strip().upper(),
            log_format=log_format,
            job_retries=_int("LEADRELAY_JOB_RETRIES", 5),
            job_backoff_seconds=_int("LEADRELAY_JOB_BACKOFF_SECONDS", 10),
            worker_class=worker_class,
            queues=_list("LEADRELAY_QUEUES", ""),
            trusted_proxies=_trusted_proxies(),
            operator_token=os.environ.get("LEADRELAY_OPERATOR_TOKEN", "").strip() or None,
            time_scale=time_scale(),
            sandbox_browser_url=os.environ.get("LEADRELAY_SANDBOX_BROWSER_URL", "").strip().rstrip("/") or None,
        )


def _trusted_proxies() -> int:
    hops = _int("LEADRELAY_TRUSTED_PROXIES", 0)
    if hops < 0:
        raise ConfigError(f"LEADRELAY_TRUSTED_PROXIES must be 0 or more (proxies in front of the app), got {hops}")
    return hops


def _normalize_database_url(url: str) -> str:
    # Heroku-style "postgres://" and bare "postgresql://" mean the psycopg 3 driver we ship.
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


@functools.lru_cache(maxsize=32)
def _dev_secret(var_dir: Path) -> str:
    """A per-checkout random secret kept in var/, so a dev setup needs no configuration.

    Cached: settings are read on every enqueue and job, and the file never changes once written.
    """
    import secrets

    path = var_dir / "secret_key"
    if path.exists():
        return path.read_text().strip()
    var_dir.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(48)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process won the race; use its secret
        return path.read_text().strip()
    with os.fdopen(fd, "w") as fh:
        fh.write(value)
    return value


def get_settings() -> Settings:
    """Settings as the environment says now (cheap; callers may cache)."""
    return Settings.from_env()
