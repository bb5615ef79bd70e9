"""The tenant's published rule set, compiled once per version and process."""
from __future__ import annotations

import hashlib
import json

from sqlalchemy import select
from sqlalchemy.orm import Session

from integration.models import RuleSetVersion
from integration.rules import validate_rules
from integration.rules.model import RuleSet

_compiled: dict[str, RuleSet] = {}


def published_rules(session: Session, tenant_id: int) -> RuleSet | None:
    """The live version's RuleSet, or None when the tenant has published none (then nothing is routed)."""
    row = session.execute(select(RuleSetVersion.id, RuleSetVersion.body).where(
        RuleSetVersion.tenant_id == tenant_id, RuleSetVersion.status == "published")
        .order_by(RuleSetVersion.version.desc()).limit(1)).first()
    if row is None:
        return None
    # keyed by content: a row id is only unique within one database
    key = hashlib.sha256(json.dumps(row.body, sort_keys=True, default=str).encode()).hexdigest()
    if key not in _compiled:
        # a stored body was checked (size, depth, aliases) when it was saved; a version stored before those
        # limits existed must keep routing, not stop the pipeline
        _compiled[key] = validate_rules(row.body)
    return _compiled[key]
