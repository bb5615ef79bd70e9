"""The admin console: tenants, onboarding, rules, members, disconnect. Every route is tenant-scoped."""
from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from sqlalchemy import func, select

from integration.models import (
    ConsoleUser,
    EventRecord,
    Invitation,
    Membership,
    ReviewItem,
    RuleSetVersion,
    Tenant,
    utcnow,
)
from integration.rules import RulesError, read_rules_text, validate_rules
from integration.rules.limits import MAX_BYTES
from marketplace.access import (
    ADMIN,
    VIEWER,
    member_role,
    require_login,
    safe_local_path,
    tenant_view,
    visible_tenants_query,
)
from marketplace.agency import invite_refusal, link_with_invite
from marketplace.console_onboarding import onboarding_page
from marketplace.console_publish import back_to_confirm, not_publishable
from marketplace.console_rules import (
    as_yaml,
    editable_version,
    get_version,
    live_version,
    located_issues,
    numbered,
    publish,
    save_draft,
)
from marketplace.console_settings import disconnect_page, settings_page
from marketplace.invitations import EMAIL, audit, create_invitation
from marketplace.params import int_arg
from oauth.disconnect import disconnect as disconnect_tenant
from oauth.registry import PLATFORMS

log = logging.getLogger("leadrelay.console")
console_bp = Blueprint("console", __name__, url_prefix="/console")
MAX_RULES_BYTES = MAX_BYTES  # all rule-set limits (size, nesting, values, no YAML aliases): integration/rules/limits.py


@console_bp.get("/")
@require_login
def home():
    tenants = g.db.scalars(visible_tenants_query(g.user).order_by(Tenant.name)).all()
    # one grouped count, not a query per row: an agency can see dozens of accounts
    reviews = dict(g.db.execute(select(ReviewItem.tenant_id, func.count()).where(
        ReviewItem.tenant_id.in_([t.id for t in tenants]), ReviewItem.status == "open")
        .group_by(ReviewItem.tenant_id)).all()) if tenants else {}
    return render_template("console/home.html", tenants=tenants, platforms=PLATFORMS, reviews=reviews)


@console_bp.get("/tenants/<int:tenant_id>")
@tenant_view()
def tenant(tenant: Tenant):
    events = g.db.scalar(select(func.count()).select_from(EventRecord).where(EventRecord.tenant_id == tenant.id))
    waiting = g.db.scalar(select(func.count()).select_from(EventRecord).where(
        EventRecord.tenant_id == tenant.id, EventRecord.status.in_(("received", "waiting"))))
    review = g.db.scalar(select(func.count()).select_from(ReviewItem).where(
        ReviewItem.tenant_id == tenant.id, ReviewItem.status == "open"))
    return render_template("console/tenant.html", tenant=tenant, role=g.role, events=events, waiting=waiting,
                           review=review, own_admin=member_role(g.db, g.user, tenant) == ADMIN,
                           live=live_version(g.db, tenant.id))


@console_bp.get("/tenants/<int:tenant_id>/onboarding")
@tenant_view()
def onboarding(tenant: Tenant):
    return onboarding_page(tenant)


@console_bp.post("/tenants/<int:tenant_id>/disconnect")
@tenant_view(write=True)
def disconnect(tenant: Tenant):
    """Revoke the grant (best effort), stop processing, erase the tenant's data in a job.

    Only with the account's name typed on the confirmation page: erasing is not undone by a stray click.
    """
    typed = " ".join((request.form.get("confirm_name") or "").split())
    if typed.casefold() != " ".join(tenant.name.split()).casefold():
        return disconnect_page(tenant, error=f"Type the account name, {tenant.name}, exactly as shown to "
                                             "disconnect it. Nothing was changed.", status=400)
    note = disconnect_tenant(g.db, tenant, f"{g.user.email} in the console")
    flash(f"{tenant.name} is disconnected; its data is being erased ({note}).", "info")
    return redirect(url_for("console.home"))


@console_bp.get("/tenants/<int:tenant_id>/rules")
@tenant_view()
def rules(tenant: Tenant):
    """History, and the editor prefilled with a version's text (?edit=V) or the working draft (else the live one)."""
    edit = int_arg(request.args, "edit")
    source = get_version(g.db, tenant.id, edit) if edit else None
    source = source or editable_version(g.db, tenant.id)
    return _rules_page(tenant, as_yaml(source.body) if source else "", [])


@console_bp.post("/tenants/<int:tenant_id>/rules")
@tenant_view(write=True)
def save_rules(tenant: Tenant):
    """Save a draft after validating it against RULES.md; errors name the line and path and keep the text."""
    text = request.form.get("body", "")
    try:
        body = stored_body(text)  # held to the limits as typed and as stored
        validate_rules(body)  # what is stored is what the pipeline will load
    except RulesError as exc:
        return _rules_page(tenant, text, located_issues(text, exc.issues)), 400
    row = save_draft(g.db, tenant.id, body, g.user.email)
    flash(f"Saved draft version {row.version}.", "info")
    return redirect(url_for("console.rules", tenant_id=tenant.id)), 303


def stored_body(text: str) -> Any:
    """The document as the admin wrote it, within the rule-set limits (RulesError past them).

    JSON-safe: YAML dates become text, which the loader reads back.
    """
    return read_rules_text(text)


def _rules_page(tenant: Tenant, text: str, errors: list[dict]):
    versions = g.db.scalars(RuleSetVersion.for_tenant(tenant.id).order_by(RuleSetVersion.version.desc())).all()
    return render_template("console/rules.html", tenant=tenant, role=g.role, versions=versions, draft=text,
                           errors=errors, listing=numbered(text, errors) if errors else [])


@console_bp.post("/tenants/<int:tenant_id>/rules/<int:version>/publish")
@tenant_view(write=True)
def publish_rules(tenant: Tenant, version: int):
    target = get_version(g.db, tenant.id, version)
    if target is None:
        flash(f"No version {version}.", "error")
        return redirect(url_for("console.rules", tenant_id=tenant.id)), 303
    # Going live changes who gets every new lead: only after the admin saw the diff and the simulation's result
    # on the confirmation page (a button elsewhere that posts here lands there first).
    if request.form.get("confirm") != "yes":
        flash(f"Check what version {version} changes, then confirm to go live.", "info")
        return back_to_confirm(tenant.id, version, request.form.get("next"))
    if blocked := not_publishable(target):
        flash(f"Version {version} cannot go live yet: {blocked}", "error")
        return back_to_confirm(tenant.id, version, request.form.get("next"))
    publish(g.db, target)
    flash(f"Version {version} is live.", "info")
    return redirect(safe_local_path(request.form.get("next"), "/console/")
                    or url_for("console.rules", tenant_id=tenant.id)), 303


@console_bp.get("/tenants/<int:tenant_id>/members")
@tenant_view()
def members(tenant: Tenant):
    """Members live on the settings page now; this address keeps working for bookmarks and old links."""
    return settings_page(tenant)


def _members_url(tenant: Tenant) -> str:
    return url_for("console_settings.settings", tenant_id=tenant.id) + "#members"


@console_bp.post("/tenants/<int:tenant_id>/members")
@tenant_view(write=True)
def add_member(tenant: Tenant):
    """Invite an email with a role: nobody gets access until the invitation is accepted (see invitations.py)."""
    _own_admin(tenant)
    email = (request.form.get("email") or "").strip().lower()
    role = request.form.get("role", VIEWER)
    if role not in (ADMIN, VIEWER):
        flash("Role must be admin or viewer.", "error")
        return redirect(_members_url(tenant)), 303
    if not EMAIL.fullmatch(email):
        flash("Enter the email address of the person to invite.", "error")
        return redirect(_members_url(tenant)), 303
    token = create_invitation(g.db, g.user, email, role, tenant=tenant)
    link = url_for("invitations.show", token=token, _external=True)
    return settings_page(tenant, invite_link=link, invited_email=email, invited_role=role)


@console_bp.post("/tenants/<int:tenant_id>/members/<int:membership_id>")
@tenant_view(write=True)
def change_member(tenant: Tenant, membership_id: int):
    """Change a member's role or remove their access; the last admin of a tenant stays."""
    _own_admin(tenant)
    membership = Membership.get_for_tenant(g.db, membership_id, tenant.id)
    if membership is None:
        abort(404)
    wanted = request.form.get("role", "")
    if wanted not in (ADMIN, VIEWER, "remove"):
        abort(400, description="role must be admin, viewer or remove")
    admins = g.db.scalar(select(func.count()).select_from(Membership).where(Membership.tenant_id == tenant.id,
                                                                            Membership.role == ADMIN))
    if membership.role == ADMIN and wanted != ADMIN and admins <= 1:
        flash("This is the account's only admin: make someone else admin first.", "error")
        return redirect(_members_url(tenant)), 303
    member = g.db.get(ConsoleUser, membership.user_id)
    who = member.email or member.name if member else str(membership.user_id)
    if wanted == "remove":
        g.db.delete(membership)
    else:
        membership.role = wanted
    audit(g.db, tenant.id, f"member-{wanted}" if wanted == "remove" else "member-role",
          f"{g.user.email or g.user.name} {'removed ' + who if wanted == 'remove' else f'made {who} {wanted}'}", who)
    flash(f"{who}: {'access removed' if wanted == 'remove' else 'now ' + wanted}.", "success")
    return redirect(_members_url(tenant)), 303


@console_bp.get("/tenants/<int:tenant_id>/invitations/revoke")
@tenant_view()
def confirm_revoke_invitation(tenant: Tenant):
    """What revoking an invitation does, before it is done (the invitation named by ?invitation_id=)."""
    invitation = _pending_invitation(tenant, request.args.get("invitation_id"))
    if invitation is None:
        flash("That invitation is no longer pending: it was accepted, revoked or has expired.", "info")
        return settings_page(tenant)
    return render_template("console/confirm.html", title=f"Revoke the invitation of {invitation.email}?",
                           lines=[f"The link sent to {invitation.email} stops working at once, and signing in "
                                  f"through {tenant.name} with that email no longer gives them {invitation.role} "
                                  "access.", "You can invite them again later."],
                           action=url_for("console.revoke_invitation", tenant_id=tenant.id,
                                          invitation_id=invitation.id),
                           fields={}, button="Revoke the invitation", danger=True, cancel=_members_url(tenant),
                           allowed=member_role(g.db, g.user, tenant) == ADMIN,
                           refused="Only an admin of this account itself (not of its agency) can revoke invitations.",
                           tenant=tenant)


def _pending_invitation(tenant: Tenant, invitation_id: object) -> Invitation | None:
    try:
        number = int(str(invitation_id))
    except ValueError:
        return None
    invitation = g.db.scalar(select(Invitation).where(Invitation.id == number, Invitation.tenant_id == tenant.id))
    return invitation if invitation is not None and invitation.open(utcnow()) else None


@console_bp.post("/tenants/<int:tenant_id>/invitations/<int:invitation_id>/revoke")
@tenant_view(write=True)
def revoke_invitation(tenant: Tenant, invitation_id: int):
    _own_admin(tenant)
    invitation = g.db.scalar(select(Invitation).where(Invitation.id == invitation_id,
                                                      Invitation.tenant_id == tenant.id))
    if invitation is None:
        abort(404)
    if invitation.accepted_at is None and invitation.revoked_at is None:
        invitation.revoked_at = utcnow()
        audit(g.db, tenant.id, "invitation-revoked", f"{g.user.email or g.user.name} revoked the invitation of "
              f"{invitation.email}", invitation.email)
    flash(f"The invitation of {invitation.email} is revoked.", "success")
    return redirect(_members_url(tenant)), 303


@console_bp.post("/tenants/<int:tenant_id>/agency")
@tenant_view(write=True)
def join_agency(tenant: Tenant):
    """A tenant's own admin lets an agency manage it, as admin or viewer (what the agency's team may do here)."""
    _own_admin(tenant)
    grant = request.form.get("grant", ADMIN)
    if grant not in (ADMIN, VIEWER):
        abort(400, description="grant must be admin or viewer")
    code = request.form.get("code", "")
    refusal = invite_refusal(g.db, code)
    if refusal is None and link_with_invite(g.db, tenant, code, grant, by=g.user):
        flash(f"This account is now managed by the agency {tenant.agency.name if tenant.agency else ''} (its team "
              f"may act here as {grant} at most).", "success")
    else:
        flash(refusal or "That invite code cannot be used.", "error")
    return redirect(url_for("console_settings.settings", tenant_id=tenant.id) + "#agency"), 303


@console_bp.post("/tenants/<int:tenant_id>/agency/grant")
@tenant_view(write=True)
def agency_grant(tenant: Tenant):
    """The tenant's own admin changes what its agency may do here, or unlinks it ("none")."""
    _own_admin(tenant)
    grant = request.form.get("grant", "")
    if grant not in (ADMIN, VIEWER, "none") or tenant.agency_id is None:
        abort(400, description="grant must be admin, viewer or none, for an account managed by an agency")
    name = tenant.agency.name if tenant.agency else ""
    if grant == "none":
        tenant.agency_id, tenant.agency_grant = None, None
    else:
        tenant.agency_grant = grant
    audit(g.db, tenant.id, "agency-grant", f"{g.user.email or g.user.name} set the agency {name}'s access to {grant}",
          "agency", grant=grant)
    flash(f"The agency {name} now has {'no access' if grant == 'none' else grant + ' access'} here.", "success")
    return redirect(url_for("console_settings.settings", tenant_id=tenant.id) + "#agency"), 303


def _own_admin(tenant: Tenant) -> None:
    """Only the tenant's own admins (not its agency's) grant roles on it and decide which agency manages it."""
    if member_role(g.db, g.user, tenant) != ADMIN:
        abort(403, description="only an admin of this account itself (not of its agency) can change who has access")
