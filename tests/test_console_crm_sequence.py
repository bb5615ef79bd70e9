"""The Senders card's "Email through HubSpot (sequences)": the portal's sequences read from the sandbox through a real
install, the choice saved as crm_sequence_id and audited, admin only, CSRF; a portal without the sequences scopes
or without sequences gets a sentence; Salesforce and Pipedrive say what sender: crm does there."""
from __future__ import annotations

import html

import pytest
from sqlalchemy import select

from integration.db import session_scope
from integration.models import Decision, Tenant
from tests.console_helpers import add_members, sign_in
from tests.crm_helpers import install, new_account
from tests.team_rules import OWNERS

SEQUENCES = {"2001": {"name": "Inbound demo request", "subject": "Your demo", "body": "Hi"},
             "2002": {"name": "After the webinar", "subject": "Thanks", "body": "Hi"}}
SEQUENCE_SCOPES = ["automation.sequences.read", "automation.sequences.enrollments.write"]


def _text(resp) -> str:
    return html.unescape(resp.get_data(as_text=True))


def _installed(app, crm_env, crm_sandbox, platform: str = "hubspot", **account) -> dict:
    made = new_account(crm_sandbox, platform, name=f"Seq {platform}", users=OWNERS, **account)
    assert install(app.test_client(), crm_sandbox, platform, made["account_id"]).status_code == 302
    with session_scope(crm_env["DATABASE_URL"]) as s:
        tenant = s.scalar(select(Tenant.id).where(Tenant.platform == platform))
        return {"tenant": tenant, **add_members(s, tenant, {"ada": "admin", "vic": "viewer"})}


def _settings(tenant_id: int, database_url: str) -> dict:
    with session_scope(database_url) as s:
        return dict(s.get(Tenant, tenant_id).settings or {})


def test_an_admin_chooses_a_sequence_from_the_portals_list_and_it_is_audited(app, crm_env, crm_sandbox):
    app.config["WTF_CSRF_ENABLED"] = False
    world = _installed(app, crm_env, crm_sandbox, sequences=SEQUENCES)
    ada = sign_in(app, world["ada"])
    base = f"/console/tenants/{world['tenant']}/settings"
    page = _text(ada.get(base))
    assert "Email through HubSpot (sequences)" in page and "sender: crm" in page and "seat" in page
    assert 'value="2001"' in page and "Inbound demo request" in page
    assert "After the webinar" in page and "No sequence chosen" in page
    saved = _text(ada.post(f"{base}/senders/crm-sequence", data={"sequence_id": "2002"}, follow_redirects=True))
    assert 'enrolled in "After the webinar"' in saved and "Chosen: <strong>After the webinar</strong>" in saved
    assert _settings(world["tenant"], crm_env["DATABASE_URL"])["crm_sequence_id"] == "2002"
    refused = ada.post(f"{base}/senders/crm-sequence", data={"sequence_id": "9999"})
    assert refused.status_code == 400 and "not one of this portal's" in _text(refused)
    assert _settings(world["tenant"], crm_env["DATABASE_URL"])["crm_sequence_id"] == "2002"
    cleared = _text(ada.post(f"{base}/senders/crm-sequence", data={"sequence_id": ""}, follow_redirects=True))
    assert "No sequence is chosen" in cleared
    assert not _settings(world["tenant"], crm_env["DATABASE_URL"]).get("crm_sequence_id")
    with session_scope(crm_env["DATABASE_URL"]) as s:
        audits = s.scalars(select(Decision).where(Decision.tenant_id == world["tenant"],
                                                  Decision.outcome == "sender-saved")
                           .order_by(Decision.id)).all()
        assert [(a.inputs["before"], a.inputs["after"]) for a in audits] == [(None, "2002"), ("2002", None)]
        assert "After the webinar" in audits[0].reason and "ada@example.com" in audits[0].reason


def test_a_viewer_sees_the_choice_but_may_not_change_it(app, crm_env, crm_sandbox):
    app.config["WTF_CSRF_ENABLED"] = False
    world = _installed(app, crm_env, crm_sandbox, sequences=SEQUENCES)
    vic = sign_in(app, world["vic"])
    base = f"/console/tenants/{world['tenant']}/settings"
    page = _text(vic.get(base))
    assert "Email through HubSpot (sequences)" in page and 'name="sequence_id"' not in page
    assert vic.post(f"{base}/senders/crm-sequence", data={"sequence_id": "2001"}).status_code == 403
    assert not _settings(world["tenant"], crm_env["DATABASE_URL"]).get("crm_sequence_id")


def test_saving_needs_a_csrf_token(app, crm_env, crm_sandbox):
    world = _installed(app, crm_env, crm_sandbox, sequences=SEQUENCES)
    app.config["WTF_CSRF_ENABLED"] = True
    ada = sign_in(app, world["ada"])
    base = f"/console/tenants/{world['tenant']}/settings"
    page = _text(ada.get(base))
    form = page[page.index("senders/crm-sequence"):]
    assert 'name="csrf_token"' in form[:300]
    assert ada.post(f"{base}/senders/crm-sequence", data={"sequence_id": "2001"}).status_code == 400
    assert not _settings(world["tenant"], crm_env["DATABASE_URL"]).get("crm_sequence_id")


def test_a_portal_without_the_sequences_scopes_gets_a_sentence_not_an_error(app, crm_env, crm_sandbox):
    app.config["WTF_CSRF_ENABLED"] = False
    world = _installed(app, crm_env, crm_sandbox, sequences=SEQUENCES, withheld_scopes=SEQUENCE_SCOPES)
    ada = sign_in(app, world["ada"])
    base = f"/console/tenants/{world['tenant']}/settings"
    resp = ada.get(base)
    page = _text(resp)
    assert resp.status_code == 200 and "did not grant LeadRelay the sequences scopes" in page
    assert 'name="sequence_id"' not in page
    refused = ada.post(f"{base}/senders/crm-sequence", data={"sequence_id": "2001"})
    assert refused.status_code == 400 and "did not grant LeadRelay the sequences scopes" in _text(refused)


def test_a_portal_without_sequences_says_so(app, crm_env, crm_sandbox):
    app.config["WTF_CSRF_ENABLED"] = False
    world = _installed(app, crm_env, crm_sandbox, sequences={})
    page = _text(sign_in(app, world["ada"]).get(f"/console/tenants/{world['tenant']}/settings"))
    assert "has no sequences yet" in page and 'name="sequence_id"' not in page


@pytest.mark.parametrize(("platform", "words"), [("salesforce", "emailSimple"), ("pipedrive", "API sends no email")])
def test_salesforce_and_pipedrive_say_what_sender_crm_does(app, crm_env, crm_sandbox, platform, words):
    app.config["WTF_CSRF_ENABLED"] = False
    world = _installed(app, crm_env, crm_sandbox, platform)
    ada = sign_in(app, world["ada"])
    base = f"/console/tenants/{world['tenant']}/settings"
    page = _text(ada.get(base))
    assert words in page and "(sequences)" not in page
    refused = ada.post(f"{base}/senders/crm-sequence", data={"sequence_id": "2001"})
    assert refused.status_code == 400 and "no sequences to choose" in _text(refused)
