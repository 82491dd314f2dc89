"""Governed queries: the consumer's SQL, validated and rewritten so that every table is
read only through the principal's policy (SPEC invariant 2)."""

from lakemesh.query.plan import GovernedRelation, Plan, QueryRefused, plan_query

__all__ = ["GovernedRelation", "Plan", "QueryRefused", "plan_query"]
