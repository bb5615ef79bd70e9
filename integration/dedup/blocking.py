"""Candidate pairs for a batch: records are compared only when they share a blocking key."""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence

from integration.dedup.prepare import Prepared, blocking_keys

# A key shared by more records than this (a switchboard, a big office's street) is too common to pair all
# members; they are sorted by name and each is paired with its next WINDOW neighbours instead.
MAX_BLOCK = 60
WINDOW = 12


def _block_pairs(members: list[int], records: Sequence[Prepared]) -> Iterator[tuple[int, int]]:
    if len(members) <= MAX_BLOCK:
        for pos, i in enumerate(members):
            for j in members[pos + 1:]:
                yield (i, j) if i < j else (j, i)
        return
    # sorted neighbourhood: near-identical names sort next to each other (transposed ones by sorted name)
    ordered = sorted(members, key=lambda k: sorted((records[k].first, records[k].last)))
    for pos, i in enumerate(ordered):
        for j in ordered[pos + 1:pos + 1 + WINDOW]:
            yield (i, j) if i < j else (j, i)


def build_blocks(records: Sequence[Prepared]) -> dict[str, list[int]]:
    """Blocking key -> indexes of the records carrying it."""
    blocks: dict[str, list[int]] = defaultdict(list)
    for index, record in enumerate(records):
        for key in blocking_keys(record):
            blocks[key].append(index)
    return blocks


def candidate_pairs(records: Sequence[Prepared]) -> list[tuple[int, int]]:
    """Distinct index pairs (i < j) sharing at least one blocking key, in a stable order."""
    seen: set[tuple[int, int]] = set()
    for members in build_blocks(records).values():
        if len(members) > 1:
            seen.update(_block_pairs(members, records))
    return sorted(seen)
