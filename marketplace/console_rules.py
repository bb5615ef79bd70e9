"""Rules editor helpers: errors at their YAML line, version text, diff against the live version, rollback, and
the SLA preview (when a lead arriving now is due, per tier and owner)."""
from __future__ import annotations

import datetime as dt
import difflib
import re
from collections.abc import Iterable

import yaml
from flask import Blueprint, flash, g, redirect, render_template, url_for
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from integration.followup.business_hours import NoWorkingTime, calendar_for, due_at
from integration.followup.task import due_text, duration_words
from integration.models import RuleSetVersion, Tenant, utcnow
from integration.rules import TIERS, RulesError, RuleSet, check_limits, read_rules_text, validate_rules
from integration.rules.limits import YAML_LOADER, LimitExceeded, scan_yaml
from marketplace.access import tenant_view
from marketplace.params import ID_MAX

rules_bp = Blueprint("console_rules", __name__, url_prefix="/console")
_PART = re.compile(r"\[(\d+)\]|\.?([^.\[\]]+)")
PREVIEW_OWNERS = 12  # columns of the SLA preview; more owners are counted, not shown


# Errors at their line ------------------------------------------------------------------------------------

def path_parts(path: str) -> list[int | str]:
    """"routing[0].when.postcode" → ["routing", 0, "when", "postcode"]."""
    return [int(index) if index else key for index, key in _PART.findall(path)]


def line_of(root: yaml.Node | None, path: str) -> int | None:
    """The 1-based line of the node at `path` (its key's line for a mapping entry); the deepest match wins."""
    if root is None:
        return None
    node, line = root, root.start_mark.line + 1
    for part in path_parts(path):
        found = _child(node, part)
        if found is None:
            break
        line, node = found
    return line


def _child(node: yaml.Node, part: int | str) -> tuple[int, yaml.Node] | None:
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if str(key.value) == str(part):
                return key.start_mark.line + 1, value
    elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
        item = node.value[part]
        return item.start_mark.line + 1, item
    return None


def compose(text: str) -> tuple[yaml.Node | None, int | None]:
    """(the composed document, or None) and the line of a syntax error or a passed limit, if any."""
    try:
        scan_yaml(text)  # an alias bomb or a document thousands of levels deep never reaches the composer
        return yaml.compose(text, Loader=YAML_LOADER), None
    except LimitExceeded as exc:
        return None, exc.line
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        return None, (mark.line + 1 if mark else None)
    except yaml.YAMLError:
        return None, None


def located_issues(text: str, issues: Iterable[tuple[str, str]]) -> list[dict]:
    """Each RulesError issue with its line: [{"line", "path", "message", "text"}], in line order."""
    root, syntax_line = compose(text)
    located = []
    for path, message in issues:
        line = line_of(root, path) if path else syntax_line
        where = f"{path}: " if path else ""
        located.append({"line": line, "path": path, "message": message,
                        "text": f"line {line}: {where}{message}" if line else f"{where}{message}"})
    return sorted(located, key=lambda issue: issue["line"] or 0)


def numbered(text: str, issues: list[dict]) -> list[tuple[int, str, bool]]:
    """(line number, line, has an error) for the editor's listing."""
    bad = {issue["line"] for issue in issues}
    return [(n, line, n in bad) for n, line in enumerate(text.splitlines(), 1)]


# Versions --------------------------------------------------------------------------------------------------

def as_yaml(body: dict) -> str:
    """A stored version's document as YAML text (keys in the author's order)."""
    return yaml.safe_dump(body, sort_keys=False, allow_unicode=True, default_flow_style=False, width=100)


def live_version(db: Session, tenant_id: int) -> RuleSetVersion | None:
    return db.scalar(RuleSetVersion.for_tenant(tenant_id).where(RuleSetVersion.status == "published")
                     .order_by(RuleSetVersion.version.desc()).limit(1))


def get_version(db: Session, tenant_id: int, version: object) -> RuleSetVersion | None:
    try:
        number = int(str(version))
    except ValueError:
        return None
    if not 0 < number <= ID_MAX:  # past it, PostgreSQL's INTEGER cast overflows (a 500, not "no such version")
        return None
    return db.scalar(RuleSetVersion.for_tenant(tenant_id).where(RuleSetVersion.version == number))


def next_version(db: Session, tenant_id: int) -> int:
    return (db.scalar(select(func.max(RuleSetVersion.version)).where(RuleSetVersion.tenant_id == tenant_id)) or 0) + 1


def add_version(db: Session, tenant_id: int, body: dict, created_by: str, status: str = "draft") -> RuleSetVersion:
    """A new version (draft, or published: then the live one is archived); RulesError past the rule-set limits."""
    check_limits(body)  # whatever built the body (editor, helper, template, rollback), the stored result is capped
    row = RuleSetVersion(tenant_id=tenant_id, version=next_version(db, tenant_id), status="draft", body=body,
                         created_by=created_by[:320])
    db.add(row)
    db.flush()
    if status == "published":
        publish(db, row)
    return row


def publish(db: Session, target: RuleSetVersion) -> None:
    """Make `target` the live version; the previous live one is archived."""
    for current in db.scalars(RuleSetVersion.for_tenant(target.tenant_id).where(RuleSetVersion.status == "published",
                                                                               RuleSetVersion.id != target.id)):
        current.status = "archived"
    target.status, target.published_at = "published", utcnow()


def refused(tenant: Tenant, text: str, issues: Iterable[tuple[str, str]]) -> tuple[str, int]:
    """The rules page showing the refused text with its errors at their lines (400)."""
    errors = located_issues(text, issues)
    versions = g.db.scalars(RuleSetVersion.for_tenant(tenant.id).order_by(RuleSetVersion.version.desc())).all()
    return render_template("console/rules.html", tenant=tenant, role=g.role, versions=versions, draft=text,
                           errors=errors, listing=numbered(text, errors)), 400


def diff_lines(old: RuleSetVersion | None, new: RuleSetVersion) -> list[tuple[str, str]]:
    """A unified diff from `old` (the live version) to `new`: (css class, line)."""
    before = as_yaml(old.body).splitlines() if old else []
    after = as_yaml(new.body).splitlines()
    label = f"v{old.version} (live)" if old else "nothing live"
    lines = difflib.unified_diff(before, after, fromfile=label, tofile=f"v{new.version}", lineterm="", n=3)
    kinds = {"+": "add", "-": "del", "@": "hunk"}
    return [("head" if line.startswith(("+++", "---")) else kinds.get(line[:1], "ctx"), line) for line in lines]


@rules_bp.post("/tenants/<int:tenant_id>/rules/<int:version>/rollback")
@tenant_view(write=True)
def rollback(tenant: Tenant, version: int):
    """Publish an older version's rules again, as a new version (history is never rewritten)."""
    old = get_version(g.db, tenant.id, version)
    if old is None:
        flash(f"No version {version}.", "error")
        return redirect(url_for("console.rules", tenant_id=tenant.id)), 303
    try:
        row = add_version(g.db, tenant.id, dict(old.body), f"{g.user.email} (rollback to v{version})", "published")
    except RulesError as exc:  # a version stored before the limits existed
        return refused(tenant, "", exc.issues)
    flash(f"Version {row.version} (a copy of version {version}) is live.", "info")
    return redirect(url_for("console.rules", tenant_id=tenant.id)), 303


# SLA preview ---------------------------------------------------------------------------------------------

def preview_now() -> dt.datetime:
    """The moment the SLA preview calls "now" (tests pin it)."""
    return utcnow()


def sla_preview(text: str) -> dict | None:
    """For each SLA tier of the rule set in `text`: when a lead arriving now is due, for each active owner in the
    owner's time zone ("Tue 7 Jul 2026, 17:00 (Europe/Berlin)"). None when the text is not a valid rule set or
    has no SLA policy."""
    try:
        rules = validate_rules(read_rules_text(text)) if text.strip() else None
    except RulesError:
        return None
    tiers = [(tier, policy) for tier in TIERS if (policy := getattr(rules.sla, tier, None))] if rules else []
    if not tiers:
        return None
    now = preview_now()
    owners = [o.email for o in rules.owners if o.active] or [None]
    return {"now": due_text(now, rules.timezone), "owners": [_owner_label(rules, e) for e in owners[:PREVIEW_OWNERS]],
            "more": max(0, len(owners) - PREVIEW_OWNERS),
            "tiers": [{"tier": tier, "policy": _policy_words(policy),
                       "due": [_due_for(rules, e, now, policy) for e in owners[:PREVIEW_OWNERS]]}
                      for tier, policy in tiers]}


def _owner_label(rules: RuleSet, email: str | None) -> str:
    return email or f"owners without their own hours ({rules.timezone})"


def _policy_words(policy) -> str:
    clock = "counted in the owner's working hours" if policy.business_hours else "on the clock, nights and weekends too"
    return f"first touch within {duration_words(policy.first_touch, policy.business_hours)}, {clock}"


def _due_for(rules: RuleSet, email: str | None, now: dt.datetime, policy) -> str:
    try:
        due = due_at(now, policy.first_touch, policy.business_hours, calendar_for(rules, email))
    except NoWorkingTime:
        return "never: no working time in the next 3 years (out of office?)"
    return due_text(due, rules.owner_timezone(email) if email else rules.timezone)


@rules_bp.app_context_processor
def _inject_preview() -> dict:
    return {"sla_preview": sla_preview}
