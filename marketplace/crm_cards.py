"""Inside the CRM: what LeadRelay decided about one record, as a HubSpot CRM card and a Pipedrive JSON panel.

HubSpot fetches a card's data with a GET signed like its webhooks (signature v3 over method + URL + body +
timestamp with the app's client secret): https://developers.hubspot.com/docs/api/crm/extensions/custom-cards.
Pipedrive's JSON panel request carries `token`, a JWT (HS256) naming `userId` and `companyId`, signed with the
panel's JWT secret, or the app's client secret when the panel has none:
https://pipedrive.readme.io/docs/json-panels-adding-a-panel (the alternative, HTTP Basic with the username and
password set on the panel, is accepted when PIPEDRIVE_PANEL_USERNAME / _PASSWORD are configured).
"""
from __future__ import annotations

import datetime as dt
import hmac
import logging

import jwt
from flask import Blueprint, current_app, g, jsonify, request
from sqlalchemy import or_, select

from adapters.hubspot.webhooks import HubSpotWebhooks
from integration.config import get_settings
from integration.models import Decision, MergeSnapshot, ReviewItem, SlaTimer, Tenant, TenantStatus
from marketplace.webhooks import RawRequest

log = logging.getLogger("leadrelay.cards")
cards_bp = Blueprint("crm_cards", __name__)

HUBSPOT_TYPES = {"CONTACT": ("contact", "lead"), "COMPANY": ("company",), "DEAL": ("deal",)}
PIPEDRIVE_TYPES = {"person": ("contact",), "organization": ("company",), "deal": ("deal",), "lead": ("lead",)}
SLA_STATUS = {"pending": ("Due", "WARNING"), "met": ("Met", "SUCCESS"), "met_late": ("Met late", "WARNING"),
              "breached": ("Breached", "DANGER")}
MAX_SELECTED = 20
PANEL_JWT_LEEWAY_SECONDS = 30  # clock skew between Pipedrive and us


# the record's story ---------------------------------------------------------------------------
def record_summary(tenant_id: int, object_types: tuple[str, ...], object_id: str) -> dict:
    """Owner and reason (latest routing decision), SLA clocks, duplicates found — for one CRM record."""
    decisions = g.db.scalars(Decision.for_tenant(tenant_id).where(
        Decision.object_type.in_(object_types), Decision.object_id == object_id,
        Decision.kind.in_(("route", "review"))).order_by(Decision.id.desc())).all()
    route = next((d for d in decisions if d.kind == "route" or d.inputs.get("rule") == "manual"), None)
    timers = g.db.scalars(SlaTimer.for_tenant(tenant_id).where(
        SlaTimer.object_type.in_(object_types), SlaTimer.object_id == object_id)
        .order_by(SlaTimer.due_at.desc()).limit(5)).all()
    return {"object_id": object_id, "route": route, "timers": timers,
            "duplicates": _duplicates(tenant_id, object_types, object_id)}


def _duplicates(tenant_id: int, object_types: tuple[str, ...], object_id: str) -> list[dict]:
    items = g.db.scalars(ReviewItem.for_tenant(tenant_id).where(
        ReviewItem.kind == "dedup", ReviewItem.object_type.in_(object_types),
        or_(ReviewItem.object_id == object_id, ReviewItem.other_object_id == object_id))
        .order_by(ReviewItem.id.desc()).limit(10)).all()
    merges = g.db.scalars(MergeSnapshot.for_tenant(tenant_id).where(
        MergeSnapshot.object_type.in_(object_types),
        or_(MergeSnapshot.survivor_id == object_id, MergeSnapshot.loser_id == object_id))
        .order_by(MergeSnapshot.id.desc()).limit(10)).all()
    found = [{"other_id": i.other_object_id if i.object_id == object_id else i.object_id,
              "score": float(i.payload.get("score") or 0),
              "status": "in review" if i.status == "open" else (i.resolution or i.status)} for i in items]
    found += [{"other_id": m.loser_id if m.survivor_id == object_id else m.survivor_id, "score": m.score,
               "status": {"merged": "merged", "undone": "merge undone"}.get(m.status, m.status)} for m in merges]
    return found


def _ms(moment: dt.datetime) -> int:
    return int(moment.timestamp() * 1000)


def _tenant(platform: str, external_id: str) -> Tenant | None:
    tenant = g.db.scalar(select(Tenant).where(Tenant.platform == platform, Tenant.external_id == external_id))
    return None if tenant is None or tenant.status == TenantStatus.UNINSTALLED else tenant


def _error(name: str, status: int):
    log.info(f"cards.{name}", extra={"path": request.path})
    return jsonify({"error": name}), status


# HubSpot ----------------------------------------------------------------------------------------
# HubSpot signs the URI with these escapes decoded (the v3 docs' list); werkzeug's request.url decodes them all
_HUBSPOT_DECODED = {"%3A": ":", "%2F": "/", "%3F": "?", "%40": "@", "%21": "!", "%24": "$", "%27": "'",
                    "%28": "(", "%29": ")", "%2A": "*", "%2C": ",", "%3B": ";"}


def _signed_requests() -> list[RawRequest]:
    """The request as HubSpot may have signed it: the raw URL, and with HubSpot's escapes decoded."""
    base = current_app.config.get("PUBLIC_URL") or request.host_url.rstrip("/")
    raw_url = f"{base}{request.full_path.rstrip('?')}"
    decoded = raw_url
    for escape, char in _HUBSPOT_DECODED.items():
        decoded = decoded.replace(escape, char).replace(escape.lower(), char)
    body = request.get_data(cache=True, as_text=False)
    return [RawRequest(method=request.method, url=url, headers=dict(request.headers), body=body)
            for url in dict.fromkeys((raw_url, decoded))]


def _hubspot_signed() -> bool:
    secret = get_settings().crm("hubspot").client_secret
    verifier, now = HubSpotWebhooks(), dt.datetime.now(dt.UTC)
    candidates = _signed_requests()
    if not secret or verifier.missing_signature(candidates[0]):
        return False
    return any(verifier.verify(raw, secret, now) for raw in candidates)


@cards_bp.get("/cards/hubspot")
def hubspot_card():
    if not _hubspot_signed():
        return _error("invalid-signature", 401)
    tenant = _tenant("hubspot", request.args.get("portalId", ""))
    object_types = HUBSPOT_TYPES.get(request.args.get("associatedObjectType", "").upper())
    object_id = request.args.get("associatedObjectId", "")
    if tenant is None or object_types is None or not object_id.isdigit():
        return _error("not-found", 404)
    return jsonify({"results": hubspot_results(record_summary(tenant.id, object_types, object_id))})


def hubspot_results(summary: dict) -> list[dict]:
    """The card's items in HubSpot's classic `results` format (objectId, title, properties)."""
    results = []
    route = summary["route"]
    if route is not None:
        results.append({"title": f"Owner: {route.outcome}", "properties": [
            {"label": "Owner", "dataType": "STRING", "value": route.outcome},
            {"label": "Why", "dataType": "STRING", "value": route.reason},
            {"label": "Rule", "dataType": "STRING", "value": str(route.inputs.get("rule") or "")},
            {"label": "Decided", "dataType": "DATETIME", "value": _ms(route.created_at)}]})
    for timer in summary["timers"]:
        label, option = SLA_STATUS.get(timer.status, (timer.status.replace("_", " ").capitalize(), "DEFAULT"))
        results.append({"title": f"SLA ({timer.policy}): {label}", "properties": [
            {"label": "Status", "dataType": "STATUS", "value": label, "optionType": option},
            {"label": "Due", "dataType": "DATETIME", "value": _ms(timer.due_at)}]})
    for dup in summary["duplicates"]:
        results.append({"title": f"Possible duplicate: {dup['other_id']}", "properties": [
            {"label": "Record", "dataType": "STRING", "value": dup["other_id"]},
            {"label": "Score", "dataType": "NUMERIC", "value": round(dup["score"], 2)},
            {"label": "Status", "dataType": "STRING", "value": dup["status"]}]})
    return [{"objectId": n, **item} for n, item in enumerate(results, start=1)]


# Pipedrive --------------------------------------------------------------------------------------
def pipedrive_identity() -> tuple[str, str] | None:
    """(companyId, userId) the request is proven to come from, or None."""
    token = request.args.get("token", "")
    if token:
        secret = get_settings().crm("pipedrive").panel_jwt_secret  # the client secret unless set apart
        if not secret:
            return None
        try:
            # exp required: a token without one would open the panel forever to whoever saw the URL it rides in
            # (iat is checked when present: Pipedrive's docs name only userId and companyId)
            claims = jwt.decode(token, secret, algorithms=["HS256"], leeway=PANEL_JWT_LEEWAY_SECONDS,
                                options={"require": ["exp", "companyId", "userId"]})
        except jwt.PyJWTError:
            return None
        return str(claims["companyId"]), str(claims["userId"])
    auth = request.authorization
    panel = get_settings().crm("pipedrive")
    username, password = panel.panel_username, panel.panel_password
    if auth is None or auth.type != "basic" or not (username and password):
        return None
    if hmac.compare_digest(f"{auth.username}:{auth.password}".encode(), f"{username}:{password}".encode()):
        return request.args.get("companyId", ""), request.args.get("userId", "")
    return None


@cards_bp.get("/cards/pipedrive")
def pipedrive_panel():
    identity = pipedrive_identity()
    company_id, user_id = request.args.get("companyId", ""), request.args.get("userId", "")
    if identity is None or identity != (company_id, user_id):
        return _error("invalid-signature", 401)
    tenant = _tenant("pipedrive", company_id)
    object_types = PIPEDRIVE_TYPES.get(request.args.get("resource", "person"))
    ids = [i.strip() for i in request.args.get("selectedIds", "").split(",") if i.strip()][:MAX_SELECTED]
    if tenant is None or object_types is None or not ids:
        return _error("not-found", 404)
    return jsonify({"data": [pipedrive_object(record_summary(tenant.id, object_types, i)) for i in ids]})


def pipedrive_object(summary: dict) -> dict:
    """One JSON panel object: the record's id, a header and the fields the panel's schema declares."""
    route, timer = summary["route"], next(iter(summary["timers"]), None)
    sla = SLA_STATUS.get(timer.status, (timer.status, ""))[0] if timer else "no SLA clock"
    return {
        "id": int(summary["object_id"]) if summary["object_id"].isdigit() else summary["object_id"],
        "header": f"Owner: {route.outcome}" if route else "Not routed by LeadRelay yet",
        "owner": route.outcome if route else None,
        "reason": route.reason if route else None,
        "decided_at": route.created_at.isoformat() if route else None,
        "sla": f"{sla} ({timer.policy})" if timer else sla,
        "sla_due": timer.due_at.isoformat() if timer else None,
        "duplicates": "; ".join(f"{d['other_id']} ({d['status']}, score {d['score']:.2f})"
                                for d in summary["duplicates"]) or "none found",
    }
