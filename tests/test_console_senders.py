"""The Senders card on the settings page: save, test against the sandbox, remove; secrets never shown; audited."""
from __future__ import annotations

import html
import logging
import time

import pytest
import requests
from sqlalchemy import select

from integration.db import session_scope
from integration.models import Decision, Tenant
from sandbox.server import SandboxServer
from tests.console_helpers import add_members, sign_in

PASSWORD = "smtp-pa55-never-shown"


@pytest.fixture(scope="module")
def sandbox():
    server = SandboxServer(platforms=[]).start()
    yield server
    server.stop()


@pytest.fixture()
def world(app, env):
    app.config["WTF_CSRF_ENABLED"] = False  # CSRF has its own test below
    with session_scope(env["DATABASE_URL"]) as s:
        tenant = Tenant(platform="hubspot", external_id="71", name="Acme Corp", settings={"webhook_subscriptions": []})
        s.add(tenant)
        s.flush()
        return {"tenant": tenant.id, **add_members(s, tenant.id, {"ada": "admin", "vic": "viewer"})}


def _text(resp) -> str:
    return html.unescape(resp.get_data(as_text=True))


def test_an_admin_saves_tests_and_removes_smtp_without_the_password_ever_shown(app, env, world, sandbox, caplog):
    caplog.set_level(logging.DEBUG)
    ada = sign_in(app, world["ada"])
    base = f"/console/tenants/{world['tenant']}/settings"
    form = {"host": "127.0.0.1", "port": str(sandbox.mail_server.port), "security": "none", "username": "",
            "password": PASSWORD, "from_address": "sales@acme.test", "from_name": "Acme Sales"}
    saved = ada.post(f"{base}/senders/smtp", data=form, follow_redirects=True)
    page = _text(saved)
    assert saved.status_code == 200 and "The SMTP server is saved" in page
    assert "Acme Sales <sales@acme.test>" in page and f"127.0.0.1:{sandbox.mail_server.port}" in page
    assert PASSWORD not in page
    tested = _text(ada.post(f"{base}/senders/email/test", data={"to": "zoe@example.test"}, follow_redirects=True))
    mails = sandbox.sandbox.mail.list("zoe@example.test")
    assert len(mails) == 1 and mails[0]["message_id"] in tested and "Sent to zoe@example.test" in tested
    refused = _text(ada.post(f"{base}/senders/email/test", data={"to": "nobody@bounce.test"}, follow_redirects=True))
    assert "refused it (invalid_recipient)" in refused and "550" in refused
    bad = ada.post(f"{base}/senders/email/test", data={"to": "not an address"}, follow_redirects=True)
    assert "Test address" in _text(bad)
    removed = _text(ada.post(f"{base}/senders/email/remove", follow_redirects=True))
    assert "The SMTP server is removed" in removed and "No SMTP server: no email goes out" in removed
    with session_scope(env["DATABASE_URL"]) as s:
        audits = s.scalars(select(Decision).where(Decision.tenant_id == world["tenant"],
                                                  Decision.outcome.in_(("sender-saved", "sender-removed")))).all()
        assert [a.outcome for a in audits] == ["sender-saved", "sender-removed"]
        assert all(PASSWORD not in repr((a.reason, a.inputs)) for a in audits)
    assert PASSWORD not in caplog.text


def test_sms_is_saved_with_its_inbound_url_and_refusals_are_said_in_words(app, env, world, sandbox):
    http = requests.Session()
    http.trust_env = False
    account = http.post(f"{sandbox.url}/_sandbox/twilio/accounts", json={}, timeout=5).json()
    ada, vic = sign_in(app, world["ada"]), sign_in(app, world["vic"])
    base = f"/console/tenants/{world['tenant']}/settings"
    form = {"account_sid": account["account_sid"], "auth_token": account["auth_token"],
            "from_number": account["from_number"], "api_base": account["api_base"]}
    page = _text(ada.post(f"{base}/senders/sms", data=form, follow_redirects=True))
    assert "The SMS provider is saved" in page and account["auth_token"] not in page
    with session_scope(env["DATABASE_URL"]) as s:
        key = s.get(Tenant, world["tenant"]).settings["senders"]["sms"]["inbound_key"]
        audit = s.scalar(select(Decision).where(Decision.outcome == "sender-saved"))
        assert account["auth_token"] not in repr((audit.reason, audit.inputs)) and key not in repr(audit.inputs)
    assert f"/webhooks/sms/{world['tenant']}/{key}" in page
    sent = _text(ada.post(f"{base}/senders/sms/test", data={"to": "+14155550123"}, follow_redirects=True))
    assert "Sent to +14155550123" in sent
    stopped = _text(ada.post(f"{base}/senders/sms/test", data={"to": "+15005550004"}, follow_redirects=True))
    assert "refused it (opted_out)" in stopped and "21610" in stopped
    # a viewer reads the card but gets neither the secret webhook URL nor the forms
    viewed = _text(vic.get(base))
    assert account["from_number"] in viewed and key not in viewed and account["auth_token"] not in viewed
    assert 'action="' + f"{base}/senders/sms" + '"' not in viewed
    assert vic.post(f"{base}/senders/sms", data=form).status_code == 403
    assert vic.post(f"{base}/senders/sms/remove").status_code == 403


def test_send_a_test_is_limited_per_tenant_with_a_clear_429(app, env, world, sandbox):
    ada = sign_in(app, world["ada"])
    base = f"/console/tenants/{world['tenant']}/settings"
    form = {"host": "127.0.0.1", "port": str(sandbox.mail_server.port), "security": "none", "username": "",
            "password": "", "from_address": "sales@acme.test", "from_name": "Acme Sales"}
    assert ada.post(f"{base}/senders/smtp", data=form).status_code == 303
    left = 60 - time.time() % 60
    if left < 15:  # the allowance counts per clock minute: six requests must fall in one
        time.sleep(left + 0.5)
    for _ in range(5):
        assert "Sent to spam@example.test" in _text(ada.post(f"{base}/senders/email/test",
                                                              data={"to": "spam@example.test"},
                                                              follow_redirects=True))
    limited = ada.post(f"{base}/senders/sms/test", data={"to": "+14155550123"})  # both channels share it
    assert limited.status_code == 429 and "5 test messages in the last minute" in _text(limited)
    limited = ada.post(f"{base}/senders/email/test", data={"to": "spam@example.test"})
    assert limited.status_code == 429 and "Nothing was sent" in _text(limited)
    assert len(sandbox.sandbox.mail.list("spam@example.test")) == 5


def test_bad_input_is_a_400_naming_the_field_with_the_form_kept(app, world):
    ada = sign_in(app, world["ada"])
    base = f"/console/tenants/{world['tenant']}/settings"
    resp = ada.post(f"{base}/senders/smtp", data={"host": "smtp.acme.test", "port": "99999", "security": "starttls",
                                                  "from_address": "sales@acme.test"})
    assert resp.status_code == 400 and "SMTP port" in _text(resp) and 'value="smtp.acme.test"' in _text(resp)
    resp = ada.post(f"{base}/senders/sms", data={"account_sid": "AC" + "1" * 32, "auth_token": "x",
                                                 "from_number": "0415", "api_base": "http://twilio.example.com"})
    assert resp.status_code == 400 and "E.164" in _text(resp)
    assert ada.post(f"{base}/senders/fax/test", data={"to": "x"}).status_code == 404
    assert ada.post(f"{base}/senders/sms/test", data={"to": "+14155550123"},
                    follow_redirects=True).status_code == 200  # nothing configured: said, not a 500


def test_the_forms_need_a_csrf_token(app, world):
    app.config["WTF_CSRF_ENABLED"] = True
    ada = sign_in(app, world["ada"])
    base = f"/console/tenants/{world['tenant']}/settings"
    page = ada.get(base).get_data(as_text=True)
    assert page.count('name="csrf_token"') >= 3
    assert ada.post(f"{base}/senders/smtp", data={"host": "h", "port": "25", "security": "none",
                                                  "from_address": "a@b.test"}).status_code == 400
    assert ada.post(f"{base}/senders/email/remove").status_code == 400
