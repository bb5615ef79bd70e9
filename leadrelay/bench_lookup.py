"""Dedup candidate lookup with many records indexed in our database (DESIGN.md budget: p99 < 10 ms at 1M).

Synthetic records are indexed through fast bulk inserts of the keys `record_keys()` would compute for them (a
check at start-up proves the two agree); probes then go through the real `integration.dedup.index.candidates()`.
"""
from __future__ import annotations

import os
import random
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from sqlalchemy import func, select, text

from integration.db import dispose_engines, migrate, session_scope
from integration.dedup.index import candidates, phone_variants, phonetic_names, record_keys
from integration.models import DedupKey, Tenant
from integration.records import Record

BATCH = 20_000
SURNAMES, GIVEN, COMPANIES = 20_000, 500, 50_000
COLUMNS = "tenant_id, key_type, key_value, object_type, object_id, updated_at"
INSERT = f"INSERT INTO dedup_keys ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)"  # noqa: S608 - constants only
COPY = f"COPY dedup_keys ({COLUMNS}) FROM STDIN"


def _letters(n: int, width: int) -> str:
    """n written in width letters: names made of letters, so sound-alike keys spread as real names do."""
    return "".join(chr(97 + (n // 26 ** k) % 26) for k in range(width))


def _names(i: int) -> tuple[str, str]:
    return f"{chr(65 + i % 26)}iv{_letters(i % GIVEN, 2)}", f"Sur{_letters((i * 7919) % SURNAMES, 4)}"


def _phone(i: int) -> str:
    # spread over a billion numbers as a real book is: consecutive numbers would all be one slip apart
    return f"+1{2 + i % 8}{(i * 387_420_489) % 10**9:09d}"


def synthetic_record(i: int, object_id: str | None = None) -> Record:
    """Record number i: a unique email and phone, a surname shared by ~50 others, a company shared by ~20."""
    first, last = _names(i)
    fields = {"first_name": first, "last_name": last,
              "email": f"given{i}.surname@co{i % COMPANIES}.example", "phone": _phone(i),
              "company": f"Company {i % COMPANIES}", "postcode": f"{10_000 + i % 90_000:05d}", "country": "US"}
    return Record(object_type="contact", id=object_id or str(i), fields=fields)


def fast_keys(i: int) -> list[tuple[str, str]]:
    """What `record_keys(synthetic_record(i))` returns, without parsing phone numbers a million times."""
    first, last = _names(i)
    phone = _phone(i)
    return [("email", f"given{i}.surname@co{i % COMPANIES}.example"), ("phone", phone),
            ("name_company", f"{last.lower()}|company {i % COMPANIES}"),
            ("name_postcode", f"{last.lower()}|{10_000 + i % 90_000:05d}"),
            ("name", f"{last.lower()}|{first[0].lower()}"),
            ("sound", phonetic_names(first, last)), *(("phone_near", v) for v in sorted(phone_variants(phone)))]


def _check_keys() -> None:
    for i in (0, 1, 12_345, 999_999, 1_999_999):
        if record_keys(synthetic_record(i)) != set(fast_keys(i)):
            raise RuntimeError(f"bench keys drifted from record_keys() for record {i}")


def _rows(tenant_id: int, start: int, stop: int, stamp: str):
    for i in range(start, stop):
        for key_type, key_value in fast_keys(i):
            yield (tenant_id, key_type, key_value, "contact", str(i), stamp)


def _bulk_load(url: str, tenant_id: int, records: int, progress) -> None:
    """executemany in batches (COPY on PostgreSQL), one transaction per batch."""
    stamp = "2026-01-01 00:00:00.000000"
    from integration.db import get_engine

    raw = get_engine(url).raw_connection()
    try:
        cursor = raw.cursor()
        postgres = url.startswith("postgresql")
        if not postgres:  # a throw-away file: no fsync, and room for the indexes' hot pages
            cursor.execute("PRAGMA synchronous=OFF")
            cursor.execute("PRAGMA cache_size=-262144")
        for start in range(0, records, BATCH):
            stop = min(records, start + BATCH)
            if postgres:
                with cursor.copy(COPY) as copy:
                    for row in _rows(tenant_id, start, stop, "2026-01-01T00:00:00+00:00"):
                        copy.write_row(row)
            else:
                cursor.executemany(INSERT, _rows(tenant_id, start, stop, stamp))
            raw.commit()
            progress(stop)
        if not postgres:  # back to the defaults every other connection has
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA cache_size=-2000")
        if postgres:  # autovacuum would analyze it soon; SQLite is left as an application leaves it
            cursor.execute("ANALYZE dedup_keys")
            raw.commit()
    finally:
        raw.close()


def _percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(pct / 100 * (len(ordered) - 1))))]


def _summary(timings: list[float]) -> dict:
    return {"probes": len(timings), "p50_ms": round(statistics.median(timings), 3),
            "p99_ms": round(_percentile(timings, 99), 3), "max_ms": round(max(timings), 3)}


def query_plan(url: str, tenant_id: int, record: Record) -> list[str]:
    """SQLite's EXPLAIN QUERY PLAN for candidates() (PostgreSQL: EXPLAIN), to see which index it uses."""
    from integration.db import get_engine
    from integration.dedup.index import candidates_query

    stmt = candidates_query(tenant_id, record_keys(record))
    engine = get_engine(url)
    compiled = stmt.compile(engine, compile_kwargs={"literal_binds": True})
    prefix = "EXPLAIN" if url.startswith("postgresql") else "EXPLAIN QUERY PLAN"
    with engine.connect() as conn:
        return [str(row[-1]) for row in conn.execute(text(f"{prefix} {compiled}"))]


def bench_lookup(records: int = 1_000_000, probes: int = 4000, seed: int = 11, log=print) -> dict:
    """Index `records` synthetic records for one tenant, then time candidates() for hits and misses."""
    _check_keys()
    own_db = not os.environ.get("DATABASE_URL", "").startswith("postgres")
    workdir = Path(tempfile.mkdtemp(prefix="lr-bench-lookup-"))
    url = f"sqlite:///{workdir / 'lookup.db'}" if own_db else os.environ["DATABASE_URL"]
    from integration.config import _normalize_database_url

    url = _normalize_database_url(url)
    migrate(url)
    with session_scope(url) as s:
        tenant = Tenant(platform="hubspot", external_id=f"bench-lookup-{time.time_ns()}", name="bench lookup")
        s.add(tenant)
        s.flush()
        tenant_id = tenant.id
    started = time.perf_counter()
    step = max(BATCH, records // 10)

    def progress(done: int) -> None:
        if done % step == 0 or done == records:
            log(f"  indexed {done:,}/{records:,} records")

    _bulk_load(url, tenant_id, records, progress)
    load_s = time.perf_counter() - started
    rng = random.Random(seed)  # noqa: S311 - synthetic benchmark data
    hits, misses = [], []
    with session_scope(url) as s:
        for n in range(probes):
            hit = n % 2 == 0
            i = rng.randrange(records) if hit else records + rng.randrange(records)
            probe = synthetic_record(i, object_id=f"probe-{n}")
            if not hit:  # a stranger: no key of it is indexed
                probe = Record("contact", f"probe-{n}", {**probe.fields, "last_name": f"Stranger{_letters(i, 5)}"})
            t0 = time.perf_counter_ns()
            found = candidates(s, tenant_id, probe)
            (hits if hit else misses).append((time.perf_counter_ns() - t0) / 1e6)
            if hit and (("contact", str(i)) not in found):
                raise RuntimeError(f"record {i} was not found by its own keys")
        indexed = s.scalar(select(func.count()).select_from(DedupKey).where(DedupKey.tenant_id == tenant_id))
    plan = query_plan(url, tenant_id, synthetic_record(1, "plan"))
    if own_db:
        dispose_engines()
        shutil.rmtree(workdir, ignore_errors=True)
    return {"records": records, "keys_indexed": indexed,
            "database": url.split(":", 1)[0], "load_s": round(load_s, 1),
            "keys_per_second": round(records * len(fast_keys(0)) / max(load_s, 1e-9)),
            "all": _summary(hits + misses), "hits": _summary(hits), "misses": _summary(misses), "plan": plan}
