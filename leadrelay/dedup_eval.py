"""Cluster-wise accuracy of `leadrelay dedup` against a labelled file (rows sharing `entity` are one person).

    python -m leadrelay.dedup_eval --input leads-dev.csv [--rules RULES.yaml] [--split all|train|test]

Merge precision: of the pairs implied by the merge clusters (merges are transitive), the fraction that are
truly one entity. Flagged recall: of the true same-entity pairs, the fraction flagged directly (merge or
review) or implied through a merge cluster. `--split` restricts the file to one half of the entity split
used to fit the model (integration.dedup.calibrate), so the held-out figure can be read on its own.
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Sequence

from integration.dedup import DedupConfigError, find_duplicates, load_dedup_settings
from integration.dedup.calibrate import split_of
from integration.dedup.quality import score_flagged
from leadrelay.dedup_cli import InputError, read_leads

TARGET_PRECISION = 0.998
TARGET_RECALL = 0.97


def evaluate(rows: Sequence[dict], flagged: Iterable) -> dict[str, float]:
    """Merge precision and flagged recall (cluster-wise) of `flagged` against the rows' `entity`."""
    flagged = list(flagged)
    return {**score_flagged(rows, flagged), "review_pairs": sum(1 for f in flagged if f.decision == "review")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m leadrelay.dedup_eval", description=__doc__.splitlines()[0])
    parser.add_argument("--input", required=True)
    parser.add_argument("--rules", help="rule set whose dedup: section sets the thresholds")
    parser.add_argument("--split", choices=("all", "train", "test"), default="all")
    args = parser.parse_args(argv)
    try:
        settings = load_dedup_settings(args.rules)
        rows = read_leads(args.input, extra=("entity",))
    except (DedupConfigError, InputError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.split != "all":
        rows = [r for r in rows if split_of(r["entity"]) == args.split]
    result = evaluate(rows, find_duplicates(rows, settings.auto_merge, settings.review))
    print(f"rows {len(rows)}  true pairs {result['true_pairs']}  implied merge pairs {result['merge_pairs']}  "
          f"review pairs {result['review_pairs']}")
    print(f"merge precision {result['merge_precision']:.4f} (target >= {TARGET_PRECISION})")
    print(f"flagged recall  {result['flagged_recall']:.4f} (target >= {TARGET_RECALL})")
    ok = result["merge_precision"] >= TARGET_PRECISION and result["flagged_recall"] >= TARGET_RECALL
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
