"""Issue 13 (7): KPIs that cannot be. Every rate's numerator and denominator are the same population (same range,
same owner), so every percentage is within 0–100 % for any data and any filter; bad dates are said, not ignored;
charts have axes and hover values; CSV per day and per lead."""
from __future__ import annotations

import csv
import datetime as dt
import io
import itertools
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from integration.db import session_scope
from integration.models import Decision, ReviewItem, Tenant
from marketplace import kpi_figures as kf
from tests.console_helpers import add_members, sign_in

DAY0 = dt.datetime(2024, 3, 1, 10, 0, tzinfo=dt.UTC)
OWNERS = ["a@acme.com", "B@acme.com", "c@acme.com"]
_tenants = itertools.count(1)


@pytest.fixture()
def admin(app, env):
    with session_scope(env["DATABASE_URL"]) as s:
        tenant = Tenant(platform="hubspot", external_id="k0", name="KPI Tenant")
        s.add(tenant)
        s.flush()
        users = add_members(s, tenant.id, {"alice": "admin"})
        tenant_id = tenant.id
    return tenant_id, sign_in(app, users["alice"])


def route(tenant_id: int, n: int | str, outcome: str, day: int = 0, speed: float | None = None,
          rule: str | None = "West") -> Decision:
    created = DAY0 + dt.timedelta(days=day, minutes=int(str(n).strip("xym") or 0) % 600)
    inputs = {"rule": rule} if rule else {}
    if speed is not None:
        written = created + dt.timedelta(seconds=speed)
        inputs.update(crm_created_at=created.isoformat(), written_at=written.isoformat())
    return Decision(tenant_id=tenant_id, idempotency_key=f"route:contact:{n}", kind="route", object_type="contact",
                    object_id=str(n), outcome=outcome, reason=f"reason {n}", inputs=inputs, created_at=created)


def dedup_review(tenant_id: int, n: int | str, day: int = 0) -> ReviewItem:
    return ReviewItem(tenant_id=tenant_id, kind="dedup", object_type="contact", object_id=str(n),
                      reason="Possible duplicate", created_at=DAY0 + dt.timedelta(days=day))


def dedup_merge(tenant_id: int, n: int | str, into: str, day: int = 0) -> Decision:
    return Decision(tenant_id=tenant_id, idempotency_key=f"dedup:contact:{n}:{into}", kind="dedup",
                    object_type="contact", object_id=str(n), outcome=f"merged into {into}", reason="r", inputs={},
                    created_at=DAY0 + dt.timedelta(days=day))


def sla(tenant_id: int, n: int | str, outcome: str, i: int = 0, day: int = 0) -> Decision:
    return Decision(tenant_id=tenant_id, idempotency_key=f"sla:{n}:{i}", kind="sla", object_type="contact",
                    object_id=str(n), outcome=outcome, reason="r", inputs={},
                    created_at=DAY0 + dt.timedelta(days=day, hours=1 + i))


def add(env, *rows) -> None:
    with session_scope(env["DATABASE_URL"]) as s:
        s.add_all(rows)


def figure(page: str, name: str) -> str:
    return re.sub(r"\s+", " ", re.search(rf'data-kpi="{name}">.*?<strong>(.*?)</strong>(.*?)</div>', page, re.S)
                  .group(1))


# The defect ---------------------------------------------------------------------------------------------------

def test_the_owner_filter_duplicate_rate_counts_the_owners_leads_only(app, env, admin):
    """Issue 13: "Duplicate rate 120.0 % — 4 merged, 2 to review" for 5 leads: the merges and reviews of every
    owner were divided by one owner's leads."""
    t, client = admin
    add(env, *[route(t, f"x{i}", "x@acme.com", speed=10) for i in range(1, 6)], route(t, "y1", "y@acme.com"),
        *[route(t, f"m{i}", "merged", rule=None) for i in range(1, 5)],
        *[dedup_merge(t, f"m{i}", f"old{i}") for i in range(1, 5)], dedup_review(t, "x2"), dedup_review(t, "y1"))
    page = client.get(f"/console/tenants/{t}/kpis?start=2024-03-01&end=2024-03-10&owner=x@acme.com")
    text = page.get_data(as_text=True)
    assert figure(text, "leads") == "5"
    assert figure(text, "duplicates") == "20.0 %"
    assert "1 of 5 leads: 0 merged with a twin, 1 sent to duplicate review" in text
    everyone = client.get(f"/console/tenants/{t}/kpis?start=2024-03-01&end=2024-03-10").get_data(as_text=True)
    assert figure(everyone, "leads") == "10" and figure(everyone, "duplicates") == "60.0 %"  # 4 merged + 2 reviews
    assert "6 of 10 leads: 4 merged with a twin, 2 sent to duplicate review" in everyone


def test_a_lead_that_kept_its_twins_owner_is_a_duplicate_of_that_owner(app, env, admin):
    t, client = admin
    add(env, route(t, 1, "x@acme.com", rule="Duplicate"), route(t, 2, "x@acme.com"))
    text = client.get(f"/console/tenants/{t}/kpis?start=2024-03-01&end=2024-03-01&owner=x@acme.com").get_data(
        as_text=True)
    assert figure(text, "duplicates") == "50.0 %"


def test_the_sla_rate_is_over_the_ranges_leads(app, env, admin):
    t, client = admin
    add(env, route(t, 1, "x@acme.com"), route(t, 2, "x@acme.com"), route(t, 3, "y@acme.com"),
        sla(t, 1, "breached"), sla(t, 1, "met", i=1),  # reassigned, then met by the new owner: the last counts
        sla(t, 2, "breached"), sla(t, 3, "met"), sla(t, 99, "met"))  # 99 is no lead of the range
    text = client.get(f"/console/tenants/{t}/kpis?start=2024-03-01&end=2024-03-01&owner=x@acme.com").get_data(
        as_text=True)
    assert figure(text, "sla") == "50.0 %" and "1 of 2 leads whose SLA is decided" in text


# Random data and filters -----------------------------------------------------------------------------------------

OUTCOMES = st.sampled_from([*OWNERS, "b@acme.com", "review", "merged", "restored"])
LEADS = st.lists(st.fixed_dictionaries({
    "outcome": OUTCOMES, "day": st.integers(0, 9), "speed": st.none() | st.floats(0, 5000, allow_nan=False),
    "rule": st.sampled_from(["West", "Duplicate", None]), "review": st.booleans(),
    "sla": st.lists(st.sampled_from(["met", "met_late", "breached", "task_created", "notify_manager"]), max_size=3),
}), max_size=25)
STRAYS = st.lists(st.tuples(st.sampled_from(["review", "merge", "sla"]), st.integers(0, 40), st.integers(-3, 12)),
                  max_size=8)
FILTERS = st.fixed_dictionaries({"owner": st.sampled_from(["", *OWNERS, "B@ACME.COM", " a@acme.com ", "x@y.z"]),
                                 "start": st.integers(-2, 11), "days": st.integers(0, 12)})


def _store(env, leads: list[dict], strays: list[tuple]) -> int:
    with session_scope(env["DATABASE_URL"]) as s:
        tenant = Tenant(platform="hubspot", external_id=f"p{next(_tenants)}", name="P")
        s.add(tenant)
        s.flush()
        t = tenant.id
        for n, lead in enumerate(leads):
            s.add(route(t, n, lead["outcome"], lead["day"], lead["speed"], lead["rule"]))
            if lead["review"]:
                s.add(dedup_review(t, n, lead["day"]))
            s.add_all(sla(t, n, outcome, i, lead["day"]) for i, outcome in enumerate(lead["sla"]))
        for i, (kind, n, day) in enumerate(strays):  # rows about objects that may or may not be leads of the range
            s.add(dedup_review(t, n, day) if kind == "review" else dedup_merge(t, n, f"o{i}", day)
                  if kind == "merge" else sla(t, n, "met", 10 + i, day))
    return t


def _range(f: dict) -> tuple[dt.date, dt.date]:
    start = DAY0.date() + dt.timedelta(days=f["start"])
    return start, start + dt.timedelta(days=f["days"])


@settings(max_examples=60, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(leads=LEADS, strays=STRAYS, f=FILTERS)
def test_every_percentage_is_within_0_and_100(app, env, leads, strays, f):
    t = _store(env, leads, strays)
    with session_scope(env["DATABASE_URL"]) as s:
        k = kf.compute(s, t, *_range(f), f["owner"].strip())
    values = dict(kf.summary(k))
    for name in kf.PERCENT_FIELDS:
        assert values[name] is None or 0 <= values[name] <= 100, (name, values[name])
    assert k.automatic + k.review + k.merged_on_arrival == k.leads
    assert k.duplicates_merged + k.duplicates_review <= k.leads and k.sla["met"] <= k.sla_decided <= k.leads
    for _, day in k.days():
        assert day.duplicates <= day.leads and day.automatic + day.review + day.merged == day.leads


@settings(max_examples=15, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(leads=LEADS, strays=STRAYS, f=FILTERS)
def test_every_percentage_the_page_and_csv_show_is_within_0_and_100(app, env, admin, leads, strays, f):
    t = _store(env, leads, strays)
    with session_scope(env["DATABASE_URL"]) as s:
        user = add_members(s, t, {f"u{t}": "admin"})[f"u{t}"]
    client = sign_in(app, user)
    start, end = _range(f)
    query = {"start": start.isoformat(), "end": end.isoformat(), "owner": f["owner"]}
    page = client.get(f"/console/tenants/{t}/kpis", query_string=query).get_data(as_text=True)
    shown = [float(v) for v in re.findall(r"<strong>(-?[\d.]+) %</strong>", page)]
    assert all(0 <= v <= 100 for v in shown), shown
    for export, columns in (("summary", ("value",)), ("days", ("duplicate_rate_pct",))):
        rows = csv.DictReader(io.StringIO(client.get(f"/console/tenants/{t}/kpis.csv", query_string={
            **query, "export": export}).get_data(as_text=True)))
        for row in rows:
            if export == "days" or row["key"].endswith(("_pct", "pct_routed_automatically", "pct_sent_to_review")):
                assert all(row[c] == "" or 0 <= float(row[c]) <= 100 for c in columns), row


# Dates ---------------------------------------------------------------------------------------------------------

def test_an_impossible_date_is_said_on_the_page_not_ignored(admin):
    t, client = admin
    resp = client.get(f"/console/tenants/{t}/kpis?start=2024-02-30&end=2024-03-10")
    text = resp.get_data(as_text=True)
    assert resp.status_code == 400
    assert "The From date “2024-02-30” is not a date LeadRelay can use: enter it as YYYY-MM-DD" in text
    assert 'data-kpi="leads"' not in text and 'name="start" value="2024-02-30"' in text  # the form, as typed
    as_json = client.get(f"/console/tenants/{t}/kpis?start=2024-02-30", headers={"Accept": "application/json"})
    assert as_json.status_code == 400 and as_json.json["message"].startswith("start: expected a date YYYY-MM-DD")
    assert client.get(f"/console/tenants/{t}/kpis.csv?end=yesterday").status_code == 400


def test_from_after_to_is_an_error_not_a_silent_swap(admin):
    t, client = admin
    resp = client.get(f"/console/tenants/{t}/kpis?start=2024-03-10&end=2024-03-01")
    assert resp.status_code == 400
    assert "The From date (2024-03-10) is after the To date (2024-03-01); swap them" in resp.get_data(as_text=True)


def test_a_range_over_366_days_says_which_part_is_shown(admin):
    t, client = admin
    text = client.get(f"/console/tenants/{t}/kpis?start=2020-01-01&end=2024-03-01").get_data(as_text=True)
    assert "showing its last 366 days, 2023-03-02 to 2024-03-01" in text and 'value="2023-03-02"' in text


# Charts and CSV --------------------------------------------------------------------------------------------------

def test_a_single_day_is_a_bar_with_its_value_on_hover(app, env, admin):
    t, client = admin
    add(env, route(t, 1, "a@acme.com", speed=12), route(t, 2, "a@acme.com", speed=30))
    text = client.get(f"/console/tenants/{t}/kpis?start=2024-03-01&end=2024-03-01").get_data(as_text=True)
    charts = re.findall(r'<svg [^>]*class="chart day-chart".*?</svg>', text, re.S)
    assert len(charts) == 2 and all('<rect class="mark"' in c and "<circle" not in c for c in charts)
    assert "<title>Fri 2024-03-01: 2 leads (2 routed automatically, 0 sent to review, 0 merged on arrival)</title>" \
        in text
    assert "<title>Fri 2024-03-01: 21 s median speed-to-owner</title>" in text
    assert ">Mar 1</text>" in charts[0] and re.search(r">0</text>.*>2</text>", charts[0], re.S)  # both axes


def test_several_days_of_speed_are_a_line_with_a_point_per_day(app, env, admin):
    t, client = admin
    add(env, route(t, 1, "a@acme.com", speed=12), route(t, 2, "a@acme.com", day=2, speed=300))
    text = client.get(f"/console/tenants/{t}/kpis?start=2024-03-01&end=2024-03-05").get_data(as_text=True)
    speed = re.findall(r'<svg [^>]*class="chart day-chart".*?</svg>', text, re.S)[1]
    assert speed.count("<circle") == 2 and "<title>Sun 2024-03-03: 5 min median speed-to-owner</title>" in speed
    assert 'class="seg"' not in speed  # a day without leads between them is a gap, not a line through zero


def test_csv_per_day_and_per_lead(app, env, admin):
    t, client = admin
    add(env, route(t, 1, "a@acme.com", speed=12), route(t, 2, "+1-555-0100@acme.com", day=1, speed=20),
        route(t, 3, "review", day=1), dedup_review(t, 3, day=1), sla(t, 1, "met"))
    base = f"/console/tenants/{t}/kpis.csv?start=2024-03-01&end=2024-03-03"
    days = list(csv.DictReader(io.StringIO(client.get(base + "&export=days").get_data(as_text=True))))
    assert [d["day"] for d in days] == ["2024-03-01", "2024-03-02", "2024-03-03"]
    assert (days[1]["leads"], days[1]["sent_to_review"], days[1]["duplicate_rate_pct"]) == ("2", "1", "50.0")
    assert days[2]["leads"] == "0" and days[2]["duplicate_rate_pct"] == ""
    resp = client.get(base + "&export=leads")
    assert 'filename="leadrelay-kpis-leads-' in resp.headers["Content-Disposition"]
    leads = list(csv.DictReader(io.StringIO(resp.get_data(as_text=True))))
    assert [(r["lead_id"], r["owner"], r["duplicate"], r["sla"]) for r in leads] == [
        ("1", "a@acme.com", "", "met"), ("2", "'+1-555-0100@acme.com", "", ""), ("3", "review", "review", "")]
    assert leads[0]["speed_to_owner_seconds"] == "12.0" and leads[0]["reason"] == "reason 1"
    summary = {(r["section"], r["key"]): r["value"]
               for r in csv.DictReader(io.StringIO(client.get(base).get_data(as_text=True)))}
    assert summary[("summary", "duplicate_rate_pct")] == "33.3" and summary[("summary", "sla_met_pct")] == "100.0"
