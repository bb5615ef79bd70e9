"""What a lead's reply says, read transparently: phrases found (with the words as the lead wrote them), opt-outs in
the languages LeadRelay knows, and the tone from VADER's lexicon (offline, shipped in the vaderSentiment package),
with the words that carried it. The quoted history of a reply is not the lead's words and is cut off first."""
from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

# Built-in opt-out phrases. Twilio's own opt-out keywords (STOP, STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT, per
# https://help.twilio.com/articles/223134027) count only as a whole text: "cancel" inside a sentence is no opt-out.
OPT_OUT = {
    "en": ("stop", "unsubscribe", "remove me", "opt out", "opt-out", "do not contact", "do not email",
           "do not text", "do not call", "don't contact", "don't email", "don't text", "don't call",
           "stop emailing", "stop texting", "stop calling", "take me off", "leave me alone", "no more emails"),
    "de": ("abmelden", "abbestellen", "austragen", "stopp", "keine e-mails mehr", "keine emails mehr",
           "nicht mehr kontaktieren", "nicht kontaktieren", "kontaktieren sie mich nicht"),
    "fr": ("désabonner", "désinscrire", "désinscription", "désabonnement", "ne plus me contacter",
           "ne me contactez plus", "ne pas me contacter", "arrêtez", "retirez-moi"),
    "es": ("darme de baja", "dar de baja", "cancelar suscripción", "no me contacten", "no me contacte",
           "no contactar", "no me escriban", "elimínenme", "quitarme de la lista"),
}
SMS_KEYWORDS = frozenset({"stop", "stopall", "unsubscribe", "cancel", "end", "quit", "stopp", "arret", "arrêt",
                          "baja"})

_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'"})
# Where a reply's quoted history starts: mail clients' attribution lines (English, German, French, Spanish),
# Outlook's separator and header block. An attribution line ends the line (the lead may write "On price: …").
_HISTORY = re.compile(
    r"^\s*(?:(?:on\s.{0,200}?\bwrote|am\s.{0,200}?\bschrieb[^\n]{0,80}?|le\s.{0,200}?\ba\s+écrit\s*|"
    r"el\s.{0,200}?\bescribió):[ \t]*$|-{2,}\s*(?:original message|ursprüngliche nachricht|message d'origine|"
    r"mensaje original)\s*-{2,}|from:\s[^\n]+\n\s*(?:sent|date):\s)",
    re.IGNORECASE | re.MULTILINE | re.DOTALL)


def lead_words(text: str) -> str:
    """The reply without its quoted history: no `> ` lines, nothing from an "On … wrote:" line on."""
    text = unicodedata.normalize("NFC", text or "").translate(_APOSTROPHES)
    cut = _HISTORY.search(text)
    if cut:
        text = text[:cut.start()]
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith(">")).strip()


@functools.lru_cache(maxsize=512)
def _pattern(phrase: str) -> re.Pattern[str]:
    words = phrase.translate(_APOSTROPHES).split()
    # whole words only (\w is Unicode-aware): "stop" is not found in "nonstop", "e-mails" keeps its hyphen
    return re.compile(r"(?<!\w)" + r"\s+".join(re.escape(w) for w in words) + r"(?!\w)", re.IGNORECASE)


def find_phrases(text: str, phrases: Iterable[str]) -> list[str]:
    """The phrases found in `text` (case-insensitive, whole words), each as the lead wrote it, in phrase order."""
    text = unicodedata.normalize("NFC", text).translate(_APOSTROPHES)
    found: list[str] = []
    for phrase in phrases:
        phrase = unicodedata.normalize("NFC", phrase).strip()
        match = _pattern(phrase).search(text) if phrase else None
        if match and match.group(0) not in found:
            found.append(match.group(0))
    return found


def opt_outs(text: str, extra: Iterable[str] = ()) -> list[str]:
    """The opt-out words in the reply (built in for en/de/fr/es, plus `extra`); a whole-text SMS keyword counts."""
    bare = re.sub(r"[\W_]+", "", text.casefold())
    if bare in SMS_KEYWORDS:
        return [text.strip()]
    return find_phrases(text, [*(p for phrases in OPT_OUT.values() for p in phrases), *extra])


@dataclass(frozen=True)
class Tone:
    compound: float  # VADER's normalized score, -1 (most negative) … 1
    words: tuple[str, ...]  # the lexicon words that pulled the score its way, as written


@functools.cache
def _analyzer():
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    return SentimentIntensityAnalyzer()


def tone(text: str) -> Tone:
    """VADER's compound score of the text and the words carrying it (negative words for a negative score)."""
    analyzer = _analyzer()
    compound = float(analyzer.polarity_scores(text)["compound"]) if text.strip() else 0.0
    sign = -1 if compound < 0 else 1
    words = []
    for token in re.findall(r"[\w']+", text):
        valence = analyzer.lexicon.get(token.lower())
        if valence is not None and valence * sign > 0 and compound != 0 and token not in words:
            words.append(token)
    return Tone(round(compound, 4), tuple(words))
