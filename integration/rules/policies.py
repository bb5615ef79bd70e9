"""The follow-up sections of a rule set (SLA, cadences, stale, dedup, lifecycle) and the shared field types."""
from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainValidator, model_validator

from integration.rules.values import parse_duration

DEFAULT_STAGES = ["subscriber", "lead", "marketingqualifiedlead", "salesqualifiedlead", "opportunity", "customer"]
Duration = Annotated[dt.timedelta, PlainValidator(parse_duration)]
Percent = Annotated[int, Field(ge=0, le=100)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Escalation(Strict):
    after: Duration
    action: Literal["notify_manager", "reassign"]


class SlaPolicy(Strict):
    first_touch: Duration
    business_hours: bool = False
    escalate: list[Escalation] = []


class Sla(Strict):
    hot: SlaPolicy | None = None
    warm: SlaPolicy | None = None
    nurture: SlaPolicy | None = None


class CadenceStep(Strict):
    after: Duration
    task: Literal["email", "call", "todo"]


class Cadences(Strict):
    hot: list[CadenceStep] = []
    warm: list[CadenceStep] = []
    nurture: list[CadenceStep] = []
    pause_on: list[Literal["reply", "meeting", "stage_change", "deal_created"]] = [
        "reply", "meeting", "stage_change", "deal_created"]


class StaleRule(Strict):
    stage: Annotated[str, Field(min_length=1)]
    after: Duration
    action: Literal["reactivation_task", "reactivation_cadence"]


class Dedup(Strict):
    auto_merge: Annotated[float, Field(ge=0, le=1)] = 0.92
    review: Annotated[float, Field(ge=0, le=1)] = 0.70
    keep: Literal["oldest", "most_complete", "has_owner"] = "oldest"

    @model_validator(mode="after")
    def _ordered(self) -> Dedup:
        if self.review > self.auto_merge:
            raise ValueError(f"review {self.review} must be ≤ auto_merge {self.auto_merge}")
        return self


class LifecycleWhen(Strict):
    deal: Literal["open", "won", "lost"]


class LifecycleRule(Strict):
    when: LifecycleWhen
    set: str


class Lifecycle(Strict):
    forward_only: bool = True
    stages: Annotated[list[str], Field(min_length=1)] = DEFAULT_STAGES
    rules: list[LifecycleRule] = []
