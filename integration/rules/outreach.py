"""The rule set's `first_response` and `handoff` sections (RULES.md, README "First response", "Handoff rules").

`first_response` says, per tier, which channels acknowledge a new lead within a minute, under which consent
policy, with which template (per language); `handoff` lists rules that hand a lead to a human: on a new lead
(a referral, an existing customer, a high score) or on a reply (a pricing question, an opt-out, a negative tone),
with the actions to take. Both are validated here like every other section: an unknown key, a merge field that
does not exist, a template that is not there or a reply-only condition on a new-lead rule is refused with the
path named.
"""
from __future__ import annotations

import datetime as dt
import re
import string
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, PlainSerializer, PlainValidator, field_validator, model_validator

from integration.rules.policies import Duration, Percent, Strict
from integration.rules.values import quote

# What a template may name: {first_name} … ; the README's table says where each comes from
MERGE_FIELDS = ("first_name", "last_name", "name", "company", "source", "owner_name", "owner_first_name",
                "owner_email", "booking_link", "tenant_name")
CHANNELS = ("email", "sms")
LANGUAGE = re.compile(r"^[a-z]{2}$")
SMS_MAX = 612  # four concatenated segments: a longer acknowledgment is a letter, not a text
_QUIET = re.compile(r"^(\d\d):(\d\d)-(\d\d):(\d\d)$")


def template_fields(text: str) -> list[str]:
    """The merge fields a template names, in order; ValueError for a malformed brace or an unknown field."""
    try:
        names = [name for _, name, spec, conv in string.Formatter().parse(text) if name is not None]
    except ValueError as exc:
        raise ValueError(f"{exc} (write a literal brace as {{{{ or }}}})") from exc
    for name in names:
        if name not in MERGE_FIELDS:
            raise ValueError(f"{{{name}}} is not a merge field (known: {', '.join(MERGE_FIELDS)})")
    return names


def _template_text(value: Any) -> Any:
    if isinstance(value, str):
        template_fields(value)
    return value


Text = Annotated[str, Field(min_length=1), BeforeValidator(_template_text)]


def parse_quiet_hours(value: object) -> tuple[dt.time, dt.time] | None:
    """`"21:00-08:00"`: no SMS from 21:00 up to (not including) 08:00 in the lead's local time; a window may cross
    midnight. `null` or `"off"`: none."""
    if value is None or value == "off":
        return None
    if isinstance(value, tuple | list) and len(value) == 2 and all(isinstance(v, dt.time) for v in value):
        return (value[0], value[1])
    match = _QUIET.match(str(value).strip())
    if not match:
        raise ValueError(f"{quote(value)} is not a quiet-hours window like \"21:00-08:00\" (or off)")
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    if h1 > 23 or h2 > 23 or m1 > 59 or m2 > 59:
        raise ValueError(f"{quote(value)}: hours run 00-23 and minutes 00-59")
    start, end = dt.time(h1, m1), dt.time(h2, m2)
    if start == end:
        raise ValueError(f"{quote(value)} starts and ends at the same time: write off for none")
    return (start, end)


def quiet_hours_text(window: tuple[dt.time, dt.time] | None) -> str:
    return "off" if window is None else f"{window[0]:%H:%M}-{window[1]:%H:%M}"


QuietHours = Annotated[tuple[dt.time, dt.time] | None, PlainValidator(parse_quiet_hours),
                       PlainSerializer(quiet_hours_text)]


def in_quiet_hours(window: tuple[dt.time, dt.time] | None, local: dt.time) -> bool:
    """Whether a local wall-clock time falls in the window (start inclusive, end exclusive)."""
    if window is None:
        return False
    start, end = window
    return start <= local < end if start < end else local >= start or local < end


class Template(Strict):
    """One language's acknowledgment: the email's subject and body, the SMS text."""

    subject: Text | None = None
    body: Text | None = None
    sms: Annotated[Text, Field(max_length=SMS_MAX)] | None = None

    @model_validator(mode="after")
    def _whole(self) -> Template:
        if (self.subject is None) != (self.body is None):
            raise ValueError("an email needs both subject and body (or neither, for an SMS-only template)")
        if self.subject is None and self.sms is None:
            raise ValueError("empty: give subject and body (email), sms, or both")
        if self.subject is not None and "\n" in self.subject:
            raise ValueError("subject: one line")
        return self


class TierResponse(Strict):
    """What a tier's new leads receive."""

    channels: Annotated[list[Literal["email", "sms"]], Field(min_length=1)]
    template: Annotated[str, Field(min_length=1)]
    # any: every lead not opted out (the tenant states its lawful basis, e.g. legitimate interest, in `basis`);
    # given: only a lead whose consent is recorded (the intake's `consent` field, true)
    consent: Literal["any", "given"] = "given"

    @field_validator("channels")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("a channel is listed twice")
        return value


class FirstResponse(Strict):
    """The `first_response` section; off (no tier) by default."""

    hot: TierResponse | None = None
    warm: TierResponse | None = None
    nurture: TierResponse | None = None
    # the email sender: the tenant's SMTP server, or the CRM's own sending where the platform offers it to apps
    sender: Literal["smtp", "crm"] = "smtp"
    basis: str | None = None  # the lawful basis the tenant states for `consent: any` (shown in the audit)
    quiet_hours: QuietHours = (dt.time(21, 0), dt.time(8, 0))  # SMS only, in the lead's time zone
    daily_cap: Annotated[int, Field(gt=0, le=100_000)] = 500  # messages a tenant sends a day (UTC), all channels
    default_language: Annotated[str, Field(pattern=LANGUAGE.pattern)] = "en"
    reply_to: Literal["owner"] | Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")] = "owner"
    templates: dict[str, dict[str, Template]] = {}  # name → language → template

    @field_validator("templates")
    @classmethod
    def _languages(cls, value: dict[str, dict[str, Template]]) -> dict[str, dict[str, Template]]:
        for name, by_language in value.items():
            if not by_language:
                raise ValueError(f"{name}: no language")
            for language in by_language:
                if not LANGUAGE.match(language):
                    raise ValueError(f"{name}.{language}: a language is a two-letter ISO 639-1 code (en, de, fr)")
        return value

    @model_validator(mode="after")
    def _templates_exist(self) -> FirstResponse:
        for tier in ("hot", "warm", "nurture"):
            policy: TierResponse | None = getattr(self, tier)
            if policy is None:
                continue
            by_language = self.templates.get(policy.template)
            if by_language is None:
                raise ValueError(f"{tier}.template: no template {quote(policy.template)} in templates"
                                 f"{' (have: ' + ', '.join(self.templates) + ')' if self.templates else ''}")
            if self.default_language not in by_language:
                raise ValueError(f"templates.{policy.template}: no {self.default_language} version (the "
                                 f"default_language, used when the lead's language has none)")
            for language, template in by_language.items():
                if "email" in policy.channels and template.subject is None:
                    raise ValueError(f"templates.{policy.template}.{language}: {tier} sends email: give subject "
                                     f"and body")
                if "sms" in policy.channels and template.sms is None:
                    raise ValueError(f"templates.{policy.template}.{language}: {tier} sends SMS: give sms")
            if policy.consent == "any" and not self.basis:
                raise ValueError(f"{tier}.consent any: state the lawful basis in first_response.basis "
                                 f"(e.g. legitimate interest)")
        return self

    def for_tier(self, tier: str) -> TierResponse | None:
        return getattr(self, tier, None) if tier in ("hot", "warm", "nurture") else None

    @property
    def enabled(self) -> bool:
        return any(getattr(self, tier) is not None for tier in ("hot", "warm", "nurture"))


def _texts(value: Any) -> Any:
    if isinstance(value, str):
        value = [value]
    if isinstance(value, list) and not value:
        raise ValueError("an empty list can never match; remove the condition instead")
    return value


Words = Annotated[list[Annotated[str, Field(min_length=1, max_length=100)]], BeforeValidator(_texts)]
REPLY_ONLY = ("phrases", "opt_out", "tone_below")


class HandoffWhen(Strict):
    """A handoff rule's conditions; all must hold unless `any: true`."""

    # on a reply: any of these words or phrases (case-insensitive, whole words)
    phrases: Words | None = None
    # on a reply: an opt-out (stop, unsubscribe, remove me … in the languages LeadRelay knows, plus `phrases`)
    opt_out: Literal[True] | None = None
    # on a reply: the offline tone score (VADER's compound, -1 … 1) is below this
    tone_below: Annotated[float, Field(ge=-1, le=1)] | None = None
    # on either: the lead's source label, lifecycle stage, score or tier
    source: Words | None = None
    lifecycle: Words | None = None
    score_gte: Percent | None = None
    tier: Annotated[list[Literal["hot", "warm", "nurture"]], BeforeValidator(_texts)] | None = None
    any: bool = False

    @model_validator(mode="after")
    def _some(self) -> HandoffWhen:
        if not self.conditions():
            raise ValueError("no conditions: name at least one (phrases, opt_out, tone_below, source, lifecycle, "
                             "score_gte, tier)")
        return self

    def conditions(self) -> dict[str, Any]:
        return {k: v for k, v in self if k != "any" and v is not None}


ACTIONS = ("notify_owner", "pause_cadence", "stop_cadence", "do_not_contact", "skip_automation", "review")


class HandoffRule(Strict):
    """One handoff rule: when it applies, what it needs, what it does."""

    name: Annotated[str, Field(min_length=1, max_length=100)]
    trigger: Literal["reply", "new_lead"]  # not `on`: YAML 1.1 reads a bare on as true
    when: HandoffWhen
    actions: Annotated[list[Literal["notify_owner", "pause_cadence", "stop_cadence", "do_not_contact",
                                    "skip_automation", "review"]], Field(min_length=1)]
    within: Duration = dt.timedelta(minutes=15)  # notify_owner: the task is due this soon
    say: Annotated[str, Field(min_length=1, max_length=120)] | None = None  # notify_owner: the task's headline

    @model_validator(mode="after")
    def _fits(self) -> HandoffRule:
        if self.trigger == "new_lead":
            reply_only = [k for k in REPLY_ONLY if getattr(self.when, k) is not None]
            if reply_only:
                raise ValueError(f"when.{reply_only[0]} reads a reply: use it with trigger: reply")
        if len(set(self.actions)) != len(self.actions):
            raise ValueError("actions: an action is listed twice")
        if self.trigger == "reply" and "skip_automation" in self.actions:
            raise ValueError("skip_automation decides before the first message: use it with trigger: new_lead")
        if self.within <= dt.timedelta(0):
            raise ValueError("within must be positive")
        return self
