"""Field-wise comparison of two prepared records into agreement levels (the model's inputs)."""
from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import NamedTuple

from rapidfuzz import fuzz
from rapidfuzz.distance import OSA, JaroWinkler
from rapidfuzz.utils import default_process

from integration.dedup.names import FREEMAIL, canonical_first, gendered_pair, known_given
from integration.dedup.prepare import Prepared

# How good a name level is, to choose between the direct and the transposed reading.
_RANK = {"exact": 6, "nickname": 5, "typo": 4, "fuzzy": 3, "initial": 2, "partial": 2, "missing": 1,
         "different": 0, "conflict": 0}
TF_CAP = 1.0        # the most a last name's frequency may move a pair's log-odds, either way
FUZZY_NAME = 0.88    # Jaro-Winkler above which two names that are no typo of each other still look alike
SIMILAR_TEXT = 85    # token-set ratio of two street texts (house numbers aside) that say the same street


class Levels(NamedTuple):
    """One agreement level per field; "missing" when either side is empty (the model's baseline)."""

    first: str
    last: str
    transposed: bool
    email: str
    phone: str
    company: str
    street: str
    postcode: str
    city: str
    surname_tf: float = 0.0   # log-odds a shared last name is worth beyond the average one (term frequency)


class Surnames(NamedTuple):
    """Each last name's share of a batch's records, and the chance two random records share one."""

    share: Mapping[str, float]
    coincidence: float


# The last-name frequencies of the records at hand, set around one batch by `surname_frequencies`.
_SURNAMES: ContextVar[Surnames | None] = ContextVar("dedup_surnames", default=None)


def count_surnames(last_names: Iterable[str]) -> Surnames:
    """Shares of the (normalised) last names given, one per record."""
    counts = Counter(n for n in last_names if n)
    total = sum(counts.values()) or 1
    share = {n: c / total for n, c in counts.items()}
    return Surnames(share, sum(s * s for s in share.values()))


@contextmanager
def surname_frequencies(surnames: Surnames | None) -> Iterator[None]:
    """Inside the block, an exact last-name match counts more for a rare name than for a common one."""
    token = _SURNAMES.set(surnames)
    try:
        yield
    finally:
        _SURNAMES.reset(token)


def surname_tf(last: str) -> float:
    """Fellegi–Sunter term-frequency adjustment: log(P(two records share a name) / share of this name)."""
    surnames = _SURNAMES.get()
    share = surnames.share.get(last) if surnames else None
    if not share or not surnames.coincidence:
        return 0.0
    return max(-TF_CAP, min(TF_CAP, math.log(surnames.coincidence / share)))


def is_typo(a: str, b: str) -> bool:
    """One keyboard slip (edit or swap) in a short name, two in a long one."""
    shortest = min(len(a), len(b))
    if shortest < 3 or abs(len(a) - len(b)) > 2:
        return False
    return OSA.distance(a, b, score_cutoff=2) <= (2 if shortest >= 7 else 1)


def _fuzzy(x: str, y: str) -> bool:
    return min(len(x), len(y)) >= 3 and JaroWinkler.similarity(x, y) >= FUZZY_NAME


def first_level(x: str, y: str, canon_x: frozenset[str], canon_y: frozenset[str]) -> str:
    """exact, nickname, typo, fuzzy, initial; conflict (two real names, or Maria/Mario), different; missing."""
    if not x or not y:
        return "missing"
    if x == y:
        return "exact"
    real = known_given(x) and known_given(y)
    if gendered_pair(x, y):
        # Maria/Mario, Robert/Roberta are two people, often of one household: a real name and its other-gender
        # form conflict even when the form is not in our list; "kirr"/"kirra" is a slip (no one is called kirr)
        return "conflict" if real or known_given(min(x, y, key=len)) else "typo"
    if canon_x & canon_y:
        return "nickname"
    short, long_ = sorted((x, y), key=len)
    if len(short) == 1:
        return "initial" if long_.startswith(short) else "different"
    if len(short) >= 3 and long_.startswith(short):
        return "nickname"   # Dan/Daniel, Chris/Christopher when the table lacks the pair
    if real:
        # two real names one slip apart (Mark/Mary) are two people, often of one family
        return "conflict" if is_typo(x, y) or _fuzzy(x, y) else "different"
    if is_typo(x, y):
        return "typo"
    return "fuzzy" if _fuzzy(x, y) else "different"


def last_level(x: str, y: str) -> str:
    if not x or not y:
        return "missing"
    if x == y:
        return "exact"
    if is_typo(x, y):
        return "typo"
    # double-barrelled or married names: "garcia" inside "garcialopez"
    if min(len(x), len(y)) >= 4 and (x in y or y in x):
        return "partial"
    return "fuzzy" if _fuzzy(x, y) else "different"


def _names(a: Prepared, b: Prepared) -> tuple[str, str, bool]:
    first, last = first_level(a.first, b.first, a.first_canon, b.first_canon), last_level(a.last, b.last)
    if "different" not in (first, last) or not (a.first and a.last and b.first and b.last):
        return first, last, False
    # either record may be the transposed one, which decides where its given name (nicknames apply) sits
    readings = [(first_level(a.last, b.first, canonical_first(a.last), b.first_canon), last_level(a.first, b.last)),
                (first_level(a.first, b.last, a.first_canon, canonical_first(b.last)), last_level(a.last, b.first))]
    s_first, s_last = max(readings, key=lambda r: (min(_RANK[r[0]], _RANK[r[1]]), _RANK[r[0]] + _RANK[r[1]]))
    if min(_RANK[s_first], _RANK[s_last]) > min(_RANK[first], _RANK[last]):
        return s_first, s_last, True
    return first, last, False


def email_level(a: Prepared, b: Prepared) -> str:
    if not a.emails or not b.emails:
        return "missing"
    if a.emails & b.emails:
        return "equal"
    # two different mailboxes at one company domain are usually two colleagues
    return "same_domain" if (a.domains & b.domains) - FREEMAIL else "different"


def _either_missing(x, y) -> bool:
    return not x or not y


def set_level(x: frozenset, y: frozenset) -> str:
    if _either_missing(x, y):
        return "missing"
    return "equal" if x & y else "different"


def _tail(phone: str) -> str:
    return "".join(c for c in phone if c.isdigit())[-9:]


def phone_level(a: Prepared, b: Prepared) -> str:
    """equal, near (one digit wrong, missing, extra or two swapped: a typed number), different; missing."""
    if _either_missing(a.phones, b.phones):
        return "missing"
    if a.phones & b.phones:
        return "equal"
    near = any(OSA.distance(_tail(x), _tail(y), score_cutoff=1) <= 1 for x in a.phones for y in b.phones)
    return "near" if near else "different"


def _house(street: str) -> tuple[str, str]:
    number, _, rest = street.partition(" ")
    return (number, rest) if number[:1].isdigit() else ("", street)


def street_level(x: str, y: str) -> str:
    """equal; similar (same house number, street text alike); same_street (text alike, numbers not); different."""
    if _either_missing(x, y):
        return "missing"
    if x == y:
        return "equal"
    (number_x, text_x), (number_y, text_y) = _house(x), _house(y)
    # token-set: "9 wattle pl" inside "9 wattle pl mirani" (an address line more on one side) still agrees
    alike = fuzz.token_set_ratio(text_x.replace(" ", ""), text_y.replace(" ", "")) >= SIMILAR_TEXT or (
        fuzz.token_set_ratio(text_x, text_y) >= SIMILAR_TEXT)
    if not alike:
        return "different"
    return "similar" if number_x == number_y else "same_street"


def postcode_level(x: str, y: str) -> str:
    if _either_missing(x, y):
        return "missing"
    if x == y:
        return "equal"
    return "near" if len(x) == len(y) and OSA.distance(x, y, score_cutoff=1) <= 1 else "different"


def company_level(a: Prepared, b: Prepared) -> str:
    if _either_missing(a.company, b.company):
        return "missing"
    if a.company == b.company:
        return "exact"
    if a.company_core == b.company_core:
        return "core"
    similar = fuzz.token_set_ratio(a.company, b.company, processor=default_process, score_cutoff=90)
    return "similar" if similar else "different"


def text_level(x: str, y: str, cutoff: float = 90) -> str:
    if _either_missing(x, y):
        return "missing"
    if x == y:
        return "equal"
    return "similar" if fuzz.ratio(x, y, processor=default_process, score_cutoff=cutoff) else "different"


def compare(a: Prepared, b: Prepared) -> Levels:
    """Agreement level of every field of `a` and `b`."""
    first, last, transposed = _names(a, b)
    city = text_level(a.city, b.city, cutoff=85)   # letters only: "glen roy" is "glenroy"
    tf = surname_tf(a.last) if last == "exact" and not transposed else 0.0
    return Levels(first, last, transposed, email_level(a, b), phone_level(a, b), company_level(a, b),
                  street_level(a.street, b.street), postcode_level(a.postcode, b.postcode),
                  "equal" if city == "similar" else city, round(tf, 3))
