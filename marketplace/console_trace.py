"""Test a lead against a rule set: who would get it, the rule taken and each rule not taken, and when it is due.

The panel must say exactly what the pipeline would, so the lead goes through the pipeline's own steps
(country from the phone, normalize, account owner, score, route, "is the owner an active CRM user"), at now,
on a fresh in-memory rotation seeded with the live open-lead counts. Nothing is written anywhere.
"""
from __future__ import annotations

import concurrent.futures
import datetime as dt
import logging
from collections.abc import Mapping
from typing import Any

from flask import Blueprint, g, jsonify, request
from sqlalchemy import select

from integration.config import get_settings
from integration.crm.account_owners import AccountOwners, wants_account_owner
from integration.crm.users import cached_users
from integration.crm.wiring import NotWired, adapter_for
from integration.enrich import enrich
from integration.errors import LeadRelayError
from integration.models import Decision, Tenant
from integration.queues import redis_connection
from integration.records import CRMUser
from integration.routing.normalize import Lead, normalize_lead, with_fields
from integration.routing.redis_state import RedisPoolState
from integration.routing.router import InMemoryPoolState, Route, Router
from integration.routing.score import Scorer
from integration.rules import RulesError, load_rules, read_rules_text
from integration.rules.model import RuleSet
from marketplace import console_rules
from marketplace.access import tenant_view
from marketplace.console_rules import due_for, editable_version, policy_words

log = logging.getLogger("leadrelay.console.trace")
trace_bp = Blueprint("console_trace", __name__, url_prefix="/console")

LEAD_FIELDS = ("first_name", "last_name", "email", "company", "country", "state", "postcode", "city", "source",
               "employees", "phone", "industry", "language", "service")
MAX_VALUE = 300  # characters in one lead field: a form field, not a document
CRM_TIMEOUT_S = 3.0  # the panel answers while the admin types; a slow CRM makes the account owner "unknown"
RECENT_LEADS, RECENT_SCAN = 20, 400


class BadLead(ValueError):
    """The lead in the request is not something a CRM form could have sent (→ 400, with the message)."""


def lead_input(value: object) -> dict[str, Any]:
    """The request's lead as raw neutral fields (what a webhook's record would carry); BadLead when it is not."""
    if not isinstance(value, Mapping):
        raise BadLead('"lead" must be an object of fields, e.g. {"first_name": "Ada", "country": "DE"}')
    raw: dict[str, Any] = {}
    for key, field_value in value.items():
        if not isinstance(key, str) or len(key) > 64:
            raise BadLead("lead field names are short texts")
        if field_value is None or field_value == "":
            continue
        if isinstance(field_value, bool) or not isinstance(field_value, str | int | float):
            raise BadLead(f"lead field {key!r} must be a text or a number")
        if len(str(field_value)) > MAX_VALUE:
            raise BadLead(f"lead field {key!r} is longer than {MAX_VALUE} characters")
        raw[key] = field_value
    if "employees" in raw and not _number(raw["employees"]):
        raise BadLead(f"employees must be a whole number, not {raw['employees']!r}")
    return raw


def _number(value: object) -> bool:
    try:
        return float(str(value).replace(",", "").rstrip("+")) >= 0
    except ValueError:
        return False


def rules_input(db, tenant_id: int, body: object) -> RuleSet:
    """The rule set to test with: the one sent (a document, or YAML/JSON text), else the working version."""
    if body is None:
        version = editable_version(db, tenant_id)
        if version is None:
            raise RulesError([("", "no rule set yet: save a draft (or send one as \"body\")")])
        body = version.body
    if isinstance(body, str):
        body = read_rules_text(body)
    if not isinstance(body, Mapping):
        raise RulesError([("", "a rule set is a mapping of sections (version, owners, pools, routing, …)")])
    return load_rules(body)


class CrmView:
    """What the pipeline asks the CRM while routing (its users, the lead's account owner), answered within
    CRM_TIMEOUT_S; anything it could not learn is left unknown with a note saying why."""

    def __init__(self, tenant_id: int) -> None:
        self.tenant_id = tenant_id
        self.notes: list[str] = []
        self.users: list[CRMUser] | None = None
        self.redis = None
        try:
            self.redis = redis_connection(get_settings())
        except Exception as exc:  # noqa: BLE001 - the panel works without Redis, with zero open counts
            log.warning("trace.redis-unavailable", extra={"tenant_id": tenant_id, "error": type(exc).__name__})

    def _ask(self, what: str, call):
        pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
        try:
            return pool.submit(call).result(timeout=CRM_TIMEOUT_S)
        except concurrent.futures.TimeoutError:
            self.notes.append(f"{what} unknown: the CRM did not answer within {CRM_TIMEOUT_S:g} s")
        except (LeadRelayError, NotWired, OSError) as exc:
            self.notes.append(f"{what} unknown: the CRM could not be asked ({type(exc).__name__})")
        finally:
            pool.shutdown(wait=False)  # a call still hanging finishes on its own; the answer does not wait
        return None

    def load(self, rules: RuleSet, lead: Lead) -> str | None:
        """Reads the CRM users; returns the lead's active account owner (email) when a rule asks for one."""
        if self.redis is None:
            self.notes.append("CRM users and account owner unknown: LeadRelay's cache is unreachable")
            return None
        try:
            adapter = adapter_for(self.tenant_id)
        except (LeadRelayError, NotWired) as exc:
            self.notes.append(f"CRM users and account owner unknown: the CRM is not connected ({type(exc).__name__})")
            return None
        self.users = self._ask("CRM users", lambda: cached_users(self.redis, self.tenant_id, adapter))
        if not wants_account_owner(rules.routing):
            return None
        owner_id = self._ask("Account owner", lambda: AccountOwners(adapter, self.redis, self.tenant_id)
                             .owner_id(lead.email_domain, lead.company))
        if owner_id and self.users is None:
            self.notes.append("Account owner unknown: the company has an owner, but the CRM users could not be read")
        user = next((u for u in self.users or () if u.id == str(owner_id)), None) if owner_id else None
        return user.email.lower() if user and user.active else None

    def open_counts(self, rules: RuleSet) -> dict[str, int]:
        """The live open-lead count of every owner the rules name (one Redis read each), else zeros."""
        emails = {o.email for o in rules.owners} | {m.owner for p in rules.pools.values() for m in p.members}
        if self.redis is None:
            self.notes.append("Open leads counted as zero (LeadRelay's cache is unreachable)")
            return {}
        state = RedisPoolState(self.redis, self.tenant_id)
        try:
            return {email: state.open_count(email) for email in sorted(emails)}
        except Exception as exc:  # noqa: BLE001 - an unreachable Redis degrades to zero counts, said so
            self.notes.append(f"Open leads counted as zero ({type(exc).__name__})")
            return {}

    def name_of(self, rules: RuleSet, email: str | None) -> str | None:
        if not email:
            return None
        user = next((u for u in self.users or () if u.email.lower() == email.lower()), None)
        owner = rules.owners_by_email.get(email)
        return (user.name if user and user.name else None) or (owner.name if owner else None)

    def inactive_in_crm(self, email: str) -> bool:
        """The routed owner is no active CRM user (the pipeline then sends the lead to review); False if unknown."""
        if self.users is None:
            return False
        user = next((u for u in self.users if u.email.lower() == email.lower()), None)
        return user is None or not user.active


def try_lead(tenant_id: int, rules: RuleSet, raw: dict[str, Any], now: dt.datetime) -> dict[str, Any]:
    """Route one lead as the pipeline would at `now`, explained; nothing is stored or written."""
    raw = {**raw, "id": "test", "created_at": now}
    normalized = normalize_lead(enrich(raw).lead_fields(raw), rules.source_labels)  # as the pipeline
    problems = [p.message for p in normalized.problems]
    crm = CrmView(tenant_id)
    if normalized.unusable:
        reason = f"Unusable lead: {normalized.unusable}"
        return {"ok": True, "owner": None, "owner_name": None, "reason": reason, "score": 0, "tier": "nurture",
                "fallback": False, "steps": [], "problems": problems, "notes": [],
                "target": {"kind": "review", "name": None, "chosen": None, "skipped": []}, "sla": None}
    lead = normalized.lead
    lead = with_fields(lead, account_owner=crm.load(rules, lead))
    qualification = Scorer(rules.scoring).score_lead(lead)
    router = Router(rules, InMemoryPoolState(crm.open_counts(rules)))
    route = router.route_lead(lead, qualification, at=now, explain=True)
    owner, reason = route.owner, route.reason
    if owner and crm.inactive_in_crm(owner):
        owner, reason = None, f"{reason}; but {owner} is not an active user in the CRM"
    return {"ok": True, "owner": owner, "owner_name": crm.name_of(rules, owner), "reason": reason,
            "score": qualification.score, "tier": qualification.tier, "qualification": qualification.reason,
            "fallback": route.fallback, "steps": [s.as_dict() for s in route.path],
            "target": _target(rules, route, crm), "sla": _sla(rules, qualification.tier, owner, now),
            "problems": problems, "notes": crm.notes}


def _target(rules: RuleSet, route: Route, crm: CrmView) -> dict[str, Any]:
    matched = next((s for s in route.path if s.matched), None)
    if route.fallback or matched is None:
        kind, target = "fallback", rules.fallback
    else:
        target = rules.routing[matched.index].assign
        kind = target.kind
    return {"kind": kind, "name": target.pool, "chosen": route.owner,
            "skipped": [{"owner": s.owner, "name": crm.name_of(rules, s.owner), "why": s.why} for s in route.skipped]}


def _sla(rules: RuleSet, tier: str, owner: str | None, now: dt.datetime) -> dict[str, str] | None:
    policy = getattr(rules.sla, tier, None)
    if policy is None or owner is None:
        return None  # a lead in review opens no clock
    return {"tier": tier, "due": due_for(rules, owner, now, policy), "policy": policy_words(policy)}


@trace_bp.post("/tenants/<int:tenant_id>/rules/test")
@tenant_view()  # viewers too: it changes nothing
def test_lead(tenant: Tenant):
    """{"body": rule set (optional: the working version), "lead": {fields}} → who would get it and why."""
    payload = request.get_json(silent=True)
    if not isinstance(payload, Mapping):
        return jsonify(ok=False, message='send JSON: {"lead": {…}, "body": optional rule set}'), 400
    try:
        raw = lead_input(payload.get("lead"))
        rules = rules_input(g.db, tenant.id, payload.get("body"))
    except BadLead as exc:
        return jsonify(ok=False, message=str(exc)), 400
    except RulesError as exc:
        return jsonify(ok=False, issues=[{"path": path, "message": message} for path, message in exc.issues]), 422
    return jsonify(try_lead(tenant.id, rules, raw, console_rules.preview_now()))  # the SLA preview's clock


def lead_label(fields: Mapping[str, Any]) -> str:
    """ "Ada Lovelace · Acme": the person, then the company; the email when the name is missing."""
    name = " ".join(str(fields[k]) for k in ("first_name", "last_name") if fields.get(k))
    who = name or fields.get("email") or fields.get("phone") or "A lead without a name"
    return " · ".join(str(part) for part in (who, fields.get("company")) if part)


@trace_bp.get("/tenants/<int:tenant_id>/rules/recent-leads")
@tenant_view()
def recent_leads(tenant: Tenant):
    """The last distinct leads the pipeline routed, with their normalized fields, to try a rule set on."""
    decisions = g.db.scalars(select(Decision).where(Decision.tenant_id == tenant.id, Decision.kind == "route")
                             .order_by(Decision.id.desc()).limit(RECENT_SCAN))
    leads, seen = [], set()
    for decision in decisions:
        stored = (decision.inputs or {}).get("lead")
        if not isinstance(stored, Mapping):
            continue  # an unusable lead, or a merged twin's kept owner: nothing routed to replay
        fields = {k: stored[k] for k in LEAD_FIELDS if stored.get(k) not in (None, "")}
        key = (str(fields.get("email") or "").lower(), lead_label(fields))
        if not fields or key in seen:
            continue
        seen.add(key)
        leads.append({"id": decision.object_id, "label": lead_label(fields), "fields": fields})
        if len(leads) == RECENT_LEADS:
            break
    return jsonify(leads=leads)
