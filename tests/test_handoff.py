"""Handoff rules: conditions (phrases, opt-outs in four languages, tone, quoted history), each action on the fake
CRM, exactly once, and the new-lead rules that keep automation away from referrals and customers."""
from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from integration.db import session_scope
from integration.errors import CRMValidationError
from integration.followup.cadences import take_step
from integration.followup.sla import check_timer, open_timer
from integration.models import AutomationHold, Decision, ReviewItem, RuleSetVersion, SlaTimer, Tenant
from integration.outreach import handoff, tone
from integration.outreach.common import NewLead
from integration.records import CRMUser
from integration.routing.state import InMemoryPoolState
from integration.rules import load_rules
from integration.work import Work
from tests.fakes import FakeFollowUpCRM

RULES = {
    "version": 1, "timezone": "UTC",
    "owners": [{"email": "ana@acme.test"}],
    "routing": [{"name": "All", "when": {"has_email": True}, "assign": {"owner": "ana@acme.test"}}],
    "sla": {"hot": {"first_touch": "5m"}},
    "cadences": {"hot": [{"after": "1d", "task": "email"}, {"after": "3d", "task": "call"}]},
    "handoff": [
        {"name": "Opt-out", "trigger": "reply", "when": {"opt_out": True}, "actions": ["do_not_contact"]},
        {"name": "Pricing", "trigger": "reply", "when": {"phrases": ["pricing", "how much", "cost"]},
         "actions": ["notify_owner", "pause_cadence"], "within": "15m", "say": "Asked about pricing"},
        {"name": "Upset", "trigger": "reply", "when": {"tone_below": -0.5}, "actions": ["review", "stop_cadence"]},
        {"name": "Referral", "trigger": "new_lead", "when": {"source": ["referral"], "lifecycle": ["customer"],
                                                              "any": True}, "actions": ["skip_automation"]},
    ],
}
LEAD = {"id": "c1", "first_name": "Grace", "last_name": "Hopper", "email": "grace@navy.example"}


class Clock:
    def __init__(self) -> None:
        self.at = dt.datetime.now(dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.at


@pytest.fixture()
def world(app, env, wire_adapters):
    fake = FakeFollowUpCRM()
    fake.users = [CRMUser(id="u1", email="ana@acme.test", name="Ana")]
    fake.put("contact", "c1", email=LEAD["email"], owner_id="u1", lifecycle_stage="lead")
    with session_scope(env["DATABASE_URL"]) as s:
        tenant = Tenant(platform="fake", external_id="A", name="A")
        s.add(tenant)
        s.flush()
        s.add(RuleSetVersion(tenant_id=tenant.id, version=1, status="published", body=RULES))
        s.add(Decision(tenant_id=tenant.id, idempotency_key="route:contact:c1", kind="route", object_type="contact",
                       object_id="c1", outcome="ana@acme.test", reason="Rule 'All'",
                       inputs={"lead": LEAD, "tier": "hot", "owner_id": "u1", "rule": "All", "score": 10}))
        tenant_id = tenant.id
    wire_adapters(lambda _tenant_id: fake)
    with session_scope(env["DATABASE_URL"]) as session:
        planned: list[tuple] = []
        clock = Clock()
        work = Work(session, tenant_id, fake, load_rules(RULES), lambda: fake.users, InMemoryPoolState(),
                    plan=lambda name, t, args, at, job_id: planned.append((name, args, at, job_id)), now=clock)
        yield SimpleNamespace(fake=fake, work=work, session=session, tenant_id=tenant_id, clock=clock)


LEAD_REF = handoff.Lead("contact", "c1", "u1", "Grace Hopper")


def reply(world, text: str, key: str = "email:m1") -> dict[str, dict[str, str]]:
    done = {}
    for match in handoff.evaluate(world.work.rules, "reply", {"tier": "hot"}, text):
        done[match.rule.name] = handoff.apply(world.work, match, LEAD_REF, text, key).actions
    return done


def holds(world) -> list[str]:
    return sorted(world.session.scalars(select(AutomationHold.kind)))


# conditions -----------------------------------------------------------------------------------------------------

def test_phrases_match_whole_words_case_insensitively_and_show_the_words_as_written():
    assert tone.find_phrases("How MUCH would the Pricing be?", ["pricing", "how much", "price"]) == [
        "Pricing", "How MUCH"]
    assert tone.find_phrases("a nonstop pricingplan", ["stop", "pricing"]) == []
    assert tone.find_phrases("Größe: Straße prüfen", ["STRASSE", "straße"]) == ["Straße"]


@pytest.mark.parametrize(("text", "words"), [
    ("Please unsubscribe me.", ["unsubscribe"]),
    ("Bitte abmelden, keine E-Mails mehr!", ["abmelden", "keine E-Mails mehr"]),
    ("Merci de ne plus me contacter", ["ne plus me contacter"]),
    ("Por favor, quiero darme de baja", ["darme de baja"]),
    ("STOP", ["STOP"]),
    ("Don’t email me again", ["Don't email"]),
])
def test_opt_outs_in_four_languages(text, words):
    assert tone.opt_outs(text) == words


def test_a_word_inside_a_sentence_is_no_sms_keyword_and_a_stopwatch_no_stop():
    assert tone.opt_outs("I want to cancel my meeting") == []
    assert tone.opt_outs("bought a stopwatch") == []


def test_negative_tone_gives_the_score_and_the_words_that_carried_it():
    mood = tone.tone("This is the worst service, I am furious")
    assert mood.compound < -0.5
    assert mood.words == ("worst", "furious")
    assert tone.tone("Thanks, that sounds great").compound > 0


def test_the_quoted_history_is_not_the_leads_words():
    text = ("Sounds good, see you then.\n\nOn Mon, Dec 1, 2026 at 10:00 AM Ana <ana@acme.test> wrote:\n"
            "> What is your pricing? Unsubscribe here: …\n")
    assert tone.lead_words(text) == "Sounds good, see you then."
    assert tone.lead_words("ok\n> stop\nthanks") == "ok\nthanks"
    assert tone.lead_words("Danke\nAm 01.12.2026 um 10:00 schrieb Ana <a@b.c>:\nStopp") == "Danke"
    assert tone.lead_words("On price: Ana wrote: 20 seats, how much?") == "On price: Ana wrote: 20 seats, how much?"
    assert tone.lead_words("Yes\nOn Mon, Dec 1, 2026 at 10:00 AM Ana <\nana@acme.test> wrote:\n> hi") == "Yes"


def test_evaluate_names_each_rule_with_the_matched_words_and_a_one_line_why(world):
    matches = handoff.evaluate(world.work.rules, "reply", {}, "How much is it? This is terrible and awful.")
    assert [m.rule.name for m in matches] == ["Pricing", "Upset"]
    assert matches[0].words == ("How much",)
    assert matches[0].why == "Handoff rule 'Pricing': said 'How much'"
    assert matches[1].matched["tone_below"]["words"] == ["terrible", "awful"]
    assert handoff.evaluate(world.work.rules, "reply", {}, "Fine\n> pricing, stop, terrible") == []


# actions --------------------------------------------------------------------------------------------------------

def cadence_planned(world) -> SlaTimer:
    timer = open_timer(world.work, "contact", "c1", world.fake.users[0], "hot", LEAD, "Rule 'All'")
    world.fake.complete_task(timer.task_id)
    check_timer(world.work, timer)
    step = world.session.scalars(select(SlaTimer).where(SlaTimer.key.startswith("cadence:"))).one()
    assert step.status == "planned"
    return step


def test_a_pricing_question_gives_the_owner_a_high_priority_task_due_within_and_pauses_the_cadence(world):
    step = cadence_planned(world)
    done = reply(world, "Hi, what's the pricing for 20 seats?")
    assert list(done) == ["Pricing"]
    task = world.fake.specs[max(world.fake.specs, key=lambda i: int(i[1:]))]
    assert task.subject == "Asked about pricing: reply within 15 minutes"
    assert (task.priority, task.owner_id, task.record_id) == ("high", "u1", "c1")
    assert task.due_at == world.clock() + dt.timedelta(minutes=15)
    assert "\"Hi, what's the pricing for 20 seats?\"" in task.body and "'pricing'" in task.body
    assert step.status == "cancelled"
    assert holds(world) == ["paused"]
    world.clock.at += dt.timedelta(days=1)
    assert take_step(world.work, step) == "stale"


def test_an_opt_out_marks_the_record_do_not_contact_once_and_stops_everything(world):
    step = cadence_planned(world)
    reply(world, "Bitte abmelden.")
    reply(world, "Bitte abmelden.")  # the same reply read again
    assert world.fake.calls["set_do_not_contact"] == 1
    assert world.fake.records[("contact", "c1")].fields["email_opt_out"] is True
    assert holds(world) == ["do_not_contact", "stop"]
    assert step.status == "cancelled"
    audit = world.session.scalars(select(Decision).where(Decision.kind == "handoff")).all()
    assert [(d.outcome, d.inputs["text"], d.inputs["words"]) for d in audit] == [
        ("do_not_contact", "Bitte abmelden.", ["abmelden"])]


def test_an_opt_out_the_crm_refuses_to_mark_still_stops_everything_and_asks_a_person(world):
    """HubSpot without the unsubscribe scope, Pipedrive without Campaigns: LeadRelay's own holds stand, and a review
    item says to mark the record by hand."""
    step = cadence_planned(world)

    def refuse(object_type, record_id):
        world.fake.calls["set_do_not_contact"] += 1
        raise CRMValidationError("missing scope subscriptions-status-write")

    world.fake.set_do_not_contact = refuse
    reply(world, "please unsubscribe me")
    assert world.fake.calls["set_do_not_contact"] == 1
    assert holds(world) == ["do_not_contact", "stop"]
    assert step.status == "cancelled"
    item = world.session.scalars(select(ReviewItem)).one()
    assert "the CRM refused the do-not-contact mark" in item.reason and "Mark the record by hand" in item.reason


def test_a_negative_reply_goes_to_review_with_its_text_and_stops_the_cadence(world):
    reply(world, "Your product is terrible and I hate these emails")
    item = world.session.scalars(select(ReviewItem)).one()
    assert (item.kind, item.object_id) == ("handoff", "c1")
    assert item.payload["text"] == "Your product is terrible and I hate these emails"
    assert item.reason == ("Handoff rule 'Upset': tone -0.78 below -0.50 (terrible, hate). The lead wrote: "
                           "\"Your product is terrible and I hate these emails\"")
    assert holds(world) == ["stop"]


def test_a_cadence_is_never_started_for_a_held_lead(world):
    reply(world, "unsubscribe")
    timer = open_timer(world.work, "contact", "c1", world.fake.users[0], "hot", LEAD, "Rule 'All'")
    world.fake.complete_task(timer.task_id)
    check_timer(world.work, timer)
    assert world.session.scalars(select(SlaTimer).where(SlaTimer.key.startswith("cadence:"))).all() == []


def test_a_re_read_reply_changes_nothing(world):
    reply(world, "How much does it cost?")
    tasks, decisions = len(world.fake.specs), world.session.scalars(select(Decision.id)).all()
    again = reply(world, "How much does it cost?")
    assert again == {"Pricing": {"notify_owner": "", "pause_cadence": ""}}
    assert len(world.fake.specs) == tasks
    assert world.session.scalars(select(Decision.id)).all() == decisions


def test_a_crm_error_gives_the_claim_back_so_the_retry_acts(world):
    world.fake.rate_limited_calls = 1
    with pytest.raises(Exception, match="fake 429"):
        reply(world, "pricing?")
    assert reply(world, "pricing?")["Pricing"]["notify_owner"] == "task created"
    assert world.fake.calls["create_task"] == 2


# new leads ------------------------------------------------------------------------------------------------------

def new_lead(object_id: str, source: str | None, stage: str = "lead") -> NewLead:
    return NewLead("contact", object_id, CRMUser(id="u1", email="ana@acme.test", name="Ana"), "hot", 70, "All",
                   facts={"first_name": "Pat", "source": source}, record_fields={"lifecycle_stage": stage})


def test_a_referral_and_a_customer_get_a_skip_automation_hold_and_a_web_lead_none(world):
    handoff.on_new_leads(world.work, [new_lead("r1", "Referral"), new_lead("k1", "web", "customer"),
                                      new_lead("w1", "web")])
    rows = world.session.scalars(select(AutomationHold).order_by(AutomationHold.object_id)).all()
    assert [(h.object_id, h.kind, h.rule) for h in rows] == [("k1", "skip_automation", "Referral"),
                                                             ("r1", "skip_automation", "Referral")]
    assert rows[1].reason == "Handoff rule 'Referral': source referral"
    handoff.on_new_leads(world.work, [new_lead("r1", "referral")])  # replayed
    assert len(world.session.scalars(select(Decision.id).where(Decision.kind == "handoff")).all()) == 2
    assert len(world.session.scalars(select(AutomationHold.id)).all()) == 2


def test_a_planned_step_is_not_created_once_any_hold_is_on_the_lead(world):
    from integration.outreach.common import add_hold

    step = cadence_planned(world)
    add_hold(world.session, world.tenant_id, "contact", "c1", "skip_automation", "a referral", "Referral")
    world.clock.at += dt.timedelta(days=1)
    assert take_step(world.work, step) == "paused"
    assert step.status == "cancelled"
    assert world.fake.calls["create_task"] == 1  # the SLA task only
