"""A duplicate pair side by side, as the review queue shows it: a difference only where the normalised values
differ, and for every field the matcher compares, its verdict and how far it moved the score.

One phone in two formats ("+1 415-555-0101", "(415) 555 0101") is one value: phones are compared in E.164 and shown in
one international format; an email differing only in case or spaces is shown once, lower-cased. Other values show
as typed."""
from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, NamedTuple

import phonenumbers

from integration.admin.review_outcomes import DUPLICATE_OF
from integration.dedup import prepare
from integration.dedup.features import compare
from integration.dedup.model import probability
from integration.pipeline.duplicates import as_dict
from integration.records import Record
from integration.routing.normalize import (
    normalize_country,
    normalize_email,
    normalize_phone,
    normalize_postcode,
    normalize_state,
)
from marketplace.labels import label

HIDDEN = frozenset({"id", "extra_emails", "extra_phones", DUPLICATE_OF})
FIRST = ("email", "first_name", "last_name", "name", "phone", "mobile", "company", "title", "street", "city",
         "state", "postcode", "country", "owner_id", "created_at")
# The matcher's comparisons (integration.dedup.features.Levels) by the record field each one reads.
COMPARED = {"first_name": "first", "last_name": "last", "email": "email", "phone": "phone", "company": "company",
            "street": "street", "postcode": "postcode", "city": "city"}
# What each agreement level says to an admin: (verdict, detail). A level not listed here is a graded agreement.
LEVELS = {
    "exact": ("same", ""), "equal": ("same", ""), "missing": ("missing", "not on both records"),
    "different": ("different", ""), "nickname": ("similar", "a nickname of the other"),
    "typo": ("similar", "a typo of the other"), "initial": ("similar", "an initial of the other"),
    "partial": ("similar", "one contains the other"), "core": ("similar", "same apart from Inc, Ltd, Group…"),
    "similar": ("similar", "close spelling"),
    "same_domain": ("different", "different mailboxes at one company domain: often colleagues"),
    "fuzzy": ("similar", "spelled alike"), "near": ("similar", "one digit or letter slipped"),
    "same_street": ("similar", "same street, another house number"),
    "conflict": ("different", "two different names (often two people of one household)"),
}


class Row(NamedTuple):
    """One field of the pair: its label, both values as typed, whether they differ once normalised, and the
    matcher's verdict on it (same / similar / different / missing, "" for fields it does not compare), a detail
    and the score it added (negative: took away; None for fields it does not compare)."""

    label: str
    new: str
    other: str
    differs: bool
    verdict: str = ""
    detail: str = ""
    effect: float | None = None


class Pair(NamedTuple):
    """The rows, and the score the two records get as they are now (None when either is missing)."""

    rows: list[Row]
    score_now: float | None


def side_by_side(new: Record | None, other: Record | None, owners: Callable[[str], str | None] = str,
                 region: str | None = None) -> Pair:
    """Both records' fields, known ones first; `owners` names an owner id for the admin; `region` (the tenant's
    country) reads a national phone number when neither record says its country."""
    a = as_dict(new) if new else {}
    b = as_dict(other) if other else {}
    verdicts, score = _verdicts(a, b) if new and other else ({}, None)
    keys = [k for k in FIRST if k in a or k in b] + sorted((set(a) | set(b)) - set(FIRST) - HIDDEN)
    country = normalize_country(a.get("country")) or normalize_country(b.get("country")) or region
    rows = []
    for key in keys:
        x, y = _shown(key, a, owners, country), _shown(key, b, owners, country)
        if x or y:
            differs = x != y if key in ("created_at", "owner_id") else _differs(key, a, b, country)  # as shown
            verdict = verdicts.get(key, ("", "", None))
            # the matcher's "same" (Acme and ACME Inc. are one company to it) is no difference to highlight
            rows.append(Row(label(key), x, y, differs and verdict[0] != "same", *verdict))
    return Pair(rows, score)


def _verdicts(a: dict, b: dict) -> tuple[dict[str, tuple[str, str, float]], float]:
    """Per compared field: (verdict, detail, effect on the score), and the score; read as the pipeline scores."""
    levels = compare(prepare(a), prepare(b))
    score = probability(levels)
    found = {}
    for key, name in COMPARED.items():
        level = getattr(levels, name, None)
        if not isinstance(level, str):
            continue
        verdict, detail = LEVELS.get(level, ("similar", level.replace("_", " ")))
        if name in ("first", "last") and levels.transposed:
            detail = ", ".join(d for d in (detail, "first and last name swapped in one record") if d)
        # a missing value weighs nothing, so the field's effect is the score with it minus the score without it
        effect = 0.0 if level == "missing" else round(score - probability(levels._replace(**{name: "missing"})), 2)
        found[key] = (verdict, detail, effect)
    return found, score


def _shown(key: str, record: dict, owners: Callable[[str], str | None], fallback_country: str | None) -> str:
    value = record.get(key)
    if value is None or value == "":
        return ""
    if hasattr(value, "strftime"):
        return value.strftime("%Y-%m-%d %H:%M")
    if key == "owner_id":
        return owners(str(value)) or str(value)
    if key in ("phone", "mobile"):
        return phone_shown(str(value), normalize_country(record.get("country")) or fallback_country)
    if key == "email":
        return normalize_email(value)[0] or str(value)
    return str(value)


def phone_shown(text: str, country: str | None) -> str:
    """A phone in one international format ("+1 415-555-0101"), whatever format it was typed in; as typed when it
    cannot be read as a number."""
    e164 = normalize_phone(text, country)[0]
    if not e164:
        return text
    return phonenumbers.format_number(phonenumbers.parse(e164, None), phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def _differs(key: str, a: dict, b: dict, country: str | None) -> bool:
    """Whether the normalised values differ: "+61 407 112 233" and "0407112233" in Australia are one phone."""
    return _normal(key, a.get(key), a, country) != _normal(key, b.get(key), b, country)


def _normal(key: str, value: Any, record: dict, fallback_country: str | None) -> str:
    text = re.sub(r"\s+", " ", str(value)).strip() if value not in (None, "") else ""
    if not text:
        return text
    # a national number is read in its own record's country, else in the other record's
    country = normalize_country(record.get("country")) or fallback_country
    normal: str | None = None
    if key == "email":
        normal = normalize_email(text)[0]
    elif key in ("phone", "mobile"):
        normal = normalize_phone(text, country)[0] or re.sub(r"\D", "", text)
    elif key == "postcode":
        normal = normalize_postcode(text, country)
    elif key == "country":
        normal = normalize_country(text)
    elif key == "state":
        normal = normalize_state(text, country)
    return (normal or text).casefold()
