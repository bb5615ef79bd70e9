"""The SOQL the adapter sends, built with simple-salesforce's format_soql so every value is escaped.

https://developer.salesforce.com/docs/atlas.en-us.soql_sosl.meta/soql_sosl/sforce_api_calls_soql_select.htm
"""
# ruff: noqa: S608 - object and field names interpolated here are this package's constants (fields.py);
# every value from outside goes through format_soql's quoting.
from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Iterator

from simple_salesforce import format_soql

from adapters.salesforce.fields import SObjectMap, domain_of, soql_datetime
from integration.errors import CRMValidationError
from integration.protocols import parse_iso
from integration.records import Record

_ID_RE = re.compile(r"^[a-zA-Z0-9]{15}(?:[a-zA-Z0-9]{3})?$")
PHONE_DIGITS = 10  # compare the last 10 digits: the national number, whatever prefix or punctuation
MIN_PHONE_DIGITS = 7
ROWS_PER_DOMAIN = 50  # accounts read per domain looked up: a LIKE on a short domain matches other websites too
# A query travels in the URL of a GET (simple-salesforce's query), and URL plus headers may hold 16,384 bytes
# (https://help.salesforce.com/s/articleView?id=000386264&language=en_US&type=1), far below SOQL's own limit of
# 100,000 characters; this leaves room for URL-encoding (a LIKE clause grows by about a third) and the headers.
MAX_QUERY_CHARS = 8_000


def valid_ids(record_ids: Iterable[str]) -> list[str]:
    """Ids that can be put in a WHERE Id IN (...) (a malformed one makes Salesforce refuse the whole query)."""
    return [i for i in dict.fromkeys(record_ids) if _ID_RE.match(i or "")]


def by_ids(mapping: SObjectMap, record_ids: list[str], extra: tuple[str, ...] = ()) -> str:
    fields = ", ".join(dict.fromkeys([*mapping.select(), *extra]))
    return format_soql(f"SELECT {fields} FROM {mapping.sobject} WHERE Id IN {{}}", record_ids)


def phone_digits(phone: str | None) -> str:
    return re.sub(r"\D", "", phone or "")[-PHONE_DIGITS:]


def phone_pattern(phone: str) -> str | None:
    """A LIKE pattern matching the number in any format: '%2%1%2%5%5%5%0%1%8%7'.

    Salesforce stores phones as typed; SOSL would normalise them but SOQL `=` is exact, so the digits are
    matched in order with anything between them and the candidates re-checked digit by digit.
    """
    digits = phone_digits(phone)
    return "%" + "%".join(digits) if len(digits) >= MIN_PHONE_DIGITS else None


def _name_parts(name: str) -> tuple[str | None, str]:
    first, _, last = name.strip().rpartition(" ")
    return (first.strip() or None), last.strip()


def duplicate_clauses(mapping: SObjectMap, emails: list[str], phones: list[str], name: str | None,
                      company: str | None) -> list[str]:
    """WHERE alternatives: exact email (case-insensitive in SOQL), phone in any format, name [+ company]."""
    clauses = [format_soql("Email IN {}", emails)] if emails else []
    for pattern in filter(None, map(phone_pattern, phones)):
        clauses.append(format_soql("(Phone LIKE {0} OR MobilePhone LIKE {0})", pattern))
    if name and name.strip():
        first, last = _name_parts(name)
        company_path = mapping.read_only.get("company") or mapping.writable.get("company")
        if company and company_path:
            clauses.append(format_soql(f"(LastName = {{}} AND {company_path} = {{}})", last, company))
        elif first:
            clauses.append(format_soql("(FirstName = {} AND LastName = {})", first, last))
    return clauses


def duplicates(mapping: SObjectMap, clauses: list[str], limit: int) -> str:
    if mapping.sobject not in ("Lead", "Contact"):
        raise CRMValidationError(f"duplicate candidates are searched among leads and contacts, not {mapping.sobject}")
    fields = ", ".join(mapping.select())
    where = " OR ".join(clauses)
    return f"SELECT {fields} FROM {mapping.sobject} WHERE {where} ORDER BY CreatedDate LIMIT {int(limit)}"


def plausible(record: Record, emails: list[str], phones: list[str], name: str | None, company: str | None) -> bool:
    """Drop rows the loose phone pattern let through: some criterion must really match."""
    if (record.fields.get("email") or "").lower() in emails:
        return True
    wanted = {phone_digits(p) for p in phones} - {""}
    if wanted & {phone_digits(record.fields.get(k)) for k in ("phone", "mobile")}:
        return True
    if not name:
        return False
    first, last = _name_parts(name)
    same_last = (record.fields.get("last_name") or "").lower() == last.lower()
    if company:
        return same_last and (record.fields.get("company") or "").lower() == company.lower()
    return same_last and (record.fields.get("first_name") or "").lower() == (first or "").lower()


def company(domain: str | None, name: str | None) -> str | None:
    clauses = [_website_like(domain)] if domain else []
    if name:
        clauses.append(format_soql("Name = {}", name))
    return _accounts(clauses, ROWS_PER_DOMAIN) if clauses else None


def companies(domains: list[str]) -> str:
    """Accounts whose website contains any of the domains: `company` for many (best_company picks per domain)."""
    return _accounts([_website_like(d) for d in domains], ROWS_PER_DOMAIN * len(domains))


def company_chunks(domains: list[str], most: int) -> Iterator[tuple[list[str], str]]:
    """(domains, `companies(domains)`) for chunks of at most `most` domains and MAX_QUERY_CHARS characters."""
    chunk: list[str] = []
    for domain in domains:
        if chunk and (len(chunk) == most or len(companies([*chunk, domain])) > MAX_QUERY_CHARS):
            yield chunk, companies(chunk)
            chunk = []
        chunk.append(domain)
    if chunk:
        yield chunk, companies(chunk)


def _website_like(domain: str) -> str:
    # the bare host: best_company compares Website hosts without "www.", so the LIKE must not demand it
    return format_soql("Website LIKE '%{:like}%'", domain.strip().lower().removeprefix("www."))


def _accounts(clauses: list[str], limit: int) -> str:
    """Oldest first, so that `best_company` picks the same account from any of these queries."""
    where = " OR ".join(clauses)
    return f"SELECT Id, Name, Website, OwnerId FROM Account WHERE {where} ORDER BY CreatedDate, Id LIMIT {limit}"


def best_company(rows: list[dict], domain: str | None, name: str | None) -> dict | None:
    """The account whose website host is the domain, else the one with the exact name."""
    exact = [r for r in rows if domain and domain_of(r.get("Website")) == domain.lower().removeprefix("www.")]
    named = [r for r in rows if name and (r.get("Name") or "").lower() == name.lower()]
    return (exact or named or [None])[0]


def encode_cursor(stamp: str, record_id: str | None) -> str:
    return f"{stamp}|{record_id}" if record_id else stamp


def decode_cursor(cursor: str | None) -> tuple[dt.datetime, str | None]:
    """(SystemModstamp, last Id) from a cursor; None means one day ago."""
    if not cursor:
        return dt.datetime.now(dt.UTC) - dt.timedelta(days=1), None
    stamp, _, record_id = cursor.partition("|")
    try:
        moment = parse_iso(stamp)
    except ValueError:
        raise CRMValidationError(f"not a Salesforce sweep cursor: {cursor!r}") from None
    return moment or dt.datetime.now(dt.UTC) - dt.timedelta(days=1), record_id or None


def changed(mapping: SObjectMap, since: dt.datetime, after_id: str | None, limit: int) -> str:
    """Rows modified after the cursor, oldest first. Ties on SystemModstamp are ordered (and resumed) by Id,
    since a bulk save gives many rows the same stamp."""
    stamp = soql_datetime(since)
    where = f"SystemModstamp > {stamp}"
    if after_id:
        where += format_soql(f" OR (SystemModstamp = {stamp} AND Id > {{}})", after_id)
    fields = ", ".join(mapping.select())
    return (f"SELECT {fields} FROM {mapping.sobject} WHERE {where} ORDER BY SystemModstamp, Id "
            f"LIMIT {int(limit)}")


# The subject prefix of the Tasks log_message makes: the rep's touch check skips them. A subject, not a custom field:
# it needs no package field and a rep sees in the activity timeline that LeadRelay sent it.
LOGGED_PREFIX = "[LeadRelay]"


def inbound(since: dt.datetime, after_id: str | None, limit: int) -> str:
    """Incoming EmailMessages created after the cursor, oldest first, ties resumed by Id."""
    stamp = soql_datetime(since)
    where = f"CreatedDate > {stamp}"
    if after_id:
        where += format_soql(f" OR (CreatedDate = {stamp} AND Id > {{}})", after_id)
    return ("SELECT Id, Subject, TextBody, FromAddress, MessageDate, CreatedDate FROM EmailMessage "
            f"WHERE Incoming = true AND ({where}) ORDER BY CreatedDate, Id LIMIT {int(limit)}")


def senders(message_ids: list[str]) -> str:
    """The Lead/Contact each message came from (its FromAddress relation)."""
    return format_soql("SELECT EmailMessageId, RelationId, RelationObjectType FROM EmailMessageRelation "
                       "WHERE RelationType = 'FromAddress' AND EmailMessageId IN {}", message_ids)


def meetings(since: dt.datetime, after_id: str | None, limit: int) -> str:
    """Events on a Lead/Contact (WhoId) created after the cursor, oldest first."""
    stamp = soql_datetime(since)
    where = f"CreatedDate > {stamp}"
    if after_id:
        where += format_soql(f" OR (CreatedDate = {stamp} AND Id > {{}})", after_id)
    return (f"SELECT Id, WhoId, CreatedDate FROM Event WHERE WhoId != null AND ({where}) "
            f"ORDER BY CreatedDate, Id LIMIT {int(limit)}")


def activity(sobject: str, link_field: str, record_id: str, since: dt.datetime) -> str:
    """Logged calls/emails, or tasks closed, at or after `since`; for Event any meeting created since."""
    stamp = soql_datetime(since)
    where = format_soql(f"{link_field} = {{}}", record_id)
    if sobject == "Task":
        where += (f" AND ((TaskSubtype IN ('Call', 'Email') AND CreatedDate >= {stamp})"
                  f" OR (IsClosed = true AND CompletedDateTime >= {stamp}))"
                  f" AND (NOT Subject LIKE '{LOGGED_PREFIX}%')")
    else:
        where += f" AND CreatedDate >= {stamp}"
    return f"SELECT Id FROM {sobject} WHERE {where} LIMIT 1"


def sent_task(who_id: str) -> str:
    """The newest Task subtype Email on the record: what emailSimple's logEmailOnSend made."""
    return format_soql("SELECT Id FROM Task WHERE WhoId = {} AND TaskSubtype = 'Email' "
                       "ORDER BY CreatedDate DESC, Id DESC LIMIT 1", who_id)
