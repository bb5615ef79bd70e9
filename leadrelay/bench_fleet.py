"""`leadrelay bench fleet`: many tenants on one Redis, one database and W worker processes; one of them bursts.

The stack is `bench speed`'s (the sandbox in this process in its realistic profile, embedded Redis, SQLite or
DATABASE_URL, `leadrelay web` and `leadrelay worker` as child processes). N sandbox accounts spread over the three
CRMs get LeadRelay installed through OAuth, each with its own sandbox rate limits as a real portal, org or company
has them. The first account of the noisy platform creates B leads at once from several threads while every other
tenant trickles L leads, one every `pace` seconds, their starts staggered so the fleet's leads arrive evenly. A
quiet lead's speed-to-owner is `bench speed`'s: from its create call to the owner write its route decision records.
"""
from __future__ import annotations

import datetime as dt
import json
import statistics
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import select

from integration.db import session_scope
from integration.models import Decision, RuleSetVersion, Tenant, WebhookKey
from leadrelay.bench_speed import (
    BURST_THREADS,
    FOLLOW_UP,
    MAX_PEOPLE,
    PLATFORMS,
    RULES,
    USERS,
    Stack,
    Tenancy,
    TooManyLeads,
    _percentile,
    _ticker,
)
from leadrelay.demo_flow import install_into
from leadrelay.processes import local_http, spawn, stop, wait_until

INSTALL_THREADS = 4  # OAuth installs at once: the web app has 2 processes and the follow-up jobs queue behind them
TRICKLE_THREADS = 16


def plan_people(tenants: int, leads: int, noisy: int, rounds: int) -> None:
    """Every lead a new person in its account: warm-up, then each round's leads."""
    if tenants < 2:
        raise TooManyLeads("at least 2 tenants: one noisy, the others quiet")
    if 1 + rounds * _stride(leads, noisy) + 8 > MAX_PEOPLE:
        raise TooManyLeads(f"at most {MAX_PEOPLE - 10} leads per tenant over all rounds (--noisy × worker counts): "
                           "each must be a new person")


def _stride(leads: int, noisy: int) -> int:
    """Round r's people are r·stride + 1 … (r + 1)·stride - 1 in each account (0 is the warm-up lead's)."""
    return max(leads, noisy) + 1


def install_fleet(stack: Stack, tenants: int, log) -> list[Tenancy]:
    """N accounts, platforms in turn, installed through OAuth; rules published; the install jobs done and
    Salesforce's Outbound Messages pointed at the app, as each org's admin would."""
    done = 0
    lock = threading.Lock()
    tick = _ticker(log, "  installs: ", every=5.0)

    def one(i: int) -> str:
        nonlocal done
        platform = PLATFORMS[i % len(PLATFORMS)]
        account = install_into(stack.web_url, stack.sandbox.url, stack.sandbox.sandbox.ca_file, {
            "platform": platform, "name": f"Fleet bench {i} {platform}", "users": USERS})["account_id"]
        with lock:
            done += 1
            tick(f"{done}/{tenants} through OAuth")
        return str(account)

    log(f"  {tenants} installs through the sandbox's OAuth …")
    with ThreadPoolExecutor(INSTALL_THREADS) as pool:
        accounts = list(pool.map(one, range(tenants)))
    with session_scope(stack.database_url) as s:
        rows = s.execute(select(Tenant.id, Tenant.platform, Tenant.external_id)).all()
        by_account = {(platform, external): tid for tid, platform, external in rows}
        fleet = []
        for i, account in enumerate(accounts):
            platform = PLATFORMS[i % len(PLATFORMS)]
            # a Pipedrive sandbox account is "pd-<company id>"; LeadRelay keeps the company id
            tenant_id = by_account.get((platform, account)) or by_account[(platform, account.removeprefix("pd-"))]
            s.add(RuleSetVersion(tenant_id=tenant_id, version=1, status="published", body=RULES))
            fleet.append(Tenancy(platform, tenant_id, account))
    _wait_follow_up(stack, fleet, log)
    return fleet


def _wait_follow_up(stack: Stack, fleet: list[Tenancy], log) -> None:
    ids = [t.tenant_id for t in fleet]
    tick = _ticker(log, "  install jobs: ")

    def ready() -> bool:
        with session_scope(stack.database_url) as s:
            waiting = sum(1 for settings in s.scalars(select(Tenant.settings).where(Tenant.id.in_(ids)))
                          if not set(FOLLOW_UP) <= set(settings or {}))
        tick(f"{len(ids) - waiting}/{len(ids)} done")
        return waiting == 0

    wait_until(ready, 60 + 3 * len(ids), "the installs' follow-up jobs", stack.procs[1],
               str(stack.var / "worker.log"), interval=0.5)
    for tenancy in fleet:
        if tenancy.platform == "salesforce":
            _wire_outbound(stack, tenancy)


def _wire_outbound(stack: Stack, tenancy: Tenancy) -> None:
    """demo_flow.wire_salesforce_outbound for one org among many (it finds the only Salesforce tenant)."""
    from adapters.subscriptions import webhook_url
    from oauth.crypto import TokenCipher

    with session_scope(stack.database_url) as s:
        row = s.scalars(select(WebhookKey).where(WebhookKey.tenant_id == tenancy.tenant_id)).one()
        url = webhook_url("salesforce", row.key, TokenCipher.from_settings().decrypt(row.secret_enc))
    local_http().post(f"{stack.sandbox.url}/_sandbox/accounts/{tenancy.account}/simulate", timeout=10,
                      json={"action": "configure_outbound", "endpoint_url": url,
                            "objects": ["Lead", "Contact", "Opportunity"]}).raise_for_status()


# leads and owners --------------------------------------------------------------------------------------------
Lead = tuple[int, str]  # (tenant id, CRM object id): ids are only unique within an account


def owners_written(stack: Stack, leads: list[Lead]) -> dict[Lead, float | str]:
    """Finished route decisions of these leads, as Stack.owners_written, over many tenants at once."""
    wanted = set(leads)
    found: dict[Lead, float | str] = {}
    tenant_ids = sorted({t for t, _ in leads})
    object_ids = sorted({o for _, o in leads})
    with session_scope(stack.database_url) as s:
        for start in range(0, len(object_ids), 500):
            rows = s.execute(select(Decision.tenant_id, Decision.object_id, Decision.inputs, Decision.reason).where(
                Decision.kind == "route", Decision.tenant_id.in_(tenant_ids),
                Decision.object_id.in_(object_ids[start:start + 500]))).all()
            for tenant_id, object_id, inputs, reason in rows:
                if (tenant_id, object_id) not in wanted:
                    continue
                if inputs.get("written_at"):
                    found[(tenant_id, object_id)] = dt.datetime.fromisoformat(inputs["written_at"]).timestamp()
                elif not inputs.get("owner_id"):
                    found[(tenant_id, object_id)] = reason
    return found


def wait_owned(stack: Stack, leads: list[Lead], found: dict, timeout: float, log, what: str) -> dict:
    tick = _ticker(log, f"  {what}: ")
    deadline = time.monotonic() + timeout
    while True:
        missing = [lead for lead in leads if lead not in found]
        if missing:
            found.update(owners_written(stack, missing))
        if len(found) >= len(leads) or time.monotonic() > deadline:
            return found
        tick(f"{len(found)}/{len(leads)} decided")
        time.sleep(0.5)


def warm_up(stack: Stack, fleet: list[Tenancy], log) -> None:
    """A lead per tenant (its token, its CRM users cache; proof its webhooks reach the app), all owned."""
    log(f"  warm-up: a lead per tenant ({len(fleet)}) …")
    with ThreadPoolExecutor(BURST_THREADS) as pool:
        leads = list(pool.map(lambda t: (t.tenant_id, stack.create_lead(t, 0)[0]), fleet))
    found = wait_owned(stack, leads, {}, 120 + len(fleet), log, "warm-up")
    if len(found) < len(leads):
        raise RuntimeError(f"{len(leads) - len(found)} warm-up leads got no route decision: do their webhooks "
                           f"reach the app? See {stack.var}/web.log and worker.log")


def restart_workers(stack: Stack, workers: int, quiet: Tenancy, log) -> None:
    """The worker process(es) replaced by `workers` of them; one lead owned proves they are up."""
    log(f"  {workers} worker process(es) …")
    stop([stack.procs[1]])
    stack.procs[1] = spawn(["worker", "--processes", str(workers)], str(stack.var / "worker.log"))
    lead = (quiet.tenant_id, stack.create_lead(quiet, MAX_PEOPLE - 1 - workers)[0])
    if not wait_owned(stack, [lead], {}, 60, log, "workers up"):
        raise RuntimeError(f"no lead owned by the new workers in 60 s: see {stack.var}/worker.log")


def one_round(stack: Stack, fleet: list[Tenancy], noisy: Tenancy, leads: int, burst: int, pace: float,
              offset: int, log) -> dict:
    """The quiet tenants trickle, the noisy one bursts, all at once; then every lead's owner, or its absence."""
    quiet = [t for t in fleet if t is not noisy]
    for t in fleet:
        stack.crm_calls(t.account, reset=True)
    # quiet tenant i's k-th lead at k·pace + i·pace/len(quiet): the fleet's leads arrive evenly
    schedule = sorted((k * pace + i * pace / len(quiet), t, offset + 1 + k)
                      for k in range(leads) for i, t in enumerate(quiet))
    created: dict[Lead, float] = {}
    noisy_created: dict[Lead, float] = {}
    log(f"  {len(quiet)} quiet tenants × {leads} leads over {leads * pace:.0f} s while tenant {noisy.tenant_id} "
        f"({noisy.platform}) creates {burst} at once …")
    t0 = time.monotonic()
    started_at = time.time()

    def create(tenancy: Tenancy, n: int, into: dict, due: float = 0.0) -> None:
        time.sleep(max(0.0, t0 + due - time.monotonic()))
        object_id, at = stack.create_lead(tenancy, n)
        into[(tenancy.tenant_id, object_id)] = at

    with ThreadPoolExecutor(BURST_THREADS) as noisy_pool, ThreadPoolExecutor(TRICKLE_THREADS) as quiet_pool:
        bursting = [noisy_pool.submit(create, noisy, offset + 1 + n, noisy_created) for n in range(burst)]
        trickling = [quiet_pool.submit(create, t, n, created, due) for due, t, n in schedule]
        tick = _ticker(log, "  ")
        while not all(f.done() for f in bursting + trickling):
            tick(f"created: quiet {len(created)}/{len(schedule)}, noisy {len(noisy_created)}/{burst}")
            time.sleep(0.5)
        for f in bursting + trickling:
            f.result()  # a refused create stops the bench: its lead would count as lost
    log(f"  all created in {time.monotonic() - t0:.1f} s; waiting for owners …")
    every = list(created) + list(noisy_created)
    written = wait_owned(stack, every, {}, max(120.0, burst * 0.5), log, "owners")
    calls = [c for t in fleet for c in stack.crm_calls(t.account)]
    return _figures(created, noisy_created, written, calls, started_at, {t.tenant_id: t.platform for t in fleet})


def _figures(quiet: dict, noisy: dict, written: dict, calls: list[dict], started_at: float,
             platform_of: dict[int, str]) -> dict:
    owned = {lead: (written[lead] - at) * 1000 for lead, at in quiet.items() if isinstance(written.get(lead), float)}
    latencies = list(owned.values())
    owned_at = [written[lead] for lead in list(quiet) + list(noisy) if isinstance(written.get(lead), float)]
    noisy_owned = [written[lead] for lead in noisy if isinstance(written.get(lead), float)]
    not_owned = Counter(written[lead] for lead in list(quiet) + list(noisy) if isinstance(written.get(lead), str))
    total = len(quiet) + len(noisy)
    out = {"leads": total, "quiet_leads": len(quiet), "noisy_leads": len(noisy), "owned": len(owned_at),
           "lost": total - len(owned_at), "not_owned": dict(not_owned.most_common(3)),
           "undecided": sum(1 for lead in list(quiet) + list(noisy) if lead not in written),
           "quiet_p50_ms": None, "quiet_p99_ms": None, "quiet_max_ms": None,
           # None: some of the burst never owned (or no burst: --noisy 0 measures the quiet tenants alone)
           "noisy_done_s": round(max(noisy_owned) - started_at, 2) if noisy and len(noisy_owned) == len(noisy)
           else None,
           "calls_429": sum(1 for c in calls if c["status"] == 429), "crm_calls": len(calls),
           "wall_s": round(max(owned_at) - started_at, 2) if owned_at else None}
    if latencies:
        out.update(quiet_p50_ms=round(statistics.median(latencies), 1),
                   quiet_p99_ms=round(_percentile(latencies, 99), 1), quiet_max_ms=round(max(latencies), 1))
    if latencies:
        # where a miss comes from: a CRM's own delay shows on its tenants only, a queue held by the burst on all
        out["quiet_by_platform"] = {
            platform: _latency([ms for lead, ms in owned.items() if platform_of[lead[0]] == platform])
            for platform in sorted({platform_of[t] for t, _ in owned})}
        if out["noisy_done_s"]:
            done_at = started_at + out["noisy_done_s"]
            out["quiet_while_bursting"] = _latency([ms for lead, ms in owned.items() if quiet[lead] < done_at])
            out["quiet_after_burst"] = _latency([ms for lead, ms in owned.items() if quiet[lead] >= done_at])
    if out["wall_s"]:
        out["leads_per_s"] = round(len(owned_at) / out["wall_s"], 1)
    return out


def _latency(values: list[float]) -> dict:
    if not values:
        return {"leads": 0}
    return {"leads": len(values), "p50_ms": round(statistics.median(values), 1),
            "p99_ms": round(_percentile(values, 99), 1)}


def bench_fleet(tenants: int = 200, leads: int = 20, noisy: int = 2000, workers: tuple[int, ...] = (1,),
                pace: float = 5.0, noisy_platform: str = "hubspot", log=print) -> dict:
    """One stack, the fleet installed once; a round per worker count (the workers restarted between rounds)."""
    plan_people(tenants, leads, noisy, len(workers))
    with Stack(workers[0], log) as stack:
        fleet = install_fleet(stack, tenants, log)
        noisy_tenant = next(t for t in fleet if t.platform == noisy_platform)
        warm_up(stack, fleet, log)
        rounds = []
        for r, count in enumerate(workers):
            if r:
                restart_workers(stack, count, next(t for t in fleet if t is not noisy_tenant), log)
            log(f"round {r + 1}/{len(workers)}: {count} worker process(es)")
            rounds.append({"workers": count, **one_round(stack, fleet, noisy_tenant, leads, noisy, pace,
                                                          offset=r * _stride(leads, noisy), log=log)})
            log(f"round {r + 1}: {json.dumps(rounds[-1])}")  # a long sweep's figures survive its interruption
        database = stack.database_url.split(":", 1)[0]
    out = {"tenants": tenants, "tenants_by_platform": dict(Counter(t.platform for t in fleet)),
           "noisy_platform": noisy_platform, "pace_s": pace, "sandbox_profile": "realistic", "web_workers": 2,
           "database": database, **rounds[0]}
    if len(workers) > 1:
        out["by_workers"] = rounds
        out["lost"] = sum(r["lost"] for r in rounds)  # must be 0 in every round
    return out
