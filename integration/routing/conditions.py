"""`when` conditions compiled into predicates; first-match and all-matches over an ordered list of rules."""
from __future__ import annotations

import bisect
import heapq
import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from integration.routing.normalize import Lead
from integration.routing.postcodes import PostcodeIndex
from integration.rules.geo import FREE_MAIL_DOMAINS
from integration.rules.model import When
from integration.rules.values import postcode_key

TEXT_KEYS = ("country", "state", "city", "source", "industry", "language", "service")
ENRICHED_KEYS = ("email_type", "timezone")  # what integration/enrich found, set on the Lead by the pipeline


@dataclass
class Facts:
    """What conditions read about one lead, computed once per decision."""

    lead: Lead
    score: int | None = None
    tier: str | None = None
    account_owner: str | None = None  # the account owner's email, only when that owner is active
    postcode_hits: set[int] = field(default_factory=set)

    def text(self, key: str) -> str | None:
        value = getattr(self.lead, key)
        return value.casefold() if value else None


Test = Callable[[Facts], bool]
Describe = Callable[[Facts], str]


def _text_condition(key: str, values: list[str]) -> tuple[Test, Describe]:
    wanted = frozenset(v.casefold() for v in values)
    return (lambda f: f.text(key) in wanted), (lambda f: f"{key} {getattr(f.lead, key)}")


def _number_condition(key: str, bound: int) -> tuple[Test, Describe]:
    read: Callable[[Facts], int | None] = ((lambda f: f.lead.employees) if key.startswith("employees")
                                           else (lambda f: f.score))
    if key.endswith("_gte"):
        def test(f: Facts) -> bool:
            value = read(f)
            return value is not None and value >= bound  # a missing value never matches
    else:
        def test(f: Facts) -> bool:
            value = read(f)
            return value is not None and value < bound
    if key.startswith("employees"):
        return test, lambda f: f"{f.lead.employees} employees"
    return test, lambda f: f"score {f.score}"


def _domain_condition(values: list[str]) -> tuple[Test, Describe]:
    domains = frozenset(values)
    free = "free" in domains

    def test(f: Facts) -> bool:
        domain = f.lead.email_domain
        return domain is not None and (domain in domains or free and domain in FREE_MAIL_DOMAINS)

    def describe(f: Facts) -> str:
        return f"email domain {f.lead.email_domain}" + (" (free mail)" if f.lead.email_domain not in domains else "")
    return test, describe


def _enriched_condition(key: str, values: list[str]) -> tuple[Test, Describe]:
    """`email_type` and `timezone`: values enrichment gave the lead (a lead it could not type never matches)."""
    wanted = frozenset(v.casefold() for v in values)
    if key == "email_type":
        return (lambda f: (f.lead.email_type or "") in wanted), (lambda f: f"{f.lead.email_type} email")
    return ((lambda f: (f.lead.timezone or "").casefold() in wanted),
            (lambda f: f"time zone {f.lead.timezone}"))


def _enriched_why_not(key: str, wanted: str) -> Describe:
    if key == "email_type":
        def email_type(f: Facts) -> str:
            if f.lead.email_type:
                return f"email type is {f.lead.email_type} ({f.lead.email_domain}), not one of {wanted}"
            return f"email type unknown ({'no email' if not f.lead.email else 'not enriched'}; wanted {wanted})"
        return email_type
    return lambda f: (f"time zone is {f.lead.timezone}, not one of {wanted}" if f.lead.timezone
                      else f"time zone unknown (wanted {wanted})")


def _flag_condition(key: str, wanted: bool) -> tuple[Test, Describe]:
    read: dict[str, Callable[[Facts], bool]] = {
        "has_phone": lambda f: bool(f.lead.phone), "has_email": lambda f: bool(f.lead.email),
        "account_owner": lambda f: bool(f.account_owner)}
    label = {"has_phone": "phone", "has_email": "email", "account_owner": "account owner"}[key]
    check = read[key]

    def describe(f: Facts) -> str:
        if key == "account_owner" and wanted:
            return f"account owned by {f.account_owner}"
        return f"{'has' if wanted else 'no'} {label}"
    return (lambda f: check(f) is wanted), describe


def _listed(values: object) -> str:
    items = [str(v) for v in values] if isinstance(values, list | tuple | set | frozenset) else [str(values)]
    shown = ", ".join(items[:8])
    return shown + (f" and {len(items) - 8} more" if len(items) > 8 else "")


def _why_not(key: str, value: object) -> Describe:
    """The failing side of one condition, in the admin's words ("country is US, not one of DE, AT").

    Only called to explain a decision (the trace), never while matching: it may spend a little more.
    """
    label = key.replace("_", " ")
    if key in TEXT_KEYS:
        wanted = _listed(value)
        return lambda f: (f"{label} is {getattr(f.lead, key)}, not one of {wanted}" if getattr(f.lead, key)
                          else f"{label} unknown (wanted {wanted})")
    if key == "postcode":
        ranges = _listed(value)
        return lambda f: (f"postcode {f.lead.postcode} outside {ranges}" if f.lead.postcode
                          else f"postcode unknown (wanted {ranges})")
    if key in ("employees_gte", "employees_lt", "score_gte", "score_lt"):
        noun = "employees" if key.startswith("employees") else "score"
        need = f"at least {value}" if key.endswith("_gte") else f"fewer than {value}"

        def numeric(f: Facts) -> str:
            got = f.lead.employees if noun == "employees" else f.score
            return f"{noun} unknown (wanted {need})" if got is None else f"{noun} {got}, not {need}"
        return numeric
    if key == "email_domain":
        wanted = _listed(["free mail" if v == "free" else v for v in value])  # type: ignore[union-attr]
        return lambda f: (f"email domain {f.lead.email_domain}, not one of {wanted}" if f.lead.email_domain
                          else f"no email (wanted a domain among {wanted})")
    if key in ENRICHED_KEYS:
        return _enriched_why_not(key, _listed(value))
    if key == "tier":
        wanted = _listed(value)
        return lambda f: f"tier {f.tier}, not one of {wanted}" if f.tier else f"tier unknown (wanted {wanted})"
    if key == "account_owner":
        return ((lambda _f: "no active account owner") if value
                else (lambda f: f"account owned by {f.account_owner}"))
    noun = {"has_phone": "phone", "has_email": "email"}[key]
    return (lambda _f: f"no {noun}") if value else (lambda _f: f"has a {noun}")


def _condition(rule: int, key: str, value: object) -> tuple[Test, Describe]:
    if key in TEXT_KEYS:
        return _text_condition(key, value)  # type: ignore[arg-type]
    if key == "postcode":
        return (lambda f: rule in f.postcode_hits), (lambda f: f"postcode {f.lead.postcode}")
    if key in ("employees_gte", "employees_lt", "score_gte", "score_lt"):
        return _number_condition(key, value)  # type: ignore[arg-type]
    if key == "email_domain":
        return _domain_condition(value)  # type: ignore[arg-type]
    if key in ENRICHED_KEYS:
        return _enriched_condition(key, value)  # type: ignore[arg-type]
    if key == "tier":
        tiers = frozenset(value)  # type: ignore[arg-type]
        return (lambda f: f.tier in tiers), (lambda f: f"tier {f.tier}")
    return _flag_condition(key, bool(value))


@dataclass(frozen=True)
class CompiledWhen:
    keys: tuple[str, ...]
    tests: tuple[Test, ...]
    describes: tuple[Describe, ...]
    any: bool
    whys: tuple[Describe, ...] = ()  # the failing side of each condition, for explaining a rule that did not match

    def matches(self, facts: Facts) -> bool:
        if self.any:
            return any(test(facts) for test in self.tests)
        return all(test(facts) for test in self.tests)

    def describe(self, facts: Facts) -> str:
        """The facts that made the rule match: "state CA, 350 employees"."""
        matched = [(k, d(facts)) for k, t, d in zip(self.keys, self.tests, self.describes, strict=True) if t(facts)]
        keys = {k for k, _ in matched}
        parts = [text for k, text in matched if not (k == "country" and "state" in keys)]  # CA implies US
        return ", ".join(dict.fromkeys(parts))

    def why_not(self, facts: Facts) -> str:
        """Why the rule did not match: each failing condition ("country is US, not one of DE, AT; employees
        unknown (wanted at least 200)"); with `any: true`, every condition failed, so all are listed."""
        failing = [why(facts) for test, why in zip(self.tests, self.whys, strict=True) if not test(facts)]
        if not failing:
            return "matched"
        return ("none of: " if self.any and len(failing) > 1 else "") + "; ".join(failing)


def compile_when(rule: int, when: When) -> CompiledWhen:
    conditions = when.conditions()
    pairs = [_condition(rule, k, v) for k, v in conditions.items()]
    return CompiledWhen(tuple(conditions), tuple(t for t, _ in pairs), tuple(d for _, d in pairs), when.any,
                        tuple(_why_not(k, v) for k, v in conditions.items()))


class RuleMatcher:
    """An ordered list of `when`s; rules that require a postcode are only tried when the index says it matches."""

    def __init__(self, whens: list[When]) -> None:
        self.rules = [compile_when(i, w) for i, w in enumerate(whens)]
        self.index = PostcodeIndex()
        gated: list[int] = []
        for i, when in enumerate(whens):
            if when.postcode:
                self.index.add(i, [str(p) for p in when.postcode])
                if not when.any:
                    gated.append(i)
        self.index.freeze()
        self._gated = frozenset(gated)
        self._always = [i for i in range(len(whens)) if i not in self._gated]
        self.gated_order = tuple(gated)  # ascending; explaining a decision counts the ones the index ruled out

    def tried(self, facts: Facts, end: int) -> Iterator[int]:
        """The rules before `end` that matching actually evaluated (not those the postcode index ruled out)."""
        return itertools.takewhile(lambda i: i < end, self._candidates(facts))

    def ruled_out(self, facts: Facts, end: int) -> tuple[int, int | None]:
        """How many rules before `end` the postcode index ruled out for these facts, and the first of them."""
        before = bisect.bisect_left(self.gated_order, end)
        hits = sum(1 for i in facts.postcode_hits if i in self._gated and i < end)
        first = next((i for i in itertools.islice(self.gated_order, before) if i not in facts.postcode_hits), None)
        return before - hits, first

    def prepare(self, facts: Facts) -> Facts:
        facts.postcode_hits = self.index.lookup(postcode_key(facts.lead.postcode) if facts.lead.postcode else None)
        return facts

    def _candidates(self, facts: Facts) -> Iterator[int]:
        gated = sorted(i for i in facts.postcode_hits if i in self._gated)
        return heapq.merge(gated, self._always)

    def first(self, facts: Facts) -> int | None:
        """The index of the first rule that matches, or None."""
        return next((i for i in self._candidates(facts) if self.rules[i].matches(facts)), None)

    def all(self, facts: Facts) -> list[int]:
        return [i for i in self._candidates(facts) if self.rules[i].matches(facts)]
