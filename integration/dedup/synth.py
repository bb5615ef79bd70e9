"""Scale a labelled lead file up for timing runs: copies of every row as new people (a development tool).

    python -m integration.dedup.synth --input leads-dev.csv --rows 100000 --output leads-100k.csv

Copy k renames everyone consistently (a copy-specific syllable appended to last names, email local parts
and company names, phone numbers shifted, house numbers moved), so duplicates inside a copy stay
duplicates (typos and format variants survive) while people of different copies never share a contact.
Entities become `<entity>-k`, so the result can also be evaluated with leadrelay.dedup_eval.
"""
from __future__ import annotations

import argparse
import csv
import re
from collections import Counter
from itertools import product

from rapidfuzz import fuzz

_SYLLABLES = ["", "berg", "ton", "ley", "wick", "ford", "mann", "hurst", "stad", "vik", "dale", "more", "by"]
_STEMS = ["", "al", "or", "en", "ir", "os", "ur", "an"]
SUFFIXES = [a + b for a, b in product(_STEMS, _SYLLABLES)]


def _phone(raw: str, k: int) -> str:
    digits = re.sub(r"\D", "", raw)[-10:]
    if len(digits) < 10:
        return raw
    shifted = f"{(int(digits[3:]) + k * 104729) % 10**7:07d}"
    area = digits[:3]
    styles = (f"+1{area}{shifted}", f"({area}) {shifted[:3]}-{shifted[3:]}", f"{area}.{shifted[:3]}.{shifted[3:]}")
    return styles[len(raw) % 3]


def _email(raw: str, suffix: str) -> str:
    local, at, domain = raw.partition("@")
    plus = local.find("+")
    local = local + suffix if plus < 0 else local[:plus] + suffix + local[plus:]
    return local + at + domain if at else raw


def _company(raw: str, suffix: str) -> str:
    head, _, rest = raw.partition(" ")
    return f"{head}{suffix.upper() if head.isupper() else suffix} {rest}".strip() if raw else raw


def _family_names(rows: list[dict]) -> dict[str, str]:
    """Entity -> its most frequent last name, to recognise rows whose first/last fields are transposed."""
    counts: dict[str, Counter] = {}
    for row in rows:
        counts.setdefault(row["entity"], Counter())[row["last_name"].lower()] += 1
    return {entity: c.most_common(1)[0][0] for entity, c in counts.items()}


def transform(row: dict, k: int, family: str = "") -> dict:
    """The row as copy k: a different person (or the same duplicate set) with consistent renames."""
    if k == 0:
        return dict(row)
    suffix = SUFFIXES[k % len(SUFFIXES)] + ("" if k < len(SUFFIXES) else str(k // len(SUFFIXES)))
    out = dict(row, id=f"{row['id']}-{k}", entity=f"{row['entity']}-{k}")
    name = "last_name"
    if family and fuzz.ratio(row["first_name"].lower(), family) > fuzz.ratio(row["last_name"].lower(), family):
        name = "first_name"   # a transposed row: its family name sits in the first-name field
    out[name] = row[name] + (suffix.upper() if row[name].isupper() else suffix)
    out["email"], out["company"] = _email(row["email"], suffix), _company(row["company"], suffix)
    out["phone"] = _phone(row["phone"], k) if row["phone"] else ""
    number, _, street = row["street"].partition(" ")
    out["street"] = f"{int(number) + k} {street}" if number.isdigit() else row["street"]
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", required=True)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--output", required=True)
    args = parser.parse_args(argv)
    with open(args.input, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        rows, fields = list(reader), reader.fieldnames
    family = _family_names(rows) if "entity" in (fields or ()) else {}
    with open(args.output, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        for n in range(args.rows):
            row = rows[n % len(rows)]
            writer.writerow(transform(row, n // len(rows), family.get(row.get("entity", ""), "")))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
