"""Settings, read from environment variables only (each one documented in the README).

This is the one module that reads the environment (tests/test_settings_source.py): everything else takes its values
from `get_settings()` or from a `Settings` it is handed. Nothing is read at import time.
"""
from __future__ import annotations

import functools
import math
import os
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

# A CRM's settings are `<PLATFORM>_<SUFFIX>` variables (HUBSPOT_CLIENT_ID, SALESFORCE_LOGIN_URL, …): the suffixes
# say what a setting is, never which platform, so a new CRM needs no change here.
_CRM_SUFFIXES = ("_CLIENT_ID", "_CLIENT_SECRET", "_ALLOWED_HOSTS", "_APP_ID", "_LOGIN_URL", "_PANEL_JWT_SECRET",
                 "_PANEL_USERNAME", "_PANEL_PASSWORD")
_UNPREFIXED = frozenset({"DATABASE_URL", "REDIS_URL"})  # every other variable of LeadRelay's own starts LEADRELAY_

# The API budget's work classes, highest first (integration.ratelimit serves them in this order), and the share of a
# bucket each leaves to the classes above it: lower classes stop earlier, new leads and SLA checks never wait for a
# share (LEADRELAY_BUDGET_THRESHOLDS, in percent).
WORK_CLASSES = ("new_lead", "sla", "followup", "sweep", "bulk")
DEFAULT_BUDGET_THRESHOLDS: Mapping[str, float] = {"new_lead": 0.0, "sla": 0.0, "followup": 0.2, "sweep": 0.3,
                                                  "bulk": 0.5}


class ConfigError(ValueError):
    """A setting is missing or malformed; the message says which and what to do."""


class _Variables:
    """Typed, checked reads of a snapshot of the environment."""

    def __init__(self, values: Mapping[str, str]) -> None:
        self.values = values

    def text(self, name: str, default: str = "") -> str:
        return self.values.get(name, "").strip() or default

    def whole(self, name: str, default: int, minimum: int | None = None, meaning: str = "") -> int:
        raw = self.text(name)
        if not raw:
            return default
        try:
            value = int(raw)
        except ValueError as exc:
            raise ConfigError(f"{name} must be a whole number, got {raw!r}") from exc
        if minimum is not None and value < minimum:
            raise ConfigError(f"{name} must be {minimum} or more ({meaning}), got {value}")
        return value

    def items(self, name: str) -> tuple[str, ...]:
        """A comma-separated list."""
        return tuple(part.strip() for part in self.values.get(name, "").split(",") if part.strip())

    def url(self, name: str) -> str | None:
        """An http(s) base URL without its trailing slash; None when unset."""
        raw = self.text(name).rstrip("/")
        if raw and (not raw.startswith(("http://", "https://")) or not raw.split("://", 1)[1]):
            raise ConfigError(f"{name} must be an http:// or https:// URL (such as https://leadrelay.example.com), "
                              f"got {raw!r}")
        return raw or None

    def time_scale(self) -> float:
        raw = self.text("LEADRELAY_TIME_SCALE")
        if not raw:
            return 1.0
        try:
            scale = float(raw)
        except ValueError:
            scale = math.nan
        if not math.isfinite(scale) or scale <= 0:
            raise ConfigError(f"LEADRELAY_TIME_SCALE must be a positive number (60: five minutes pass in five "
                              f"seconds), got {raw!r}")
        return scale


def time_scale() -> float:
    """LEADRELAY_TIME_SCALE alone: due times are computed often, and reading it needs none of the other settings
    (`Settings.from_env` also makes a dev secret under var/ when none is set)."""
    return _Variables(os.environ).time_scale()


@dataclass(frozen=True)
class CRMSettings:
    """One CRM app's settings, from its `<PLATFORM>_…` variables; what a platform does not use stays empty."""

    client_id: str = ""
    client_secret: str = field(default="", repr=False)  # also verifies the webhooks the app signs
    # host patterns an instance URL / api_domain handed back may use; empty: the platform's own domains (the OAuth
    # provider's ALLOWED_HOSTS)
    allowed_hosts: tuple[str, ...] = ()
    app_id: str = ""  # webhooks whose source is this app are our own writes
    login_url: str | None = None  # where OAuth goes instead of the platform's own login host (sandbox orgs)
    panel_jwt_secret: str = field(default="", repr=False)  # verifies the CRM panel's JWT; unset: client_secret
    panel_username: str = ""  # HTTP Basic for the CRM panel instead of the JWT
    panel_password: str = field(default="", repr=False)

    @classmethod
    def read(cls, platform: str, variables: _Variables) -> CRMSettings:
        prefix, raw = platform.upper(), variables.values
        secret = variables.text(f"{prefix}_CLIENT_SECRET")
        return cls(client_id=variables.text(f"{prefix}_CLIENT_ID"), client_secret=secret,
                   allowed_hosts=variables.items(f"{prefix}_ALLOWED_HOSTS"), app_id=variables.text(f"{prefix}_APP_ID"),
                   login_url=variables.url(f"{prefix}_LOGIN_URL"),
                   panel_jwt_secret=variables.text(f"{prefix}_PANEL_JWT_SECRET", secret),
                   # unstripped: compared byte for byte with what the CRM sends
                   panel_username=raw.get(f"{prefix}_PANEL_USERNAME", ""),
                   panel_password=raw.get(f"{prefix}_PANEL_PASSWORD", ""))


@functools.lru_cache(maxsize=64)
def _crm_settings(platform: str, variables: tuple[tuple[str, str], ...]) -> CRMSettings:
    return CRMSettings.read(platform, _Variables(dict(variables)))


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
    metrics_token: str | None = field(default=None, repr=False)  # bearer token of /metrics
    # web-form intake: submissions a minute one intake key, and one client address, may post before a 429
    intake_key_per_minute: int = 600
    intake_ip_per_minute: int = 30
    # Rule-set durations (SLA first touch, escalation steps, cadence steps) are divided by this when a due time is
    # computed: 1 in production; `leadrelay demo` runs its workers at 60 so a 5-minute SLA plays out in 5 seconds.
    # Timestamps stay real: activities a rep logs in the CRM are compared with real times.
    time_scale: float = 1.0
    # where a browser reaches the CRM sandbox's OAuth pages: plain HTTP on loopback in the demo, so signing in
    # shows no certificate warning while the SDKs keep LEADRELAY_SANDBOX_URL's HTTPS (simple-salesforce needs it)
    sandbox_browser_url: str | None = None
    # the app's public base URL for OAuth redirect URIs and webhook URLs; None: the host of the request at hand
    public_url: str | None = None
    sandbox_url: str | None = None  # every OAuth provider and adapter talks to this CRM sandbox instead
    sandbox_ca: str | None = None  # the sandbox's CA certificate; None: the system trust store
    # Fernet keys for tokens and webhook secrets at rest, the first encrypts; empty: a random key kept in var/
    encryption_keys: tuple[str, ...] = field(default=(), repr=False)
    token_refresh_margin_seconds: int = 300  # refresh an access token this long before it expires
    sweep_interval_seconds: int = 300  # between two reconciliation sweeps of a tenant
    inbound_interval_seconds: int = 60  # between two reads of a tenant's inbound replies (reply handoff rules)
    # the `<PLATFORM>_…` variables as set, read by `crm()`: checked when a platform asks for its settings, so a
    # variable of another program that happens to end the same way (SSO_LOGIN_URL) is never judged
    crm_variables: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    # rediss:// trust: the CA that signed the server's certificate (None: the system store), and a client
    # certificate for servers that ask for one (tls-auth-clients)
    redis_ca_file: str | None = None
    redis_cert_file: str | None = None
    redis_key_file: str | None = None
    # Sentinel: REDIS_URL's host is then replaced by the master the sentinels name for the service
    redis_sentinels: tuple[tuple[str, int], ...] = ()
    redis_sentinel_service: str | None = None
    # the operator's SMTP server for tenants that entered none of their own: smtp://user:pass@host:587?security=
    # starttls&from=LeadRelay <noreply@example.com>; None: such tenants send no email until they enter one
    smtp_url: str | None = field(default=None, repr=False)
    # work class -> share of a rate bucket it leaves to higher classes (0-1), every class of WORK_CLASSES named
    budget_thresholds: tuple[tuple[str, float], ...] = tuple(DEFAULT_BUDGET_THRESHOLDS.items())
    # share of Salesforce's daily API allowance left to the org's other integrations: only new leads spend it
    salesforce_reserve: float = 0.2

    def crm(self, platform: str) -> CRMSettings:
        """The platform's app settings (all empty when none of its variables is set)."""
        prefix = platform.upper() + "_"
        return _crm_settings(platform, tuple(item for item in self.crm_variables if item[0].startswith(prefix)))

    @classmethod
    def from_env(cls) -> Settings:
        return cls.read(_Variables(dict(_relevant_variables())))

    @classmethod
    def read(cls, variables: _Variables) -> Settings:
        var_dir = Path(variables.values.get("LEADRELAY_VAR_DIR", "var")).resolve()
        return cls(var_dir=var_dir, **_storage(variables, var_dir), **_process(variables), **_web(variables),
                   **_crm_access(variables))


def _storage(variables: _Variables, var_dir: Path) -> dict:
    database_url = variables.text("DATABASE_URL") or f"sqlite:///{var_dir / 'leadrelay.db'}"
    return {"database_url": _normalize_database_url(database_url),
            "redis_url": variables.text("REDIS_URL") or _embedded_redis.get(var_dir),
            "secret_key": variables.text("LEADRELAY_SECRET_KEY") or _dev_secret(var_dir),
            "encryption_keys": variables.items("LEADRELAY_ENCRYPTION_KEYS"), **_redis(variables)}


def _redis(variables: _Variables) -> dict:
    """TLS and Sentinel for REDIS_URL, checked now so that a typo stops the process at start, not at first job."""
    url = variables.text("REDIS_URL")
    files = {}
    for setting, name in (("redis_ca_file", "LEADRELAY_REDIS_CA_FILE"),
                          ("redis_cert_file", "LEADRELAY_REDIS_CERT_FILE"),
                          ("redis_key_file", "LEADRELAY_REDIS_KEY_FILE")):
        path = variables.text(name) or None
        if path and not url.startswith("rediss://"):
            raise ConfigError(f"{name} is only used with TLS: REDIS_URL must start with rediss://, got "
                              f"{url.split('://', 1)[0] + '://' if url else 'no REDIS_URL'}")
        if path and not Path(path).is_file():
            raise ConfigError(f"{name} names {path!r}, which is not a readable file")
        files[setting] = path
    if files["redis_key_file"] and not files["redis_cert_file"]:
        raise ConfigError("LEADRELAY_REDIS_KEY_FILE needs LEADRELAY_REDIS_CERT_FILE (the client certificate)")
    sentinels = tuple(_host_port("LEADRELAY_REDIS_SENTINELS", item)
                      for item in variables.items("LEADRELAY_REDIS_SENTINELS"))
    service = variables.text("LEADRELAY_REDIS_SENTINEL_SERVICE") or None
    if sentinels and not service:
        raise ConfigError("LEADRELAY_REDIS_SENTINELS needs LEADRELAY_REDIS_SENTINEL_SERVICE (the master's name in "
                          "the sentinels' `sentinel monitor` line, such as mymaster)")
    if service and not sentinels:
        raise ConfigError("LEADRELAY_REDIS_SENTINEL_SERVICE needs LEADRELAY_REDIS_SENTINELS (host:port,host:port)")
    if sentinels and not url:
        # unset REDIS_URL means an embedded Redis, which no sentinel watches
        raise ConfigError("LEADRELAY_REDIS_SENTINELS needs REDIS_URL too: its password, database number and scheme "
                          "(rediss:// for TLS) apply to the master the sentinels name, its host is not used "
                          "(such as redis://:password@master/0)")
    return {**files, "redis_sentinels": sentinels, "redis_sentinel_service": service}


def _host_port(name: str, item: str) -> tuple[str, int]:
    host, _, port = item.rpartition(":")
    if not host or not port.isdigit():
        raise ConfigError(f"{name} is a comma-separated list of host:port (such as 10.0.0.5:26379), got {item!r}")
    return host.strip("[]"), int(port)


def _process(variables: _Variables) -> dict:
    """How workers and jobs run, and how they log."""
    worker_class = variables.text("LEADRELAY_WORKER_CLASS", "simple")
    if worker_class not in ("simple", "fork"):
        raise ConfigError(f"LEADRELAY_WORKER_CLASS must be 'simple' or 'fork', got {worker_class!r}")
    log_format = variables.text("LEADRELAY_LOG_FORMAT", "json")
    if log_format not in ("json", "text"):
        raise ConfigError(f"LEADRELAY_LOG_FORMAT must be 'json' or 'text', got {log_format!r}")
    return {"log_level": variables.text("LEADRELAY_LOG_LEVEL", "INFO").upper(), "log_format": log_format,
            "job_retries": variables.whole("LEADRELAY_JOB_RETRIES", 5),
            "job_backoff_seconds": variables.whole("LEADRELAY_JOB_BACKOFF_SECONDS", 10),
            "worker_class": worker_class, "queues": variables.items("LEADRELAY_QUEUES"),
            "time_scale": variables.time_scale(),
            "sweep_interval_seconds": variables.whole("LEADRELAY_SWEEP_INTERVAL_SECONDS", 300, minimum=1,
                                                      meaning="seconds between two sweeps of a tenant"),
            "inbound_interval_seconds": variables.whole("LEADRELAY_INBOUND_INTERVAL", 60, minimum=1,
                                                        meaning="seconds between two reads of a tenant's replies"),
            **_budget(variables)}


def _percent(name: str, raw: str) -> float:
    try:
        value = float(raw.strip().removesuffix("%"))
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or not 0 <= value <= 90:
        raise ConfigError(f"{name} takes percentages from 0 to 90 (the share of the API budget kept back), got "
                          f"{raw.strip()!r}")
    return value / 100


def _budget(variables: _Variables) -> dict:
    """The API budget's thresholds per work class and Salesforce's reserve, both in percent."""
    name = "LEADRELAY_BUDGET_THRESHOLDS"
    thresholds = dict(DEFAULT_BUDGET_THRESHOLDS)
    for item in variables.items(name):
        work_class, sep, raw = item.partition("=")
        work_class = work_class.strip()
        if not sep or work_class not in WORK_CLASSES:
            raise ConfigError(f"{name} is a list of class=percent for {', '.join(WORK_CLASSES[2:])} (such as "
                              f"followup=20,sweep=30,bulk=50), got {item!r}")
        if work_class in ("new_lead", "sla"):
            raise ConfigError(f"{name}: {work_class} is never held back for other work; name only "
                              f"{', '.join(WORK_CLASSES[2:])}")
        thresholds[work_class] = _percent(name, raw)
    lower = [thresholds[c] for c in WORK_CLASSES]
    if lower != sorted(lower):
        raise ConfigError(f"{name}: a lower class must stop no later than a higher one (followup <= sweep <= bulk), "
                          f"got " + ", ".join(f"{c}={thresholds[c] * 100:g}" for c in WORK_CLASSES[2:]))
    reserve = variables.text("LEADRELAY_SALESFORCE_RESERVE")
    return {"budget_thresholds": tuple(thresholds.items()),
            "salesforce_reserve": _percent("LEADRELAY_SALESFORCE_RESERVE", reserve) if reserve else 0.2}


def _web(variables: _Variables) -> dict:
    """How the web app is reached, and who may use its operator API."""
    return {"public_url": variables.url("LEADRELAY_PUBLIC_URL"),
            "trusted_proxies": variables.whole("LEADRELAY_TRUSTED_PROXIES", 0, minimum=0,
                                               meaning="proxies in front of the app"),
            "operator_token": variables.text("LEADRELAY_OPERATOR_TOKEN") or None,
            "metrics_token": variables.text("LEADRELAY_METRICS_TOKEN") or None,
            "intake_key_per_minute": variables.whole("LEADRELAY_INTAKE_KEY_PER_MINUTE", 600, minimum=1,
                                                     meaning="submissions a minute per intake key"),
            "intake_ip_per_minute": variables.whole("LEADRELAY_INTAKE_IP_PER_MINUTE", 30, minimum=1,
                                                    meaning="submissions a minute per client address"),
            "smtp_url": _smtp_url(variables)}


def _smtp_url(variables: _Variables) -> str | None:
    """LEADRELAY_SMTP_URL checked for its shape now, so a typo stops the process at start, not at the first mail."""
    raw = variables.text("LEADRELAY_SMTP_URL")
    if not raw:
        return None
    parts = urllib.parse.urlsplit(raw)
    query = urllib.parse.parse_qs(parts.query)
    try:
        port = parts.port
    except ValueError:
        port = -1
    security = query.get("security", ["starttls"])[0]
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname or port == -1:
        raise ConfigError("LEADRELAY_SMTP_URL must look like smtp://user:password@host:587?security=starttls"
                          "&from=LeadRelay <noreply@example.com> (scheme smtp or smtps, a host, a numeric port)")
    if security not in ("starttls", "tls", "none"):
        raise ConfigError(f"LEADRELAY_SMTP_URL: security must be starttls, tls or none, got {security!r}")
    if "@" not in query.get("from", [""])[0]:
        raise ConfigError("LEADRELAY_SMTP_URL needs from=<address> (e.g. from=LeadRelay <noreply@example.com>): "
                          "the address mail goes out as")
    return raw


def _crm_access(variables: _Variables) -> dict:
    """Where the CRMs' APIs are (the sandbox's, when set), the apps' credentials, and when tokens are refreshed."""
    return {"sandbox_url": variables.url("LEADRELAY_SANDBOX_URL"),
            "sandbox_ca": variables.text("LEADRELAY_SANDBOX_CA") or None,
            "sandbox_browser_url": variables.url("LEADRELAY_SANDBOX_BROWSER_URL"),
            "token_refresh_margin_seconds": variables.whole("LEADRELAY_TOKEN_REFRESH_MARGIN_SECONDS", 300, minimum=0,
                                                            meaning="seconds before expiry"),
            "crm_variables": tuple(sorted((name, value) for name, value in variables.values.items()
                                          if name.endswith(_CRM_SUFFIXES)))}


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


# The Redis server this process started (or found running) under a var dir, for when REDIS_URL is unset. Only
# process start-up sets it (integration.embedded_redis), so that the web app, its requests and the jobs all read
# the one `get_settings().redis_url`, and nothing has to write the URL into the environment.
_embedded_redis: dict[Path, str] = {}


def use_embedded_redis(var_dir: Path, url: str | None) -> None:
    """Make `url` the Redis of the settings with this var dir and no REDIS_URL (None: forget it)."""
    global _cached
    if url is None:
        _embedded_redis.pop(Path(var_dir).resolve(), None)
    else:
        _embedded_redis[Path(var_dir).resolve()] = url
    _cached = None


@functools.lru_cache(maxsize=1024)
def _read_by_settings(name: str) -> bool:
    return name.startswith("LEADRELAY_") or name in _UNPREFIXED or name.endswith(_CRM_SUFFIXES)


def _relevant_variables() -> tuple[tuple[str, str], ...]:
    """The variables Settings reads, as set now: the snapshot it is built from, and what its cache is keyed by."""
    env = os.environ
    return tuple((name, env[name]) for name in filter(_read_by_settings, env))


_cached: tuple[tuple, Settings] | None = None


def get_settings() -> Settings:
    """Settings as the environment says now: built once, then again only when a variable it reads has changed (a
    test's monkeypatch, the demo setting up its children), so it stays cheap per enqueue and per job."""
    global _cached
    variables = _relevant_variables()
    # the working directory too: a relative LEADRELAY_VAR_DIR resolves against it
    key, cached = (os.getcwd(), variables), _cached
    if cached is None or cached[0] != key:
        cached = _cached = (key, Settings.read(_Variables(dict(variables))))
    return cached[1]
