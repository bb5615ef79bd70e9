"""Salesforce record ids: 3-char key prefix, 15 case-sensitive chars, 3-char case-safe checksum suffix."""
from __future__ import annotations

import re
import string

# Key prefixes of the objects the sandbox knows (first three characters of every id).
KEY_PREFIXES = {
    "Account": "001",
    "Note": "002",
    "Contact": "003",
    "User": "005",
    "Opportunity": "006",
    "Lead": "00Q",
    "Task": "00T",
    "Event": "00U",
    "EmailMessage": "02s",
    "EmailMessageRelation": "0Ee",
    "Organization": "00D",
    "Profile": "00e",
    "PermissionSet": "0PS",
    "PermissionSetAssignment": "0Pa",
    "QueryLocator": "01g",
    "WorkflowOutboundMessage": "04k",
    "OutboundNotification": "04l",
}
PREFIX_TO_TYPE = {prefix: name for name, prefix in KEY_PREFIXES.items()}

_BASE62 = string.digits + string.ascii_uppercase + string.ascii_lowercase
_SUFFIX_ALPHABET = string.ascii_uppercase + "012345"
_ID_RE = re.compile(r"^[a-zA-Z0-9]{15}(?:[A-Z0-5]{3})?$")
# a fixed "pod" segment, like the instance part of real ids (e.g. 0035g00000AbCdE)
_POD = "8d"


def _base62(n: int, width: int) -> str:
    out = ""
    while n:
        n, rem = divmod(n, 62)
        out = _BASE62[rem] + out
    return out.rjust(width, "0")


def checksum_suffix(id15: str) -> str:
    """The 3-char suffix that makes a 15-char id case-insensitive-safe (Salesforce's documented algorithm)."""
    suffix = ""
    for chunk in range(3):
        bits = 0
        for pos, char in enumerate(id15[chunk * 5:chunk * 5 + 5]):
            if "A" <= char <= "Z":
                bits |= 1 << pos
        suffix += _SUFFIX_ALPHABET[bits]
    return suffix


def make_id(object_type: str, serial: int) -> str:
    """An 18-char id for `object_type` from a sandbox-wide serial number."""
    id15 = KEY_PREFIXES[object_type] + _POD + "0000" + _base62(serial, 6)
    return id15 + checksum_suffix(id15)


def looks_like_id(value: str) -> bool:
    """True for a syntactically valid 15- or 18-char id."""
    return bool(_ID_RE.match(value or ""))


def to_18(value: str) -> str:
    """Normalise a 15-char id to its 18-char form (18-char ids pass through)."""
    if len(value) == 15:
        return value + checksum_suffix(value)
    return value


def type_of(record_id: str) -> str | None:
    """The object type of an id, from its key prefix."""
    return PREFIX_TO_TYPE.get((record_id or "")[:3])
