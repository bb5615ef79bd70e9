"""The settings page: what it shows whom, the sweep interval, confirmations that say what will happen."""
from __future__ import annotations

import hashlib
import re

import pytest
from sqlalchemy import func, select

from integration.db import session_scope
from integration.intake.sweep import interval_seconds
from integration.models import (
    Agency,
    AgencyTemplate,
    ConsoleUser,
    Decision,
    DedupCalibration,
    EventRecord,
    Invitation,
    ReviewItem,
    RuleSetVersion,
    Tenant,
    WebhookKey,
    utcnow,
)
from tests.console_helpers import add_members, sign_in


@pytest.fixture()
def world(app, env):
    app.config["WTF_CSRF_ENABLED"] = False  # the pages are under test; CSRF has its own tests
    with session_scope(env["DATABASE_URL"]) as s:
        tenant = Tenant(platform="hubspot", external_id="71", name="Acme Corp", settings={"webhook_subscriptions": []})
        org = Tenant(platform="salesforce", external_id="00D9", name="Globex Org")
        s.add_all([tenant, org])
        s.flush()
        ids = add_members(s, tenant.id, {"ada": "admin", "vic": "viewer"})
        ids |= {f"sf_{k}": v for k, v in add_members(s, org.id, {"sam": "admin", "sue": "viewer"}).items()}
        for i in range(3):
            s.add(EventRecord(tenant_id=tenant.id, platform="hubspot", dedup_key=f"e{i}", object_type="contact",
                              object_id=str(i), kind="created", occurred_at=utcnow(), status="done"))
        s.add(Decision(tenant_id=tenant.id, idempotency_key="route:contact:1", kind="route", object_type="contact",
                       object_id="1", outcome="x@acme.test", reason="r"))
        s.add(ReviewItem(tenant_id=tenant.id, kind="routing", object_type="contact", object_id="1", reason="r"))
        return {"tenant": tenant.id, "org": org.id, **ids}


def _page(client, url: str) -> str:
    resp = client.get(url)
    assert resp.status_code == 200, resp.status_code
    return resp.get_data(as_text=True)


def test_an_admin_sees_every_section_and_a_viewer_only_reads(app, world):
    url = f"/console/tenants/{world['tenant']}/settings"
    page = _page(sign_in(app, world["ada"]), url)
    for section in ('id="connection"', 'id="members"', 'id="agency"', 'id="webhooks"', 'id="sweep"', 'id="danger"'):
        assert section in page, section
    assert "/install/hubspot" in page  # Reconnect goes through the install flow
    assert "belong to the LeadRelay app itself" in page
    assert re.search(r"data-last-webhook>Last webhook received: \d+ \w+ \d{4}, \d\d:\d\d UTC", page)
    other = _page(sign_in(app, world["sf_sam"]), f"/console/tenants/{world['org']}/settings")
    assert "Last webhook received: none yet" in other
    assert 'name="sweep_interval_seconds"' in page and "Every 5 minutes" in page
    viewer = _page(sign_in(app, world["vic"]), url)
    assert 'id="connection"' in viewer and "vic@example.com" in viewer
    for control in ('name="sweep_interval_seconds"', 'id="danger"', "/install/hubspot", 'name="email"'):
        assert control not in viewer, control
    # the old members address shows the same page
    assert 'id="members"' in _page(sign_in(app, world["ada"]), f"/console/tenants/{world['tenant']}/members")


def test_the_sweep_interval_is_validated_stored_audited_and_used(app, env, world):
    ada = sign_in(app, world["ada"])
    url = f"/console/tenants/{world['tenant']}/settings/sweep"
    assert interval_seconds(world["tenant"]) == 300  # the global setting until the admin chooses
    for bad in ("7", "", "3600; drop", "-60"):
        assert ada.post(url, data={"sweep_interval_seconds": bad}).status_code == 303
    assert interval_seconds(world["tenant"]) == 300
    assert ada.post(url, data={"sweep_interval_seconds": "900"}).status_code == 303
    assert interval_seconds(world["tenant"]) == 900 and interval_seconds(world["org"]) == 300
    with session_scope(env["DATABASE_URL"]) as s:
        audit = s.scalar(select(Decision).where(Decision.tenant_id == world["tenant"],
                                                Decision.outcome == "sweep-interval"))
        assert "every 15 minutes (was every 5 minutes)" in audit.reason and "ada@example.com" in audit.reason
        assert audit.inputs == {"before": 300, "after": 900}
    assert sign_in(app, world["vic"]).post(url, data={"sweep_interval_seconds": "60"}).status_code == 403
    assert interval_seconds(world["tenant"]) == 900
    assert 'data-sweep-current>every 15 minutes<' in _page(ada, f"/console/tenants/{world['tenant']}/settings")


def test_the_disconnect_confirmation_names_what_is_erased_and_needs_the_name_typed(app, env, world):
    ada = sign_in(app, world["ada"])
    page = _page(ada, f"/console/tenants/{world['tenant']}/disconnect")
    erased = page[page.index("data-erased"):page.index("What stays")]
    assert "<strong>3</strong> received events" in erased and "<strong>1</strong> decision " in erased
    assert "<strong>1</strong> review item" in erased and "dedup index" in erased and "tokens" in erased
    assert "nothing is deleted there" in page and "confirm(" not in page
    url = f"/console/tenants/{world['tenant']}/disconnect"
    for typed in ("", "Acme", "Globex Org"):
        refused = ada.post(url, data={"confirm_name": typed})
        assert refused.status_code == 400 and "Nothing was changed" in refused.get_data(as_text=True)
    with session_scope(env["DATABASE_URL"]) as s:
        assert s.get(Tenant, world["tenant"]).status == "active"
    assert sign_in(app, world["vic"]).post(url, data={"confirm_name": "Acme Corp"}).status_code == 403
    assert ada.post(url, data={"confirm_name": "  acme   corp "}).status_code == 302
    with session_scope(env["DATABASE_URL"]) as s:
        assert s.get(Tenant, world["tenant"]).status == "uninstalled"
    settings = _page(ada, f"/console/tenants/{world['tenant']}/settings")
    assert "Disconnected" in settings and "/disconnect" not in settings  # no second disconnect offered
    assert "already disconnected" in _page(ada, url)


def test_invite_revoke_through_a_confirmation(app, env, world):
    ada = sign_in(app, world["ada"])
    page = ada.post(f"/console/tenants/{world['tenant']}/members",
                    data={"email": "new@acme.test", "role": "viewer"}).get_data(as_text=True)
    link = re.search(r"data-invitation-link>([^<]+)<", page).group(1)
    assert f'data-copy="{link}"' in page and 'data-invitation="new@acme.test"' in page
    with session_scope(env["DATABASE_URL"]) as s:
        invitation_id = s.scalar(select(Invitation.id))
    confirm = _page(ada, f"/console/tenants/{world['tenant']}/invitations/revoke?invitation_id={invitation_id}")
    assert "The link sent to new@acme.test stops working at once" in confirm
    with session_scope(env["DATABASE_URL"]) as s:
        assert s.get(Invitation, invitation_id).revoked_at is None
    assert ada.post(f"/console/tenants/{world['tenant']}/invitations/{invitation_id}/revoke").status_code == 303
    assert 'data-invitation="new@acme.test"' not in _page(ada, f"/console/tenants/{world['tenant']}/settings")
    # another tenant's admin cannot even see it
    other = sign_in(app, world["sf_sam"])
    assert other.get(f"/console/tenants/{world['tenant']}/invitations/revoke?invitation_id={invitation_id}"
                     ).status_code == 404


def test_salesforce_admins_get_the_outbound_message_url_it_authenticates(app, env, world):
    from adapters.subscriptions import new_webhook_key

    with session_scope(env["DATABASE_URL"]) as s:
        key, secret = new_webhook_key(s, world["org"])
    page = _page(sign_in(app, world["sf_sam"]), f"/console/tenants/{world['org']}/settings")
    url = re.search(r"data-webhook-url>([^<]+)<", page).group(1)
    assert url.endswith(f"/webhooks/salesforce/{key}/{secret}") and f'data-copy="{url}"' in page
    with session_scope(env["DATABASE_URL"]) as s:
        stored = s.scalar(select(WebhookKey.secret_hash).where(WebhookKey.tenant_id == world["org"]))
    assert hashlib.sha256(url.rsplit("/", 1)[1].encode()).hexdigest() == stored
    viewer = _page(sign_in(app, world["sf_sue"]), f"/console/tenants/{world['org']}/settings")
    assert secret not in viewer and "only admins see it" in viewer


def test_publishing_a_template_says_where_and_what_first(app, env, world):
    with session_scope(env["DATABASE_URL"]) as s:
        agency = Agency(name="Ag")
        s.add(agency)
        s.flush()
        for key in ("tenant", "org"):
            tenant = s.get(Tenant, world[key])
            tenant.agency_id, tenant.agency_grant = agency.id, "admin"
            s.add(RuleSetVersion(tenant_id=tenant.id, version=1, body={"version": 1}, status="draft"))
        template = AgencyTemplate(agency_id=agency.id, name="Standard", body={"version": 1}, created_by="a",
                                  rollouts={str(world[k]): {"version": 1} for k in ("tenant", "org")})
        s.add(template)
        boss = ConsoleUser(platform="hubspot", external_account_id="ag", external_user_id="boss", email="b@ag.test",
                           agency_id=agency.id, agency_role="admin")
        s.add(boss)
        s.flush()
        boss_id, template_id = boss.id, template.id
    boss = sign_in(app, boss_id)
    view = _page(boss, f"/console/agency/templates/view?template_id={template_id}")
    assert "Publish on all 2 drafted portals" in view
    confirm = _page(boss, f"/console/agency/templates/publish?template_id={template_id}"
                          f"&tenant_id={world['tenant']}&tenant_id={world['org']}")
    assert ("Publish template &#39;Standard&#39; on 2 portals: Acme Corp (HubSpot, draft version 1), Globex Org "
            "(Salesforce, draft version 1).") in confirm
    assert "live rules are replaced" in confirm and "roll back each portal" in confirm
    with session_scope(env["DATABASE_URL"]) as s:
        assert s.scalar(select(func.count()).select_from(RuleSetVersion).where(
            RuleSetVersion.status == "published")) == 0  # the confirmation changed nothing
    form = {"template_id": template_id, "tenant_id": [world["tenant"], world["org"]]}
    assert boss.post("/console/agency/templates/publish", data=form).status_code == 303
    with session_scope(env["DATABASE_URL"]) as s:
        assert {v.tenant_id: v.status for v in s.scalars(select(RuleSetVersion))} == {
            world["tenant"]: "published", world["org"]: "published"}


def test_health_judges_a_sweep_late_against_the_tenants_own_interval(app, env, world):
    import datetime as dt

    from integration.models import SweepCursor
    from marketplace.tenant_health import health_of

    ada = sign_in(app, world["ada"])
    ada.post(f"/console/tenants/{world['tenant']}/settings/sweep", data={"sweep_interval_seconds": "3600"})
    forty_minutes_ago = utcnow() - dt.timedelta(minutes=40)
    with session_scope(env["DATABASE_URL"]) as s:
        for key in ("tenant", "org"):
            s.add(SweepCursor(tenant_id=world[key], object_type="contact", cursor="c", swept_at=forty_minutes_ago))
    with app.test_request_context("/"), session_scope(env["DATABASE_URL"]) as s:
        from flask import g

        g.db = s
        health = health_of(s, s.scalars(select(Tenant).order_by(Tenant.id)).all())
    codes = {tid: [r.code for r in h.reasons] for tid, h in health.items()}
    assert "sweep-behind" not in codes[world["tenant"]]  # hourly: 40 minutes is on time
    assert "sweep-behind" in codes[world["org"]]  # every 5 minutes: 40 minutes is late


def test_a_pipedrive_admin_chooses_a_leads_inbox_lead_for_web_form_people(app, env, world):
    with session_scope(env["DATABASE_URL"]) as s:
        pd = Tenant(platform="pipedrive", external_id="4711", name="Initech PD")
        s.add(pd)
        s.flush()
        ids = add_members(s, pd.id, {"pat": "admin", "pia": "viewer"})
        pd_id = pd.id
    pat = sign_in(app, ids["pat"])
    page = _page(pat, f"/console/tenants/{pd_id}/settings")
    form = page.split("data-inbox-lead")[1][:600]
    assert "Leads Inbox" in page and 'name="inbox_lead"' in form and "checked" not in form
    url = f"/console/tenants/{pd_id}/settings/intake/inbox-lead"
    assert pat.post(url, data={"inbox_lead": "on"}).status_code == 303
    with session_scope(env["DATABASE_URL"]) as s:
        assert s.get(Tenant, pd_id).settings["capture_inbox_lead"] is True
        audit = s.scalar(select(Decision).where(Decision.tenant_id == pd_id, Decision.outcome == "intake-inbox-lead"))
        assert "switched on" in audit.reason and audit.inputs == {"before": False, "after": True}
    assert sign_in(app, ids["pia"]).post(url, data={}).status_code == 403  # a viewer changes nothing
    assert "also get" in _page(sign_in(app, ids["pia"]), f"/console/tenants/{pd_id}/settings")
    assert pat.post(url, data={}).status_code == 303  # unticked: off again
    with session_scope(env["DATABASE_URL"]) as s:
        assert s.get(Tenant, pd_id).settings["capture_inbox_lead"] is False
    # HubSpot keeps no leads inbox apart from its contacts: no such setting there
    ada = sign_in(app, world["ada"])
    assert 'name="inbox_lead"' not in _page(ada, f"/console/tenants/{world['tenant']}/settings")
    assert ada.post(f"/console/tenants/{world['tenant']}/settings/intake/inbox-lead",
                    data={"inbox_lead": "on"}).status_code == 303
    with session_scope(env["DATABASE_URL"]) as s:
        assert "capture_inbox_lead" not in (s.get(Tenant, world["tenant"]).settings or {})
    assert "keeps no leads inbox" in _page(ada, f"/console/tenants/{world['tenant']}/settings")


def test_the_duplicate_matching_card_says_how_matching_is_tuned_and_an_admin_can_retune_it(app, env, world):
    from redis import Redis

    ada = sign_in(app, world["ada"])
    url = f"/console/tenants/{world['tenant']}/settings"
    assert "general model until this account's records have been read once" in _page(ada, url)
    with session_scope(env["DATABASE_URL"]) as s:
        s.add(DedupCalibration(tenant_id=world["tenant"], status="fitted", reason="", estimate={}, surnames=None,
                               records_used=12_400, pairs_used=3_100))
    page = _page(ada, url)
    assert "Tuned to this account's own records: <strong>12,400</strong>" in page and "<strong>3,100</strong>" in page
    assert ada.post(f"{url}/dedup/recalibrate").status_code == 303
    queued = Redis.from_url(env["REDIS_URL"]).lrange("rq:queue:maintenance", 0, -1)
    assert f"calibrate-{world['tenant']}-asked".encode() in queued
    with session_scope(env["DATABASE_URL"]) as s:
        assert s.scalar(select(Decision).where(Decision.tenant_id == world["tenant"],
                                               Decision.outcome == "dedup-recalibrate")) is not None
    vic = sign_in(app, world["vic"])
    assert 'data-recalibrate' not in _page(vic, url)  # a viewer reads the card, gets no button
    assert vic.post(f"{url}/dedup/recalibrate").status_code == 403
