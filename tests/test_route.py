"""Routing: RULES.md's assignment semantics, condition by condition and strategy by strategy."""
from __future__ import annotations

import datetime as dt
import random
import threading
from collections import Counter

import pytest
from redis import Redis

from integration.routing.normalize import Lead
from integration.routing.postcodes import PostcodeIndex
from integration.routing.redis_state import RedisPoolState
from integration.routing.router import Router
from integration.routing.score import Qualification
from integration.routing.state import InMemoryPoolState, Slot
from integration.rules import load_rules, validate_rules
from tests.test_rules import EXAMPLE_RULES

UTC = dt.UTC
MON_NOON_LA = dt.datetime(2026, 3, 9, 19, 0, tzinfo=UTC)  # Monday 12:00 PDT


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


def rules_with(routing: list[dict], pools: dict | None = None, owners: list[dict] | None = None,
               fallback: dict | None = None) -> Router:
    owners = owners or [{"email": f"{n}@acme.test"} for n in ("alice", "bob", "carol", "dana")]
    data = {"version": 1, "timezone": "America/Los_Angeles", "owners": owners, "pools": pools or {},
            "routing": routing, "fallback": fallback or {"review": True}}
    return Router(validate_rules(data))


def first_rule(when: dict) -> Router:
    return rules_with([{"name": "R", "when": when, "assign": {"owner": "alice@acme.test"}}])


def matches(when: dict, lead: Lead, qualification: Qualification | None = None) -> bool:
    return first_rule(when).route_lead(lead, qualification, MON_NOON_LA).rule == "R"


# The RULES.md example ---------------------------------------------------------------------------------------

def test_the_rules_md_example_reason():
    router = Router(load_rules(EXAMPLE_RULES))
    lead = Lead(id="1", country="US", state="CA", employees=350)
    decision = router.route_lead(lead, at=MON_NOON_LA)
    assert (decision.owner, decision.rule) == ("alice@acme.test", "West enterprise")
    assert decision.reason == ("Rule 'West enterprise' (state CA, 350 employees) → pool west → alice@acme.test, "
                               "round-robin, 1/25 open")
    second = router.route_lead(lead, at=MON_NOON_LA)
    assert second.reason == ("Rule 'West enterprise' (state CA, 350 employees) → pool west → bob@acme.test, "
                             "round-robin, 1 open")


def test_example_strategic_accounts_go_to_review_and_no_match_goes_to_the_fallback_pool():
    router = Router(load_rules(EXAMPLE_RULES))
    review = router.route_lead(Lead(country="DE", employees=6000), at=MON_NOON_LA)
    assert (review.owner, review.rule, review.reason) == (None, "Strategic accounts",
                                                          "Rule 'Strategic accounts' (6000 employees) → review")
    other = router.route_lead(Lead(country="DE", employees=20), at=MON_NOON_LA)
    assert (other.owner, other.rule) == ("bob@acme.test", None)
    assert other.reason == "No rule matched → fallback pool inside → bob@acme.test, least loaded, 1 open"


# Conditions ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("when", "lead", "expected"), [
    ({"country": ["us"]}, Lead(country="US"), True),
    ({"country": ["US"]}, Lead(country="CA"), False),
    ({"country": ["US"]}, Lead(), False),
    ({"state": ["ca", "OR"]}, Lead(state="OR"), True),
    ({"city": ["San Francisco"]}, Lead(city="san francisco"), True),
    ({"city": ["San Francisco"]}, Lead(city="Oakland"), False),
    ({"source": ["Partner"]}, Lead(source="partner"), True),
    ({"industry": ["Software"]}, Lead(industry="SOFTWARE"), True),
    ({"language": ["de"]}, Lead(language="DE"), True),
    ({"service": ["Installation"]}, Lead(service="installation"), True),
    ({"service": ["Installation"]}, Lead(service="repair"), False),
    ({"employees_gte": 200}, Lead(employees=200), True),
    ({"employees_gte": 200}, Lead(employees=199), False),
    ({"employees_gte": 200}, Lead(), False),
    ({"employees_lt": 50}, Lead(employees=49), True),
    ({"employees_lt": 50}, Lead(), False),
    ({"employees_gte": 10, "employees_lt": 50}, Lead(employees=50), False),
    ({"email_domain": ["acme.com"]}, Lead(email="x@acme.com"), True),
    ({"email_domain": ["@ACME.com"]}, Lead(email="x@other.com"), False),
    ({"email_domain": ["free"]}, Lead(email="x@gmail.com"), True),
    ({"email_domain": ["free"]}, Lead(email="x@acme.com"), False),
    ({"email_domain": ["free"]}, Lead(), False),
    ({"has_phone": True}, Lead(phone="+14155550134"), True),
    ({"has_phone": True}, Lead(), False),
    ({"has_phone": False}, Lead(), True),
    ({"has_email": True}, Lead(email="x@acme.com"), True),
    ({"has_email": False}, Lead(email="x@acme.com"), False),
    ({"account_owner": True}, Lead(account_owner="dana@acme.test"), True),
    ({"account_owner": True}, Lead(), False),
    ({"account_owner": False}, Lead(), True),
    ({"country": ["US"], "employees_gte": 100}, Lead(country="US", employees=5), False),
    ({"country": ["US"], "employees_gte": 100, "any": True}, Lead(country="US", employees=5), True),
    ({"country": ["US"], "employees_gte": 100, "any": True}, Lead(country="FR"), False),
])
def test_each_condition(when, lead, expected):
    assert matches(when, lead) is expected


@pytest.mark.parametrize(("when", "expected"), [
    ({"tier": ["hot"]}, True), ({"tier": ["warm", "nurture"]}, False), ({"score_gte": 72}, True),
    ({"score_gte": 73}, False), ({"score_lt": 73}, True), ({"score_lt": 72}, False),
])
def test_tier_and_score_conditions(when, expected):
    assert matches(when, Lead(), Qualification(72, "hot", "")) is expected


def test_score_conditions_never_match_an_unscored_lead():
    assert matches({"score_lt": 100}, Lead()) is False


def test_an_inactive_account_owner_does_not_count():
    owners = [{"email": "alice@acme.test"}, {"email": "old@acme.test", "active": False}]
    router = rules_with([{"name": "Account", "when": {"account_owner": True}, "assign": "account_owner"}],
                        owners=owners, fallback={"owner": "alice@acme.test"})
    decision = router.route_lead(Lead(account_owner="old@acme.test"), at=MON_NOON_LA)
    assert (decision.owner, decision.rule) == ("alice@acme.test", None)
    owned = router.route_lead(Lead(account_owner="crm.user@acme.test"), at=MON_NOON_LA)
    assert owned.owner == "crm.user@acme.test"
    assert owned.reason == ("Rule 'Account' (account owned by crm.user@acme.test) → crm.user@acme.test "
                            "(account owner), 1 open")


@pytest.mark.parametrize(("postcode", "expected"), [
    ("94105", "Bay"), ("95199", "Bay"), ("94000", "Bay"), ("93999", None), ("95200", None), ("95401", "Sonoma"),
    ("954", "Sonoma"), ("95", None), ("SW1A 1AA", "London"), ("SW1 1AA", None), (None, None),
])
def test_postcode_prefixes_and_ranges(postcode, expected):
    router = rules_with([
        {"name": "Bay", "when": {"postcode": ["940-951"]}, "assign": {"owner": "alice@acme.test"}},
        {"name": "Sonoma", "when": {"postcode": ["954"]}, "assign": {"owner": "bob@acme.test"}},
        {"name": "London", "when": {"postcode": ["SW1A"]}, "assign": {"owner": "carol@acme.test"}}])
    assert router.route_lead(Lead(postcode=postcode), at=MON_NOON_LA).rule == expected


def test_first_match_wins_even_between_postcode_and_other_rules():
    router = rules_with([
        {"name": "Enterprise", "when": {"employees_gte": 1000}, "assign": {"owner": "dana@acme.test"}},
        {"name": "Bay", "when": {"postcode": ["94"], "country": ["US"]}, "assign": {"owner": "alice@acme.test"}},
        {"name": "Any west", "when": {"postcode": ["9"], "state": ["CA"], "any": True},
         "assign": {"owner": "bob@acme.test"}}])
    assert router.route_lead(Lead(postcode="94105", country="US", employees=5000), at=MON_NOON_LA).rule == (
        "Enterprise")
    assert router.route_lead(Lead(postcode="94105", country="US"), at=MON_NOON_LA).rule == "Bay"
    assert router.route_lead(Lead(postcode="94105", country="MX"), at=MON_NOON_LA).rule == "Any west"
    assert router.route_lead(Lead(postcode="10001", state="CA"), at=MON_NOON_LA).rule == "Any west"


def test_the_postcode_index_agrees_with_a_scan_of_every_rule():
    rng = random.Random(3)
    specs = []
    for _ in range(2000):
        length = rng.choice([2, 3, 5])
        low = rng.randrange(0, 10 ** length - 20)
        high = low + rng.choice([0, 0, 3, 17])
        specs.append(f"{low:0{length}d}" if high == low else f"{low:0{length}d}-{high:0{length}d}")
    index = PostcodeIndex()
    for i, spec in enumerate(specs):
        index.add(i, [spec])
    index.freeze()

    def scan(key: str) -> set[int]:
        found = set()
        for i, spec in enumerate(specs):
            low, _, high = spec.partition("-")
            high = high or low
            if len(key) >= len(low) and low <= key[:len(low)] <= high:
                found.add(i)
        return found
    for _ in range(500):
        key = f"{rng.randrange(0, 100000):05d}"
        assert index.lookup(key) == scan(key)


# Strategies (the same scenarios run against the in-memory and the Redis pool state) -------------------------

@pytest.fixture(params=["memory", "redis"])
def make_state(request):
    if request.param == "memory":
        return lambda: InMemoryPoolState()
    url = request.getfixturevalue("redis_url")
    return lambda: RedisPoolState(Redis.from_url(url), "t1")


def slots(*emails: str, **weights: int) -> list[Slot]:
    return [Slot(e, weights.get(e.split("@")[0], 1)) for e in emails]


def picks(state, strategy: str, members: list[Slot], n: int, pool: str = "p") -> list[str]:
    return [state.choose(pool, strategy, members).email.split("@")[0] for _ in range(n)]


def test_round_robin_goes_in_listed_order(make_state):
    assert picks(make_state(), "round_robin", slots("a@x", "b@x", "c@x"), 7) == ["a", "b", "c", "a", "b", "c", "a"]


def test_round_robin_skips_unavailable_members_and_advances_past_the_chosen_one(make_state):
    state = make_state()
    assert picks(state, "round_robin", slots("a@x", "b@x", "c@x"), 1) == ["a"]
    members = [Slot("a@x"), Slot("b@x", unavailable="outside hours"), Slot("c@x")]
    choice = state.choose("p", "round_robin", members)
    assert (choice.email, choice.skipped) == ("c@x", (("b@x", "outside hours"),))
    assert picks(state, "round_robin", slots("a@x", "b@x", "c@x"), 3) == ["a", "b", "c"]


def test_smooth_weighted_gives_two_of_every_three_spread_out(make_state):
    assert picks(make_state(), "weighted", slots("a@x", "b@x", a=2), 6) == ["a", "b", "a", "a", "b", "a"]
    assert picks(make_state(), "weighted", slots("a@x", "b@x", "c@x", a=5), 7) == ["a", "a", "b", "a", "c", "a",
                                                                                   "a"]


def test_least_loaded_takes_the_fewest_open_leads_ties_in_listed_order(make_state):
    state = make_state()
    state.assign("b@x")
    state.assign("b@x")
    state.assign("a@x")
    assert picks(state, "least_loaded", slots("a@x", "b@x", "c@x"), 4) == ["c", "a", "c", "a"]
    assert state.open_count("b@x") == 2


def test_capacity_counts_every_open_lead_whichever_rule_gave_it(make_state):
    state = make_state()
    state.assign("a@x")  # a lead from a single-owner rule
    members = [Slot("a@x", capacity=2), Slot("b@x", capacity=1)]
    assert picks(state, "round_robin", members, 2) == ["a", "b"]
    full = state.choose("p", "round_robin", members)
    assert (full.email, full.skipped) == (None, (("a@x", "at capacity 2/2"), ("b@x", "at capacity 1/1")))
    state.release("b@x")
    assert picks(state, "round_robin", members, 1) == ["b"]


def test_editing_a_pool_keeps_the_round_robin_pointer(make_state):
    state = make_state()
    assert picks(state, "round_robin", slots("a@x", "b@x", "c@x"), 2) == ["a", "b"]
    # a new member inserted before the pointer does not send the next lead back to the start
    assert picks(state, "round_robin", slots("n@x", "a@x", "b@x", "c@x"), 2) == ["c", "n"]
    # the member who had the last lead leaves: the one now in their place is next
    assert picks(state, "round_robin", slots("a@x", "b@x", "c@x"), 1) == ["a"]
    assert picks(state, "round_robin", slots("b@x", "c@x"), 1) == ["b"]


def test_editing_a_pool_keeps_the_weighted_counters(make_state):
    state = make_state()
    assert picks(state, "weighted", slots("a@x", "b@x", a=2), 1) == ["a"]
    # adding c (weight 1) keeps a's and b's counters: b, who is owed a lead, still gets the next one
    assert picks(state, "weighted", slots("a@x", "b@x", "c@x", a=2), 4) == ["b", "a", "c", "a"]


def test_round_robin_stays_exact_with_concurrent_redis_workers(redis_url):
    members = slots("a@x", "b@x", "c@x", "d@x")
    got: list[str] = []
    lock = threading.Lock()

    def worker():
        state = RedisPoolState(Redis.from_url(redis_url), "t1")  # each worker its own connection
        for _ in range(50):
            email = state.choose("west", "round_robin", members).email
            with lock:
                got.append(email)
    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert Counter(got) == {"a@x": 100, "b@x": 100, "c@x": 100, "d@x": 100}
    state = RedisPoolState(Redis.from_url(redis_url), "t1")
    assert [state.open_count(e) for e in ("a@x", "b@x", "c@x", "d@x")] == [100, 100, 100, 100]


def test_concurrent_redis_workers_never_exceed_a_capacity(redis_url):
    members = [Slot("a@x", capacity=30), Slot("b@x", capacity=20)]
    got: list[str | None] = []

    def worker():
        state = RedisPoolState(Redis.from_url(redis_url), "t1")
        got.extend(state.choose("p", "least_loaded", members).email for _ in range(20))
    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert Counter(got) == {"a@x": 30, "b@x": 20, None: 30}


# Availability ---------------------------------------------------------------------------------------------------

LA_OWNERS = [{"email": "alice@acme.test", "timezone": "America/Los_Angeles", "hours": "Mon-Fri 09:00-17:00"},
             {"email": "bob@acme.test", "out_of_office": ["2026-12-24..2026-12-31"]},
             {"email": "carol@acme.test", "active": False},
             {"email": "dana@acme.test"}]


def hours_router(respect_hours: bool = True) -> Router:
    pools = {"west": {"members": [{"owner": "alice@acme.test"}], "respect_hours": respect_hours}}
    return rules_with([{"name": "West", "when": {"country": ["US"]}, "assign": {"pool": "west"}}], pools=pools,
                      owners=LA_OWNERS, fallback={"owner": "dana@acme.test"})


@pytest.mark.parametrize(("moment", "owner"), [
    ("2026-03-06T16:59:00+00:00", "dana@acme.test"),   # Fri 08:59 PST (UTC-8)
    ("2026-03-06T17:00:00+00:00", "alice@acme.test"),  # Fri 09:00 PST
    ("2026-03-07T00:59:00+00:00", "alice@acme.test"),  # Fri 16:59 PST
    ("2026-03-07T01:00:00+00:00", "dana@acme.test"),   # Fri 17:00 PST: the end is exclusive
    ("2026-03-08T18:00:00+00:00", "dana@acme.test"),   # Sun 11:00 PDT: DST began at 02:00 that morning
    ("2026-03-09T15:59:00+00:00", "dana@acme.test"),   # Mon 08:59 PDT (UTC-7)
    ("2026-03-09T16:00:00+00:00", "alice@acme.test"),  # Mon 09:00 PDT: one hour earlier in UTC than Friday
    ("2026-03-09T23:59:00+00:00", "alice@acme.test"),  # Mon 16:59 PDT
    ("2026-03-10T00:00:00+00:00", "dana@acme.test"),   # Mon 17:00 PDT
])
def test_working_hours_in_the_owners_zone_across_the_dst_change(moment, owner):
    assert hours_router().route_lead(Lead(country="US"), at=at(moment)).owner == owner


def test_hours_are_ignored_when_the_pool_does_not_respect_them():
    assert hours_router(False).route_lead(Lead(country="US"), at=at("2026-03-08T18:00:00+00:00")).owner == (
        "alice@acme.test")


def test_outside_hours_falls_back_with_the_reason():
    decision = hours_router().route_lead(Lead(country="US"), at=at("2026-03-08T18:00:00+00:00"))
    assert decision.reason == ("Rule 'West' (country US) → pool west: nobody available (alice@acme.test outside "
                               "hours) → fallback → dana@acme.test, 1 open")
    assert (decision.rule, decision.fallback) == ("West", True)


@pytest.mark.parametrize(("moment", "owner"), [
    ("2026-12-24T07:59:00+00:00", "bob@acme.test"),    # Dec 23 23:59 in Los Angeles (the rule set's zone)
    ("2026-12-24T08:00:00+00:00", "dana@acme.test"),   # Dec 24 00:00: out of office
    ("2027-01-01T07:59:00+00:00", "dana@acme.test"),   # Dec 31 23:59: the last day is included
    ("2027-01-01T08:00:00+00:00", "bob@acme.test"),    # Jan 1 00:00: back
])
def test_out_of_office_is_inclusive_local_dates_even_without_respect_hours(moment, owner):
    pools = {"inside": {"strategy": "least_loaded", "members": [{"owner": "bob@acme.test"}]}}
    router = rules_with([{"name": "All US", "when": {"country": ["US"]}, "assign": {"pool": "inside"}}],
                        pools=pools, owners=LA_OWNERS, fallback={"owner": "dana@acme.test"})
    assert router.route_lead(Lead(country="US"), at=at(moment)).owner == owner


def test_inactive_members_are_skipped():
    pools = {"p": {"members": [{"owner": "carol@acme.test"}, {"owner": "dana@acme.test"}]}}
    router = rules_with([{"name": "US", "when": {"country": ["US"]}, "assign": {"pool": "p"}}], pools=pools,
                        owners=LA_OWNERS)
    assert [router.route_lead(Lead(country="US"), at=MON_NOON_LA).owner for _ in range(2)] == [
        "dana@acme.test", "dana@acme.test"]


def test_an_inactive_single_owner_target_falls_through_to_the_fallback():
    pools = {"inside": {"members": [{"owner": "dana@acme.test"}]}}
    router = rules_with([{"name": "Carol's", "when": {"country": ["US"]}, "assign": {"owner": "carol@acme.test"}}],
                        pools=pools, owners=LA_OWNERS, fallback={"pool": "inside"})
    decision = router.route_lead(Lead(country="US"), at=MON_NOON_LA)
    assert (decision.owner, decision.rule) == ("dana@acme.test", "Carol's")
    assert decision.reason == ("Rule 'Carol's' (country US) → carol@acme.test is inactive → fallback pool inside → "
                               "dana@acme.test, round-robin, 1 open")


def test_a_single_owner_target_ignores_hours_and_absence():
    router = rules_with([{"name": "Bob's", "when": {"country": ["US"]}, "assign": {"owner": "bob@acme.test"}}],
                        owners=LA_OWNERS)
    assert router.route_lead(Lead(country="US"), at=at("2026-12-25T18:00:00+00:00")).owner == "bob@acme.test"


def test_nobody_available_anywhere_goes_to_review_with_the_reason():
    pools = {"west": {"members": [{"owner": "alice@acme.test", "capacity": 1}], "respect_hours": True},
             "inside": {"members": [{"owner": "carol@acme.test"}, {"owner": "bob@acme.test"}]}}
    router = rules_with([{"name": "West", "when": {"country": ["US"]}, "assign": {"pool": "west"}}], pools=pools,
                        owners=LA_OWNERS, fallback={"pool": "inside"})
    christmas = at("2026-12-25T18:00:00+00:00")  # a Friday, 10:00 in Los Angeles: alice works, bob is away
    assert router.route_lead(Lead(country="US"), at=christmas).owner == "alice@acme.test"
    decision = router.route_lead(Lead(country="US"), at=christmas)
    assert (decision.owner, decision.review, decision.rule) == (None, True, "West")
    assert decision.reason == ("Rule 'West' (country US) → pool west: nobody available (alice@acme.test at "
                               "capacity 1/1) → fallback pool inside: nobody available (carol@acme.test inactive, "
                               "bob@acme.test out of office) → review")


def test_no_rule_and_a_review_fallback():
    decision = rules_with([{"name": "US", "when": {"country": ["US"]}, "assign": {"owner": "alice@acme.test"}}]
                          ).route_lead(Lead(country="FR"), at=MON_NOON_LA)
    assert (decision.owner, decision.rule, decision.reason) == (None, None, "No rule matched → fallback → review")


def test_naive_times_are_read_in_the_rule_sets_zone():
    router = hours_router()
    assert router.route_lead(Lead(country="US"), at=dt.datetime(2026, 3, 9, 9, 0)).owner == "alice@acme.test"
    assert router.route_lead(Lead(country="US"), at=dt.datetime(2026, 3, 9, 8, 59)).owner == "dana@acme.test"


def test_the_router_works_on_redis_state_too(redis_url):
    rules = load_rules(EXAMPLE_RULES)
    workers = [Router(rules, RedisPoolState(Redis.from_url(redis_url), "acme")) for _ in range(2)]
    lead = Lead(country="US", state="CA", employees=350)
    owners = [workers[i % 2].route_lead(lead, at=MON_NOON_LA).owner for i in range(4)]
    assert owners == ["alice@acme.test", "bob@acme.test", "alice@acme.test", "bob@acme.test"]
