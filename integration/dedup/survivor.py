"""Survivorship for a merge: which record survives and the merged values, never dropping a non-empty value.

The survivor's non-empty values win and the loser fills the gaps (the owner included, so an owned record
stays owned). A losing email or phone that differs is kept as an extra email/phone, so no way of reaching
the person is lost; any other overridden value is returned in `overridden` for the merge snapshot/audit.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any, NamedTuple

from integration.dedup.index import email_key, phone_key
from integration.dedup.settings import KEEP_RULES

_LATEST = dt.datetime.max.replace(tzinfo=dt.UTC)
_LISTS = {"email": ("extra_emails", email_key), "phone": ("extra_phones", phone_key)}


class Survivorship(NamedTuple):
    """`survivor` and `loser` are the input records; `merged` is what the survivor becomes."""

    survivor: Mapping
    loser: Mapping
    merged: dict[str, Any]
    overridden: dict[str, Any]


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip()) or value in ((), [])


def _created(record: Mapping) -> dt.datetime:
    value = record.get("created_at")
    if isinstance(value, str) and value.strip():
        try:
            value = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            return _LATEST
    if not isinstance(value, dt.datetime):
        return _LATEST   # no date: treated as the newest, so a dated record is preferred
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _filled(record: Mapping) -> int:
    return sum(1 for key, value in record.items() if key != "id" and not _empty(value))


def _first_is_survivor(a: Mapping, b: Mapping, keep: str) -> bool:
    if keep == "most_complete" and _filled(a) != _filled(b):
        return _filled(a) > _filled(b)
    if keep == "has_owner" and _empty(a.get("owner_id")) != _empty(b.get("owner_id")):
        return not _empty(a.get("owner_id"))
    return _created(a) <= _created(b)   # oldest, and the tie-break of the other two rules


def _as_list(value: Any) -> list:
    if _empty(value):
        return []
    return [value] if isinstance(value, str) else list(value)


def _merge_contacts(merged: dict, loser: Mapping) -> None:
    for name, (extras, key_of) in _LISTS.items():
        values = _as_list(merged.get(name)) + _as_list(merged.get(extras))
        for value in _as_list(loser.get(name)) + _as_list(loser.get(extras)):
            if (key_of(value) or value) not in {key_of(v) or v for v in values}:
                values.append(value)
        if values:
            merged[name], merged[extras] = values[0], values[1:]


def survivor(a: Mapping, b: Mapping, keep: str = "oldest") -> Survivorship:
    """Pick the survivor by `keep` (oldest | most_complete | has_owner) and merge the field values."""
    if keep not in KEEP_RULES:
        raise ValueError(f"keep must be one of {', '.join(KEEP_RULES)}, not {keep!r}")
    win, lose = (a, b) if _first_is_survivor(a, b, keep) else (b, a)
    merged, overridden = dict(win), {}
    for key, value in lose.items():
        if _empty(value) or key == "id":
            continue
        if _empty(merged.get(key)):
            merged[key] = value
        elif merged[key] != value and key not in _LISTS and key not in ("extra_emails", "extra_phones"):
            overridden[key] = value
    _merge_contacts(merged, lose)
    return Survivorship(win, lose, merged, overridden)
