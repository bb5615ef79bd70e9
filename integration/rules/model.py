"""The rule-set format of RULES.md as pydantic models; unknown keys are refused everywhere."""
from __future__ import annotations

import datetime as dt
from functools import cached_property
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    PlainSerializer,
    PlainValidator,
    ValidationInfo,
    field_validator,
    model_validator,
)

from integration.rules.geo import normalize_country, normalize_state
from integration.rules.outreach import FirstResponse, HandoffRule
from integration.rules.policies import Cadences, Dedup, Lifecycle, Percent, Sla, StaleRule, Strict
from integration.rules.sources import DEFAULT_SOURCES, SourceLabels
from integration.rules.values import (
    WeeklyHours,
    check_timezone,
    parse_date_range,
    parse_hours,
    parse_postcode_spec,
    quote,
)

TIERS = ("hot", "warm", "nurture")
EMAIL_TYPES = ("business", "free", "disposable", "role")  # what enrichment calls an email (integration/enrich)


def _as_list(value: Any) -> Any:
    """A single value stands for a one-item list (`country: US`); an empty list can never match."""
    if value is None or isinstance(value, str | int | float) and not isinstance(value, bool):
        value = [value] if value is not None else value
    if isinstance(value, list) and not value:
        raise ValueError("an empty list can never match; remove the condition instead")
    return value


def _domain(value: str) -> str:
    domain = value.strip().lstrip("@").lower()
    if domain != "free" and ("." not in domain or " " in domain):
        raise ValueError(f"{quote(value)} is not an email domain (or `free`)")
    return domain


def _email_type(value: str) -> str:
    kind = str(value).strip().lower()
    if kind not in EMAIL_TYPES:
        raise ValueError(f"{quote(value)} is not an email type (business, free, disposable or role)")
    return kind


def _email(value: str) -> str:
    email = value.strip().lower()
    if email.count("@") != 1 or "." not in email.rsplit("@", 1)[1] or " " in email:
        raise ValueError(f"{quote(value)} is not an email address")
    return email


TimeZone = Annotated[str, AfterValidator(check_timezone)]
Hours = Annotated[WeeklyHours, PlainValidator(parse_hours), PlainSerializer(lambda h: h.text)]
DateRange = Annotated[tuple[dt.date, dt.date], PlainValidator(parse_date_range)]
Email = Annotated[str, AfterValidator(_email)]
Texts = Annotated[list[str], BeforeValidator(_as_list)]


class Owner(Strict):
    email: Email
    name: str | None = None
    timezone: TimeZone | None = None
    hours: Hours | None = None
    out_of_office: list[DateRange] = []
    active: bool = True
    manager: bool = False
    country: str | None = None  # public holidays for business-hours SLAs
    # the owner's meeting-booking page, for the lead's acknowledgment ({booking_link})
    booking_link: Annotated[str, Field(pattern=r"^https://[^\s]+$", max_length=500)] | None = None

    @field_validator("country")
    @classmethod
    def _country(cls, value: str | None) -> str | None:
        return _country_code(value) if value is not None else None


def _member(value: Any) -> Any:
    return {"owner": value} if isinstance(value, str) else value  # `members: [bob@acme.test]` shorthand


class Member(Strict):
    owner: Email
    weight: Annotated[int, Field(gt=0)] = 1
    capacity: Annotated[int, Field(gt=0)] | None = None


class Pool(Strict):
    strategy: Literal["round_robin", "weighted", "least_loaded"] = "round_robin"
    members: Annotated[list[Annotated[Member, BeforeValidator(_member)]], Field(min_length=1)]
    respect_hours: bool = False


def _country_code(value: str) -> str:
    code = normalize_country(value)
    if not code:
        raise ValueError(f"{quote(value)} is not a country")
    return code


class When(Strict):
    """Conditions; all must hold unless `any: true`."""

    country: Texts | None = None
    state: Texts | None = None
    city: Texts | None = None
    postcode: Annotated[list[str | int], BeforeValidator(_as_list)] | None = None
    source: Texts | None = None
    industry: Texts | None = None
    language: Texts | None = None
    service: Texts | None = None
    employees_gte: Annotated[int, Field(ge=0)] | None = None
    employees_lt: Annotated[int, Field(ge=0)] | None = None
    score_gte: Percent | None = None
    score_lt: Percent | None = None
    email_domain: Annotated[list[Annotated[str, AfterValidator(_domain)]], BeforeValidator(_as_list)] | None = None
    email_type: Annotated[list[Annotated[str, AfterValidator(_email_type)]], BeforeValidator(_as_list)] | None = None
    timezone: Annotated[list[TimeZone], BeforeValidator(_as_list)] | None = None
    has_phone: bool | None = None
    has_email: bool | None = None
    account_owner: bool | None = None
    tier: Annotated[list[Literal["hot", "warm", "nurture"]], BeforeValidator(_as_list)] | None = None
    any: bool = False

    @field_validator("country")
    @classmethod
    def _countries(cls, value: list[str] | None) -> list[str] | None:
        return [_country_code(v) for v in value] if value else value

    @field_validator("state")
    @classmethod
    def _states(cls, value: list[str] | None, info: ValidationInfo) -> list[str] | None:
        countries = info.data.get("country") or []
        only = countries[0] if len(countries) == 1 else None
        return [normalize_state(v, only) or v for v in value] if value else value

    @field_validator("postcode")
    @classmethod
    def _postcodes(cls, value: list[str | int] | None) -> list[str] | None:
        return [str(v) for v in value if parse_postcode_spec(v)] if value else value

    @field_validator("source")
    @classmethod
    def _sources(cls, value: list[str] | None, info: ValidationInfo) -> list[str] | None:
        labels: SourceLabels = (info.context or {}).get("sources") or DEFAULT_SOURCES
        mapped = [labels.label_for(v) for v in value or ()]
        unknown = [quote(v) for v, label in zip(value or (), mapped, strict=True) if label is None]
        if unknown:
            verb = "is not an approved source label" if len(unknown) == 1 else "are not approved source labels"
            raise ValueError(f"{', '.join(unknown)} {verb} (approved: {', '.join(labels.labels)})")
        return mapped if value else value  # type: ignore[return-value]

    @model_validator(mode="after")
    def _can_match(self) -> When:
        if not self.conditions():
            raise ValueError("no conditions: a rule for every lead belongs in `fallback` (or use `any: true` "
                             "with real conditions)")
        for low, high in (("employees_gte", "employees_lt"), ("score_gte", "score_lt")):
            lo, hi = getattr(self, low), getattr(self, high)
            if not self.any and lo is not None and hi is not None and lo >= hi:
                raise ValueError(f"{low} {lo} ≥ {high} {hi}: can never match")
        return self

    def conditions(self) -> dict[str, Any]:
        """The conditions that are set, in the table's order (without `any`)."""
        return {k: v for k, v in self if k != "any" and v is not None}


class Target(Strict):
    owner: Email | None = None
    pool: str | None = None
    review: Literal[True] | None = None
    account_owner: Literal[True] | None = None

    @model_validator(mode="after")
    def _one(self) -> Target:
        if sum(v is not None for _, v in self) != 1:
            raise ValueError("needs exactly one of account_owner, {owner: …}, {pool: …} or {review: true}")
        return self

    @property
    def kind(self) -> str:
        return next(k for k, v in self if v is not None)


def _target(value: Any) -> Any:
    if value == "account_owner":
        return {"account_owner": True}
    if isinstance(value, str):
        raise ValueError(f"{quote(value)} is not a target: account_owner, {{owner: …}}, {{pool: …}} or "
                         f"{{review: true}}")
    return value


AnyTarget = Annotated[Target, BeforeValidator(_target)]


class RoutingRule(Strict):
    name: Annotated[str, Field(min_length=1)]
    when: When
    assign: AnyTarget


class ScoringRule(Strict):
    name: str | None = None
    when: When
    points: int


class Tiers(Strict):
    hot: Percent = 60
    warm: Percent = 30

    @model_validator(mode="after")
    def _ordered(self) -> Tiers:
        if self.hot < self.warm:
            raise ValueError(f"hot {self.hot} must be ≥ warm {self.warm}")
        return self


class Scoring(Strict):
    rules: list[ScoringRule] = []
    tiers: Tiers = Tiers()


def _version(value: Any) -> Any:
    if value != 1:
        raise ValueError(f"unsupported version {quote(value)}: this LeadRelay reads version 1")
    return value


class Returning(Strict):
    """What a web-form submission from a person the CRM already has does (the capture job): `task` tells the
    record's owner "came back" with a task; `route_again_if_unowned` does that too, but routes the record again
    when it has no owner or its owner is no longer an active user."""

    on_return: Literal["task", "route_again_if_unowned"] = "task"


class RuleSet(Strict):
    """One tenant's rules (RULES.md). Every section is optional except `version`."""

    version: Annotated[Literal[1], BeforeValidator(_version)]
    timezone: TimeZone = "UTC"
    sources: dict[str, list[str]] | None = None  # approved label → spellings that map to it
    owners: list[Owner] = []
    pools: dict[str, Pool] = {}
    routing: list[RoutingRule] = []
    fallback: AnyTarget = Target(review=True)
    scoring: Scoring = Scoring()
    sla: Sla = Sla()
    cadences: Cadences = Cadences()
    stale: list[StaleRule] = []
    dedup: Dedup = Dedup()
    lifecycle: Lifecycle = Lifecycle()
    returning: Returning = Returning()
    first_response: FirstResponse = FirstResponse()
    handoff: list[HandoffRule] = []

    @field_validator("handoff")
    @classmethod
    def _handoff_names(cls, value: list[HandoffRule]) -> list[HandoffRule]:
        seen: set[str] = set()
        for rule in value:
            if rule.name.lower() in seen:
                raise ValueError(f"two handoff rules are named {quote(rule.name)}: names must differ (the audit "
                                 f"names the rule)")
            seen.add(rule.name.lower())
        return value

    @cached_property
    def owners_by_email(self) -> dict[str, Owner]:
        return {o.email: o for o in self.owners}

    @cached_property
    def source_labels(self) -> SourceLabels:
        return SourceLabels.from_synonyms(self.sources) if self.sources is not None else DEFAULT_SOURCES

    def owner_timezone(self, email: str) -> str:
        owner = self.owners_by_email.get(email)
        return owner.timezone if owner and owner.timezone else self.timezone
