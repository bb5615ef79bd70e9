"""The audit log: every Decision, searchable by lead, email, owner, rule, kind and date; keyset-paginated.

Fast with 100k decisions: the tenant's rows are read newest first by primary key with a LIMIT (keyset on id),
a lead id goes through ix_decisions_tenant_object, and nothing counts or loads the whole log.
"""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

from flask import Blueprint, g, render_template, request
from sqlalchemy import Select, Text, cast, func, select

from integration.models import Decision, Tenant
from integration.records import ObjectType
from marketplace.access import tenant_view
from marketplace.params import date_arg, int_arg, text_arg

audit_bp = Blueprint("console_audit", __name__, url_prefix="/console")
PAGE = 50
KINDS = ("route", "dedup", "review", "undo", "qualify", "sla", "lifecycle")
FILTERS = ("lead", "email", "owner", "rule", "kind", "start", "end")


@dataclass(frozen=True)
class AuditQuery:
    """The search form's values (blank = no filter) and the keyset position."""

    lead: str = ""
    email: str = ""
    owner: str = ""
    rule: str = ""
    kind: str = ""
    start: dt.date | None = None
    end: dt.date | None = None
    before: int | None = None

    def params(self) -> dict[str, str]:
        """The filters as URL parameters (for the next page's link and the form)."""
        values = {name: getattr(self, name) for name in FILTERS}
        return {k: (v.isoformat() if isinstance(v, dt.date) else v) for k, v in values.items() if v}


def from_args(args) -> AuditQuery:
    """The search from the query string; a value out of range is a ParamError (400 naming the parameter)."""
    return AuditQuery(lead=text_arg(args, "lead", 64), email=text_arg(args, "email", 320),
                      owner=text_arg(args, "owner"), rule=text_arg(args, "rule"), kind=text_arg(args, "kind", 32),
                      start=date_arg(args, "start"), end=date_arg(args, "end"), before=int_arg(args, "before"))


def _like(text: str) -> str:
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.min, tzinfo=dt.UTC)


def search(tenant_id: int, q: AuditQuery, limit: int = PAGE) -> Select:
    """The SELECT for one page: the tenant's decisions matching every filter, newest first, `limit` rows."""
    stmt = select(Decision).where(Decision.tenant_id == tenant_id)
    if q.lead:
        # every object type listed, so the (tenant_id, object_type, object_id) index serves a bare lead id
        stmt = stmt.where(Decision.object_type.in_([t.value for t in ObjectType]), Decision.object_id == q.lead)
    if q.email:
        stmt = stmt.where(func.lower(cast(Decision.inputs, Text)).like(_like(q.email), escape="\\"))
    if q.owner:
        stmt = stmt.where(func.lower(Decision.outcome) == q.owner.lower())
    if q.rule:
        stmt = stmt.where(Decision.inputs["rule"].as_string() == q.rule)
    if q.kind:
        stmt = stmt.where(Decision.kind == q.kind)
    if q.start:
        stmt = stmt.where(Decision.created_at >= midnight(q.start))
    if q.end:
        stmt = stmt.where(Decision.created_at < midnight(q.end + dt.timedelta(days=1)))
    if q.before:
        stmt = stmt.where(Decision.id < q.before)
    # a lead has a handful of decisions: sort those few (id + 0 is not the primary key to the planner), rather
    # than walk the tenant's whole log newest first looking for them
    order = (Decision.id + 0) if q.lead else Decision.id
    return stmt.order_by(order.desc()).limit(limit)


@audit_bp.get("/tenants/<int:tenant_id>/audit")
@tenant_view()
def audit(tenant: Tenant):
    q = from_args(request.args)
    rows = g.db.scalars(search(tenant.id, q, PAGE + 1)).all()
    more = len(rows) > PAGE
    rows = rows[:PAGE]
    entries = [(d, json.dumps(d.inputs, indent=2, sort_keys=True, default=str)) for d in rows]
    older = {**q.params(), "before": rows[-1].id} if more else None
    return render_template("console/audit.html", tenant=tenant, role=g.role, q=q, entries=entries, older=older,
                           kinds=sorted(set(KINDS) | ({q.kind} if q.kind else set())))
