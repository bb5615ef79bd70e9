"""A duplicate pair side by side, as the review queue shows it: the values as typed, a difference only where the
normalised values differ, and for every field the matcher compares, its verdict and how far it moved the score."""
from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, NamedTuple

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

HIDDEN = frozenset({"id", "extra_emails", "extra_phones", DUPLICATE_OF})
FIRST = ("email", "first_name", "last_name", "name", "phone", "mobile", "company", "title", "street", "city",
         "state", "postcode", "country", "owner_id", "created_at")
LABELS = {"owner_id": "Owner", "created_at": "Created", "postcode": "Postcode", "email": "Email"}
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


def side_by_side(new: Record | None, other: Record | None, owners: Callable[[str], str | None] = str) -> Pair:
    """Both records' fields, known ones first; `owners` names an owner id for the admin."""
    a = as_dict(new) if new else {}
    b = as_dict(other) if other else {}
    verdicts, score = _verdicts(a, b) if new and other else ({}, None)
    keys = [k for k in FIRST if k in a or k in b] + sorted((set(a) | set(b)) - set(FIRST) - HIDDEN)
    rows = []
    for key in keys:
        x, y = _shown(key, a.get(key), owners), _shown(key, b.get(key), owners)
        if x or y:
            differs = x != y if key in ("created_at", "owner_id") else _differs(key, a, b)  # as shown
            rows.append(Row(_label(key), x, y, differs, *verdicts.get(key, ("", "", None))))
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


def _label(key: str) -> str:
    return LABELS.get(key) or key.replace("_", " ").capitalize()


def _shown(key: str, value: Any, owners: Callable[[str], str | None]) -> str:
    if value is None or value == "":
        return ""
    if hasattr(value, "strftime"):
        return value.strftime("%Y-%m-%d %H:%M")
    return (owners(str(value)) or str(value)) if key == "owner_id" else str(value)


def _differs(key: str, a: dict, b: dict) -> bool:
    """Whether the normalised values differ: "+61 407 112 233" and "0407112233" in Australia are one phone."""
    country = normalize_country(a.get("country")) or normalize_country(b.get("country"))
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
