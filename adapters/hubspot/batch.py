"""What HubSpotAdapter's batch writes build and read: inputs shared with the single-record calls, and the
matching of a batch answer's results to the inputs sent.

Batch endpoints: https://developers.hubspot.com/docs/api-reference/latest/crm/objects/objects/batch/update-objects
"""
from __future__ import annotations

import datetime as dt
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from adapters.hubspot import fields as f
from adapters.hubspot import queries as q
from integration.crm.batch_writes import STOPS_THE_REST, one_by_one, send_built
from integration.errors import CRMConflict, CRMValidationError
from integration.protocols import parse_iso
from integration.records import TaskSpec

Item = TypeVar("Item")

# The company a new record belongs to, as its primary company (what HubSpot shows as "Primary company" and keeps in
# associatedcompanyid; the unlabeled association comes with it). HUBSPOT_DEFINED type ids: contact to primary company
# 1, deal to primary company 5 (https://developers.hubspot.com/docs/api/crm/associations/associations-v4#association-type-id-values).
# A new lead has no other company, and one matched by its web domain is what HubSpot's own auto-association makes
# primary.
COMPANY_ASSOCIATIONS: dict[str, int] = {"contacts": 1, "deals": 5}
# What tells created records apart in a batch answer whose results carry no objectWriteTraceId (see match_created)
MATCH_KEYS: dict[str, tuple[str, ...]] = {
    "tasks": (f.PROPERTIES["tasks"]["subject"], f.PROPERTIES["tasks"]["body"], f.OWNER_PROPERTY),
    "notes": ("hs_note_body",), "contacts": ("email", "firstname", "lastname", f.OWNER_PROPERTY),
    "companies": ("domain", "name", f.OWNER_PROPERTY), "deals": ("dealname", f.OWNER_PROPERTY)}
# a whole batch create refused for one input: 409 for an email another contact holds, 400 for an invalid value
BATCH_REFUSALS = (CRMConflict, CRMValidationError)


def owner_write(hs: str, owner_id: str, fields: Mapping[str, Any] | None) -> tuple[dict[str, str], list[str]]:
    """A set_owner write: the properties sent (owner + LeadRelay's fields) and the neutral fields it changes."""
    properties = {**(f.to_properties(hs, fields) if fields else {}), f.OWNER_PROPERTY: str(owner_id)}
    return properties, [f.OWNER_FIELD, *(fields or {})]


def _link(pkg: Any, to_id: str, type_id: int) -> Any:
    """One HUBSPOT_DEFINED association of a create input."""
    return pkg.PublicAssociationsForObject(to=pkg.PublicObjectId(id=str(to_id)), types=[
        pkg.AssociationSpec(association_category="HUBSPOT_DEFINED", association_type_id=type_id)])


def record_input(hs: str, fields: Mapping[str, Any], owner_id: str | None,
                 company_id: str | None) -> dict[str, Any]:
    """A new record's properties, owner and company association (create_record and create_records)."""
    props = f.create_properties(hs, fields)
    if owner_id:
        props[f.OWNER_PROPERTY] = str(owner_id)
    type_id = COMPANY_ASSOCIATIONS.get(hs)
    links = [_link(q.package(hs), company_id, type_id)] if company_id and type_id else []
    return {"properties": props, "associations": links}


def note_input(target: str, record_id: str, body: str) -> dict[str, Any]:
    """A note on the record (add_note and add_notes): hs_timestamp is required
    (https://developers.hubspot.com/docs/api/crm/notes)."""
    props = {"hs_note_body": f.task_body_html(body), "hs_timestamp": str(f.ms(dt.datetime.now(dt.UTC)))}
    return {"properties": props, "associations": [_link(q.package("notes"), record_id, f.NOTE_ASSOCIATIONS[target])]}


def create_chunk(chunk: Sequence[Item], build: Callable[[Item], dict[str, Any]],
                 send: Callable[[list[dict[str, Any]]], list[Any]], one: Callable[[Item], str]) -> list[Any]:
    """One batch create of the chunk; when HubSpot refuses the whole batch for one input, the chunk one by one.

    HubSpot answers a batch create holding one taken email with 409 CONFLICT naming only that contact, and creates
    nothing (HubSpot/hubspot-api-python#51; mitodl/mitxpro#2653 falls back to single creates); an invalid value or
    association in one input is a 400 for the whole batch. Single creates give each input its own id or error.
    """
    try:
        return send_built(chunk, build, send)
    except BATCH_REFUSALS:
        if len(chunk) < 2:
            raise
        return one_by_one(chunk, one)


def stopping(write: Callable[[Sequence[Item]], list[Any]]) -> Callable[[Sequence[Item]], list[Any]]:
    """`write` (create_chunk) for in_chunks, raising for every later chunk, without a call, the rate limit, outage or
    auth failure a chunk's single creates ended on: in_chunks stops so after a batch call that fails, not after a
    chunk whose items carry the error."""
    stopped: list[Exception] = []

    def guarded(chunk: Sequence[Item]) -> list[Any]:
        if stopped:
            raise stopped[0]
        results = write(chunk)
        stopped.extend(r for r in results[-1:] if isinstance(r, STOPS_THE_REST))
        return results
    return guarded


def task_input(spec: TaskSpec) -> dict[str, Any]:
    """A new task's properties and its association to the record (create_task and create_tasks)."""
    target = f.hubspot_object(spec.record_type)
    pkg = q.package("tasks")
    props = f.to_properties("tasks", {
        "subject": spec.subject, "body": spec.body, "due_at": f.ms(spec.due_at), "status": f.TASK_OPEN,
        "priority": f.TASK_PRIORITIES.get(spec.priority, "HIGH"), "kind": f.TASK_TYPES.get(spec.kind, "TODO")})
    props[f.OWNER_PROPERTY] = str(spec.owner_id)
    return {"properties": props, "associations": [_link(pkg, spec.record_id, f.TASK_ASSOCIATIONS[target])]}


def _key(hs: str, props: Mapping[str, Any]) -> tuple[Any, ...]:
    """What tells records apart in a batch answer: MATCH_KEYS' values and, for activities, hs_timestamp (sent as
    ms, read back ISO)."""
    due = parse_iso(props.get("hs_timestamp")) if hs in ("tasks", "notes") else None
    return (*(str(props.get(n) or "").strip().casefold() for n in MATCH_KEYS.get(hs, ())), f.ms(due) if due else None)


def match_created(sent: list[dict[str, str]], created: list[Any], hs: str = "tasks") -> list[str | None]:
    """Each input's new record id (None: not in the answer).

    HubSpot's batch results come in no fixed order and carry no input index (maintainers:
    https://github.com/HubSpot/hubspot-api-nodejs/issues/190), but each result returns the objectWriteTraceId of
    its input, which the adapter sets to the input's index. A result without one is matched by the properties
    sent; among inputs identical in those, in input order.
    """
    ids: list[str | None] = [None] * len(sent)
    untraced = []
    for obj in created:
        trace = getattr(obj, "object_write_trace_id", None)
        if trace is not None and str(trace).isdigit() and int(trace) < len(sent) and ids[int(trace)] is None:
            ids[int(trace)] = str(obj.id)
        else:
            untraced.append(obj)
    waiting: dict[tuple[Any, ...], deque[int]] = {}
    for n, props in enumerate(sent):
        if ids[n] is None:
            waiting.setdefault(_key(hs, props), deque()).append(n)
    for obj in untraced:
        queue = waiting.get(_key(hs, obj.properties or {}))
        if queue:
            ids[queue.popleft()] = str(obj.id)
    return ids
