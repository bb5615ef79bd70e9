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

from integration.models import Tenant
from integration.rules import RulesError, check_limits, read_rules_text, validate_rules
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
from marketplace.record_display import crm_users

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
