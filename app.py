"""The Flask app factory: configuration from the settings, migrations applied, blueprints wired."""
from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Flask

from integration.config import get_settings
from integration.db import migrate
from integration.embedded_redis import ensure_redis_url
from integration.logs import configure_logging


def create_app(overrides: dict[str, Any] | None = None) -> Flask:
    """Build the web app. `overrides` (tests) are applied on top of the environment's settings."""
    # Without REDIS_URL this starts (or finds) the embedded server and makes it the process's Redis, so the
    # settings read below, by the request code and by what it enqueues, all name it: no environment is written.
    ensure_redis_url(get_settings())
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format)
    migrate(settings.database_url)

    from adapters.factory import wire
    from adapters.senders import wire as wire_senders
    from marketplace import init_app  # after settings: blueprints read them at import time
    from marketplace.requests import trust_proxies

    wire()
    wire_senders()

    public_url = settings.public_url or ""  # unset: each request's own host (marketplace/install.py)
    # the console's stylesheet and script live beside its templates: /static/console.css
    app = Flask(__name__, template_folder="marketplace/templates", static_folder="marketplace/static")
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
