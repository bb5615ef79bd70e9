"""Load a rule set from YAML/JSON text, a file or a parsed mapping; every problem is reported with its path."""
from __future__ import annotations

import copy
import datetime as dt
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from integration.errors import LeadRelayError
from integration.rules.checks import Issue, Unchecked, check_rule_set
from integration.rules.limits import LimitExceeded, check_document, check_size, read_document, stored_form
from integration.rules.model import RuleSet
from integration.rules.sources import SourceLabels


class RulesError(LeadRelayError, ValueError):
    """The rule set is invalid; `issues` lists (path, message) pairs, e.g. ("routing[2].when.postcode", …)."""

    def __init__(self, issues: list[Issue], source: str = "") -> None:
        self.issues = issues
        self.source = source
        super().__init__("\n".join(f"{path}: {message}" if path else message for path, message in issues))


def format_path(loc: tuple[int | str, ...]) -> str:
    """("routing", 2, "when", "postcode") → "routing[2].when.postcode"."""
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


def _message(error: Any) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        return "unknown key"
    if kind == "missing":
        return "is required"
    if kind in ("value_error", "assertion_error"):
        return str(error["ctx"]["error"])
    return error["msg"][:1].lower() + error["msg"][1:]


def _issues(exc: ValidationError) -> list[Issue]:
    return [(format_path(tuple(e["loc"])), _message(e)) for e in exc.errors(include_url=False)]


def _dates_to_text(value: Any) -> Any:
    """YAML reads an unquoted 2026-12-24 as a date; the model reads dates as text."""
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, list):
        return [_dates_to_text(v) for v in value]
    if isinstance(value, dict):
        return {k: _dates_to_text(v) for k, v in value.items()}
    return value


def _parse_text(text: str, source: str) -> Any:
    kind = "JSON" if text.lstrip().startswith("{") else "YAML"
    try:
        return read_document(text)
    except LimitExceeded as exc:
        raise RulesError([("", str(exc))], source) from None
    except (yaml.YAMLError, ValueError) as exc:  # ValueError: JSON syntax, or an integer of thousands of digits
        raise RulesError([("", f"not valid {kind}: {exc}")], source) from None


def _read(text_or_path: str | Path, source: str) -> Any:
    looks_like_path = isinstance(text_or_path, Path) or (
        "\n" not in text_or_path and text_or_path.strip().endswith((".yaml", ".yml", ".json")))
    if not looks_like_path:
        return _parse_text(str(text_or_path), source)
    path = Path(text_or_path)
    try:
        check_size(path.stat().st_size)
        return _parse_text(path.read_text(encoding="utf-8"), source)
    except LimitExceeded as exc:
        raise RulesError([("", str(exc))], source) from None
    except OSError as exc:
        raise RulesError([("", f"cannot read rules file {str(text_or_path)!r}: {exc.strerror}")], source) from None


def read_rules_text(text: str) -> Any:
    """YAML or JSON text → the document as stored (JSON types only: YAML dates become text).

    RulesError past the limits of `limits.py`, as typed or as stored.
    """
    document = _parse_text(text, "")
    try:
        return stored_form(document)
    except LimitExceeded as exc:
        raise RulesError([("", str(exc))]) from None


def check_limits(data: Any, source: str = "") -> None:
    """Refuse (RulesError) a parsed document past the depth, value-count or stored-size limit."""
    try:
        check_document(data)
    except LimitExceeded as exc:
        raise RulesError([("", str(exc))], source) from None


def validate_rules(data: Any, source: str = "") -> RuleSet:
    """A parsed document → RuleSet, or RulesError with every issue found at once: a wrong type in one place does
    not hide a broken reference elsewhere. Input from outside goes through load_rules (which checks limits)."""
    if not isinstance(data, Mapping):
        raise RulesError([("", "a rule set is a mapping of sections (version, owners, pools, routing, …)")], source)
    data = _dates_to_text(dict(data))
    context = {}
    if isinstance(data.get("sources"), dict):
        try:  # the approved labels must be known before routing/scoring rules name them
            context["sources"] = SourceLabels.from_synonyms(
                {str(k): [str(s) for s in (v or [])] for k, v in data["sources"].items()})
        except TypeError:
            pass  # the model reports the malformed section with its path
    try:
        rules = RuleSet.model_validate(data, context=context)
    except ValidationError as exc:
        raise RulesError(_issues(exc) + _checks_on_the_rest(data, exc.errors(include_url=False), context),
                         source) from None
    issues = check_rule_set(rules)
    if issues:
        raise RulesError(issues, source)
    return rules


_LISTED = ("owners", "routing", "stale", "scoring.rules")  # sections whose items are left out one at a time
_INDEX = re.compile(r"(?<![\w.])(owners|routing|stale|scoring\.rules)\[(\d+)\]")


class _Rest:
    """A copy of a refused document without its invalid parts, remembering where the kept list items stood."""

    def __init__(self, data: dict) -> None:
        self.doc = copy.deepcopy(data)
        self.kept = {name: list(range(len(items))) for name in _LISTED if isinstance(items := self.list(name), list)}
        self.owners: set[str] = set()
        self.pools: set[str] = set()
        self.all_owners = self.all_pools = False
        self.stand_ins = 0

    def list(self, name: str) -> Any:
        if name == "scoring.rules":
            scoring = self.doc.get("scoring")
            return scoring.get("rules") if isinstance(scoring, dict) else None
        return self.doc.get(name)

    def leave_out(self, loc: tuple) -> bool:
        """Drop the smallest part that holds the error at `loc`; False when the error is the document's own."""
        if not loc:
            return False
        top = loc[0]
        name = "scoring.rules" if top == "scoring" and loc[1:2] == ("rules",) else top
        index = loc[2] if name == "scoring.rules" and len(loc) > 2 else (loc[1] if len(loc) > 1 else None)
        items = self.list(name) if name in _LISTED else None
        if isinstance(items, list) and isinstance(index, int) and index < len(items):
            if items[index] is None:
                return True  # a second error in a part already left out
            at = 3 if name == "scoring.rules" else 2
            field = loc[at] if len(loc) > at else None
            if isinstance(items[index], dict) and field in items[index] and self._stand_in(name, items[index], field):
                return True
            if name == "owners" and isinstance(items[index], dict) and isinstance(items[index].get("email"), str):
                self.owners.add(items[index]["email"].strip().lower())
            elif name == "owners":
                self.all_owners = True  # an owner without a readable email may be the one referred to
            items[index] = None  # removed after this round, so the other errors' indexes still point right
            return True
        pools = self.doc.get("pools")
        if top == "pools" and isinstance(pools, dict) and len(loc) > 1 and loc[1] in pools:
            if self._pool_part(pools[loc[1]], loc[2:]):
                return True
            pools.pop(loc[1])
            self.pools.add(str(loc[1]))
            return True
        if top == "version":
            self.doc["version"] = 1
            return True
        if name == "scoring.rules" and isinstance(self.doc.get("scoring"), dict):
            self.doc["scoring"].pop("rules", None)
        else:
            self.doc.pop(str(top), None)
        self.all_owners |= top == "owners"
        self.all_pools |= top == "pools"
        return True

    def _stand_in(self, name: str, item: dict, field: Any) -> bool:
        """Replace just the invalid field of a kept item, so the item's other parts are still checked: a stand-in
        is valid and unlike anything an admin writes (two stand-ins never look like duplicates)."""
        self.stand_ins += 1
        marker = f"\u2400left-out-{self.stand_ins}"
        if field == "when" and name in ("routing", "scoring.rules"):
            item["when"] = {"city": [marker]}
        elif field == "assign" and name == "routing":
            item["assign"] = {"review": True}
        elif field == "name" and name == "routing":
            item["name"] = marker
        elif field == "points" and name == "scoring.rules":
            item["points"] = 0
        elif field in ("email", "when", "stage", "after", "action"):
            return False  # what the item is: it goes as a whole
        else:
            item.pop(field)
        return True

    def _pool_part(self, pool: Any, loc: tuple) -> bool:
        """Leave out only the invalid member or setting of a pool; False when the pool itself must go."""
        if not isinstance(pool, dict) or not loc or loc[0] not in pool:
            return False
        if loc[0] != "members":
            pool.pop(loc[0])
            return True
        members = pool["members"]
        if len(loc) < 2 or not isinstance(members, list) or not isinstance(loc[1], int) or loc[1] >= len(members):
            return False
        member = members[loc[1]]
        if isinstance(member, dict) and len(loc) > 2 and loc[2] in member and loc[2] != "owner":
            member.pop(loc[2])
            return True
        self.stand_ins += 1
        stand_in = f"left-out-{self.stand_ins}@leadrelay.invalid"  # keeps the other members' positions
        self.owners.add(stand_in)
        members[loc[1]] = {"owner": stand_in}
        return True

    def compact(self) -> None:
        for name, kept in self.kept.items():
            items = self.list(name)
            if isinstance(items, list):
                self.kept[name] = [k for k, item in zip(kept, items, strict=True) if item is not None]
                items[:] = [item for item in items if item is not None]

    def original(self, text: str) -> str:
        """A path or message about the pruned copy, with list indexes as they stand in the admin's document."""
        def where(match: re.Match) -> str:
            kept = self.kept.get(match.group(1), [])
            index = int(match.group(2))
            return f"{match.group(1)}[{kept[index] if index < len(kept) else index}]"

        return _INDEX.sub(where, text)


def _checks_on_the_rest(data: dict, errors: list, context: dict) -> list[Issue]:
    """The cross-section checks (references, duplicates, rules that can never match) on the parts of a refused
    document that are valid, so one round of fixes shows every problem."""
    rest = _Rest(data)
    for _ in range(5):  # leaving a part out can make another refuse (a source label after `sources:` went)
        if not all([rest.leave_out(tuple(e["loc"])) for e in errors]):
            return []
        rest.compact()
        try:
            rules = RuleSet.model_validate(rest.doc, context=context)
        except ValidationError as exc:
            errors = exc.errors(include_url=False)
            continue
        unchecked = Unchecked(frozenset(rest.owners), frozenset(rest.pools), rest.all_owners, rest.all_pools)
        return [(rest.original(path), rest.original(message)) for path, message in check_rule_set(rules, unchecked)]
    return []


def load_rules(text_or_path: str | Path | Mapping[str, Any]) -> RuleSet:
    """Load a rule set from YAML or JSON text, a file path (.yaml/.yml/.json or a Path) or a mapping.

    Every input is held to the limits of `limits.py` (size, nesting, value count, no YAML aliases) first.
    """
    if isinstance(text_or_path, Mapping):
        check_limits(text_or_path)
        return validate_rules(text_or_path)
    source = str(text_or_path) if isinstance(text_or_path, Path) or "\n" not in text_or_path else ""
    return validate_rules(_read(text_or_path, source), source)
