"""The people in the demo's CRMs: what a rep, a manager or an admin does there, through the sandbox's control API.

`simulate` makes a change "as a user in the CRM UI" (acting as the user we name): the CRM's webhooks fire for it
as they would for a person, so LeadRelay sees these changes exactly as it sees a real customer's. One small class
per platform, in the platform's own object and field names (this is the demo's side of the CRM, not LeadRelay's).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, ClassVar

from leadrelay.processes import local_http


@dataclass(frozen=True)
class User:
    owner_id: str  # what the record's owner field holds
    acting_id: str  # who `simulate` acts as (HubSpot: the user id behind the owner)


@dataclass(frozen=True)
class Company:
    name: str
    domain: str


class SandboxCRM:
    """One sandbox account, seen by the people who work in it."""

    PLATFORM: ClassVar[str]
    LEAD_TYPE: ClassVar[str]  # the object the demo's leads are created as
    TASK_TYPE: ClassVar[str]  # where LeadRelay's tasks are stored

    def __init__(self, sandbox_url: str, account: dict, ca_file: str | None = None) -> None:
        self.base = f"{sandbox_url}/_sandbox/accounts/{account['account_id']}"
        self.account, self.ca_file = account, ca_file
        self.http = local_http()
        self._users: dict[str, User] | None = None

    def simulate(self, body: dict) -> dict:
        resp = self.http.post(f"{self.base}/simulate", json=body, timeout=10)
        if resp.status_code >= 400:
            raise RuntimeError(f"{self.PLATFORM} sandbox refused {body.get('action')} {body.get('object_type')}: "
                               f"{resp.status_code} {resp.text[:300]}")
        return resp.json()

    def records(self, object_type: str) -> list[dict]:
        resp = self.http.get(f"{self.base}/{object_type}", timeout=10)
        resp.raise_for_status()
        return resp.json()["results"]

    def users(self) -> dict[str, User]:
        """The account's users by email (read once: the demo adds none)."""
        if self._users is None:
            self._users = self._read_users()
        return self._users

    def user(self, email: str) -> User:
        return self.users()[email.lower()]

    def email_of(self, owner_id: str | None) -> str | None:
        """The email of the user an owner field names."""
        return next((email for email, u in self.users().items() if u.owner_id == str(owner_id)), None)

    def create(self, object_type: str, properties: dict, as_email: str | None = None) -> str:
        body = {"action": "create", "object_type": object_type, "properties": properties}
        if as_email:
            body["user_id"] = self.user(as_email).acting_id
        return record_id(self.simulate(body))

    def create_lead(self, properties: dict) -> str:
        """A new lead as a web form or a person would create it (webhooks fire)."""
        return self.create(self.LEAD_TYPE, properties)

    def task(self, task_id: str) -> dict[str, Any] | None:
        """A task LeadRelay created, as the CRM stores it (subject, body and due time in the CRM's own fields)."""
        row = next((r for r in self.records(self.TASK_TYPE) if str(record_id(r)) == str(task_id)), None)
        return self._task_view(row) if row else None

    # what the platforms do differently --------------------------------------------------------------
    def _read_users(self) -> dict[str, User]:
        raise NotImplementedError

    def create_company(self, company: Company, owner_email: str) -> str:
        raise NotImplementedError

    def log_call(self, lead_id: str, owner_email: str, note: str) -> str:
        raise NotImplementedError

    def win_deal(self, contact_id: str, title: str, owner_email: str) -> str:
        raise NotImplementedError

    def _task_view(self, row: dict) -> dict[str, Any]:
        raise NotImplementedError


def record_id(row: dict) -> str:
    return str(row.get("id") or row.get("Id") or (row.get("data") or {}).get("id"))


def _now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class HubSpotCRM(SandboxCRM):
    PLATFORM = "hubspot"
    LEAD_TYPE = "contacts"
    TASK_TYPE = "tasks"

    def _read_users(self) -> dict[str, User]:
        return {o["email"].lower(): User(str(o["id"]), str(o["userId"])) for o in self.records("owners")}

    def _associate(self, object_type: str, object_id: str, to_type: str, to_id: str) -> None:
        self.simulate({"action": "associate", "object_type": object_type, "id": object_id,
                       "to_object_type": to_type, "to_id": to_id})

    def create_company(self, company: Company, owner_email: str) -> str:
        return self.create("companies", {"name": company.name, "domain": company.domain,
                                         "website": f"https://www.{company.domain}",
                                         "hubspot_owner_id": self.user(owner_email).owner_id}, owner_email)

    def log_call(self, lead_id: str, owner_email: str, note: str) -> str:
        """A call logged on the contact (the calls object, associated: HubSpot bumps its last activity date)."""
        call = self.create("calls", {"hs_timestamp": _now_iso(), "hs_call_title": "Call", "hs_call_body": note,
                                     "hs_call_status": "COMPLETED", "hs_call_direction": "OUTBOUND",
                                     "hubspot_owner_id": self.user(owner_email).owner_id}, owner_email)
        self._associate("calls", call, "contacts", lead_id)
        return call

    def win_deal(self, contact_id: str, title: str, owner_email: str) -> str:
        """A deal opened with the contact, then moved to Closed won (HubSpot's default pipeline stage ids)."""
        deal = self.create("deals", {"dealname": title, "pipeline": "default", "dealstage": "appointmentscheduled",
                                     "amount": "24000", "hubspot_owner_id": self.user(owner_email).owner_id},
                           owner_email)
        self._associate("deals", deal, "contacts", contact_id)
        self.simulate({"action": "update", "object_type": "deals", "id": deal, "properties": {"dealstage": "closedwon"},
                       "user_id": self.user(owner_email).acting_id})
        return deal

    def _task_view(self, row: dict) -> dict[str, Any]:
        props = row.get("properties") or {}
        return {"subject": props.get("hs_task_subject"), "body": props.get("hs_task_body"),
                "due": props.get("hs_timestamp"), "type": props.get("hs_task_type"),
                "priority": props.get("hs_task_priority"), "status": props.get("hs_task_status")}


class SalesforceCRM(SandboxCRM):
    PLATFORM = "salesforce"
    LEAD_TYPE = "Lead"
    TASK_TYPE = "Task"

    def _read_users(self) -> dict[str, User]:
        return {u["Email"].lower(): User(u["Id"], u["Id"]) for u in self.records("User")}

    def create_company(self, company: Company, owner_email: str) -> str:
        return self.create("Account", {"Name": company.name, "Website": f"https://www.{company.domain}",
                                       "OwnerId": self.user(owner_email).owner_id}, owner_email)

    def log_call(self, lead_id: str, owner_email: str, note: str) -> str:
        """"Log a Call" on the lead: a completed Task of subtype Call."""
        return self.create("Task", {"Subject": "Call", "WhoId": lead_id, "OwnerId": self.user(owner_email).owner_id,
                                    "Status": "Completed", "TaskSubtype": "Call", "Type": "Call",
                                    "CallType": "Outbound", "Description": note,
                                    "ActivityDate": dt.date.today().isoformat()}, owner_email)

    def win_deal(self, contact_id: str, title: str, owner_email: str) -> str:
        """A Closed Won opportunity whose contact is `contact_id` (Salesforce keeps lifecycle on Contacts)."""
        return self.create("Opportunity", {"Name": title, "StageName": "Closed Won", "ContactId": contact_id,
                                           "CloseDate": dt.date.today().isoformat(), "Amount": 24000,
                                           "OwnerId": self.user(owner_email).owner_id}, owner_email)

    def _task_view(self, row: dict) -> dict[str, Any]:
        return {"subject": row.get("Subject"), "body": row.get("Description"), "due": row.get("ActivityDate"),
                "type": row.get("TaskSubtype") or row.get("Type"), "priority": row.get("Priority"),
                "status": row.get("Status")}


class PipedriveCRM(SandboxCRM):
    PLATFORM = "pipedrive"
    LEAD_TYPE = "persons"
    TASK_TYPE = "activities"

    def _read_users(self) -> dict[str, User]:
        return {u["email"].lower(): User(str(u["id"]), str(u["id"])) for u in self.records("users")}

    def _website_field(self) -> str:
        """The organizations' "Website" custom field key, as GET /v1/organizationFields names it (Pipedrive has no
        standard domain field; LeadRelay matches companies by this one)."""
        resp = local_http(self.ca_file or True).get(
            f"{self.account['api_base']}/api/v1/organizationFields", timeout=10,
            headers={"Authorization": f"Bearer {self.account['access_token']}"})
        resp.raise_for_status()
        return next(f["key"] for f in resp.json()["data"] if f["name"] == "Website")

    def create_company(self, company: Company, owner_email: str) -> str:
        return self.create("organizations", {"name": company.name, "owner_id": int(self.user(owner_email).owner_id),
                                             "custom_fields": {self._website_field(): f"https://www.{company.domain}"}},
                           owner_email)

    def log_call(self, lead_id: str, owner_email: str, note: str) -> str:
        """A call activity on the person, marked done (participants: person_id is read-only on activities)."""
        return self.create("activities", {"type": "call", "subject": "Call", "done": True, "note": note,
                                          "participants": [{"person_id": int(lead_id), "primary": True}],
                                          "owner_id": int(self.user(owner_email).owner_id)}, owner_email)

    def win_deal(self, contact_id: str, title: str, owner_email: str) -> str:
        return self.create("deals", {"title": title, "person_id": int(contact_id), "status": "won", "value": 24000,
                                     "owner_id": int(self.user(owner_email).owner_id)}, owner_email)

    def _task_view(self, row: dict) -> dict[str, Any]:
        due = f"{row.get('due_date')} {row.get('due_time') or ''}".strip() if row.get("due_date") else None
        return {"subject": row.get("subject"), "body": row.get("note"), "due": due, "type": row.get("type"),
                "priority": row.get("priority"), "status": "done" if row.get("done") else "open"}


CRMS: dict[str, type[SandboxCRM]] = {c.PLATFORM: c for c in (HubSpotCRM, SalesforceCRM, PipedriveCRM)}


def crm_for(sandbox_url: str, account: dict, ca_file: str | None = None) -> SandboxCRM:
    return CRMS[account["platform"]](sandbox_url, account, ca_file)
