"""Limits on a rule set's size and shape, checked before anything builds or walks the document.

A rule set comes from a tenant admin, an agency template or a file, so it is hostile input: 381 bytes of YAML
aliases expand to millions of values, and a document nested thousands of levels deep overflows the recursive
parsers. YAML text is scanned as a stream of events (no values are built) and refused at the first anchor or
alias, or once it passes the depth or value-count limit; a parsed document (a stored version's JSON, a template,
a helper's edit) is walked iteratively with the same limits and measured as it is stored.
"""
from __future__ import annotations

import json
from typing import Any

import yaml

MAX_BYTES = 512 * 1024  # the text as typed, and the document as stored (compact JSON)
MAX_DEPTH = 20  # RULES.md's deepest path (routing[0].when.postcode[0]) is 4 levels
MAX_VALUES = 100_000  # every key, value and collection counts; a 5,000-territory rule set has about 80,000
YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when installed: ~20x faster


class LimitExceeded(ValueError):
    """A rule set past one of the limits; `line` is the 1-based line of the offending text, when known."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.line = line


def _kb(n_bytes: int) -> str:
    return f"{(n_bytes + 1023) // 1024:,} KB"


def check_size(n_bytes: int, what: str = "the rule set") -> None:
    """Refuse more than MAX_BYTES (LimitExceeded naming both sizes)."""
    if n_bytes > MAX_BYTES:
        raise LimitExceeded(f"{what} is {_kb(n_bytes)}; the limit is {_kb(MAX_BYTES)}")


def _too_deep(line: int | None = None) -> LimitExceeded:
    return LimitExceeded(f"the rule set nests more than {MAX_DEPTH} levels deep; the limit is {MAX_DEPTH} levels", line)


def _too_many(line: int | None = None) -> LimitExceeded:
    return LimitExceeded(f"the rule set has more than {MAX_VALUES:,} keys and values; the limit is {MAX_VALUES:,}",
                         line)


def scan_yaml(text: str) -> None:
    """Refuse anchors/aliases, depth and value count from the parser's events; YAML syntax errors propagate."""
    check_size(len(text.encode("utf-8", "surrogatepass")))
    try:
        _scan_events(text)
    except yaml.MarkedYAMLError as exc:
        # libyaml refuses nesting past 1,000 levels while reading ahead, before our count sees level 21
        if "maximum nesting depth" in str(exc.problem):
            raise _too_deep(exc.problem_mark.line + 1 if exc.problem_mark else None) from None
        raise


def _scan_events(text: str) -> None:
    depth = values = 0
    for event in yaml.parse(text, Loader=YAML_LOADER):
        line = event.start_mark.line + 1 if event.start_mark else None
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            raise LimitExceeded("YAML anchors and aliases (&name, *name) are not allowed in a rule set; "
                                "write the values out", line)
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                raise _too_deep(line)
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1
        if isinstance(event, yaml.NodeEvent):
            values += 1
            if values > MAX_VALUES:
                raise _too_many(line)


def check_document(data: Any) -> None:
    """Refuse a parsed document past the depth, value-count or stored-size limit (walked without recursion)."""
    stack: list[tuple[Any, int]] = [(data, 1)]
    values = 1
    while stack:
        value, depth = stack.pop()
        if not isinstance(value, dict | list | tuple):
            continue
        if depth > MAX_DEPTH:
            raise _too_deep()
        values += len(value) * (2 if isinstance(value, dict) else 1)
        if values > MAX_VALUES:
            raise _too_many()
        children = [*value.keys(), *value.values()] if isinstance(value, dict) else value
        stack.extend((child, depth + 1) for child in children)
    stored = json.dumps(_json_keys(data), separators=(",", ":"), ensure_ascii=False, default=str)
    check_size(len(stored.encode("utf-8", "surrogatepass")), "the rule set as stored")


def _json_keys(value: Any) -> Any:
    """Mapping keys JSON cannot write (YAML reads `2026-12-24:` as a date) as text; call after the depth check."""
    if isinstance(value, dict):
        return {k if k is None or isinstance(k, str | int | float) else str(k): _json_keys(v)
                for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_keys(v) for v in value]
    return value


def stored_form(data: Any) -> Any:
    """The document as it is stored (JSON types only: dates and other values as text), once within the limits."""
    check_document(data)
    return json.loads(json.dumps(_json_keys(data), default=str))


def read_document(text: str) -> Any:
    """YAML or JSON text (JSON when it starts with "{") → the parsed document, checked against every limit.

    Raises LimitExceeded, or the parser's own error (yaml.YAMLError, json.JSONDecodeError, ValueError).
    """
    if text.lstrip().startswith("{"):
        check_size(len(text.encode("utf-8", "surrogatepass")))
        try:
            data = json.loads(text)
        except RecursionError:  # the C decoder stops itself at the interpreter's recursion limit
            raise _too_deep() from None
        check_document(data)
        return data
    scan_yaml(text)
    return yaml.load(text, Loader=YAML_LOADER)  # noqa: S506 - a safe loader (CSafeLoader or SafeLoader)
