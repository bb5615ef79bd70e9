"""Intake keys on the settings page: made on first sight, shown to admins only, rotated and revoked through a
confirmation, origins and aliases validated; every change audited, never with the key in it."""
from __future__ import annotations

import re
from html import unescape

import pytest
from sqlalchemy import select

from integration.db import session_scope
from integration.models import Decision, IntakeKey, Tenant
from marketplace import intake_keys
from tests.console_helpers import add_members, sign_in


@pytest.fixture()
def world(app, env):
    app.config["WTF_CSRF_ENABLED"] = False  # CSRF has its own test below
    with session_scope(env["DATABASE_URL"]) as s:
        tenant = Tenant(platform="hubspot", external_id="71", name="Acme Corp", settings={"webhook_subscriptions": []})
        s.add(tenant)
        s.flush()
        return {"tenant": tenant.id, **add_members(s, tenant.id, {"ada": "admin", "vic": "viewer"})}


def settings_url(world) -> str:
    return f"/console/tenants/{world['tenant']}/settings"


def page(client, url: str) -> str:
    resp = client.get(url)
    assert resp.status_code == 200, resp.status_code
    return resp.get_data(as_text=True)


def the_key(env, tenant_id: int) -> tuple[IntakeKey | None, intake_keys.Revealed | None]:
    with session_scope(env["DATABASE_URL"]) as s:
        row = intake_keys.active_key(s, tenant_id)
        revealed = intake_keys.reveal(row) if row else None
        s.expunge_all()
        return row, revealed


def test_a_key_is_made_on_first_sight_random_hashed_and_encrypted(app, env, world):
    html = page(sign_in(app, world["ada"]), settings_url(world))
    row, revealed = the_key(env, world["tenant"])
    assert len(revealed.key) == 32 and re.fullmatch(r"[A-Za-z0-9_-]+", revealed.key)  # 24 random bytes
    assert row.key_hash == intake_keys.key_hash(revealed.key) and revealed.key.encode() not in row.key_enc
    assert len(revealed.secret) == 64 and revealed.secret.encode() not in row.secret_enc
    url = f"http://localhost/intake/v1/{revealed.key}/submissions"
    assert f"data-intake-url>{url}<" in html and f'data-copy="{url}"' in html
    assert revealed.secret in html and f'action="{url}"' in unescape(html)  # the snippet posts to it
    for name in ('name="lr_hp"', 'name="lr_ts"', 'name="utm_source"', 'name="referrer"', 'name="page_url"',
                 "document.referrer", "location.search", "X-LeadRelay-Signature"):
        assert name in unescape(html), name
    # the same key on every later visit
    page(sign_in(app, world["ada"]), settings_url(world))
    assert the_key(env, world["tenant"])[1].key == revealed.key


def test_a_viewer_sees_the_figures_never_the_key_or_secret(app, env, world):
    html = page(sign_in(app, world["vic"]), settings_url(world))
    _row, revealed = the_key(env, world["tenant"])
    assert 'id="intake"' in html and "data-intake-counts" in html
    assert revealed.key not in html and revealed.secret not in html and "data-intake-snippet" not in html
    assert "only admins see it" in html
    vic = sign_in(app, world["vic"])
    base = f"/console/tenants/{world['tenant']}/settings/intake"
    for url in (f"{base}/rotate", f"{base}/revoke", f"{base}/options"):
        assert vic.post(url, data={"allowed_origins": "https://x.test"}).status_code == 403, url
    for url in (f"{base}/rotate", f"{base}/revoke"):  # the confirmation reads, without its button
        text = page(vic, url)
        assert "Only an admin of this account" in text and '<form method="post" action="/console' not in text
    assert the_key(env, world["tenant"])[1].key == revealed.key


def test_rotation_goes_through_a_confirmation_and_stops_the_old_key_at_once(app, client, env, world):
    ada = sign_in(app, world["ada"])
    page(ada, settings_url(world))
    _row, old = the_key(env, world["tenant"])
    with session_scope(env["DATABASE_URL"]) as s:
        intake_keys.set_options(s, intake_keys.active_key(s, world["tenant"]), ["https://www.acme.test"],
                                {"your-email": "email"}, "ada@example.com")
    confirm = page(ada, f"/console/tenants/{world['tenant']}/settings/intake/rotate")
    assert "stops working at once" in confirm and "confirm(" not in confirm and "Cancel" in confirm
    assert client.post(f"/intake/v1/{old.key}/submissions", json={"email": "a@b.test"}).status_code == 202
    resp = ada.post(f"/console/tenants/{world['tenant']}/settings/intake/rotate")
    assert resp.status_code == 303 and resp.headers["Location"].endswith("/settings#intake")
    row, new = the_key(env, world["tenant"])
    assert new.key != old.key and new.secret != old.secret
    assert row.allowed_origins == ["https://www.acme.test"] and row.field_aliases == {"your-email": "email"}
    assert client.post(f"/intake/v1/{old.key}/submissions", json={"email": "a@b.test"}).status_code == 401
    assert client.post(f"/intake/v1/{new.key}/submissions", json={"your-email": "a@b.test"}).status_code == 202
    html = page(ada, settings_url(world))
    assert new.key in html and old.key not in html
    with session_scope(env["DATABASE_URL"]) as s:
        audits = s.scalars(select(Decision).where(Decision.tenant_id == world["tenant"],
                                                  Decision.outcome.like("intake-%"))).all()
        assert [a.outcome for a in audits] == ["intake-options", "intake-key-rotated"]
        assert "ada@example.com rotated the intake key" in audits[1].reason
        for audit in audits:  # neither the key nor the secret ever lands in the audit log
            text = f"{audit.reason} {audit.inputs}"
            assert old.key not in text and new.key not in text and new.secret not in text


def test_revoking_leaves_no_key_until_an_admin_makes_one(app, client, env, world):
    ada = sign_in(app, world["ada"])
    page(ada, settings_url(world))
    _row, old = the_key(env, world["tenant"])
    assert "Every form and server posting" in page(ada, f"/console/tenants/{world['tenant']}/settings/intake/revoke")
    assert ada.post(f"/console/tenants/{world['tenant']}/settings/intake/revoke").status_code == 303
    assert client.post(f"/intake/v1/{old.key}/submissions", json={"email": "a@b.test"}).status_code == 401
    html = page(ada, settings_url(world))  # opening the page does not bring a key back
    assert the_key(env, world["tenant"]) == (None, None) and "was revoked" in html and old.key not in html
    assert "Make a new intake key" in html
    assert ada.post(f"/console/tenants/{world['tenant']}/settings/intake/rotate").status_code == 303
    _row, new = the_key(env, world["tenant"])
    assert client.post(f"/intake/v1/{new.key}/submissions", json={"email": "a@b.test"}).status_code == 202
    with session_scope(env["DATABASE_URL"]) as s:
        outcomes = s.scalars(select(Decision.outcome).where(Decision.outcome.like("intake-%"))).all()
        assert outcomes == ["intake-key-revoked", "intake-key-created"]


def test_origins_and_aliases_are_validated_and_saved(app, env, world):
    ada = sign_in(app, world["ada"])
    page(ada, settings_url(world))
    url = f"/console/tenants/{world['tenant']}/settings/intake/options"
    bad = ada.post(url, data={"allowed_origins": "https://ok.test\n*.evil.test\nhttps://x.test/path",
                              "field_aliases": "your-email = email\nnonsense\nyour-fax = fax"})
    text = bad.get_data(as_text=True)
    assert bad.status_code == 400 and 'role="alert"' in text
    assert "*.evil.test is not an origin" in text and "https://x.test/path is not an origin" in text
    assert "line 2: write it as" in text and "line 3: fax is not a known field" in text
    assert the_key(env, world["tenant"])[0].allowed_origins == []  # refused whole
    good = ada.post(url, data={"allowed_origins": "https://www.acme.test/\nhttp://localhost:8080, https://www.acme.test",
                               "field_aliases": "Your-Email = email\n\nfull name = name"})
    assert good.status_code == 303
    row, _ = the_key(env, world["tenant"])
    assert row.allowed_origins == ["https://www.acme.test", "http://localhost:8080"]
    assert row.field_aliases == {"your-email": "email", "full name": "name"}
    html = page(ada, settings_url(world))
    assert "your-email = email" in html and "https://www.acme.test\nhttp://localhost:8080" in html


def test_the_intake_forms_need_the_csrf_token(app, env, world):
    app.config["WTF_CSRF_ENABLED"] = True
    ada = sign_in(app, world["ada"])
    page(ada, settings_url(world))
    _row, before = the_key(env, world["tenant"])
    for action in ("rotate", "revoke", "options"):
        resp = ada.post(f"/console/tenants/{world['tenant']}/settings/intake/{action}",
                        data={"allowed_origins": "https://x.test"})
        assert resp.status_code == 400, action
    assert the_key(env, world["tenant"])[1].key == before.key


def test_a_disconnected_account_shows_no_key_and_makes_none(app, env, world):
    with session_scope(env["DATABASE_URL"]) as s:
        s.get(Tenant, world["tenant"]).status = "uninstalled"
    html = page(sign_in(app, world["ada"]), settings_url(world))
    assert "takes no submissions" in html and the_key(env, world["tenant"]) == (None, None)


def test_parse_origins_and_aliases():
    assert intake_keys.parse_origins("HTTPS://Www.Acme.test:443/") == (["https://www.acme.test:443"], [])
    origins, problems = intake_keys.parse_origins("ftp://x.test https://user@x.test https://x.test?q=1 https://x:99999")
    assert origins == [] and len(problems) == 4
    assert intake_keys.parse_aliases("email = phone")[1] == [
        "line 1: email is itself a known field and cannot stand for another"]
    assert intake_keys.parse_aliases("a<b> = email")[1][0].startswith("line 1: a<b> is not a form field name")
