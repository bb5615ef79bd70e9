"""`leadrelay tenants`: what is installed, in which state."""
from __future__ import annotations

import argparse
import sys

from sqlalchemy import func, select

from integration.config import Settings
from integration.db import migrate, session_scope
from integration.models import EventRecord, ReviewItem, Tenant


def run_tenants(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    migrate(settings.database_url)
    with session_scope(settings.database_url) as session:
        if args.action == "show":
            return _show(session, args.tenant_id)
        tenants = session.scalars(select(Tenant).order_by(Tenant.id)).all()
        if not tenants:
            print("no tenants yet: install LeadRelay from a CRM (see `make demo`)")
            return 0
        print(f"{'id':>4}  {'platform':<10} {'account':<20} {'status':<16} name")
        for t in tenants:
            print(f"{t.id:>4}  {t.platform:<10} {t.external_id:<20} {t.status:<16} {t.name}")
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
