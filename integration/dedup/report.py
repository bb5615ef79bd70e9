"""`leadrelay dedup --explain`: what the matcher would do with an unlabelled file, in words an admin reads.

Blocking width per key family (candidate pairs per 10k records), the file's own EM calibration against the
dev prior (per field, how much the agreeing level's weight moved), and how many pairs would merge or go to
review under that calibration.
"""
from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence

from integration.dedup.blocking import _block_pairs, build_blocks
from integration.dedup.cluster import find_duplicates
from integration.dedup.em import PRIOR, Estimate, tenant_calibration
from integration.dedup.prepare import prepare
from integration.dedup.tenant import FITTED, fit

FAMILIES = {"e": "email", "p": "phone", "n": "name", "c": "name + company", "z": "last name + postcode",
            "s": "initials + street", "phone_near": "phone one digit off", "sound": "names sounding alike",
            "house": "house number + postcode/street"}
# the level whose weight says most about a field: how telling agreement on it is
AGREE = {"first": "exact", "last": "exact", "email": "equal", "phone": "equal", "company": "exact",
         "street": "equal", "postcode": "equal", "city": "equal"}


def pairs_by_family(rows: Sequence[Mapping]) -> dict[str, int]:
    """Distinct candidate pairs each key family yields (a pair may come from several)."""
    prepared = [prepare(r) for r in rows]
    found: dict[str, set] = defaultdict(set)
    for key, members in build_blocks(prepared).items():
        if len(members) > 1:
            found[FAMILIES.get(key.partition(":")[0], key.partition(":")[0])].update(_block_pairs(members, prepared))
    return {family: len(pairs) for family, pairs in sorted(found.items())}


def _agree_weight(estimate: Estimate, name: str) -> float | None:
    level = AGREE[name]
    m, u = estimate.m.get(name, {}).get(level), estimate.u.get(name, {}).get(level)
    return round(math.log(m / u), 2) if m and u else None


def field_shifts(estimate: Estimate | None) -> dict[str, dict]:
    """Per field, the weight of agreeing under the dev prior and under the file's own estimate."""
    table = {}
    for name in AGREE:
        prior = _agree_weight(PRIOR, name)
        own = _agree_weight(estimate, name) if estimate else prior
        if prior is not None:
            table[name] = {"prior": prior, "file": own, "shift": round((own or 0) - prior, 2)}
    return table


def explain_file(rows: Sequence[Mapping], auto_merge: float, review: float) -> dict:
    """Every figure of the report, as data (`render` writes it out)."""
    calibration = fit(rows)
    estimate = Estimate(**calibration.estimate) if calibration.status == FITTED else None
    with tenant_calibration(rows):
        flagged = find_duplicates(rows, auto_merge, review)
    merges = sum(1 for p in flagged if p.decision == "merge")
    per_10k = 10_000 / max(len(rows), 1)
    return {"rows": len(rows), "per_10k": {f: round(n * per_10k) for f, n in pairs_by_family(rows).items()},
            "calibration": calibration.status, "why": calibration.reason, "pairs_used": calibration.pairs_used,
            "fields": field_shifts(estimate), "merge": merges, "review": len(flagged) - merges}


def _verdict(shift: float) -> str:
    if abs(shift) < 0.25:
        return "as the prior"
    return "more telling here" if shift > 0 else "less telling here"


def render(report: dict, columns: Sequence[str]) -> str:
    """The report as plain text."""
    lines = [f"{report['rows']} records; matching on {', '.join(columns) or 'nothing'}", "",
             "Candidate pairs per 10k records, by blocking key family:"]
    lines += [f"  {family:<32} {n:>8,}" for family, n in report["per_10k"].items()]
    kept = report["calibration"] != FITTED
    lines += ["", f"Calibration on this file: {report['calibration']} ({report['pairs_used']} candidate pairs)"
              + (f": {report['why']}" if report["why"] else "")]
    if not kept:
        lines.append("  weight of agreeing (log-odds)   prior -> this file")
        lines += [f"  {name:<30} {f['prior']:>6} -> {f['file']:<6} ({f['shift']:+.2f}, {_verdict(f['shift'])})"
                  for name, f in report["fields"].items()]
    lines += ["", f"Would merge {report['merge']} pairs and send {report['review']} to review."]
    return "\n".join(lines)
