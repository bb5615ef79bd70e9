"""The outbox page: this tenant's messages only, newest first, named leads, the seconds from record creation to
acceptance, the counts (sent, skipped by reason, failed, p50/p95), the filters, the replies with their handoff.
Through the Flask test client, a FakeCRMAdapter as the CRM."""
from __future__ import annotations

import datetime as dt
import re

from integration.models import Decision, Tenant
from integration.models.outreach import InboundMessageRow, OutboundMessage
from tests.test_console_pages import add, login, world  # noqa: F401 (world: a fixture)

T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
ADA = {"first_name": "Ada", "last_name": "Lovelace", "company": "Acme", "email": "ada@acme.test"}


def msg(tenant_id: int, object_id: str, status: str = "sent", seconds: float | None = 10, **over) -> OutboundMessage:
    values = dict(tenant_id=tenant_id, key=f"ack:contact:{object_id}:email", object_type="contact",
                  object_id=object_id, channel="email", sender="smtp", status=status, to_address="ada@acme.test",
                  subject="Thanks, Ada", body="Hi Ada,\nthanks for reaching out.", record_created_at=T0,
                  created_at=T0 + dt.timedelta(seconds=1),
                  accepted_at=T0 + dt.timedelta(seconds=seconds) if seconds is not None else None)
    return OutboundMessage(**{**values, **over})


def route(tenant_id: int, object_id: str, lead: dict) -> Decision:
    return Decision(tenant_id=tenant_id, idempotency_key=f"route:contact:{object_id}", kind="route",
                    object_type="contact", object_id=object_id, outcome="alice@acme.test", reason="r",
                    inputs={"lead": lead, "tier": "hot"}, created_at=T0)


def page(client, tenant_id: int, query: str = "") -> str:
    resp = client.get(f"/console/tenants/{tenant_id}/outbox{query}")
    assert resp.status_code == 200, resp.status_code
    return resp.get_data(as_text=True)


def test_outbox_shows_this_tenants_messages_with_seconds_and_counts(app, env, world):  # noqa: F811
    t = world["T"]
    [other] = add(env, Tenant(platform="pipedrive", external_id="99", name="Tenant O"))
    add(env, route(t, "1", ADA), route(t, "2", {"first_name": "Bob", "last_name": "Baker", "email": "b@x.test"}),
        msg(t, "1", seconds=12), msg(t, "2", seconds=40, key="ack:contact:2:email"),
        msg(t, "3", seconds=100, key="ack:contact:3:email"),
        msg(t, "4", "skipped", None, key="ack:contact:4:email", reason="opted_out", subject=None, body=None),
        msg(t, "5", "skipped", None, key="ack:contact:5:email", reason="opted_out", subject=None, body=None),
        msg(t, "6", "skipped", None, key="ack:contact:6:sms", channel="sms", reason="quiet_hours", body=None,
            subject=None),
        msg(t, "7", "failed", None, key="ack:contact:7:email", reason="sender_error"),
        msg(other, "1", seconds=3, to_address="secret@other.test", subject="Other tenant's message"))
    html = page(login(app, world, "victor"), t)  # a viewer may read
    assert "Other tenant&#39;s message" not in html and "secret@other.test" not in html
    assert "Ada Lovelace" in html and "Bob Baker" in html  # names, not ids
    rows = re.findall(r'<tr data-message="\d+" data-status="(\w+)">', html)
    assert len(rows) == 7
    ada = html[html.index("Ada Lovelace"):]
    assert re.search(r'data-seconds>12\.0 s<', ada)
    assert re.search(r'data-count="sent">3<', html) and re.search(r'data-count="failed">1<', html)
    assert re.search(r'data-count="skipped">3<', html)
    assert "the lead opted out in the CRM</span>: <strong>2</strong>" in html
    assert "quiet hours in the lead&#39;s time zone</span>: <strong>1</strong>" in html
    # nearest rank of 12, 40, 100: p50 = 40, p95 = 100
    assert re.search(r'data-count="p50">40\.0 s<', html) and re.search(r'data-count="p95">100 s<', html)
    # status filter narrows the list, not the counts
    skipped = page(login(app, world, "victor"), t, "?status=skipped")
    assert re.findall(r'data-status="(\w+)"', skipped) == ["skipped"] * 3
    assert re.search(r'data-count="sent">3<', skipped)


def test_date_filter_and_bad_input(app, env, world):  # noqa: F811
    t = world["T"]
    add(env, msg(t, "1"), msg(t, "2", key="ack:contact:2:email", created_at=T0 + dt.timedelta(days=3)))
    alice = login(app, world, "alice")
    html = page(alice, t, "?start=2026-03-04&end=2026-03-06")
    assert len(re.findall(r'<tr data-message=', html)) == 1 and re.search(r'data-count="sent">1<', html)
    for bad in ("?start=2026-13-01", "?status=nope", "?before=-1", "?start=2026-03-05&end=2026-03-01"):
        assert alice.get(f"/console/tenants/{t}/outbox{bad}").status_code == 400, bad


def test_pagination_is_newest_first(app, env, world):  # noqa: F811
    t = world["T"]
    add(env, *[msg(t, str(i), key=f"ack:contact:{i}:email") for i in range(55)])
    alice = login(app, world, "alice")
    first = page(alice, t)
    ids = [int(i) for i in re.findall(r'<tr data-message="(\d+)"', first)]
    assert len(ids) == 50 and ids == sorted(ids, reverse=True)
    older = re.search(r'href="([^"]+)">Older', first).group(1).replace("&amp;", "&")
    second = alice.get(older).get_data(as_text=True)
    rest = [int(i) for i in re.findall(r'<tr data-message="(\d+)"', second)]
    assert len(rest) == 5 and max(rest) < min(ids)


def test_replies_show_the_handoff_outcome_and_audit(app, env, world):  # noqa: F811
    t = world["T"]
    [other] = add(env, Tenant(platform="pipedrive", external_id="98", name="Tenant O"))
    add(env, route(t, "1", ADA),
        InboundMessageRow(tenant_id=t, key="email:r1", channel="email", object_type="contact", object_id="1",
                          sender="ada@acme.test", subject="Re: Thanks", text="How much does it cost?",
                          received_at=T0, handled_at=T0,
                          outcome={"matched": True, "lead": "contact:1", "rules": [
                              {"rule": "Pricing", "why": "Pricing: matched “how much”", "words": ["how much"],
                               "actions": {"notify_owner": "task 1", "pause_cadence": "0 steps cancelled"}}]}),
        InboundMessageRow(tenant_id=t, key="sms:r3", channel="sms", sender="+15550100", text="STOP",
                          received_at=T0, handled_at=T0,
                          outcome={"matched": False, "why": "no single lead has the sender '+15550100'"}),
        InboundMessageRow(tenant_id=other, key="email:r2", channel="email", object_type="contact", object_id="1",
                          sender="x@other.test", text="Other tenant's reply", received_at=T0),
        Decision(tenant_id=t, idempotency_key="handoff:email:r1", kind="handoff", object_type="contact",
                 object_id="1", outcome="notify_owner", reason="Pricing: matched “how much”", inputs={}))
    html = page(login(app, world, "victor"), t)
    assert "How much does it cost?" in html and "Other tenant" not in html
    assert "<strong>Pricing</strong>: owner notified, cadence paused" in html and "Pricing: matched “how much”" in html
    assert "Not matched to a lead: no single lead has the sender" in html
    assert "Ada Lovelace" in html
