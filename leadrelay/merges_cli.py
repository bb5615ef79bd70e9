"""`leadrelay merges list [--tenant ID]` and `leadrelay merges undo SNAPSHOT_ID`: LeadRelay's merges, undone.

Every auto-merge keeps a snapshot of both records first; undoing one re-creates the merged-away record (under
a new id: no CRM revives a merged one) and puts back the survivor's values the merge changed.
"""
from __future__ import annotations

import argparse
import json
import sys

from sqlalchemy import select
from sqlalchemy.orm import Session

from integration.config import Settings
from integration.db import migrate, session_scope
from integration.errors import CRMError
from integration.models import MergeSnapshot, Tenant


def add_merges_arguments(parser: argparse.ArgumentParser) -> None:
    """`merges list` (default) and `merges undo SNAPSHOT_ID`."""
    sub = parser.add_subparsers(dest="merges_action", required=False)
    listing = sub.add_parser("list", help="one line per merge LeadRelay made (newest first)")
    listing.add_argument("--tenant", type=int, default=None, help="only this tenant's merges")
    listing.add_argument("--json", action="store_true", help="machine-readable list")
    undo = sub.add_parser("undo", help="re-create the merged-away record and restore the survivor's values")
    undo.add_argument("snapshot_id", type=int, help="the id `leadrelay merges list` shows")
    parser.set_defaults(merges_action="list", tenant=None, json=False)


def _rows(session: Session, tenant_id: int | None) -> list[dict]:
    query = (select(MergeSnapshot, Tenant.platform).join(Tenant, Tenant.id == MergeSnapshot.tenant_id)
             .order_by(MergeSnapshot.id.desc()))
    if tenant_id is not None:
        query = query.where(MergeSnapshot.tenant_id == tenant_id)
    return [{"id": s.id, "tenant": s.tenant_id, "platform": platform, "object_type": s.object_type,
             "survivor_id": s.survivor_id, "loser_id": s.loser_id, "score": s.score, "status": s.status,
             "restored_id": s.restored_id, "created_at": s.created_at.isoformat(),
             "undone_at": s.undone_at.isoformat() if s.undone_at else None,
             "loser": _label(s.loser_before)} for s, platform in session.execute(query)]


def _label(values: dict) -> str:
    name = " ".join(str(values[k]) for k in ("first_name", "last_name") if values.get(k)) or values.get("name") or ""
    return " ".join(p for p in (name, f"<{values['email']}>" if values.get("email") else "") if p) or "-"


def _list(session: Session, tenant_id: int | None, as_json: bool) -> int:
    rows = _rows(session, tenant_id)
    if as_json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print("no merges yet" + (f" for tenant {tenant_id}" if tenant_id is not None else ""))
        return 0
    print(f"{'id':>5}  {'tenant':>6} {'platform':<10} {'type':<8} {'survivor':<20} {'merged away':<20} "
          f"{'score':>5}  {'status':<8} {'restored as':<20} {'merged at':<19} merged-away record")
    for r in rows:
        print(f"{r['id']:>5}  {r['tenant']:>6} {r['platform']:<10} {r['object_type']:<8} {r['survivor_id']:<20} "
              f"{r['loser_id']:<20} {r['score']:>5.2f}  {r['status']:<8} {r['restored_id'] or '-':<20} "
              f"{r['created_at'][:19]:<19} {r['loser']}")
    return 0


def _undo(settings: Settings, snapshot_id: int) -> int:
    from adapters.factory import build_adapter, wire
    from integration.admin.undo import UndoError, undo_merge
    from integration.embedded_redis import ensure_redis_url

    with session_scope(settings.database_url) as session:
        snapshot = session.get(MergeSnapshot, snapshot_id)  # the operator sees every tenant's merges
        tenant_id = snapshot.tenant_id if snapshot is not None else None
    if tenant_id is None:
        print(f"no merge snapshot {snapshot_id}; `leadrelay merges list` shows the ids", file=sys.stderr)
        return 1
    ensure_redis_url(settings)  # the adapter's rate budget and write log live in Redis
    wire()
    try:
        adapter = build_adapter(tenant_id)  # before the session: a token refresh writes in its own
        with session_scope(settings.database_url) as session:
            print(undo_merge(session, tenant_id, snapshot_id, adapter))
    except UndoError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    except CRMError as exc:
        print(f"the CRM refused the undo ({type(exc).__name__}): {exc}; nothing was marked undone, "
              "so it can be run again", file=sys.stderr)
        return 2
    return 0


def run_merges(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    migrate(settings.database_url)
    if getattr(args, "merges_action", "list") == "undo":
        return _undo(settings, args.snapshot_id)
    with session_scope(settings.database_url) as session:
        return _list(session, getattr(args, "tenant", None), getattr(args, "json", False))
