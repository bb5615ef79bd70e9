"""Deterministic demo data: owners, organizations with websites, persons incl. duplicates and hard negatives."""
from __future__ import annotations

from typing import Any

from sandbox.pipedrive import model
from sandbox.pipedrive.core import lead_id, next_id, users
from sandbox.state import Account

BASE_TS = 1_736_150_400.0  # 2025-01-06T08:00:00Z; every seeded record is a fixed offset from it

ORGS = [  # name, website, address
    ("Northwind Traders", "northwind.example", "12 Harbour St, Seattle, WA"),
    ("Acme Robotics", "acme-robotics.example", "400 Industrial Way, Austin, TX"),
    ("Globex Logistics", "globex.example", "9 Canal Rd, Rotterdam"),
    ("Initech Software", "initech.example", "1 Loop Rd, San Jose, CA"),
    ("Umbrella Health", "umbrella-health.example", "77 Queen St, London"),
    ("Stark Analytics", "starkanalytics.example", "200 Park Ave, New York, NY"),
    ("Wayne Outdoor", "wayneoutdoor.example", "5 Alpine Rd, Denver, CO"),
    ("Tyrell Biotech", "tyrell.example", "3 Sakura Dori, Tokyo"),
]

# name, email(s), phone(s), org index (None = no org). Duplicates and hard negatives are commented.
PERSONS: list[tuple[str, list[str], list[str], int | None]] = [
    ("Alice Johnson", ["alice.johnson@northwind.example"], ["+1 206 555 0101"], 0),
    ("Alice Johnson", ["Alice.Johnson@Northwind.example"], ["(206) 555-0101"], 0),  # dup: email case, phone format
    ("Robert Smith", ["robert.smith@acme-robotics.example"], ["+1 512 555 0142"], 1),
    ("Bob Smith", ["bob.smith@gmail.com"], ["512-555-0142"], 1),  # dup: nickname + same phone
    ("Robert Smith", ["bobsmith@gmail.com"], [], None),  # dup: gmail dots removed
    ("Maria Garcia", ["maria.garcia@globex.example"], ["+31 10 555 0100"], 2),  # switchboard ...
    ("Jan de Vries", ["jan.devries@globex.example"], ["+31 10 555 0100"], 2),  # hard negative: same switchboard
    ("Pieter Bakker", ["pieter.bakker@globex.example"], ["+31 10 555 0100"], 2),  # hard negative
    ("Peter Gibbons", ["peter.gibbons@initech.example"], ["+1 408 555 0199"], 3),
    ("Samir Nagheenanajar", ["samir@initech.example"], ["+1 408 555 0177"], 3),
    ("Michael Bolton", ["michael.bolton@initech.example"], ["+1 408 555 0178"], 3),
    ("Mike Bolton", ["mbolton@initech.example"], ["+1 408 555 0178"], 3),  # dup: nickname + direct line
    ("Claire Redfield", ["claire.redfield@umbrella-health.example"], ["+44 20 7946 0001"], 4),
    ("Chris Redfield", ["chris.redfield@umbrella-health.example"], ["+44 20 7946 0001"], 4),  # hard negative
    ("Jill Valentine", ["jill.valentine@umbrella-health.example"], ["+44 20 7946 0958"], 4),
    ("Pepper Potts", ["pepper.potts@starkanalytics.example"], ["+1 212 555 0150"], 5),
    ("Virginia Potts", ["virginia.potts@starkanalytics.example"], ["+1 212 555 0150"], 5),  # dup: legal name
    ("Happy Hogan", ["happy.hogan@starkanalytics.example"], ["+1 212 555 0151"], 5),
    ("Bruce Wayne", ["bruce@wayneoutdoor.example"], ["+1 303 555 0110"], 6),
    ("Lucius Fox", ["lucius.fox@wayneoutdoor.example"], ["+1 303 555 0111"], 6),
    ("Selina Kyle", ["selina.kyle@gmail.com"], ["+1 303 555 0199"], None),
    ("Selina Kyle", ["selinakyle@gmail.com"], ["303.555.0199"], None),  # dup: gmail dots + phone format
    ("Rachael Tyrell", ["rachael@tyrell.example"], ["+81 3 5555 0101"], 7),
    ("Eldon Tyrell", ["eldon@tyrell.example"], ["+81 3 5555 0100"], 7),
    ("Roy Batty", ["roy.batty@tyrell.example"], ["+81 3 5555 0100"], 7),  # hard negative: switchboard
    ("Dana Scully", ["dana.scully@fbi.example"], ["+1 202 555 0123"], None),
    ("Fox Mulder", ["fox.mulder@fbi.example"], ["+1 202 555 0124"], None),
    ("Ellen Ripley", ["ellen.ripley@weyland.example"], ["+1 415 555 0188"], None),
    ("Ellen Ripley", ["ELLEN.RIPLEY@WEYLAND.EXAMPLE"], [], None),  # dup: email upper-cased
    ("Sarah Connor", ["sarah.connor@cyberdyne.example"], ["+1 213 555 0112"], None),
]


def seed(account: Account) -> None:
    """Insert the demo records directly (no webhooks). Caller holds store.lock."""
    owners = [u["id"] for u in users(account) if u.get("active_flag")] or [users(account)[0]["id"]]
    org_ids = [_add(account, "organizations", i, owners[i % len(owners)], {
        "name": name, "address": model.address(address), "custom_fields": {model.WEBSITE_KEY: website}})
        for i, (name, website, address) in enumerate(ORGS)]
    person_ids = []
    for i, (name, emails, phones, org) in enumerate(PERSONS):
        owner = owners[org % len(owners)] if org is not None else owners[i % len(owners)]
        person_ids.append(_add(account, "persons", 20 + i, owner, {
            "name": name, "emails": model._contact_list(emails, "emails"),
            "phones": model._contact_list(phones, "phones"), "org_id": org_ids[org] if org is not None else None}))
    for i, (pidx, stage, title) in enumerate([(0, 2, "Northwind fleet renewal"), (2, 1, "Acme arm retrofit"),
                                              (8, 4, "Initech TPS licences"), (15, 3, "Stark data platform")]):
        org = PERSONS[pidx][3]
        _add(account, "deals", 60 + i, owners[i % len(owners)], {
            "title": title, "person_id": person_ids[pidx], "org_id": org_ids[org], "stage_id": stage,
            "value": 5000 * (i + 1), "currency": "USD"})
    for i, (pidx, kind, done) in enumerate([(0, "call", True), (2, "email", False), (8, "meeting", True),
                                            (12, "task", False)]):
        _add(account, "activities", 70 + i, owners[i % len(owners)], {
            "type": kind, "subject": f"{kind.capitalize()} with {PERSONS[pidx][0]}", "done": done,
            "due_date": "2025-01-10", "participants": [{"person_id": person_ids[pidx], "primary": True}]})
    for i, pidx in enumerate((19, 25)):
        _add(account, "leads", 80 + i, owners[i % len(owners)], {
            "title": f"{PERSONS[pidx][0]} lead", "person_id": person_ids[pidx], "source_name": "Web forms"})


def _add(account: Account, object_type: str, offset: int, owner: int, fields: dict[str, Any]) -> Any:
    rid = lead_id(account) if object_type == "leads" else next_id(account, object_type)
    ts = BASE_TS + offset * 3600
    record = model.new_record(account, object_type, rid, {}, owner, "app", ts)
    record.update(fields)
    model.derive(record, object_type, {"done": fields.get("done")} if "done" in fields else {}, ts)
    account.table(object_type)[str(rid)] = record
    return rid
