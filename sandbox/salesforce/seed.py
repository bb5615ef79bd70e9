"""Deterministic demo data for an org: accounts with owners and domains, contacts, leads (with realistic
duplicates and hard negatives), opportunities, open and completed tasks, and a meeting."""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from sandbox.salesforce import records
from sandbox.state import Account

# name, website, phone, city, country, industry, owner index
ACCOUNTS = [
    ("Acme Corporation", "https://www.acme.com", "+1 212 555 0100", "New York", "USA", "Manufacturing", 0),
    ("Globex Industries", "https://globex.io", "+1 415 555 0142", "San Francisco", "USA", "Technology", 1),
    ("Initech GmbH", "https://initech.de", "+49 30 5550 1234", "Berlin", "Germany", "Technology", 2),
    ("Umbrella Health", "https://www.umbrellahealth.co.uk", "+44 20 7946 0958", "London", "UK", "Healthcare", 1),
    ("Stark Robotics", "https://starkrobotics.com", "+1 650 555 0170", "Palo Alto", "USA", "Engineering", 0),
    ("Wayne Logistics", "https://waynelogistics.com", "+1 312 555 0190", "Chicago", "USA", "Transportation", 3),
    ("Tyrell Biotech", "https://tyrell.jp", "+81 3 5550 0123", "Tokyo", "Japan", "Biotechnology", 3),
    ("Hooli", "https://hooli.com", "+1 650 555 0111", "Mountain View", "USA", "Technology", 2),
]

# first, last, email, phone, title, account index
CONTACTS = [
    ("Jonathan", "Smith", "jon.smith@acme.com", "+1 212 555 0187", "VP Operations", 0),
    # hard negatives: colleagues sharing Acme's switchboard number
    ("Maria", "Garcia", "maria.garcia@acme.com", "+1 212 555 0100", "Procurement Lead", 0),
    ("Mark", "Chen", "mark.chen@acme.com", "+1 212 555 0100", "Plant Manager", 0),
    ("William", "Turner", "william.turner@globex.io", "+1 415 555 0199", "CTO", 1),
    ("Priya", "Natarajan", "priya@globex.io", "+1 (415) 555-0134", "Head of Data", 1),
    ("Lena", "Fischer", "lena.fischer@initech.de", "+49 30 5550 1299", "Einkauf", 2),
    ("Tobias", "Wagner", "t.wagner@initech.de", "+49 30 5550 1234", "Geschäftsführer", 2),
    ("Olivia", "Brown", "olivia.brown@umbrellahealth.co.uk", "+44 20 7946 0101", "COO", 3),
    ("Harry", "Patel", "harry.patel@umbrellahealth.co.uk", "+44 20 7946 0958", "IT Manager", 3),
    ("Pepper", "Potts", "pepper@starkrobotics.com", "+1 650 555 0171", "CEO", 4),
    ("Lucius", "Fox", "lucius.fox@waynelogistics.com", "+1 312 555 0191", "Director R&D", 5),
    ("Rachael", "Tyrell", "rachael@tyrell.jp", "+81 3 5550 0124", "Research Lead", 6),
    ("Gavin", "Belson", "gavin@hooli.com", "+1 650 555 0112", "CEO", 7),
    # a different John Smith: same-name negative at another company
    ("John", "Smith", "john.smith@hooli.com", "+1 650 555 0150", "Engineer", 7),
    ("Denpok", "Singh", "denpok@hooli.com", "+1 650 555 0111", "Advisor", 7),
    ("Big", "Head", "bighead@hooli.com", None, "Innovation Lead", 7),
]

# first, last, email, phone, company, status, source, country, owner index
LEADS = [
    # duplicate of contact Jonathan Smith: nickname + email case
    ("Jon", "Smith", "Jon.Smith@Acme.com", "(212) 555-0187", "Acme Corp", "Open - Not Contacted", "Web", "USA", 0),
    # duplicate of contact William Turner: nickname, same company domain
    ("Bill", "Turner", "bill.turner@globex.io", "415-555-0199", "Globex", "Working - Contacted",
     "Phone Inquiry", "USA", 1),
    # duplicate of contact Priya Natarajan: same phone, other format and email
    ("Priya", "Natarajan", "priya.natarajan@gmail.com", "415.555.0134", "Globex Industries",
     "Open - Not Contacted", "Web", "USA", 1),
    # two leads that are one person: gmail ignores dots
    ("Katie", "Jones", "katie.jones@gmail.com", "+44 7700 900123", "Self-employed", "Open - Not Contacted",
     "Web", "UK", 2),
    ("Katie", "Jones", "katiejones@gmail.com", "07700 900123", "Jones Consulting", "Open - Not Contacted",
     "Partner Referral", "UK", 3),
    # duplicate of contact Lena Fischer: upper-cased email
    ("Lena", "Fischer", "LENA.FISCHER@INITECH.DE", "+49 30 5550 1299", "Initech", "Working - Contacted",
     "Other", "Germany", 2),
    ("Sofia", "Rossi", "sofia.rossi@example.it", "+39 02 5550 1111", "Rossi Design", "Open - Not Contacted",
     "Web", "Italy", 2),
    ("Ahmed", "Khan", "ahmed.khan@wayne-logistics.com", "+1 312 555 0193", "Wayne Logistics",
     "Open - Not Contacted", "Purchased List", "USA", 3),
    ("Yuki", "Sato", "yuki.sato@tyrell.jp", "+81 3 5550 0125", "Tyrell Biotech", "Working - Contacted", "Web",
     "Japan", 3),
    ("Emma", "Wilson", "emma@brightsidepr.com", "+1 646 555 0177", "Brightside PR", "Closed - Not Converted",
     "Web", "USA", 1),
    ("Noah", "Martin", "noah.martin@northwind.example", "+1 206 555 0155", "Northwind Traders",
     "Open - Not Contacted", "Phone Inquiry", "USA", 0),
    ("Chloé", "Dubois", "chloe.dubois@example.fr", "+33 1 55 55 01 01", "Dubois & Fils", "Open - Not Contacted",
     "Web", "France", 2),
    ("Liam", "O'Brien", "liam@obrien-consulting.ie", "+353 1 555 0123", "O'Brien Consulting",
     "Working - Contacted", "Partner Referral", "Ireland", 1),
    ("Mia", "Schmidt", "mia.schmidt@initech.de", "+49 30 5550 1234", "Initech GmbH", "Open - Not Contacted",
     "Web", "Germany", 2),
]


def seed(account: Account, next_serial: Callable[[], int]) -> None:
    """Fill the org (caller holds the store lock)."""
    users = list(account.table("User"))
    admin = account.extra["admin_user_id"]

    def owner(index: int) -> str:
        return users[index % len(users)]

    def make(object_type: str, data: dict) -> dict:
        return records.create(account, object_type, data, admin, next_serial())

    companies = [make("Account", {"Name": n, "Website": w, "Phone": p, "BillingCity": c, "BillingCountry": k,
                                  "Industry": i, "OwnerId": owner(o), "Type": "Prospect"})
                 for n, w, p, c, k, i, o in ACCOUNTS]
    contacts = [make("Contact", {"FirstName": f, "LastName": la, "Email": e, "Phone": p, "Title": t,
                                 "AccountId": companies[a]["Id"], "OwnerId": companies[a]["OwnerId"],
                                 "MailingCountry": ACCOUNTS[a][4]})
                for f, la, e, p, t, a in CONTACTS]
    leads = [make("Lead", {"FirstName": f, "LastName": la, "Email": e, "Phone": p, "Company": c, "Status": s,
                           "LeadSource": src, "Country": k, "OwnerId": owner(o)})
             for f, la, e, p, c, s, src, k, o in LEADS]
    today = dt.date.today()
    make("Opportunity", {"Name": "Acme - Line 4 retrofit", "AccountId": companies[0]["Id"],
                         "StageName": "Proposal/Price Quote", "CloseDate": (today + dt.timedelta(30)).isoformat(),
                         "Amount": 120000, "OwnerId": companies[0]["OwnerId"]})
    make("Opportunity", {"Name": "Globex - Data platform", "AccountId": companies[1]["Id"],
                         "StageName": "Qualification", "CloseDate": (today + dt.timedelta(60)).isoformat(),
                         "Amount": 45000, "OwnerId": companies[1]["OwnerId"]})
    make("Task", {"Subject": "Follow up on web inquiry", "WhoId": leads[0]["Id"], "OwnerId": leads[0]["OwnerId"],
                  "ActivityDate": (today + dt.timedelta(1)).isoformat(), "TaskSubtype": "Task"})
    make("Task", {"Subject": "Call: discovery", "WhoId": contacts[3]["Id"], "OwnerId": contacts[3]["OwnerId"],
                  "ActivityDate": (today - dt.timedelta(2)).isoformat(), "Status": "Completed", "Type": "Call",
                  "TaskSubtype": "Call", "CallType": "Outbound", "CallDurationInSeconds": 540})
    make("Task", {"Subject": "Email: pricing sheet", "WhoId": contacts[0]["Id"], "OwnerId": contacts[0]["OwnerId"],
                  "ActivityDate": (today - dt.timedelta(5)).isoformat(), "Status": "Completed", "Type": "Email",
                  "TaskSubtype": "Email"})
    start = dt.datetime.combine(today + dt.timedelta(3), dt.time(15, 0), dt.UTC)
    make("Event", {"Subject": "Meeting: onsite demo", "WhoId": contacts[7]["Id"], "Type": "Meeting",
                   "StartDateTime": start.isoformat(), "EndDateTime": (start + dt.timedelta(hours=1)).isoformat(),
                   "DurationInMinutes": 60, "OwnerId": contacts[7]["OwnerId"]})
