"""A SOQL subset: SELECT fields|COUNT() FROM obj [WHERE …] [ORDER BY …] [LIMIT n] [OFFSET n].

WHERE supports = != <> < > <= >= LIKE IN / NOT IN, AND / OR / NOT, parentheses, null, date/datetime
literals and the date keywords TODAY, YESTERDAY, TOMORROW, LAST_N_DAYS:n, NEXT_N_DAYS:n. String comparisons
are case-insensitive, as in Salesforce. Relationship paths (Owner.Name, Account.Website) are resolved.
https://developer.salesforce.com/docs/atlas.en-us.soql_sosl.meta/soql_sosl/sforce_api_calls_soql_select.htm
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any

from sandbox.salesforce.schema import SObject, sobject
from sandbox.salesforce.values import SFError, parse_date, parse_datetime

_TOKEN_RE = re.compile(r"""
    \s*(?:
      (?P<string>'(?:[^'\\]|\\.)*')
    | (?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2}))
    | (?P<date>\d{4}-\d{2}-\d{2})
    | (?P<number>-?\d+(?:\.\d+)?)
    | (?P<datekw>[A-Za-z_]+:\d+)
    | (?P<ident>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)
    | (?P<op><=|>=|!=|<>|=|<|>)
    | (?P<punct>[(),])
    )""", re.VERBOSE)
KEYWORDS = {"SELECT", "FROM", "WHERE", "AND", "OR", "NOT", "IN", "LIKE", "ORDER", "BY", "ASC", "DESC",
            "LIMIT", "OFFSET", "NULLS", "FIRST", "LAST", "NULL", "TRUE", "FALSE", "COUNT"}
DATE_KEYWORDS = {"TODAY": (0, 1), "YESTERDAY": (-1, 0), "TOMORROW": (1, 2)}


@dataclass
class Query:
    obj: SObject
    fields: list[str] = field(default_factory=list)  # canonical paths, e.g. "Owner.Name"
    count: bool = False
    where: Any = None
    order: list[tuple[str, bool, bool]] = field(default_factory=list)  # (path, descending, nulls_first)
    limit: int | None = None
    offset: int = 0


def _malformed(token: str) -> SFError:
    return SFError("MALFORMED_QUERY", f"unexpected token: '{token}'")


def tokenize(text: str) -> list[tuple[str, str]]:
    tokens, pos, text = [], 0, text.strip()
    while pos < len(text):
        match = _TOKEN_RE.match(text, pos)
        if not match or match.end() == pos:
            raise _malformed(text[pos:].split()[0])
        kind = match.lastgroup
        tokens.append((kind, match.group(kind)))
        pos = match.end()
    return tokens


class Parser:
    def __init__(self, text: str, resolver: Any) -> None:
        self.tokens = tokenize(text)
        self.pos = 0
        self.resolver = resolver  # callable(obj, path) -> canonical path (raises INVALID_FIELD)

    # token helpers -----------------------------------------------------------------------
    def peek(self, upper: bool = True) -> str | None:
        if self.pos >= len(self.tokens):
            return None
        value = self.tokens[self.pos][1]
        return value.upper() if upper else value

    def take(self) -> tuple[str, str]:
        if self.pos >= len(self.tokens):
            raise SFError("MALFORMED_QUERY", "unexpected end of query")
        token = self.tokens[self.pos]
        self.pos += 1
        return token

    def expect(self, word: str) -> None:
        kind, value = self.take()
        if value.upper() != word:
            raise _malformed(value)

    def accept(self, word: str) -> bool:
        if self.peek() == word:
            self.pos += 1
            return True
        return False

    # grammar ---------------------------------------------------------------------------------
    def parse(self) -> Query:
        self.expect("SELECT")
        raw_fields, count = self._select_list()
        self.expect("FROM")
        kind, name = self.take()
        obj = sobject(name) if kind == "ident" else None
        if obj is None:
            raise SFError("INVALID_TYPE", f"sObject type '{name}' is not supported. If you are attempting to use "
                          "a custom object, be sure to append the '__c' after the entity name. Please reference "
                          "your WSDL or the describe call for the appropriate names.")
        query = Query(obj=obj, count=count, fields=[self.resolver(obj, f) for f in raw_fields])
        if self.accept("WHERE"):
            query.where = self._or(obj)
        if self.accept("ORDER"):
            self.expect("BY")
            query.order = self._order_list(obj)
        if self.accept("LIMIT"):
            query.limit = self._int()
        if self.accept("OFFSET"):
            query.offset = self._int()
        if self.pos < len(self.tokens):
            raise _malformed(self.tokens[self.pos][1])
        return query

    def _int(self) -> int:
        kind, value = self.take()
        if kind != "number" or "." in value:
            raise _malformed(value)
        return int(value)

    def _select_list(self) -> tuple[list[str], bool]:
        if self.peek() == "COUNT":
            self.take()
            self.expect("(")
            self.expect(")")
            return [], True
        names = []
        while True:
            kind, value = self.take()
            if kind != "ident" or value.upper() in KEYWORDS - {"COUNT"}:
                raise _malformed(value)
            names.append(value)
            if not self.accept(","):
                return names, False

    def _order_list(self, obj: SObject) -> list[tuple[str, bool, bool]]:
        items = []
        while True:
            path = self.resolver(obj, self.take()[1])
            desc = self.accept("DESC") or (self.accept("ASC") and False)
            nulls_first = not desc
            if self.accept("NULLS"):
                nulls_first = self.take()[1].upper() == "FIRST"
            items.append((path, desc, nulls_first))
            if not self.accept(","):
                return items

    def _or(self, obj: SObject) -> Any:
        node = self._and(obj)
        while self.accept("OR"):
            node = ("or", node, self._and(obj))
        return node

    def _and(self, obj: SObject) -> Any:
        node = self._not(obj)
        while self.accept("AND"):
            node = ("and", node, self._not(obj))
        return node

    def _not(self, obj: SObject) -> Any:
        if self.accept("NOT"):
            return ("not", self._not(obj))
        if self.accept("("):
            node = self._or(obj)
            self.expect(")")
            return node
        return self._comparison(obj)

    def _comparison(self, obj: SObject) -> Any:
        kind, raw = self.take()
        if kind != "ident":
            raise _malformed(raw)
        path = self.resolver(obj, raw)
        negate = self.accept("NOT")
        if self.accept("IN"):
            self.expect("(")
            values = [self._value()]
            while self.accept(","):
                values.append(self._value())
            self.expect(")")
            return ("nin" if negate else "in", path, values)
        if negate:
            raise _malformed(self.peek(upper=False) or "NOT")
        if self.accept("LIKE"):
            return ("like", path, self._value())
        kind, op = self.take()
        if kind != "op":
            raise _malformed(op)
        return ({"<>": "!="}.get(op, op), path, self._value())

    def _value(self) -> tuple[str, Any]:
        kind, raw = self.take()
        upper = raw.upper()
        if kind == "string":
            return ("string", re.sub(r"\\(.)", r"\1", raw[1:-1]))
        if kind == "number":
            return ("number", float(raw))
        if kind == "datetime":
            return ("datetime", parse_datetime(raw))
        if kind == "date":
            return ("date", parse_date(raw))
        if kind == "ident" and upper in ("TRUE", "FALSE"):
            return ("boolean", upper == "TRUE")
        if kind == "ident" and upper == "NULL":
            return ("null", None)
        if kind == "ident" and upper in DATE_KEYWORDS:
            return ("daterange", DATE_KEYWORDS[upper])
        if kind == "datekw":
            name, _, n = upper.partition(":")
            if name == "LAST_N_DAYS":
                return ("daterange", (-int(n), 1))
            if name == "NEXT_N_DAYS":
                return ("daterange", (1, int(n) + 1))
        raise _malformed(raw)


def parse(text: str, resolver: Any) -> Query:
    """Parse a SOQL string; `resolver(obj, path)` validates and canonicalises field paths."""
    return Parser(text, resolver).parse()


def day_range(offsets: tuple[int, int]) -> tuple[dt.datetime, dt.datetime]:
    """[start, end) of a relative date keyword, in UTC (the sandbox org's time zone)."""
    midnight = dt.datetime.combine(dt.datetime.now(dt.UTC).date(), dt.time(), dt.UTC)
    return midnight + dt.timedelta(days=offsets[0]), midnight + dt.timedelta(days=offsets[1])
