"""The per-subject stages in the order ``gzbcat run`` runs them, with their parameter types."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gzbcat.stages import aggregate, best_individual
from gzbcat.stages.runner import Stage

__all__ = ["STAGES", "StageEntry"]


@dataclass(frozen=True)
class StageEntry:
    stage: Stage
    make_params: Callable[[str], Any]  # method → parameters


STAGES: dict[str, StageEntry] = {
    "aggregate": StageEntry(
        aggregate.STAGE, lambda method: aggregate.AggregateParams(method=method)
    ),
    "best-individual": StageEntry(
        best_individual.STAGE,
        lambda method: best_individual.BestIndividualParams(method=method),
    ),
}
