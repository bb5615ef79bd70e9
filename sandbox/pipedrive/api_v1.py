"""API v1 where v2 has no equivalent (users, leads, webhooks, merge, fields) plus the v1 person calls
pipedrive-python-lib wraps (out of support since 1 Aug 2026, still answered here)."""
from __future__ import annotations

import copy
import time

from flask import Blueprint, request

from sandbox.context import Sandbox
from sandbox.pipedrive import mailbox, ops, person_fields, query, webhooks
from sandbox.pipedrive.core import PdError, next_id, ok, user, users
from sandbox.pipedrive.guard import body, check, install_handlers
from sandbox.pipedrive.limits import RateLimiter
from sandbox.pipedrive.model import WEBSITE_KEY, activity_priorities
from sandbox.pipedrive.v1_shapes import v1_person, v1_person_input, v1_user


def _paginate(items: list, args) -> tuple[list, dict]:
    """v1 offset paging: additional_data.pagination {start, limit, more_items_in_collection, next_start}."""
    try:
        start, limit = int(args.get("start") or 0), int(args.get("limit") or 100)
    except ValueError:
        raise PdError(400, "start and limit must be integers") from None
    page = items[start:start + limit]
    more = start + limit < len(items)
    pagination = {"start": start, "limit": limit, "more_items_in_collection": more}
    if more:
        pagination["next_start"] = start + limit
    return page, {"pagination": pagination}


def blueprint(sandbox: Sandbox, limiter: RateLimiter) -> Blueprint:
    bp = Blueprint("pipedrive_v1_api", __name__, url_prefix="/api/v1")
    install_handlers(bp)
    _users(bp, sandbox, limiter)
    _webhooks(bp, sandbox, limiter)
    _leads(bp, sandbox, limiter)
    _persons(bp, sandbox, limiter)
    _notes(bp, sandbox, limiter)
    person_fields.routes(bp, sandbox, limiter)
    mailbox.routes(bp, sandbox, limiter, _paginate)
    return bp


def _users(bp: Blueprint, sandbox: Sandbox, limiter: RateLimiter) -> None:
    @bp.get("/users/me")
    def me():
        c = check(sandbox, limiter, "base", False)
        with sandbox.store.lock:
            return ok(v1_user(c.account, user(c.account, c.actor.user_id), me=True))

    @bp.get("/users")
    def list_users():
        c = check(sandbox, limiter, "users", False)
        with sandbox.store.lock:
            return ok([v1_user(c.account, u, me=u["id"] == c.actor.user_id) for u in users(c.account)])

    @bp.get("/users/<int:uid>")
    def get_user(uid: int):
        c = check(sandbox, limiter, "users", False)
        with sandbox.store.lock:
            u = user(c.account, uid)
            if u is None:
                raise PdError(404, "User not found")
            return ok(v1_user(c.account, u, me=uid == c.actor.user_id))

    @bp.get("/organizationFields")
    def organization_fields():
        check(sandbox, limiter, "contacts", False)
        fields = [{"id": 1, "key": "name", "name": "Name", "field_type": "varchar", "edit_flag": False},
                  {"id": 2, "key": "owner_id", "name": "Owner", "field_type": "user", "edit_flag": False},
                  {"id": 3, "key": "address", "name": "Address", "field_type": "address", "edit_flag": False},
                  {"id": 4, "key": WEBSITE_KEY, "name": "Website", "field_type": "varchar", "edit_flag": True}]
        return ok(fields, {"pagination": {"start": 0, "limit": 100, "more_items_in_collection": False}})

    @bp.get("/activityFields")
    def activity_fields():
        # GET /v1/activityFields (scopes activities:read / activities:full; v2's needs admin): the v1 field shape,
        # the priority an enum whose options map the integer an activity carries to its label
        c = check(sandbox, limiter, "activities", False)
        with sandbox.store.lock:
            options = activity_priorities(c.account)
        fields = [{"id": 1, "key": "subject", "name": "Subject", "field_type": "varchar", "options": None},
                  {"id": 2, "key": "type", "name": "Type", "field_type": "enum", "options": None},
                  {"id": 3, "key": "due_date", "name": "Due date", "field_type": "date", "options": None},
                  {"id": 4, "key": "user_id", "name": "Assigned to user", "field_type": "user", "options": None},
                  {"id": 5, "key": "note", "name": "Note", "field_type": "text", "options": None}]
        if options:
            fields.append({"id": 6, "key": "priority", "name": "Priority", "field_type": "enum", "options": options})
        return ok(fields, {"pagination": {"start": 0, "limit": 100, "more_items_in_collection": False}})


def _webhooks(bp: Blueprint, sandbox: Sandbox, limiter: RateLimiter) -> None:
    """https://pipedrive.readme.io/docs/guide-for-webhooks-v2 ; app webhooks need the admin scope."""

    @bp.get("/webhooks")
    def list_hooks():
        c = check(sandbox, limiter, "admin", False)
        with sandbox.store.lock:
            hooks = [webhooks.public_view(h) for h in webhooks.subscriptions(c.account).values()
                     if not c.client_id or h["_client_id"] == c.client_id]  # apps see only their own
        return ok(hooks)

    @bp.post("/webhooks")
    def add_hook():
        c = check(sandbox, limiter, "admin", True)
        data = body()
        for key in ("subscription_url", "event_action", "event_object"):
            if not data.get(key):
                raise PdError(400, f"Validation failed: {key}: Parameter is required")
        if data["event_action"] not in webhooks.ACTIONS or data["event_object"] not in webhooks.OBJECTS:
            raise PdError(400, "Validation failed: event_action/event_object: unsupported value")
        if not str(data["subscription_url"]).startswith(("http://", "https://")):
            raise PdError(400, "Validation failed: subscription_url: must be a valid URL")
        with sandbox.store.lock:
            hooks = webhooks.subscriptions(c.account)
            mine = [h for h in hooks.values() if h["owner_id"] == c.actor.user_id]
            if len(mine) >= webhooks.MAX_PER_USER:
                raise PdError(422, "Webhooks limit reached")  # 422 per the OAuth status-codes page
            hook = webhooks.new_subscription(c.account, data, c.actor.user_id, c.client_id,
                                             next_id(c.account, "webhooks"))
            hooks[str(hook["id"])] = hook
            return ok(webhooks.public_view(hook), status=201)

    @bp.delete("/webhooks/<int:hook_id>")
    def delete_hook(hook_id: int):
        c = check(sandbox, limiter, "admin", True)
        with sandbox.store.lock:
            hooks = webhooks.subscriptions(c.account)
            hook = hooks.get(str(hook_id))
            if hook is None or (hook["_client_id"] and hook["_client_id"] != c.client_id):
                raise PdError(404, "Webhook not found")
            del hooks[str(hook_id)]
        return ok({"id": hook_id})


def _leads(bp: Blueprint, sandbox: Sandbox, limiter: RateLimiter) -> None:
    """https://developers.pipedrive.com/docs/api/v1/Leads (UUID ids, PATCH updates)."""

    @bp.get("/leads")
    def list_leads():
        c = check(sandbox, limiter, "leads", False)
        archived = request.args.get("archived_status", "not_archived")
        with sandbox.store.lock:
            rows = [copy.deepcopy(r) for r in c.account.table("leads").values()]
        if archived != "all":
            rows = [r for r in rows if r["is_archived"] == (archived == "archived")]
        for key in ("owner_id", "person_id", "organization_id"):
            if request.args.get(key):
                rows = [r for r in rows if str(r.get(key)) == request.args[key]]
        rows.sort(key=lambda r: (r["add_time"], r["id"]))
        page, extra = _paginate(rows, request.args)
        return ok(page, extra)

    @bp.get("/leads/<lead_id>")
    def get_lead(lead_id: str):
        c = check(sandbox, limiter, "leads", False)
        with sandbox.store.lock:
            return ok(copy.deepcopy(ops.get_live(c.account, "leads", lead_id)))

    @bp.post("/leads")
    def add_lead():
        c = check(sandbox, limiter, "leads", True)
        return ok(ops.create(sandbox, c.account, "leads", body(), c.actor), status=201)

    @bp.patch("/leads/<lead_id>")
    def update_lead(lead_id: str):
        c = check(sandbox, limiter, "leads", True)
        return ok(ops.update(sandbox, c.account, "leads", lead_id, body(), c.actor))

    @bp.delete("/leads/<lead_id>")
    def delete_lead(lead_id: str):
        c = check(sandbox, limiter, "leads", True)
        ops.delete(sandbox, c.account, "leads", lead_id, c.actor)
        return ok({"id": lead_id})


def _persons(bp: Blueprint, sandbox: Sandbox, limiter: RateLimiter) -> None:
    @bp.put("/<any(persons,organizations):obj>/<int:rid>/merge")
    def merge(obj: str, rid: int):
        c = check(sandbox, limiter, "contacts", True)
        other = body().get("merge_with_id")
        if other in (None, ""):
            raise PdError(400, "Validation failed: merge_with_id: Parameter is required")
        merged = ops.merge(sandbox, c.account, obj, rid, int(other), c.actor)
        with sandbox.store.lock:
            data = v1_person(c.account, merged) if obj == "persons" else dict(merged)
        data["merge_what_id"] = rid
        return ok(data)

    @bp.get("/persons/<int:rid>")
    def get_person(rid: int):
        c = check(sandbox, limiter, "contacts", False)
        with sandbox.store.lock:
            return ok(v1_person(c.account, ops.get_live(c.account, "persons", rid)))

    @bp.get("/persons")
    def list_persons():
        c = check(sandbox, limiter, "contacts", False)
        with sandbox.store.lock:
            rows = [v1_person(c.account, r) for r in sorted(c.account.table("persons").values(),
                                                             key=lambda r: r["id"]) if not r.get("is_deleted")]
        page, extra = _paginate(rows, request.args)
        return ok(page or None, extra)  # v1 answers data: null for an empty list

    @bp.get("/persons/search")
    def search_persons():
        c = check(sandbox, limiter, "search", False)
        term, exact = query.check_term(request.args)
        fields = {f for f in (request.args.get("fields") or "custom_fields,email,notes,phone,name").split(",")}
        with sandbox.store.lock:
            items = query.search_persons(c.account, term, exact, fields, request.args.get("organization_id"))
        page, extra = _paginate(items, request.args)
        return ok({"items": page}, extra)

    @bp.post("/persons")
    def add_person():
        c = check(sandbox, limiter, "contacts", True)
        created = ops.create(sandbox, c.account, "persons", v1_person_input(body()), c.actor)
        with sandbox.store.lock:
            return ok(v1_person(c.account, created), status=201)

    @bp.put("/persons/<int:rid>")
    def update_person(rid: int):
        c = check(sandbox, limiter, "contacts", True)
        updated = ops.update(sandbox, c.account, "persons", rid, v1_person_input(body()), c.actor)
        with sandbox.store.lock:
            return ok(v1_person(c.account, updated))

    @bp.delete("/persons/<int:rid>")
    def delete_person(rid: int):
        c = check(sandbox, limiter, "contacts", True)
        ops.delete(sandbox, c.account, "persons", rid, c.actor)
        return ok({"id": rid})



NOTE_LINKS = ("person_id", "org_id", "deal_id", "lead_id")
NOTE_TABLES = {"person_id": "persons", "org_id": "organizations", "deal_id": "deals", "lead_id": "leads"}


def _notes(bp: Blueprint, sandbox: Sandbox, limiter: RateLimiter) -> None:
    """https://developers.pipedrive.com/docs/api/v1/Notes: content (HTML) on a person, organization, deal or lead;
    at least one of them is required, and each named must exist."""

    @bp.post("/notes")
    def add_note():
        c = check(sandbox, limiter, "contacts", True)
        data = body()
        content = data.get("content")
        if not isinstance(content, str) or not content.strip():
            raise PdError(400, "Validation failed: content: Parameter is required")
        links = {k: data[k] for k in NOTE_LINKS if data.get(k) not in (None, "")}
        if not links:
            raise PdError(400, "Validation failed: Note must be linked to a deal, person, organization or lead")
        with sandbox.store.lock:
            for key, rid in links.items():
                ops.get_live(c.account, NOTE_TABLES[key], rid)  # 404 in Pipedrive's words
            nid = next_id(c.account, "notes")
            now = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())
            note = {"id": nid, "content": content, "user_id": c.actor.user_id, "add_time": now, "update_time": now,
                    "active_flag": True, **{k: None for k in NOTE_LINKS}, **links}
            c.account.table("notes")[str(nid)] = note
            return ok(copy.deepcopy(note), status=201)

    @bp.get("/notes")
    def list_notes():
        c = check(sandbox, limiter, "contacts", False)
        with sandbox.store.lock:
            rows = [copy.deepcopy(n) for n in c.account.table("notes").values() if n.get("active_flag")]
        for key in (*NOTE_LINKS, "user_id"):
            if request.args.get(key):
                rows = [n for n in rows if str(n.get(key)) == request.args[key]]
        rows.sort(key=lambda n: n["id"])
        page, extra = _paginate(rows, request.args)
        return ok(page or None, extra)

    @bp.get("/notes/<int:nid>")
    def get_note(nid: int):
        c = check(sandbox, limiter, "contacts", False)
        with sandbox.store.lock:
            note = c.account.table("notes").get(str(nid))
            if note is None or not note.get("active_flag"):
                raise PdError(404, "Note not found")
            return ok(copy.deepcopy(note))
