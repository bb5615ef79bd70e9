"""The API budget's work classes: lower classes stop at their threshold, new leads take the rest; Salesforce's daily
allowance keeps a reserve only new leads spend; waits are counted per class. Real Redis throughout."""
from __future__ import annotations

import contextlib
import re

import pytest
from redis import Redis

from integration.config import ConfigError, Settings, _Variables
from integration.db import session_scope
from integration.errors import CRMRateLimited
from integration.jobs import HOMES, WORK_CLASS
from integration.logs import work_class_var
from integration.models import Tenant
from integration.ratelimit import WORK_CLASSES, RedisRateBudget, read_budgets, read_waits, share_floor
from tests.console_helpers import add_members, sign_in
from tests.test_job_names import _declared_jobs

LIMITS = {"default": (100, 100.0)}  # 90 calls a window for LeadRelay, 0.9 a second refill: nothing refills in a test
THRESHOLDS = {"new_lead": 0.0, "sla": 0.0, "followup": 0.2, "sweep": 0.3, "bulk": 0.5}


@contextlib.contextmanager
def working_as(work_class: str):
    token = work_class_var.set(work_class)
    try:
        yield
    finally:
        work_class_var.reset(token)


def take_until_held(budget: RedisRateBudget, work_class: str, bucket: str = "default") -> tuple[int, CRMRateLimited]:
    taken = 0
    with working_as(work_class):
        while True:
            try:
                budget.acquire(bucket)
            except CRMRateLimited as exc:
                return taken, exc
            taken += 1
            assert taken < 100_000


def budget(redis_url, tenant_id=1, limits=LIMITS, reserves=None):
    return RedisRateBudget(Redis.from_url(redis_url), tenant_id, limits, max_wait=0.0, thresholds=THRESHOLDS,
                           reserves=reserves)


@pytest.mark.parametrize(("work_class", "stops_at"), [("bulk", 45), ("sweep", 63), ("followup", 72)])
def test_a_lower_class_stops_at_its_threshold_and_new_leads_take_the_rest(redis_url, work_class, stops_at):
    b = budget(redis_url)
    taken, exc = take_until_held(b, work_class)
    assert taken == stops_at  # 90 x (1 - threshold): the rest of the bucket is left to the classes above
    assert exc.held == work_class and exc.ours and exc.retry_after > 0
    new_lead, exc = take_until_held(b, "new_lead")
    assert new_lead == 90 - stops_at  # every call the lower class left, and no more
    assert exc.held is None  # an empty bucket holds a new lead back as it always did: not a priority hold


def test_new_lead_and_sla_are_never_held_back_by_a_threshold(redis_url):
    assert take_until_held(budget(redis_url, tenant_id=1), "sla")[0] == 90
    assert take_until_held(budget(redis_url, tenant_id=2), "new_lead")[0] == 90
    with pytest.raises(ValueError):  # the settings refuse a threshold for them
        Settings.read(_Variables({"LEADRELAY_BUDGET_THRESHOLDS": "sla=10"}))


def test_classes_stop_in_order_while_sharing_one_bucket(redis_url):
    b = budget(redis_url)
    assert take_until_held(b, "bulk")[0] == 45
    assert take_until_held(b, "sweep")[0] == 18  # down to 30 %
    assert take_until_held(b, "followup")[0] == 9  # down to 20 %
    assert take_until_held(b, "bulk")[0] == 0  # still held: under its 50 %
    assert take_until_held(b, "sla")[0] == 18


def test_code_outside_a_job_is_a_new_lead(redis_url):
    assert work_class_var.get() == "new_lead"
    assert take_until_held(budget(redis_url), work_class_var.get())[0] == 90


def test_a_call_costing_more_than_the_share_above_the_threshold_still_goes_on_a_full_bucket(redis_url):
    b = budget(redis_url)
    with working_as("bulk"):
        b.acquire("default", 80)  # more than the 45 above bulk's threshold: a full bucket is the best it gets
        with pytest.raises(CRMRateLimited):
            b.acquire("default", 1)


def test_salesforce_reserve_is_spent_by_new_leads_only(redis_url):
    limits = {"daily": (1000, 86_400.0)}  # 900 for LeadRelay
    b = budget(redis_url, limits=limits, reserves={"daily": 0.2})
    assert take_until_held(b, "sla", "daily")[0] == 720  # sla is held back by the reserve, not by a threshold
    assert take_until_held(b, "followup", "daily")[0] == 0
    assert take_until_held(b, "new_lead", "daily")[0] == 180
    # a bulk class keeps its own threshold where it is higher than the reserve
    other = budget(redis_url, tenant_id=2, limits=limits, reserves={"daily": 0.2})
    assert take_until_held(other, "bulk", "daily")[0] == 450


def test_the_reserve_counts_what_other_integrations_spent(redis_url):
    """Salesforce reports the org's usage (Sforce-Limit-Info): LeadRelay's share shrinks by what others used."""
    limits = {"daily": (1000, 86_400.0)}
    b = budget(redis_url, limits=limits, reserves={"daily": 0.2})
    b.observe("daily", remaining=500, limit=1000)  # other integrations used half the org's allowance
    assert take_until_held(b, "sla", "daily")[0] == 320  # 500 down to 20 % of 900
    assert take_until_held(b, "new_lead", "daily")[0] == 180


def test_waits_are_counted_per_bucket_and_class_and_read_back(redis_url):
    b = budget(redis_url)
    take_until_held(b, "bulk")
    take_until_held(b, "bulk")
    take_until_held(b, "new_lead")
    waits = read_waits(Redis.from_url(redis_url), 1)
    assert waits == {("default", "bulk"): 2, ("default", "new_lead"): 1}
    assert read_waits(Redis.from_url(redis_url), 2) == {}
    keys = Redis.from_url(redis_url).keys("leadrelay:rate:1:waits:*")
    assert keys and all(0 < Redis.from_url(redis_url).ttl(k) <= 660 for k in keys)  # short-lived


def test_headroom_per_class(redis_url):
    b = budget(redis_url)
    take_until_held(b, "bulk")
    (left,) = read_budgets(Redis.from_url(redis_url), 1, LIMITS)
    assert left.left_for(share_floor("bulk", "default", THRESHOLDS, {})) < 1  # what refilled since
    assert 26 <= left.left_for(share_floor("followup", "default", THRESHOLDS, {})) <= 28  # 45 left, 18 kept
    assert 44 <= left.left_for(share_floor("new_lead", "default", THRESHOLDS, {})) <= 46


def test_every_job_has_a_work_class():
    declared = _declared_jobs()
    assert set(declared) | set(HOMES) <= set(WORK_CLASS), sorted(set(declared) - set(WORK_CLASS))
    assert set(WORK_CLASS) <= set(declared)  # no class for a job that is gone
    assert set(WORK_CLASS.values()) <= set(WORK_CLASSES)


@pytest.mark.parametrize(("value", "message"), [
    ("bulk=95", "0 to 90"), ("bulk", "class=percent"), ("urgent=5", "class=percent"),
    ("followup=40,sweep=30", "lower class"), ("sweep=x", "0 to 90")])
def test_bad_thresholds_are_refused_with_a_clear_message(value, message):
    with pytest.raises(ConfigError, match=message):
        Settings.read(_Variables({"LEADRELAY_BUDGET_THRESHOLDS": value}))


def test_thresholds_and_reserve_are_read_in_percent():
    settings = Settings.read(_Variables({"LEADRELAY_BUDGET_THRESHOLDS": "followup=10, bulk=60%",
                                         "LEADRELAY_SALESFORCE_RESERVE": "25"}))
    assert dict(settings.budget_thresholds) == {"new_lead": 0.0, "sla": 0.0, "followup": 0.1, "sweep": 0.3,
                                                "bulk": 0.6}
    assert settings.salesforce_reserve == 0.25
    with pytest.raises(ConfigError, match="LEADRELAY_SALESFORCE_RESERVE"):
        Settings.read(_Variables({"LEADRELAY_SALESFORCE_RESERVE": "-1"}))


def _salesforce_bulk_held(env) -> int:
    """A Salesforce tenant whose backfill spent its share of a 1,000-a-day allowance and was held once."""
    from adapters.factory import budget_reserves
    from adapters.salesforce.adapter import SalesforceAdapter

    with session_scope(env["DATABASE_URL"]) as s:
        tenant = Tenant(platform="salesforce", external_id="00Dheadroom", name="Headroom Org")
        s.add(tenant)
        s.flush()
        tid = tenant.id
    redis = Redis.from_url(env["REDIS_URL"])
    b = RedisRateBudget(redis, tid, SalesforceAdapter.RATE_LIMITS, max_wait=0.0,
                        reserves=budget_reserves(SalesforceAdapter))
    assert b.reserves == {"daily": 0.2}  # LEADRELAY_SALESFORCE_RESERVE's default, on the adapter's daily bucket
    b.observe("daily", remaining=1000, limit=1000)
    take_until_held(b, "bulk", "daily")
    return tid


def test_the_health_page_shows_each_class_headroom_and_what_waited(app, env):
    tid = _salesforce_bulk_held(env)
    with session_scope(env["DATABASE_URL"]) as s:
        admin = add_members(s, tid, {"budget-admin": "admin"})["budget-admin"]
    page = sign_in(app, admin).get(f"/console/tenants/{tid}/health").get_data(as_text=True)
    rows = dict(re.findall(r'data-bucket="daily" data-class="(\w+)">(.*?)</tr>', page, re.S))
    assert set(rows) == set(WORK_CLASSES)
    assert "waiting" in rows["bulk"] and ">1</td>" in rows["bulk"]  # held, and its one wait counted
    assert ">50 %<" in rows["bulk"] and ">20 %<" in rows["sla"] and ">—<" in rows["new_lead"]
    assert ">450<" in rows["new_lead"]  # the half bulk left: all of it the new leads'
    assert "calls waited for the budget: Backfill, simulation, set-up 1." in page


def test_metrics_give_the_budget_remaining_per_class(env, app):
    tid = _salesforce_bulk_held(env)
    from tests.test_metrics import samples, value

    found = samples(app.test_client().get("/metrics"))
    labels = {"tenant": str(tid), "platform": "salesforce", "bucket": "daily"}
    assert value(found, "leadrelay_rate_budget_class_remaining", **labels, **{"class": "bulk"}) < 1
    assert value(found, "leadrelay_rate_budget_class_remaining", **labels, **{"class": "sla"}) == \
        pytest.approx(270, abs=1)  # 450 left, 20 % of 900 kept for the org's other integrations
    assert value(found, "leadrelay_rate_budget_class_remaining", **labels, **{"class": "new_lead"}) == \
        pytest.approx(450, abs=1)
    assert value(found, "leadrelay_rate_budget_waits", **labels, **{"class": "bulk"}) == 1
    assert value(found, "leadrelay_rate_budget_waits", **labels, **{"class": "new_lead"}) == 0


def test_the_portfolio_row_carries_the_headroom_and_what_waited(app, env):
    tid = _salesforce_bulk_held(env)
    from marketplace.agency_portfolio import portfolio

    with app.test_request_context("/"), session_scope(env["DATABASE_URL"]) as s:
        (row,) = portfolio(s, [s.get(Tenant, tid)])
        assert row.headroom == pytest.approx(50, abs=0.2) and row.waiting == {"bulk": 1}
        assert row.sort_value("headroom")[1] == row.headroom
