"""Flask blueprints: health, API, install and sign-in, consoles; the per-request database session."""
from __future__ import annotations

from flask import Flask, g
from flask_wtf.csrf import CSRFProtect
from sqlalchemy.orm import sessionmaker

from integration.db import get_engine
from marketplace.access import current_user
from marketplace.agency import agency_bp
from marketplace.agency_templates import templates_bp
from marketplace.auth import auth_bp
from marketplace.console import console_bp
from marketplace.console_audit import audit_bp
from marketplace.console_builder import builder_bp
from marketplace.console_editor import editor_bp
from marketplace.console_health import health_console_bp
from marketplace.console_kpi import kpi_bp
from marketplace.console_onboarding import onboarding_bp
from marketplace.console_outbox import outbox_bp
from marketplace.console_publish import publish_bp
from marketplace.console_review import review_bp
from marketplace.console_rules import rules_bp
from marketplace.console_settings import settings_bp
from marketplace.console_simulate import simulate_bp
from marketplace.console_trace import trace_bp
from marketplace.crm_cards import cards_bp
from marketplace.diagnostics import diagnostics_bp
from marketplace.errors import register_error_handlers
from marketplace.health import health_bp
from marketplace.install import install_bp
from marketplace.intake_api import intake_bp
from marketplace.invitations import invitations_bp
from marketplace.labels import register_labels
from marketplace.metrics import metrics_bp
from marketplace.nav import register as register_nav
from marketplace.requests import register_request_context
from marketplace.sms_webhook import sms_bp
from marketplace.webhooks import webhooks_bp
from oauth.registry import crm_title

csrf = CSRFProtect()


def _database_session(app: Flask) -> None:
    factory = sessionmaker(get_engine(app.config["LEADRELAY_SETTINGS"].database_url), expire_on_commit=False)

    @app.before_request
    def open_session() -> None:
        g.db = factory()
        g.user = current_user(g.db)

    @app.teardown_request
    def close_session(exc: BaseException | None) -> None:
        db = g.pop("db", None)
        if db is None:
            return
        try:
            if exc is None:
                db.commit()
            else:
                db.rollback()
        finally:
            db.close()


def init_app(app: Flask) -> None:
    register_request_context(app)
    register_error_handlers(app)
    _database_session(app)
    csrf.init_app(app)
    # machine-to-machine endpoints authenticate otherwise (signatures, Basic auth), not with a form token
    csrf.exempt(diagnostics_bp)
    csrf.exempt("marketplace.auth.pipedrive_uninstall")
    csrf.exempt(webhooks_bp)
    csrf.exempt(cards_bp)
    csrf.exempt(sms_bp)  # the provider's signature authenticates it
    csrf.exempt(intake_bp)  # a key in the URL (and a body signature) authenticates it, never a session
    for bp in (health_bp, diagnostics_bp, install_bp, auth_bp, console_bp, review_bp, audit_bp, kpi_bp,
               health_console_bp, rules_bp, builder_bp, editor_bp, simulate_bp, trace_bp, publish_bp,
               onboarding_bp, agency_bp, templates_bp, invitations_bp, sms_bp, webhooks_bp, cards_bp, settings_bp,
               intake_bp, metrics_bp, outbox_bp):
        app.register_blueprint(bp)

    app.add_template_filter(crm_title, "crm")
    register_nav(app)
    register_labels(app)

    @app.get("/")
    def index():
        from flask import redirect, url_for

        return redirect(url_for("console.home") if g.user else url_for("auth.login"))
