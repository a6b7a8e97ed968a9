"""The per-subject stages in the order ``gzbcat run`` runs them, with their parameter types."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gzbcat.fitting import TuneParams
from gzbcat.model import Method
from gzbcat.stages import aggregate, best_individual
from gzbcat.stages.runner import Stage
from gzbcat.stages.tune import TUNE_STAGES, TuneStageParams

__all__ = ["STAGES", "StageEntry", "tune_params"]


@dataclass(frozen=True)
class StageEntry:
    stage: Stage
    make_params: Callable[[Method], Any]  # method → parameters


def tune_params(
    source: str,
    method: Method = Method.CORRECTED,
    *,
    max_iterations: int | None = None,
    starts: int = 1,
) -> TuneStageParams:
    """The tune stage's parameters from the command line's options."""
    options: dict[str, Any] = {"method": method, "starts": starts}
    if max_iterations is not None:
        options["max_iterations"] = max_iterations
    fit = TuneParams(**options)
    return TuneStageParams(source=source, fit=fit)


STAGES: dict[str, StageEntry] = {
    "aggregate": StageEntry(
        aggregate.STAGE, lambda method: aggregate.AggregateParams(method=method)
    ),
    "best-individual": StageEntry(
        best_individual.STAGE,
        lambda method: best_individual.BestIndividualParams(method=method),
    ),
    "tune-aggregate": StageEntry(
        TUNE_STAGES["aggregate"], lambda method: tune_params("aggregate", method)
    ),
    "tune-best-individual": StageEntry(
        TUNE_STAGES["best_individual"], lambda method: tune_params("best_individual", method)
    ),
}
