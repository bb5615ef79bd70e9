"""Countries, states/provinces and postcodes in standard form; the free-mail domains `email_domain: [free]` means."""
from __future__ import annotations

import re
from functools import lru_cache

import pycountry

# What people type that ISO names don't cover: native names, abbreviations, the UK's nations.
COMMON_COUNTRY_NAMES = {
    "us": "US", "usa": "US", "america": "US", "united states": "US", "united states of america": "US",
    "uk": "GB", "great britain": "GB", "britain": "GB", "england": "GB", "scotland": "GB", "wales": "GB",
    "northern ireland": "GB", "deutschland": "DE", "bundesrepublik deutschland": "DE", "holland": "NL",
    "the netherlands": "NL", "nederland": "NL", "españa": "ES", "espana": "ES", "italia": "IT", "schweiz": "CH",
    "suisse": "CH", "svizzera": "CH", "österreich": "AT", "osterreich": "AT", "brasil": "BR", "méxico": "MX",
    "belgië": "BE", "belgique": "BE", "sverige": "SE", "norge": "NO", "danmark": "DK", "suomi": "FI",
    "polska": "PL", "česko": "CZ", "czech republic": "CZ", "russia": "RU", "south korea": "KR", "korea": "KR",
    "uae": "AE", "emirates": "AE", "türkiye": "TR", "turkey": "TR", "vietnam": "VN", "nippon": "JP", "éire": "IE",
}
STATE_COUNTRIES = ("US", "CA", "AU")
FREE_MAIL_DOMAINS = frozenset({
    "gmail.com", "googlemail.com", "yahoo.com", "yahoo.co.uk", "yahoo.fr", "yahoo.de", "ymail.com", "hotmail.com",
    "hotmail.co.uk", "hotmail.fr", "hotmail.de", "outlook.com", "outlook.de", "live.com", "live.co.uk", "msn.com",
    "aol.com", "icloud.com", "me.com", "mac.com", "proton.me", "protonmail.com", "pm.me", "gmx.de", "gmx.net",
    "gmx.com", "web.de", "t-online.de", "freenet.de", "orange.fr", "free.fr", "laposte.net", "libero.it",
    "yandex.ru", "yandex.com", "mail.ru", "zoho.com", "qq.com", "163.com", "126.com", "naver.com", "hey.com",
    "fastmail.com", "tutanota.com", "mail.com", "btinternet.com", "comcast.net", "verizon.net", "att.net",
    "sbcglobal.net", "bigpond.com", "shaw.ca", "rogers.com", "seznam.cz", "wp.pl", "o2.pl", "rediffmail.com",
})


def _key(text: str) -> str:
    return re.sub(r"\s+", " ", text.replace(".", " ").replace(",", " ")).strip().casefold()


@lru_cache(maxsize=4096)
def normalize_country(value: str | None) -> str | None:
    """"United States", "USA", "U.S." → "US"; "Deutschland" → "DE"; None when unknown."""
    if not value or not value.strip():
        return None
    key = _key(value)
    compact = key.replace(" ", "")
    if key in COMMON_COUNTRY_NAMES or compact in COMMON_COUNTRY_NAMES:
        return COMMON_COUNTRY_NAMES.get(key) or COMMON_COUNTRY_NAMES[compact]
    if len(compact) == 2:
        found = pycountry.countries.get(alpha_2=compact.upper())
        return found.alpha_2 if found else None
    try:
        return pycountry.countries.lookup(value.strip()).alpha_2
    except LookupError:
        return None


@lru_cache(maxsize=4)
def _subdivisions(country: str) -> dict[str, str]:
    """Lower-cased name or code → code (without the country prefix) for one country's states/provinces."""
    table: dict[str, str] = {}
    for sub in pycountry.subdivisions.get(country_code=country) or ():
        code = sub.code.split("-", 1)[1]
        table[code.casefold()] = code
        table[_key(sub.name)] = code
    return table


@lru_cache(maxsize=4096)
def normalize_state(value: str | None, country: str | None) -> str | None:
    """"California" → "CA" for US/CA/AU (any of them when the country is unknown); else the text as typed."""
    if not value or not value.strip():
        return None
    text = re.sub(r"\s+", " ", value).strip()
    countries = (country,) if country in STATE_COUNTRIES else STATE_COUNTRIES if country is None else ()
    for candidate in countries:
        table = _subdivisions(candidate)
        code = table.get(_key(text)) or table.get(text.casefold())
        if code:
            return code
    return text


def _us_zip(text: str) -> str:
    digits = re.sub(r"\D", "", text)
    if len(digits) in (5, 9):
        return digits[:5]  # ZIP+4 → ZIP5
    if len(digits) == 4 and text.strip().isdigit():
        return "0" + digits  # a spreadsheet dropped the leading zero (New England ZIPs)
    return text.upper()


def _split_before_last(text: str, tail: int, sizes: range) -> str:
    compact = re.sub(r"\s+", "", text).upper()
    return f"{compact[:-tail]} {compact[-tail:]}" if len(compact) in sizes else compact


def normalize_postcode(value: str | None, country: str | None) -> str | None:
    """US ZIP5 from ZIP+4, UK upper case with its space, CA "A1A 1A1", NL "1234 AB"; others upper-cased."""
    if not value or not value.strip():
        return None
    text = re.sub(r"\s+", " ", value).strip()
    if country == "US":
        return _us_zip(text)
    if country == "GB":
        return _split_before_last(text, 3, range(5, 8))
    if country == "CA":
        return _split_before_last(text, 3, range(6, 7))
    if country == "NL":
        return _split_before_last(text, 2, range(6, 7))
    return text.upper()
