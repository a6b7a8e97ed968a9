"""Fit a model to its image: objective, parameterisation, L-BFGS-B driver (spec §8).

Modules: ``parameters`` (the spec §8.1 vector and its §8.4 bounds), ``objective`` (the §8.2
likelihood with the §8.3 priors, and the scaled, partial view the optimiser moves in),
``cleanup`` (spec §8.7) and ``tune`` (the two-stage, multi-start driver and the derived
outputs of spec §8.8). Pure numpy/scipy: no database, no I/O.
"""

from gzbcat.fitting.cleanup import clean_up, fold_axis_ratio, reframe_arm, wrap_roll
from gzbcat.fitting.objective import (
    FitObjective,
    ScaledProblem,
    brightness_entries,
    natural_scales,
    prior_widths,
)
from gzbcat.fitting.parameters import FITTING_RULES, FittingRules, ParameterSpace
from gzbcat.fitting.tune import FitError, TuneParams, TuneResult, pogson_magnitude, tune

__all__ = [
    "FITTING_RULES",
    "FitError",
    "FitObjective",
    "FittingRules",
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
