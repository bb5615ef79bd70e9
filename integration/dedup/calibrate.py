"""Fit and check the match model's weights on a labelled lead file (a development tool, not used at run time).

    python -m integration.dedup.calibrate --input leads-dev.csv febrl1 febrl2 [--l2 3.0] [--fs]

The file needs an `entity` column (rows sharing it are one person). Entities, not rows or pairs, are split
in two by a stable hash: the model is fitted on candidate pairs inside the training half and judged on
pairs inside the held-out half, so a person never sits on both sides. It prints the weights to paste into
model.py, then held-out log loss, Brier score and a reliability table (mean predicted vs observed rate per
score band), before and after the hard-negative caps.
"""
from __future__ import annotations

import argparse
import csv
import math
import zlib
from collections import Counter

from integration.dedup import model
from integration.dedup.blocking import candidate_pairs
from integration.dedup.devsets import load_dev_set
from integration.dedup.features import compare
from integration.dedup.prepare import prepare


def split_of(entity: str) -> str:
    """"train" or "test", stable across runs and machines."""
    return "train" if zlib.crc32(entity.encode()) % 2 == 0 else "test"


def labelled_rows(source: str) -> list[dict]:
    """A labelled CSV's rows, or a dev set's by name (febrl1, febrl2)."""
    if not source.endswith(".csv"):
        return load_dev_set(source)
    with open(source, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def labelled_pairs(source: str) -> dict[str, list[tuple]]:
    """Blocked candidate pairs per split: (levels, same_entity)."""
    rows = labelled_rows(source)
    prepared = [prepare(r) for r in rows]
    out: dict[str, list[tuple]] = {"train": [], "test": []}
    for i, j in candidate_pairs(prepared):
        side_i, side_j = split_of(rows[i]["entity"]), split_of(rows[j]["entity"])
        if side_i == side_j:
            out[side_i].append((compare(prepared[i], prepared[j]), rows[i]["entity"] == rows[j]["entity"]))
    return out


def _solve(matrix: list[list[float]], vector: list[float]) -> list[float]:
    """Gauss-Jordan with partial pivoting (the system is small and positive definite)."""
    n = len(vector)
    aug = [row[:] + [vector[k]] for k, row in enumerate(matrix)]
    for col in range(n):
        pivot = max(range(col, n), key=lambda r: abs(aug[r][col]))
        aug[col], aug[pivot] = aug[pivot], aug[col]
        for r in range(n):
            if r != col and aug[r][col]:
                factor = aug[r][col] / aug[col][col]
                aug[r] = [x - factor * y for x, y in zip(aug[r], aug[col], strict=True)]
    return [aug[k][n] / aug[k][k] for k in range(n)]


def _newton_step(patterns: Counter, names: list[str], w: list[float], l2: float) -> list[float]:
    index = {n: k + 1 for k, n in enumerate(names)}
    dim = len(w)
    grad = [l2 * x for x in w]
    hess = [[l2 if r == c else 0.0 for c in range(dim)] for r in range(dim)]
    grad[0], hess[0][0] = 0.0, 1e-9          # the intercept is not shrunk
    for (feats, label), count in patterns.items():
        xs = [0] + [index[f] for f in feats]
        p = 1.0 / (1.0 + math.exp(-sum(w[k] for k in xs)))
        for r in xs:
            grad[r] += count * (p - label)
            for c in xs:
                hess[r][c] += count * p * (1 - p)
    step = _solve(hess, grad)
    return [x - s for x, s in zip(w, step, strict=True)]


def fit(pairs: list[tuple], l2: float = 1.0, rounds: int = 25) -> tuple[float, dict[str, float]]:
    """L2-regularised logistic regression over the indicator features; returns (intercept, weights)."""
    patterns = Counter((tuple(model.active_features(levels)), int(same)) for levels, same in pairs)
    names = sorted({f for feats, _ in patterns for f in feats})
    w = [0.0] * (len(names) + 1)
    for _ in range(rounds):
        w = _newton_step(patterns, names, w, l2)
    return round(w[0], 2), {n: round(x, 2) for n, x in zip(names, w[1:], strict=True)}


def fs_prior(pairs: list[tuple]) -> tuple[float, dict, dict]:
    """Fellegi–Sunter share, m and u tables counted on labelled pairs (the prior of integration.dedup.em)."""
    from integration.dedup import em

    same = [levels for levels, label in pairs if label]
    other = [levels for levels, label in pairs if not label]
    m = em._table(same, [1] * len(same), [1.0] * len(same), {})
    u = em._table(other, [1] * len(other), [1.0] * len(other), {})
    rounded = [{f: {lv: round(max(p, em.FLOOR), 4) for lv, p in sorted(t[f].items())} for f in em.FIELDS}
               for t in (m, u)]
    return round(len(same) / len(pairs), 4), rounded[0], rounded[1]


def report(pairs: list[tuple], score) -> list[str]:
    """Log loss, Brier score and a reliability table for `score(levels)` on labelled pairs."""
    eps = 1e-6
    scored = [(min(max(score(levels), eps), 1 - eps), int(same)) for levels, same in pairs]
    log_loss = -sum(y * math.log(p) + (1 - y) * math.log(1 - p) for p, y in scored) / len(scored)
    brier = sum((p - y) ** 2 for p, y in scored) / len(scored)
    lines = [f"pairs {len(scored)}  log loss {log_loss:.4f}  Brier {brier:.4f}"]
    for low, high in ((0, .1), (.1, .3), (.3, .5), (.5, .7), (.7, .92), (.92, .99), (.99, 1.01)):
        band = [(p, y) for p, y in scored if low <= p < high]
        if band:
            mean_p, rate = sum(p for p, _ in band) / len(band), sum(y for _, y in band) / len(band)
            lines.append(f"  [{low:.2f},{min(high, 1):.2f})  n={len(band):5d}  "
                         f"predicted {mean_p:.3f}  observed {rate:.3f}")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", required=True, nargs="+", help="labelled CSVs and dev sets (febrl1, febrl2)")
    parser.add_argument("--l2", type=float, default=3.0)
    parser.add_argument("--fs", action="store_true", help="print the Fellegi–Sunter prior for dedup.em instead")
    args = parser.parse_args(argv)
    pairs: dict[str, list[tuple]] = {"train": [], "test": []}
    for source in args.input:
        for side, found in labelled_pairs(source).items():
            pairs[side] += found
    if args.fs:
        share, m, u = fs_prior(pairs["train"])
        print(f"PRIOR_LAMBDA = {share}\nPRIOR_M: dict[str, dict[str, float]] = {m!r}\n"
              f"PRIOR_U: dict[str, dict[str, float]] = {u!r}")
        return 0
    intercept, weights = fit(pairs["train"], args.l2)
    print(f"INTERCEPT = {intercept}\nWEIGHTS = {{")
    for name, value in sorted(weights.items()):
        print(f'    "{name}": {value},')
    print("}")
    fitted = lambda levels: model.raw_probability(levels, weights, intercept)  # noqa: E731
    capped = lambda levels: min(fitted(levels), model.cap(levels))  # noqa: E731
    for label, score in (("held-out, model", fitted), ("held-out, model + caps", capped)):
        print(label, *report(pairs["test"], score), sep="\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
