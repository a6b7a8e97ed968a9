"""Fit a model to its image: objective, parameterisation, L-BFGS-B driver (spec §8).

Modules: ``objective`` (the spec §8.1 vector, §8.2 objective and §8.3 priors, re-exported from
:mod:`gzbcat.rendering.objective`, plus the scaled, partial view the optimiser moves in),
``cleanup`` (spec §8.7) and ``tune`` (the two-stage, multi-start driver and the derived
outputs of spec §8.8). Pure numpy/scipy: no database, no I/O.
"""

from gzbcat.fitting.cleanup import clean_up, fold_axis_ratio, reframe_arm, wrap_roll
from gzbcat.fitting.objective import (
    FitObjective,
    ParameterSpace,
    ScaledProblem,
    brightness_entries,
    natural_scales,
    prior_widths,
)
from gzbcat.fitting.tune import FitError, TuneParams, TuneResult, pogson_magnitude, tune

__all__ = [
    "FitError",
    "FitObjective",
    "ParameterSpace",
    "ScaledProblem",
    "TuneParams",
    "TuneResult",
    "brightness_entries",
    "clean_up",
    "fold_axis_ratio",
    "natural_scales",
    "pogson_magnitude",
    "prior_widths",
    "reframe_arm",
    "tune",
    "wrap_roll",
]
