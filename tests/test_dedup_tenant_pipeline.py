"""The live pipeline scores with the tenant's stored calibration: a pair's score moves the way the tenant's records
say, none stored scores as before, and colleagues, family members and namesakes are still never merged under a
calibration fitted on a tenant full of them.

Leads arrive through the real pipeline (process_records, as the drain calls it) with the in-memory FakeCRMAdapter.
"""
from __future__ import annotations

import pytest
from sqlalchemy import event, select
from sqlalchemy.engine import Engine

from integration.db import session_scope
from integration.dedup.tenant import FITTED, fit, store
from integration.models import Decision, MergeSnapshot
from integration.pipeline.flow import process_records
from tests.test_dedup_tenant_calibration import FIRST, LAST, ZED, ZED_AGAIN, office_tenant
from tests.test_pipeline_merge_safety import NORA, TWO_PEOPLE, arrive, fake_crm_with_rules, merges_and_reviews


@pytest.fixture()
def crm(app, env, wire_adapters):
    return fake_crm_with_rules(env, wire_adapters)


def calibrate(env, tenant_id: int, rows: list[dict]) -> None:
    result = fit(rows)
    assert result.status == FITTED
    with session_scope(env["DATABASE_URL"]) as s:
        store(s, tenant_id, result)


def households_and_namesakes() -> list[dict]:
    """Families on one phone and street (one last name, several first names) and namesakes far apart."""
    rows = []
    for h in range(150):
        last = LAST[h % len(LAST)] + "son" * (h // len(LAST) % 3)
        for k in range(4):
            rows.append({"id": f"h{h}-{k}", "first_name": FIRST[(h + 5 * k) % len(FIRST)], "last_name": last,
                         "phone": f"04{h:08d}", "street": f"{h + 1} Ramsay Place", "city": "Garbutt",
                         "postcode": "2260", "country": "AU"})
    for n in range(200):
        rows.append({"id": f"n{n}", "first_name": FIRST[n % 6], "last_name": LAST[n % 4], "phone": f"05{n:08d}",
                     "email": f"person{n}@mail{n}.test", "city": f"Town {n}", "country": "AU"})
    return rows


def test_without_a_calibration_the_same_person_on_one_phone_is_merged(crm, env):
    arrive(env, crm, "old", ZED)
    arrive(env, crm, "new", ZED_AGAIN)
    assert merges_and_reviews(env) == (1, 0)


def test_on_a_switchboard_tenant_a_shared_phone_no_longer_merges(crm, env):
    calibrate(env, crm.tenant_id, office_tenant())
    arrive(env, crm, "old", ZED)
    arrive(env, crm, "new", ZED_AGAIN)
    assert merges_and_reviews(env)[0] == 0 and crm.calls["merge"] == 0
    with session_scope(env["DATABASE_URL"]) as s:
        assert s.scalar(select(MergeSnapshot)) is None
        assert s.scalar(select(Decision).where(Decision.kind == "dedup")) is None


# Two tenants full of look-alikes. EM reads them in opposite ways: colleagues on switchboards make a shared phone
# say little; families on one phone and street look like people typed twice, so EM makes a shared phone and street
# say more (the dangerous direction: the caps, not the weights, keep such pairs apart).
TENANTS = {"switchboards": office_tenant, "households and namesakes": households_and_namesakes}


@pytest.mark.parametrize("tenant", TENANTS)
@pytest.mark.parametrize(("existing", "new"), list(TWO_PEOPLE.values()), ids=list(TWO_PEOPLE))
def test_two_people_are_never_merged_under_a_calibration_fitted_on_such_records(crm, env, existing, new, tenant):
    calibrate(env, crm.tenant_id, TENANTS[tenant]())
    arrive(env, crm, "old", existing)
    arrive(env, crm, "new", new)
    assert crm.calls["merge"] == 0 and merges_and_reviews(env)[0] == 0


def test_a_person_typed_again_still_merges_under_the_household_calibration(crm, env):
    # the control: the calibration does not stop every merge, so "never merged" above is the caps' doing
    calibrate(env, crm.tenant_id, households_and_namesakes())
    arrive(env, crm, "old", NORA)
    arrive(env, crm, "new", {**NORA, "first_name": "nora", "phone": "+61 407 112 233", "street": "14 Banksia St"})
    assert merges_and_reviews(env)[0] == 1


def test_a_tenant_without_duplicates_still_merges_one_person_typed_again(crm, env):
    # on the switchboard tenant every candidate pair is two people: EM alone would score any pair near 0
    calibrate(env, crm.tenant_id, office_tenant())
    arrive(env, crm, "old", NORA)
    arrive(env, crm, "new", {**NORA, "first_name": "nora", "phone": "+61 407 112 233", "street": "14 Banksia St"})
    assert merges_and_reviews(env)[0] == 1


def test_a_batch_reads_the_calibration_once(crm, env):
    calibrate(env, crm.tenant_id, households_and_namesakes())
    arrive(env, crm, "old", NORA)
    for n in range(3):
        crm.put("contact", f"new{n}", **{**NORA, "email": f"nora{n}@quill.test"})
    reads = []

    def count(_conn, _cursor, statement, *_args):
        if "FROM dedup_calibrations" in statement:
            reads.append(statement)

    event.listen(Engine, "before_cursor_execute", count)
    try:
        with session_scope(env["DATABASE_URL"]) as s:
            process_records(s, crm.tenant_id, crm, "contact",
                            [crm.records[("contact", f"new{n}")] for n in range(3)], gone=[])
    finally:
        event.remove(Engine, "before_cursor_execute", count)
    assert len(reads) == 1 and merges_and_reviews(env)[1] >= 1   # three leads scored, one read
