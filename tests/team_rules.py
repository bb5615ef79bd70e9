"""A two-owner round-robin rule set and each CRM's names for owners, shared by the owned-lead tests."""
from __future__ import annotations

ANA, BEN = "ana.owner@leadrelay.test", "ben.owner@leadrelay.test"
OWNERS = [{"email": ANA, "name": "Ana Owner", "timezone": "America/New_York"},
          {"email": BEN, "name": "Ben Owner", "timezone": "Europe/Berlin"}]
# each platform's own names: the lead's owner field, and where its users are listed (collection, email, id)
OWNER_FIELD = {"hubspot": "hubspot_owner_id", "salesforce": "OwnerId", "pipedrive": "owner_id"}
USERS = {"hubspot": ("owners", "email", "id"), "salesforce": ("User", "Email", "Id"),
         "pipedrive": ("users", "email", "id")}


def team_rules(ana: str = ANA, ben: str = BEN) -> dict:
    """Every lead with an email goes round-robin to Ana and Ben; an SLA task per tier."""
    return {
        "version": 1, "timezone": "UTC",
        "owners": [{"email": ana}, {"email": ben}],
        "pools": {"team": {"strategy": "round_robin", "members": [{"owner": ana}, {"owner": ben}]}},
        "routing": [{"name": "Everyone", "when": {"has_email": True}, "assign": {"pool": "team"}}],
        "fallback": {"review": True},
        "sla": {"hot": {"first_touch": "5m"}, "warm": {"first_touch": "4h"}, "nurture": {"first_touch": "2d"}},
    }


RULES = team_rules()
