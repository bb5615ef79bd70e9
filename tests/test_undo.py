"""Undoing a merge against the in-memory FakeCRMAdapter: loser back, survivor restored, audited, once."""
from __future__ import annotations

import argparse
import dataclasses
import datetime as dt

import pytest
from sqlalchemy import select

from integration.admin.undo import UndoError, undo_merge
from integration.db import migrate, session_scope
from integration.dedup.index import index_record
from integration.models import Decision, DedupKey, MergeSnapshot, Tenant
from integration.pipeline.duplicates import as_dict
from integration.records import Record
from leadrelay.merges_cli import add_merges_arguments, run_merges
from tests.fakes import FakeCRMAdapter

CREATED = dt.datetime(2026, 3, 2, 9, 30, tzinfo=dt.UTC)
SURVIVOR = {"first_name": "Grace", "last_name": "Hopper", "email": "grace@navy.example", "country": "US"}
LOSER = {"first_name": "Grace", "last_name": "Hopper", "email": "grace+events@navy.example",
         "phone": "+1 202 555 0100", "company": "Navy", "title": "Rear Admiral"}


def snap(record: Record) -> dict:
    return {**as_dict(record), "created_at": record.created_at.isoformat()}


@pytest.fixture()
def db(env):
    migrate(env["DATABASE_URL"])
    with session_scope(env["DATABASE_URL"]) as s:
        s.add_all([Tenant(platform="fake", external_id="A", name="A"), Tenant(platform="fake", external_id="B",
                                                                             name="B")])
    return env["DATABASE_URL"]


def merged(db: str, fake: FakeCRMAdapter, *, email_moved: bool) -> int:
    """Survivor s1 and loser l1 as the CRM left them after merging l1 into s1 (snapshot taken before)."""
    survivor = Record("contact", "s1", dict(SURVIVOR), owner_id="u1", created_at=CREATED)
    loser = Record("contact", "l1", dict(LOSER), owner_id="u2", created_at=CREATED + dt.timedelta(days=1))
    # the native merge fills the survivor's empty fields from the loser (and HubSpot keeps its email)
    after = dataclasses.replace(survivor, fields={**SURVIVOR, "phone": LOSER["phone"], "company": "Navy",
                                                 "title": LOSER["title"]},
                                extra_emails=(LOSER["email"],) if email_moved else ())
    fake.records[("contact", "s1")] = after
    with session_scope(db) as s:
        row = MergeSnapshot(tenant_id=1, object_type="contact", survivor_id="s1", loser_id="l1", score=0.97,
                            survivor_before=snap(survivor), loser_before=snap(loser),
                            merged_fields={"title": LOSER["title"]}, status="merged")
        s.add(row)
        index_record(s, 1, after)
        index_record(s, 1, loser)
        s.flush()
        return row.id


def test_undo_recreates_the_loser_and_restores_the_survivor(db):
    fake = FakeCRMAdapter()
    fake.unique_emails = True  # like HubSpot: the survivor holds the loser's email as an additional one
    snapshot_id = merged(db, fake, email_moved=True)
    with session_scope(db) as s:
        summary = undo_merge(s, 1, snapshot_id, fake)
    with session_scope(db) as s:
        snapshot = s.get(MergeSnapshot, snapshot_id)
        assert (snapshot.status, snapshot.undone_at is not None) == ("undone", True)
        new_id = snapshot.restored_id
        undo = s.scalar(select(Decision).where(Decision.kind == "undo"))
        route = s.scalar(select(Decision).where(Decision.idempotency_key == f"route:contact:{new_id}"))
        indexed = set(s.scalars(select(DedupKey.object_id)))
    restored, survivor = fake.records[("contact", new_id)], fake.records[("contact", "s1")]
    # the unique email is taken off the survivor first, then written back to the re-created record
    assert restored.fields == LOSER and restored.owner_id == "u2"
    assert (survivor.fields, survivor.extra_emails) == (SURVIVOR, ())
    assert summary == (f"Undid merge #{snapshot_id}: l1 re-created as {new_id}; s1 restored (additional emails, "
                       "company, phone, title); every value of the snapshot is back")
    assert (undo.object_id, undo.outcome, undo.reason) == ("l1", f"restored as {new_id}", summary)
    assert route.outcome == "restored"  # the pipeline will not take it for a new lead and merge it back
    assert indexed == {"s1", new_id}


def test_undo_puts_the_email_back_where_the_survivor_does_not_hold_it(db):
    fake = FakeCRMAdapter()
    snapshot_id = merged(db, fake, email_moved=False)
    with session_scope(db) as s:
        summary = undo_merge(s, 1, snapshot_id, fake)
        new_id = s.get(MergeSnapshot, snapshot_id).restored_id
    assert fake.records[("contact", new_id)].fields == LOSER
    assert "could not restore" not in summary


def test_every_value_the_snapshot_holds_comes_back_on_the_survivor(db):
    fake = FakeCRMAdapter()
    snapshot_id = merged(db, fake, email_moved=False)
    after = fake.records[("contact", "s1")]  # edited since the merge: a value the snapshot holds, and a new one
    fake.records[("contact", "s1")] = dataclasses.replace(after, fields={**after.fields, "country": "CA",
                                                                         "city": "Arlington"})
    with session_scope(db) as s:
        undo_merge(s, 1, snapshot_id, fake)
    assert fake.records[("contact", "s1")].fields == {**SURVIVOR, "city": "Arlington"}


def test_the_losers_additional_emails_and_phones_come_back_and_leave_the_survivor(db):
    fake = FakeCRMAdapter()
    fake.unique_emails = True
    survivor = Record("contact", "s1", {"first_name": "Ada"}, owner_id="u1", created_at=CREATED)
    loser = Record("contact", "l1", {"first_name": "Ada", "email": "ada@x.example", "phone": "+1 202 555 0101"},
                   owner_id="u1", created_at=CREATED, extra_emails=("ada@home.example",),
                   extra_phones=("+1 202 555 0102",))
    # like Pipedrive: the survivor had no email or phone, so it took the loser's whole lists
    fake.records[("contact", "s1")] = dataclasses.replace(
        loser, id="s1", extra_emails=("ada@home.example", "ada@new.example"))  # one added since
    with session_scope(db) as s:
        s.add(MergeSnapshot(tenant_id=1, object_type="contact", survivor_id="s1", loser_id="l1", score=0.95,
                            survivor_before=snap(survivor), loser_before=snap(loser), merged_fields={},
                            status="merged"))
        s.flush()
        summary = undo_merge(s, 1, 1, fake)
        new_id = s.get(MergeSnapshot, 1).restored_id
    restored, after = fake.records[("contact", new_id)], fake.records[("contact", "s1")]
    assert (after.fields, after.extra_emails, after.extra_phones) == ({"first_name": "Ada"}, ("ada@new.example",), ())
    assert (restored.fields, restored.extra_emails, restored.extra_phones) == (
        loser.fields, ("ada@home.example",), ("+1 202 555 0102",))
    assert "could not restore" not in summary


def test_an_email_the_crm_refuses_is_left_off_and_said(db):
    fake = FakeCRMAdapter()
    fake.unique_emails = True
    snapshot_id = merged(db, fake, email_moved=False)
    fake.put("contact", "x9", email=LOSER["email"])  # someone else took the address since
    with session_scope(db) as s:
        summary = undo_merge(s, 1, snapshot_id, fake)
        new_id = s.get(MergeSnapshot, snapshot_id).restored_id
    assert fake.records[("contact", new_id)].fields == {k: v for k, v in LOSER.items() if k != "email"}
    assert summary.endswith(f"; could not restore email grace+events@navy.example on {new_id}: the CRM keeps emails "
                            "unique and another record has it (fake 409: grace+events@navy.example already exists)")


def test_an_owner_the_crm_refuses_is_left_off_and_said(db):
    fake = FakeCRMAdapter()
    fake.refused_owners = {"u2"}  # deactivated since the merge
    snapshot_id = merged(db, fake, email_moved=False)
    with session_scope(db) as s:
        summary = undo_merge(s, 1, snapshot_id, fake)
        new_id = s.get(MergeSnapshot, snapshot_id).restored_id
    assert fake.records[("contact", new_id)].fields == LOSER and fake.records[("contact", new_id)].owner_id is None
    assert summary.endswith(f"; could not restore owner u2 on {new_id}: the CRM refused it "
                            "(fake 400: owner u2 is inactive)")


def test_a_second_undo_changes_nothing(db):
    fake = FakeCRMAdapter()
    snapshot_id = merged(db, fake, email_moved=False)
    with session_scope(db) as s:
        undo_merge(s, 1, snapshot_id, fake)
    calls, records = dict(fake.calls), dict(fake.records)
    with session_scope(db) as s:
        again = undo_merge(s, 1, snapshot_id, fake)
        assert len(s.scalars(select(Decision).where(Decision.kind == "undo")).all()) == 1
    assert again.startswith(f"merge #{snapshot_id} was undone already")
    assert (dict(fake.calls), fake.records) == (calls, records)


def test_unknown_tenant_snapshot_or_unmerged_snapshot_is_a_clear_error(db):
    fake = FakeCRMAdapter()
    snapshot_id = merged(db, fake, email_moved=False)
    with session_scope(db) as s:
        with pytest.raises(UndoError, match="no tenant 99"):
            undo_merge(s, 99, snapshot_id, fake)
        with pytest.raises(UndoError, match=f"no merge snapshot {snapshot_id} for tenant 2"):
            undo_merge(s, 2, snapshot_id, fake)  # another tenant's merge
        s.get(MergeSnapshot, snapshot_id).status = "skipped"
        with pytest.raises(UndoError, match="never merged it"):
            undo_merge(s, 1, snapshot_id, fake)
    assert fake.calls["create_record"] == 0


def cli(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_merges_arguments(parser)
    return parser.parse_args(argv)


def test_merges_list_and_an_unknown_undo_on_the_command_line(db, capsys):
    merged(db, FakeCRMAdapter(), email_moved=False)
    assert run_merges(cli()) == 0
    out = capsys.readouterr().out
    assert " s1 " in out and " l1 " in out and "Grace Hopper <grace+events@navy.example>" in out
    assert run_merges(cli("list", "--tenant", "2")) == 0
    assert capsys.readouterr().out.strip() == "no merges yet for tenant 2"
    assert run_merges(cli("undo", "404")) == 1
    assert "no merge snapshot 404" in capsys.readouterr().err
