"""Publishing with confirmation: what a version changes against the live one, and what its simulation says
it would do to recent leads, before the admin confirms. `console.publish_rules` refuses without both."""
from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, current_app, g, redirect, render_template, request, url_for

from integration.admin.simulate import read_progress, rules_digest
from integration.models import RuleSetVersion, Tenant
from integration.rules import RulesError, load_rules
from integration.rules.model import RuleSet
from marketplace.access import safe_local_path, tenant_view
from marketplace.console_rules import diff_lines, get_version, live_version
from marketplace.params import int_arg
from marketplace.record_display import owner_names

log = logging.getLogger("leadrelay.console.publish")
publish_bp = Blueprint("console_publish", __name__, url_prefix="/console")
RUNNING = ("queued", "reading", "waiting", "running")
EXAMPLES = 5
SECTIONS = (("scoring", "scoring"), ("sla", "SLA policies"), ("cadences", "follow-up cadences"),
            ("stale", "stale-lead rules"), ("dedup", "duplicate thresholds"), ("lifecycle", "lifecycle rules"),
            ("timezone", "default time zone"), ("sources", "source labels"),
            ("returning", "returning-lead policy"))


def page_css(filename: str) -> str | None:
    """The page's own stylesheet, once the app serves marketplace/static (the design system adds it)."""
    return url_for("static", filename=filename) if current_app.has_static_folder else None


def not_publishable(target: RuleSetVersion) -> str | None:
    """Why the version cannot go live yet (its simulation is missing, running, failed or of other rules), else
    None."""
    progress = read_progress(target.tenant_id, target.version)
    if not progress:
        return "it has not been simulated. Simulate it first, to see which recent leads would change owner."
    if progress.get("state") in RUNNING:
        return "its simulation has not finished. Wait for it, then look at what it found."
    if progress.get("state") != "done":
        return f"its simulation stopped ({progress.get('error') or 'no result'}). Simulate it again."
    if progress.get("digest") != rules_digest(target.body):  # edited while it ran (or simulated before digests)
        return "the rules changed after it was simulated. Simulate it again, to see what they do now."
    return None


def _rules(body: Any) -> RuleSet | None:
    try:
        return load_rules(body) if body else None
    except RulesError:
        return None  # a version stored before a check existed: the line diff still shows it


def change_summary(old: RuleSet | None, new: RuleSet | None, name=str) -> list[str]:
    """What the new version changes, in sentences ("Rule 'Bay Area' added", "Pool west: weight of Bob 1 → 2").

    `name` turns an owner's email into how the admin knows them."""
    if new is None:
        return []
    if old is None:
        return [f"Nothing is live yet: {_count(len(new.routing), 'routing rule')}, {_count(len(new.pools), 'pool')} "
                f"and {_count(len(new.owners), 'owner')} start routing new leads."]
    lines = _rule_changes(old, new, name)
    for pool in sorted(new.pools.keys() - old.pools.keys()):
        lines.append(f"Pool {pool} added")
    for pool in sorted(old.pools.keys() - new.pools.keys()):
        lines.append(f"Pool {pool} removed")
    for pool in (p for p in new.pools if p in old.pools):
        lines += _pool_changes(pool, old.pools[pool], new.pools[pool], name)
    lines += _owner_changes(old, new, name)
    if old.fallback != new.fallback:
        lines.append(f"Fallback: now {_target(new.fallback, name)} (was {_target(old.fallback, name)})")
    return lines + [f"{label[:1].upper()}{label[1:]} changed" for key, label in SECTIONS
                    if getattr(old, key) != getattr(new, key)]


def _rule_changes(old: RuleSet, new: RuleSet, name) -> list[str]:
    before, after = {r.name: r for r in old.routing}, {r.name: r for r in new.routing}
    added = [n for n in after if n not in before]
    removed = [n for n in before if n not in after]
    lines = [f"{_count(len(added), 'rule')} added: {', '.join(added)}"] if added else []
    if removed:
        lines.append(f"{_count(len(removed), 'rule')} removed: {', '.join(removed)}")
    for rule_name in (n for n in after if n in before):
        was, now = before[rule_name], after[rule_name]
        if was.when != now.when:
            lines.append(f"Rule '{rule_name}': {_condition_changes(was.when, now.when)}")
        if was.assign != now.assign:
            lines.append(f"Rule '{rule_name}': now goes to {_target(now.assign, name)} "
                         f"(was {_target(was.assign, name)})")
    if [n for n in after if n in before] != [n for n in before if n in after]:
        lines.append("The order of the rules changed (the first rule that matches decides)")
    return lines


CONDITION_WORDS = {"employees_gte": "employees at least", "employees_lt": "employees fewer than",
                   "score_gte": "score at least", "score_lt": "score below", "email_domain": "email domain",
                   "has_phone": "has a phone", "has_email": "has an email", "account_owner": "has an account owner",
                   "any": "one condition suffices"}


def _condition_changes(was, now) -> str:
    """"country DE → DE, AT; postcode added (940-951)": each condition that differs, in the admin's words."""
    before, after = was.model_dump(exclude_defaults=True), now.model_dump(exclude_defaults=True)
    parts = []
    for key in [*before, *(k for k in after if k not in before)]:
        if before.get(key) == after.get(key):
            continue
        words = CONDITION_WORDS.get(key, key.replace("_", " "))
        if key not in after:
            parts.append(f"{words} removed (was {_shown(before[key])})")
        elif key not in before:
            parts.append(f"{words} added ({_shown(after[key])})")
        else:
            parts.append(f"{words} {_shown(before[key])} → {_shown(after[key])}")
    return "; ".join(parts) or "conditions changed"


def _shown(value: object) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return ", ".join(map(str, value)) if isinstance(value, list) else str(value)


def _owner_changes(old: RuleSet, new: RuleSet, name) -> list[str]:
    was_owners, now_owners = old.owners_by_email, new.owners_by_email
    lines = [f"Owner {name(e)} added" for e in now_owners if e not in was_owners]
    lines += [f"Owner {name(e)} removed" for e in was_owners if e not in now_owners]
    for email in (e for e in now_owners if e in was_owners and was_owners[e] != now_owners[e]):
        was, now = was_owners[email], now_owners[email]
        if was.active != now.active:
            lines.append(f"Owner {name(email)} {'reactivated' if now.active else 'deactivated'}")
        else:
            lines.append(f"Owner {name(email)}: hours, time zone or absence changed")
    return lines


def _pool_changes(pool: str, old, new, name) -> list[str]:
    lines = []
    if old.strategy != new.strategy:
        lines.append(f"Pool {pool}: {old.strategy.replace('_', ' ')} → {new.strategy.replace('_', ' ')}")
    was, now = {m.owner: m for m in old.members}, {m.owner: m for m in new.members}
    for email in (e for e in now if e not in was):
        lines.append(f"Pool {pool}: {name(email)} joins")
    for email in (e for e in was if e not in now):
        lines.append(f"Pool {pool}: {name(email)} leaves")
    for email in (e for e in now if e in was):
        if was[email].weight != now[email].weight:
            lines.append(f"Pool {pool}: weight of {name(email)} {was[email].weight} → {now[email].weight}")
        if was[email].capacity != now[email].capacity:
            lines.append(f"Pool {pool}: capacity of {name(email)} {was[email].capacity or 'none'} → "
                         f"{now[email].capacity or 'none'}")
    if old.respect_hours != new.respect_hours:
        lines.append(f"Pool {pool}: {'now' if new.respect_hours else 'no longer'} skips members outside their hours")
    return lines


def _target(target, name) -> str:
    if target.review:
        return "the review queue"
    if target.pool:
        return f"pool {target.pool}"
    if target.account_owner:
        return "the account owner"
    return name(target.owner)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'s' if n != 1 else ''}"


def examples(progress: dict | None, limit: int = EXAMPLES) -> list[dict]:
    """A few leads whose owner would change, rule changes first (a round-robin turn says little)."""
    if not progress or progress.get("state") != "done":
        return []
    rows = progress["result"]["rows"]
    order = {"rule": 0, "unowned": 1, "rotation": 2}
    changed = [r for r in rows if r.get("change", "rule" if r["current"] != r["simulated"] else "same") in order]
    return sorted(changed, key=lambda r: order[r.get("change", "rule")])[:limit]


@publish_bp.get("/tenants/<int:tenant_id>/rules/diff")
@tenant_view()
def diff(tenant: Tenant):
    """A version next to the live one: the changes in sentences, then line by line."""
    version = get_version(g.db, tenant.id, int_arg(request.args, "version") or "")
    live = live_version(g.db, tenant.id)
    names = owner_names(tenant.id)

    def label(email: str) -> str:
        return f"{names[email]} ({email})" if email in names else email

    summary = (change_summary(_rules(live.body) if live else None, _rules(version.body), label)
               if version is not None and (live is None or live.id != version.id) else [])
    return render_template("console/rules_diff.html", tenant=tenant, role=g.role, version=version, live=live,
                           lines=diff_lines(live, version) if version is not None else [], summary=summary,
                           asked=request.args.get("version", ""))


@publish_bp.get("/tenants/<int:tenant_id>/rules/<int:version>/publish")
@tenant_view()
def confirm(tenant: Tenant, version: int):
    """What going live with `version` changes, and what its simulation found; the button posts confirm=yes."""
    target = get_version(g.db, tenant.id, version)
    if target is None:
        # as the diff page does: a page saying so, not an error (version numbers are not secrets within a tenant)
        return render_template("console/publish.html", tenant=tenant, role=g.role, version=None, asked=version,
                               css=page_css("publish.css"))
    live = live_version(g.db, tenant.id)
    names = owner_names(tenant.id)

    def label(email: str) -> str:
        return f"{names[email]} ({email})" if email in names else email

    progress = read_progress(tenant.id, version)
    is_live = live is not None and live.id == target.id
    next_path = safe_local_path(request.args.get("next"), "/console/")
    return render_template(
        "console/publish.html", tenant=tenant, role=g.role, version=target, live=live, is_live=is_live,
        lines=[] if is_live else diff_lines(live, target),
        summary=[] if is_live else change_summary(_rules(live.body) if live else None, _rules(target.body), label),
        progress=progress, blocked=not_publishable(target), examples=examples(progress),
        names=names, running=bool(progress and progress.get("state") in RUNNING),
        next=next_path, here=confirm_url(tenant.id, version, next_path), asked=version, css=page_css("publish.css"))


def confirm_url(tenant_id: int, version: int, next_path: str | None = None) -> str:
    return url_for("console_publish.confirm", tenant_id=tenant_id, version=version,
                   **({"next": next_path} if next_path else {}))


def back_to_confirm(tenant_id: int, version: int, next_path: object):
    return redirect(confirm_url(tenant_id, version, safe_local_path(next_path, "/console/"))), 303
