"""Rule sets: the RULES.md example loads; every kind of mistake is refused with a message naming its path."""
from __future__ import annotations

import copy
import datetime as dt
import json
from pathlib import Path

import pytest
import yaml

from integration.rules import RulesError, load_rules

ROOT = Path(__file__).resolve().parent.parent

# RULES.md's example, verbatim in substance (comments dropped).
EXAMPLE_RULES = """
version: 1
timezone: America/Los_Angeles
owners:
  - {email: alice@acme.test, timezone: America/Los_Angeles, hours: "Mon-Fri 09:00-17:00"}
  - {email: bob@acme.test, hours: "Mon-Fri 08:00-16:00", out_of_office: ["2026-12-24..2026-12-31"]}
  - {email: carol@acme.test, active: false}
  - {email: dana@acme.test, manager: true}
pools:
  west:
    strategy: round_robin
    members:
      - {owner: alice@acme.test, weight: 2, capacity: 25}
      - {owner: bob@acme.test}
    respect_hours: true
  inside:
    strategy: least_loaded
    members: [{owner: bob@acme.test}, {owner: alice@acme.test}]
routing:
  - name: Existing account owner
    when: {account_owner: true}
    assign: account_owner
  - name: West enterprise
    when: {country: [US], state: [CA, OR, WA], employees_gte: 200}
    assign: {pool: west}
  - name: Bay Area
    when: {postcode: ["940-951", "954"]}
    assign: {owner: alice@acme.test}
  - name: Partners
    when: {source: [partner, referral], any: true}
    assign: {pool: inside}
  - name: Strategic accounts
    when: {employees_gte: 5000}
    assign: {review: true}
fallback: {pool: inside}
scoring:
  rules:
    - {when: {source: [referral]}, points: 30}
    - {when: {employees_gte: 200}, points: 30}
    - {when: {has_phone: true}, points: 10}
  tiers: {hot: 60, warm: 30}
sla:
  hot:
    first_touch: 5m
    business_hours: false
    escalate:
      - {after: 5m, action: notify_manager}
      - {after: 15m, action: reassign}
  warm: {first_touch: 4h, business_hours: true, escalate: [{after: 4h, action: notify_manager}]}
  nurture: {first_touch: 2d, business_hours: true}
cadences:
  hot: [{after: 1d, task: email}, {after: 3d, task: call}, {after: 7d, task: email}, {after: 14d, task: call}]
  warm: [{after: 3d, task: email}, {after: 14d, task: email}]
  pause_on: [reply, meeting, stage_change, deal_created]
stale:
  - {stage: lead, after: 14d, action: reactivation_task}
  - {stage: lost, after: 180d, action: reactivation_cadence}
dedup:
  auto_merge: 0.92
  review: 0.70
  keep: oldest
lifecycle:
  forward_only: true
  stages: [subscriber, lead, marketingqualifiedlead, salesqualifiedlead, opportunity, customer]
  rules:
    - {when: {deal: open}, set: opportunity}
    - {when: {deal: won}, set: customer}
"""


def example() -> dict:
    return yaml.safe_load(EXAMPLE_RULES)


def error_of(change) -> str:
    data = example()
    change(data)
    with pytest.raises(RulesError) as info:
        load_rules(data)
    return str(info.value)


def test_the_rules_md_example_loads_with_every_section():
    rules = load_rules(EXAMPLE_RULES)
    assert rules.timezone == "America/Los_Angeles"
    assert [o.email for o in rules.owners] == ["alice@acme.test", "bob@acme.test", "carol@acme.test", "dana@acme.test"]
    assert rules.owners[1].out_of_office == [(dt.date(2026, 12, 24), dt.date(2026, 12, 31))]
    assert rules.owners[2].active is False
    assert rules.pools["west"].strategy == "round_robin"
    assert rules.pools["west"].members[0].weight == 2
    assert rules.pools["west"].members[0].capacity == 25
    assert rules.pools["west"].respect_hours is True
    assert rules.pools["inside"].respect_hours is False
    assert rules.routing[0].assign.account_owner is True
    assert rules.routing[2].when.postcode == ["940-951", "954"]
    assert rules.fallback.pool == "inside"
    assert rules.scoring.tiers.hot == 60
    assert rules.sla.hot.first_touch == dt.timedelta(minutes=5)
    assert rules.sla.hot.escalate[1].after == dt.timedelta(minutes=15)
    assert rules.sla.nurture.first_touch == dt.timedelta(days=2)
    assert rules.cadences.hot[3].after == dt.timedelta(days=14)
    assert rules.stale[1].stage == "lost"
    assert rules.dedup.auto_merge == 0.92
    assert rules.lifecycle.rules[1].set == "customer"


def test_json_text_a_file_and_a_path_load_the_same(tmp_path):
    path = tmp_path / "rules.json"
    path.write_text(json.dumps(example()))
    assert load_rules(json.dumps(example())) == load_rules(EXAMPLE_RULES)
    assert load_rules(str(path)) == load_rules(path) == load_rules(EXAMPLE_RULES)


def test_the_demo_rule_set_is_valid():
    rules = load_rules(ROOT / "integration" / "rules" / "demo_rules.yaml")
    assert rules.routing[0].name == "Existing account owner"
    assert rules.fallback.pool == "inside"


def test_a_minimal_rule_set_gets_the_documented_defaults():
    rules = load_rules("version: 1\n")
    assert rules.timezone == "UTC"
    assert rules.fallback.review is True
    assert (rules.dedup.auto_merge, rules.dedup.review, rules.dedup.keep) == (0.92, 0.70, "oldest")
    assert rules.lifecycle.forward_only is True


def test_a_bad_postcode_names_its_path_exactly():
    assert error_of(lambda d: d["routing"][2]["when"].update(postcode=["940-951", "9a1"])) == (
        'routing[2].when.postcode: "9a1" is not a postcode or range')


def test_postcode_ranges_join_prefixes_of_equal_length():
    assert error_of(lambda d: d["routing"][2]["when"].update(postcode=["94-951"])) == (
        'routing[2].when.postcode: "94-951" is not a postcode or range (a range joins two prefixes of equal '
        'length, low first)')


def test_unknown_keys_are_refused_at_every_level():
    def change(d):
        d["routing"][4]["when"]["colour"] = "red"
        d["escalations"] = []
        d["pools"]["west"]["members"][1]["seniority"] = 3
    assert error_of(change) == ("pools.west.members[1].seniority: unknown key\n"
                                "routing[4].when.colour: unknown key\n"
                                "escalations: unknown key")


@pytest.mark.parametrize(("change", "message"), [
    (lambda d: d["sla"]["hot"].update(first_touch="5 minutes"),
     'sla.hot.first_touch: "5 minutes" is not a duration (a positive number with m, h or d: 30m, 4h, 2d)'),
    (lambda d: d["stale"][0].update(after="2w"),
     'stale[0].after: "2w" is not a duration (a positive number with m, h or d: 30m, 4h, 2d)'),
    (lambda d: d["owners"][0].update(hours="9-5"),
     'owners[0].hours: "9-5" is not working hours like "Mon-Fri 09:00-17:00" (start before end, segments '
     'separated by commas)'),
    (lambda d: d["owners"][0].update(hours="Mon-Fri 17:00-09:00"),
     'owners[0].hours: "Mon-Fri 17:00-09:00" is not working hours like "Mon-Fri 09:00-17:00" (start before end, '
     'segments separated by commas)'),
    (lambda d: d["owners"][1].update(out_of_office=["2026-12-31..2026-12-24"]),
     'owners[1].out_of_office[0]: "2026-12-31..2026-12-24" is not a date range like "2026-12-24..2026-12-31" '
     '(first ≤ last)'),
    (lambda d: d["owners"][0].update(timezone="Mars/Olympus"),
     'owners[0].timezone: "Mars/Olympus" is not an IANA time zone (e.g. America/Los_Angeles)'),
])
def test_bad_durations_hours_dates_and_zones(change, message):
    assert error_of(change) == message


@pytest.mark.parametrize(("change", "message"), [
    (lambda d: d["pools"]["west"]["members"].append({"owner": "zed@acme.test"}),
     'pools.west.members[2].owner: "zed@acme.test" is not an owner'),
    (lambda d: d["routing"][1].update(assign={"pool": "east"}), 'routing[1].assign.pool: "east" is not a pool'),
    (lambda d: d["routing"][2].update(assign={"owner": "zed@acme.test"}),
     'routing[2].assign.owner: "zed@acme.test" is not an owner'),
    (lambda d: d.update(fallback={"owner": "zed@acme.test"}), 'fallback.owner: "zed@acme.test" is not an owner'),
    (lambda d: d["pools"]["west"]["members"].append({"owner": "bob@acme.test"}),
     'pools.west.members[2].owner: "bob@acme.test" is listed twice (first at pools.west.members[1].owner)'),
])
def test_pools_and_owners_that_do_not_exist(change, message):
    assert error_of(change) == message


@pytest.mark.parametrize(("change", "message"), [
    (lambda d: d["routing"][1]["when"].update(employees_gte=500, employees_lt=100),
     "routing[1].when: employees_gte 500 ≥ employees_lt 100: can never match"),
    (lambda d: d["routing"][1]["when"].update(state=[]),
     "routing[1].when.state: an empty list can never match; remove the condition instead"),
    (lambda d: d["routing"][1].update(when={}),
     "routing[1].when: no conditions: a rule for every lead belongs in `fallback` (or use `any: true` with real "
     "conditions)"),
    (lambda d: d["routing"].append({**copy.deepcopy(d["routing"][2]), "name": "Again"}),
     "routing[5].when: same conditions as routing[2], which decides first: can never match"),
    (lambda d: d["routing"][1]["when"].update(country=["Narnia"]),
     'routing[1].when.country: "Narnia" is not a country'),
])
def test_rules_that_can_never_match(change, message):
    assert error_of(change) == message


def test_contradictory_bounds_are_fine_with_any():
    data = example()
    data["routing"][1]["when"] = {"employees_gte": 500, "employees_lt": 100, "any": True}
    assert load_rules(data).routing[1].when.any is True


@pytest.mark.parametrize(("change", "message"), [
    (lambda d: d["pools"]["west"]["members"][0].update(weight=0),
     "pools.west.members[0].weight: input should be greater than 0"),
    (lambda d: d["pools"]["west"]["members"][0].update(capacity=-1),
     "pools.west.members[0].capacity: input should be greater than 0"),
    (lambda d: d["scoring"].update(tiers={"hot": 20, "warm": 30}), "scoring.tiers: hot 20 must be ≥ warm 30"),
    (lambda d: d["dedup"].update(review=0.95), "dedup: review 0.95 must be ≤ auto_merge 0.92"),
    (lambda d: d["dedup"].update(auto_merge=1.5), "dedup.auto_merge: input should be less than or equal to 1"),
    (lambda d: d["lifecycle"]["stages"].append("lead"),
     'lifecycle.stages[6]: "lead" is listed twice (first at lifecycle.stages[1])'),
    (lambda d: d["lifecycle"]["rules"].append({"when": {"deal": "lost"}, "set": "churned"}),
     'lifecycle.rules[2].set: "churned" is not one of lifecycle.stages'),
    (lambda d: d["scoring"]["rules"].append({"when": {"tier": ["hot"]}, "points": 5}),
     "scoring.rules[3].when.tier: a scoring rule cannot depend on the score it computes"),
    (lambda d: d["pools"]["west"].update(strategy="random"),
     "pools.west.strategy: input should be 'round_robin', 'weighted' or 'least_loaded'"),
    (lambda d: d.update(version=2), "version: unsupported version 2: this LeadRelay reads version 1"),
    (lambda d: d["routing"][1].update(assign="someone"),
     'routing[1].assign: "someone" is not a target: account_owner, {owner: …}, {pool: …} or {review: true}'),
    (lambda d: d["routing"][1].update(assign={"pool": "west", "owner": "bob@acme.test"}),
     "routing[1].assign: needs exactly one of account_owner, {owner: …}, {pool: …} or {review: true}"),
    (lambda d: d.update(fallback="account_owner"),
     "fallback: account_owner cannot be a fallback (the lead may have no account owner)"),
    (lambda d: d["routing"][1].pop("name"), "routing[1].name: is required"),
])
def test_values_out_of_range_and_malformed_sections(change, message):
    assert error_of(change) == message


def test_several_mistakes_are_reported_at_once():
    def change(d):
        d["owners"][0]["hours"] = "always"
        d["routing"][2]["when"]["postcode"] = ["9a1"]
        d["sla"]["warm"]["first_touch"] = "4 hours"
    assert error_of(change).splitlines() == [
        'owners[0].hours: "always" is not working hours like "Mon-Fri 09:00-17:00" (start before end, segments '
        'separated by commas)',
        'routing[2].when.postcode: "9a1" is not a postcode or range',
        'sla.warm.first_touch: "4 hours" is not a duration (a positive number with m, h or d: 30m, 4h, 2d)']


def test_source_labels_must_be_approved_and_a_sources_section_approves_them():
    message = error_of(lambda d: d["routing"][3]["when"].update(source=["newsletter x"]))
    assert message.startswith('routing[3].when.source: "newsletter x" is not an approved source label (approved: '
                              'web_form, referral, partner,')
    data = example()
    data["sources"] = {"partner": ["reseller"], "referral": [], "Newsletter X": ["nl"]}
    data["routing"][3]["when"]["source"] = ["Reseller", "newsletter-x"]
    assert load_rules(data).routing[3].when.source == ["partner", "Newsletter X"]


def test_rule_values_are_normalized_like_lead_values():
    data = example()
    data["routing"][1]["when"].update(country="United States", state=["California", "or"])
    when = load_rules(data).routing[1].when
    assert (when.country, when.state) == (["US"], ["CA", "OR"])


def test_invalid_yaml_and_a_missing_file_are_rules_errors(tmp_path):
    with pytest.raises(RulesError, match="not valid YAML"):
        load_rules("version: 1\nowners: [\n")
    with pytest.raises(RulesError, match="cannot read rules file"):
        load_rules(tmp_path / "missing.yaml")
    with pytest.raises(RulesError, match="a rule set is a mapping"):
        load_rules("- just\n- a list\n")
