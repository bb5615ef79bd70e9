"""The `dedup:` section of a rule set (RULES.md): thresholds and the survivor rule, validated on load.

Only this section is read here, so offline dedup works on any rule-set file; the full rule-set loader
lives elsewhere and validates the rest.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml

from integration.rules.limits import LimitExceeded, check_size, read_document

KEEP_RULES = ("oldest", "most_complete", "has_owner")


class DedupConfigError(ValueError):
    """A rule set's dedup section is unusable; the message names the path (`dedup.review: ...`)."""


@dataclass(frozen=True)
class DedupSettings:
    """score >= auto_merge: merge; review <= score < auto_merge: review; keep: which record survives."""

    auto_merge: float = 0.92
    review: float = 0.70
    keep: str = "oldest"


def _threshold(section: Mapping, key: str, default: float) -> float:
    value = section.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise DedupConfigError(f"dedup.{key}: {value!r} is not a number between 0 and 1")
    return float(value)


def parse_dedup_section(section: object) -> DedupSettings:
    """Validate a `dedup:` mapping (None means all defaults)."""
    if section is None:
        return DedupSettings()
    if not isinstance(section, Mapping):
        raise DedupConfigError(f"dedup: expected a mapping with auto_merge, review, keep; got {type(section).__name__}")
    unknown = sorted(set(section) - {"auto_merge", "review", "keep"})
    if unknown:
        raise DedupConfigError(f"dedup.{unknown[0]}: unknown key (allowed: auto_merge, review, keep)")
    auto_merge = _threshold(section, "auto_merge", DedupSettings.auto_merge)
    review = _threshold(section, "review", DedupSettings.review)
    if review > auto_merge:
        raise DedupConfigError(f"dedup.review: {review} is above dedup.auto_merge ({auto_merge})")
    keep = section.get("keep", DedupSettings.keep)
    if keep not in KEEP_RULES:
        raise DedupConfigError(f"dedup.keep: {keep!r} is not one of {', '.join(KEEP_RULES)}")
    return DedupSettings(auto_merge, review, keep)


def load_dedup_settings(path: str | Path | None) -> DedupSettings:
    """Read the `dedup:` section of a YAML or JSON rule-set file; defaults when no file is given."""
    if path is None:
        return DedupSettings()
    try:
        check_size(Path(path).stat().st_size)
        document = read_document(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise DedupConfigError(f"{path}: cannot read the rule set ({exc.strerror})") from exc
    except LimitExceeded as exc:  # the same limits as every other reader of a rule set
        raise DedupConfigError(f"{path}: {exc}") from exc
    except (yaml.YAMLError, ValueError) as exc:
        raise DedupConfigError(f"{path}: not valid YAML or JSON ({exc})") from exc
    if document is None:
        return DedupSettings()
    if not isinstance(document, Mapping):
        raise DedupConfigError(f"{path}: a rule set is a mapping at the top level")
    return parse_dedup_section(document.get("dedup"))
