"""Platform-neutral duplicate detection: blocking keys, a calibrated pair score, safe clustering, survivorship.

The pipeline scores one new record against the index's candidates with `score_pair` and `classify`;
the offline CLI runs a whole file through `find_duplicates`; a merge picks its values with `survivor`.
"""
from integration.dedup.cluster import FlaggedPair, find_duplicates
from integration.dedup.model import MatchResult, classify, score_pair
from integration.dedup.prepare import blocking_keys, prepare
from integration.dedup.settings import DedupConfigError, DedupSettings, load_dedup_settings, parse_dedup_section
from integration.dedup.survivor import Survivorship, survivor

__all__ = ["DedupConfigError", "DedupSettings", "FlaggedPair", "MatchResult", "Survivorship", "blocking_keys",
           "classify", "find_duplicates", "load_dedup_settings", "parse_dedup_section", "prepare", "score_pair",
           "survivor"]
