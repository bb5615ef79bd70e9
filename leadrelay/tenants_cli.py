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


def _list(session, as_json: bool) -> int:
    rows = _rows(session)
    if as_json:
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
        return _list(session, getattr(args, "json", False))
