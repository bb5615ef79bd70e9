"""Tenant rule sets (the RULES.md format): load, validate, and the parsed model the pipeline reads."""
from integration.rules.loader import RulesError, format_path, load_rules, validate_rules
from integration.rules.model import TIERS, Member, Owner, Pool, RoutingRule, RuleSet, Scoring, ScoringRule, Target, When
from integration.rules.policies import Dedup, Lifecycle, Sla
from integration.rules.sources import DEFAULT_SOURCES, SourceLabels

__all__ = ["DEFAULT_SOURCES", "TIERS", "Dedup", "Lifecycle", "Member", "Owner", "Pool", "RoutingRule", "RuleSet",
           "RulesError", "Scoring", "ScoringRule", "Sla", "SourceLabels", "Target", "When", "format_path",
           "load_rules", "validate_rules"]
