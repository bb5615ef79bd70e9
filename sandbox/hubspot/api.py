"""The "hubspot_api" blueprint: CRM v3 objects, v4 associations, owners, users, account info, uninstall.

Paths and JSON shapes follow hubspot-api-client 12 (hubspot/crm/*/api/*.py and their models).
"""
from __future__ import annotations

from datetime import UTC
from typing import TYPE_CHECKING, Any

from flask import Blueprint, Response, g, jsonify, request

from sandbox.hubspot import outreach, properties, records, search, v4, webhooks
from sandbox.hubspot.errors import HubSpotError, render, unauthorized, validation
from sandbox.hubspot.hubstate import app_for_client, uninstall
from sandbox.hubspot.owners import owners_routes
from sandbox.hubspot.ratelimit import check_burst, check_search
from sandbox.hubspot.schema import ObjectType, object_type
from sandbox.hubspot.users import users_routes

if TYPE_CHECKING:
    from sandbox.context import Sandbox


def list_arg(name: str) -> list[str]:
    """A query parameter sent repeated (SDK "multi") or comma-separated."""
    return [p for raw in request.args.getlist(name) for p in raw.split(",") if p]


def body_json() -> dict[str, Any]:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise validation("Invalid input JSON on line 1, column 1: Cannot build request body")
    return data


def resolve_type(name: str) -> ObjectType:
    otype = object_type(name)
    if otype is None:
        raise HubSpotError(400, f"Unable to infer object type from: {name}", "VALIDATION_ERROR")
    return otype


def actor_for(sandbox: Sandbox, token) -> records.Actor:
    """Writes with an app's OAuth token carry changeSource INTEGRATION and the app id as sourceId.

    UNCONFIRMED which exact pair HubSpot emits for a public app's writes (fact sheet §1.4,
    https://developers.hubspot.com/docs/api/webhooks); tokens without an app (control-API tokens,
    like a private-app token) report "API".
    """
    app = app_for_client(sandbox, token.client_id)
    if app is not None:
        return records.Actor("INTEGRATION", str(app.app_id))
    return records.Actor("API", None)


def _authenticate(sandbox: Sandbox) -> None:
    value = sandbox.bearer_token()
    tok = sandbox.store.tokens.get(value or "")
    account = sandbox.authenticate("hubspot", value)
    if account is None:
        if tok is not None and tok.kind == "access" and not tok.revoked and tok.expires_at is not None:
            import time
            raise unauthorized(expired_for=max(0, int(time.time() - tok.expires_at)))
        raise unauthorized()
    g.hs_account, g.hs_token, g.hs_actor = account, tok, actor_for(sandbox, tok)
    if request.path.endswith("/search") and request.method == "POST":
        check_search(sandbox, tok.value)  # search is excluded from the burst limit
        return
    g.hs_rate_headers = check_burst(sandbox, account.id, tok.client_id or tok.value)


def emit(sandbox: Sandbox, events: list[dict]) -> None:
    """Hand change events to the webhook sender (outside the store lock)."""
    if events:
        webhooks.dispatch(sandbox, g.hs_account, events)


def api_blueprint(sandbox: Sandbox) -> Blueprint:
    bp = Blueprint("hubspot_api", __name__)

    @bp.before_request
    def auth():
        _authenticate(sandbox)

    @bp.after_request
    def rate_headers(resp: Response) -> Response:
        for key, value in getattr(g, "hs_rate_headers", {}).items():
            resp.headers[key] = value
        return resp

    @bp.errorhandler(HubSpotError)
    def hubspot_error(exc: HubSpotError):
        return render(exc)

    objects_routes(bp, sandbox)
    batch_routes(bp, sandbox)
    owners_routes(bp, sandbox)
    users_routes(bp, sandbox)
    v4.routes(bp, sandbox)
    properties.routes(bp, sandbox)
    outreach.routes(bp, sandbox)
    outreach.batch_associations(bp, sandbox)

    @bp.delete("/appinstalls/v3/external-install")
    def external_uninstall():
        # https://developers.hubspot.com/docs/api-reference/latest/app-management/app-uninstalls/guide
        if not g.hs_token.client_id or app_for_client(sandbox, g.hs_token.client_id) is None:
            raise HubSpotError(403, "This endpoint requires an OAuth access token of a public app.",
                               "MISSING_SCOPES")
        uninstall(sandbox, g.hs_account, g.hs_token.client_id)
        return Response(status=204)

    @bp.put("/contacts/v1/secondary-email/<vid>/email/<path:email>")
    @bp.delete("/contacts/v1/secondary-email/<vid>/email/<path:email>")
    def secondary_email(vid: str, email: str):
        # https://legacydocs.hubspot.com/docs/methods/contacts/add-a-secondary-email-address (PUT) and
        # .../delete-a-secondary-email-address (DELETE): both answer the contact's secondary emails
        with sandbox.store.lock:
            emails, events = records.secondary_email(sandbox, g.hs_account, vid, email, request.method == "PUT",
                                                     g.hs_actor)
        emit(sandbox, events)
        return jsonify({"portalId": int(g.hs_account.id), "vid": int(vid), "secondaryEmails": emails})

    @bp.get("/account-info/v3/details")
    def account_details():
        with sandbox.store.lock:
            extra = g.hs_account.extra
            return jsonify({"portalId": int(g.hs_account.id), "accountType": "STANDARD",
                            "timeZone": extra.get("time_zone", "US/Eastern"), "companyCurrency": "USD",
                            "additionalCurrencies": [], "utcOffset": extra.get("utc_offset", "-05:00"),
                            "utcOffsetMilliseconds": extra.get("utc_offset_ms", -18000000),
                            "uiDomain": "app.hubspot.com", "dataHostingLocation": "na1"})

    return bp


def _record_or_id_property(account, otype: ObjectType, object_id: str, archived: bool = False) -> dict:
    id_prop = request.args.get("idProperty")
    if id_prop and id_prop != "hs_object_id":
        rec = records.find_by(account, otype, id_prop, object_id)
        if rec is None:
            raise HubSpotError(404, "Object not found.", "OBJECT_NOT_FOUND", context={id_prop: [object_id]})
        return rec
    # an id merged away answers the merged record, under its new id (a redirect by content, status 200)
    return records.get(account, otype, object_id, True) if archived else records.get_live(account, otype, object_id)


def _read_params() -> dict[str, Any]:
    return {"properties": list_arg("properties") or None, "with_history": list_arg("propertiesWithHistory") or None,
            "associations": [t.name for t in map(object_type, list_arg("associations")) if t] or None}


def create_with_associations(sandbox, account, otype: ObjectType, item: dict, actor) -> tuple[dict, list]:
    """Create a record and the associations listed in its input (HubSpot validates them first)."""
    links = v4.parse_create_associations(account, otype, item.get("associations") or [])
    rec, events = records.create(sandbox, account, otype, item.get("properties") or {}, actor)
    for to_type, to_id, type_id in links:
        v4.associate(sandbox, account, otype.name, rec["id"], to_type, to_id, type_id)
    return rec, events


def objects_routes(bp: Blueprint, sandbox: Sandbox) -> None:
    @bp.get("/crm/v3/objects/<type_name>")
    def list_objects(type_name: str):
        otype = resolve_type(type_name)
        limit = min(int(request.args.get("limit", 10)), 100)
        after = int(request.args.get("after") or 0)
        archived = request.args.get("archived", "false").lower() == "true"
        with sandbox.store.lock:
            rows = sorted((r for r in records.table(g.hs_account, otype).values() if r["archived"] == archived),
                          key=lambda r: int(r["id"]))
            page = [records.serialize(g.hs_account, otype, r, **_read_params()) for r in rows[after:after + limit]]
        out: dict[str, Any] = {"results": page}
        if after + limit < len(rows):
            out["paging"] = {"next": {"after": str(after + limit), "link": f"?after={after + limit}"}}
        return jsonify(out)

    @bp.post("/crm/v3/objects/<type_name>")
    def create_object(type_name: str):
        otype = resolve_type(type_name)
        with sandbox.store.lock:
            rec, events = create_with_associations(sandbox, g.hs_account, otype, body_json(), g.hs_actor)
            out = records.serialize(g.hs_account, otype, rec, list(rec["properties"]))
        emit(sandbox, events)
        return jsonify(out), 201

    @bp.get("/crm/v3/objects/<type_name>/<object_id>")
    def get_object(type_name: str, object_id: str):
        otype = resolve_type(type_name)
        archived = request.args.get("archived", "false").lower() == "true"
        with sandbox.store.lock:
            rec = _record_or_id_property(g.hs_account, otype, object_id, archived)
            return jsonify(records.serialize(g.hs_account, otype, rec, **_read_params()))

    @bp.patch("/crm/v3/objects/<type_name>/<object_id>")
    def update_object(type_name: str, object_id: str):
        otype = resolve_type(type_name)
        with sandbox.store.lock:
            rec = _record_or_id_property(g.hs_account, otype, object_id)
            rec, events = records.update(sandbox, g.hs_account, otype, rec["id"],
                                         body_json().get("properties") or {}, g.hs_actor)
            out = records.serialize(g.hs_account, otype, rec, list(rec["properties"]))
        emit(sandbox, events)
        return jsonify(out)

    @bp.delete("/crm/v3/objects/<type_name>/<object_id>")
    def archive_object(type_name: str, object_id: str):
        otype = resolve_type(type_name)
        emit(sandbox, records.archive(sandbox, g.hs_account, otype, object_id, g.hs_actor))
        return Response(status=204)

    @bp.post("/crm/v3/objects/<type_name>/search")
    def search_objects(type_name: str):
        otype = resolve_type(type_name)
        with sandbox.store.lock:
            return jsonify(search.run(g.hs_account, otype, body_json(), int(sandbox.config.search_lag_ms or 0)))

    @bp.post("/crm/v3/objects/<type_name>/merge")
    def merge_objects(type_name: str):
        # https://developers.hubspot.com/docs/api-reference/legacy/crm/objects/contacts/merge-contacts
        otype = resolve_type(type_name)
        body = body_json()
        if not body.get("primaryObjectId") or not body.get("objectIdToMerge"):
            raise validation("primaryObjectId and objectIdToMerge are required")
        with sandbox.store.lock:
            rec, events = records.merge(sandbox, g.hs_account, otype, str(body["primaryObjectId"]),
                                        str(body["objectIdToMerge"]), g.hs_actor)
            out = records.serialize(g.hs_account, otype, rec, list(rec["properties"]))
        emit(sandbox, events)
        return jsonify(out)


def _batch_envelope(results: list[dict], started: str, errors: list[dict] | None = None) -> dict[str, Any]:
    from datetime import datetime
    done = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    out: dict[str, Any] = {"status": "COMPLETE", "results": results, "startedAt": started, "completedAt": done}
    if errors:
        out["errors"], out["numErrors"] = errors, len(errors)
    return out


def _inputs(body: dict[str, Any]) -> list[dict[str, Any]]:
    inputs = body.get("inputs")
    if not isinstance(inputs, list):
        raise validation("inputs must be a list")
    if len(inputs) > 100:  # batch cap (UNCONFIRMED, fact sheet §1.6)
        raise validation("Batch size must be at most 100 inputs")
    return inputs


def _traced(result: dict[str, Any], item: dict[str, Any]) -> dict[str, Any]:
    """A batch write's result carries its input's objectWriteTraceId (SimplePublicObject.objectWriteTraceId)."""
    return {**result, "objectWriteTraceId": item["objectWriteTraceId"]} if item.get("objectWriteTraceId") else result


def _unordered(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """HubSpot returns batch write results in no fixed order (maintainers say so:
    https://github.com/HubSpot/hubspot-api-nodejs/issues/190); reversed here, so clients can't lean on input order."""
    return results[::-1]


def _read_many(otype: ObjectType, body: dict[str, Any], archived: bool) -> tuple[list[dict], list[str]]:
    id_prop = body.get("idProperty")
    found, missing = [], []
    for item in _inputs(body):
        oid = str(item.get("id"))
        rec = (records.find_by(g.hs_account, otype, id_prop, oid) if id_prop
               else records.table(g.hs_account, otype).get(records.live_id(g.hs_account, otype, oid)))
        if rec is None or rec["archived"] != archived:
            missing.append(oid)
            continue
        found.append(records.serialize(g.hs_account, otype, rec, body.get("properties") or None,
                                       body.get("propertiesWithHistory") or None))
    return found, missing


def check_batch_create(sandbox: Sandbox, account, otype: ObjectType, inputs: list[dict[str, Any]]) -> None:
    """Every input of a batch create checked before any is created: HubSpot answers the whole batch with the first
    input's error and creates nothing, e.g. 409 CONFLICT "Contact already exists. Existing ID: <id>" for one taken
    email among valid ones (HubSpot/hubspot-api-python#51; mitodl/mitxpro#2653 retries such batches one by one)."""
    emails: set[str] = set()
    for item in inputs:
        if not isinstance(item, dict):
            raise validation("Invalid input JSON: each input must be an object")
        clean = records.check_create(sandbox, account, otype, item.get("properties") or {})
        v4.parse_create_associations(account, otype, item.get("associations") or [])
        email = (clean.get("email") or "").lower() if otype.name == "contacts" else ""
        if email and email in emails:
            # two new contacts with one email: refused as a whole like any invalid input (the exact answer is
            # UNCONFIRMED; never two contacts with one email, as HubSpot keeps emails unique)
            raise validation(f"Duplicate email in batch input: {email}")
        emails.add(email)


def batch_routes(bp: Blueprint, sandbox: Sandbox) -> None:
    def started() -> str:
        from datetime import datetime
        return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"

    @bp.post("/crm/v3/objects/<type_name>/batch/read")
    def batch_read(type_name: str):
        otype, body, begin = resolve_type(type_name), body_json(), started()
        archived = request.args.get("archived", "false").lower() == "true"
        with sandbox.store.lock:
            found, missing = _read_many(otype, body, archived)
        if not missing:
            return jsonify(_batch_envelope(found, begin))
        # a StandardError: category, context, errors, links, message and status are all required (CRM v3 object
        # documents, components.schemas.StandardError), so the empty errors list and links map are sent too
        err = {"status": "error", "category": "OBJECT_NOT_FOUND", "context": {"ids": missing}, "errors": [],
               "links": {}, "message": f"Could not get some {otype.singular.upper()} objects, they may be deleted "
                                      "or not exist. Check that ids are valid."}
        return jsonify(_batch_envelope(found, begin, [err])), 207

    @bp.post("/crm/v3/objects/<type_name>/batch/create")
    def batch_create(type_name: str):
        otype, body, begin = resolve_type(type_name), body_json(), started()
        events, out = [], []
        with sandbox.store.lock:
            inputs = _inputs(body)
            check_batch_create(sandbox, g.hs_account, otype, inputs)
            for item in inputs:
                rec, evs = create_with_associations(sandbox, g.hs_account, otype, item, g.hs_actor)
                events += evs
                out.append(_traced(records.serialize(g.hs_account, otype, rec, list(rec["properties"])), item))
        emit(sandbox, events)
        return jsonify(_batch_envelope(_unordered(out), begin)), 201

    @bp.post("/crm/v3/objects/<type_name>/batch/update")
    def batch_update(type_name: str):
        otype, body, begin = resolve_type(type_name), body_json(), started()
        events, out = [], []
        with sandbox.store.lock:
            inputs = _inputs(body)
            for item in inputs:  # all-or-nothing: check every id before writing (old ids: the merged record)
                records.get_live(g.hs_account, otype, str(item.get("id")))
            for item in inputs:
                rec, evs = records.update(sandbox, g.hs_account, otype, str(item["id"]),
                                          item.get("properties") or {}, g.hs_actor)
                events += evs
                out.append(_traced(records.serialize(g.hs_account, otype, rec, list(rec["properties"])), item))
        emit(sandbox, events)
        return jsonify(_batch_envelope(_unordered(out), begin))

    @bp.post("/crm/v3/objects/<type_name>/batch/archive")
    def batch_archive(type_name: str):
        otype, body = resolve_type(type_name), body_json()
        events = []
        for item in _inputs(body):
            events += records.archive(sandbox, g.hs_account, otype, str(item.get("id")), g.hs_actor)
        emit(sandbox, events)
        return Response(status=204)

