"""Associations v4 (paths as hubspot-api-client 12 calls them, crm/associations/v4/api/basic_api.py)."""
from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from flask import Blueprint, Response, g, jsonify, request

from sandbox.hubspot import associations as assoc
from sandbox.hubspot import records
from sandbox.hubspot.errors import HubSpotError, validation
from sandbox.hubspot.schema import ASSOCIATION_TYPES, TYPES, ObjectType, association_type_for, object_type

if TYPE_CHECKING:
    from sandbox.context import Sandbox
    from sandbox.state import Account


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _type(name: str) -> ObjectType:
    otype = object_type(name)
    if otype is None:
        raise HubSpotError(400, f"Unable to infer object type from: {name}", "VALIDATION_ERROR")
    return otype


def associate(sandbox: Sandbox, account: Account, from_type: str, from_id: str, to_type: str, to_id: str,
              type_id: int) -> None:
    """Create one association (both records must exist) and bump activity dates."""
    records.get(account, TYPES[from_type], from_id)
    records.get(account, TYPES[to_type], to_id)
    assoc.add(account, from_type, from_id, to_type, to_id, type_id)
    records.note_activity(sandbox, account, from_type, to_type, to_id)
    records.note_activity(sandbox, account, to_type, from_type, from_id)


def parse_create_associations(account: Account, otype: ObjectType, items: list[dict]) -> list[tuple]:
    """[(to_type, to_id, type_id)] from a create body's `associations`, validated like HubSpot."""
    links = []
    for item in items:
        to_id = str((item.get("to") or {}).get("id", ""))
        for spec in item.get("types") or []:
            type_id = int(spec.get("associationTypeId", 0))
            pair = next((p for t in TYPES if (p := association_type_for(otype.name, t, type_id))), None)
            if pair is None:
                raise validation(f"{type_id} is not a valid association type id for {otype.name}")
            if account.table(pair[1]).get(to_id) is None:
                raise validation(f"One or more associations are invalid: {pair[1]} {to_id} does not exist")
            links.append((pair[1], to_id, type_id))
    return links


def routes(bp: Blueprint, sandbox: Sandbox) -> None:
    """Register the v4 association endpoints on the API blueprint."""
    base = "/crm/v4/objects/<from_name>/<from_id>/associations"

    @bp.put(base + "/default/<to_name>/<to_id>")
    def create_default(from_name: str, from_id: str, to_name: str, to_id: str):
        src, dst = _type(from_name), _type(to_name)
        type_id = ASSOCIATION_TYPES.get((src.name, dst.name))
        if type_id is None:
            raise validation(f"No default association type between {src.name} and {dst.name}")
        with sandbox.store.lock:
            associate(sandbox, g.hs_account, src.name, from_id, dst.name, to_id, type_id)
        spec = {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": type_id}
        return jsonify({"status": "COMPLETE", "startedAt": _now(), "completedAt": _now(),
                        "results": [{"from": {"id": from_id}, "to": {"id": to_id}, "associationSpec": spec}]})

    @bp.put(base + "/<to_name>/<to_id>")
    def create_labeled(from_name: str, from_id: str, to_name: str, to_id: str):
        src, dst = _type(from_name), _type(to_name)
        specs = request.get_json(silent=True)
        if not isinstance(specs, list) or not specs:
            raise validation("Request body must be a non-empty list of association specs")
        with sandbox.store.lock:
            for spec in specs:
                type_id = int(spec.get("associationTypeId", 0))
                if association_type_for(src.name, dst.name, type_id) is None:
                    raise validation(f"{type_id} is not a valid association type id from {src.name} to {dst.name}")
                associate(sandbox, g.hs_account, src.name, from_id, dst.name, to_id, type_id)
        return jsonify({"fromObjectTypeId": src.type_id, "fromObjectId": int(from_id),
                        "toObjectTypeId": dst.type_id, "toObjectId": int(to_id), "labels": []}), 201

    @bp.get(base + "/<to_name>")
    def list_associations(from_name: str, from_id: str, to_name: str):
        src, dst = _type(from_name), _type(to_name)
        limit = min(int(request.args.get("limit", 500)), 500)
        after = int(request.args.get("after") or 0)
        with sandbox.store.lock:
            # a merged-away id has no associations left: "If you try to get associations using Deal A's dealId, you
            # will receive an empty response" (changelog "Announcement: Deals now support merging")
            records.get_live(g.hs_account, src, from_id)
            rows = assoc.v4_results(g.hs_account, src.name, from_id, dst.name)
        out: dict[str, Any] = {"results": rows[after:after + limit]}
        if after + limit < len(rows):
            out["paging"] = {"next": {"after": str(after + limit), "link": f"?after={after + limit}"}}
        return jsonify(out)

    @bp.delete(base + "/<to_name>/<to_id>")
    def remove(from_name: str, from_id: str, to_name: str, to_id: str):
        src, dst = _type(from_name), _type(to_name)
        with sandbox.store.lock:
            assoc.remove(g.hs_account, src.name, from_id, dst.name, to_id)
        return Response(status=204)
