"""Rules editor helpers: small forms for the common edits (owner hours and out of office, pool members and weights,
territories). Each loads the working draft (else the live version), changes the structure, validates it with the
rule loader and saves the result into the one working draft (console_rules.save_draft); errors are shown on the
rules page at their path and line.
Names (owner, pool) come from the form: the only URL variable is the tenant id.
"""
from __future__ import annotations

import copy
import re
from collections.abc import Callable

from flask import Blueprint, flash, g, redirect, request, url_for

from integration.models import Tenant
from integration.rules import RulesError, check_limits, validate_rules
from integration.rules.limits import MAX_BYTES
from marketplace.access import tenant_view
from marketplace.console_rules import as_yaml, editable_version, refused, save_draft

editor_bp = Blueprint("console_editor", __name__, url_prefix="/console")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class EditError(ValueError):
    """A form value that cannot be applied (before the rule loader even sees the document)."""


def helper_choices(tenant: Tenant) -> dict:
    """Owners and pools of the document the helpers edit, for the forms' choices."""
    base = editable_version(g.db, tenant.id)
    body = base.body if base is not None and isinstance(base.body, dict) else {}
    owners = [o.get("email") for o in body.get("owners") or [] if isinstance(o, dict) and o.get("email")]
    pools = sorted((body.get("pools") or {}).keys()) if isinstance(body.get("pools"), dict) else []
    return {"base": base, "owners": owners, "pools": pools}


@editor_bp.app_context_processor
def _inject() -> dict:
    return {"rule_helpers": helper_choices}


def _lines(value: str) -> list[str]:
    if len(value or "") > MAX_BYTES:  # refused before it is split: the rule set could not hold it anyway
        raise EditError(f"routing: a list of {len(value):,} characters is longer than the rule set's limit "
                        f"({MAX_BYTES // 1024} KB)")
    return [part.strip() for part in re.split(r"[,\n]", value or "") if part.strip()]


def _owner(body: dict, email: str) -> dict:
    email = email.strip().lower()
    for owner in body.get("owners") or []:
        if isinstance(owner, dict) and str(owner.get("email", "")).lower() == email:
            return owner
    raise EditError(f"owners: no owner {email or '(none given)'} in the rule set")


def set_hours(body: dict, form) -> str:
    owner = _owner(body, form.get("owner", ""))
    hours = (form.get("hours") or "").strip()
    if hours:
        owner["hours"] = hours
    else:
        owner.pop("hours", None)
    start, end = (form.get("ooo_start") or "").strip(), (form.get("ooo_end") or "").strip()
    if start or end:
        if not _DATE.match(start) or not _DATE.match(end or start):
            raise EditError("out_of_office: dates must be YYYY-MM-DD")
        owner.setdefault("out_of_office", []).append(f"{start}..{end or start}")
    return f"hours of {owner['email']}"


def _pool(body: dict, name: str) -> dict:
    pool = (body.get("pools") or {}).get(name.strip())
    if not isinstance(pool, dict):
        raise EditError(f"pools: no pool {name.strip() or '(none given)'} in the rule set")
    return pool


def edit_pool(body: dict, form) -> str:
    name, email = (form.get("pool") or "").strip(), (form.get("owner") or "").strip().lower()
    pool = _pool(body, name)
    members = pool.setdefault("members", [])
    found = [m for m in members if isinstance(m, dict) and str(m.get("owner", "")).lower() == email]
    action = form.get("action", "set")
    if action == "remove":
        if not found:
            raise EditError(f"pools.{name}.members: {email} is not a member")
        pool["members"] = [m for m in members if m not in found]
        return f"{email} removed from pool {name}"
    member = found[0] if found else None
    if member is None:
        member = {"owner": email}
        members.append(member)
    weight = (form.get("weight") or "").strip()
    if weight:
        try:
            member["weight"] = int(weight)
        except ValueError as exc:
            raise EditError(f"pools.{name}.members: weight {weight!r} is not a whole number") from exc
    return f"pool {name}: {email}" + (f" weight {weight}" if weight else "")


def add_territory(body: dict, form) -> str:
    name = (form.get("name") or "").strip()
    if not name:
        raise EditError("routing: a territory needs a name")
    when = {key: [v.upper() if key != "postcode" else v for v in _lines(form.get(key, ""))]
            for key in ("country", "state", "postcode")}
    when = {key: values for key, values in when.items() if values}
    if not when:
        raise EditError("routing: give at least one country, state or postcode range")
    target, value = form.get("target", "owner"), (form.get("target_name") or "").strip()
    if target not in ("owner", "pool") or not value:
        raise EditError("routing: assign the territory to an owner or a pool")
    rule = {"name": name, "when": when, "assign": {target: value.lower() if target == "owner" else value}}
    routing = body.setdefault("routing", [])
    routing.insert(0 if form.get("position") == "first" else len(routing), rule)
    return f"territory {name}"


def _apply(tenant: Tenant, change: Callable[[dict, object], str]):
    base = editable_version(g.db, tenant.id)
    body = base.body if base is not None and isinstance(base.body, dict) else {"version": 1}
    try:
        check_limits(body)  # a version stored before the limits existed is refused before it is copied
        body = copy.deepcopy(body)
        what = change(body, request.form)
        check_limits(body)  # whatever the change built, the stored result is held to the limits
    except EditError as exc:
        path, _, message = str(exc).partition(": ")
        return refused(tenant, as_yaml(body), [(path, message)])
    except RulesError as exc:  # too large to show as text
        return refused(tenant, "", exc.issues)
    try:
        validate_rules(body)
    except RulesError as exc:
        return refused(tenant, as_yaml(body), exc.issues)
    row = save_draft(g.db, tenant.id, body, f"{g.user.email} (editor: {what})"[:320])
    source = f"version {base.version}" if base is not None else "an empty rule set"
    flash(f"Saved draft version {row.version} ({what}, from {source}).", "info")
    return redirect(url_for("console.rules", tenant_id=tenant.id, edit=row.version)), 303


@editor_bp.post("/tenants/<int:tenant_id>/rules/helpers/hours")
@tenant_view(write=True)
def hours(tenant: Tenant):
    return _apply(tenant, set_hours)


@editor_bp.post("/tenants/<int:tenant_id>/rules/helpers/pool")
@tenant_view(write=True)
def pool(tenant: Tenant):
    return _apply(tenant, edit_pool)


@editor_bp.post("/tenants/<int:tenant_id>/rules/helpers/territory")
@tenant_view(write=True)
def territory(tenant: Tenant):
    return _apply(tenant, add_territory)
