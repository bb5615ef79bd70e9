"""The settings: one default each, checked values with a message that says what to do, secrets kept out of repr,
and `get_settings()` built again exactly when a variable it reads changed."""
from __future__ import annotations

import ast
import os
import re

import pytest

from integration.config import ConfigError, CRMSettings, get_settings, use_embedded_redis
from tests.conftest import ROOT

CRM_SUFFIXES = ("_CLIENT_ID", "_CLIENT_SECRET", "_ALLOWED_HOSTS", "_APP_ID", "_LOGIN_URL", "_PANEL_JWT_SECRET",
                "_PANEL_USERNAME", "_PANEL_PASSWORD")


@pytest.fixture()
def clean(monkeypatch, tmp_path):
    """No LeadRelay variable set but its own var dir and secret key."""
    for name in list(os.environ):
        if name.startswith("LEADRELAY_") or name in ("DATABASE_URL", "REDIS_URL") or name.endswith(CRM_SUFFIXES):
            monkeypatch.delenv(name)
    monkeypatch.setenv("LEADRELAY_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("LEADRELAY_SECRET_KEY", "test-secret-key-not-for-production")
    return tmp_path / "var"


def test_defaults(clean):
    settings = get_settings()
    assert (settings.public_url, settings.sandbox_url, settings.sandbox_ca, settings.encryption_keys) == (
        None, None, None, ())
    assert (settings.sweep_interval_seconds, settings.token_refresh_margin_seconds) == (300, 300)
    assert settings.redis_url is None and settings.database_url == f"sqlite:///{clean / 'leadrelay.db'}"
    assert settings.crm("hubspot") == CRMSettings() == CRMSettings(
        client_id="", client_secret="", allowed_hosts=(), app_id="", login_url=None, panel_jwt_secret="",
        panel_username="", panel_password="")


def test_a_crm_takes_its_own_variables(clean, monkeypatch):
    for name, value in {"PIPEDRIVE_CLIENT_ID": " pd-id ", "PIPEDRIVE_CLIENT_SECRET": "pd-secret",
                        "PIPEDRIVE_ALLOWED_HOSTS": "*.pipedrive.com, api.example.test,",
                        "PIPEDRIVE_PANEL_USERNAME": "panel", "PIPEDRIVE_PANEL_PASSWORD": " pass ",
                        "SALESFORCE_LOGIN_URL": "https://test.salesforce.com/", "HUBSPOT_APP_ID": "4242"}.items():
        monkeypatch.setenv(name, value)
    settings = get_settings()
    assert settings.crm("pipedrive") == CRMSettings(
        client_id="pd-id", client_secret="pd-secret", allowed_hosts=("*.pipedrive.com", "api.example.test"),
        panel_jwt_secret="pd-secret", panel_username="panel", panel_password=" pass ")
    assert settings.crm("salesforce") == CRMSettings(login_url="https://test.salesforce.com")
    assert settings.crm("hubspot") == CRMSettings(app_id="4242")


def test_the_panel_jwt_secret_is_the_client_secret_unless_set_apart(clean, monkeypatch):
    monkeypatch.setenv("PIPEDRIVE_CLIENT_SECRET", "client-secret")
    assert get_settings().crm("pipedrive").panel_jwt_secret == "client-secret"
    monkeypatch.setenv("PIPEDRIVE_PANEL_JWT_SECRET", "panel-secret")
    assert get_settings().crm("pipedrive").panel_jwt_secret == "panel-secret"


def test_secrets_stay_out_of_repr(clean, monkeypatch):
    secrets = {"LEADRELAY_ENCRYPTION_KEYS": "fernet-key-one", "LEADRELAY_OPERATOR_TOKEN": "operator-token",
               "HUBSPOT_CLIENT_SECRET": "hubspot-secret", "PIPEDRIVE_PANEL_JWT_SECRET": "jwt-secret",
               "PIPEDRIVE_PANEL_PASSWORD": "panel-password"}
    for name, value in secrets.items():
        monkeypatch.setenv(name, value)
    settings = get_settings()
    shown = repr(settings) + repr(settings.crm("hubspot")) + repr(settings.crm("pipedrive"))
    assert [value for value in [*secrets.values(), settings.secret_key] if value in shown] == []


@pytest.mark.parametrize(("name", "value", "message"), [
    ("LEADRELAY_SWEEP_INTERVAL_SECONDS", "soon", "LEADRELAY_SWEEP_INTERVAL_SECONDS must be a whole number, got 'soon'"),
    ("LEADRELAY_SWEEP_INTERVAL_SECONDS", "0",
     "LEADRELAY_SWEEP_INTERVAL_SECONDS must be 1 or more (seconds between two sweeps of a tenant), got 0"),
    ("LEADRELAY_TOKEN_REFRESH_MARGIN_SECONDS", "-5",
     "LEADRELAY_TOKEN_REFRESH_MARGIN_SECONDS must be 0 or more (seconds before expiry), got -5"),
    ("LEADRELAY_TRUSTED_PROXIES", "-1", "LEADRELAY_TRUSTED_PROXIES must be 0 or more (proxies in front of the app)"),
    ("LEADRELAY_PUBLIC_URL", "leadrelay.example.com",
     "LEADRELAY_PUBLIC_URL must be an http:// or https:// URL (such as https://leadrelay.example.com), "
     "got 'leadrelay.example.com'"),
    ("LEADRELAY_SANDBOX_URL", "https://", "LEADRELAY_SANDBOX_URL must be an http:// or https:// URL"),
    ("LEADRELAY_WORKER_CLASS", "thread", "LEADRELAY_WORKER_CLASS must be 'simple' or 'fork', got 'thread'"),
])
def test_a_malformed_value_is_refused_with_its_name_and_what_is_expected(clean, monkeypatch, name, value, message):
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=f"^{re.escape(message)}"):
        get_settings()


def test_a_crm_variable_is_checked_when_that_crm_asks_for_its_settings(clean, monkeypatch):
    monkeypatch.setenv("SALESFORCE_LOGIN_URL", "test.salesforce.com")
    monkeypatch.setenv("SSO_LOGIN_URL", "/login")  # another program's: never judged, never in the way
    settings = get_settings()
    assert settings.crm("hubspot") == CRMSettings()
    with pytest.raises(ConfigError, match="^SALESFORCE_LOGIN_URL must be an http:// or https:// URL"):
        settings.crm("salesforce")


def test_the_settings_are_built_once_and_again_when_a_variable_changes(clean, monkeypatch):
    first = get_settings()
    assert get_settings() is first
    monkeypatch.setenv("LEADRELAY_SWEEP_INTERVAL_SECONDS", "60")
    assert get_settings().sweep_interval_seconds == 60
    monkeypatch.setenv("HUBSPOT_CLIENT_SECRET", "new-secret")
    assert get_settings().crm("hubspot").client_secret == "new-secret"
    monkeypatch.delenv("LEADRELAY_SWEEP_INTERVAL_SECONDS")
    monkeypatch.delenv("HUBSPOT_CLIENT_SECRET")
    assert get_settings() == first
    monkeypatch.setenv("UNRELATED_VARIABLE", "x")
    assert get_settings() is get_settings()


def test_a_relative_var_dir_follows_the_working_directory(clean, monkeypatch, tmp_path):
    monkeypatch.setenv("LEADRELAY_VAR_DIR", "state")
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        monkeypatch.chdir(tmp_path / folder)
        assert get_settings().var_dir == tmp_path / folder / "state"


def test_the_embedded_redis_of_a_var_dir_is_its_redis_unless_redis_url_is_set(clean, monkeypatch, tmp_path):
    use_embedded_redis(clean, "unix:///tmp/embedded.sock")
    try:
        assert get_settings().redis_url == "unix:///tmp/embedded.sock"
        monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6390/0")
        assert get_settings().redis_url == "redis://127.0.0.1:6390/0"
        monkeypatch.delenv("REDIS_URL")
        monkeypatch.setenv("LEADRELAY_VAR_DIR", str(tmp_path / "other"))
        assert get_settings().redis_url is None
    finally:
        use_embedded_redis(clean, None)
    monkeypatch.setenv("LEADRELAY_VAR_DIR", str(clean))
    assert get_settings().redis_url is None


def _names_read_by_config() -> set[str]:
    tree = ast.parse((ROOT / "integration" / "config.py").read_text())
    return {node.value for node in ast.walk(tree) if isinstance(node, ast.Constant) and isinstance(node.value, str)
            and re.fullmatch(r"LEADRELAY_[A-Z_]+[A-Z]|DATABASE_URL|REDIS_URL", node.value)}


def test_the_readme_documents_every_setting():
    readme = (ROOT / "README.md").read_text()
    table = readme[readme.index("## Settings"):readme.index("\n## ", readme.index("## Settings") + 1)]
    documented = set(re.findall(r"`([A-Z][A-Z0-9_]+)`", table))
    assert len(_names_read_by_config()) > 15
    assert _names_read_by_config() - documented == set()
    platforms = ("HUBSPOT", "SALESFORCE", "PIPEDRIVE")
    assert [suffix for suffix in CRM_SUFFIXES if not any(p + suffix in documented for p in platforms)] == []
