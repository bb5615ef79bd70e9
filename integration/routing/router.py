"""Route (pipeline step 6): ordered rules, first match; owner, pool, account owner or review; fallback.

Semantics are RULES.md's "Assignment semantics". Every decision carries a one-line reason such as
"Rule 'West enterprise' (state CA, 350 employees) → pool west → alice@acme.test, weighted round-robin, 12/25 open".
"""
from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass

from integration.routing.availability import local_time, unavailable_reason
from integration.routing.conditions import Facts, RuleMatcher
from integration.routing.normalize import Lead
from integration.routing.score import Qualification
from integration.routing.state import Choice, InMemoryPoolState, PoolState, Slot
from integration.rules.model import RuleSet, Target
from integration.rules.values import zone

__all__ = ["Route", "InMemoryPoolState", "PoolState", "Router", "Skip", "Step", "route_lead"]

STRATEGY_LABELS = {"round_robin": "round-robin", "weighted": "weighted round-robin", "least_loaded": "least loaded"}
# Past this many rules before the match, the postcode rules the index ruled out are told as one step: a
# territory table of 40,000 rules must not put 40,000 lines in every decision's audit row.
MAX_STEPS = 50


@dataclass(frozen=True)
class Step:
    """One routing rule as the decision went past it: matched (and on what) or not (and why not)."""

    index: int  # 0-based position in `routing`
    rule: str
    matched: bool
    why: str

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Skip:
    """A member the target could not give the lead to, and why ("at capacity 25/25")."""

    owner: str
    why: str

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Route:
    """Where one lead goes and why (models.Decision is the audit row that records it)."""

    owner: str | None  # the owner's email; None means the review queue
    rule: str | None  # the routing rule that matched, None when none did
    reason: str
    fallback: bool = False  # the fallback decided (no rule matched, or the rule's target had nobody)
    # The rules up to the one that matched, each with why (not); only when the caller asked to explain.
    path: tuple[Step, ...] = ()
    skipped: tuple[Skip, ...] = ()  # members of the target(s) passed over, in the order they were tried

    @property
    def review(self) -> bool:
        return self.owner is None


@dataclass(frozen=True)
class _Outcome:
    owner: str | None
    text: str
    failed: bool = False  # the target could take nobody: fall through
    skipped: tuple[Skip, ...] = ()


class Router:
    """A rule set's routing, compiled once, with the pool state it shares with other workers."""

    def __init__(self, rules: RuleSet, state: PoolState | None = None) -> None:
        self.rules = rules
        self.state: PoolState = state if state is not None else InMemoryPoolState()
        self.matcher = RuleMatcher([r.when for r in rules.routing])

    def route_lead(self, lead: Lead, qualification: Qualification | None = None,
                   at: dt.datetime | None = None, explain: bool = False) -> Route:
        """Decide who gets `lead` at `at` (default: its created_at, else now); updates the pool state.

        `explain`: also say, for each rule up to the one that matched, why it did (not) match (`Route.path`).
        """
        moment = self._moment(at or lead.created_at)
        facts = self.matcher.prepare(Facts(
            lead, qualification.score if qualification else None, qualification.tier if qualification else None,
            self._active_account_owner(lead)))
        index = self.matcher.first(facts)
        path = self.trace(facts, index) if explain else ()
        if index is None:
            return self._fallback("No rule matched", None, moment, path)
        rule = self.rules.routing[index]
        head = f"Rule '{rule.name}' ({self.matcher.rules[index].describe(facts)})"
        outcome = self._resolve(rule.assign, facts, moment)
        if outcome.failed:
            return self._fallback(f"{head} → {outcome.text}", rule.name, moment, path, outcome.skipped)
        return Route(outcome.owner, rule.name, f"{head} → {outcome.text}", path=path, skipped=outcome.skipped)

    def trace(self, facts: Facts, matched: int | None) -> tuple[Step, ...]:
        """The rules before `matched` (all of them when None), each with why it did not match, then the match.

        Only rules up to the match are explained: the ones after it were never looked at. In a long territory
        table the postcode rules the index ruled out are summed up in one step (see MAX_STEPS).
        """
        end = len(self.rules.routing) if matched is None else matched
        rules, compiled = self.rules.routing, self.matcher.rules
        if end <= MAX_STEPS:
            steps = [Step(i, rules[i].name, False, compiled[i].why_not(facts)) for i in range(end)]
        else:
            steps = []
            for i in self.matcher.tried(facts, end):
                if len(steps) == MAX_STEPS:
                    steps.append(Step(i, "more rules", False, "not matched (not listed one by one)"))
                    break
                steps.append(Step(i, rules[i].name, False, compiled[i].why_not(facts)))
            count, first = self.matcher.ruled_out(facts, end)
            if count:
                where = f"postcode {facts.lead.postcode}" if facts.lead.postcode else "postcode unknown"
                steps.append(Step(first, f"{count} postcode rules", False, f"{where}: in none of their ranges"))
                steps.sort(key=lambda s: s.index)
        if matched is not None:
            steps.append(Step(matched, rules[matched].name, True, compiled[matched].describe(facts)))
        return tuple(steps)

    def _moment(self, at: dt.datetime | None) -> dt.datetime:
        if at is None:
            return dt.datetime.now(dt.UTC)
        return at if at.tzinfo else at.replace(tzinfo=zone(self.rules.timezone))  # naive: the rule set's zone

    def _active_account_owner(self, lead: Lead) -> str | None:
        # Owners the rule set does not list are CRM users the pipeline found active; listed ones may be inactive.
        owner = self.rules.owners_by_email.get(lead.account_owner or "")
        return lead.account_owner if lead.account_owner and (owner is None or owner.active) else None

    def _fallback(self, head: str, rule: str | None, at: dt.datetime, path: tuple[Step, ...] = (),
                  skipped: tuple[Skip, ...] = ()) -> Route:
        target = self.rules.fallback
        if target.review:
            return Route(None, rule, f"{head} → fallback → review", fallback=True, path=path, skipped=skipped)
        outcome = self._resolve(target, None, at)
        text = f"fallback {outcome.text}" if target.pool else f"fallback → {outcome.text}"
        skipped = skipped + outcome.skipped
        if outcome.failed:
            return Route(None, rule, f"{head} → {text} → review", fallback=True, path=path, skipped=skipped)
        return Route(outcome.owner, rule, f"{head} → {text}", fallback=True, path=path, skipped=skipped)

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
            return _Outcome(None, f"{email} is inactive", failed=True, skipped=(Skip(email, "inactive"),))
        return _Outcome(email, f"{email}, {self.state.assign(email)} open")

    def _pool(self, name: str, at: dt.datetime) -> _Outcome:
        pool = self.rules.pools[name]
        slots = [Slot(m.owner, m.weight, m.capacity,
                      unavailable_reason(self.rules.owners_by_email[m.owner], at, self.rules.timezone,
                                         pool.respect_hours))
                 for m in pool.members]
        choice = self.state.choose(name, pool.strategy, slots)
        skipped = tuple(Skip(email, self._detail(email, why, at)) for email, why in choice.skipped)
        if choice.email is None:
            return _Outcome(None, f"pool {name}: nobody available ({self._skipped(choice)})", failed=True,
                            skipped=skipped)
        capacity = next(s.capacity for s in slots if s.email == choice.email)
        held = f"{choice.open_count}/{capacity}" if capacity else f"{choice.open_count}"
        return _Outcome(choice.email, f"pool {name} → {choice.email}, {STRATEGY_LABELS[pool.strategy]}, {held} open",
                        skipped=skipped)

    def _detail(self, email: str, why: str, at: dt.datetime) -> str:
        """The skip reason with what the admin needs to check it: the absence's dates, the hours and zone.

        Only members passed over get here, so a decision where everyone is available pays nothing for it.
        """
        owner = self.rules.owners_by_email.get(email)
        if owner is None:
            return why
        timezone = owner.timezone or self.rules.timezone
        if why == "out of office":
            today = local_time(at, timezone).date()
            spans = [f"{first}..{last}" if first != last else f"{first}"
                     for first, last in owner.out_of_office if first <= today <= last]
            return f"out of office ({', '.join(spans)})" if spans else why
        if why == "outside hours" and owner.hours is not None:
            return f"outside hours ({owner.hours.text} {timezone}, {local_time(at, timezone):%a %H:%M} there)"
        return why

    @staticmethod
    def _skipped(choice: Choice) -> str:
        return ", ".join(f"{email} {why}" for email, why in choice.skipped)


def route_lead(router: Router, lead: Lead, qualification: Qualification | None = None,
               at: dt.datetime | None = None, explain: bool = False) -> Route:
    """Route one lead with a compiled router (the pipeline keeps one Router per published rule set)."""
    return router.route_lead(lead, qualification, at, explain)
