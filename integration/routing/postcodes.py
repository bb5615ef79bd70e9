"""Postcode prefixes and prefix ranges of many rules, compiled once so a lookup never scans them all.

Tens of thousands of territory rules are usual (one per ZIP3 or postcode district); a lead's postcode is
looked up per prefix length: exact prefixes in a dict, ranges by bisecting precomputed elementary segments.
"""
from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from dataclasses import dataclass

from integration.rules.values import parse_postcode_spec

EMPTY: frozenset[int] = frozenset()


@dataclass(frozen=True)
class _Segments:
    """Sorted boundaries; rules covering each boundary itself and each open gap after it."""

    bounds: list[str]
    at: list[frozenset[int]]
    after: list[frozenset[int]]

    def lookup(self, key: str) -> frozenset[int]:
        i = bisect_right(self.bounds, key) - 1
        if i < 0:
            return EMPTY
        return self.at[i] if self.bounds[i] == key else self.after[i]


def _segments(ranges: list[tuple[str, str, int]]) -> _Segments:
    bounds = sorted({lo for lo, _, _ in ranges} | {hi for _, hi, _ in ranges})
    starts = sorted(ranges)
    ends = sorted(ranges, key=lambda r: r[1])
    active: set[int] = set()
    at: list[frozenset[int]] = []
    after: list[frozenset[int]] = []
    s = e = 0
    for bound in bounds:  # every low and high is a boundary, so a range starts or ends only at one
        while s < len(starts) and starts[s][0] == bound:
            active.add(starts[s][2])
            s += 1
        at.append(frozenset(active) if active else EMPTY)
        while e < len(ends) and ends[e][1] == bound:
            active.discard(ends[e][2])
            e += 1
        after.append(frozenset(active) if active else EMPTY)
    return _Segments(bounds, at, after)


class PostcodeIndex:
    """Which rules' postcode conditions match a postcode key (upper case, no spaces or hyphens)."""

    def __init__(self) -> None:
        self._prefixes: dict[int, dict[str, set[int]]] = defaultdict(lambda: defaultdict(set))
        self._ranges: dict[int, list[tuple[str, str, int]]] = defaultdict(list)
        self._segments: list[tuple[int, _Segments]] = []
        self._prefix_tables: list[tuple[int, dict[str, set[int]]]] = []

    def add(self, rule: int, specs: list[str]) -> None:
        for spec in specs:
            low, high = parse_postcode_spec(spec)
            if low == high:
                self._prefixes[len(low)][low].add(rule)
            else:
                self._ranges[len(low)].append((low, high, rule))

    def freeze(self) -> PostcodeIndex:
        self._prefix_tables = sorted((n, dict(t)) for n, t in self._prefixes.items())
        self._segments = sorted((n, _segments(r)) for n, r in self._ranges.items())
        return self

    def lookup(self, key: str | None) -> set[int]:
        hits: set[int] = set()
        if not key:
            return hits
        for length, table in self._prefix_tables:
            if len(key) >= length:
                hits.update(table.get(key[:length], ()))
        for length, segments in self._segments:
            if len(key) >= length:
                hits.update(segments.lookup(key[:length]))
        return hits
