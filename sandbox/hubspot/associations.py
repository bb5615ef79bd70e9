"""Associations between records, stored both ways in account.extra["assoc"].

Key "from_type:from_id:to_type" -> {to_id: [association type ids]}. Callers hold store.lock.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sandbox.hubspot.schema import ASSOCIATION_TYPES, PRIMARY_TYPES, TYPES, association_label

if TYPE_CHECKING:
    from sandbox.state import Account


def _key(from_type: str, from_id: str, to_type: str) -> str:
    return f"{from_type}:{from_id}:{to_type}"


def _inverse(from_type: str, to_type: str, type_id: int) -> int | None:
    if PRIMARY_TYPES.get((from_type, to_type)) == type_id:
        return PRIMARY_TYPES.get((to_type, from_type))
    return ASSOCIATION_TYPES.get((to_type, from_type))


def _add_one(account: Account, from_type: str, from_id: str, to_type: str, to_id: str, type_id: int) -> None:
    links = account.extra.setdefault("assoc", {}).setdefault(_key(from_type, from_id, to_type), {})
    ids = links.setdefault(str(to_id), [])
    if type_id not in ids:
        ids.append(type_id)


def add(account: Account, from_type: str, from_id: str, to_type: str, to_id: str, type_id: int) -> None:
    """Associate both ways (the reverse direction gets the inverse type id)."""
    _add_one(account, from_type, str(from_id), to_type, str(to_id), type_id)
    inverse = _inverse(from_type, to_type, type_id)
    if inverse is not None:
        _add_one(account, to_type, str(to_id), from_type, str(from_id), inverse)
    # a primary label implies the unlabeled one, as on HubSpot
    if PRIMARY_TYPES.get((from_type, to_type)) == type_id and (from_type, to_type) in ASSOCIATION_TYPES:
        add(account, from_type, from_id, to_type, to_id, ASSOCIATION_TYPES[(from_type, to_type)])


def remove(account: Account, from_type: str, from_id: str, to_type: str, to_id: str) -> None:
    """Remove every association type between the two records, both ways."""
    table = account.extra.setdefault("assoc", {})
    table.get(_key(from_type, str(from_id), to_type), {}).pop(str(to_id), None)
    table.get(_key(to_type, str(to_id), from_type), {}).pop(str(from_id), None)


def of(account: Account, from_type: str, from_id: str, to_type: str) -> dict[str, list[int]]:
    """{to_id: [type ids]} for one record and target type."""
    return dict(account.extra.get("assoc", {}).get(_key(from_type, str(from_id), to_type), {}))


def drop_all(account: Account, object_type: str, object_id: str) -> None:
    """Forget every association of a deleted record."""
    for to_type in TYPES:
        for to_id in list(of(account, object_type, object_id, to_type)):
            remove(account, object_type, object_id, to_type, to_id)


def move_all(account: Account, object_type: str, from_id: str, to_id: str, take_primary: bool = True) -> None:
    """Re-point a merged-away record's associations at the merged record.

    With take_primary False (the secondary record of a merge), a "primary" label is not taken where the merged
    record has a primary association of that type already: "excess 'primary' associations from secondary records
    will be dropped" (changelog "Updated merge functionality for contacts and companies").
    """
    for other_type in TYPES:
        for other_id, type_ids in of(account, object_type, from_id, other_type).items():
            remove(account, object_type, from_id, other_type, other_id)
            if other_type == object_type and other_id == to_id:
                continue
            for type_id in type_ids:
                if not take_primary and _has_primary(account, object_type, to_id, other_type, type_id):
                    continue
                add(account, object_type, to_id, other_type, other_id, type_id)


def _has_primary(account: Account, from_type: str, from_id: str, to_type: str, type_id: int) -> bool:
    """`type_id` is the primary label of the pair and the record has such a primary association already."""
    if PRIMARY_TYPES.get((from_type, to_type)) != type_id:
        return False
    return any(type_id in ids for ids in of(account, from_type, from_id, to_type).values())


def v3_block(account: Account, object_type: str, object_id: str, to_types: list[str]) -> dict[str, Any]:
    """The `associations` object of a v3 GET: {companies: {results: [{id, type}]}}."""
    out: dict[str, Any] = {}
    for to_type in to_types:
        if to_type not in TYPES:
            continue
        results = [{"id": other_id, "type": association_label(object_type, to_type, type_id)}
                   for other_id, type_ids in of(account, object_type, object_id, to_type).items()
                   for type_id in type_ids]
        if results:
            out[to_type] = {"results": results}
    return out


def v4_results(account: Account, object_type: str, object_id: str, to_type: str) -> list[dict[str, Any]]:
    """GET /crm/v4/objects/{type}/{id}/associations/{toType} results."""
    rows = []
    for other_id, type_ids in sorted(of(account, object_type, object_id, to_type).items(), key=lambda i: int(i[0])):
        kinds = [{"category": "HUBSPOT_DEFINED", "typeId": t,
                  "label": "Primary" if PRIMARY_TYPES.get((object_type, to_type)) == t else None}
                 for t in type_ids]
        rows.append({"toObjectId": int(other_id), "associationTypes": kinds})
    return rows
