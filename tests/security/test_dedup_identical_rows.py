"""Issue 12, finding 15: `leadrelay dedup` was quadratic on identical rows (5,000 copies of one row: 68 s).

Each test runs the command's own code path (`run_dedup`) on a file and checks the result; the timeout only
guards against the old behaviour (50,000 copies would take hours), it is not a timing assertion.
"""
from __future__ import annotations

import argparse
import csv
from collections import defaultdict
from pathlib import Path

import pytest

from integration.dedup.cluster import MAX_MERGE_KINDS
from leadrelay.dedup_cli import REQUIRED_COLUMNS, add_dedup_arguments, run_dedup
from tests.conftest import ROOT

SMALL = ROOT / "tests" / "fixtures" / "dedup" / "leads-small.csv"
A1 = {"id": "A1", "first_name": "Robert", "last_name": "Hunt", "email": "robert.hunt@gmail.com",
      "phone": "348-869-2632", "company": "Acme Corp", "street": "7182 Lake Rd", "city": "Boston",
      "postcode": "02130", "state": "MA", "country": "US"}


def dedup(tmp_path: Path, rows: list[dict]) -> list[tuple[str, str, str, str]]:
    """`leadrelay dedup --input leads.csv --output pairs.csv` on the rows; the output rows."""
    leads, pairs = tmp_path / "leads.csv", tmp_path / "pairs.csv"
    with leads.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, REQUIRED_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    parser = argparse.ArgumentParser()
    add_dedup_arguments(parser)
    assert run_dedup(parser.parse_args(["--input", str(leads), "--output", str(pairs)])) == 0
    with pairs.open(newline="", encoding="utf-8") as handle:
        return [tuple(row) for row in csv.reader(handle)][1:]


def merge_clusters(flagged) -> list[set[str]]:
    parent: dict[str, str] = {}

    def find(i: str) -> str:
        parent.setdefault(i, i)
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for a, b, _, decision in flagged:
        if decision == "merge":
            parent[find(a)] = find(b)
    groups = defaultdict(set)
    for i in list(parent):
        groups[find(i)].add(i)
    return sorted(groups.values(), key=len, reverse=True)


def copies(row: dict, n: int, prefix: str) -> list[dict]:
    return [{**row, "id": f"{prefix}{k:05d}"} for k in range(n)]


@pytest.mark.timeout(120)
def test_one_row_typed_50000_times_is_one_merge_cluster(tmp_path):
    flagged = dedup(tmp_path, copies(A1, 50_000, "X"))
    # each copy is paired with its next 12 in the sorted neighbourhood of its (oversized) blocks: 12n - 78 pairs
    assert len(flagged) == 599_922
    assert flagged[:2] == [("X00000", "X00001", "0.9976", "merge"), ("X00000", "X00002", "0.9976", "merge")]
    assert {(score, decision) for _, _, score, decision in flagged} == {("0.9976", "merge")}
    clusters = merge_clusters(flagged)
    assert len(clusters) == 1 and len(clusters[0]) == 50_000


@pytest.mark.timeout(120)
def test_copies_in_a_real_file_join_their_person_and_change_nothing_else(tmp_path):
    with SMALL.open(newline="", encoding="utf-8") as handle:
        small = list(csv.DictReader(handle))
    d1 = next(r for r in small if r["id"] == "D1")
    flagged = dedup(tmp_path, small + copies(A1, 20_000, "A1-") + copies(d1, 5_000, "D1-"))
    originals = {r["id"] for r in small}
    assert [p for p in flagged if p[0] in originals and p[1] in originals] == [
        ("A1", "A3", "0.9966", "merge"), ("A1", "A2", "0.9913", "merge"), ("A2", "A3", "0.9875", "merge"),
        ("D1", "D2", "0.9000", "review")]
    big, bigger = merge_clusters(flagged)[1::-1]
    assert bigger == {"A1", "A2", "A3"} | {f"A1-{k:05d}" for k in range(20_000)}
    assert big == {"D1"} | {f"D1-{k:05d}" for k in range(5_000)}
    # D2 stays a review item next to D1 and its copies, as next to D1 alone
    assert {p[3] for p in flagged if "D2" in p[:2]} == {"review"}


@pytest.mark.timeout(120)
def test_near_identical_rows_merge_in_bounded_clusters_and_no_pair_is_lost(tmp_path):
    # one person typed 5,000 times with a different street number each time (a spammed form)
    rows = [{**A1, "id": f"N{k:05d}", "street": f"{k + 1} Lake Rd"} for k in range(5_000)]
    flagged = dedup(tmp_path, rows)
    assert len(flagged) == 12 * 5_000 - 78  # every candidate pair is still flagged, as a merge or a review
    assert {i for pair in flagged for i in pair[:2]} == {r["id"] for r in rows}
    assert max(len(c) for c in merge_clusters(flagged)) == MAX_MERGE_KINDS
    assert {decision for *_, decision in flagged} == {"merge", "review"}
