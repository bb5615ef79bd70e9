"""Browser tests: Debian's chromium driven by Playwright against the app on a loopback port and the CRM sandbox.

Skipped when /usr/bin/chromium or playwright is missing, except under CI=true, where that fails the run.
Screenshots of every page visited land in tests/browser/screenshots/ (gitignored) for review.
"""
from __future__ import annotations

import os
import re
import threading
from pathlib import Path

import pytest
import requests

from tests.conftest import APPS, PUBLIC_URL

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"
DOCS_SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"browser tests must run in CI: {reason} (.ci/run installs chromium and playwright)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def chromium():
    """One headless Chromium for the whole run."""
    if not Path(CHROMIUM).exists():
        _unavailable(f"{CHROMIUM} is missing (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("playwright is not installed (pip install -e '.[dev]')")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


def _register_apps(server, base: str | None) -> None:
    """The sandbox's OAuth apps, with redirect URIs for `base` too (None: the suite's original registration)."""
    http = requests.Session()
    http.trust_env = False
    for platform, creds in APPS.items():
        uris = [f"{PUBLIC_URL}/oauth/{platform}/callback"] + ([f"{base}/oauth/{platform}/callback"] if base else [])
        body = {"platform": platform, **creds, "redirect_uris": uris,
                "uninstall_url": f"{PUBLIC_URL}/oauth/pipedrive/uninstall"}
        http.post(f"{server.url}/_sandbox/apps", json=body, timeout=10).raise_for_status()


@pytest.fixture()
def live(crm_env, crm_sandbox):
    """(app, base URL): the real app served by werkzeug on a loopback port, its OAuth apps known to the sandbox."""
    from werkzeug.serving import make_server

    from app import create_app

    app = create_app({"TESTING": True})
    server = make_server("127.0.0.1", 0, app, threaded=True)
    base = f"http://127.0.0.1:{server.server_port}"
    app.config["PUBLIC_URL"] = base  # OAuth redirect URIs must match what the sandbox has registered
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _register_apps(crm_sandbox, base)
    try:
        yield app, base
    finally:
        _register_apps(crm_sandbox, None)
        server.shutdown()


@pytest.fixture()
def page(chromium, live):
    """A fresh browser context (own cookies) and page; the sandbox's own CA is not trusted by Chromium."""
    context = chromium.new_context(ignore_https_errors=True, viewport={"width": 1280, "height": 900},
                                   base_url=live[1])
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


def shot(page, name: str, docs: str | None = None) -> Path:
    """Save a full-page screenshot for review; with `docs`, also the visible part as the README's docs/ picture of
    that name, so the README always shows the console as the last browser run drew it."""
    SCREENSHOTS.mkdir(exist_ok=True)
    path = SCREENSHOTS / f"{re.sub(r'[^a-z0-9_-]+', '-', name.lower())}.png"
    page.screenshot(path=str(path), full_page=True)
    if docs:
        DOCS_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.evaluate("window.scrollTo(0, 0)")  # the page as it opens, not where a hover left it
        page.screenshot(path=str(DOCS_SCREENSHOTS / f"{docs}.png"))
    return path


def sign_in_as(page, live, user) -> None:
    """Give the browser the signed session cookie `login_user` sets (for users who never install)."""
    from flask import session

    from integration.db import session_scope
    from marketplace.access import login_user

    app, base = live
    with app.test_request_context("/"), session_scope(app.config["LEADRELAY_SETTINGS"].database_url) as db:
        login_user(db, db.merge(user))
        value = app.session_interface.get_signing_serializer(app).dumps(dict(session))
    page.context.add_cookies([{"name": app.config["SESSION_COOKIE_NAME"], "value": value, "url": base,
                               "httpOnly": True}])
