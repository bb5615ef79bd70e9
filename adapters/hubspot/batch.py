"""What HubSpotAdapter's batch writes build and read: inputs shared with the single-record calls, and the
matching of a batch answer's results to the inputs sent.

Batch endpoints: https://developers.hubspot.com/docs/api-reference/latest/crm/objects/objects/batch/update-objects
"""
from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from typing import Any

from adapters.hubspot import fields as f
from adapters.hubspot import queries as q
from integration.protocols import parse_iso
from integration.records import TaskSpec


def owner_write(hs: str, owner_id: str, fields: Mapping[str, Any] | None) -> tuple[dict[str, str], list[str]]:
    """A set_owner write: the properties sent (owner + LeadRelay's fields) and the neutral fields it changes."""
    properties = {**(f.to_properties(hs, fields) if fields else {}), f.OWNER_PROPERTY: str(owner_id)}
    return properties, [f.OWNER_FIELD, *(fields or {})]


def task_input(spec: TaskSpec) -> dict[str, Any]:
    """A new task's properties and its association to the record (create_task and create_tasks)."""
    target = f.hubspot_object(spec.record_type)
    pkg = q.package("tasks")
    props = f.to_properties("tasks", {
        "subject": spec.subject, "body": spec.body, "due_at": f.ms(spec.due_at), "status": f.TASK_OPEN,
        "priority": f.TASK_PRIORITIES.get(spec.priority, "HIGH"), "kind": f.TASK_TYPES.get(spec.kind, "TODO")})
    props[f.OWNER_PROPERTY] = str(spec.owner_id)
    link = pkg.PublicAssociationsForObject(to=pkg.PublicObjectId(id=str(spec.record_id)), types=[
        pkg.AssociationSpec(association_category="HUBSPOT_DEFINED",
                            association_type_id=f.TASK_ASSOCIATIONS[target])])
    return {"properties": props, "associations": [link]}


def _task_key(props: Mapping[str, Any]) -> tuple[Any, ...]:
    """What tells tasks apart in a batch answer: subject, body, owner and due time (sent as ms, read back ISO)."""
    due = parse_iso(props.get(f.PROPERTIES["tasks"]["due_at"]))
    names = (f.PROPERTIES["tasks"]["subject"], f.PROPERTIES["tasks"]["body"], f.OWNER_PROPERTY)
    return (*(str(props.get(n) or "").strip() for n in names), f.ms(due) if due else None)


def match_created(sent: list[dict[str, str]], created: list[Any]) -> list[str | None]:
    """Each input's new task id (None: not in the answer).

    HubSpot's batch results come in no fixed order and carry no input index (maintainers:
    https://github.com/HubSpot/hubspot-api-nodejs/issues/190), but each result returns the objectWriteTraceId of
    its input, which the adapter sets to the input's index. A result without one is matched by the properties
    sent; among inputs identical in those, in input order.
    """
    ids: list[str | None] = [None] * len(sent)
    untraced = []
    for task in created:
        trace = getattr(task, "object_write_trace_id", None)
        if trace is not None and str(trace).isdigit() and int(trace) < len(sent) and ids[int(trace)] is None:
            ids[int(trace)] = str(task.id)
        else:
            untraced.append(task)
    waiting: dict[tuple[Any, ...], deque[int]] = {}
    for n, props in enumerate(sent):
        if ids[n] is None:
            waiting.setdefault(_task_key(props), deque()).append(n)
    for task in untraced:
        queue = waiting.get(_task_key(task.properties or {}))
        if queue:
            ids[queue.popleft()] = str(task.id)
    return ids
