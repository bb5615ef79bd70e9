"""Flask blueprints: health, API, (later) install, webhooks, consoles."""
from __future__ import annotations

from flask import Flask

from marketplace.diagnostics import diagnostics_bp
from marketplace.errors import register_error_handlers
from marketplace.health import health_bp
from marketplace.requests import register_request_context


def init_app(app: Flask) -> None:
    register_request_context(app)
    register_error_handlers(app)
    app.register_blueprint(health_bp)
    app.register_blueprint(diagnostics_bp)
