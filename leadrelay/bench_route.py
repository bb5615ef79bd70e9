"""Routing decision latency with tens of thousands of postcode territory rules (DESIGN.md budget: p99 < 1 ms)."""
from __future__ import annotations

import datetime as dt
import random
import statistics
import time

from integration.routing.normalize import Lead
from integration.routing.router import Router
from integration.routing.score import Scorer
from integration.routing.state import InMemoryPoolState
from integration.rules import validate_rules

OWNERS = 20


def _rule(i: int) -> dict:
    """Territory i: alternately a ZIP5 range of two codes and a single ZIP5 prefix; every 10th goes to a pool."""
    low = 2 * i
    postcode = f"{low:05d}-{low + 1:05d}" if i % 2 else f"{low:05d}"
    assign = {"pool": f"pool{i % 5}"} if i % 10 == 0 else {"owner": f"rep{i % OWNERS}@bench.test"}
    return {"name": f"Territory {i:05d}", "when": {"postcode": [postcode]}, "assign": assign}


def bench_rule_set(n_rules: int) -> dict:
    """A realistic rule set: account owner and enterprise rules first, then `n_rules` postcode territories."""
    owners = [{"email": f"rep{i}@bench.test", "hours": "Mon-Fri 08:00-18:00",
               "timezone": ["America/New_York", "America/Chicago", "America/Los_Angeles"][i % 3]}
              for i in range(OWNERS)]
    pools = {f"pool{p}": {"strategy": ["round_robin", "weighted", "least_loaded"][p % 3], "respect_hours": True,
                          "members": [{"owner": f"rep{(p * 4 + k) % OWNERS}@bench.test", "weight": 1 + k % 2,
                                       "capacity": 10_000} for k in range(4)]}
             for p in range(5)}
    head = [{"name": "Existing account owner", "when": {"account_owner": True}, "assign": "account_owner"},
            {"name": "Enterprise", "when": {"employees_gte": 5000, "tier": ["hot"]}, "assign": {"pool": "pool0"}}]
    return {"version": 1, "timezone": "America/New_York", "owners": owners, "pools": pools,
            "routing": head + [_rule(i) for i in range(n_rules)], "fallback": {"pool": "pool1"},
            "scoring": {"rules": [{"when": {"employees_gte": 200}, "points": 40},
                                  {"when": {"has_phone": True}, "points": 20}]}}


def _percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(pct / 100 * (len(ordered) - 1))))]


def bench_routing(n_rules: int = 40_000, n_leads: int = 20_000, seed: int = 7) -> dict:
    """Route `n_leads` random US leads through `n_rules` postcode rules; latency per decision in µs."""
    started = time.perf_counter()
    rules = validate_rules(bench_rule_set(n_rules))
    loaded = time.perf_counter()
    router, scorer = Router(rules, InMemoryPoolState()), Scorer(rules.scoring)
    compiled = time.perf_counter()
    rng = random.Random(seed)  # noqa: S311 - synthetic benchmark data, not security
    base = dt.datetime(2026, 3, 9, 14, 0, tzinfo=dt.UTC)
    timings = []
    for i in range(n_leads):
        lead = Lead(id=str(i), email=f"lead{i}@corp{i % 97}.test", phone="+14155550100" if i % 2 else None,
                    country="US", postcode=f"{rng.randrange(0, 2 * n_rules + 5000):05d}",
                    employees=rng.choice([None, 10, 250, 6000]), created_at=base + dt.timedelta(minutes=i))
        qualification = scorer.score_lead(lead)
        t0 = time.perf_counter_ns()
        router.route_lead(lead, qualification)
        timings.append((time.perf_counter_ns() - t0) / 1000)
    return {"rules": n_rules + 2, "leads": n_leads, "load_s": round(loaded - started, 2),
            "compile_s": round(compiled - loaded, 2), "p50_us": round(statistics.median(timings), 1),
            "p99_us": round(_percentile(timings, 99), 1), "max_us": round(max(timings), 1)}


if __name__ == "__main__":
    print(bench_routing())
