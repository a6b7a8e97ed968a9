"""Spiral-arm aggregation: poly-line clustering and log-spiral fits (spec §6).

Volunteers' arm poly-lines are filtered (§6.1), cut around the disk centre (§6.2), clustered
with DBSCAN on a symmetric mean-squared point-to-poly-line distance (§6.4–6.5), and each
cluster is fitted with a log spiral ``ln R = c0 + c1·θ`` in the plane of the aggregate disk
(§6.6) after outlier cleaning, unwrapping and radial weighting. Near-duplicate arms are then
merged and refitted (§6.7).

Methods (spec §12.1, §13):

``reference``
    the published behaviour: the fit uses the raw poly-lines (equalised ones only after a
    merge, bug 6), arms are merged with the reference's greedy pair grouping (bug 7), and
    coordinates are divided element-wise by the image shape ``(H, W)`` so x is scaled by the
    height and y by the width, with ``a = exp(c0)·H`` (bug 18).
``corrected``
    equalised poly-lines feed every fit, merging takes connected components (transitive, one
    group per arm), the poly-line metric divides x by W and y by H (§6.3), and deprojection
    uses the single length ``sqrt(W·H)`` so that it stays a similarity transform on
    non-square images (an anisotropic scale would distort the angles the pitch is read
    from); ``a`` is in that same length. Both are identical to the reference on square images.

In both methods the pitch-angle error is read from the slope's posterior variance, as the
reference pipeline's ``sigma_pa`` does; the reference's separate ``Arm.get_error`` helper,
which read the intercept (bug 5), is not part of the output. Repeated consecutive vertices are
dropped before the metric in both methods (a zero-length segment made the reference's metric
NaN, §6.4).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

from gzbcat.model import Method, SersicComponent, SpiralArm

from .arm_fit import (
    ArmFit,
    arm_scales,
    equalise_polylines,
    fit_arm,
    point_weights,
    split_at_centre,
    unwrap_grouped,
    usable_arm,
)
from .clustering import dbscan_labels
from .grouped_lof import grouped_lof_inliers
from .params import AGGREGATION_RULES, AggregationParams
from .polyline_metric import (
    directed_distance,
    directed_distance_matrix,
    drop_repeated_vertices,
    polyline_distance,
    polyline_distance_matrix,
)

__all__ = [
    "ArmFit",
    "aggregate_arms",
    "directed_distance",
    "directed_distance_matrix",
    "drop_repeated_vertices",
    "equalise_polylines",
    "fit_arm",
    "grouped_lof_inliers",
    "merge_groups",
    "point_weights",
    "polyline_distance",
    "polyline_distance_matrix",
    "split_at_centre",
    "unwrap_grouped",
    "usable_arm",
]

logger = logging.getLogger(__name__)


def merge_groups(close: np.ndarray, method: Method = Method.CORRECTED) -> list[list[int]]:
    """Group arms from a boolean "should merge" matrix (§6.7).

    ``corrected``: the connected components of the graph of close pairs, so merges are
    transitive and each arm is in exactly one group; groups are sorted by their first arm.
    ``reference``: the published greedy grouping, which walks the pairs in order, starts a
    new group for a pair that touches no group yet and otherwise adds it to *every* group it
    touches (an arm can end up in two groups; transitive merges can be missed); arms in no
    pair stay alone.
    """
    n = len(close)
    if AGGREGATION_RULES[method].transitive_merge:
        n_groups, label = connected_components(csr_matrix(np.triu(close, 1)), directed=False)
        return sorted(np.flatnonzero(label == g).tolist() for g in range(n_groups))
    pairs = [(i, j) for i in range(n) for j in range(i + 1, n) if close[i, j]]
    groups: list[set[int]] = []
    for pair in pairs:
        touching = [grp for grp in groups if grp & set(pair)]
        if not touching:
            groups.append(set(pair))
            continue
        for grp in touching:
            grp.update(pair)
    paired = {k for pair in pairs for k in pair}
    return [sorted(grp) for grp in groups] + [[k] for k in range(n) if k not in paired]


def aggregate_arms(
    arms: Sequence[tuple[np.ndarray, int]],
    disk: SersicComponent,
    image_shape: tuple[int, int],
    *,
    params: AggregationParams | None = None,
    method: Method = Method.CORRECTED,
) -> list[tuple[SpiralArm, list[int]]]:
    """Aggregate volunteers' drawn arms into fitted log-spiral arms (spec §6).

    Parameters
    ----------
    arms
        ``(points, owner)`` per drawn arm: (N, 2) image-frame pixels and the index of the
        volunteer model that drew it.
    disk
        The aggregate disk (deprojection centre, roll and axis ratio).
    image_shape
        (H, W) of the cutout, pixels.
    params, method
        Aggregation parameters and method (see the module docstring).

    Returns
    -------
    One ``(SpiralArm, member owners)`` per kept arm: the arm's points are the fitted log
    spiral on the image, with placeholder intensity and spread (§6.9) and its
    :class:`LogSpiralFit`; the owners are the sorted volunteer-model indices that contributed.
    """
    params = params or AggregationParams()
    centre = np.array([disk.mux, disk.muy])
    lines: list[np.ndarray] = []
    owners: list[int] = []
    for points, owner in arms:
        if not usable_arm(points, params.min_arm_points):
            continue
        for raw_piece in split_at_centre(points, centre, params.centre_split_radius_px):
            piece = drop_repeated_vertices(raw_piece)
            if len(piece) > 1:
                lines.append(piece)
                owners.append(int(owner))
    if len(lines) < params.spiral_min_samples:
        return []
    metric_scale, _, _ = arm_scales(image_shape, method)
    # Entries above the cutoff may be lower bounds: DBSCAN only asks which are ≤ eps.
    distances = polyline_distance_matrix(
        [line / metric_scale for line in lines],
        cutoff=params.spiral_eps * params.metric_cutoff_factor,
    )
    labels = dbscan_labels(distances, params.spiral_eps, params.spiral_min_samples)

    fits = []
    for label in range(int(labels.max()) + 1):
        idx = np.flatnonzero(labels == label)
        fits.append(
            fit_arm(
                [lines[i] for i in idx],
                [owners[i] for i in idx],
                disk,
                image_shape,
                params=params,
                method=method,
            )
        )
    fits = [f for f in fits if not f.flagged_bad]
    fits = _merge(fits, disk, image_shape, params, method)
    fits = [f for f in fits if not f.flagged_bad]
    return [
        (
            SpiralArm(
                points=f.polyline,
                intensity=params.arm_intensity,
                spread=params.arm_spread_px,
                falloff=1.0,
                fit=f.fit,
            ),
            sorted(set(f.owners)),
        )
        for f in fits
    ]


def _merge(
    fits: list[ArmFit],
    disk: SersicComponent,
    image_shape: tuple[int, int],
    params: AggregationParams,
    method: Method,
) -> list[ArmFit]:
    """Merge fitted arms whose curves nearly coincide, refitting each merged group (§6.7)."""
    if len(fits) < 2:
        return fits
    metric_scale, _, _ = arm_scales(image_shape, method)
    curves = [drop_repeated_vertices(f.polyline / metric_scale) for f in fits]
    directed = directed_distance_matrix(
        curves, cutoff=params.merge_distance * params.metric_cutoff_factor
    )
    close = np.minimum(directed, directed.T) <= params.merge_distance
    np.fill_diagonal(close, False)
    merged = []
    for group in merge_groups(close, method):
        if len(group) == 1:
            merged.append(fits[group[0]])
            continue
        member_lines = [line for k in group for line in fits[k].lines]
        member_owners = [o for k in group for o in fits[k].owners]
        merged.append(
            fit_arm(
                member_lines,
                member_owners,
                disk,
                image_shape,
                params=params,
                method=method,
                # The reference fits the members' lines as they are (each equalised to its own
                # cluster's length); corrected re-equalises them all to one length.
                fit_lines=None if AGGREGATION_RULES[method].equalised_fit_lines else member_lines,
            )
        )
    return merged
