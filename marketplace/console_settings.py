"""A tenant's settings page (connection, members, agency, webhooks, sweep, danger zone) and "Your profile".

Everything about who may do what stays in console.py's routes (members, invitations, agency, disconnect); this
page shows them together and adds the settings that are the tenant's own: how often the safety sweep runs.
"""
from __future__ import annotations

import json
import logging
import time

from flask import Blueprint, abort, current_app, flash, g, redirect, render_template, request, url_for
from sqlalchemy import func, select

from adapters.hubspot.errors import MissingScopes
from adapters.registry import get_adapter_class
from adapters.senders import build_sender
from adapters.senders import settings as sender_settings
from adapters.senders.limits import take_test_send
from adapters.subscriptions import webhook_url
from integration.admin.health import WEBHOOK_SOURCES_NOT
from integration.config import ConfigError, get_settings
from integration.crm.wiring import NotWired, adapter_for
from integration.errors import LeadRelayError
from integration.intake.calibration import calibrate_now
from integration.intake.submissions import INBOX_LEAD_SETTING
from integration.intake.sweep import SWEEP_INTERVALS, SWEEP_SETTING, interval_seconds
from integration.models import (
    ConsoleIdentity,
    ConsoleUser,
    Credential,
    Decision,
    DedupCalibration,
    DedupKey,
    EventRecord,
    IntakeSubmission,
    Membership,
    ReviewItem,
    SweepCursor,
    Tenant,
    TenantStatus,
    WebhookKey,
)
from integration.outreach.senders import Outgoing, SenderNotConfigured, SendFailed, SendRefused
from integration.queues import redis_connection
from marketplace import intake_keys
from marketplace.access import ADMIN, member_role, require_login, tenant_view
from marketplace.invitations import INVITE_TTL, audit, pending
from oauth.crypto import EncryptionKeyError, TokenCipher
from oauth.registry import PLATFORMS, crm_title

log = logging.getLogger("leadrelay.console.settings")
settings_bp = Blueprint("console_settings", __name__, url_prefix="/console")

STATUS_BADGE = {TenantStatus.ACTIVE: ("Connected", "ok"), TenantStatus.REAUTH_REQUIRED: ("Needs reconnect", "bad"),
                TenantStatus.PAUSED: ("Paused", "warn"), TenantStatus.UNINSTALLED: ("Disconnected", "muted")}


def interval_words(seconds: int) -> str:
    minutes = seconds // 60
    if minutes < 60:
        return "every minute" if minutes == 1 else f"every {minutes} minutes"
    return "every hour" if minutes == 60 else f"every {minutes // 60} hours"


def _connection(tenant: Tenant) -> dict:
    credential = g.db.scalar(select(Credential).where(Credential.tenant_id == tenant.id))
    label, tone = STATUS_BADGE.get(tenant.status, (tenant.status.replace("_", " "), "muted"))
    gone = tenant.status == TenantStatus.UNINSTALLED
    if tenant.status == TenantStatus.REAUTH_REQUIRED or (credential is None and not gone):
        token = ("Needs reconnect", "bad")
    elif credential is None:
        token = ("Erased", "muted")
    else:
        token = ("Valid", "ok")
    return {"status": label, "tone": tone, "token": token[0], "token_tone": token[1],
            "reason": (tenant.settings or {}).get("reauth_reason"), "installed_by": (tenant.settings or {}).get(
                "installed_by")}


def _webhooks(tenant: Tenant, show_secret: bool) -> dict:
    """What the admin pastes into the CRM (Salesforce), or the state of the subscriptions made by API."""
    last = g.db.scalar(select(func.max(EventRecord.received_at)).where(
        EventRecord.tenant_id == tenant.id, EventRecord.source.not_in(WEBHOOK_SOURCES_NOT)))
    if tenant.platform != "salesforce":
        ids = (tenant.settings or {}).get("webhook_subscriptions")
        return {"managed": True, "subscriptions": ids, "last": last}
    row = g.db.scalar(select(WebhookKey).where(WebhookKey.tenant_id == tenant.id))
    if row is None or row.secret_enc is None:
        return {"managed": False, "url": None, "last": last}
    if not show_secret:
        return {"managed": False, "url": None, "hidden": True, "last": last}
    try:
        secret = TokenCipher.from_settings().decrypt(row.secret_enc)
        base = current_app.config.get("PUBLIC_URL") or request.host_url.rstrip("/")
        url = webhook_url("salesforce", row.key, secret, request_url=base)
    except (EncryptionKeyError, ConfigError):
        return {"managed": False, "url": None, "last": last}
    return {"managed": False, "url": url, "last": last}


def _public_base() -> str:
    return current_app.config.get("PUBLIC_URL") or request.host_url.rstrip("/")


def _intake(tenant: Tenant, admin: bool) -> dict:
    """The intake card: the form address, today's figures; for admins the key, its secret and the snippet."""
    counts = intake_keys.counts_today(g.db, tenant.id)
    if tenant.status == TenantStatus.UNINSTALLED:
        return {"state": "disconnected", "counts": counts}
    # made on first sight (an admin's or a viewer's): every connected account has a form address
    row = intake_keys.ensure_key(g.db, tenant.id)
    if row is None:
        return {"state": "revoked", "counts": counts}
    info = {"state": "active", "counts": counts, "since": row.created_at, "origins": row.allowed_origins or [],
            "aliases": intake_keys.aliases_text(row.field_aliases or {})}
    if not admin:
        return info
    try:
        revealed = intake_keys.reveal(row)
    except EncryptionKeyError:
        return {**info, "state": "undecryptable"}
    url = intake_keys.intake_url(_public_base(), revealed.key)
    return {**info, "url": url, "secret": revealed.secret, "snippet": intake_snippet(url, revealed.secret),
            "curl": curl_example(url)}


def intake_snippet(url: str, secret: str) -> str:
    """A plain HTML form that posts to the intake URL: works without JavaScript; the inline script adds the page's
    UTM parameters, referrer and address, and a fresh signed display time (the minimum fill time counts from it)."""
    stamp_url = url.rsplit("/submissions", 1)[0] + "/form-stamp"
    stamp = intake_keys.sign_stamp(secret, int(time.time()))
    hidden = "".join(f'\n  <input type="hidden" name="{name}">' for name in (
        "utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content", "referrer", "page_url"))
    return f"""<form method="post" action="{url}" id="leadrelay-form">
  <label>Name <input name="name" autocomplete="name"></label>
  <label>Email <input type="email" name="email" autocomplete="email"></label>
  <label>Phone <input type="tel" name="phone" autocomplete="tel"></label>
  <label>Company <input name="company" autocomplete="organization"></label>
  <label>Message <textarea name="message"></textarea></label>
  <div style="position:absolute;left:-10000px" aria-hidden="true"><label>Leave this empty
    <input name="{intake_keys.HONEYPOT}" tabindex="-1" autocomplete="off"></label></div>
  <input type="hidden" name="{intake_keys.STAMP}" value="{stamp}">{hidden}
  <button type="submit">Send</button>
</form>
<script>
(function () {{
  var f = document.getElementById("leadrelay-form"), q = new URLSearchParams(location.search);
  ["utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content"].forEach(function (n) {{
    if (q.get(n)) f.elements[n].value = q.get(n);
  }});
  f.elements.referrer.value = document.referrer;
  f.elements.page_url.value = location.href;
  fetch("{stamp_url}").then(function (r) {{ return r.json(); }})
    .then(function (d) {{ if (d.lr_ts) f.elements.lr_ts.value = d.lr_ts; }}).catch(function () {{}});
}})();
</script>"""


def curl_example(url: str) -> str:
    """A signed server-to-server post, the secret read from an environment variable (never typed into a shell)."""
    return f"""body='{{"email":"ada@example.com","first_name":"Ada","last_name":"Lovelace","source":"api"}}'
t=$(date +%s)
sig=$(printf '%s.%s' "$t" "$body" | openssl dgst -sha256 -hmac "$LEADRELAY_INTAKE_SECRET" | sed 's/^.* //')
curl -sS -X POST '{url}' \\
  -H 'Content-Type: application/json' \\
  -H "Idempotency-Key: $(uuidgen)" \\
  -H "X-LeadRelay-Signature: t=$t,v1=$sig" \\
  --data "$body\""""


def erase_counts(tenant: Tenant) -> dict[str, int]:
    """What a disconnect erases here, counted now (the erasure job records the exact numbers it removed)."""
    def count(model) -> int:
        return g.db.scalar(select(func.count()).select_from(model).where(model.tenant_id == tenant.id)) or 0

    return {"events": count(EventRecord), "decisions": count(Decision), "review_items": count(ReviewItem),
            "dedup_keys": count(DedupKey), "credentials": count(Credential),
            "submissions": count(IntakeSubmission)}


def settings_page(tenant: Tenant, status: int = 200, **extra):
    """The settings page; `extra` carries a just-created invitation link (shown once) into the members card."""
    own_admin = member_role(g.db, g.user, tenant) == ADMIN
    rows = g.db.execute(select(Membership, ConsoleUser).join(ConsoleUser, ConsoleUser.id == Membership.user_id)
                        .where(Membership.tenant_id == tenant.id)
                        .order_by(func.lower(ConsoleUser.name), ConsoleUser.email)).all()
    swept = g.db.scalar(select(func.max(SweepCursor.swept_at)).where(SweepCursor.tenant_id == tenant.id))
    current = interval_seconds(tenant.id)
    return render_template(
        "console/settings.html", tenant=tenant, role=g.role, own_admin=own_admin, rows=rows,
        invitations=pending(g.db, tenant_id=tenant.id), ttl_days=INVITE_TTL.days, connection=_connection(tenant),
        webhooks=_webhooks(tenant, show_secret=g.role == ADMIN), platform_title=crm_title(tenant.platform),
        intervals=[(s, interval_words(s)) for s in SWEEP_INTERVALS], sweep_current=current,
        sweep_words=interval_words(current), swept_at=swept, counts=erase_counts(tenant),
        intake=_intake(tenant, admin=g.role == ADMIN), known_fields=intake_keys.KNOWN_FIELDS,
        inbox_leads=get_adapter_class(tenant.platform).INBOX_LEADS,
        inbox_lead=bool((tenant.settings or {}).get(INBOX_LEAD_SETTING)),
        calibration=g.db.scalar(select(DedupCalibration).where(DedupCalibration.tenant_id == tenant.id)),
        senders=_senders(tenant, admin=g.role == ADMIN), **extra), status


@settings_bp.get("/tenants/<int:tenant_id>/settings")
@tenant_view()
def settings(tenant: Tenant):
    return settings_page(tenant)


@settings_bp.post("/tenants/<int:tenant_id>/settings/sweep")
@tenant_view(write=True)
def sweep_interval(tenant: Tenant):
    """Change how often the safety sweep asks the CRM for leads whose webhook never came; audited."""
    try:
        seconds = int(request.form.get("sweep_interval_seconds", ""))
    except ValueError:
        seconds = 0
    if seconds not in SWEEP_INTERVALS:
        flash("Pick one of the listed sweep intervals.", "error")
        return redirect(url_for("console_settings.settings", tenant_id=tenant.id) + "#sweep"), 303
    before = interval_seconds(tenant.id)
    Tenant.merge_settings(g.db, tenant.id, {SWEEP_SETTING: seconds})
    if before != seconds:
        audit(g.db, tenant.id, "sweep-interval", f"{g.user.email or g.user.name} set the safety sweep to run "
              f"{interval_words(seconds)} (was {interval_words(before)})", "settings", before=before, after=seconds)
    flash(f"The safety sweep now runs {interval_words(seconds)}, from its next run on.", "success")
    return redirect(url_for("console_settings.settings", tenant_id=tenant.id) + "#sweep"), 303


def _by() -> str:
    return g.user.email or g.user.name


def _back_to_intake(tenant: Tenant):
    return redirect(url_for("console_settings.settings", tenant_id=tenant.id) + "#intake"), 303


# The confirmations are readable by viewers, like every console page; only an admin gets the button.
VIEWER_REFUSED = "Only an admin of this account can change its intake key."


@settings_bp.get("/tenants/<int:tenant_id>/settings/intake/rotate")
@tenant_view()
def confirm_rotate_intake(tenant: Tenant):
    """Exactly what a new key does to the forms that post with the current one."""
    current = intake_keys.active_key(g.db, tenant.id)
    lines = ["A new form address and a new signing secret are made; the allowed origins and field aliases stay.",
             "The current address stops working at once: every form and server still posting to it gets "
             "401 until you paste the new address (or the new snippet) into it.",
             "Submissions already received are kept and processed as usual."] if current else [
             "A new form address and signing secret are made; forms can post to it at once."]
    return render_template("console/confirm.html", title="Make a new intake key?" if current
                           else "Make an intake key?", lines=lines, danger=current is not None,
                           action=url_for("console_settings.rotate_intake", tenant_id=tenant.id), fields={},
                           button="Make a new key, stop the old one" if current else "Make a key",
                           allowed=g.role == ADMIN, refused=VIEWER_REFUSED,
                           cancel=url_for("console_settings.settings", tenant_id=tenant.id) + "#intake")


@settings_bp.post("/tenants/<int:tenant_id>/settings/intake/rotate")
@tenant_view(write=True)
def rotate_intake(tenant: Tenant):
    if tenant.status == TenantStatus.UNINSTALLED:
        flash("Reconnect the account first: a disconnected account takes no submissions.", "error")
        return _back_to_intake(tenant)
    replaced = intake_keys.active_key(g.db, tenant.id) is not None
    intake_keys.rotate(g.db, tenant.id, _by())
    flash("A new intake key is ready; the old address no longer works. Paste the new address or snippet into your "
          "forms." if replaced else "An intake key is ready: paste its address or snippet into your forms.",
          "success")
    return _back_to_intake(tenant)


@settings_bp.get("/tenants/<int:tenant_id>/settings/intake/revoke")
@tenant_view()
def confirm_revoke_intake(tenant: Tenant):
    return render_template(
        "console/confirm.html", title="Revoke the intake key?", danger=True,
        lines=["Every form and server posting to the current address gets 401 from now on; nothing they send is "
               "kept.", "No new key is made: forms stay switched off until an admin makes one on this page.",
               "Submissions already received are kept and processed as usual."],
        action=url_for("console_settings.revoke_intake", tenant_id=tenant.id), fields={},
        button="Revoke the key", allowed=g.role == ADMIN, refused=VIEWER_REFUSED,
        cancel=url_for("console_settings.settings", tenant_id=tenant.id) + "#intake")


@settings_bp.post("/tenants/<int:tenant_id>/settings/intake/revoke")
@tenant_view(write=True)
def revoke_intake(tenant: Tenant):
    if intake_keys.revoke(g.db, tenant.id, _by()):
        flash("The intake key is revoked: forms posting to it are refused.", "success")
    else:
        flash("There was no working intake key to revoke.", "info")
    return _back_to_intake(tenant)


@settings_bp.post("/tenants/<int:tenant_id>/settings/intake/options")
@tenant_view(write=True)
def intake_options(tenant: Tenant):
    """Allowed origins (CORS) and field aliases; refused whole, with each problem named, when one is wrong."""
    row = intake_keys.active_key(g.db, tenant.id)
    if row is None:
        flash("Make an intake key first.", "error")
        return _back_to_intake(tenant)
    origins, origin_problems = intake_keys.parse_origins(request.form.get("allowed_origins", "")[:20_000])
    aliases, alias_problems = intake_keys.parse_aliases(request.form.get("field_aliases", "")[:20_000])
    if origin_problems or alias_problems:
        return settings_page(tenant, status=400, intake_errors={"origins": origin_problems, "aliases": alias_problems},
                             intake_form={"origins": request.form.get("allowed_origins", "")[:20_000],
                                          "aliases": request.form.get("field_aliases", "")[:20_000]})
    changed = intake_keys.set_options(g.db, row, origins, aliases, _by())
    flash("Intake settings saved." if changed else "Nothing changed.", "success" if changed else "info")
    return _back_to_intake(tenant)


@settings_bp.post("/tenants/<int:tenant_id>/settings/intake/inbox-lead")
@tenant_view(write=True)
def intake_inbox_lead(tenant: Tenant):
    """Whether each new web-form person also gets a lead in the CRM's leads inbox (Pipedrive); audited."""
    if not get_adapter_class(tenant.platform).INBOX_LEADS:
        flash(f"{crm_title(tenant.platform)} keeps no leads inbox apart from its own leads: there is nothing to "
              "switch on.", "info")
        return _back_to_intake(tenant)
    wanted = request.form.get("inbox_lead") == "on"
    before = bool((tenant.settings or {}).get(INBOX_LEAD_SETTING))
    Tenant.merge_settings(g.db, tenant.id, {INBOX_LEAD_SETTING: wanted})
    if before != wanted:
        audit(g.db, tenant.id, "intake-inbox-lead", f"{_by()} {'switched on' if wanted else 'switched off'} a lead "
              f"in the leads inbox for each new web-form person", "settings", before=before, after=wanted)
    flash("Each new web-form person now also gets a lead in the Leads Inbox." if wanted else
          "New web-form people no longer get a lead in the Leads Inbox (the person is created as before).",
          "success")
    return _back_to_intake(tenant)


@settings_bp.post("/tenants/<int:tenant_id>/settings/dedup/recalibrate")
@tenant_view(write=True)
def recalibrate(tenant: Tenant):
    """Tune duplicate matching to the account's records now instead of at the weekly run; audited."""
    if tenant.status != TenantStatus.ACTIVE:
        flash("Reconnect the account first: its records can't be read now.", "error")
    else:
        calibrate_now(tenant.id)
        audit(g.db, tenant.id, "dedup-recalibrate", f"{_by()} asked to tune duplicate matching to the account's "
              "records", "settings")
        flash("Reading the account's records in the background; this card shows the result when it is done.",
              "success")
    return redirect(url_for("console_settings.settings", tenant_id=tenant.id) + "#dedup"), 303


@settings_bp.get("/tenants/<int:tenant_id>/disconnect")
@tenant_view()
def confirm_disconnect(tenant: Tenant):
    """Exactly what disconnecting erases and what it leaves, and the account name to type to go ahead."""
    return disconnect_page(tenant)


def disconnect_page(tenant: Tenant, error: str = "", status: int = 200):
    return render_template("console/disconnect_confirm.html", tenant=tenant, role=g.role, counts=erase_counts(tenant),
                           platform_title=crm_title(tenant.platform), error=error), status


# "Your profile": the sign-ins (CRM identities) that open this console login ---------------------------------

def identities_of(user: ConsoleUser) -> list[dict]:
    """The user's first identity (on the user row) and the ones linked since, as the page lists them."""
    found = [{"id": 0, "platform": user.platform, "account": user.external_account_id,
              "crm_user": user.external_user_id, "email": user.email, "since": user.created_at, "primary": True}]
    for row in g.db.scalars(select(ConsoleIdentity).where(ConsoleIdentity.user_id == user.id)
                            .order_by(ConsoleIdentity.created_at, ConsoleIdentity.id)).all():
        found.append({"id": row.id, "platform": row.platform, "account": row.external_account_id,
                      "crm_user": row.external_user_id, "email": row.email, "since": row.created_at,
                      "primary": False})
    names = _account_names({(i["platform"], i["account"]) for i in found})
    for identity in found:
        identity["account_name"] = names.get((identity["platform"], identity["account"]))
        identity["title"] = crm_title(identity["platform"])
    return found


def _account_names(keys: set[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """Names of the installed CRM accounts among `keys` (an account LeadRelay is not installed in has none)."""
    if not keys:
        return {}
    rows = g.db.execute(select(Tenant.platform, Tenant.external_id, Tenant.name)
                        .where(Tenant.external_id.in_([k[1] for k in keys]))).all()
    return {(p, e): n for p, e, n in rows if (p, e) in keys}


@settings_bp.get("/me")
@require_login
def me():
    return render_template("console/me.html", identities=identities_of(g.user), platforms=PLATFORMS)


def _identity_arg(value: object) -> dict | None:
    identities = identities_of(g.user)
    try:
        wanted = int(str(value))
    except ValueError:
        return None
    return next((i for i in identities if i["id"] == wanted), None)


@settings_bp.get("/me/identities/unlink")
@require_login
def confirm_unlink():
    identity = _identity_arg(request.args.get("identity"))
    if identity is None or len(identities_of(g.user)) < 2:
        flash("Pick a sign-in to unlink; your only sign-in cannot be unlinked.", "error")
        return redirect(url_for("console_settings.me")), 303
    where = identity["account_name"] or f"account {identity['account']}"
    return render_template("console/confirm.html", title=f"Unlink your {identity['title']} sign-in?",
                           lines=[f"Signing in with {identity['title']} as {identity['email'] or 'this user'} "
                                  f"({where}) will no longer open this LeadRelay login.",
                                  "If you sign in that way again, LeadRelay treats it as a new person with no "
                                  "access until someone invites them. Your other sign-ins and all your access "
                                  "stay as they are."],
                           action=url_for("console_settings.unlink"), fields={"identity": identity["id"]},
                           button=f"Unlink the {identity['title']} sign-in", danger=True,
                           cancel=url_for("console_settings.me"))


@settings_bp.post("/me/identities/unlink")
@require_login
def unlink():
    """Detach one of the user's CRM identities (never the last); audited on every account the user is a member of."""
    user = g.user
    identity = _identity_arg(request.form.get("identity"))
    if identity is None or len(identities_of(user)) < 2:
        flash("Pick a sign-in to unlink; your only sign-in cannot be unlinked.", "error")
        return redirect(url_for("console_settings.me")), 303
    if identity["primary"]:
        # the user row carries the first identity: the oldest linked one takes its place
        successor = g.db.scalar(select(ConsoleIdentity).where(ConsoleIdentity.user_id == user.id)
                                .order_by(ConsoleIdentity.created_at, ConsoleIdentity.id).limit(1))
        if successor is None:
            abort(409)
        g.db.delete(successor)
        g.db.flush()
        user.platform, user.external_account_id = successor.platform, successor.external_account_id
        user.external_user_id = successor.external_user_id
    else:
        row = g.db.get(ConsoleIdentity, identity["id"])
        if row is None or row.user_id != user.id:
            abort(404)
        g.db.delete(row)
    for tenant_id in g.db.scalars(select(Membership.tenant_id).where(Membership.user_id == user.id)).all():
        audit(g.db, tenant_id, "identity-unlinked", f"{user.email or user.name} unlinked their "
              f"{identity['title']} sign-in ({identity['email'] or identity['crm_user']}) from their LeadRelay "
              "login", user.email or str(user.id), platform=identity["platform"], console_user_id=user.id)
    log.info("console.identity-unlinked", extra={"platform": identity["platform"]})
    flash(f"Your {identity['title']} sign-in is unlinked.", "success")
    return redirect(url_for("console_settings.me")), 303



# -- the Senders card: the tenant's SMTP server and SMS provider (adapters.senders) --------------------------------
SENDER_TITLES = {"email": "SMTP server", "sms": "SMS provider"}


def _senders(tenant: Tenant, admin: bool) -> dict:
    """The card's content: each sender masked (no secret ever), and for admins the inbound SMS webhook URL, whose
    key is a secret of its own."""
    summary = sender_settings.sender_summary(tenant)
    inbound_key = sender_settings.sms_inbound_key(tenant)
    inbound_url = (f"{_public_base()}/webhooks/sms/{tenant.id}/{inbound_key}" if admin and inbound_key else None)
    return {**summary, "inbound_url": inbound_url, "default_smtp": bool(get_settings().smtp_url),
            "crm": _crm_sender(tenant)}


# The rules' `first_response.sender: crm` sends through the CRM itself; for HubSpot that is enrolling the contact in
# the sequence this setting names (HubSpotAdapter.send_email).
CRM_SEQUENCE_SETTING = "crm_sequence_id"
SEQUENCES_TTL = 300  # a sequence made in HubSpot shows up here within five minutes (as a new CRM user does)


def _sequences(tenant: Tenant) -> tuple[list[tuple[str, str]], str | None]:
    """The portal's sequences as (id, name), or a sentence saying why there are none to choose from."""
    if not tenant.is_processing:
        return [], (f"The {crm_title(tenant.platform)} account is {tenant.status.replace('_', ' ')}: reconnect it to "
                    "choose a sequence.")
    if g.db.scalar(select(Credential.id).where(Credential.tenant_id == tenant.id)) is None:
        return [], f"LeadRelay holds no {crm_title(tenant.platform)} token for this account: reconnect it first."
    cache = redis_connection(get_settings())
    key = f"leadrelay:sequences:{tenant.id}"
    if cached := cache.get(key):  # the page is opened often; listing costs a call per owner (HubSpot lists per user)
        return [tuple(pair) for pair in json.loads(cached)], None
    try:
        found = adapter_for(tenant.id).list_sequences()  # type: ignore[attr-defined]  # HubSpot's own, no protocol
    except MissingScopes:
        return [], ("This HubSpot portal did not grant LeadRelay the sequences scopes (automation.sequences.read and "
                    ".enrollments.write): they come with a Sales Hub or Service Hub Professional or Enterprise "
                    "subscription. Reconnect HubSpot from a portal that has one and approve them.")
    except (LeadRelayError, NotWired) as exc:
        log.warning("console.sequences-unreadable", extra={"tenant_id": tenant.id, "error": type(exc).__name__})
        return [], f"LeadRelay could not read HubSpot's sequences just now ({type(exc).__name__}); try again shortly."
    if found:
        cache.set(key, json.dumps(found), ex=SEQUENCES_TTL)
    if not found:
        return [], ("This HubSpot portal has no sequences yet: create one in HubSpot (Automation → Sequences), then "
                    "come back to choose it.")
    return found, None


def _crm_sender(tenant: Tenant) -> dict:
    """What `sender: crm` does on this tenant's CRM; for HubSpot the sequences to choose from and the chosen one."""
    kind = get_adapter_class(tenant.platform).EMAIL_SENDER
    chosen = str((tenant.settings or {}).get(CRM_SEQUENCE_SETTING) or "")
    if kind != "sequence":
        return {"kind": kind, "chosen": chosen}
    sequences, problem = _sequences(tenant)
    names = dict(sequences)
    return {"kind": kind, "chosen": chosen, "chosen_name": names.get(chosen), "sequences": sequences,
            "problem": problem}


def _back_to_senders(tenant: Tenant):
    return redirect(url_for("console_settings.settings", tenant_id=tenant.id) + "#senders"), 303


def _form(name: str, limit: int = 320) -> str:
    return (request.form.get(name) or "")[:limit].strip()


@settings_bp.post("/tenants/<int:tenant_id>/settings/senders/smtp")
@tenant_view(write=True)
def save_smtp(tenant: Tenant):
    """Keep the tenant's SMTP server; a blank password keeps the stored one; audited without the password."""
    before = sender_settings.sender_summary(tenant)["smtp"]
    try:
        after = sender_settings.save_smtp(
            g.db, tenant.id, host=_form("host"), port=_form("port", 10), security=_form("security", 20),
            username=_form("username"), password=(request.form.get("password") or "")[:512] or None,
            from_address=_form("from_address"), from_name=_form("from_name", 100))["smtp"]
    except (ValueError, EncryptionKeyError) as exc:
        return settings_page(tenant, status=400, sender_error={"email": str(exc)},
                             smtp_form={k: _form(k) for k in ("host", "port", "security", "username", "from_address",
                                                              "from_name")})
    audit(g.db, tenant.id, "sender-saved", f"{_by()} saved the SMTP server {after['host']}:{after['port']} "
          f"(sending as {after['from_address']})", "settings", channel="email", before=before, after=after)
    flash("The SMTP server is saved. Send a test to see that it takes mail.", "success")
    return _back_to_senders(tenant)


@settings_bp.post("/tenants/<int:tenant_id>/settings/senders/sms")
@tenant_view(write=True)
def save_sms(tenant: Tenant):
    """Keep the tenant's Twilio account; a blank auth token keeps the stored one; audited without it."""
    before = sender_settings.sender_summary(tenant)["sms"]
    try:
        after = sender_settings.save_sms(
            g.db, tenant.id, account_sid=_form("account_sid", 64),
            auth_token=(request.form.get("auth_token") or "")[:128].strip() or None,
            from_number=_form("from_number", 40), api_base=_form("api_base", 200) or None)["sms"]
    except (ValueError, EncryptionKeyError) as exc:
        return settings_page(tenant, status=400, sender_error={"sms": str(exc)},
                             sms_form={k: _form(k) for k in ("account_sid", "from_number", "api_base")})
    audit(g.db, tenant.id, "sender-saved", f"{_by()} saved the SMS provider account {after['account_sid']} "
          f"(sending from {after['from_number']})", "settings", channel="sms", before=before, after=after)
    flash("The SMS provider is saved. Paste the inbound webhook URL into Twilio, then send a test.", "success")
    return _back_to_senders(tenant)


@settings_bp.post("/tenants/<int:tenant_id>/settings/senders/crm-sequence")
@tenant_view(write=True)
def save_crm_sequence(tenant: Tenant):
    """Choose the HubSpot sequence `sender: crm` enrols new leads in (blank: none); only one the portal lists."""
    if get_adapter_class(tenant.platform).EMAIL_SENDER != "sequence":
        return settings_page(tenant, status=400, sender_error={
            "crm": f"{crm_title(tenant.platform)} has no sequences to choose: nothing is saved."})
    wanted = _form("sequence_id", 64)
    before = str((tenant.settings or {}).get(CRM_SEQUENCE_SETTING) or "")
    name = ""
    if wanted:
        sequences, problem = _sequences(tenant)
        name = dict(sequences).get(wanted, "")
        if not name:
            return settings_page(tenant, status=400, sender_error={
                "crm": problem or "That sequence is not one of this portal's: choose one from the list."})
    if wanted == before:
        flash("The sequence is unchanged.", "info")
        return _back_to_senders(tenant)
    Tenant.merge_settings(g.db, tenant.id, {CRM_SEQUENCE_SETTING: wanted or None})
    words = f"the HubSpot sequence \"{name}\" ({wanted})" if wanted else "no HubSpot sequence"
    audit(g.db, tenant.id, "sender-saved", f"{_by()} chose {words} for email through HubSpot", "settings",
          channel="crm", before=before or None, after=wanted or None)
    flash(f"New leads are now enrolled in \"{name}\" when a rule set's first_response uses sender: crm."
          if wanted else "No sequence is chosen: sender: crm sends no email until one is.", "success")
    return _back_to_senders(tenant)


@settings_bp.post("/tenants/<int:tenant_id>/settings/senders/<channel>/test")
@tenant_view(write=True)
def test_sender(tenant: Tenant, channel: str):
    """Send one message to the address or number the admin typed: the provider's answer, in words."""
    if channel not in SENDER_TITLES:
        abort(404)
    to = _form("to", 320)
    try:
        to = (sender_settings.check_email(to, "Test address") if channel == "email"
              else sender_settings.check_e164(to, "Test number"))
    except ValueError as exc:
        flash(str(exc), "error")
        return _back_to_senders(tenant)
    refused = take_test_send(redis_connection(get_settings()), tenant.id)
    if refused is not None:
        log.info("console.sender_test-limited", extra={"tenant_id": tenant.id, "channel": channel})
        return settings_page(tenant, status=429, sender_error={channel: refused})
    message = Outgoing(channel=channel, to=to, subject=f"LeadRelay test from {tenant.name or 'your account'}"
                       if channel == "email" else "", body="This is a test from LeadRelay's Settings page: "
                       "the sender works.", key=f"sender-test:{tenant.id}:{channel}:{time.time_ns()}")
    try:
        accepted = build_sender(tenant.id, channel).send(message)
    except SenderNotConfigured as exc:
        flash(f"Nothing was sent: {exc}.", "error")
    except SendRefused as exc:
        flash(f"The {SENDER_TITLES[channel]} refused it ({exc.reason}): {exc}", "error")
    except SendFailed as exc:
        flash(f"The {SENDER_TITLES[channel]} could not take it now: {exc}. Try again in a minute.", "error")
    except EncryptionKeyError:
        flash("The stored secret can't be decrypted with the configured keys: enter it again.", "error")
    else:
        log.info("console.sender_test", extra={"tenant_id": tenant.id, "channel": channel})
        flash(f"Sent to {to}: the {SENDER_TITLES[channel]} accepted it as {accepted.provider_id}.", "success")
    return _back_to_senders(tenant)


@settings_bp.post("/tenants/<int:tenant_id>/settings/senders/<channel>/remove")
@tenant_view(write=True)
def remove_sender(tenant: Tenant, channel: str):
    if channel not in SENDER_TITLES:
        abort(404)
    before = sender_settings.sender_summary(tenant)["smtp" if channel == "email" else "sms"]
    if sender_settings.clear_sender(g.db, tenant.id, channel):
        audit(g.db, tenant.id, "sender-removed", f"{_by()} removed the {SENDER_TITLES[channel]}", "settings",
              channel=channel, before=before)
        flash(f"The {SENDER_TITLES[channel]} is removed: no {'email' if channel == 'email' else 'text'} goes out "
              "through it.", "success")
    else:
        flash(f"There was no {SENDER_TITLES[channel]} to remove.", "info")
    return _back_to_senders(tenant)
