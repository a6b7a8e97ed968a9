"""Volunteer models → aggregate model: Jaccard clustering of components (spec §5) and
spiral-arm clustering and log-spiral fits (spec §6). Pure: numpy, scipy, scikit-learn and
shapely only; no database, no I/O."""

from .aggregate import AggregationResult, aggregate
from .params import AGGREGATION_RULES, AggregationMethod, AggregationParams, AggregationRules

__all__ = [
    "AGGREGATION_RULES",
    "AggregationMethod",
    "AggregationParams",
    "AggregationResult",
    "AggregationRules",
    "aggregate",
]
