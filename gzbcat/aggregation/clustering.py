"""DBSCAN on a precomputed distance matrix (spec §5.3, §6.5): scikit-learn's estimator."""

from __future__ import annotations

import numpy as np
from sklearn.cluster import DBSCAN

__all__ = ["dbscan_labels"]


def dbscan_labels(distances: np.ndarray, eps: float, min_samples: int) -> np.ndarray:
    """Return ``DBSCAN(eps, min_samples, metric='precomputed')`` labels of a distance matrix.

    Parameters
    ----------
    distances
        Symmetric (N, N) distance matrix with a zero diagonal.
    eps
        Neighbourhood radius (inclusive: ``d <= eps``).
    min_samples
        Neighbours a core point needs, counting itself.

    Returns
    -------
    (N,) labels, −1 for noise. Clusters are numbered in the order scikit-learn grows them
    (by their lowest core point); a border point reachable from several clusters joins the
    lowest-numbered one. An empty matrix gives no labels.
    """
    distances = np.asarray(distances)
    if len(distances) == 0:
        return np.zeros(0, dtype=np.intp)
    estimator = DBSCAN(eps=eps, min_samples=min_samples, metric="precomputed")
    return estimator.fit_predict(distances)
