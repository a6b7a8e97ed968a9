"""DBSCAN on a small precomputed distance matrix, label for label as scikit-learn's.

The aggregation clusters tens of shapes and a few hundred poly-lines per subject; for inputs
this small scikit-learn's ``DBSCAN`` spends most of its time validating arrays and building
neighbour lists (about 6 ms a call), more than the clustering itself.
"""

from __future__ import annotations

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

__all__ = ["dbscan_labels"]


def dbscan_labels(distances: np.ndarray, eps: float, min_samples: int) -> np.ndarray:
    """Return scikit-learn's ``DBSCAN(eps, min_samples, metric='precomputed')`` labels.

    Parameters
    ----------
    distances
        Symmetric (N, N) distance matrix with a zero diagonal.
    eps
        Neighbourhood radius (inclusive, as scikit-learn's ``d <= eps``).
    min_samples
        Neighbours a core point needs, counting itself.

    Returns
    -------
    (N,) labels, −1 for noise. scikit-learn scans points in index order and grows a cluster
    from each unlabelled core point, so clusters are numbered by their lowest core index and
    a border point reachable from several clusters joins the lowest-numbered one; here the
    clusters are the connected components of the core points and borders take the minimum.
    """
    distances = np.asarray(distances)
    n = len(distances)
    labels = np.full(n, -1, dtype=np.intp)
    if n == 0:
        return labels
    near = distances <= eps
    core = np.flatnonzero(np.count_nonzero(near, axis=1) >= min_samples)
    if core.size == 0:
        return labels
    _, component = connected_components(
        csr_matrix(near[np.ix_(core, core)]), directed=False, return_labels=True
    )
    # ``core`` is ascending, so a component's first position is its lowest core index.
    _, first, inverse = np.unique(component, return_index=True, return_inverse=True)
    rank = np.empty(len(first), dtype=np.intp)
    rank[np.argsort(first)] = np.arange(len(first))
    labels[core] = rank[inverse]
    others = np.flatnonzero(labels < 0)
    reach = near[np.ix_(others, core)]
    border = reach.any(axis=1)
    candidate = np.where(reach[border], labels[core], n)
    labels[others[border]] = candidate.min(axis=1)
    return labels
