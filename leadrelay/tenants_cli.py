"""`leadrelay tenants`: what is installed, in which state; disconnect one."""
from __future__ import annotations

import argparse
import json
import sys

from sqlalchemy import func, select

from integration.config import Settings
from integration.db import migrate, session_scope
from integration.models import Agency, Credential, EventRecord, ReviewItem, Tenant


def _rows(session) -> list[dict]:
    last_event = (select(EventRecord.tenant_id, func.max(EventRecord.received_at).label("last"))
                  .group_by(EventRecord.tenant_id).subquery())
    query = (select(Tenant, Agency.name, Credential.expires_at, last_event.c.last)
             .outerjoin(Agency, Agency.id == Tenant.agency_id)
             .outerjoin(Credential, Credential.tenant_id == Tenant.id)
             .outerjoin(last_event, last_event.c.tenant_id == Tenant.id)
             .order_by(Tenant.id))
    return [{"id": t.id, "platform": t.platform, "account_id": t.external_id, "name": t.name, "status": t.status,
             "agency": agency, "token_expires_at": expires.isoformat() if expires else None,
             "last_event_at": last.isoformat() if hasattr(last, "isoformat") else last}
            for t, agency, expires, last in session.execute(query)]


def _intake(session, settings: Settings, rows: list[dict]) -> None:
    """Each tenant's `intake_url` (its key made if it has none yet, as the settings page would); where it cannot be
    given, null and `intake_url_note` saying why, never an address made up."""
    from marketplace import intake_keys
    from oauth.crypto import EncryptionKeyError

    for row in rows:
        row["intake_url"], note = None, None
        if row["status"] == "uninstalled":
            note = "disconnected: the account takes no submissions"
        elif (key := intake_keys.ensure_key(session, row["id"])) is None:
            note = "the intake key was revoked; an admin makes a new one on the account's settings page"
        else:
            try:
                path = intake_keys.intake_url("", intake_keys.reveal(key).key)
            except EncryptionKeyError:
                note = ("the intake key cannot be decrypted with this process's LEADRELAY_ENCRYPTION_KEYS (or "
                        "var/encryption_key): run it with the web app's")
            else:
                if settings.public_url:
                    row["intake_url"] = settings.public_url + path
                else:
                    row["intake_path"] = path
                    note = "LEADRELAY_PUBLIC_URL is unset: prefix intake_path with the address the app is reached at"
        if note:
            row["intake_url_note"] = note


def _list(session, as_json: bool, settings: Settings | None = None) -> int:
    rows = _rows(session)
    if as_json:
        _intake(session, settings or Settings.from_env(), rows)
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print("no tenants yet: install LeadRelay from a CRM (see `make demo`)")
        return 0
    print(f"{'id':>4}  {'platform':<10} {'account':<20} {'status':<16} {'agency':<16} {'token expires':<20} "
          f"{'last event':<20} name")
    for r in rows:
        print(f"{r['id']:>4}  {r['platform']:<10} {r['account_id']:<20} {r['status']:<16} {r['agency'] or '-':<16} "
              f"{(r['token_expires_at'] or '-')[:19]:<20} {(r['last_event_at'] or '-')[:19]:<20} {r['name']}")
    return 0


def _show(session, tenant_id: int) -> int:
    tenant = session.get(Tenant, tenant_id)
    if tenant is None:
        print(f"no tenant {tenant_id}; `leadrelay tenants list` shows the ids", file=sys.stderr)
        return 1
    events = session.scalar(select(func.count()).select_from(EventRecord).where(EventRecord.tenant_id == tenant.id))
    review = session.scalar(select(func.count()).select_from(ReviewItem)
                            .where(ReviewItem.tenant_id == tenant.id, ReviewItem.status == "open"))
    for label, value in (("id", tenant.id), ("platform", tenant.platform), ("account", tenant.external_id),
                         ("name", tenant.name), ("status", tenant.status), ("api base", tenant.api_base),
                         ("installed", tenant.installed_at.isoformat()), ("events", events),
                         ("open review items", review)):
        print(f"{label:>18}: {value}")
    return 0


def _disconnect(session, tenant_id: int) -> int:
    from oauth.disconnect import disconnect

    tenant = session.get(Tenant, tenant_id)
    if tenant is None:
        print(f"no tenant {tenant_id}; `leadrelay tenants list` shows the ids", file=sys.stderr)
        return 1
    note = disconnect(session, tenant, "the operator (leadrelay tenants disconnect)")
    print(f"tenant {tenant_id} ({tenant.platform} {tenant.external_id}) disconnected: {note}; "
          "its data is erased by a worker (`leadrelay worker`)")
    return 0


def run_tenants(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    migrate(settings.database_url)
    with session_scope(settings.database_url) as session:
        if args.action == "show":
            return _show(session, args.tenant_id)
        if args.action == "disconnect":
            from integration.embedded_redis import ensure_redis_url

            ensure_redis_url(settings)
            return _disconnect(session, args.tenant_id)
        return _list(session, getattr(args, "json", False), settings)
