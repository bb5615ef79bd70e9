"""`leadrelay route --rules RULES.yaml --input leads.csv --output assignments.csv`: the routing engine, offline.

Leads are normalized, scored and routed in input order, each at its `created_at`, with in-memory pool state
starting empty (nobody holds an open lead; nothing closes during the run). The output has one row per lead:
`id,owner,rule,reason`, owner being the owner's email or `review`.
"""
from __future__ import annotations

import argparse
import csv
import datetime as dt
import sys
from pathlib import Path
from typing import TextIO

from integration.admin import csvsafe
from integration.routing.normalize import normalize_lead
from integration.routing.router import Route, Router
from integration.routing.score import Scorer
from integration.routing.state import InMemoryPoolState
from integration.rules import RulesError, RuleSet, load_rules
from integration.rules.values import zone

REQUIRED_COLUMNS = ("id", "first_name", "last_name", "email", "phone", "company", "country", "state", "city",
                    "postcode", "source", "employees", "created_at")
OUTPUT_COLUMNS = ("id", "owner", "rule", "reason")
PROGRESS_FROM = 5_000  # rows; smaller files finish before a progress line would help


class InputError(Exception):
    """The lead file cannot be routed; the message says where and why."""


def add_route_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rules", required=True, help="the rule set (YAML or JSON, RULES.md format)")
    parser.add_argument("--input", required=True, help="leads CSV: " + ", ".join(REQUIRED_COLUMNS) +
                        " (optional: industry, language, service, account_owner = email of the matched "
                        "account's owner)")
    parser.add_argument("--output", required=True, help="assignments CSV to write (id,owner,rule,reason); - for stdout")
    parser.add_argument("--review-unusable", action="store_true",
                        help="send leads with no valid email or phone, or a fake name, to review instead of routing")


def parse_created_at(value: str, timezone: str) -> dt.datetime | None:
    """ISO 8601 (`2026-03-09T10:15:00Z`, `2026-03-09 10:15`, `2026-03-09`); naive times are in the rule set's zone."""
    text = value.strip()
    if not text:
        return None
    moment = dt.datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone(timezone))
    return moment


def _read_rows(path: str) -> list[dict[str, str]]:
    try:
        handle = open(path, newline="", encoding="utf-8-sig")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}") from None
    with handle:
        reader = csv.DictReader(handle)
        header = [(name or "").strip().lower() for name in reader.fieldnames or []]
        missing = [c for c in REQUIRED_COLUMNS if c not in header]
        if missing:
            raise InputError(f"{path} is missing column{'s' if len(missing) > 1 else ''}: {', '.join(missing)}")
        reader.fieldnames = header
        return [{k: (v or "") for k, v in row.items() if k} for row in reader]


def _decide(row: dict[str, str], where: str, rules: RuleSet, scorer: Scorer, router: Router,
            review_unusable: bool) -> tuple[str, Route]:
    try:
        at = parse_created_at(row.get("created_at", ""), rules.timezone)
    except ValueError:
        raise InputError(f"{where} (id {row.get('id', '')!r}): created_at {row['created_at']!r} is not an "
                         f"ISO 8601 date-time") from None
    normalized = normalize_lead(row, rules.source_labels)
    if review_unusable and normalized.unusable:
        return row.get("id", ""), Route(None, "validation", normalized.unusable[:1].upper() +
                                           normalized.unusable[1:])
    return row.get("id", ""), router.route_lead(normalized.lead, scorer.score_lead(normalized.lead), at)


def _progress(done: int, total: int, stream: TextIO) -> None:
    if total >= PROGRESS_FROM and (done % max(1, total // 20) == 0 or done == total):
        end = "\r" if stream.isatty() and done < total else "\n"
        print(f"routed {done}/{total} leads ({done * 100 // total}%)", end=end, file=stream, flush=True)


def route_file(rules: RuleSet, rows: list[dict[str, str]], out: TextIO, review_unusable: bool = False,
               progress: TextIO | None = None, source: str = "input") -> dict[str, int]:
    """Route every row in order and write id,owner,rule,reason; returns counts."""
    scorer, router = Scorer(rules.scoring), Router(rules, InMemoryPoolState())
    writer = csvsafe.writer(out, lineterminator="\n")  # ids, owners and reasons come from the input file
    writer.writerow(OUTPUT_COLUMNS)
    counts = {"leads": 0, "owned": 0, "review": 0}
    for n, row in enumerate(rows, start=1):
        lead_id, decision = _decide(row, f"{source} row {n + 1}", rules, scorer, router,
                                    review_unusable)  # row 1 is the header
        rule = decision.rule if decision.rule is not None else "fallback"
        writer.writerow((lead_id, decision.owner or "review", rule, decision.reason))
        counts["leads"] += 1
        counts["review" if decision.review else "owned"] += 1
        if progress is not None:
            _progress(n, len(rows), progress)
    return counts


def run_route(args: argparse.Namespace) -> int:
    """The `leadrelay route` command; 0 on success, 2 on bad rules or input."""
    try:
        rules = load_rules(Path(args.rules))
        rows = _read_rows(args.input)
        if args.output == "-":
            counts = route_file(rules, rows, sys.stdout, args.review_unusable, sys.stderr, args.input)
        else:
            with open(args.output, "w", newline="", encoding="utf-8") as out:
                counts = route_file(rules, rows, out, args.review_unusable, sys.stderr, args.input)
    except RulesError as exc:
        print(f"leadrelay route: {args.rules} is not a valid rule set:", file=sys.stderr)
        for path, message in exc.issues:
            print(f"  {path}: {message}" if path else f"  {message}", file=sys.stderr)
        return 2
    except (InputError, OSError) as exc:
        print(f"leadrelay route: {exc}", file=sys.stderr)
        return 2
    print(f"routed {counts['leads']} leads: {counts['owned']} to an owner, {counts['review']} to review"
          f"{'' if args.output == '-' else ' → ' + args.output}", file=sys.stderr)
    return 0
