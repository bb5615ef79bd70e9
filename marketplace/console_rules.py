"""Rules editor helpers: errors at their YAML line, version text, diff against the live version, rollback, and
the SLA preview (when a lead arriving now is due, per tier and owner)."""
from __future__ import annotations

import datetime as dt
import difflib
import re
from collections.abc import Iterable

import yaml
from flask import Blueprint, flash, g, redirect, render_template, url_for
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import flag_modified

from integration.admin.simulate import progress_key
from integration.config import get_settings
from integration.followup.business_hours import NoWorkingTime, calendar_for, due_at
from integration.followup.task import due_text, duration_words
from integration.models import RuleSetVersion, Tenant, utcnow
from integration.outreach.replies import schedule_inbound
from integration.queues import redis_connection
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


def syntax_problem(text: str) -> dict | None:
    """Where and why YAML text does not parse, in plain words: {"line", "column", "message"} (column None when the
    line is a different one than where the parser stopped); None when it parses, or fails for a reason that is
    not the admin's typing (a passed limit, reported on its own)."""
    try:
        scan_yaml(text)
        yaml.compose(text, Loader=YAML_LOADER)
    except LimitExceeded:
        return None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        if mark is None:
            return None
        lines = text.splitlines()
        row, message = _plain(exc, lines, mark)
        row = min(row, max(len(lines) - 1, 0))  # "the end of the text" is its last line, not one past it
        return {"line": row + 1, "column": mark.column + 1 if row == mark.line else None, "message": message}
    except yaml.YAMLError:
        return None
    return None


def syntax_words(problem: dict) -> str:
    """"line 4, column 3: the indentation does not line up …"."""
    column = f", column {problem['column']}" if problem.get("column") else ""
    return f"line {problem['line']}{column}: {problem['message']}"


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _key_above(lines: list[str], row: int) -> tuple[int, str] | None:
    """The nearest line above `row` that is less indented and has no colon: a key whose colon was forgotten."""
    here = _indent(lines[row]) if row < len(lines) else 0
    for above in range(min(row, len(lines)) - 1, -1, -1):
        text = lines[above].split(" #", 1)[0].rstrip()
        if not text.strip() or text.lstrip().startswith("#"):
            continue
        if _indent(text) < here or (_indent(text) == here and not text.lstrip().startswith("-")):
            word = text.strip().lstrip("- ").strip()
            if word and ":" not in word and " " not in word:
                return above, word
            return None
    return None


def _plain(exc: yaml.MarkedYAMLError, lines: list[str], mark) -> tuple[int, str]:
    """PyYAML's message for the common typing mistakes, as an admin would say it: (0-based line, words)."""
    problem, context, row = exc.problem or "", exc.context or "", mark.line
    if "mapping values are not allowed" in problem or "could not find expected ':'" in problem:
        forgot = _key_above(lines, row)
        if forgot:
            return forgot[0], f"a colon is missing after {forgot[1]!r} (write \"{forgot[1]}:\")"
        if row < len(lines) and lines[row].count(": ") > 1:
            return row, "a value contains \": \"; put the value in quotes (name: \"West: enterprise\")"
        return row, "this line is indented further than the key above it expects; line it up with its siblings"
    if "cannot start any token" in problem and "\t" in (lines[row][:mark.column + 1] if row < len(lines) else ""):
        return row, "a tab is used to indent; YAML needs spaces"
    if "cannot start any token" in problem:
        return row, "this character cannot start a value; put the value in quotes"
    if "quoted scalar" in context:
        return (exc.context_mark.line if exc.context_mark else row), "a quote is opened but never closed"
    if "flow sequence" in context:
        return row, "a list in [ ] is not closed with ] or is missing a comma"
    if "flow mapping" in context:
        return row, "a { } section is not closed with } or is missing a comma"
    if "expected <block end>" in problem or "did not find expected key" in problem or "expected '-'" in problem:
        return row, ("the indentation does not line up with the lines above (the keys of one section, and the "
                     "\"-\" of one list, start in the same column)")
    if "alias" in problem or "anchor" in problem:
        return row, "anchors and aliases (& and *) are not allowed in a rule set"
    return row, problem or context or "this is not valid YAML"


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
    problem = syntax_problem(text) if root is None and syntax_line else None
    located = []
    for path, message in issues:
        line = line_of(root, path) if path else syntax_line
        if not path and problem and message.startswith("not valid YAML"):
            line = problem["line"]  # a forgotten colon is reported at the key that lacks it, not where it showed
            words = syntax_words(problem)
            message = f"not valid YAML: {words.partition(': ')[2] if problem['line'] == line else words}"
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


def working_draft(db: Session, tenant_id: int) -> RuleSetVersion | None:
    """The one draft edits go into: the newest draft newer than the live version (None once it was published)."""
    live = live_version(db, tenant_id)
    draft = db.scalar(RuleSetVersion.for_tenant(tenant_id).where(RuleSetVersion.status == "draft")
                      .order_by(RuleSetVersion.version.desc()).limit(1))
    return draft if draft is not None and (live is None or draft.version > live.version) else None


def editable_version(db: Session, tenant_id: int) -> RuleSetVersion | None:
    """What an editor opens: the working draft, else the live version (None: the tenant has no rules yet)."""
    return working_draft(db, tenant_id) or live_version(db, tenant_id)


def save_draft(db: Session, tenant_id: int, body: dict, by: str) -> RuleSetVersion:
    """Save a validated document into the single working draft: edits accumulate in one version until it is
    published (then the next edit starts a new draft). RulesError past the rule-set limits."""
    draft = working_draft(db, tenant_id)
    if draft is None:
        return add_version(db, tenant_id, body, by)
    check_limits(body)
    if draft.body == body:
        return draft  # an autosave of what is stored already: nobody changed anything
    draft.body, draft.updated_at, draft.updated_by = body, utcnow(), by[:320]
    flag_modified(draft, "body")  # the caller may have edited the stored dict itself
    db.flush()
    # a simulation of this version simulated other rules: going live needs a new one (console_publish)
    redis_connection(get_settings()).delete(progress_key(tenant_id, draft.version))
    return draft


def publish(db: Session, target: RuleSetVersion) -> None:
    """Make `target` the live version; the previous live one is archived."""
    for current in db.scalars(RuleSetVersion.for_tenant(target.tenant_id).where(RuleSetVersion.status == "published",
                                                                               RuleSetVersion.id != target.id)):
        current.status = "archived"
    target.status, target.published_at = "published", utcnow()
    # rules that read replies need their reader from now, not from the tenant's next sweep: planned once the new
    # version is committed (the job reads the published rules)
    event.listen(db, "after_commit", lambda _session: schedule_inbound(target.tenant_id), once=True)


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
            "tiers": [{"tier": tier, "policy": policy_words(policy),
                       "due": [due_for(rules, e, now, policy) for e in owners[:PREVIEW_OWNERS]]}
                      for tier, policy in tiers]}


def _owner_label(rules: RuleSet, email: str | None) -> str:
    return email or f"owners without their own hours ({rules.timezone})"


def policy_words(policy) -> str:
    clock = "counted in the owner's working hours" if policy.business_hours else "on the clock, nights and weekends too"
    return f"first touch within {duration_words(policy.first_touch, policy.business_hours)}, {clock}"


def due_for(rules: RuleSet, email: str | None, now: dt.datetime, policy) -> str:
    try:
        due = due_at(now, policy.first_touch, policy.business_hours, calendar_for(rules, email))
    except NoWorkingTime:
        return "never: no working time in the next 3 years (out of office?)"
    return due_text(due, rules.owner_timezone(email) if email else rules.timezone)


@rules_bp.app_context_processor
def _inject_preview() -> dict:
    return {"sla_preview": sla_preview}
