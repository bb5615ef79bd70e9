"""Deterministic demo data for a HubSpot portal: companies, contacts with duplicates, tasks, a call."""
from __future__ import annotations

from typing import TYPE_CHECKING

from sandbox.hubspot import associations as assoc
from sandbox.hubspot import records
from sandbox.hubspot.schema import TYPES

if TYPE_CHECKING:
    from sandbox.context import Sandbox
    from sandbox.state import Account

DEFAULT_USERS = [
    {"email": "alex.morgan@{domain}", "name": "Alex Morgan", "timezone": "America/New_York", "active": True},
    {"email": "priya.nair@{domain}", "name": "Priya Nair", "timezone": "Europe/London", "active": True},
    {"email": "jonas.weber@{domain}", "name": "Jonas Weber", "timezone": "Europe/Berlin", "active": True},
    {"email": "mei.tanaka@{domain}", "name": "Mei Tanaka", "timezone": "Asia/Tokyo", "active": True},
]

COMPANIES = [  # name, domain, phone (switchboard), city, industry
    ("Acme Robotics", "acmerobotics.com", "+1 617 555 0100", "Boston", "MACHINERY"),
    ("Northwind Traders", "northwind.io", "+44 20 7946 0123", "London", "WHOLESALE"),
    ("Globex Corporation", "globex.com", "+1 312 555 0142", "Chicago", "COMPUTER_SOFTWARE"),
    ("Initech", "initech.com", "+1 512 555 0199", "Austin", "INFORMATION_TECHNOLOGY_AND_SERVICES"),
    ("Umbrella Health", "umbrellahealth.de", "+49 30 901820", "Berlin", "HOSPITAL_HEALTH_CARE"),
    ("Stark Logistics", "starklogistics.com", "+1 646 555 0110", "New York", "LOGISTICS_AND_SUPPLY_CHAIN"),
    ("Wayne Analytics", "wayneanalytics.co", "+1 415 555 0133", "San Francisco", "COMPUTER_SOFTWARE"),
    ("Tyrell Bio", "tyrellbio.com", "+81 3 5555 0123", "Tokyo", "BIOTECHNOLOGY"),
]

# firstname, lastname, email, phone, company index, jobtitle, lifecyclestage
CONTACTS = [
    ("Jennifer", "Walsh", "jennifer.walsh@acmerobotics.com", "+1 617 555 0143", 0, "VP Operations", "opportunity"),
    ("Marcus", "Bell", "marcus.bell@acmerobotics.com", "+1 617 555 0100", 0, "Engineer", "lead"),
    ("Olivia", "Grant", "olivia.grant@acmerobotics.com", "+1 617 555 0100", 0, "Office Manager", "lead"),
    ("Thomas", "Reed", "thomas.reed@northwind.io", "+44 20 7946 0456", 1, "Buyer", "customer"),
    ("Amelia", "Clarke", "amelia.clarke@northwind.io", "+44 20 7946 0123", 1, "CFO", "salesqualifiedlead"),
    ("Maria", "Garcia", "Maria.Garcia@Globex.com", "+1 312 555 0177", 2, "Head of IT", "opportunity"),
    ("Robert", "Chen", "robert.chen@globex.com", "+1 312 555 0188", 2, "CTO", "salesqualifiedlead"),
    ("Hank", "Scorpio", "hank@globex.com", "+1 312 555 0142", 2, "CEO", "customer"),
    ("Peter", "Gibbons", "peter.gibbons@initech.com", "+1 512 555 0199", 3, "Programmer", "lead"),
    ("Samir", "Nagheenanajar", "samir.n@initech.com", "+1 512 555 0199", 3, "Programmer", "lead"),
    ("Michael", "Bolton", "michael.bolton@initech.com", "+1 512 555 0199", 3, "Programmer", "lead"),
    ("Bill", "Lumbergh", "bill.lumbergh@initech.com", "+1 512 555 0101", 3, "Division VP", "opportunity"),
    ("Katrin", "Vogel", "katrin.vogel@umbrellahealth.de", "+49 30 9018 2211", 4, "Einkauf", "lead"),
    ("Lukas", "Braun", "lukas.braun@umbrellahealth.de", "+49 30 901820", 4, "IT-Leiter", "lead"),
    ("Pepper", "Potts", "pepper.potts@starklogistics.com", "+1 646 555 0111", 5, "COO", "customer"),
    ("Harold", "Hogan", "happy.hogan@starklogistics.com", "+1 646 555 0119", 5, "Fleet Manager", "lead"),
    ("Lucius", "Fox", "lucius.fox@wayneanalytics.co", "+1 415 555 0134", 6, "CTO", "opportunity"),
    ("Selina", "Kyle", "selina.kyle@wayneanalytics.co", "+1 415 555 0133", 6, "Data Lead", "lead"),
    ("Rachael", "Rosen", "rachael.rosen@tyrellbio.com", "+81 3 5555 0124", 7, "Research Lead", "lead"),
    ("Eldon", "Tyrell", "eldon.tyrell@tyrellbio.com", "+81 3 5555 0123", 7, "Founder", "customer"),
    ("Sam", "Lee", "sam.lee@northwind.io", "+44 20 7946 0789", 1, "Analyst", "lead"),
    ("Samantha", "Lee", "samantha.lee@tyrellbio.com", "+81 3 5555 0130", 7, "Analyst", "lead"),
    # realistic duplicates of the people above
    ("John", "Smith", "john.smith@gmail.com", "+1 (617) 555-0150", 0, "Consultant", "lead"),
    ("John", "Smith", "johnsmith@gmail.com", "617.555.0150", None, None, "subscriber"),      # gmail dots
    ("Bob", "Chen", "bob.chen@globex.com", "(312) 555-0188", 2, "CTO", "lead"),              # nickname
    ("Jen", "Walsh", "jwalsh@gmail.com", "617-555-0143", None, None, "subscriber"),          # nickname + phone format
    ("Maria", "Garcia", "maria.garcia@gmail.com", None, 2, None, "lead"),                    # personal email
    ("Pete", "Gibbons", None, "+15125550199", 3, "Programmer", "lead"),                      # no email, switchboard
    ("Katrin", "Vogel", "k.vogel@umbrellahealth.de", "+49 30 90182211", 4, None, "lead"),    # changed email
    ("Luke", "Fox", "lfox@wayneanalytics.co", "+1 415-555-0134", 6, None, "lead"),           # nickname
]


def _props(row: dict) -> dict:
    return {k: v for k, v in row.items() if v is not None}


def seed(sandbox: Sandbox, account: Account) -> None:
    """Fill the portal; no webhooks are sent for seed data."""
    with sandbox.store.lock:
        owners = sorted(account.extra.get("owners", {}).values(), key=lambda o: int(o["id"]))
        active = [o for o in owners if o.get("active", True)] or owners
        actor = records.Actor("CRM_UI", f"userId:{active[0]['userId']}") if active else records.Actor("IMPORT", None)
        company_ids, company_owner = [], []
        for i, (name, domain, phone, city, industry) in enumerate(COMPANIES):
            owner = active[i % len(active)]["id"] if active else None
            rec, _ = records.create(sandbox, account, TYPES["companies"], _props({
                "name": name, "domain": domain, "website": f"https://www.{domain}", "phone": phone, "city": city,
                "industry": industry, "hubspot_owner_id": owner, "lifecyclestage": "customer" if i % 3 == 0 else "lead",
                "createdate": f"2025-01-{i + 2:02d}T09:00:00.000Z"}), actor, system=True)
            company_ids.append(rec["id"])
            company_owner.append(owner)
        contact_ids = []
        for i, (first, last, email, phone, cidx, title, stage) in enumerate(CONTACTS):
            rec, _ = records.create(sandbox, account, TYPES["contacts"], _props({
                "firstname": first, "lastname": last, "email": email, "phone": phone, "jobtitle": title,
                "company": COMPANIES[cidx][0] if cidx is not None else None, "lifecyclestage": stage,
                "hubspot_owner_id": company_owner[cidx] if cidx is not None else None,
                "createdate": f"2025-02-{(i % 27) + 1:02d}T{8 + i % 9:02d}:15:00.000Z"}), actor, system=True)
            contact_ids.append(rec["id"])
            if cidx is not None:
                assoc.add(account, "contacts", rec["id"], "companies", company_ids[cidx], 1)
        _seed_activity(sandbox, account, actor, contact_ids, company_ids, active)
        records.settle_index(account)  # the portal's existing data: searchable at once, whatever the search lag


def _seed_activity(sandbox, account, actor, contact_ids, company_ids, active) -> None:
    owner = active[0]["id"] if active else None
    deal, _ = records.create(sandbox, account, TYPES["deals"], _props({
        "dealname": "Acme Robotics - fleet upgrade", "amount": "48000", "pipeline": "default",
        "dealstage": "appointmentscheduled", "hubspot_owner_id": owner, "closedate": "2025-09-30T00:00:00.000Z"}),
        actor, system=True)
    assoc.add(account, "deals", deal["id"], "companies", company_ids[0], 5)
    assoc.add(account, "deals", deal["id"], "contacts", contact_ids[0], 3)
    for subject, status, cid in (("Follow up with Jennifer", "NOT_STARTED", contact_ids[0]),
                                 ("Send Globex proposal", "COMPLETED", contact_ids[5])):
        task, _ = records.create(sandbox, account, TYPES["tasks"], _props({
            "hs_timestamp": "2025-06-02T15:00:00.000Z", "hs_task_subject": subject, "hs_task_status": status,
            "hs_task_type": "TODO", "hs_task_priority": "MEDIUM", "hubspot_owner_id": owner}), actor, system=True)
        assoc.add(account, "tasks", task["id"], "contacts", cid, 204)
    call, _ = records.create(sandbox, account, TYPES["calls"], _props({
        "hs_timestamp": "2025-05-20T14:30:00.000Z", "hs_call_title": "Intro call", "hs_call_status": "COMPLETED",
        "hs_call_direction": "OUTBOUND", "hs_call_body": "Discussed fleet size", "hubspot_owner_id": owner}),
        actor, system=True)
    assoc.add(account, "calls", call["id"], "contacts", contact_ids[0], 194)
    records.note_activity(sandbox, account, "calls", "contacts", contact_ids[0])
