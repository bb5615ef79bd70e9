"""The Flask app factory: configuration from the environment, migrations applied, blueprints wired."""
from __future__ import annotations

from typing import Any

from flask import Flask

from integration.config import Settings
from integration.db import migrate
from integration.logs import configure_logging
from leadrelay.embedded_redis import ensure_redis_url


def create_app(overrides: dict[str, Any] | None = None) -> Flask:
    """Build the web app. `overrides` (tests) are applied on top of the environment's settings."""
    settings = Settings.from_env()
    if settings.redis_url is None:
        ensure_redis_url(settings.var_dir)
        settings = Settings.from_env()
    configure_logging(settings.log_level, settings.log_format)
    migrate(settings.database_url)

    import datetime as dt
    import os

    from adapters.factory import wire
    from marketplace import init_app  # after settings: blueprints read them at import time
    from marketplace.requests import trust_proxies

    wire()

    public_url = os.environ.get("LEADRELAY_PUBLIC_URL", "").strip().rstrip("/")
    app = Flask(__name__, template_folder="marketplace/templates")
    app.config.update(
        PUBLIC_URL=public_url,
        # always Secure when the app is served over https; else per request (marketplace/requests.py)
        SESSION_COOKIE_SECURE=public_url.startswith("https://"),
        PERMANENT_SESSION_LIFETIME=dt.timedelta(hours=12),
        WTF_CSRF_TIME_LIMIT=None,  # the token lives as long as the session
        SECRET_KEY=settings.secret_key,
        LEADRELAY_SETTINGS=settings,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        JSON_SORT_KEYS=False,
        MAX_CONTENT_LENGTH=5 * 1024 * 1024,
    )
    app.config.update(overrides or {})
    trust_proxies(app, settings.trusted_proxies)
    init_app(app)
    return app
