"""sObject Collections: GET/POST/PATCH/DELETE /services/data/vXX.X/composite/sobjects (≤200 records).

Results come back in request order as SaveResults {"id", "success", "errors"}; with allOrNone=true a
single failure rolls everything back and the others report ALL_OR_NONE_OPERATION_ROLLED_BACK.
https://developer.salesforce.com/docs/platform/api-rest/guide/resources-composite-sobjects-collections-update.html
"""
from __future__ import annotations

import copy
from typing import Any

from flask import Blueprint, g, request

from sandbox.salesforce import duplicates, ids, outbound, query, records
from sandbox.salesforce.responses import sf_json
from sandbox.salesforce.schema import org_sobject, sobject
from sandbox.salesforce.values import SFError

MAX_RECORDS = 200
ROLLED_BACK = {"statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK",
               "message": "Record rolled back because not all records were valid and the request was using "
                          "AllOrNone header", "fields": []}


def _check_size(items: list) -> None:
    if len(items) > MAX_RECORDS:
        raise SFError("EXCEEDED_ID_LIMIT", f"record limit reached. cannot submit more than {MAX_RECORDS} "
                      "records into this call")


def _apply(sandbox: Any, operation, items: list, all_or_none: bool) -> list[dict[str, Any]]:
    """Run `operation(item) -> record` per item under the lock, honouring allOrNone."""
    account = g.sf_account
    with sandbox.store.lock:
        snapshot = copy.deepcopy(account.records) if all_or_none else None
        results, written = [], []
        for item in items:
            try:
                object_type, record = operation(item)
                results.append({"id": record["Id"], "success": True, "errors": []})
                written.append((object_type, record))
            except SFError as err:
                results.append({"id": None, "success": False, "errors": [err.save_error()]})
        failed = any(not r["success"] for r in results)
        if all_or_none and failed:
            account.records = snapshot
            return [r if not r["success"] else {"id": None, "success": False, "errors": [ROLLED_BACK]}
                    for r in results]
        # one call's notifications are queued together: they leave in the same messages (≤100 each)
        outbound.notify_many(sandbox, account, [(t, r) for t, r in written if not r.get("IsDeleted")])
        return results


def _typed(item: dict[str, Any]) -> str:
    object_type = (item.get("attributes") or {}).get("type")
    if not object_type or sobject(object_type) is None:
        raise SFError("INVALID_TYPE", "Must specify a valid sObject type in the attributes map")
    return sobject(object_type).name


class Collections:
    """Views of the sObject Collections resource."""

    def __init__(self, sandbox: Any) -> None:
        self.sandbox = sandbox

    def register(self, bp: Blueprint) -> None:
        bp.add_url_rule("/<version>/composite/sobjects", view_func=self.create, methods=["POST"])
        bp.add_url_rule("/<version>/composite/sobjects", view_func=self.update, methods=["PATCH"])
        bp.add_url_rule("/<version>/composite/sobjects", view_func=self.delete, methods=["DELETE"])
        bp.add_url_rule("/<version>/composite/sobjects/<object_type>", view_func=self.retrieve,
                        methods=["GET", "POST"])

    def create(self, version: str):
        body = request.get_json(silent=True) or {}
        items = body.get("records") or []
        _check_size(items)

        def op(item):
            if item.get("id") or item.get("Id"):
                raise SFError("INVALID_FIELD", "cannot specify Id in an insert call", fields=["Id"])
            object_type = _typed(item)
            return object_type, records.create(g.sf_account, object_type, item, g.sf_actor,
                                               self.sandbox.store.next_int(), guard=self._guard(version))
        return sf_json(_apply(self.sandbox, op, items, bool(body.get("allOrNone"))))

    def update(self, version: str):
        body = request.get_json(silent=True) or {}
        items = body.get("records") or []
        _check_size(items)

        def op(item):
            object_type = _typed(item)
            record_id = item.get("id") or item.get("Id")
            if not record_id:
                raise SFError("MISSING_ARGUMENT", "Id not specified in an update call", fields=["Id"])
            data = {k: v for k, v in item.items() if k not in ("id", "Id")}
            return object_type, records.update(g.sf_account, object_type, record_id, data, g.sf_actor,
                                               guard=self._guard(version))
        return sf_json(_apply(self.sandbox, op, items, bool(body.get("allOrNone"))))

    def _guard(self, version: str):
        """The org's duplicate rules; the Duplicate Rule header applies to the whole request."""
        allow = duplicates.allows_save(request.headers.get(duplicates.HEADER))
        return duplicates.guard(self.sandbox, g.sf_account, allow, version.lstrip("v"))

    def delete(self, version: str):
        id_list = [i for i in request.args.get("ids", "").split(",") if i]
        _check_size(id_list)
        all_or_none = request.args.get("allOrNone", "false").lower() == "true"

        def op(record_id):
            found = records.find(g.sf_account, record_id) if ids.looks_like_id(record_id) else None
            if found is None:
                raise SFError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id")
            if found[1].get("IsDeleted"):
                raise SFError("ENTITY_IS_DELETED", "entity is deleted")
            return found[0], records.delete(g.sf_account, found[0], record_id, g.sf_actor)
        return sf_json(_apply(self.sandbox, op, id_list, all_or_none))

    def retrieve(self, version: str, object_type: str):
        obj = org_sobject(g.sf_account, object_type)
        if obj is None:
            raise SFError("NOT_FOUND", "The requested resource does not exist", status=404)
        if request.method == "POST":
            body = request.get_json(silent=True) or {}
            id_list, wanted = body.get("ids") or [], body.get("fields") or []
        else:
            id_list = [i for i in request.args.get("ids", "").split(",") if i]
            wanted = [f for f in request.args.get("fields", "").split(",") if f]
        if not wanted:
            raise SFError("MALFORMED_QUERY", "The fields parameter is required")
        _check_size(id_list)
        with self.sandbox.store.lock:
            fields = [query.resolve(obj, f.strip()) for f in wanted]
            return sf_json([self._row(obj, record_id, fields, version) for record_id in id_list])

    @staticmethod
    def _row(obj: Any, record_id: str, fields: list[str], version: str) -> dict | None:
        found = records.find(g.sf_account, record_id, include_deleted=False) if ids.looks_like_id(record_id) else None
        if found is None or found[0] != obj.name:
            return None
        return query.project(g.sf_account, obj, found[1], fields, version)


def collection_routes(bp: Blueprint, sandbox: Any) -> None:
    """Add the sObject Collections views to the REST blueprint."""
    Collections(sandbox).register(bp)
