"""Route (pipeline step 6): ordered rules, first match; owner, pool, account owner or review; fallback.

Semantics are RULES.md's "Assignment semantics". Every decision carries a one-line reason such as
"Rule 'West enterprise' (state CA, 350 employees) → pool west → alice@acme.test, weighted round-robin, 12/25 open".
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from integration.routing.availability import unavailable_reason
from integration.routing.conditions import Facts, RuleMatcher
from integration.routing.normalize import Lead
from integration.routing.score import Qualification
from integration.routing.state import Choice, InMemoryPoolState, PoolState, Slot
from integration.rules.model import RuleSet, Target
from integration.rules.values import zone

__all__ = ["Route", "InMemoryPoolState", "PoolState", "Router", "route_lead"]

STRATEGY_LABELS = {"round_robin": "round-robin", "weighted": "weighted round-robin", "least_loaded": "least loaded"}


@dataclass(frozen=True)
class Route:
    """Where one lead goes and why (models.Decision is the audit row that records it)."""

    owner: str | None  # the owner's email; None means the review queue
    rule: str | None  # the routing rule that matched, None when none did
    reason: str
    fallback: bool = False  # the fallback decided (no rule matched, or the rule's target had nobody)

    @property
    def review(self) -> bool:
        return self.owner is None


@dataclass(frozen=True)
class _Outcome:
    owner: str | None
    text: str
    failed: bool = False  # the target could take nobody: fall through


class Router:
    """A rule set's routing, compiled once, with the pool state it shares with other workers."""

    def __init__(self, rules: RuleSet, state: PoolState | None = None) -> None:
        self.rules = rules
        self.state: PoolState = state if state is not None else InMemoryPoolState()
        self.matcher = RuleMatcher([r.when for r in rules.routing])

    def route_lead(self, lead: Lead, qualification: Qualification | None = None,
                   at: dt.datetime | None = None) -> Route:
        """Decide who gets `lead` at `at` (default: its created_at, else now); updates the pool state."""
        moment = self._moment(at or lead.created_at)
        facts = self.matcher.prepare(Facts(
            lead, qualification.score if qualification else None, qualification.tier if qualification else None,
            self._active_account_owner(lead)))
        index = self.matcher.first(facts)
        if index is None:
            return self._fallback("No rule matched", None, moment)
        rule = self.rules.routing[index]
        head = f"Rule '{rule.name}' ({self.matcher.rules[index].describe(facts)})"
        outcome = self._resolve(rule.assign, facts, moment)
        if outcome.failed:
            return self._fallback(f"{head} → {outcome.text}", rule.name, moment)
        return Route(outcome.owner, rule.name, f"{head} → {outcome.text}")

    def _moment(self, at: dt.datetime | None) -> dt.datetime:
        if at is None:
            return dt.datetime.now(dt.UTC)
        return at if at.tzinfo else at.replace(tzinfo=zone(self.rules.timezone))  # naive: the rule set's zone

    def _active_account_owner(self, lead: Lead) -> str | None:
        # Owners the rule set does not list are CRM users the pipeline found active; listed ones may be inactive.
        owner = self.rules.owners_by_email.get(lead.account_owner or "")
        return lead.account_owner if lead.account_owner and (owner is None or owner.active) else None

    def _fallback(self, head: str, rule: str | None, at: dt.datetime) -> Route:
        target = self.rules.fallback
        if target.review:
            return Route(None, rule, f"{head} → fallback → review", fallback=True)
        outcome = self._resolve(target, None, at)
        text = f"fallback {outcome.text}" if target.pool else f"fallback → {outcome.text}"
        if outcome.failed:
            return Route(None, rule, f"{head} → {text} → review", fallback=True)
        return Route(outcome.owner, rule, f"{head} → {text}", fallback=True)

    def _resolve(self, target: Target, facts: Facts | None, at: dt.datetime) -> _Outcome:
        if target.review:
            return _Outcome(None, "review")
        if target.pool:
            return self._pool(target.pool, at)
        if target.account_owner:
            email = facts.account_owner if facts else None
            if email is None:
                return _Outcome(None, "no active account owner", failed=True)
            return _Outcome(email, f"{email} (account owner), {self.state.assign(email)} open")
        return self._owner(target.owner or "")

    def _owner(self, email: str) -> _Outcome:
        # A single-owner target falls through only when inactive (RULES.md); hours and absence are not checked.
        if not self.rules.owners_by_email[email].active:
            return _Outcome(None, f"{email} is inactive", failed=True)
        return _Outcome(email, f"{email}, {self.state.assign(email)} open")

    def _pool(self, name: str, at: dt.datetime) -> _Outcome:
        pool = self.rules.pools[name]
        slots = [Slot(m.owner, m.weight, m.capacity,
                      unavailable_reason(self.rules.owners_by_email[m.owner], at, self.rules.timezone,
                                         pool.respect_hours))
                 for m in pool.members]
        choice = self.state.choose(name, pool.strategy, slots)
        if choice.email is None:
            return _Outcome(None, f"pool {name}: nobody available ({self._skipped(choice)})", failed=True)
        capacity = next(s.capacity for s in slots if s.email == choice.email)
        held = f"{choice.open_count}/{capacity}" if capacity else f"{choice.open_count}"
        return _Outcome(choice.email, f"pool {name} → {choice.email}, {STRATEGY_LABELS[pool.strategy]}, {held} open")

    @staticmethod
    def _skipped(choice: Choice) -> str:
        return ", ".join(f"{email} {why}" for email, why in choice.skipped)


def route_lead(router: Router, lead: Lead, qualification: Qualification | None = None,
               at: dt.datetime | None = None) -> Route:
    """Route one lead with a compiled router (the pipeline keeps one Router per published rule set)."""
    return router.route_lead(lead, qualification, at)
