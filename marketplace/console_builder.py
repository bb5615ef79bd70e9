"""The visual rule builder: the tenant's working draft as a form an admin edits instead of YAML, validated as they
type, autosaved into the one working draft, with the same draft as YAML (line numbers, errors at their line)."""
from __future__ import annotations

import json
import logging
import zoneinfo
from typing import Any

import pycountry
from flask import Blueprint, abort, current_app, g, render_template, request
from jinja2.utils import htmlsafe_json_dumps
from sqlalchemy import select

from integration.models import Decision, Tenant
from integration.outreach.templates import merge_values, render
from integration.rules import RulesError, check_limits, read_rules_text, validate_rules
from integration.rules.outreach import MERGE_FIELDS
from integration.rules.sources import DEFAULT_SOURCES, SourceLabels
from marketplace.access import ADMIN, tenant_view
from marketplace.console_rules import (
    as_yaml,
    editable_version,
    live_version,
    located_issues,
    save_draft,
    syntax_problem,
    working_draft,
)
from marketplace.record_display import crm_users, for_objects, owners_for

log = logging.getLogger("leadrelay.console.builder")
builder_bp = Blueprint("console_builder", __name__, url_prefix="/console")
STARTER = {"version": 1}


def jsonify(status: int = 200, **payload: Any):
    """JSON in the document's own key order (Flask's sorts keys, which would reorder the admin's rule set)."""
    return current_app.response_class(json.dumps(payload, ensure_ascii=False), status=status,
                                      mimetype="application/json")


def _issues(exc: RulesError) -> list[dict]:
    return [{"path": path, "message": message} for path, message in exc.issues]


def check(body: Any) -> list[dict]:
    """Every issue of a document as the pipeline's loader sees it ([] when valid)."""
    try:
        check_limits(body)
        validate_rules(body)
    except RulesError as exc:
        return _issues(exc)
    return []


def _json_body(key: str) -> Any:
    data = request.get_json(silent=True)
    if not isinstance(data, dict) or key not in data:
        abort(400, description=f'send JSON {{"{key}": …}}')
    return data[key]


def _draft_state(tenant: Tenant) -> dict:
    """What the status line says about the working draft and the live version."""
    draft, live = working_draft(g.db, tenant.id), live_version(g.db, tenant.id)
    state: dict[str, Any] = {"live": live.version if live else None, "draft": None}
    if draft is not None:
        when = draft.updated_at or draft.created_at
        state.update(draft=draft.version, saved_at=when.isoformat(), saved_by=(draft.updated_by or draft.created_by))
    return state


def _people(tenant: Tenant) -> list[dict]:
    """CRM users to pick owners from (the shared five-minute cache); [] when the CRM cannot be asked now."""
    return sorted(({"email": u.email.lower(), "name": u.name or ""} for u in crm_users(tenant.id)
                   if u.active and u.email),
                  key=lambda u: u["email"])


def _source_labels(body: Any) -> list[str]:
    sources = body.get("sources") if isinstance(body, dict) else None
    if isinstance(sources, dict):
        try:
            return list(SourceLabels.from_synonyms({str(k): [str(s) for s in v or []]
                                                    for k, v in sources.items()}).labels)
        except TypeError:
            pass
    return list(DEFAULT_SOURCES.labels)


@builder_bp.get("/tenants/<int:tenant_id>/rules/builder")
@tenant_view()
def builder(tenant: Tenant):
    """The working draft (else the live version, else a starter document) rendered by builder.js."""
    base = editable_version(g.db, tenant.id)
    body = base.body if base is not None and isinstance(base.body, dict) else dict(STARTER)
    choices = {
        "timezones": sorted(zoneinfo.available_timezones() - {"Factory", "localtime"}),
        "countries": sorted(({"code": c.alpha_2, "name": c.name} for c in pycountry.countries),
                            key=lambda c: c["name"]),
        "sources": _source_labels(body),
        "people": _people(tenant) if g.role == ADMIN else [],
        "merge_fields": list(MERGE_FIELDS),
    }
    # embedded as |tojson would, escaped for a <script> element, but in the author's key order
    doc = htmlsafe_json_dumps(body, dumps=json.dumps, sort_keys=False)
    return render_template("console/builder.html", tenant=tenant, role=g.role, doc=doc, text=as_yaml(body),
                           choices=choices,
                           state=_draft_state(tenant), base=base, issues=check(body))


# The checking endpoints change nothing, yet only editors use them: a viewer's page never edits (its YAML view is
# rendered by the server), and every POST of the console is a change a viewer is refused.
@builder_bp.post("/tenants/<int:tenant_id>/rules/validate")
@tenant_view(write=True)
def validate(tenant: Tenant):
    """Validate as the admin types: {"ok", "issues": [{"path", "message"}]} from the pipeline's own loader."""
    issues = check(_json_body("body"))
    return jsonify(ok=not issues, issues=issues)


@builder_bp.post("/tenants/<int:tenant_id>/rules/draft")
@tenant_view(write=True)
def draft(tenant: Tenant):
    """Save a valid document into the working draft (in place until it is published)."""
    body = _json_body("body")
    issues = check(body)
    if issues:
        return jsonify(422, ok=False, issues=issues)
    row = save_draft(g.db, tenant.id, body, g.user.email)
    when = row.updated_at or row.created_at
    return jsonify(ok=True, version=row.version, saved_at=when.isoformat(), saved_by=g.user.email, issues=[])


@builder_bp.post("/tenants/<int:tenant_id>/rules/parse")
@tenant_view(write=True)
def parse(tenant: Tenant):
    """YAML (or JSON) text → {"ok", "body", "issues": [{"line", "column", "path", "message"}]}.

    "body" is the parsed document whenever the text parses, valid or not, so the visual view can show it with
    its problems; null on a syntax error, whose message says in plain words what is wrong on which line."""
    text = _json_body("text")
    if not isinstance(text, str):
        abort(400, description="text must be a string")
    try:
        body = read_rules_text(text)
    except RulesError as exc:
        problem = syntax_problem(text)
        if problem is not None:
            return jsonify(ok=False, body=None, issues=[{**problem, "path": ""}])
        return jsonify(ok=False, body=None, issues=[{k: v for k, v in i.items() if k != "text"}
                                                    for i in located_issues(text, exc.issues)])
    if not isinstance(body, dict):
        issue = {"line": 1, "column": None, "path": "", "message": "a rule set is a mapping of sections (version, "
                                                                   "owners, pools, routing, …)"}
        return jsonify(ok=False, body=None, issues=[issue])
    try:
        validate_rules(body)
    except RulesError as exc:
        return jsonify(ok=False, body=body, issues=[{k: v for k, v in i.items() if k != "text"}
                                                    for i in located_issues(text, exc.issues)])
    return jsonify(ok=True, body=body, issues=[])


@builder_bp.post("/tenants/<int:tenant_id>/rules/yaml")
@tenant_view(write=True)
def to_yaml(tenant: Tenant):
    """A document from the visual view as YAML text, the way versions are shown everywhere else."""
    body = _json_body("body")
    try:
        check_limits(body)
    except RulesError as exc:
        return jsonify(422, ok=False, issues=_issues(exc))
    return jsonify(ok=True, text=as_yaml(body) if isinstance(body, dict) else "")


# Template preview ------------------------------------------------------------------------------------------

# GSM 03.38's basic set and its extension (an extension character takes two septets): a text wholly in it is sent
# 7-bit (160 characters, 153 a part when split); anything else is UCS-2 (70, 67 a part): Twilio's and every
# carrier's segment rule (3GPP TS 23.038 / 23.040)
GSM_BASIC = frozenset("@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                      "ÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà")
GSM_EXTENSION = frozenset("^{}\\[~]|€\f")
SAMPLE_LEAD = {"first_name": "Sam", "last_name": "Sample", "company": "Sample Co", "email": "sam@example.com",
               "source": "Website"}
RECENT_SCAN = 50  # route decisions read to find the newest one that holds a lead


def sms_segments(text: str) -> dict[str, Any]:
    """{"chars", "encoding" (GSM-7 or UCS-2), "segments"} of an SMS text as the carrier splits it."""
    if all(c in GSM_BASIC or c in GSM_EXTENSION for c in text):
        units = sum(2 if c in GSM_EXTENSION else 1 for c in text)
        single, part, encoding = 160, 153, "GSM-7"
    else:
        units = sum(2 if ord(c) > 0xFFFF else 1 for c in text)  # UTF-16 code units: an emoji takes two
        single, part, encoding = 70, 67, "UCS-2 (a character outside the GSM alphabet)"
    segments = 1 if units <= single else -(-units // part)
    return {"chars": len(text), "encoding": encoding, "segments": segments if text else 0}


def recent_routed_lead(tenant: Tenant) -> dict[str, Any] | None:
    """The tenant's most recent routed lead as its route decision saw it: {"facts", "owner_email", "owner_id",
    "object_type", "object_id"}; None before any lead was routed."""
    for d in g.db.scalars(select(Decision).where(Decision.tenant_id == tenant.id, Decision.kind == "route")
                          .order_by(Decision.id.desc()).limit(RECENT_SCAN)):
        lead = (d.inputs or {}).get("lead")
        if isinstance(lead, dict) and any(lead.get(k) for k in ("first_name", "last_name", "email", "company")):
            return {"facts": lead, "owner_email": d.outcome if "@" in (d.outcome or "") else None,
                    "owner_id": (d.inputs or {}).get("owner_id"), "object_type": d.object_type,
                    "object_id": d.object_id}
    return None


def preview_values(tenant: Tenant, rules: Any, found: dict[str, Any] | None) -> dict[str, str]:
    """The merge values the first-response job would use for this lead: the owner by name (CRM user, else the rule
    set's name), the owner's booking link from the rule set."""
    if found is None:
        owner = next((o for o in rules.owners if o.active), None)
        return merge_values(SAMPLE_LEAD, owner_name=(owner.name or owner.email) if owner else None,
                            owner_email=owner.email if owner else None,
                            booking_link=owner.booking_link if owner else None, tenant_name=tenant.name)
    people = owners_for(tenant, rules)
    shown = people.get(found["owner_email"] or found["owner_id"])
    email = (found["owner_email"] or (shown.email if shown else "") or "").lower()
    in_rules = next((o for o in rules.owners if o.email.lower() == email), None) if email else None
    name = (shown.name if shown and shown.known and shown.name != email else None) or (in_rules.name if in_rules
                                                                                         else None)
    return merge_values(found["facts"], owner_name=name, owner_email=email or None,
                        booking_link=in_rules.booking_link if in_rules else None, tenant_name=tenant.name)


@builder_bp.get("/tenants/<int:tenant_id>/rules/templates")
@tenant_view()
def template_preview(tenant: Tenant):
    """Each first-response template in each language as the most recent routed lead would get it (a labelled sample
    lead before the first), rendered by the job's own function; from the working draft, else the live version."""
    base = editable_version(g.db, tenant.id)
    rules, problems = None, []
    if base is not None:
        try:
            rules = validate_rules(base.body)
        except RulesError as exc:
            problems = _issues(exc)
    found = recent_routed_lead(tenant) if rules is not None else None
    previews, record = [], None
    if rules is not None:
        values = preview_values(tenant, rules, found)
        if found is not None:
            record = for_objects(g.db, tenant, [(found["object_type"], found["object_id"])], {}).get(
                (found["object_type"], found["object_id"]))
        policy = rules.first_response
        used_by = {name: [t for t in ("hot", "warm", "nurture")
                          if (p := policy.for_tier(t)) is not None and p.template == name] for name in policy.templates}
        for name, by_language in policy.templates.items():
            for language in by_language:
                shown = render(policy, name, values, language)
                previews.append({"template": name, "language": language, "tiers": used_by[name], "rendered": shown,
                                 "sms": sms_segments(shown.sms) if shown.sms is not None else None})
    return render_template("console/template_preview.html", tenant=tenant, role=g.role, base=base, problems=problems,
                           previews=previews, sample=found is None, record=record,
                           lead_language=(found or {}).get("facts", {}).get("language") if found else None,
                           sample_lead=SAMPLE_LEAD)
