"""Leave-one-group-out local outlier factors of all groups from one k-d tree.

The kernel behind :func:`gzbcat.aggregation.grouped_lof.grouped_lof_inliers`; its plain form
is :func:`gzbcat.aggregation.grouped_lof.grouped_lof_scores` (scikit-learn refitted per
group), and the tests check that the two agree.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

__all__ = ["grouped_lof_scores_fast"]

_SPARE_NEIGHBOURS = 12
"""Tree query size beyond ``n_neighbors`` (the point itself takes one); the rare rows that
lose more of their listed neighbours to a left-out group are queried again."""


def grouped_lof_scores_fast(points: np.ndarray, groups: np.ndarray, n_neighbors: int) -> np.ndarray:
    """Return each point's local outlier factor against the points outside its group.

    The scores of :func:`~gzbcat.aggregation.grouped_lof.grouped_lof_scores`: for a point p
    of group g, T the other groups' points and ``k = min(n_neighbors, |T| − 1)``,
    ``LOF(p) = mean over o in N_k(p) of lrd(o) / lrd(p)`` with
    ``lrd(p) = 1 / (mean over o in N_k(p) of max(d(p, o), k-distance of o in T) + 1e-10)``.
    Equal to the plain form up to rounding in the sums and the order of exactly tied
    neighbours; NaN where T has fewer than two points.

    Instead of one fit per group, a k-d tree lists every point's nearest neighbours once:
    with g left out, a point's k nearest neighbours in T are the first k entries of its list
    that are neither itself nor in g. Every (left-out group, point) pair that a score needs
    is then a separate training point of its own: the query points, their neighbours (whose
    densities enter the score) and those neighbours' neighbours (whose k-distances enter the
    densities), and all groups are scored together.
    """
    labels = np.unique(groups)
    codes = np.searchsorted(labels, groups)
    sizes = np.bincount(codes, minlength=len(labels))
    n = len(points)
    lists = _NeighbourLists(
        points,
        codes,
        k_listed=n_neighbors + _SPARE_NEIGHBOURS,
        k_full=n_neighbors + int(sizes.max()) + 1,
    )
    scores = np.full(n, np.nan)
    # k is capped per group at its training size − 1; almost always every group shares the
    # uncapped value, so the groups are scored in one batch per value of k.
    k_of_group = np.minimum(n_neighbors, n - sizes - 1)
    for k in np.unique(k_of_group):
        if k < 1:
            continue  # fewer than two training points: no fit
        query = np.flatnonzero(np.isin(codes, np.flatnonzero(k_of_group == k)))
        scores[query] = _lof_scores(lists, query, codes[query], int(k))
    return scores


class _NeighbourLists:
    """Sorted nearest-neighbour lists of a point cloud, read leaving one group out at a time.

    Every point's ``k_listed − 1`` nearest other points are listed once; rows that lose too
    many of them to a left-out group are queried again for ``k_full − 1``, which is enough
    that after removing any one group at least the wanted number remains. Lists are stored
    transposed, (rank, point), so that a running count down the ranks is one vector
    operation per rank across all rows.

    Attributes
    ----------
    neighbour, distance
        (ranks, points) the listed neighbours of every point, nearest first, and their
        distances.
    group, neighbour_group
        Group code of every point, and of every listed neighbour.
    """

    def __init__(self, points: np.ndarray, codes: np.ndarray, k_listed: int, k_full: int) -> None:
        self.n_points = len(points)
        self.points = points
        self.group = codes.astype(np.int8 if codes.max() < 127 else np.int32)
        self.tree = cKDTree(points)
        self.k_full = min(self.n_points, k_full)
        self.k_listed = min(self.k_full, k_listed)
        # A running count of usable neighbours never exceeds the list length.
        self.count_dtype = np.int8 if self.k_listed < 127 else np.int32
        self.neighbour, self.distance = self._query(np.arange(self.n_points), self.k_listed)
        self.neighbour_group = self.group[self.neighbour]

    def _query(self, rows: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The k − 1 nearest other points of the rows: (index, distance), each (k − 1, rows)."""
        distance, index = self.tree.query(self.points[rows], k=k)
        distance, index = distance.reshape(len(rows), k), index.reshape(len(rows), k)
        is_self = index == rows[:, None]
        # Almost always the row itself comes first (distance 0); where more than k points
        # coincide with it, it may be missing, and then the last neighbour is dropped instead.
        is_self[:, -1] |= ~is_self.any(axis=1)
        keep = ~is_self
        index = index[keep].reshape(len(rows), k - 1).T.astype(np.int32)
        distance = distance[keep].reshape(-1, k - 1).T
        return np.ascontiguousarray(index), np.ascontiguousarray(distance)

    def nearest_outside_group(
        self, rows: np.ndarray, left_out: np.ndarray, k: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` nearest neighbours of each row among the points outside a left-out group.

        ``left_out[i]`` is the group code left out for ``rows[i]``. Returns (indices,
        distances), each (k, len(rows)), nearest first: the row's listed neighbours with the
        row itself and the left-out group removed (up to the order of exactly tied points).
        """
        m = len(rows)
        skip = np.take(self.neighbour_group, rows, axis=1) == left_out.astype(self.group.dtype)
        # usable[r] = listed neighbours of rank ≤ r that are not skipped, rank by rank.
        usable = np.empty(skip.shape, dtype=self.count_dtype)
        np.logical_not(skip[0], out=usable[0], casting="unsafe")
        for rank in range(1, len(skip)):
            np.subtract(usable[rank - 1], skip[rank], out=usable[rank])
            usable[rank] += 1
        short = np.flatnonzero(usable[-1] < k)
        # The j-th kept neighbour sits at rank j + (skipped entries before it), and a skipped
        # entry comes before the j-th kept one exactly when at most j usable ones precede it.
        # So each skipped entry adds one to every output position from its usable count on:
        # a histogram of those counts, summed down the positions, gives every shift at once
        # while touching only the skipped entries.
        skipped = np.flatnonzero(skip)
        first_shifted = np.minimum(usable.ravel()[skipped], k).astype(np.intp)  # k: none
        first_shifted *= m
        first_shifted += skipped % m
        at = np.bincount(first_shifted, minlength=(k + 1) * m)[: k * m].reshape(k, m)
        # ``at`` becomes each kept neighbour's flat position in the (rank, point) lists:
        # at[j] = (j + skipped before it)·n_points + row.
        at[0] *= self.n_points
        at[0] += rows
        for j in range(1, k):
            at[j] *= self.n_points
            at[j] += at[j - 1]
            at[j] += self.n_points
        if short.size:
            at[:, short] = np.arange(k)[:, None] * self.n_points + rows[short]  # replaced below
        neighbour = self.neighbour.ravel()[at]
        distance = self.distance.ravel()[at]
        if short.size:
            # The row lost too many listed neighbours to the left-out group: ask the tree for
            # enough and keep the first k outside the group.
            more, more_distance = self._query(rows[short], self.k_full)
            outside = self.group[more] != left_out[short]
            taken = outside & (np.cumsum(outside, axis=0) <= k)
            if np.any(taken.sum(axis=0) < k):  # cannot happen: k_full always suffices
                raise AssertionError("neighbour lists too short")
            neighbour[:, short] = more.T[taken.T].reshape(-1, k).T
            distance[:, short] = more_distance.T[taken.T].reshape(-1, k).T
        return neighbour, distance

    def kth_distance_outside_group(
        self, rows: np.ndarray, left_out: np.ndarray, k: int
    ) -> np.ndarray:
        """Distance of each row to its k-th nearest neighbour outside a left-out group.

        Rows with no member of that group among their k nearest other points read it
        straight from the lists; only the others are searched.
        """
        out = self.distance[k - 1, rows]
        left_out_code = left_out.astype(self.group.dtype)  # compared in the lists' own type
        hit = np.flatnonzero(
            np.any(np.take(self.neighbour_group[:k], rows, axis=1) == left_out_code, axis=0)
        )
        if hit.size:
            out[hit] = self.nearest_outside_group(rows[hit], left_out[hit], k)[1][k - 1]
        return out


def _lof_scores(
    lists: _NeighbourLists, query: np.ndarray, query_group: np.ndarray, k: int
) -> np.ndarray:
    """``LOF(p)`` of each query point p against the points outside its own group.

    Each (left-out group g, point o) pair is indexed by the key ``g·n_points + o``. The
    query points' neighbours are the pairs whose density ``lrd`` is needed; their
    neighbours are the further pairs whose k-distance those densities need. The sums run in
    another order than scikit-learn's, so the scores agree to within rounding.
    """
    n = lists.n_points
    n_keys = n * (int(query_group.max()) + 1)
    q_neighbour, q_distance = lists.nearest_outside_group(query, query_group, k)
    q_keys = query_group * n + q_neighbour
    # Pairs whose density is needed: the query points' neighbours, each once.
    needed = np.zeros(n_keys, dtype=bool)
    needed[q_keys] = True
    dense_keys = np.flatnonzero(needed)
    dense_group, dense_row = np.divmod(dense_keys, n)
    d_neighbour, d_distance = lists.nearest_outside_group(dense_row, dense_group, k)
    d_neighbour_keys = dense_group * n + d_neighbour
    # Pairs whose k-distance is needed besides those: the neighbours' neighbours.
    needed[:] = False
    needed[d_neighbour_keys] = True
    needed[dense_keys] = False
    far_keys = np.flatnonzero(needed)
    far_group, far_row = np.divmod(far_keys, n)
    k_distance = np.zeros(n_keys)
    k_distance[dense_keys] = d_distance[k - 1]  # the lists are sorted: the k-th is the last
    k_distance[far_keys] = lists.kth_distance_outside_group(far_row, far_group, k)

    reach = np.maximum(d_distance, k_distance[d_neighbour_keys])
    lrd = np.zeros(n_keys)
    lrd[dense_keys] = 1.0 / (np.sum(reach, axis=0) / k + 1e-10)
    q_reach = np.maximum(q_distance, k_distance[q_keys])
    q_lrd = 1.0 / (np.sum(q_reach, axis=0) / k + 1e-10)
    return np.sum(lrd[q_keys] / q_lrd, axis=0) / k
