"""The intake endpoint: web forms and servers post leads to `/intake/v1/<key>/submissions`.

The request path is one key lookup, one insert and one enqueue (the budget is p99 < 50 ms for the 202); the
`process_submission` job does everything that talks to the CRM. Authentication is the key in the URL (plus, for
server-to-server callers, an HMAC signature of the body), never a console session: the blueprint is CSRF-exempt.

Tenants: an uninstalled tenant's key answers 401 like an unknown one (its data was erased; nothing is stored). A
paused tenant (needs reconnecting) gets its submissions stored and answered 202 but not queued, as the webhook
endpoint keeps a paused tenant's events: they go when an admin reconnects (`enqueue_held`).
"""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import logging
import re
import secrets
import time
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from flask import Blueprint, Response, current_app, g, jsonify, redirect, request
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from integration.config import get_settings
from integration.intake.submissions import enqueue_submission, resume_submissions
from integration.models import IntakeKey, IntakeSubmission, Tenant, TenantStatus, utcnow
from integration.models.capture import ACCEPTED, SPAM
from integration.queues import redis_connection
from marketplace.intake_keys import HONEYPOT, KNOWN_FIELDS, STAMP, key_hash, sign_stamp, signature_valid, stamp_problem
from marketplace.params import json_too_deep
from oauth.crypto import TokenCipher

log = logging.getLogger("leadrelay.intake")
intake_bp = Blueprint("intake_api", __name__)

MAX_BODY_BYTES = 64 * 1024  # a form is a few hundred bytes; over this: 413
MAX_EXTRA_FIELDS, MAX_EXTRA_CHARS = 50, 2000
IDEMPOTENCY_WINDOW = dt.timedelta(hours=24)
SIGNATURE_HEADER = "X-LeadRelay-Signature"
# what each known field may hold, in characters (anything longer is refused, not cut: it would be a wrong value)
LIMITS = {"message": 10_000, "page_url": 2000, "referrer": 2000, "website": 2000, "consent_text": 2000}
DEFAULT_LIMIT = 300
TRUTHY = {"1", "true", "yes", "y", "on", "checked", "agree", "agreed", "accept", "accepted"}
FALSY = {"0", "false", "no", "n", "off", ""}
EMAIL = re.compile(r"[^@\s<>()\[\],;:\"]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}\.)+[A-Za-z]{2,63}")
PHONE_CHARS = re.compile(r"[0-9+().\-\s/]+(?:\s*(?:x|ext\.?)\s*[0-9]{1,6})?", re.IGNORECASE)
_KEY_SHAPE = re.compile(r"[A-Za-z0-9_-]{16,64}")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_NO_KEY = hashlib.sha256(b"no such intake key").hexdigest()
CONTROL_FIELDS = {HONEYPOT, STAMP, "idempotency_key", "lr_redirect"}
ALLOWED_HEADERS = "Content-Type, Idempotency-Key, X-LeadRelay-Signature"


class Refusal(Exception):
    def __init__(self, status: int, error: str, fields: dict[str, str] | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(error)
        self.status, self.error, self.fields, self.headers = status, error, fields or {}, headers or {}


# The key -----------------------------------------------------------------------------------------------------

def _lookup(key: str) -> tuple[IntakeKey, str] | None:
    """(the working key, its tenant's status), or None. Looked up by the key's hash, then compared in constant
    time, so neither the database's index nor the comparison tells how much of a guess was right."""
    digest = key_hash(key) if _KEY_SHAPE.fullmatch(key) else _NO_KEY
    row = g.db.execute(select(IntakeKey, Tenant.status).join(Tenant, Tenant.id == IntakeKey.tenant_id)
                       .where(IntakeKey.key_hash == digest, IntakeKey.revoked_at.is_(None))).first()
    if row is None or not hmac.compare_digest(row.IntakeKey.key_hash, digest):
        return None
    if row.status == TenantStatus.UNINSTALLED:
        return None  # its data is erased: posting to it stores nothing, exactly like a revoked key
    return row.IntakeKey, row.status


def _secret(row: IntakeKey) -> str:
    return TokenCipher.from_settings().decrypt(row.secret_enc)


# CORS ----------------------------------------------------------------------------------------------------------

def _cors(response: Response, row: IntakeKey | None) -> Response:
    origin = request.headers.get("Origin")
    response.headers.add("Vary", "Origin")
    if origin and row is not None and origin in (row.allowed_origins or []):
        # never "*", never credentials: a form's page reads our answer, it sends no cookies
        response.headers["Access-Control-Allow-Origin"] = origin
    return response


def _answer(status: int, body: dict[str, Any], row: IntakeKey | None = None,
            headers: dict[str, str] | None = None) -> Response:
    response = jsonify(body)
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return _cors(response, row)


def _refused(exc: Refusal, row: IntakeKey | None) -> Response:
    body: dict[str, Any] = {"error": exc.error}
    if exc.status == 400:
        body["fields"] = exc.fields
    log.info("intake.refused", extra={"status": exc.status, "error": exc.error,
                                      "tenant_id": row.tenant_id if row is not None else None})
    return _answer(exc.status, body, row, exc.headers)


# Rate limits (Redis fixed windows of a minute: one round trip for both counters) -----------------------------

def _over_limit(parts: list[tuple[str, int]]) -> int | None:
    """Seconds until the window ends when any (counter, limit) is past its limit, else None (counted either way)."""
    now = time.time()
    window = int(now // 60)
    pipe = redis_connection(current_app.config["LEADRELAY_SETTINGS"]).pipeline(transaction=False)
    for name, _limit in parts:
        pipe.incr(f"lr:intake-rate:{name}:{window}")
        pipe.expire(f"lr:intake-rate:{name}:{window}", 120)
    counts = pipe.execute()[::2]
    if any(count > limit for count, (_n, limit) in zip(counts, parts, strict=True)):
        return max(1, int(60 - now % 60) + 1)
    return None


def _client_address() -> str:
    # ProxyFix (LEADRELAY_TRUSTED_PROXIES) has already put the client's address here when proxies are trusted
    return hashlib.sha256((request.remote_addr or "unknown").encode()).hexdigest()[:32]


# The body --------------------------------------------------------------------------------------------------

def _body() -> bytes:
    if (request.content_length or 0) > MAX_BODY_BYTES:
        raise Refusal(413, f"the body is over {MAX_BODY_BYTES // 1024} KB")
    body = request.get_data(cache=True)
    if len(body) > MAX_BODY_BYTES:
        raise Refusal(413, f"the body is over {MAX_BODY_BYTES // 1024} KB")
    return body


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    return json.dumps(value, ensure_ascii=False)  # a nested value of an unknown field: kept as JSON text


def _pairs(body: bytes) -> list[tuple[str, Any]]:
    kind = (request.mimetype or "").lower()
    if kind in ("application/json", "text/plain"):  # text/plain: a browser's fetch without a preflight
        if json_too_deep(body, 8):
            raise Refusal(400, "the JSON is nested too deep")
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            raise Refusal(400, "the body is not valid JSON") from None
        if not isinstance(data, dict):
            raise Refusal(400, "the body must be a JSON object of field names and values")
        return list(data.items())
    if kind == "application/x-www-form-urlencoded":
        try:
            return parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=500)
        except UnicodeDecodeError:
            raise Refusal(400, "the form is not UTF-8") from None
        except ValueError:
            raise Refusal(400, "the form has more than 500 fields") from None
    if kind == "multipart/form-data":
        return list(request.form.items(multi=True))
    raise Refusal(400, "send application/json, application/x-www-form-urlencoded or multipart/form-data")


def _clean(value: Any) -> str:
    return _CONTROL.sub("", _text(value)).strip()


class Parsed:
    """A submission read from its body: known fields (aliases applied), the rest, the control fields."""

    def __init__(self, pairs: list[tuple[str, Any]], aliases: dict[str, str]) -> None:
        self.fields: dict[str, Any] = {}
        self.extra: dict[str, str] = {}
        self.control: dict[str, str] = {}
        self.errors: dict[str, str] = {}
        for raw_name, value in pairs:
            name = str(raw_name).strip()
            lower = name.lower()
            target = aliases.get(lower) or (lower if lower in KNOWN_FIELDS or lower in CONTROL_FIELDS else None)
            if target in CONTROL_FIELDS:
                self.control.setdefault(target, _clean(value))
            elif target is not None:
                if isinstance(value, dict | list):
                    self.errors[target] = "must be text, not a list or an object"
                elif value is not None and target not in self.fields:
                    self.fields[target] = _clean(value)
            elif len(self.extra) < MAX_EXTRA_FIELDS and name and value is not None:
                self.extra.setdefault(_clean(name)[:100], _clean(value)[:MAX_EXTRA_CHARS])
        self._normalise()

    def _normalise(self) -> None:
        fields = {k: v for k, v in self.fields.items() if v != "" or k == "consent"}
        name = fields.pop("name", "")
        if name and not (fields.get("first_name") or fields.get("last_name")):
            first, _, last = name.rpartition(" ")
            fields["first_name"], fields["last_name"] = (first.strip(), last) if first.strip() else ("", name)
            fields = {k: v for k, v in fields.items() if v != ""}
        for key, value in list(fields.items()):
            limit = LIMITS.get(key, DEFAULT_LIMIT)
            if isinstance(value, str) and len(value) > limit:
                self.errors[key] = f"longer than {limit:,} characters"
        if "consent" in fields:
            word = str(fields["consent"]).strip().lower()
            if word in TRUTHY:
                fields["consent"] = True
            elif word in FALSY:
                fields["consent"] = False
            else:
                self.errors["consent"] = "not a yes or no"
        email, phone = fields.get("email", ""), fields.get("phone", "")
        if email and not EMAIL.fullmatch(email):
            self.errors["email"] = "not an email address"
        if phone and (not PHONE_CHARS.fullmatch(phone) or not 6 <= sum(c.isdigit() for c in phone) <= 20):
            self.errors["phone"] = "not a phone number"
        if not email and not phone:
            self.errors.setdefault("email", "an email address or a phone number is needed")
            self.errors.setdefault("phone", "a phone number or an email address is needed")
        self.fields = fields


# The answers ---------------------------------------------------------------------------------------------

def _public_id() -> str:
    return "sub_" + secrets.token_urlsafe(18)


def _accepted(submission: IntakeSubmission, row: IntakeKey, replay: bool = False) -> Response:
    redirect_to = _redirect_target(row)
    if redirect_to:
        return _cors(redirect(redirect_to, 303), row)
    headers = {"Idempotent-Replayed": "true"} if replay else {}
    return _answer(202, {"submission_id": submission.public_id, "status": "accepted"}, row, headers)


def _redirect_target(row: IntakeKey) -> str | None:
    """A plain HTML form may name its thank-you page (`lr_redirect`): only on one of the key's allowed origins."""
    target = g.get("intake_redirect") or ""
    parts = urlsplit(target)
    origin = f"{parts.scheme}://{parts.netloc}" if parts.scheme in ("http", "https") and parts.netloc else ""
    return target if origin and origin in (row.allowed_origins or []) and len(target) <= 2000 else None


def _store(row: IntakeKey, tenant_status: str, parsed: Parsed, idempotency_key: str | None,
           spam_reason: str | None) -> Response:
    submission = IntakeSubmission(tenant_id=row.tenant_id, public_id=_public_id(), key_id=row.id,
                                  idempotency_key=idempotency_key, fields=parsed.fields, extra=parsed.extra,
                                  status=SPAM if spam_reason else ACCEPTED, spam_reason=spam_reason)
    g.db.add(submission)
    try:
        g.db.commit()
    except IntegrityError:
        g.db.rollback()
        first = _first_answer(row.tenant_id, idempotency_key)
        if first is None:  # a stale key was cleared meanwhile, or an unrelated conflict: the caller may retry
            raise
        return _accepted(first, row, replay=True)
    if spam_reason:
        log.info("intake.spam", extra={"tenant_id": row.tenant_id, "reason": spam_reason})
    elif tenant_status == TenantStatus.ACTIVE:
        enqueue_submission(row.tenant_id, submission.id)
    else:
        log.info("intake.held", extra={"tenant_id": row.tenant_id, "tenant_status": tenant_status})
    return _accepted(submission, row)


def _first_answer(tenant_id: int, idempotency_key: str | None) -> IntakeSubmission | None:
    if not idempotency_key:
        return None
    first = g.db.scalar(select(IntakeSubmission).where(IntakeSubmission.tenant_id == tenant_id,
                                                       IntakeSubmission.idempotency_key == idempotency_key))
    if first is None or first.received_at >= utcnow() - IDEMPOTENCY_WINDOW:
        return first
    # the first is older than the window: the key is free again (the unique constraint would otherwise refuse)
    g.db.execute(update(IntakeSubmission).where(IntakeSubmission.id == first.id).values(idempotency_key=None))
    g.db.commit()
    return None


def _idempotency_key(parsed: Parsed) -> str | None:
    value = (request.headers.get("Idempotency-Key") or parsed.control.get("idempotency_key") or "").strip()
    if len(value) > 200:
        raise Refusal(400, "the idempotency key is longer than 200 characters",
                      {"idempotency_key": "longer than 200 characters"})
    return _CONTROL.sub("", value) or None


def _authenticate(key: str, body: bytes) -> tuple[IntakeKey, str, bool]:
    """(key row, tenant status, whether the request is signed); Refusal 401 / 429."""
    found = _lookup(key)
    header = request.headers.get(SIGNATURE_HEADER)
    signed = False
    if found is not None and header is not None:
        if not signature_valid(_secret(found[0]), header, body, time.time()):
            raise Refusal(401, "the signature does not match (or is older than 5 minutes)")
        signed = True
    limits = [] if signed else [(f"ip:{_client_address()}", get_settings().intake_ip_per_minute)]
    if found is not None:
        limits.append((f"key:{found[0].id}", get_settings().intake_key_per_minute))
    retry = _over_limit(limits)
    if retry is not None:
        raise Refusal(429, "too many submissions: try again later", headers={"Retry-After": str(retry)})
    if found is None:
        raise Refusal(401, "unknown or revoked intake key")
    return found[0], found[1], signed


@intake_bp.route("/intake/v1/<key>/submissions", methods=["POST", "OPTIONS"], provide_automatic_options=False)
def submit(key: str):
    if request.method == "OPTIONS":
        return _preflight(key)
    row = None
    try:
        body = _body()
        row, tenant_status, _signed = _authenticate(key, body)
        parsed = Parsed(_pairs(body), row.field_aliases or {})
        idempotency_key = _idempotency_key(parsed)
        g.intake_redirect = parsed.control.get("lr_redirect")
        if idempotency_key and (first := _first_answer(row.tenant_id, idempotency_key)) is not None:
            return _accepted(first, row, replay=True)
        spam_reason = _spam_reason(row, parsed)
        if spam_reason is None and parsed.errors:
            raise Refusal(400, "some fields cannot be used", parsed.errors)
        if spam_reason:  # a bot is told nothing: 202 like everyone else, with whatever fields it filled usably
            parsed.fields = {k: v for k, v in parsed.fields.items() if k not in parsed.errors}
        return _store(row, tenant_status, parsed, idempotency_key, spam_reason)
    except Refusal as exc:
        return _refused(exc, row)


def _spam_reason(row: IntakeKey, parsed: Parsed) -> str | None:
    if parsed.control.get(HONEYPOT):
        return "honeypot"
    stamp = parsed.control.get(STAMP)
    if stamp:
        return stamp_problem(_secret(row), stamp, time.time())
    return None


def _preflight(key: str) -> Response:
    found = _lookup(key)
    if found is None:
        return _answer(401, {"error": "unknown or revoked intake key"})
    origin = request.headers.get("Origin")
    if not origin or origin not in (found[0].allowed_origins or []):
        return _answer(403, {"error": "this origin may not post to this intake key"})
    response = _cors(Response(status=204), found[0])
    response.headers["Access-Control-Allow-Methods"] = "POST, GET"
    response.headers["Access-Control-Allow-Headers"] = ALLOWED_HEADERS
    response.headers["Access-Control-Max-Age"] = "600"
    return response


@intake_bp.get("/intake/v1/<key>/form-stamp")
def form_stamp(key: str):
    """A fresh signed lr_ts for a form being shown now (the snippet's script asks on page load): the minimum fill
    time counts from when the visitor saw the form, not from when the snippet was copied."""
    # every page view asks once: ten times the submissions allowed per address, so a loop cannot hammer the lookup
    retry = _over_limit([(f"stamp-ip:{_client_address()}", 10 * get_settings().intake_ip_per_minute)])
    if retry is not None:
        return _answer(429, {"error": "too many requests: try again later"}, headers={"Retry-After": str(retry)})
    found = _lookup(key)
    if found is None:
        return _answer(401, {"error": "unknown or revoked intake key"})
    return _answer(200, {STAMP: sign_stamp(_secret(found[0]), int(time.time()))}, found[0])


@intake_bp.get("/intake/v1/<key>/submissions/<submission_id>")
def status(key: str, submission_id: str):
    """What became of a submission: for signed callers only (the signature of an empty body)."""
    found = _lookup(key)
    header = request.headers.get(SIGNATURE_HEADER)
    if found is None or header is None or not signature_valid(_secret(found[0]), header, b"", time.time()):
        return _answer(401, {"error": "sign this request (X-LeadRelay-Signature over an empty body)"})
    row = found[0]
    submission = g.db.scalar(select(IntakeSubmission).where(IntakeSubmission.tenant_id == row.tenant_id,
                                                            IntakeSubmission.public_id == submission_id[:40]))
    if submission is None:
        return _answer(404, {"error": "no such submission for this intake key"}, row)
    return _answer(200, {"submission_id": submission.public_id, "status": submission.status,
                         "record_id": submission.record_id, "record_url": submission.record_url,
                         "error": submission.error}, row)


def enqueue_held(db, tenant_id: int) -> int:
    """Queue the submissions a paused tenant received (called when it is reconnected)."""
    return resume_submissions(db, tenant_id)
