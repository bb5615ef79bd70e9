"""Calibration from a file's own records (Fellegi–Sunter EM, term frequencies of last names): no labels needed."""
from __future__ import annotations

from integration.dedup import em, score_pair
from integration.dedup.devsets import load_dev_set
from integration.dedup.features import TF_CAP, Levels, compare, count_surnames, surname_frequencies, surname_tf
from integration.dedup.model import calibrated, raw_probability
from integration.dedup.prepare import prepare

# one person typed twice with the first name replaced: common in typed lists, rare in B2B exports
REPLACED_FIRST = Levels("different", "exact", False, "missing", "equal", "missing", "equal", "equal", "equal")


def test_a_file_where_replaced_first_names_are_common_learns_it():
    tenant = em.estimate(em.sample_levels(load_dev_set("febrl1")))
    assert tenant.m["first"]["different"] > em.PRIOR.m["first"]["different"]
    assert em.shift(tenant)(REPLACED_FIRST) > 0
    with calibrated(em.shift(tenant)):
        moved = raw_probability(REPLACED_FIRST)
    assert moved > raw_probability(REPLACED_FIRST)   # the cap (0.80, review) still holds it


def test_the_prior_estimate_moves_nothing():
    assert em.shift(em.PRIOR)(REPLACED_FIRST) == 0.0
    assert em.estimate([]) is em.PRIOR


def test_a_missing_value_weighs_nothing_either_way():
    bare = Levels("missing", "missing", False, "missing", "missing", "missing", "missing", "missing", "missing")
    assert em.weight(em.PRIOR, bare) == 0.0


def test_a_small_file_is_scored_by_the_prior_model_alone():
    a = {"id": "1", "first_name": "Nora", "last_name": "Quill", "phone": "0407112233", "country": "AU"}
    b = {**a, "id": "2", "first_name": "Norah"}
    with em.tenant_calibration([a, b]):
        inside = score_pair(a, b).score
    assert inside == score_pair(a, b).score


def test_repeated_rows_count_once():
    row = {"first_name": "Otto", "last_name": "Brandt", "phone": "0403550817", "country": "AU"}
    assert len(em.sample_levels([{**row, "id": str(k)} for k in range(300)])) == 1


def test_a_shared_rare_last_name_counts_more_than_a_common_one():
    surnames = count_surnames(["smith"] * 300 + [f"name{k}" for k in range(700)])
    pair = {"first_name": "Ann", "phone": "0407112233", "street": "14 banksia street", "country": "AU"}
    with surname_frequencies(surnames):
        assert surname_tf("smith") == -TF_CAP                 # 30% of the records: worth less than average
        assert surname_tf("name7") == TF_CAP                  # one record in a thousand: worth more
        assert surname_tf("unseen") == 0.0
        common = compare(prepare({**pair, "last_name": "Smith"}), prepare({**pair, "last_name": "Smith"}))
        rare = compare(prepare({**pair, "last_name": "Name7"}), prepare({**pair, "last_name": "Name7"}))
        assert raw_probability(common) < raw_probability(rare)
    assert surname_tf("smith") == 0.0                          # outside the batch: no frequencies known


def test_surname_frequencies_need_enough_distinct_records():
    rows = [{"id": str(k), "last_name": "Smith", "first_name": "Ann"} for k in range(2000)]
    assert em.batch_surnames(*em._distinct(rows)) is None      # one record typed 2,000 times
