"""A tenant's own dedup calibration: EM on its records moves the model the way its data says, too few records keep
the prior, the stored row round-trips (SQLite and PostgreSQL), and `leadrelay dedup --explain` reports on a file."""
from __future__ import annotations

import csv

from sqlalchemy import func, select

from integration.db import migrate, session_scope
from integration.dedup import score_pair
from integration.dedup.em import PRIOR, Estimate
from integration.dedup.report import field_shifts
from integration.dedup.tenant import FITTED, PRIOR_KEPT, TOP_SURNAMES, fit, load_scoring, store, tenant_scoring
from integration.models import DedupCalibration, Tenant
from leadrelay.dedup_cli import main as dedup_main

FIRST = ("adam beth carl dana erik fay gus hana ivan jade kurt lena milo nina owen pia quin rosa saul tess umar vera "
         "wade xena yuri zoe abel bree cody dora").split()
LAST = ("smith jones brown khan ng lopez silva okafor weber rossi novak berg dahl moreau fischer kowalski tanaka park "
        "ali cohen").split()
# a pair of one person typed twice: same name and phone, the address left out of the second record
ZED = {"first_name": "Zed", "last_name": "Quarry", "phone": "+1 312 555 0199", "company": "Other Co",
       "street": "9 Elm St", "city": "Chicago", "postcode": "60601", "country": "US"}
ZED_AGAIN = {**ZED, "street": "", "city": "", "postcode": ""}


def office_tenant(offices: int = 60, size: int = 20) -> list[dict]:
    """A B2B tenant: every office's staff share its switchboard, company and street; all are different people."""
    rows = []
    for o in range(offices):
        for k in range(size):
            first, last = FIRST[(k + o) % len(FIRST)], LAST[(k * 7 + o) % len(LAST)]
            rows.append({"id": f"o{o}-{k}", "first_name": first, "last_name": last,
                         "email": f"{first}.{last}.{o}@co{o}.test", "phone": f"+1 617 555 {1000 + o:04d}",
                         "company": f"Company {o} Inc", "street": f"{o + 1} Main St", "city": "Boston",
                         "postcode": "02130", "country": "US"})
    return rows


def _agree(estimate: Estimate | dict, name: str) -> float:
    return field_shifts(Estimate(**estimate) if isinstance(estimate, dict) else estimate)[name]["file"]


def test_em_on_a_switchboard_tenant_makes_a_shared_phone_less_telling_and_first_names_more():
    result = fit(office_tenant())
    assert result.status == FITTED and result.records_used == 1200 and result.pairs_used >= 500
    assert _agree(result.estimate, "phone") < _agree(PRIOR, "phone") - 2   # colleagues share it
    assert _agree(result.estimate, "company") < _agree(PRIOR, "company")
    assert _agree(result.estimate, "first") > _agree(PRIOR, "first")       # it is what tells colleagues apart


def test_too_few_records_keep_the_prior_and_say_why():
    result = fit(office_tenant(offices=3, size=5))
    assert result.status == PRIOR_KEPT and result.estimate is None and result.surnames is None
    assert "at least 500 needed" in result.reason


def _word(n: int) -> str:
    letters = ""
    for _ in range(4):
        n, r = divmod(n, 26)
        letters += chr(97 + r)
    return "q" + letters


def test_surname_shares_are_capped_to_the_most_frequent():
    rows = [{"id": str(i), "first_name": FIRST[i % len(FIRST)], "last_name": _word(i % 6000 if i < 6000 else 7),
             "phone": f"0400{i:06d}"} for i in range(6500)]
    surnames = fit(rows).surnames
    assert surnames["distinct"] == 6000 and len(surnames["share"]) == TOP_SURNAMES
    assert max(surnames["share"], key=surnames["share"].get) == _word(7)
    assert surnames["floor"] == min(surnames["share"].values())


def _tenant(database_url: str) -> int:
    migrate(database_url)
    with session_scope(database_url) as s:
        tenant = Tenant(platform="fake", external_id="A", name="A")
        s.add(tenant)
        s.flush()
        return tenant.id


def test_a_stored_calibration_round_trips_and_moves_the_score(database_url):
    tenant_id = _tenant(database_url)
    result = fit(office_tenant())
    with session_scope(database_url) as s:
        store(s, tenant_id, result)
        store(s, tenant_id, result)   # a re-run replaces the row
    with session_scope(database_url) as s:
        assert s.scalar(select(func.count()).select_from(DedupCalibration)) == 1
        loaded = load_scoring(s, tenant_id)
        assert loaded.estimate == Estimate(**result.estimate)
        before = score_pair(ZED, ZED_AGAIN).score
        with tenant_scoring(s, tenant_id):
            after = score_pair(ZED, ZED_AGAIN).score
    assert before >= 0.92 > after   # on this tenant a shared phone says little: no auto-merge on it


def test_a_tenant_with_a_prior_kept_row_scores_as_before(database_url):
    tenant_id = _tenant(database_url)
    with session_scope(database_url) as s:
        store(s, tenant_id, fit(office_tenant(offices=3, size=5)))
        assert load_scoring(s, tenant_id) is None
        with tenant_scoring(s, tenant_id):
            assert score_pair(ZED, ZED_AGAIN).score == score_pair(ZED, ZED_AGAIN).score
        with tenant_scoring(s, tenant_id + 1):   # no row at all
            inside = score_pair(ZED, ZED_AGAIN).score
    assert inside == score_pair(ZED, ZED_AGAIN).score


def test_explain_reports_blocking_calibration_and_outcomes(tmp_path, capsys):
    path = tmp_path / "leads.csv"
    rows = office_tenant()
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    assert dedup_main(["--explain", str(path)]) == 0
    out = capsys.readouterr().out
    assert "1200 records; matching on first_name, last_name, email, phone, company" in out
    assert "Candidate pairs per 10k records, by blocking key family:" in out
    assert "phone " in out and "Calibration on this file: fitted" in out
    assert "less telling here" in out and "Would merge 0 pairs" in out
