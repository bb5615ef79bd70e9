"""Text normalisation for matching: person names with nicknames, company names, streets, role mailboxes."""
from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from rapidfuzz import process
from rapidfuzz.distance import OSA

# Canonical name -> its common short forms. Compact on purpose: the typo comparison covers spelling
# variants, so only nicknames that are not near-spellings of the full name need to be listed.
_NICKNAMES = {
    "abigail": "abby abbie gail", "alexander": "alex al sandy xander", "alexandra": "alex sandra lexi sasha",
    "alfred": "al alf fred", "anne": "ann annie", "ann": "annie",
    "andrew": "andy drew", "anthony": "tony", "barbara": "barb barbie babs",
    "benjamin": "ben benji benny", "catherine": "cathy cat kate katie", "charles": "charlie chuck chas chaz",
    "christina": "chris tina chrissy", "christine": "chris tina chrissy", "christopher": "chris kit topher",
    "christian": "chris", "cynthia": "cindy", "daniel": "dan danny", "david": "dave davy",
    "deborah": "deb debbie debby", "dennis": "denny", "donald": "don donnie", "dorothy": "dot dottie dolly",
    "douglas": "doug", "edward": "ed eddie ned ted", "elizabeth": "liz lizzie beth betty betsy eliza libby",
    "eleanor": "ellie nora", "emily": "em emmy", "eugene": "gene", "frances": "fran frankie",
    "francis": "frank", "frank": "frankie", "frederick": "fred freddie", "gerald": "gerry jerry",
    "gregory": "greg", "harold": "hal harry", "henry": "hank harry", "isabella": "bella izzy",
    "jacob": "jake", "james": "jim jimmy jamie", "janet": "jan", "jeffrey": "jeff", "jennifer": "jen jenny",
    "jessica": "jess jessie", "john": "jack johnny jon", "jonathan": "jon jonny", "joseph": "joe joey",
    "joshua": "josh", "judith": "judy", "katherine": "kate kathy katie kat kay", "kathleen": "kathy kate",
    "kenneth": "ken kenny", "kimberly": "kim", "lawrence": "larry", "leonard": "leo len lenny",
    "margaret": "peggy maggie meg marge margie greta", "matthew": "matt", "michael": "mike mikey mick",
    "nathaniel": "nate nathan nat", "nicholas": "nick nicky", "pamela": "pam", "patricia": "pat patty tricia trish",
    "patrick": "pat paddy", "peter": "pete", "philip": "phil", "rebecca": "becky becca", "richard": "rick dick rich",
    "robert": "bob bobby rob robbie bert", "ronald": "ron ronnie", "samantha": "sam sammy", "samuel": "sam sammy",
    "stephanie": "steph stephie", "stephen": "steve", "steven": "steve", "susan": "sue susie",
    "theodore": "ted teddy theo", "thomas": "tom tommy", "timothy": "tim timmy", "victoria": "vicky tori",
    "virginia": "ginny", "walter": "walt wally", "william": "bill billy will willy liam",
    "zachary": "zach zack",
}
NICKNAMES: dict[str, frozenset[str]] = {}
for _full, _shorts in _NICKNAMES.items():
    for _name in (_full, *_shorts.split()):
        NICKNAMES[_name] = NICKNAMES.get(_name, frozenset()) | {_full}

# Legal forms carry no identity ("Acme Inc" is "Acme LLC" in another system); dots are removed first.
LEGAL_SUFFIXES = frozenset("inc incorporated llc llp lp ltd limited corp corporation co company gmbh ag sa sas "
                           "sarl bv nv plc pty pvt srl spa oy ab kk".split())
# Descriptors people add or drop when typing a company name; a weaker level than a legal-form match.
DESCRIPTORS = frozenset("group holdings holding partners solutions systems labs technologies technology tech "
                        "international intl global enterprises services industries the".split())
STREET_WORDS = {"street": "st", "avenue": "ave", "av": "ave", "road": "rd", "boulevard": "blvd", "lane": "ln",
                "drive": "dr", "court": "ct", "place": "pl", "square": "sq", "highway": "hwy", "parkway": "pkwy",
                "suite": "ste", "north": "n", "south": "s", "east": "e", "west": "w", "apartment": "apt"}
# Shared mailboxes reach a team, not a person: equal role addresses say nothing about identity.
ROLE_MAILBOXES = frozenset("info sales contact hello admin office support team marketing billing accounts "
                           "enquiries inquiries help service mail noreply no-reply webmaster hr jobs careers "
                           "press media reception frontdesk orders".split())
FREEMAIL = frozenset("gmail.com googlemail.com yahoo.com hotmail.com outlook.com live.com msn.com icloud.com "
                     "me.com aol.com proton.me protonmail.com gmx.com gmx.de web.de mail.com yandex.ru".split())


def ascii_fold(text: str | None) -> str:
    """Lowercase with accents removed ("José" -> "jose")."""
    decomposed = unicodedata.normalize("NFKD", text or "")
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower()


def norm_name(text: str | None) -> str:
    """Letters only, so "Mary-Ann", "Mary Ann" and "MARYANN" compare equal."""
    return re.sub(r"[^a-z]", "", ascii_fold(text))


@lru_cache(maxsize=16384)
def canonical_first(name: str) -> frozenset[str]:
    """The full names a (normalised) first name may stand for, itself included.

    A name missing from the table is also read as a one-letter slip of a table name, so "Setve" still
    meets "Stephen" (through "steve") and "Miichael" meets "Mick".
    """
    if not name:
        return frozenset()
    if name in NICKNAMES:
        return NICKNAMES[name] | {name}
    if len(name) < 4:
        return frozenset({name})
    near = process.extract(name, NICKNAMES.keys(), scorer=OSA.distance, score_cutoff=1, limit=None)
    return frozenset({name}).union(*(NICKNAMES[hit] for hit, _, _ in near))


def _tokens(text: str | None) -> list[str]:
    return re.sub(r"[^a-z0-9 ]+", " ", ascii_fold(text).replace(".", "")).split()


def _strip_tail(tokens: list[str], words: frozenset[str]) -> list[str]:
    while len(tokens) > 1 and tokens[-1] in words:
        tokens = tokens[:-1]
    return tokens


@lru_cache(maxsize=65536)
def company_forms(text: str | None) -> tuple[str, str]:
    """(legal form stripped, descriptors also stripped): "Fourth Group, L.L.C." -> ("fourth group", "fourth")."""
    tokens = _strip_tail(_tokens(text), LEGAL_SUFFIXES)
    core = [t for t in tokens if t not in DESCRIPTORS] or tokens
    core = _strip_tail(core, LEGAL_SUFFIXES)
    return " ".join(tokens), " ".join(core)


@lru_cache(maxsize=65536)
def norm_street(text: str | None) -> str:
    """Abbreviations unified and unit markers dropped: "12 Main Street, Apt. 4" -> "12 main st 4"."""
    tokens = [STREET_WORDS.get(t, t) for t in _tokens((text or "").replace("#", " "))]
    return " ".join(t for t in tokens if t not in ("apt", "ste", "unit"))


def is_role_address(email: str | None) -> bool:
    """info@, sales@ … reach a team, not one person."""
    local = (email or "").strip().lower().partition("@")[0].split("+", 1)[0]
    return local in ROLE_MAILBOXES


def gendered_pair(a: str, b: str) -> bool:
    """Maria/Mario, Carl/Carla, Daniel/Danielle: one letter apart but usually two people (often a family)."""
    short, long_ = sorted((a, b), key=len)
    if len(short) < 3:
        return False
    if long_.startswith(short) and long_[len(short):] in ("a", "e", "le", "ne", "na"):
        return True
    return len(a) == len(b) and a[:-1] == b[:-1] and {a[-1], b[-1]} <= set("aeo")

# Common given names beyond the nickname table. When both sides are real names one edit apart
# (Mark/Mary, Jon/Jan, Tim/Tom) they are two people, not a typo: a typo makes a non-name.
COMMON_GIVEN = frozenset("""
aaron adam adrian aisha alan albert alice alicia allison amanda amber amy ana andrea angela anita ann anna annie
arjun arthur ashley austin beth betty beverly billy bonnie brad bradley brandon brenda brian brittany bruce bryan
caleb carl carla carlos carmen carol carolyn cheryl chloe cindy clara craig crystal dale dan dana danielle darren
dawn dean denise diana diane dina don donna doris dylan edwin eileen elaine ella ellen emma eric erica erin ethan
evan evelyn fatima felix fiona gail gary gina gloria grace grant hannah heather helen holly ian irene ivan jack
jacqueline jan jane janice jason jay jean jeff jenna jeremy jerry jesse jill jim joan joanne joe joel john jon jordan
jose joyce juan judy julia julie june justin kara karen karl kate katie keith kelly ken kevin kim kyle lance laura
lauren lee leo leon lily linda lisa logan lois lori louis louise lucas lucy luis luke lydia lynn madison maria
marie mario marion mark marsha martha martin mary maya megan mei melissa mia mike mila molly monica nancy naomi
natalie neil nina noah norma olivia omar oscar paul paula pedro penny phil priya rachel ralph ray raymond regina
rick rita roger ron rosa rose ross ruth ryan sally sam sandra sara sarah scott sean seth sharon shirley sofia
sonia sophia stacy stella sue susan sylvia tara ted teresa terry tina todd tom tony tracy tyler victor vincent
wade wanda wayne wei wendy will yvonne zoe
""".split())


def known_given(name: str) -> bool:
    """A real given name (so a near-miss against another real name is a different person)."""
    return name in COMMON_GIVEN or name in NICKNAMES
