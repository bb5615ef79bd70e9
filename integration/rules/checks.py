"""Checks across sections that a single model cannot make: references, duplicates, rules that can never match."""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from integration.rules.model import RuleSet, Target
from integration.rules.values import quote

Issue = tuple[str, str]  # (path, message)


@dataclass(frozen=True)
class Unchecked:
    """Names whose definitions were themselves invalid (and left out to check the rest): a reference to one is
    not reported again as "not an owner" / "not a pool". `all_owners`/`all_pools`: the whole section was."""

    owners: frozenset[str] = field(default_factory=frozenset)
    pools: frozenset[str] = field(default_factory=frozenset)
    all_owners: bool = False
    all_pools: bool = False

    def owner(self, email: str) -> bool:
        return self.all_owners or email in self.owners

    def pool(self, name: str) -> bool:
        return self.all_pools or name in self.pools


def check_rule_set(rules: RuleSet, unchecked: Unchecked = Unchecked()) -> list[Issue]:
    """Every problem found, in document order."""
    return [*_owners(rules), *_pools(rules, unchecked), *_routing(rules, unchecked), *_scoring(rules),
            *_lifecycle(rules)]


def _duplicates(values: list[str], path: str) -> Iterator[Issue]:
    seen: dict[str, int] = {}
    for i, value in enumerate(values):
        if value in seen:
            yield path.format(i=i), f"{quote(value)} is listed twice (first at {path.format(i=seen[value])})"
        seen.setdefault(value, i)


def _owners(rules: RuleSet) -> Iterator[Issue]:
    yield from _duplicates([o.email for o in rules.owners], "owners[{i}].email")


def _pools(rules: RuleSet, unchecked: Unchecked) -> Iterator[Issue]:
    for name, pool in rules.pools.items():
        emails = [m.owner for m in pool.members]
        for i, email in enumerate(emails):
            if email not in rules.owners_by_email and not unchecked.owner(email):
                yield f"pools.{name}.members[{i}].owner", f"{quote(email)} is not an owner"
        yield from _duplicates(emails, f"pools.{name}.members[{{i}}].owner")


def _target(rules: RuleSet, target: Target, path: str, unchecked: Unchecked) -> Iterator[Issue]:
    if target.owner is not None and target.owner not in rules.owners_by_email and not unchecked.owner(target.owner):
        yield f"{path}.owner", f"{quote(target.owner)} is not an owner"
    if target.pool is not None and target.pool not in rules.pools and not unchecked.pool(target.pool):
        yield f"{path}.pool", f"{quote(target.pool)} is not a pool"


def _routing(rules: RuleSet, unchecked: Unchecked) -> Iterator[Issue]:
    yield from _duplicates([r.name for r in rules.routing], "routing[{i}].name")
    earlier: dict[str, int] = {}
    for i, rule in enumerate(rules.routing):
        yield from _target(rules, rule.assign, f"routing[{i}].assign", unchecked)
        key = rule.when.model_dump_json()
        if key in earlier:
            yield (f"routing[{i}].when", f"same conditions as routing[{earlier[key]}], which decides first: can never "
                                         f"match")
        earlier.setdefault(key, i)
    yield from _target(rules, rules.fallback, "fallback", unchecked)
    if rules.fallback.account_owner:
        yield "fallback", "account_owner cannot be a fallback (the lead may have no account owner)"


def _scoring(rules: RuleSet) -> Iterator[Issue]:
    for i, rule in enumerate(rules.scoring.rules):
        for key in ("tier", "score_gte", "score_lt"):
            if getattr(rule.when, key) is not None:
                yield f"scoring.rules[{i}].when.{key}", "a scoring rule cannot depend on the score it computes"


def _lifecycle(rules: RuleSet) -> Iterator[Issue]:
    stages = rules.lifecycle.stages
    yield from _duplicates(stages, "lifecycle.stages[{i}]")
    for i, rule in enumerate(rules.lifecycle.rules):
        if rule.set not in stages:
            yield f"lifecycle.rules[{i}].set", f"{quote(rule.set)} is not one of lifecycle.stages"
