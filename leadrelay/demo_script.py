"""Who the demo sends, and in which order: a few people chosen so one run shows every capability, among random ones.

The demo rules (integration/rules/demo_rules.yaml) give 45 points to a lead from a target account and 15 to one
with a phone number, so a target-account lead with a phone scores 60: hot, a call task due in 5 minutes.
The adapters read email, phone, name, company and address (HubSpot, Salesforce), Salesforce also the lead source;
Pipedrive persons carry no address (LeadRelay takes the country from an international phone number), so every
condition the story relies on holds on all three CRMs.

Per CRM, in this order (roles):
- hot_breached: a hot lead from the UK → pool "international" (round-robin). Nobody calls: the SLA is breached,
  the manager is told, the lead is reassigned in the pool, and the new owner calls in time.
- hot_met: a hot lead from Japan → territory rule "Asia Pacific"; its owner calls within the 5 minutes.
- territory: a lead from Berlin → territory rule "DACH".
- merge_original / review_original: people who come back later (merge_twin, review_twin).
- account_owner: a lead whose email domain is a company that exists in the CRM with an owner (created by the
  demo "as a user" before LeadRelay is installed) → rule "Existing account owner", though the lead is from
  California; then a deal with that person is won → lifecycle stage customer.
- merge_twin: the same person again, same email in other case (HubSpot: a plus address, since HubSpot refuses a
  second contact with the same email): a sure duplicate, merged.
- review_twin: the same name and phone at the same company, but a free-mail address: scored between the rule
  set's review (0.70) and auto_merge (0.92) thresholds, so it waits in review.
"""
from __future__ import annotations

import dataclasses
import random
from dataclasses import dataclass

from leadrelay import demo_flow
from leadrelay.demo_crm import Company
from leadrelay.demo_flow import FIRST, LAST, PLACES

TARGET_DOMAINS = ("soylent.example", "initrode.example")  # demo_rules.yaml scoring "target account"
ACCOUNT = Company("Vandelay Industries", "vandelay.example")
ACCOUNT_OWNER = "drew.tanaka@example.com"


@dataclass(frozen=True)
class Person:
    role: str  # see the module docstring; "filler" for the random ones, "duplicate" for their random twins
    first: str
    last: str
    email: str
    phone: str
    country: str
    state: str = ""
    postcode: str = ""
    company: str = ""

    @property
    def name(self) -> str:
        return f"{self.first} {self.last}"


STORY = [  # the order within one CRM's leads; twins come after a few random leads (their originals are indexed)
    Person("hot_breached", "Annie", "Easley", "annie.easley@soylent.example", "+44 20 7946 0101", "GB", "",
           "EC1A 1BB", "Soylent"),
    Person("hot_met", "Mary", "Jackson", "mary.jackson@initrode.example", "+81 90 5555 0202", "JP", "", "100-0001",
           "Initrode"),
    Person("territory", "Karl", "Benz", "karl.benz@benzwerke.example", "+49 30 5550 0303", "DE", "", "10115",
           "Benz Werke"),
    Person("merge_original", "Dorothy", "Vaughan", "dorothy.vaughan@vaughanlabs.example", "+1 212 555 0404", "US",
           "NY", "10001", "Vaughan Labs"),
    Person("review_original", "Evelyn", "Boyd", "evelyn.boyd@boydanalytics.example", "+1 212 555 0505", "US", "NY",
           "10001", "Boyd Analytics"),
    # sent after a few random leads: the company was created before the install, but HubSpot's search (how
    # LeadRelay finds it) may lag behind writes, and a miss is remembered for two minutes
    Person("account_owner", "Elaine", "Benes", "elaine.benes@vandelay.example", "+1 415 555 0606", "US", "CA",
           "94105", ACCOUNT.name),
]
TWINS = {"merge_twin": "merge_original", "review_twin": "review_original"}
RANDOM_BEFORE = {"account_owner": 2, "merge_twin": 1, "review_twin": 2}  # random leads sent before each of these


def twin(role: str, original: Person, platform: str) -> Person:
    if role == "merge_twin":  # a sure duplicate: the same email (HubSpot: its plus address), the same phone
        email = original.email.replace("@", "+demo@") if platform == "hubspot" else original.email.upper()
        return Person(role, original.first, original.last, email, original.phone, original.country, original.state,
                      original.postcode, original.company)
    free_mail = f"{original.first}.{original.last}@gmail.com".lower()  # unsure: same name, phone and company
    return Person(role, original.first, original.last, free_mail, original.phone, original.country, original.state,
                  original.postcode, original.company)


def story_order(platform: str) -> list[Person | None]:
    """One CRM's scripted people in sending order; None marks where a random lead goes."""
    order: list[Person | None] = [p for p in STORY if p.role != "account_owner"]
    by_role = {p.role: p for p in STORY}
    for role in ("account_owner", "merge_twin", "review_twin"):
        person = by_role[role] if role == "account_owner" else twin(role, by_role[TWINS[role]], platform)
        order += [None] * RANDOM_BEFORE[role] + [person]
    return order


class RandomPeople:
    """The rest: random names and places, about one in seven the same person again (a sure duplicate)."""

    def __init__(self, seed: int = 11) -> None:
        self.rng = random.Random(seed)  # noqa: S311 - demo data, not secrets
        self.people: dict[str, list[Person]] = {}
        self.serial = 0

    def next(self, platform: str) -> Person:
        self.serial += 1
        earlier = self.people.setdefault(platform, [])
        if earlier and self.rng.random() < 0.15:
            return dataclasses.replace(twin("merge_twin", self.rng.choice(earlier), platform), role="duplicate")
        first, last = self.rng.choice(FIRST), self.rng.choice(LAST)
        country, state, postcode, phone = self.rng.choice(PLACES)
        slug = last.lower().replace("-", "")
        person = Person("filler", first, last, f"{first}.{last}.{self.serial}@{slug}labs.example".lower(),
                        phone.format(n=1000 + self.serial), country, state, postcode, f"{last} Labs")
        earlier.append(person)
        return person


def schedule(platforms: list[str], count: int, seed: int = 11) -> list[tuple[str, Person]]:
    """(platform, person) for exactly `count` leads, the CRMs taking turns. Fewer than the whole story (3 × 13):
    the random leads between the story's go first, then the story is cut short (its report names what is missing)."""
    orders = {p: story_order(p) for p in platforms}
    if count < sum(len(order) for order in orders.values()):
        orders = {p: [person for person in order if person is not None] for p, order in orders.items()}
    randoms, plan = RandomPeople(seed), []
    for i in range(-(-count // len(platforms))):
        for platform in platforms:
            if len(plan) == count:
                return plan
            scripted = orders[platform][i] if i < len(orders[platform]) else None
            plan.append((platform, scripted or randoms.next(platform)))
    return plan


def story_size(platforms: list[str]) -> int:
    """How many leads the whole story takes (with random leads between an original and its twin)."""
    return sum(len(story_order(p)) for p in platforms)


def lead_properties(platform: str, person: Person) -> dict:
    """A lead's create properties in the platform's own field names (Pipedrive persons: name, email, phone)."""
    return demo_flow.lead_properties(platform, person.first, person.last, person.email, person.phone,
                                     (person.country, person.state, person.postcode, None), company=person.company)
