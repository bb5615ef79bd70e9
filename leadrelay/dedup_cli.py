"""`leadrelay dedup --input leads.csv --output pairs.csv [--rules RULES.yaml]`: flag duplicate pairs in a file.

Output: one row per flagged pair, `id_a,id_b,score,decision` with decision `merge` or `review`; merges are
transitive (clusters), reviews are pairs a human should look at. Thresholds come from the rule set's
`dedup:` section when --rules is given, else auto_merge 0.92 and review 0.70. The file needs an `id` column
and any of the other known columns; the command says which ones it matched on.

`leadrelay dedup --explain leads.csv` reports on an unlabelled file instead: candidate pairs per 10k records by
blocking key family, what the file's own calibration changed, and how many pairs would merge or go to review.

`leadrelay dedup --evaluate SET [SET ...]` measures the matcher instead: SET is a labelled CSV (an `entity`
column: rows sharing it are one person) or a dev set by name (febrl1, febrl2); one JSON line per set with
candidate pairs per 10k records and merge / flagged precision and recall.
"""
from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from collections.abc import Sequence
from typing import TextIO

from integration.admin import csvsafe
from integration.dedup import DedupConfigError, FlaggedPair, find_duplicates, load_dedup_settings
from integration.dedup.em import tenant_calibration

KNOWN_COLUMNS = ("id", "first_name", "last_name", "email", "phone", "company", "street", "city", "postcode",
                 "state", "country")
REQUIRED_COLUMNS = KNOWN_COLUMNS  # kept for callers that write a full lead file; only `id` is required
OUTPUT_COLUMNS = ("id_a", "id_b", "score", "decision")


class InputError(ValueError):
    """The lead file cannot be used (missing columns, duplicate ids, unreadable)."""


def matched_columns(header: Sequence[str]) -> list[str]:
    """The known columns (id aside) a file has, in the known order: what the matcher compares."""
    return [c for c in KNOWN_COLUMNS[1:] if c in header]


def _check_header(path: str, header: Sequence[str], extra: Sequence[str]) -> None:
    missing = [c for c in ("id", *extra) if c not in header]
    if missing:
        raise InputError(f"{path}: missing required column(s): {', '.join(missing)}")
    if not matched_columns(header):
        raise InputError(f"{path}: no column to match on (known: {', '.join(KNOWN_COLUMNS[1:])})")


def read_leads(path: str, extra: Sequence[str] = ()) -> list[dict]:
    """Rows of a lead CSV with an `id` column (plus `extra`) and any known columns, checked for unique ids."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            _check_header(path, reader.fieldnames or (), extra)
            rows = list(reader)
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror})") from exc
    seen: set[str] = set()
    for line, row in enumerate(rows, start=2):
        if not row["id"] or row["id"] in seen:
            raise InputError(f"{path}, line {line}: {'empty' if not row['id'] else 'duplicate'} id {row['id']!r}")
        seen.add(row["id"])
    return rows


class ProgressReport:
    """A redrawn bar on a terminal; plain lines every few seconds otherwise (CI logs, pipes)."""

    def __init__(self, stream: TextIO, interval: float = 5.0):
        self.stream, self.interval = stream, interval
        self.tty = stream.isatty()
        self.last_line = 0.0

    def __call__(self, stage: str, done: int, total: int) -> None:
        fraction = done / total if total else 1.0
        if self.tty:
            bar = "#" * int(fraction * 30)
            self.stream.write(f"\r{stage:<8} [{bar:<30}] {fraction:4.0%} {done}/{total}")
            if done >= total:
                self.stream.write("\n")
        elif done >= total or time.monotonic() - self.last_line >= self.interval:
            self.last_line = time.monotonic()
            self.stream.write(f"dedup: {stage} {done}/{total} ({fraction:.0%})\n")
        self.stream.flush()


def write_pairs(path: str, pairs: Sequence[FlaggedPair]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csvsafe.writer(handle, lineterminator="\n")  # ids come from the input file
        writer.writerow(OUTPUT_COLUMNS)
        writer.writerows((p.id_a, p.id_b, f"{p.score:.4f}", p.decision) for p in pairs)


def add_dedup_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `leadrelay dedup` (the subcommand's parser is created by leadrelay.cli)."""
    parser.add_argument("--input", help="lead CSV: an id column and any of " + ", ".join(KNOWN_COLUMNS[1:]))
    parser.add_argument("--output", help="pairs CSV to write: " + ",".join(OUTPUT_COLUMNS))
    parser.add_argument("--rules", help="rule set (YAML or JSON); only its dedup: section is read")
    parser.add_argument("--explain", metavar="FILE",
                        help="report instead: blocking width, the file's own calibration, merges and reviews")
    parser.add_argument("--evaluate", nargs="+", metavar="SET",
                        help="measure instead: labelled CSVs (entity column) or dev sets (febrl1, febrl2)")


def _labelled_rows(name: str) -> list[dict]:
    from integration.dedup.devsets import load_dev_set

    if name.endswith(".csv"):
        return read_leads(name, extra=("entity",))
    try:
        return load_dev_set(name)
    except ValueError as exc:
        raise InputError(str(exc)) from exc


def run_evaluate(args: argparse.Namespace) -> int:
    """Print one JSON line of quality figures per labelled set; 2 when a set or the rules are unusable."""
    from integration.dedup.quality import evaluate

    try:
        settings = load_dedup_settings(args.rules)
        sets = [(name, _labelled_rows(name)) for name in args.evaluate]
    except (DedupConfigError, InputError) as exc:
        print(f"leadrelay dedup: error: {exc}", file=sys.stderr)
        return 2
    for name, rows in sets:
        started = time.monotonic()
        figures = evaluate(rows, settings.auto_merge, settings.review)
        print(json.dumps({"set": name, **figures, "seconds": round(time.monotonic() - started, 1)}))
    return 0


def run_explain(args: argparse.Namespace) -> int:
    """Print the --explain report for an unlabelled file; 2 when the file or the rules are unusable."""
    from integration.dedup.report import explain_file, render

    try:
        settings = load_dedup_settings(args.rules)
        rows = read_leads(args.explain)
    except (DedupConfigError, InputError) as exc:
        print(f"leadrelay dedup: error: {exc}", file=sys.stderr)
        return 2
    report = explain_file(rows, settings.auto_merge, settings.review)
    print(render(report, matched_columns(list(rows[0]) if rows else [])))
    return 0


def run_dedup(args: argparse.Namespace) -> int:
    """Run the offline dedup; 0 on success, 2 on unusable input or rules (message on stderr)."""
    if args.evaluate:
        return run_evaluate(args)
    if args.explain:
        return run_explain(args)
    started = time.monotonic()
    try:
        if not (args.input and args.output):
            raise InputError("--input and --output are required (or --evaluate)")
        settings = load_dedup_settings(args.rules)
        rows = read_leads(args.input)
    except (DedupConfigError, InputError) as exc:
        print(f"leadrelay dedup: error: {exc}", file=sys.stderr)
        return 2
    used = matched_columns(list(rows[0]) if rows else [])
    print(f"leadrelay dedup: matching on {', '.join(used) or 'nothing'}"
          + (f" (not in the file: {', '.join(c for c in KNOWN_COLUMNS[1:] if c not in used)})"
             if len(used) < len(KNOWN_COLUMNS) - 1 else ""), file=sys.stderr)
    with tenant_calibration(rows):   # EM over the file's own candidate pairs: no labels needed
        pairs = find_duplicates(rows, settings.auto_merge, settings.review, progress=ProgressReport(sys.stderr))
    try:
        write_pairs(args.output, pairs)
    except OSError as exc:
        print(f"leadrelay dedup: error: cannot write {args.output} ({exc.strerror})", file=sys.stderr)
        return 2
    merges = sum(1 for p in pairs if p.decision == "merge")
    print(f"leadrelay dedup: {len(rows)} leads, {merges} merge and {len(pairs) - merges} review pairs "
          f"written to {args.output} in {time.monotonic() - started:.1f}s", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="leadrelay dedup", description=__doc__.splitlines()[0])
    add_dedup_arguments(parser)
    return run_dedup(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
