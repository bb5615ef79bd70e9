"""`leadrelay dedup` end to end on small files, and the issue's Done-when on leads-dev.csv."""
from __future__ import annotations

import argparse
import io

import pytest

from leadrelay import dedup_cli, dedup_eval
from leadrelay.dedup_cli import ProgressReport, add_dedup_arguments, read_leads, run_dedup
from tests.conftest import ROOT

SMALL = ROOT / "tests" / "fixtures" / "dedup" / "leads-small.csv"
LEADS_DEV = ROOT.parent / "shared" / "data" / "dedup" / "leads-dev.csv"


def run(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    add_dedup_arguments(parser)
    return run_dedup(parser.parse_args(list(argv)))


def test_writes_one_row_per_flagged_pair(tmp_path):
    out = tmp_path / "pairs.csv"
    assert run("--input", str(SMALL), "--output", str(out)) == 0
    assert out.read_text() == ("id_a,id_b,score,decision\n"
                               "A1,A3,0.9966,merge\n"
                               "A1,A2,0.9913,merge\n"
                               "A2,A3,0.9875,merge\n"
                               "D1,D2,0.9000,review\n")


def test_rules_thresholds_change_the_decisions(tmp_path):
    rules = tmp_path / "rules.yaml"
    rules.write_text("version: 1\nrouting: []\ndedup:\n  auto_merge: 0.995\n  review: 0.85\n  keep: oldest\n")
    out = tmp_path / "pairs.csv"
    assert run("--input", str(SMALL), "--output", str(out), "--rules", str(rules)) == 0
    assert out.read_text() == ("id_a,id_b,score,decision\n"
                               "A1,A3,0.9966,merge\n"
                               "A1,A2,0.9913,review\n"
                               "A2,A3,0.9875,review\n"
                               "D1,D2,0.9000,review\n")


def test_missing_columns_are_named(tmp_path, capsys):
    bad = tmp_path / "leads.csv"
    bad.write_text("first_name,last_name,email\nAnn,Lee,ann@acme.co\n")
    assert run("--input", str(bad), "--output", str(tmp_path / "out.csv")) == 2
    assert capsys.readouterr().err == f"leadrelay dedup: error: {bad}: missing required column(s): id\n"
    assert not (tmp_path / "out.csv").exists()


def test_a_file_with_nothing_to_match_on_is_refused(tmp_path, capsys):
    bad = tmp_path / "leads.csv"
    bad.write_text("id,source\n1,Web Form\n")
    assert run("--input", str(bad), "--output", str(tmp_path / "out.csv")) == 2
    assert capsys.readouterr().err.startswith(f"leadrelay dedup: error: {bad}: no column to match on (known: ")


def test_any_subset_of_the_columns_is_matched_and_named(tmp_path, capsys):
    leads, out = tmp_path / "leads.csv", tmp_path / "out.csv"
    leads.write_text("id,first_name,last_name,phone\n"
                     "1,Otto,Brandt,0403550817\n2,Otto,Brandt,0403550817\n3,Ivy,Marsh,0409001122\n")
    assert run("--input", str(leads), "--output", str(out)) == 0
    assert capsys.readouterr().err.splitlines()[0] == (
        "leadrelay dedup: matching on first_name, last_name, phone "
        "(not in the file: email, company, street, city, postcode, state, country)")
    assert [line.split(",")[::3] for line in out.read_text().splitlines()[1:]] == [["1", "merge"]]


def test_bad_rules_are_refused_with_the_path(tmp_path, capsys):
    rules = tmp_path / "rules.yaml"
    rules.write_text("dedup:\n  auto_merge: 1.5\n")
    assert run("--input", str(SMALL), "--output", str(tmp_path / "out.csv"), "--rules", str(rules)) == 2
    assert capsys.readouterr().err == "leadrelay dedup: error: dedup.auto_merge: 1.5 is not a number between 0 and 1\n"


def test_duplicate_ids_are_refused(tmp_path):
    leads = tmp_path / "leads.csv"
    leads.write_text(SMALL.read_text() + SMALL.read_text().splitlines()[1] + "\n")
    with pytest.raises(dedup_cli.InputError, match=r"line 13: duplicate id 'A1'$"):
        read_leads(str(leads))


def test_progress_is_plain_lines_off_a_terminal():
    stream = io.StringIO()
    report = ProgressReport(stream)
    report("scoring", 0, 10)
    report("scoring", 5, 10)      # within the interval: not repeated
    report("scoring", 10, 10)
    assert stream.getvalue() == "dedup: scoring 0/10 (0%)\ndedup: scoring 10/10 (100%)\n"


@pytest.mark.skipif(not LEADS_DEV.exists(), reason="shared leads-dev.csv not present")
def test_leads_dev_meets_the_done_when_targets():
    rows = read_leads(str(LEADS_DEV), extra=("entity",))
    result = dedup_eval.evaluate(rows, dedup_eval.find_duplicates(rows, 0.92, 0.70))
    assert result["merge_precision"] >= 0.998
    assert result["flagged_recall"] >= 0.97
