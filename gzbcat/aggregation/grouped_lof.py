"""Leave-one-group-out local outlier factor of an arm cluster's points (spec §6.6.3).

Each poly-line's points are scored by a novelty local outlier factor fitted on the points of
the *other* poly-lines, so that a volunteer's stray stroke cannot vouch for itself.
:func:`grouped_lof_scores` is the plain form (scikit-learn refitted per group);
:func:`gzbcat.aggregation._grouped_lof.grouped_lof_scores_fast` gives the same scores for all
groups at once and is what the pipeline uses.
"""

from __future__ import annotations

import numpy as np
from sklearn.neighbors import LocalOutlierFactor

from ._grouped_lof import grouped_lof_scores_fast

__all__ = ["LOF_INLIER_MAX", "grouped_lof_inliers", "grouped_lof_scores"]

LOF_INLIER_MAX = 1.5
"""A point is an inlier where its LOF is at most this: scikit-learn's offset for
``contamination='auto'`` (its prediction +1), as the reference used."""


def grouped_lof_scores(points: np.ndarray, groups: np.ndarray, n_neighbors: int) -> np.ndarray:
    """Return each point's local outlier factor against the points outside its group.

    For a point p of group g, with T the points of the other groups and
    ``k = min(n_neighbors, |T| − 1)``::

        reach(p, o) = max(d(p, o), k-distance of o in T)
        lrd(p)      = 1 / (mean over o in N_k(p) of reach(p, o) + 1e-10)
        LOF(p)      = mean over o in N_k(p) of lrd(o) / lrd(p)

    where ``N_k(p)`` are p's k nearest points in T (a point of T is not its own neighbour).
    This is scikit-learn's ``LocalOutlierFactor(novelty=True)`` fitted on T, refitted for
    every group: the plain form of :func:`grouped_lof_scores_fast`.

    Parameters
    ----------
    points
        (N, D) coordinates.
    groups
        (N,) group label of each point (any integers).
    n_neighbors
        The wanted k, capped per group as above.

    Returns
    -------
    (N,) LOF scores; NaN for the points of a group whose T has fewer than two points.
    """
    scores = np.full(len(points), np.nan)
    for g in np.unique(groups):
        in_group = groups == g
        train = points[~in_group]
        if len(train) < 2:
            continue
        lof = LocalOutlierFactor(n_neighbors=min(n_neighbors, len(train) - 1), novelty=True)
        scores[in_group] = -lof.fit(train).score_samples(points[in_group])
    return scores


def grouped_lof_inliers(
    coords: np.ndarray, groups: np.ndarray, n_neighbors: int, *, use_sklearn: bool = False
) -> np.ndarray:
    """Flag outlying points with a leave-one-group-out local outlier factor (§6.6.3).

    The coordinates are standardised per axis and scored with :func:`grouped_lof_scores`; a
    point is an inlier where its LOF ≤ :data:`LOF_INLIER_MAX` (1.5), and every point of a
    group whose other groups hold fewer than two points is an inlier (no fit).

    Parameters
    ----------
    coords
        (N, 2) points of the cluster's poly-lines.
    groups
        (N,) poly-line of each point.
    n_neighbors
        LOF neighbours (spec §6.6.3: 20), capped at the training size − 1.
    use_sklearn
        True: score with scikit-learn refitted per group (the plain form, as the reference
        did). False: with :func:`grouped_lof_scores_fast`, the same scores up to rounding in
        the sums and the order of exactly tied neighbours.

    Returns
    -------
    (N,) bool, True for inliers.
    """
    std = coords.std(axis=0)
    z = (coords - coords.mean(axis=0)) / np.where(std > 0, std, 1.0)
    score = grouped_lof_scores if use_sklearn else grouped_lof_scores_fast
    scores = score(z, groups, n_neighbors)
    return np.isnan(scores) | (scores <= LOF_INLIER_MAX)
