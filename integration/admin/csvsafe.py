"""CSV that a spreadsheet opens as data: cells that would start a formula are neutralised.

A cell beginning with =, +, -, @, a tab or a carriage return is run as a formula by Excel, LibreOffice and
Google Sheets (`=HYPERLINK(...)` in an owner filter ends up in the KPI export). OWASP's advice, followed here:
prefix such a cell with a single quote, which the spreadsheet shows as text.
https://owasp.org/www-community/attacks/CSV_Injection
Only strings are touched: a number the app writes (-5, -0.25) stays a number.
"""
from __future__ import annotations

import csv
from collections.abc import Iterable
from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    """The value, with a leading single quote when it is a string a spreadsheet would run as a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def safe_row(values: Iterable[Any]) -> list[Any]:
    return [safe_cell(v) for v in values]


class SafeWriter:
    """csv.writer whose every cell goes through safe_cell."""

    def __init__(self, stream: Any, **options: Any) -> None:
        self._writer = csv.writer(stream, **options)

    def writerow(self, values: Iterable[Any]) -> Any:
        return self._writer.writerow(safe_row(values))

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for values in rows:
            self.writerow(values)


class SafeDictWriter(csv.DictWriter):
    """csv.DictWriter whose every value (the header too: writeheader goes through writerow) passes safe_cell."""

    def writerow(self, rowdict: dict[str, Any]) -> Any:
        return super().writerow({k: safe_cell(v) for k, v in rowdict.items()})

    def writerows(self, rowdicts: Iterable[dict[str, Any]]) -> None:
        for rowdict in rowdicts:
            self.writerow(rowdict)


def writer(stream: Any, **options: Any) -> SafeWriter:
    """Like csv.writer(stream, **options), with formula cells neutralised."""
    return SafeWriter(stream, **options)
