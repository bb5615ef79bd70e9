"""Simulate a rule-set version over the tenant's last N leads read from the CRM; nothing is written to the CRM.

The job reads leads with `changed_since`, then normalizes, scores and routes each one with a Router over an
in-memory pool state (the live rotation in Redis is not touched). Progress and the result are one small JSON
value in Redis per (tenant, version), which the console polls.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
from collections import Counter
from typing import Any

from integration.account_owners import FREE_MAIL
from integration.config import get_settings
from integration.db import session_scope
from integration.errors import CRMError
from integration.jobs import job, job_key
from integration.models import RuleSetVersion
from integration.normalize import normalize_lead, with_fields
from integration.pipeline import country_from_phone
from integration.protocols import CRMAdapter
from integration.queues import MAINTENANCE, redis_connection
from integration.records import Record
from integration.route import InMemoryPoolState, Router
from integration.rules import RulesError, load_rules
from integration.rules.model import RuleSet
from integration.score import Scorer
from integration.wiring import adapter_for

log = logging.getLogger("leadrelay.simulate")

DEFAULT_LEADS, MAX_LEADS = 200, 2000
MAX_PAGES = 200  # at most 20,000 records read per simulation
PROGRESS_TTL = 24 * 3600
REVIEW = "review"


def progress_key(tenant_id: int, version: int) -> str:
    return f"leadrelay:simulate:{tenant_id}:{version}"


def read_progress(tenant_id: int, version: int) -> dict[str, Any] | None:
    """{"state": queued|reading|running|done|failed, "done", "total", "result", "error"} or None."""
    raw = _redis().get(progress_key(tenant_id, version))
    return json.loads(raw) if raw else None


def _save(tenant_id: int, version: int, **values: Any) -> None:
    _redis().set(progress_key(tenant_id, version), json.dumps(values, default=str), ex=PROGRESS_TTL)


def _redis():
    return redis_connection(get_settings().redis_url or "")


def start_simulation(tenant_id: int, version: int, limit: int = DEFAULT_LEADS) -> None:
    """Enqueue the simulation of `version` over the last `limit` leads (a waiting one is reused)."""
    limit = max(1, min(MAX_LEADS, int(limit)))
    _save(tenant_id, version, state="queued", done=0, total=limit, limit=limit)
    simulate_rules.enqueue(tenant_id, version, limit, job_id=job_key("simulate", tenant_id, version, limit))


@job(MAINTENANCE, timeout=1800, retries=0)
def simulate_rules(tenant_id: int, version: int, limit: int) -> dict[str, Any] | None:
    """Route the last `limit` leads with rule-set `version` in memory; store per-lead rows and totals."""
    with session_scope(get_settings().database_url) as session:
        row = session.scalar(RuleSetVersion.for_tenant(tenant_id).where(RuleSetVersion.version == version))
        body = dict(row.body) if row is not None else None
    if body is None:
        _save(tenant_id, version, state="failed", done=0, total=0, error=f"no version {version}")
        return None
    try:
        rules = load_rules(body)
    except RulesError as exc:
        _save(tenant_id, version, state="failed", done=0, total=0, error=f"the rule set is not valid: {exc}")
        return None
    adapter = adapter_for(tenant_id)
    try:
        _save(tenant_id, version, state="reading", done=0, total=limit, limit=limit)
        records = last_leads(adapter, limit)
        result = Simulation(rules, adapter, on_progress=lambda done: _save(
            tenant_id, version, state="running", done=done, total=len(records), limit=limit)).run(records)
    except CRMError as exc:
        _save(tenant_id, version, state="failed", done=0, total=limit, error=f"the CRM answered: {exc}")
        raise
    _save(tenant_id, version, state="done", done=len(records), total=len(records), limit=limit, result=result)
    log.info("simulate.done", extra={"tenant_id": tenant_id, "version": version, "leads": len(records)})
    return {k: v for k, v in result.items() if k != "rows"}


def last_leads(adapter: CRMAdapter, limit: int) -> list[Record]:
    """The newest `limit` leads by creation time: the last day first, from the very first record if too few."""
    found = _read(adapter, None)
    if len(found) < limit:
        found.update(_read(adapter, adapter.EPOCH_CURSOR))
    epoch = dt.datetime.min.replace(tzinfo=dt.UTC)
    newest = sorted(found.values(), key=lambda r: (r.created_at or r.updated_at or epoch, r.id))[-limit:]
    return newest


def _read(adapter: CRMAdapter, cursor: str | None) -> dict[str, Record]:
    found: dict[str, Record] = {}
    for _ in range(MAX_PAGES):
        page = adapter.changed_since(adapter.LEAD_OBJECT, cursor, limit=100)
        found.update((r.id, r) for r in page.records)
        if not page.has_more or page.cursor == cursor:
            break
        cursor = page.cursor
    return found


class Simulation:
    """Routes records with a rule set and an in-memory rotation; counts per owner and per rule."""

    def __init__(self, rules: RuleSet, adapter: CRMAdapter, on_progress=None) -> None:
        self.rules, self.adapter, self.on_progress = rules, adapter, on_progress
        self.router = Router(rules, InMemoryPoolState())
        self.scorer = Scorer(rules.scoring)
        self.users = {u.id: u for u in adapter.list_users()}
        self.active = {u.email.lower() for u in self.users.values() if u.active}
        self.wants_account_owner = any(r.when.account_owner for r in rules.routing)
        self._companies: dict[str, str | None] = {}

    def run(self, records: list[Record]) -> dict[str, Any]:
        rows = []
        for i, record in enumerate(records, 1):
            rows.append(self.simulate(record))
            if self.on_progress and (i % 25 == 0 or i == len(records)):
                self.on_progress(i)
        return summarize(rows)

    def simulate(self, record: Record) -> dict[str, Any]:
        owner, rule, reason = self._decide(record)
        current = self.users.get(str(record.owner_id)) if record.owner_id else None
        fields = record.fields
        name = " ".join(str(fields[k]) for k in ("first_name", "last_name") if fields.get(k)) or record.id
        return {"id": record.id, "name": name, "email": fields.get("email") or "",
                "current": current.email.lower() if current else (record.owner_id or ""),
                "simulated": owner or REVIEW, "rule": rule or "(fallback)", "reason": reason}

    def _decide(self, record: Record) -> tuple[str | None, str | None, str]:
        raw = {**record.fields, "id": record.id, "created_at": record.created_at}
        if not raw.get("country") and (country := country_from_phone(raw.get("phone") or raw.get("mobile"))):
            raw["country"] = country
        normalized = normalize_lead(raw, self.rules.source_labels)
        if normalized.unusable:
            return None, None, f"Unusable lead: {normalized.unusable}"
        lead = with_fields(normalized.lead, account_owner=self._account_owner(normalized.lead))
        decision = self.router.route_lead(lead, self.scorer.score_lead(lead), at=record.created_at)
        if decision.owner is not None and decision.owner not in self.active:
            return None, decision.rule, f"{decision.reason}; but {decision.owner} is not an active user in the CRM"
        return decision.owner, decision.rule, decision.reason

    def _account_owner(self, lead) -> str | None:
        if not self.wants_account_owner:
            return None
        domain = lead.email_domain if lead.email_domain not in FREE_MAIL else None
        key = domain or (lead.company or "").lower()
        if not key:
            return None
        if key not in self._companies:  # one read per company, however many leads share it
            company = self.adapter.find_company(domain=domain, name=None if domain else lead.company)
            user = self.users.get(str(company.owner_id)) if company and company.owner_id else None
            self._companies[key] = user.email.lower() if user and user.active else None
        return self._companies[key]


def summarize(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Totals per simulated owner and per rule, and how many leads would change owner."""
    by_owner = Counter(r["simulated"] for r in rows)
    by_rule = Counter(r["rule"] for r in rows)
    changed = sum(1 for r in rows if r["simulated"] != r["current"])
    return {"leads": len(rows), "changed": changed, "review": by_owner.get(REVIEW, 0),
            "by_owner": by_owner.most_common(), "by_rule": by_rule.most_common(), "rows": rows}
