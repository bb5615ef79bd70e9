"""REST API under /services/data/vXX.X/: sObject rows, describe, SOQL query, limits, versions.

Auth is `Authorization: Bearer <access token>`; every answer carries Sforce-Limit-Info and errors are a JSON
list of {"message", "errorCode", "fields"}. simple-salesforce adds trailing slashes to some paths
(sobjects/Lead/, query/, limits/), so both spellings are routed.
"""
from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, Response, g, request

from sandbox.salesforce import duplicates, ids, org, outbound, query, records
from sandbox.salesforce.actions import action_routes
from sandbox.salesforce.collections import collection_routes
from sandbox.salesforce.responses import sf_json
from sandbox.salesforce.schema import SOBJECTS, SObject, describe, org_sobject
from sandbox.salesforce.values import SFError, format_datetime, parse_datetime

_VERSION_RE = re.compile(r"^v(\d{2})\.0$")
VERSIONS = ("55.0", "56.0", "57.0", "58.0", "59.0", "60.0", "61.0", "62.0")
MAX_BATCH = 2000  # https://developer.salesforce.com/docs/platform/api-rest/guide/resources-query


def error_response(err: SFError) -> Response:
    return sf_json([err.rest()], err.status)


def body_json() -> dict[str, Any]:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise SFError("JSON_PARSER_ERROR", "The request body is either invalid or incorrect.")
    return data


def object_or_404(name: str) -> SObject:
    """The sObject as the request's org has it."""
    obj = org_sobject(g.sf_account, name)
    if obj is None:
        raise SFError("NOT_FOUND", "The requested resource does not exist", status=404)
    return obj


def full_record(obj: SObject, record: dict[str, Any], version: str, fields: list[str] | None = None) -> dict:
    row = {"attributes": query.attributes(obj.name, record["Id"], version)}
    row.update({name: record.get(name) for name in (fields or obj.fields)})
    return row


class RestApi:
    """The views of the REST blueprint; `sandbox` gives them the store and config."""

    def __init__(self, sandbox: Any) -> None:
        self.sandbox = sandbox
        self.lock = sandbox.store.lock

    def blueprint(self) -> Blueprint:
        bp = Blueprint("salesforce_api", __name__, url_prefix="/services/data")
        bp.register_error_handler(SFError, error_response)
        bp.before_request(self.authenticate)
        bp.after_request(self.limit_header)
        for rule, view, methods in (
            ("", self.versions, ["GET"]), ("/<version>", self.resources, ["GET"]),
            ("/<version>/limits", self.limits, ["GET"]), ("/<version>/sobjects", self.describe_global, ["GET"]),
            ("/<version>/sobjects/<object_type>/describe", self.describe_object, ["GET"]),
            ("/<version>/sobjects/<object_type>", self.object_info, ["GET"]),
            ("/<version>/sobjects/<object_type>", self.create, ["POST"]),
            ("/<version>/sobjects/<object_type>/updated", self.updated, ["GET"]),
            ("/<version>/sobjects/<object_type>/deleted", self.deleted, ["GET"]),
            ("/<version>/query", self.soql_query, ["GET"]), ("/<version>/queryAll", self.soql_query_all, ["GET"]),
        ):
            # simple-salesforce adds a trailing slash to some paths (sobjects/Lead/, query/, limits/)
            name = f"{view.__name__}_{methods[0].lower()}"
            bp.add_url_rule(rule, endpoint=name, view_func=view, methods=methods, strict_slashes=False)
            bp.add_url_rule(rule + "/", endpoint=name + "_slash", view_func=view, methods=methods)
        bp.add_url_rule("/<version>/sobjects/<object_type>/<record_id>", view_func=self.read, methods=["GET"])
        bp.add_url_rule("/<version>/sobjects/<object_type>/<record_id>", view_func=self.patch, methods=["PATCH"])
        bp.add_url_rule("/<version>/sobjects/<object_type>/<record_id>", view_func=self.remove,
                        methods=["DELETE"])
        bp.add_url_rule("/<version>/query/<locator>", view_func=self.soql_more, methods=["GET"])
        bp.add_url_rule("/<version>/queryAll/<locator>", view_func=self.soql_more_all, methods=["GET"])
        collection_routes(bp, self.sandbox)
        action_routes(bp, self.sandbox)
        return bp

    # auth, limits --------------------------------------------------------------------------
    def authenticate(self) -> Response | None:
        version = (request.view_args or {}).get("version")
        if version is not None and not _VERSION_RE.match(version):
            return error_response(SFError("NOT_FOUND", "The requested resource does not exist", status=404))
        if request.endpoint and "versions" in request.endpoint:
            return None  # GET /services/data/ is public and free
        token = self.sandbox.bearer_token()
        account = self.sandbox.authenticate(org.NAME, token)
        if account is None:
            return error_response(SFError("INVALID_SESSION_ID", "Session expired or invalid", status=401))
        with self.lock:
            allowed = org.consume_request(self.sandbox, account)
            g.sf_actor = org.actor_for(account, token)
        g.sf_account = account
        if not allowed:
            # 403, not 429: https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/errorcodes.htm
            return error_response(SFError("REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.", status=403))
        return None

    def limit_header(self, response: Response) -> Response:
        account = getattr(g, "sf_account", None)
        if account is not None:
            with self.lock:
                response.headers["Sforce-Limit-Info"] = org.usage_header(self.sandbox, account)
        return response

    # metadata ------------------------------------------------------------------------------
    def versions(self):
        return sf_json([{"label": f"API {v}", "url": f"/services/data/v{v}", "version": v} for v in VERSIONS])

    def resources(self, version: str):
        names = ("sobjects", "query", "queryAll", "search", "limits", "composite", "recent", "tooling")
        return sf_json({n: f"/services/data/{version}/{n}" for n in names})

    def limits(self, version: str):
        with self.lock:
            used = g.sf_account.extra["api_usage"]["count"]
        cap = org.daily_limit(self.sandbox)
        return sf_json({
            "DailyApiRequests": {"Max": cap, "Remaining": max(cap - used, 0)},
            "DailyAsyncApexExecutions": {"Max": 250000, "Remaining": 250000},
            "DailyBulkApiBatches": {"Max": 15000, "Remaining": 15000},
            "DataStorageMB": {"Max": 5, "Remaining": 5}, "FileStorageMB": {"Max": 20, "Remaining": 20},
            "MassEmail": {"Max": 5000, "Remaining": 5000}, "SingleEmail": {"Max": 5000, "Remaining": 5000},
        })

    def describe_global(self, version: str):
        sobjects = [{k: v for k, v in describe(obj).items() if k != "fields"} for obj in SOBJECTS.values()]
        return sf_json({"encoding": "UTF-8", "maxBatchSize": 200, "sobjects": sobjects})

    def describe_object(self, version: str, object_type: str):
        return sf_json(describe(object_or_404(object_type)))

    def object_info(self, version: str, object_type: str):
        info = {k: v for k, v in describe(object_or_404(object_type)).items() if k != "fields"}
        return sf_json({"objectDescribe": info, "recentItems": []})

    # rows --------------------------------------------------------------------------------------
    def create(self, version: str, object_type: str):
        obj = object_or_404(object_type)
        data = body_json()
        with self.lock:
            record = records.create(g.sf_account, obj.name, data, g.sf_actor, self.sandbox.store.next_int(),
                                    guard=self.duplicate_rules(version))
            outbound.notify(self.sandbox, g.sf_account, obj.name, record)
        return sf_json({"id": record["Id"], "success": True, "errors": []}, 201)

    def read(self, version: str, object_type: str, record_id: str):
        obj = object_or_404(object_type)
        wanted = [f.strip() for f in request.args.get("fields", "").split(",") if f.strip()]
        with self.lock:
            record = records.live(g.sf_account, obj.name, record_id)
            fields = [query.resolve(obj, f) for f in wanted] or None
            if fields and any("." in f for f in fields):
                return sf_json(query.project(g.sf_account, obj, record, fields, version))
            return sf_json(full_record(obj, record, version, fields))

    def patch(self, version: str, object_type: str, record_id: str):
        obj = object_or_404(object_type)
        data = body_json()
        with self.lock:
            record = records.update(g.sf_account, obj.name, record_id, data, g.sf_actor,
                                    guard=self.duplicate_rules(version))
            outbound.notify(self.sandbox, g.sf_account, obj.name, record)
        return Response(status=204)

    def duplicate_rules(self, version: str):
        """The org's duplicate rules for this request's saves (the request may allow saving past alerts)."""
        return duplicates.guard(self.sandbox, g.sf_account, duplicates.allows_save(request.headers.get(
            duplicates.HEADER)), version.lstrip("v"))

    def remove(self, version: str, object_type: str, record_id: str):
        obj = object_or_404(object_type)
        with self.lock:
            records.delete(g.sf_account, obj.name, record_id, g.sf_actor)
        return Response(status=204)

    def updated(self, version: str, object_type: str):
        return sf_json(self._changed(object_or_404(object_type).name, deleted=False))

    def deleted(self, version: str, object_type: str):
        return sf_json(self._changed(object_or_404(object_type).name, deleted=True))

    def _changed(self, object_type: str, deleted: bool) -> dict[str, Any]:
        start = parse_datetime(request.args.get("start", ""))
        end = parse_datetime(request.args.get("end", ""))
        if start is None or end is None:
            raise SFError("MALFORMED_QUERY", "start and end must be valid dateTime values")
        with self.lock:
            rows = [r for r in g.sf_account.table(object_type).values()
                    if bool(r.get("IsDeleted")) == deleted and start <= parse_datetime(r["SystemModstamp"]) <= end]
        if deleted:
            return {"deletedRecords": [{"id": r["Id"], "deletedDate": r["SystemModstamp"]} for r in rows],
                    "earliestDateAvailable": format_datetime(start), "latestDateCovered": format_datetime(end)}
        return {"ids": [r["Id"] for r in rows], "latestDateCovered": format_datetime(end)}

    # SOQL ----------------------------------------------------------------------------------------
    def soql_query(self, version: str):
        return self._run(version, include_deleted=False)

    def soql_query_all(self, version: str):
        return self._run(version, include_deleted=True)

    def soql_more(self, version: str, locator: str):
        return self._more(version, locator, include_deleted=False)

    def soql_more_all(self, version: str, locator: str):
        return self._more(version, locator, include_deleted=True)

    def _batch_size(self) -> int:
        match = re.search(r"batchSize=(\d+)", request.headers.get("Sforce-Query-Options", ""))
        wanted = int(match.group(1)) if match else MAX_BATCH
        return max(1, min(wanted, int(self.sandbox.config.limit(org.NAME, "query_batch_size", MAX_BATCH))))

    @staticmethod
    def _page(version: str, endpoint: str, locator: str, rows: list, offset: int, size: int) -> dict:
        result: dict[str, Any] = {"totalSize": len(rows), "done": offset + size >= len(rows),
                                  "records": rows[offset:offset + size]}
        if not result["done"]:
            result["nextRecordsUrl"] = f"/services/data/{version}/{endpoint}/{locator}-{offset + size}"
        return result

    def _run(self, version: str, include_deleted: bool):
        text = request.args.get("q")
        if not text:
            raise SFError("MALFORMED_QUERY", "A query string has to be specified")
        size = self._batch_size()
        with self.lock:
            account = g.sf_account
            rows, counted = query.run(account, text, version, include_deleted, actor=g.sf_actor)
            if counted:
                return sf_json({"totalSize": len(rows), "done": True, "records": []})
            locator = ids.make_id("QueryLocator", self.sandbox.store.next_int())[:15]
            if len(rows) > size:
                cursors = account.extra.setdefault("cursors", {})
                cursors[locator] = {"rows": rows, "size": size}
                for stale in list(cursors)[:-20]:
                    cursors.pop(stale)
        endpoint = "queryAll" if include_deleted else "query"
        return sf_json(self._page(version, endpoint, locator, rows, 0, size))

    def _more(self, version: str, locator: str, include_deleted: bool):
        key, _, offset = locator.rpartition("-")
        with self.lock:
            cursor = g.sf_account.extra.get("cursors", {}).get(key)
        if cursor is None or not offset.isdigit():
            raise SFError("INVALID_QUERY_LOCATOR", "invalid query locator")
        endpoint = "queryAll" if include_deleted else "query"
        return sf_json(self._page(version, endpoint, key, cursor["rows"], int(offset), cursor["size"]))


def rest_blueprint(sandbox: Any) -> Blueprint:
    """The salesforce_api blueprint (fault injection applies)."""
    return RestApi(sandbox).blueprint()
