"""Every console and agency route × every kind of visitor → the answer each must get.

The routes come from the app's URL map, so a new route without a row here fails the test: whoever adds a page
decides who may use it. CSRF is off in this test only (it has its own tests), so a 403/404 is never masked by a
missing form token.
"""
from __future__ import annotations

import re

import pytest

from integration.db import session_scope
from integration.models import (
    Agency,
    AgencyTemplate,
    ConsoleUser,
    Invitation,
    Membership,
    MergeSnapshot,
    ReviewItem,
    RuleSetVersion,
    Tenant,
    utcnow,
)
from tests.console_helpers import sign_in

ACTORS = ("anonymous", "other_admin", "viewer", "agency_viewer", "tenant_admin", "agency_admin")
LOGIN, HIDDEN, FORBIDDEN, CONFLICT, ALLOWED = "login", "404", "403", "409", "allowed"


def row(*answers: str) -> dict[str, str]:
    return dict(zip(ACTORS, answers, strict=True))


#                   anonymous other     viewer     agency viewer tenant admin agency admin
READ = row(LOGIN, HIDDEN, ALLOWED, ALLOWED, ALLOWED, ALLOWED)
WRITE = row(LOGIN, HIDDEN, FORBIDDEN, FORBIDDEN, ALLOWED, ALLOWED)
OWN_ADMIN = row(LOGIN, HIDDEN, FORBIDDEN, FORBIDDEN, ALLOWED, FORBIDDEN)  # who has access, which agency, how far
SIGNED_IN = row(LOGIN, ALLOWED, ALLOWED, ALLOWED, ALLOWED, ALLOWED)
NO_SUCH_INVITATION = row(LOGIN, HIDDEN, HIDDEN, HIDDEN, HIDDEN, HIDDEN)
AGENCY_READ = row(LOGIN, FORBIDDEN, FORBIDDEN, ALLOWED, FORBIDDEN, ALLOWED)
AGENCY_WRITE = row(LOGIN, FORBIDDEN, FORBIDDEN, FORBIDDEN, FORBIDDEN, ALLOWED)
NEW_AGENCY = row(LOGIN, ALLOWED, ALLOWED, CONFLICT, ALLOWED, CONFLICT)

TABLE = {
    "console.home": SIGNED_IN, "auth.link_with": SIGNED_IN,
    "console.tenant": READ, "console.onboarding": READ, "console.rules": READ, "console_publish.diff": READ,
    "console_audit.audit": READ, "console_health.health": READ, "console_kpi.kpis": READ,
    "console_kpi.kpis_csv": READ, "console_kpi.weekly_summary": READ, "console_kpi.email_weekly_summary": WRITE,
    "console_kpi.schedule_weekly_summary": WRITE, "console.members": READ, "console_review.review": READ,
    "console_simulate.simulate": READ, "console_publish.confirm": READ, "console_trace.test_lead": READ,
    "console_trace.recent_leads": READ, "console_builder.builder": READ, "console_builder.validate": WRITE,
    "console_builder.parse": WRITE, "console_builder.to_yaml": WRITE, "console_builder.draft": WRITE,
    "console.save_rules": WRITE, "console.publish_rules": WRITE, "console_rules.rollback": WRITE,
    "console_editor.hours": WRITE, "console_editor.pool": WRITE, "console_editor.territory": WRITE,
    "console_simulate.start": WRITE, "console_onboarding.starter": WRITE, "console.add_member": OWN_ADMIN,
    "console.change_member": OWN_ADMIN, "console.revoke_invitation": OWN_ADMIN, "console_review.assign": WRITE,
    "console_review.dismiss": WRITE, "console_review.merge": WRITE, "console_review.undo": WRITE,
    "console_review.confirm_merge": READ,  # what a merge would do; its button posts to console_review.merge
    "console.disconnect": WRITE,
    "console.join_agency": OWN_ADMIN, "console.agency_grant": OWN_ADMIN,
    "invitations.show": NO_SUCH_INVITATION, "invitations.accept_link": NO_SUCH_INVITATION,
    "agency.overview": SIGNED_IN, "agency.weekly_summary": AGENCY_READ, "agency.create": NEW_AGENCY,
    "agency.create_invite": AGENCY_WRITE, "agency.invite_teammate": AGENCY_WRITE,
    "agency_templates.index": AGENCY_READ, "agency_templates.view": AGENCY_READ,
    "agency_templates.create": AGENCY_WRITE, "agency_templates.rollout": AGENCY_WRITE,
    "agency_templates.publish_rollout": AGENCY_WRITE,
    "console_settings.settings": READ, "console_settings.sweep_interval": WRITE,
    "console_settings.confirm_disconnect": READ,  # the page says what would be erased; only WRITE may proceed
    "console.confirm_revoke_invitation": READ,  # the page says what revoking does; only OWN_ADMIN may proceed
    "agency.confirm_revoke_invite": AGENCY_WRITE, "agency.revoke_invite": AGENCY_WRITE,
    "console_settings.me": SIGNED_IN, "console_settings.confirm_unlink": SIGNED_IN,
    "console_settings.unlink": SIGNED_IN, "agency_templates.confirm_publish": AGENCY_WRITE,
    "agency.confirm_revoke_teammate": AGENCY_WRITE, "agency.revoke_teammate": AGENCY_WRITE,
    # the intake key: its confirmations say what a new key or a revoke does; only WRITE gets the button
    "console_settings.confirm_rotate_intake": READ, "console_settings.rotate_intake": WRITE,
    "console_settings.confirm_revoke_intake": READ, "console_settings.revoke_intake": WRITE,
    "console_settings.intake_options": WRITE, "console_settings.intake_inbox_lead": WRITE,
    "console_settings.recalibrate": WRITE,
    # the Senders card: save, test and remove are an admin's, as the other settings
    "console_settings.save_smtp": WRITE, "console_settings.save_sms": WRITE,
    "console_settings.test_sender": WRITE, "console_settings.remove_sender": WRITE,
    "console_settings.save_crm_sequence": WRITE,
    "console_outbox.outbox": READ, "console_builder.template_preview": READ,
}
LAST = ("console.disconnect", "agency.create")  # they change who may do what: run after everything else


@pytest.fixture()
def world(app, crm_env):
    app.config["WTF_CSRF_ENABLED"] = False
    with session_scope(crm_env["DATABASE_URL"]) as s:
        agency = Agency(name="X Agency")
        s.add(agency)
        s.flush()
        tenant = Tenant(platform="hubspot", external_id="1", name="Tenant T", agency_id=agency.id, agency_grant="admin")
        other = Tenant(platform="pipedrive", external_id="2", name="Tenant O")
        s.add_all([tenant, other])
        s.flush()
        users = {}
        for name, (agency_id, role) in {"other_admin": (None, None), "viewer": (None, None),
                                        "tenant_admin": (None, None), "agency_viewer": (agency.id, "viewer"),
                                        "agency_admin": (agency.id, "admin")}.items():
            user = ConsoleUser(platform="hubspot", external_account_id="9", external_user_id=name,
                               email=f"{name}@example.com", name=name, agency_id=agency_id, agency_role=role)
            s.add(user)
            s.flush()
            users[name] = user.id
        admin_membership = Membership(tenant_id=tenant.id, user_id=users["tenant_admin"], role="admin")
        invitation = Invitation(tenant_id=tenant.id, email="x@example.com", role="viewer", token_hash="0" * 64,
                                expires_at=utcnow())
        template = AgencyTemplate(agency_id=agency.id, name="Base", body={"version": 1},
                                  rollouts={str(tenant.id): {"version": 1, "by": "agency_admin@example.com"}},
                                  created_by="agency_admin@example.com")
        s.add_all([admin_membership, invitation, template,
                   Membership(tenant_id=tenant.id, user_id=users["viewer"], role="viewer"),
                   Membership(tenant_id=other.id, user_id=users["other_admin"], role="admin"),
                   RuleSetVersion(tenant_id=tenant.id, version=1, body={"version": 1}),
                   RuleSetVersion(tenant_id=other.id, version=1, body={"version": 1})])
        routing = ReviewItem(tenant_id=tenant.id, kind="routing", object_type="contact", object_id="7", reason="r")
        dedup = ReviewItem(tenant_id=tenant.id, kind="dedup", object_type="contact", object_id="8",
                           other_object_id="9", reason="maybe the same person", payload={"score": 0.8})
        snapshot = MergeSnapshot(tenant_id=tenant.id, object_type="contact", survivor_id="8", loser_id="9", score=0.99,
                                 survivor_before={}, loser_before={}, status="merged")
        s.add_all([routing, dedup, snapshot])
        s.flush()
        return {"tenant": tenant.id, "users": users, "membership": admin_membership.id,
                "invitation": invitation.id, "template": template.id, "routing_item": routing.id,
                "dedup_item": dedup.id, "snapshot": snapshot.id}


def _routes(app) -> list[tuple[str, str, str]]:
    routes = [(rule.endpoint, method, rule.rule) for rule in app.url_map.iter_rules()
              if rule.rule.startswith(("/console", "/invitations"))
              for method in sorted(rule.methods - {"HEAD", "OPTIONS"})]
    return sorted(routes, key=lambda r: (r[0] in LAST, LAST.index(r[0]) if r[0] in LAST else 0, r))


def _url(rule: str, world: dict) -> str:
    values = {"tenant_id": world["tenant"], "membership_id": world["membership"], "version": 1,
              "invitation_id": world["invitation"], "platform": "salesforce", "token": "not-a-real-invitation",
              "channel": "email"}
    return re.sub(r"<(?:\w+:)?(\w+)>", lambda m: str(values[m.group(1)]), rule)


def _answer(resp) -> str:
    if resp.status_code == 302 and "/login" in resp.headers.get("Location", ""):
        return LOGIN
    if resp.status_code in (403, 404, 409):
        return str(resp.status_code)
    assert resp.status_code < 500 and resp.status_code not in (401, 405), resp.status_code
    return ALLOWED


def test_every_console_route_has_a_row(app):
    missing = sorted({endpoint for endpoint, _m, _r in _routes(app)} - set(TABLE))
    assert missing == [], f"decide who may use these routes: add them to TABLE: {missing}"


@pytest.mark.parametrize("actor", ACTORS)
def test_each_visitor_gets_exactly_their_role(app, world, actor):
    client = app.test_client() if actor == "anonymous" else sign_in(app, world["users"][actor])
    form = {"body": "version: 1", "email": "someone@example.com", "role": "admin", "code": "nope", "grant": "admin",
            "name": f"Agency of {actor}", "template_id": str(world["template"]), "tenant_id": str(world["tenant"]),
            "snapshot_id": str(world["snapshot"]), "source_tenant_id": str(world["tenant"])}
    wrong = []
    for endpoint, method, rule in _routes(app):
        url = _url(rule, world)
        if endpoint == "agency_templates.view":
            url += f"?template_id={world['template']}"
        item = world["routing_item"] if endpoint == "console_review.assign" else world["dedup_item"]
        data = {**form, "item_id": str(item)} if method == "POST" else None
        got = _answer(client.open(url, method=method, data=data))
        if got != TABLE[endpoint][actor]:
            wrong.append((method, rule, f"expected {TABLE[endpoint][actor]}, got {got}"))
    assert wrong == []
