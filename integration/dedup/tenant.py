"""A tenant's dedup calibration, fitted on its own records, stored, and scored with.

`fit` runs what `leadrelay dedup` runs on a file (em.py: EM over the records' candidate pairs shrunk to the dev
prior, and last-name shares) and returns the row's values; `tenant_scoring` is the context in which the
pipeline's (and the capture job's) scoring uses the stored result. No row, or a row that kept the prior: the
fitted model alone, exactly as without calibration.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager as ContextManager
from contextlib import contextmanager, nullcontext
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from integration.dedup import em
from integration.dedup.features import Surnames, surname_frequencies
from integration.dedup.model import calibrated
from integration.models import DedupCalibration, utcnow

FITTED, PRIOR_KEPT = "fitted", "prior kept"
TOP_SURNAMES = 5_000   # the most frequent names; a rarer one is scored with the smallest share stored (floor)


@dataclasses.dataclass(frozen=True)
class Fit:
    """What one calibration run found; the values of a `dedup_calibrations` row."""

    status: str
    reason: str | None
    estimate: dict | None
    surnames: dict | None
    records_used: int
    pairs_used: int


def _surnames_json(surnames: Surnames | None) -> dict | None:
    if surnames is None:
        return None
    top = sorted(surnames.share.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_SURNAMES]
    return {"share": dict(top), "coincidence": surnames.coincidence, "floor": top[-1][1] if top else 0.0,
            "distinct": len(surnames.share)}


def fit(records: Sequence[Mapping]) -> Fit:
    """EM and last-name shares over `records` (plain lead dicts); too few records or pairs keep the prior."""
    distinct = em._distinct(records)
    levels = em.sample_levels(records, distinct)
    surnames = em.batch_surnames(*distinct)
    used = len(set(distinct[1]))
    if len(levels) < em.MIN_PAIRS:
        return Fit(PRIOR_KEPT, f"{len(levels)} distinct candidate pairs (at least {em.MIN_PAIRS} needed)", None,
                   _surnames_json(surnames), used, len(levels))
    estimate = dataclasses.asdict(em.estimate(levels))
    reason = None if surnames else f"{used} distinct records: last-name shares need {em.MIN_RECORDS}"
    return Fit(FITTED, reason, estimate, _surnames_json(surnames), used, len(levels))


def store(session: Session, tenant_id: int, result: Fit) -> DedupCalibration:
    """The tenant's one row, created or replaced (a re-run is idempotent)."""
    row = session.scalar(select(DedupCalibration).where(DedupCalibration.tenant_id == tenant_id))
    if row is None:
        row = DedupCalibration(tenant_id=tenant_id)
        session.add(row)
    for name, value in dataclasses.asdict(result).items():
        setattr(row, name, value)
    row.fitted_at = utcnow()
    session.flush()
    return row


class _Shares(dict):
    """Stored last-name shares; a name outside the stored top is at most as common as the rarest stored one."""

    def __init__(self, shares: Mapping[str, float], floor: float) -> None:
        super().__init__(shares)
        self.floor = floor

    def get(self, name: Any, default: Any = None) -> Any:
        return super().get(name, self.floor or default)


@dataclasses.dataclass(frozen=True)
class Scoring:
    """A stored calibration ready to score with (loaded once per batch)."""

    estimate: em.Estimate | None
    surnames: Surnames | None

    def __call__(self) -> ContextManager[None]:
        return _within(self)


@contextmanager
def _within(scoring: Scoring) -> Iterator[None]:
    shift = em.shift(scoring.estimate) if scoring.estimate else None
    with calibrated(shift), surname_frequencies(scoring.surnames):
        yield


def _scoring(row: DedupCalibration | None) -> Scoring | None:
    if row is None:
        return None
    estimate = em.Estimate(**row.estimate) if row.status == FITTED and row.estimate else None
    names = row.surnames
    surnames = Surnames(_Shares(names["share"], names["floor"]), names["coincidence"]) if names else None
    return Scoring(estimate, surnames) if estimate or surnames else None


def load_scoring(session: Session, tenant_id: int) -> Scoring | None:
    """The tenant's stored calibration, None when there is none (score with the fitted model alone)."""
    return _scoring(session.scalar(select(DedupCalibration).where(DedupCalibration.tenant_id == tenant_id)))


def scoring_context(scoring: Scoring | None) -> ContextManager[None]:
    return scoring() if scoring is not None else nullcontext()


def tenant_scoring(session: Session, tenant_id: int) -> ContextManager[None]:
    """Score inside this block with the tenant's stored calibration (one query); none stored: as before."""
    return scoring_context(load_scoring(session, tenant_id))
