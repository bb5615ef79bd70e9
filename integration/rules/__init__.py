"""Tenant rule sets (the RULES.md format): load, validate, and the parsed model the pipeline reads."""
from integration.rules.loader import RulesError, check_limits, format_path, load_rules, read_rules_text, validate_rules
from integration.rules.model import TIERS, Member, Owner, Pool, RoutingRule, RuleSet, Scoring, ScoringRule, Target, When
from integration.rules.policies import Dedup, Lifecycle, Sla
from integration.rules.sources import DEFAULT_SOURCES, SourceLabels

__all__ = ["DEFAULT_SOURCES", "TIERS", "Dedup", "Lifecycle", "Member", "Owner", "Pool", "RoutingRule", "RuleSet",
           "RulesError", "Scoring", "ScoringRule", "Sla", "SourceLabels", "Target", "When", "check_limits",
           "format_path", "load_rules", "read_rules_text", "validate_rules"]
