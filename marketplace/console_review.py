"""The review queue: unsure duplicates side by side (merge / not a duplicate), leads to assign by hand, and the
automatic merges with an Undo. Every action goes to the CRM through the tenant's adapter and is audited."""
from __future__ import annotations

import logging
import re
from collections import Counter
from typing import NamedTuple

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from sqlalchemy import select

from integration.admin.review_outcomes import (
    DUPLICATE_OF,
    HandAssignment,
    Written,
    assign_by_hand,
    clear_duplicate_of,
    close_review_task,
)
from integration.config import get_settings
from integration.crm.merged_records import remap_merged
from integration.crm.users import cached_users
from integration.crm.wiring import adapter_for
from integration.dedup import survivor
from integration.errors import CRMError, CRMNotFound
from integration.models import Decision, MergeSnapshot, ReviewItem, Tenant, utcnow
from integration.pipeline.duplicates import _snap, as_dict
from integration.protocols import CRMAdapter
from integration.queues import redis_connection
from integration.records import CRMUser, Record
from integration.rules.model import RuleSet
from integration.rules.published import published_rules
from integration.rules.values import zone
from integration.work import route_key
from marketplace.access import tenant_view
from marketplace.labels import label, zone_name
from marketplace.params import ParamError, int_arg
from marketplace.record_display import Owners, RecordView, crm_links, for_objects, view, with_names
from marketplace.review_pair import phone_shown, side_by_side

log = logging.getLogger("leadrelay.console.review")
review_bp = Blueprint("console_review", __name__, url_prefix="/console")
PAGE = 50


@review_bp.get("/tenants/<int:tenant_id>/review")
@tenant_view()
def review(tenant: Tenant):
    items = g.db.scalars(ReviewItem.for_tenant(tenant.id).where(ReviewItem.status == "open")
                         .order_by(ReviewItem.id).limit(PAGE)).all()
    merges = g.db.scalars(MergeSnapshot.for_tenant(tenant.id).where(MergeSnapshot.status.in_(("merged", "undone")))
                          .order_by(MergeSnapshot.id.desc()).limit(PAGE)).all()
    rules = published_rules(g.db, tenant.id)
    records, everyone, error = {}, [], None
    if items:
        try:
            adapter = adapter_for(tenant.id)
            # every item's records, to name them and to show a pair side by side: one batch call per object type
            records = _records(adapter, items)
            # to assign by hand and to name the owners of a pair: the users every worker shares (crm.users), not a
            # CRM call per page view; the assignment itself checks the owner against the CRM's live list
            everyone = cached_users(redis_connection(get_settings()), tenant.id, adapter)
        except CRMError as exc:
            error = f"The CRM could not be read ({exc}); the actions below still work once it answers."
    users = sorted((u for u in everyone if u.active), key=lambda u: (u.name or u.email).lower())
    owners = Owners(everyone, rules)
    region = tenant_region(rules)
    names = for_objects(g.db, tenant, [k for i in items for k in _keys(i)], records)
    pairs = {i.id: side_by_side(records.get((i.object_type, i.object_id)),
                                records.get((i.object_type, i.other_object_id or "")), owners.label, region)
             for i in items}
    views = {i.id: _item_view(i, names) for i in items}
    return render_template("console/review.html", tenant=tenant, role=g.role, items=items, pairs=pairs, views=views,
                           users=users, merges=[_merge_view(tenant, m) for m in merges],
                           local=zone(rules.timezone if rules else "UTC"),
                           zone=zone_name(rules.timezone if rules else "UTC"),
                           unrestored=_unrestored(tenant, merges), error=error, page=PAGE)


class ItemView(NamedTuple):
    """A review item's records by name, its heading's names (told apart when they read alike), and its reason
    with their ids replaced by those names."""

    record: RecordView
    other: RecordView | None
    reason: str
    title: str
    other_title: str


def _item_view(item: ReviewItem, names: dict[tuple[str, str], RecordView]) -> ItemView:
    record, other = names[(item.object_type, item.object_id)], names.get((item.object_type, item.other_object_id or ""))
    title, other_title = told_apart(record, other) if other else (record.short, "")
    return ItemView(record, other, _plain(_named(item.reason, names, item.object_type)), title, other_title)


def _plain(reason: str) -> str:
    """The reason as a sentence under its heading: the heading already says "Unusable lead", and an exception's
    class name ("CRMValidationError: …") is no word for an admin."""
    reason = re.sub(r"^unusable lead: ", "", reason, flags=re.I)
    reason = re.sub(r"^CRM\w*Error: ", "The CRM answered: ", reason)
    return reason[:1].upper() + reason[1:]


def told_apart(a: RecordView, b: RecordView, short: bool = True) -> tuple[str, str]:
    """How a sentence names two records so they can be told apart: "Ada Lovelace · Acme" (or just the names when
    `short` is False), with the company, then the email (else the CRM id) added while the two read alike."""
    steps = [lambda v: v.name] if not short else []
    steps += [lambda v: v.short, lambda v: f"{v.short} ({v.email or v.kind_label + ' ' + v.object_id})",
              lambda v: f"{v.short} ({v.kind_label} {v.object_id})"]  # one email on both: the CRM ids, at last
    for step in steps:
        if step(a) != step(b):
            return step(a), step(b)
    return steps[-1](a), steps[-1](b)


class MergeView(NamedTuple):
    snapshot: MergeSnapshot
    removed: RecordView
    kept: RecordView


def _keys(item: ReviewItem) -> list[tuple[str, str]]:
    return [(item.object_type, x) for x in (item.object_id, item.other_object_id) if x]


def _named(text: str, names: dict[tuple[str, str], RecordView], object_type: str) -> str:
    """A sentence written with record ids ("Possible duplicate of 106") naming the people instead."""
    return with_names(text, {oid: v.name for (t, oid), v in names.items() if t == object_type})


def _merge_view(tenant: Tenant, m: MergeSnapshot) -> MergeView:
    links = crm_links(tenant)
    return MergeView(m, view(tenant, links, m.object_type, m.restored_id or m.loser_id, m.loser_before),
                     view(tenant, links, m.object_type, m.survivor_id or "", m.survivor_before))


def tenant_region(rules: RuleSet | None) -> str | None:
    """The country a national phone number is read in when a record does not say: the owners' usual country."""
    countries = Counter(o.country for o in (rules.owners if rules else []) if o.country)
    return countries.most_common(1)[0][0] if countries else None


def _unrestored(tenant: Tenant, merges: list[MergeSnapshot]) -> dict[int, list[str]]:
    """What each undo could not restore (its audit entry's notes), by snapshot id."""
    keys = [f"undo:{m.object_type}:{m.id}" for m in merges if m.status == "undone"]
    if not keys:
        return {}
    rows = g.db.scalars(Decision.for_tenant(tenant.id).where(Decision.idempotency_key.in_(keys)))
    return {row.inputs.get("snapshot_id"): list(row.inputs.get("notes") or []) for row in rows}


def _records(adapter: CRMAdapter, items: list[ReviewItem]) -> dict[tuple[str, str], Record]:
    """The records of the items (both of a duplicate pair), one batch call per object type."""
    wanted: dict[str, set[str]] = {}
    for item in items:
        wanted.setdefault(item.object_type, set()).update(x for x in (item.object_id, item.other_object_id) if x)
    found = {}
    for object_type, ids in wanted.items():
        for record in adapter.get_records(object_type, sorted(ids)):
            found[(object_type, record.id)] = record
    return found


def _open_item(tenant: Tenant, kinds: tuple[str, ...]) -> ReviewItem | None:
    """The form's item (404 when it is not this tenant's); None, with a message, when already resolved."""
    item = ReviewItem.get_for_tenant(g.db, _form_int("item_id"), tenant.id)
    if item is None or item.kind not in kinds:
        abort(404)
    if item.status != "open":
        flash(f"Review item #{item.id} was already resolved ({item.resolution}).", "info")
        return None
    return item


def _form_int(name: str) -> int:
    """An id posted by the page's form; anything that cannot be a row id (blank, "²", past ID_MAX) is a 404."""
    try:
        value = int_arg(request.form, name)
    except ParamError:
        value = None
    if value is None:
        abort(404)
    return value


def _back(tenant: Tenant):
    return redirect(url_for("console_review.review", tenant_id=tenant.id)), 303


def _resolve(item: ReviewItem, resolution: str, decision: Decision, written: Written) -> None:
    """Close the item and audit the action (one Decision per review item) with what was written to the CRM."""
    item.status, item.resolution = "resolved", resolution[:200]
    item.resolved_by, item.resolved_at = g.user.email, utcnow()
    decision.inputs = {**decision.inputs, **written.inputs, **({"crm_refused": written.notes} if written.notes else {})}
    g.db.add(decision)


def _decision(item: ReviewItem, outcome: str, object_id: str, reason: str, inputs: dict) -> Decision:
    return Decision(tenant_id=item.tenant_id, idempotency_key=f"review:{item.id}", kind="review",
                    object_type=item.object_type, object_id=object_id, outcome=outcome[:200], reason=reason[:500],
                    inputs={"review_item": item.id, "review_kind": item.kind, "by": g.user.email, **inputs})


def _said(message: str, written: Written, names: dict[str, str] | None = None) -> str:
    """The flash: what was done, then what the CRM refused, its field keys and record ids in the admin's words."""
    def plain(note: str) -> str:
        note = _KEY.sub(lambda m: f"the “{label(m.group(0))}” field", note)
        return with_names(note, names or {})
    return " ".join([message, *(f"Not written: {plain(n)}." for n in written.notes)])


_KEY = re.compile(r"\bleadrelay_[a-z_]+\b")


def _unfinished(action: str, exc: CRMError) -> str:
    return (f"The CRM refused or did not answer ({exc}); the item stays open. What was written is kept: "
            f"press {action} again to finish.")


def _note(what: str) -> str:
    """The closing note on the admin's "possible duplicate" task."""
    return f"Resolved in LeadRelay's review queue by {g.user.email}: {what}."


@review_bp.post("/tenants/<int:tenant_id>/review/merge")
@tenant_view(write=True)
def merge(tenant: Tenant):
    item = _open_item(tenant, ("dedup",))
    if item is None:
        return _back(tenant)
    try:
        message = merge_pair(tenant, item, adapter_for(tenant.id))
    except CRMError as exc:
        g.db.rollback()
        flash(_unfinished("Merge", exc), "error")
        return _back(tenant)
    flash(message, "info" if item.status == "resolved" else "error")
    return _back(tenant)


def merge_pair(tenant: Tenant, item: ReviewItem, adapter: CRMAdapter) -> str:
    """Merge the pair with survivorship, snapshot first (as the pipeline does), then the follow-ups: LeadRelay's
    duplicate-of field cleared on the survivor, the admin's task closed; then resolve and audit. A merge done
    before (the follow-ups were interrupted) is not made again."""
    snapshot = _merged_before(tenant, item)
    if snapshot is None:
        snapshot = _merge(tenant, item, adapter)
        if isinstance(snapshot, str):
            return snapshot
    survivor_id, loser_id = snapshot.survivor_id, snapshot.loser_id
    written = Written()
    clear_duplicate_of(adapter, item.object_type, survivor_id, {survivor_id, loser_id, item.object_id,
                                                                 item.other_object_id or ""}, written)
    close_review_task(adapter, item, _note(f"{loser_id} merged into {survivor_id}"), written)
    score = float(item.payload.get("score") or 0)
    reason = (f"{g.user.email} merged {loser_id} into {survivor_id} from the review queue "
              f"(score {score:.2f}: {'; '.join(item.payload.get('reasons', [])[:4])})")
    before = snapshot.loser_before if snapshot.loser_before.get("id") == item.object_id else snapshot.survivor_before
    _resolve(item, f"merged into {survivor_id}", _decision(item, f"merged into {survivor_id}", loser_id, reason, {
        "snapshot_id": snapshot.id, "score": score, "email": before.get("email"), "survivor_id": survivor_id}),
        written)
    # last, once the item no longer needs the pair's old ids: what LeadRelay keeps under them moves to the id the
    # merged record lives under (HubSpot: a new one)
    remap_merged(g.db, tenant.id, item.object_type, (str(snapshot.survivor_before.get("id")), loser_id), survivor_id)
    links = crm_links(tenant)
    removed, kept = told_apart(view(tenant, links, item.object_type, loser_id, snapshot.loser_before),
                               view(tenant, links, item.object_type, survivor_id, snapshot.survivor_before),
                               short=False)
    return _said(f"Merged {removed} (removed) into {kept} (kept).", written, {loser_id: removed, survivor_id: kept})


def _merged_before(tenant: Tenant, item: ReviewItem) -> MergeSnapshot | None:
    snapshot_id = (item.payload or {}).get("snapshot_id")
    snapshot = MergeSnapshot.get_for_tenant(g.db, snapshot_id, tenant.id) if snapshot_id else None
    return snapshot if snapshot is not None and snapshot.status == "merged" else None


def _merge(tenant: Tenant, item: ReviewItem, adapter: CRMAdapter) -> MergeSnapshot | str:
    """The native merge, snapshot first; the merged snapshot (committed), or why nothing was merged."""
    plan = merge_plan(tenant, item, adapter)
    if plan is None:
        return GONE
    keep, lose, fields = plan.keep, plan.lose, plan.fields
    snapshot = _snapshot(tenant, item, keep, lose, fields)
    g.db.commit()  # the snapshot is stored before the CRM merges: the merge can always be undone
    try:
        result = adapter.merge(item.object_type, keep.id, lose.id, fields or None)
    except CRMNotFound:
        snapshot.status = "skipped"
        return "The CRM no longer has one of the records; nothing was merged."
    snapshot.status, snapshot.survivor_id = "merged", result.survivor_id
    g.db.commit()  # merged: pressing Merge again finishes the follow-ups, never merges twice
    return snapshot


GONE = "One of the two records is gone from the CRM; mark it 'not a duplicate' to close the item."


class MergePlan(NamedTuple):
    """What a merge will do: the record kept, the one removed, the values the kept record takes from the removed
    one (only where it has none), and the removed one's values that are dropped because the kept one has its own."""

    keep: Record
    lose: Record
    fields: dict[str, object]
    dropped: dict[str, object]


def merge_plan(tenant: Tenant, item: ReviewItem, adapter: CRMAdapter) -> MergePlan | None:
    """The pair read now (one batch call) and survivorship as the published rules say; None when one is gone."""
    found = {r.id: r for r in adapter.get_records(item.object_type, [item.object_id, item.other_object_id or ""])}
    record, other = found.get(item.object_id), found.get(item.other_object_id or "")
    if record is None or other is None:
        return None
    rules = published_rules(g.db, tenant.id)
    plan = survivor(as_dict(other), as_dict(record), rules.dedup.keep if rules else "oldest")
    keep, lose = (record, other) if plan.survivor["id"] == record.id else (other, record)
    fields = {k: v for k, v in plan.merged.items() if k in keep.fields and k != DUPLICATE_OF
              and v not in (None, "") and keep.fields.get(k) in (None, "")}
    dropped = {k: v for k, v in plan.overridden.items() if k in lose.fields and k != DUPLICATE_OF}
    return MergePlan(keep, lose, fields, dropped)


@review_bp.get("/tenants/<int:tenant_id>/review/merge")
@tenant_view()
def confirm_merge(tenant: Tenant):
    """Before a merge: a page saying which record is kept (and its owner), which is removed, what the kept one takes
    and how to undo it. The Merge button there (an admin's only) posts to `merge`; a viewer reads what would happen."""
    try:
        item_id = int_arg(request.args, "item_id")
    except ParamError:
        item_id = None
    item = ReviewItem.get_for_tenant(g.db, item_id, tenant.id) if item_id else None
    if item is None or item.kind != "dedup" or item.status != "open":
        return render_template("console/review_merge.html", tenant=tenant, role=g.role, item=None,
                               resolved=item.resolution if item is not None else None)
    try:
        adapter = adapter_for(tenant.id)
        plan = merge_plan(tenant, item, adapter)
        everyone = cached_users(redis_connection(get_settings()), tenant.id, adapter)
    except CRMError as exc:
        flash(f"The CRM could not be read ({exc}); try again in a minute.", "error")
        return _back(tenant)
    if plan is None:
        flash(GONE, "error")
        return _back(tenant)
    rules = published_rules(g.db, tenant.id)
    owners, region = Owners(everyone, rules), tenant_region(rules)
    names = for_objects(g.db, tenant, [(item.object_type, plan.keep.id), (item.object_type, plan.lose.id)],
                        {(item.object_type, r.id): r for r in (plan.keep, plan.lose)})
    country = plan.keep.fields.get("country") or plan.lose.fields.get("country") or region

    def shown(values: dict) -> list[tuple[str, str]]:
        return [(label(k), phone_shown(str(v), country) if k in ("phone", "mobile") else str(v))
                for k, v in values.items() if k not in ("extra_emails", "extra_phones")]

    kept, removed = names[(item.object_type, plan.keep.id)], names[(item.object_type, plan.lose.id)]
    kept_name, removed_name = told_apart(kept, removed, short=False)
    return render_template("console/review_merge.html", tenant=tenant, role=g.role, item=item, kept=kept,
                           removed=removed, kept_name=kept_name, removed_name=removed_name,
                           owner=owners.get(plan.keep.owner_id), takes=shown(plan.fields), dropped=shown(plan.dropped),
                           score=float(item.payload.get("score") or 0))


def _snapshot(tenant: Tenant, item: ReviewItem, keep: Record, lose: Record, fields: dict) -> MergeSnapshot:
    snapshot = g.db.scalar(MergeSnapshot.for_tenant(tenant.id).where(
        MergeSnapshot.object_type == item.object_type, MergeSnapshot.survivor_id == keep.id,
        MergeSnapshot.loser_id == lose.id))
    if snapshot is None:
        snapshot = MergeSnapshot(tenant_id=tenant.id, object_type=item.object_type, survivor_id=keep.id,
                                 loser_id=lose.id)
        g.db.add(snapshot)
    snapshot.score = round(float(item.payload.get("score") or 0), 4)
    snapshot.survivor_before, snapshot.loser_before = _snap(keep), _snap(lose)
    snapshot.merged_fields, snapshot.status = fields, "pending"
    g.db.flush()
    item.payload = {**(item.payload or {}), "snapshot_id": snapshot.id}
    return snapshot


@review_bp.post("/tenants/<int:tenant_id>/review/dismiss")
@tenant_view(write=True)
def dismiss(tenant: Tenant):
    """Not a duplicate: both records stay; LeadRelay's duplicate-of field is cleared and the admin's task closed."""
    item = _open_item(tenant, ("dedup",))
    if item is None:
        return _back(tenant)
    written = Written()
    try:
        adapter = adapter_for(tenant.id)
        clear_duplicate_of(adapter, item.object_type, item.object_id, {item.other_object_id or ""}, written)
        close_review_task(adapter, item, _note(f"{item.object_id} is not a duplicate of "
                                                     f"{item.other_object_id}; both records stay"), written)
    except CRMError as exc:
        g.db.rollback()
        flash(_unfinished("Not a duplicate", exc), "error")
        return _back(tenant)
    _resolve(item, "not a duplicate", _decision(
        item, "not a duplicate", item.object_id, f"{g.user.email}: {item.object_id} is not a duplicate of "
        f"{item.other_object_id}", {"other_id": item.other_object_id, "score": item.payload.get("score")}), written)
    names = _names(tenant, item.object_type, [item.object_id, item.other_object_id or ""])
    flash(_said(f"{names[item.object_id]} and {names[item.other_object_id or '']} are kept apart: both records "
                "stay.", written, names), "info")
    return _back(tenant)


@review_bp.post("/tenants/<int:tenant_id>/review/assign")
@tenant_view(write=True)
def assign(tenant: Tenant):
    """Assign a lead the pipeline could not route to an active CRM user, as routing would have written it."""
    item = _open_item(tenant, ("routing", "validation"))
    if item is None:
        return _back(tenant)
    owner_id = (request.form.get("owner_id") or "").strip()
    try:
        adapter = adapter_for(tenant.id)
        users = adapter.list_users()
        user = _active_user(users, owner_id)
        if user is None:
            flash("Pick an active CRM user.", "error")
            return _back(tenant)
        job = _hand_assignment(item, user)
        written = assign_by_hand(g.db, adapter, published_rules(g.db, tenant.id), lambda: users, job,
                                 _note(f"assigned by hand to {user.email}"))
    except CRMError as exc:
        g.db.rollback()
        flash(_unfinished("Assign", exc), "error")
        return _back(tenant)
    _resolve(item, f"assigned to {user.email}", job.decision, written)
    name = _names(tenant, item.object_type, [item.object_id])[item.object_id]
    flash(_said(f"{name} now belongs to {user.name or user.email} ({user.email}).", written, {item.object_id: name}),
          "info")
    return _back(tenant)


def _names(tenant: Tenant, object_type: str, ids: list[str]) -> dict[str, str]:
    """How a message names these records: read from the CRM (one batch call), else from their route decisions."""
    try:
        records = {(object_type, r.id): r for r in adapter_for(tenant.id).get_records(object_type, [i for i in ids
                                                                                                  if i])}
    except CRMError:
        records = {}
    views = for_objects(g.db, tenant, [(object_type, i) for i in ids], records)
    return {i: views[(object_type, i)].name for i in ids}


def _hand_assignment(item: ReviewItem, user: CRMUser) -> HandAssignment:
    """The review decision of a manual assignment, with the route decision's score and tier when there is one."""
    route = g.db.scalar(Decision.for_tenant(item.tenant_id).where(
        Decision.idempotency_key == route_key(item.object_type, item.object_id)))
    inputs = route.inputs if route is not None else {}
    reason = f"{g.user.email} assigned {item.object_id} to {user.email} by hand ({item.reason})"
    decision = _decision(item, user.email.lower(), item.object_id, reason, {
        "owner_id": user.id, "rule": "manual", "tier": inputs.get("tier") or "nurture",  # as the SLA task's
        **({"score": inputs["score"]} if inputs.get("score") is not None else {})})
    return HandAssignment(item, user, decision, route)


def _active_user(users: list[CRMUser], owner_id: str) -> CRMUser | None:
    return next((u for u in users if u.id == owner_id and u.active), None) if owner_id else None


@review_bp.post("/tenants/<int:tenant_id>/review/undo")
@tenant_view(write=True)
def undo(tenant: Tenant):
    """Undo an automatic merge from its snapshot (integration.admin.undo)."""
    from integration.admin.undo import UndoError, undo_merge

    snapshot_id = _form_int("snapshot_id")
    if g.db.scalar(select(MergeSnapshot.id).where(MergeSnapshot.id == snapshot_id,
                                                  MergeSnapshot.tenant_id == tenant.id)) is None:
        abort(404)
    try:
        flash(undo_merge(g.db, tenant.id, snapshot_id, adapter_for(tenant.id)), "info")
    except (UndoError, CRMError) as exc:
        g.db.rollback()
        flash(f"The merge could not be undone: {exc}", "error")
    return _back(tenant)
