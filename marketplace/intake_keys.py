"""Intake keys: the secret in a tenant's web-form URL, its signing secret, its allowed origins and field aliases.

A key is stored as its SHA-256 (what a request is looked up by) and encrypted with the token cipher, only so the
settings page can show the URL and the snippet again; its HMAC secret is kept encrypted too. Rotating revokes the
current key at once and makes a new one (new secret) carrying the same origins and aliases; revoking leaves the
tenant with no working key until an admin makes one. Every change is in the tenant's audit log, never the key.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from urllib.parse import urlsplit

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from integration.models import IntakeKey, IntakeSubmission, utcnow
from integration.models.capture import SPAM
from marketplace.invitations import audit
from oauth.crypto import TokenCipher

# The fields a submission may carry under their own names (aliases map a form's names onto these).
KNOWN_FIELDS = ("email", "phone", "first_name", "last_name", "name", "company", "website", "country", "state",
                "city", "postcode", "source", "message", "utm_source", "utm_medium", "utm_campaign", "utm_term",
                "utm_content", "page_url", "referrer", "consent", "consent_text")
HONEYPOT = "lr_hp"  # a field people never see (hidden with CSS): anything in it is a bot's doing
STAMP = "lr_ts"  # "<unix>.<hex HMAC-SHA256 of 'lr_ts.<unix>'>": when the form was shown, signed with the key's secret
MIN_FILL_SECONDS = 3
MAX_ALIASES = 100
_ALIAS_NAME = re.compile(r"[A-Za-z0-9_.\-\[\] ]{1,100}")


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode(errors="replace")).hexdigest()


def intake_url(base: str, key: str) -> str:
    return f"{base.rstrip('/')}/intake/v1/{key}/submissions"


def active_key(db: Session, tenant_id: int) -> IntakeKey | None:
    return db.scalar(select(IntakeKey).where(IntakeKey.tenant_id == tenant_id, IntakeKey.revoked_at.is_(None))
                     .order_by(IntakeKey.id.desc()).limit(1))


def _new_key(db: Session, tenant_id: int, origins: list[str] | None = None,
             aliases: dict[str, str] | None = None) -> IntakeKey:
    cipher = TokenCipher.from_settings()
    key = secrets.token_urlsafe(24)  # 192 random bits
    row = IntakeKey(tenant_id=tenant_id, key_hash=key_hash(key), key_enc=cipher.encrypt(key),
                    secret_enc=cipher.encrypt(secrets.token_hex(32)), allowed_origins=list(origins or []),
                    field_aliases=dict(aliases or {}))
    db.add(row)
    db.flush()
    return row


def ensure_key(db: Session, tenant_id: int) -> IntakeKey | None:
    """The tenant's working key, made on first need; None once an admin revoked it (until they make a new one)."""
    row = active_key(db, tenant_id)
    if row is not None:
        return row
    if db.scalar(select(IntakeKey.id).where(IntakeKey.tenant_id == tenant_id).limit(1)) is not None:
        return None  # revoked on purpose: never brought back behind the admin's back
    return _new_key(db, tenant_id)


def rotate(db: Session, tenant_id: int, by: str) -> IntakeKey:
    """A new key and secret; the current one (if any) stops working in the same transaction."""
    old = active_key(db, tenant_id)
    if old is not None:
        old.revoked_at = utcnow()
    row = _new_key(db, tenant_id, old.allowed_origins if old else None, old.field_aliases if old else None)
    audit(db, tenant_id, "intake-key-rotated" if old else "intake-key-created",
          f"{by} {'rotated the intake key: the old form address stopped working' if old else 'made a new intake key'}",
          "intake", key_id=row.id, replaced_key_id=old.id if old else None)
    return row


def revoke(db: Session, tenant_id: int, by: str) -> bool:
    old = active_key(db, tenant_id)
    if old is None:
        return False
    old.revoked_at = utcnow()
    audit(db, tenant_id, "intake-key-revoked", f"{by} revoked the intake key: forms posting to it are refused",
          "intake", key_id=old.id)
    return True


@dataclass(frozen=True)
class Revealed:
    key: str
    secret: str


def reveal(row: IntakeKey) -> Revealed:
    """The key and its secret in clear (raises EncryptionKeyError when the configured keys cannot decrypt)."""
    cipher = TokenCipher.from_settings()
    return Revealed(cipher.decrypt(row.key_enc), cipher.decrypt(row.secret_enc))


# Signatures -----------------------------------------------------------------------------------------------

def hmac_hex(secret: str, message: bytes) -> str:
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def sign_stamp(secret: str, when: int) -> str:
    return f"{when}.{hmac_hex(secret, f'lr_ts.{when}'.encode())}"


def stamp_problem(secret: str, value: str, now: float) -> str | None:
    """Why a form's lr_ts marks it as spam ("bad-timestamp", "too-fast"), or None when the form was shown long
    enough ago. A stamp from the future beyond clock skew is as bad as a forged one."""
    when, _, mac = value.strip().partition(".")
    if not (when.isascii() and when.isdigit() and len(when) <= 12) or not hmac.compare_digest(
            sign_stamp(secret, int(when)), f"{when}.{mac}"):
        return "bad-timestamp"
    age = now - int(when)
    if age < -60:
        return "bad-timestamp"
    return "too-fast" if age < MIN_FILL_SECONDS else None


def signature_header(secret: str, body: bytes, when: int) -> str:
    """X-LeadRelay-Signature for `body` at `when` (what a server-to-server caller sends)."""
    return f"t={when},v1={hmac_hex(secret, str(when).encode() + b'.' + body)}"


SIGNATURE_TOLERANCE_S = 300


def signature_valid(secret: str, header: str, body: bytes, now: float) -> bool:
    parts = dict(part.strip().partition("=")[::2] for part in header.split(",") if "=" in part)
    stamp, given = parts.get("t", ""), parts.get("v1", "")
    if not (stamp.isascii() and stamp.isdigit() and len(stamp) <= 12) or abs(now - int(stamp)) > SIGNATURE_TOLERANCE_S:
        return False
    return hmac.compare_digest(hmac_hex(secret, stamp.encode() + b"." + body), given.lower())


# Options: allowed origins and field aliases -------------------------------------------------------------------

def parse_origins(text: str) -> tuple[list[str], list[str]]:
    """Exact origins (scheme://host[:port]), one a line or comma-separated: (origins, problems)."""
    origins, problems = [], []
    for raw in re.split(r"[\s,]+", text or ""):
        if not raw:
            continue
        value = raw.rstrip("/")
        parts = urlsplit(value)
        if (parts.scheme not in ("http", "https") or not parts.hostname or parts.path or parts.query
                or parts.fragment or parts.username or parts.password or "*" in value):
            problems.append(f"{raw[:80]} is not an origin: write it as https://www.example.com (no path, no *)")
            continue
        try:
            port = parts.port
        except ValueError:
            problems.append(f"{raw[:80]} has a port that is not a number")
            continue
        origin = f"{parts.scheme}://{parts.hostname}" + (f":{port}" if port else "")
        if origin not in origins:
            origins.append(origin)
    if len(origins) > 50:
        problems.append("at most 50 origins")
    return origins, problems


def parse_aliases(text: str) -> tuple[dict[str, str], list[str]]:
    """`your-email = email`, one a line: (form name → known field, problems)."""
    aliases, problems = {}, []
    for number, line in enumerate((text or "").splitlines(), start=1):
        if not line.strip():
            continue
        theirs, sep, ours = line.partition("=")
        theirs, ours = theirs.strip(), ours.strip().lower()
        if not sep or not theirs or not ours:
            problems.append(f"line {number}: write it as “form field name = one of the known fields”")
        elif not _ALIAS_NAME.fullmatch(theirs):
            problems.append(f"line {number}: {theirs[:60]} is not a form field name (letters, digits, - _ . [ ])")
        elif ours not in KNOWN_FIELDS:
            problems.append(f"line {number}: {ours[:60]} is not a known field")
        elif theirs.lower() in KNOWN_FIELDS and theirs.lower() != ours:
            problems.append(f"line {number}: {theirs} is itself a known field and cannot stand for another")
        else:
            aliases[theirs.lower()] = ours
    if len(aliases) > MAX_ALIASES:
        problems.append(f"at most {MAX_ALIASES} aliases")
    return aliases, problems


def aliases_text(aliases: dict[str, str]) -> str:
    return "\n".join(f"{theirs} = {ours}" for theirs, ours in sorted(aliases.items()))


def set_options(db: Session, row: IntakeKey, origins: list[str], aliases: dict[str, str], by: str) -> bool:
    """Store both; audited with what changed. Returns whether anything did."""
    before = {"origins": list(row.allowed_origins or []), "aliases": dict(row.field_aliases or {})}
    if before == {"origins": origins, "aliases": aliases}:
        return False
    row.allowed_origins, row.field_aliases = origins, aliases
    audit(db, row.tenant_id, "intake-options", f"{by} set the intake form's allowed origins "
          f"({', '.join(origins) or 'none'}) and {len(aliases)} field alias{'' if len(aliases) == 1 else 'es'}",
          "intake", before=before, after={"origins": origins, "aliases": aliases})
    return True


def counts_today(db: Session, tenant_id: int, now: dt.datetime | None = None) -> dict[str, int]:
    """Submissions received since midnight UTC, and how many of them were spam."""
    now = now or utcnow()
    start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    rows = db.execute(select(IntakeSubmission.status, func.count())
                      .where(IntakeSubmission.tenant_id == tenant_id, IntakeSubmission.received_at >= start)
                      .group_by(IntakeSubmission.status)).all()
    return {"total": sum(n for _s, n in rows), "spam": sum(n for status, n in rows if status == SPAM)}
