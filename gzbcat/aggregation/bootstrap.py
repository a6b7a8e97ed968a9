"""Errors of an aggregate from a seeded bootstrap over its volunteers.

The cheap error of an aggregate part (the members' spread over sqrt(members), spec §5.5 and
:func:`gzbcat.aggregation.jaccard.aggregate_component`) assumes the cluster's membership is
settled. Where it is not — few volunteers, a faint bulge half of them drew — the aggregate
would come out differently from another crowd. :func:`bootstrap_aggregate` measures that:
it draws ``resamples`` crowds of the same size from the volunteers with replacement (one
seeded generator), aggregates each exactly as the original was (:func:`aggregate`), and for
each part of the original aggregate

- counts the resamples in which the part was found (a component of that name; the nearest
  arm whose curve lies within the clustering eps of spec §6.5 of the original arm's, in the
  symmetric poly-line distance of spec §6.4),
- takes the sample std (ddof = 1) of its parameters over those resamples as its error: mux,
  muy, re, q and roll (circular, period π) for components, the pitch angle for arms.

A part found in fewer than two resamples keeps its cheap error.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from gzbcat.aggregation.aggregate import AggregationResult, aggregate
from gzbcat.aggregation.arm_fit import arm_scales
from gzbcat.aggregation.jaccard import circular_std
from gzbcat.aggregation.params import AggregationParams
from gzbcat.aggregation.polyline_metric import drop_repeated_vertices, polyline_distance_matrix
from gzbcat.model import GalaxyModel, Method

__all__ = ["BootstrapResult", "bootstrap_aggregate"]

_GEOMETRY = ("mux", "muy", "re", "q", "roll")


@dataclass(frozen=True)
class BootstrapResult:
    """The aggregate with bootstrap errors, and how often each part was found.

    Attributes
    ----------
    model
        The original aggregate; each part found at least twice has ``errors`` (components)
        or ``pitch_angle_err_deg`` (arms) replaced by the bootstrap std.
    found
        Part (``disk``, ``bulge``, ``bar``, ``arm:<k>``) → resamples in which it was found.
    resamples
        How many resamples were drawn.
    """

    model: GalaxyModel
    found: dict[str, int]
    resamples: int


def bootstrap_aggregate(
    volunteer_models: Sequence[GalaxyModel],
    image_shape: tuple[int, int],
    original: AggregationResult,
    *,
    resamples: int,
    seed: int = 0,
    params: AggregationParams | None = None,
    method: Method = Method.CORRECTED,
) -> BootstrapResult:
    """Bootstrap the aggregate ``original`` of ``volunteer_models`` (module notes).

    Parameters
    ----------
    volunteer_models
        The models ``original`` was aggregated from, in the same order.
    image_shape
        (H, W) of the cutout.
    original
        ``aggregate(volunteer_models, image_shape, params=params, method=method)``.
    resamples
        Number of bootstrap crowds (≥ 1).
    seed
        Seed of the generator that draws them.
    params, method
        As for :func:`aggregate`.
    """
    if resamples < 1:
        raise ValueError(f"resamples must be at least 1, got {resamples}")
    params = params or AggregationParams()
    rng = np.random.default_rng(seed)
    model = original.model
    n = len(volunteer_models)
    values: dict[str, list[tuple[float, ...]]] = {name: [] for name in model.components()}
    pitches: list[list[float]] = [[] for _ in model.arms]
    scale, _, _ = arm_scales(image_shape, method)
    curves = [drop_repeated_vertices(arm.points / scale) for arm in model.arms]
    for _ in range(resamples):
        crowd = [volunteer_models[i] for i in rng.integers(0, n, n)] if n else []
        again = aggregate(crowd, image_shape, params=params, method=method).model
        for name, recorded in values.items():
            comp = getattr(again, name)
            if comp is not None:
                recorded.append(tuple(getattr(comp, key) for key in _GEOMETRY))
        if curves and again.arms:
            _match_arms(curves, again, scale, params.spiral_eps, pitches)
    parts = {}
    found: dict[str, int] = {}
    for name, comp in model.components().items():
        found[name] = len(values[name])
        if found[name] < 2:
            parts[name] = comp
            continue
        table = np.array(values[name])
        errors = dict(comp.errors)
        for k, key in enumerate(_GEOMETRY[:4]):
            errors[key] = float(np.std(table[:, k], ddof=1))
        errors["roll"] = circular_std(table[:, 4])
        parts[name] = replace(comp, errors=errors)
    arms = []
    for k, arm in enumerate(model.arms):
        found[f"arm:{k}"] = len(pitches[k])
        if arm.fit is None or len(pitches[k]) < 2:
            arms.append(arm)
            continue
        spread = float(np.std(pitches[k], ddof=1))
        arms.append(replace(arm, fit=replace(arm.fit, pitch_angle_err_deg=spread)))
    bootstrapped = GalaxyModel(**parts, arms=tuple(arms))
    return BootstrapResult(model=bootstrapped, found=found, resamples=resamples)


def _match_arms(
    curves: list[np.ndarray],
    again: GalaxyModel,
    scale: np.ndarray,
    reach: float,
    pitches: list[list[float]],
) -> None:
    """Record, for each original arm, the pitch of the nearest resampled arm within reach."""
    others = [drop_repeated_vertices(arm.points / scale) for arm in again.arms]
    usable = [j for j, curve in enumerate(others) if len(curve) > 1]
    if not usable:
        return
    lines = [c for c in curves if len(c) > 1]
    index = [k for k, c in enumerate(curves) if len(c) > 1]
    matrix = polyline_distance_matrix(lines + [others[j] for j in usable])
    block = matrix[: len(lines), len(lines) :]
    for row, k in enumerate(index):
        best = int(np.argmin(block[row]))
        if block[row, best] <= reach:
            fit = again.arms[usable[best]].fit
            if fit is not None and math.isfinite(fit.pitch_angle_deg):
                pitches[k].append(float(fit.pitch_angle_deg))
