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
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import shapely
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree
from sklearn.linear_model import BayesianRidge
from sklearn.neighbors import LocalOutlierFactor

from gzbcat.geometry import deproject, nearest_on_polyline, reproject
from gzbcat.model import LogSpiralFit, Method, SersicComponent, SpiralArm

from .clustering import dbscan_labels
from .params import AGGREGATION_RULES, AggregationParams

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

_LOF_SPARE_NEIGHBOURS = 12
"""Neighbours queried per point by the grouped LOF beyond ``n_neighbors`` (and the point
itself); rows that lose more of them to the left-out group are queried again with enough
(see :class:`_NeighbourLists`)."""


# --------------------------------------------------------------------------------------------
# Poly-line metric (§6.4)


def drop_repeated_vertices(points: np.ndarray) -> np.ndarray:
    """Remove consecutive duplicate vertices, whose zero-length segments make the metric NaN."""
    points = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    if len(points) < 2:
        return points
    keep = np.ones(len(points), dtype=bool)
    keep[1:] = np.any(np.diff(points, axis=0) != 0, axis=1)
    return points[keep]


def directed_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Return ``D(a, b)``: the mean over a's vertices of the squared distance to poly-line b.

    The one-way term of spec §6.4; the distance of a point to a poly-line is
    :func:`gzbcat.geometry.nearest_on_polyline`'s (a zero-length segment acts as its vertex).
    """
    return float(np.mean(nearest_on_polyline(np.asarray(a, dtype=np.float64), b)[0]))


def _as_lines(lines: Sequence[np.ndarray]) -> list[np.ndarray]:
    return [np.asarray(line, dtype=np.float64).reshape(-1, 2) for line in lines]


def _bounding_box_bound(lines: list[np.ndarray]) -> np.ndarray:
    """``B[i, j] ≤ D(i, j)``: mean squared distance of line i's vertices to line j's bounding box.

    Every segment of line j lies inside its axis-aligned bounding box, so the distance of a
    point to the box never exceeds its distance to the nearest segment; averaging over line
    i's vertices keeps the inequality. The diagonal is 0.
    """
    points = np.concatenate(lines)
    low = np.array([line.min(axis=0) for line in lines])
    high = np.array([line.max(axis=0) for line in lines])
    dx = np.maximum(np.maximum(low[:, 0] - points[:, :1], points[:, :1] - high[:, 0]), 0.0)
    dy = np.maximum(np.maximum(low[:, 1] - points[:, 1:], points[:, 1:] - high[:, 1]), 0.0)
    counts = np.array([len(line) for line in lines])
    offsets = np.concatenate(([0], np.cumsum(counts)[:-1]))
    bound = np.add.reduceat(dx * dx + dy * dy, offsets, axis=0) / counts[:, None]
    np.fill_diagonal(bound, 0.0)
    return bound


def _directed_entries(lines: list[np.ndarray], wanted: np.ndarray) -> np.ndarray:
    """Exact ``D(i, j)`` where ``wanted[i, j]`` (off the diagonal); 0 elsewhere.

    For each target line j, the vertices of every wanted source line i are measured against
    j at once, so the work is proportional to the wanted pairs.
    """
    k = len(lines)
    out = np.zeros((k, k))
    counts = np.array([len(line) for line in lines])
    wanted = wanted & ~np.eye(k, dtype=bool)
    for j in np.flatnonzero(wanted.any(axis=0)):
        sources = np.flatnonzero(wanted[:, j])
        points = np.concatenate([lines[i] for i in sources])
        sq_distance = nearest_on_polyline(points, lines[j])[0]
        starts = np.concatenate(([0], np.cumsum(counts[sources])[:-1]))
        out[sources, j] = np.add.reduceat(sq_distance, starts) / counts[sources]
    return out


def directed_distance_matrix(
    lines: Sequence[np.ndarray], *, cutoff: float | None = None
) -> np.ndarray:
    """Return ``D[i, j]``: mean over line i's vertices of the squared distance to line j.

    This is the one-way term of spec §6.4, for all pairs at once.

    Parameters
    ----------
    lines
        K poly-lines, each (n_k, 2), without repeated consecutive vertices.
    cutoff
        None: every entry is exact. A number: entries are exact wherever the value is at
        most ``cutoff``; elsewhere an entry may instead hold a lower bound of the value
        (the mean squared distance to line j's bounding box) that is itself above
        ``cutoff``. Any comparison ``D[i, j] ≤ t`` with ``t ≤ cutoff`` is therefore
        decided exactly as with the exact matrix, for a fraction of the work.

    The diagonal is 0.
    """
    lines = _as_lines(lines)
    if not lines:
        return np.zeros((0, 0))
    if cutoff is None:
        return _directed_entries(lines, np.ones((len(lines), len(lines)), dtype=bool))
    bound = _bounding_box_bound(lines)
    wanted = bound <= cutoff
    return np.where(wanted, _directed_entries(lines, wanted), bound)


def polyline_distance_matrix(
    lines: Sequence[np.ndarray], *, cutoff: float | None = None
) -> np.ndarray:
    """Return the symmetric matrix ``D(A, B) + D(B, A)`` of spec §6.4 for all pairs.

    Parameters
    ----------
    lines
        K poly-lines, each (n_k, 2), without repeated consecutive vertices (see
        :func:`drop_repeated_vertices`), in whatever units the caller normalised them to.
    cutoff
        None: every entry is exact. A number: entries are exact wherever the distance is at
        most ``cutoff``; elsewhere an entry may hold a lower bound of the distance (the
        bounding-box bound of both directed terms, see :func:`directed_distance_matrix`)
        that is itself above ``cutoff``. DBSCAN with ``eps ≤ cutoff`` on the matrix finds
        exactly the same neighbourhoods, hence the same clusters, as on the exact one.
    """
    lines = _as_lines(lines)
    if cutoff is None or not lines:
        directed = directed_distance_matrix(lines)
        out = directed + directed.T
    else:
        bound = _bounding_box_bound(lines)
        bound = bound + bound.T
        wanted = bound <= cutoff
        directed = _directed_entries(lines, wanted)
        out = np.where(wanted, directed + directed.T, bound)
    np.fill_diagonal(out, 0.0)
    return out


def polyline_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Return ``D(a, b) + D(b, a)``: the symmetric poly-line distance of spec §6.4."""
    return float(polyline_distance_matrix([a, b])[0, 1])


# --------------------------------------------------------------------------------------------
# Arm preparation (§6.1–6.2) and the per-cluster fit (§6.6)


def usable_arm(points: np.ndarray, min_points: int) -> bool:
    """Whether a drawn arm is kept: at least ``min_points`` points and a simple line (§6.1)."""
    points = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    return len(points) >= min_points and bool(shapely.is_simple(shapely.linestrings(points)))


def split_at_centre(points: np.ndarray, centre: np.ndarray, radius_px: float) -> list[np.ndarray]:
    """Cut out the points within ``radius_px`` of the centre, splitting the arm there (§6.2).

    Pieces with fewer than two points are dropped.
    """
    points = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    near = np.hypot(*(points - centre).T) < radius_px
    if not near.any():
        return [points]
    pieces, start = [], 0
    for cut in np.flatnonzero(near):
        pieces.append(points[start:cut])
        start = cut + 1
    pieces.append(points[start:])
    return [piece for piece in pieces if len(piece) > 1]


def equalise_polylines(lines: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Resample each poly-line at ``N_max`` points equally spaced along its length (§6.6.1).

    ``N_max`` is the largest point count among the lines; resampling is linear in the
    chord-length parameter, like the reference's ``splprep(k=1, s=0)``.
    """
    n_max = max(len(line) for line in lines)
    u_new = np.linspace(0.0, 1.0, n_max)
    out = []
    for line in lines:
        chord = np.concatenate(([0.0], np.cumsum(np.hypot(*np.diff(line, axis=0).T))))
        u = chord / chord[-1] if chord[-1] > 0 else np.linspace(0.0, 1.0, len(line))
        out.append(
            np.column_stack((np.interp(u_new, u, line[:, 0]), np.interp(u_new, u, line[:, 1])))
        )
    return out


def grouped_lof_inliers(
    coords: np.ndarray, groups: np.ndarray, n_neighbors: int, *, use_sklearn: bool = False
) -> np.ndarray:
    """Flag outlying points with a leave-one-group-out local outlier factor (§6.6.3).

    The coordinates are standardised per axis; for each poly-line (group) a novelty LOF is
    fitted on the points of the *other* poly-lines and scores this one's points. A point is an
    inlier where its LOF ≤ 1.5 (scikit-learn's ``contamination='auto'`` offset, prediction +1).
    ``n_neighbors`` is capped at the training size − 1, as scikit-learn itself would do.

    By default a k-d tree gives every point's nearest neighbours once; for a left-out group g
    the k nearest neighbours of a point among the other groups are the first k entries of its
    list that are neither itself nor in g (lists are topped up for the rare rows that lose too
    many). All groups are scored in one vectorised pass that visits only what a score needs:
    the group's points, their neighbours (densities) and those neighbours' neighbours
    (k-distances). This reproduces scikit-learn's ``LocalOutlierFactor(novelty=True)`` (up to
    the order of exactly tied neighbours and rounding in its sums) some 50–100× faster than
    refitting it per group. ``use_sklearn=True`` refits scikit-learn's estimator per group
    instead, as the reference did.
    """
    std = coords.std(axis=0)
    z = (coords - coords.mean(axis=0)) / np.where(std > 0, std, 1.0)
    labels = np.unique(groups)
    inliers = np.ones(len(coords), dtype=bool)
    if use_sklearn:
        for g in labels:
            in_group = groups == g
            train = z[~in_group]
            if len(train) < 2:
                continue
            lof = LocalOutlierFactor(
                n_neighbors=min(n_neighbors, len(train) - 1), contamination="auto", novelty=True
            ).fit(train)
            inliers[in_group] = lof.predict(z[in_group]) == 1
        return inliers

    codes = np.searchsorted(labels, groups)
    sizes = np.bincount(codes, minlength=len(labels))
    n = len(z)
    neighbours = _NeighbourLists(
        z, codes, n_neighbors + int(sizes.max()) + 1, n_neighbors + _LOF_SPARE_NEIGHBOURS
    )
    # The neighbour count is capped per group at its training size − 1; almost always every
    # group shares the uncapped value, so the groups are handled in one batch per value.
    k_of_group = np.minimum(n_neighbors, n - sizes - 1)
    for k in np.unique(k_of_group):
        if k < 1:
            continue  # fewer than two training points: no fit, every point stays an inlier
        batch = np.flatnonzero(k_of_group == k)
        query = np.flatnonzero(np.isin(codes, batch))
        inliers[query] = _grouped_lof_scores(neighbours, query, codes[query], int(k)) <= 1.5
    return inliers


class _NeighbourLists:
    """Sorted nearest-neighbour lists of a point cloud, read leaving one group out at a time.

    A k-d tree is queried once for every point's ``k_first − 1`` nearest other points, and
    again, only for the rows that need it, for ``k_full − 1``: enough that after removing
    every member of any one group at least the wanted number of neighbours remains. Lists are
    stored transposed, (neighbour rank, point), so that the running counts below are one
    vector operation per rank across all rows, and gathers read whole rank rows.
    """

    def __init__(self, points: np.ndarray, codes: np.ndarray, k_full: int, k_first: int) -> None:
        self.n = len(points)
        self.points = points
        code_type = np.int8 if codes.max() < 127 else np.int32
        self.codes = codes.astype(code_type)
        self.tree = cKDTree(points)
        self.k_full = min(self.n, k_full)
        self.k_first = min(self.k_full, k_first)
        # Running counts of usable neighbours never exceed the list length.
        self.count_type = np.int8 if self.k_first < 127 else np.int32
        index, self.dist = self._query(np.arange(self.n), self.k_first)
        self.index = index
        self.index_codes = self.codes[index]

    def _query(self, rows: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The k − 1 nearest other points of the rows: (index, distance), each (k − 1, rows)."""
        dist, index = self.tree.query(self.points[rows], k=k)
        dist, index = dist.reshape(len(rows), k), index.reshape(len(rows), k)
        is_self = index == rows[:, None]
        # Almost always the row itself comes first (distance 0); where more than k points
        # coincide with it, it may be missing, and then the last neighbour is dropped instead.
        is_self[:, -1] |= ~is_self.any(axis=1)
        keep = ~is_self
        index = index[keep].reshape(len(rows), k - 1).T.astype(np.int32)
        return np.ascontiguousarray(index), np.ascontiguousarray(dist[keep].reshape(-1, k - 1).T)

    def first_valid(
        self, rows: np.ndarray, excluded: np.ndarray, k: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` nearest neighbours of each row among the points outside its group.

        ``excluded[i]`` is the group code left out for ``rows[i]``. Returns (indices,
        distances), each (k, len(rows)), nearest first: the row's neighbours once the row
        itself and its left-out group are removed (up to the order of exactly tied points).
        Only the group codes are read for every listed rank; indices and distances are
        gathered for the k ranks kept, so everything downstream works on k ranks, not all.
        """
        m = len(rows)
        skip = np.take(self.index_codes, rows, axis=1) == excluded.astype(self.codes.dtype)
        # Running count of usable neighbours down the ranks: one vector operation per rank
        # (numpy's cumsum along the first axis is ~25× slower on these short columns).
        count = np.empty(skip.shape, dtype=self.count_type)
        np.logical_not(skip[0], out=count[0], casting="unsafe")
        for rank in range(1, len(skip)):
            np.subtract(count[rank - 1], skip[rank], out=count[rank])
            count[rank] += 1
        short = np.flatnonzero(count[-1] < k)
        # The j-th kept neighbour sits at rank j + (entries skipped before it). A skipped entry
        # precedes the j-th kept one when no more than j usable ones come before it, so each
        # skipped entry adds one from output position count onwards: a histogram of those
        # positions, summed down the positions. Skipped entries are few (~5 %), so this reads
        # far less than compacting every column.
        flat = np.flatnonzero(skip)
        start = np.minimum(count.ravel()[flat], k).astype(np.intp)  # k: past the last kept
        start *= m
        start += flat % m
        at = np.bincount(start, minlength=(k + 1) * m)[: k * m].reshape(k, m)
        # ``at`` becomes each kept neighbour's flat position in the (rank, point) lists.
        at[0] *= self.n
        at[0] += rows
        for j in range(1, k):
            at[j] *= self.n
            at[j] += at[j - 1]
            at[j] += self.n
        if short.size:
            at[:, short] = np.arange(k)[:, None] * self.n + rows[short]  # replaced below
        nb = self.index.ravel()[at]
        dist = self.dist.ravel()[at]
        if short.size:
            # Rare: the row lost too many of its first neighbours to the left-out group. Ask
            # the tree for enough and keep the first k outside the group.
            more_nb, more_dist = self._query(rows[short], self.k_full)
            more_valid = self.codes[more_nb] != excluded[short]
            more_taken = more_valid & (np.cumsum(more_valid, axis=0) <= k)
            if np.any(more_taken.sum(axis=0) < k):  # cannot happen: k_full always suffices
                raise AssertionError("neighbour lists too short")
            nb[:, short] = more_nb.T[more_taken.T].reshape(-1, k).T
            dist[:, short] = more_dist.T[more_taken.T].reshape(-1, k).T
        return nb, dist

    def k_distance(self, rows: np.ndarray, excluded: np.ndarray, k: int) -> np.ndarray:
        """Distance of each row to its k-th nearest neighbour outside its left-out group.

        Most rows have no member of that group among their k nearest other points; their
        k-distance is read straight from the lists, and only the others are searched.
        """
        out = self.dist[k - 1, rows]
        excluded_code = excluded.astype(self.codes.dtype)  # compared in the lists' own type
        hit = np.flatnonzero(
            np.any(np.take(self.index_codes[:k], rows, axis=1) == excluded_code, axis=0)
        )
        if hit.size:
            out[hit] = self.first_valid(rows[hit], excluded[hit], k)[1][k - 1]
        return out


def _grouped_lof_scores(
    neighbours: _NeighbourLists, query: np.ndarray, query_group: np.ndarray, k: int
) -> np.ndarray:
    """Local outlier factor of each query point against the points outside its own group.

    All groups are scored together. For each query point only its neighbours (whose local
    reachability density enters its score) and their neighbours (whose k-distance enters
    those densities) are looked at: per (left-out group, point) pair, the quantities
    scikit-learn's ``LocalOutlierFactor(novelty=True)`` computes when fitted on the other
    groups' points (k-distance, reachability distance, density with its ``1e-10``, and the
    mean ratio of densities), summed in a different order (so equal to within rounding).
    """
    n = neighbours.n
    size = n * (int(query_group.max()) + 1)  # one slot per (left-out group, point)
    q_nb, q_dist = neighbours.first_valid(query, query_group, k)
    q_keys = query_group * n + q_nb
    # The query points' neighbours, one row per distinct (left-out group, point) pair.
    needed = np.zeros(size, dtype=bool)
    needed[q_keys] = True
    keys1 = np.flatnonzero(needed)
    g1, rows1 = np.divmod(keys1, n)
    nb1, dist1 = neighbours.first_valid(rows1, g1, k)
    nb1_keys = g1 * n + nb1
    # Their neighbours, whose k-distances the densities of rows1 need.
    needed[:] = False
    needed[nb1_keys] = True
    needed[keys1] = False
    keys2 = np.flatnonzero(needed)
    g2, rows2 = np.divmod(keys2, n)
    # k-distance: the farthest of the k neighbours (the lists are sorted).
    k_distance = np.zeros(size)
    k_distance[keys1] = dist1[k - 1]
    k_distance[keys2] = neighbours.k_distance(rows2, g2, k)

    reach1 = np.maximum(dist1, k_distance[nb1_keys])
    lrd = np.zeros(size)
    lrd[keys1] = 1.0 / (np.sum(reach1, axis=0) / k + 1e-10)
    q_reach = np.maximum(q_dist, k_distance[q_keys])
    q_lrd = 1.0 / (np.sum(q_reach, axis=0) / k + 1e-10)
    return np.sum(lrd[q_keys] / q_lrd, axis=0) / k


def unwrap_grouped(theta: np.ndarray, r: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Unwrap polar angles per poly-line and shift each by 2π to join the earlier ones (§6.6.5).

    Each group is ``np.unwrap``-ed along its own order, in label order. The first is kept;
    every later group takes the shift in {−2π, 0, +2π} that puts its (θ, R·2π/max R) points
    closest (the smaller of the two one-way distances, :func:`directed_distance`) to the
    segment joining the earlier groups' points of least and greatest θ (ties: the lowest
    index). A one-point group counts as a degenerate segment.
    """
    out = np.array(theta, dtype=np.float64, copy=True)
    shifts = np.array([-2.0 * math.pi, 0.0, 2.0 * math.pi])
    r_scaled = r * (2.0 * math.pi / np.max(r))
    earlier = np.zeros(0, dtype=np.intp)  # indices of the groups done so far, ascending
    for g in np.unique(groups):
        idx = np.flatnonzero(groups == g)
        t = np.unwrap(out[idx])
        if earlier.size:
            lo, hi = earlier[np.argmin(out[earlier])], earlier[np.argmax(out[earlier])]
            segment = np.array([[out[lo], r_scaled[lo]], [out[hi], r_scaled[hi]]])
            scores = []
            for shift in shifts:
                line = np.column_stack((t + shift, r_scaled[idx]))
                as_segment = line if len(line) > 1 else np.concatenate((line, line))
                scores.append(
                    min(directed_distance(line, segment), directed_distance(segment, as_segment))
                )
            t = t + shifts[int(np.argmin(scores))]
        out[idx] = t
        earlier = np.union1d(earlier, idx)
    return out


def point_weights(r: np.ndarray, groups: np.ndarray, bar_length: float = 0.0) -> np.ndarray:
    """Weight points by R² times the share of poly-lines that reach their radius (§6.6.7).

    100 radius values span [min R, max R]; bin i (i < 99) counts the groups whose radial range
    overlaps [r_i, r_{i+1}], the last bin counts 0, the counts are normalised to sum 1 and
    interpolated linearly. Points inside ``bar_length`` get 0, and the weights are divided by
    their mean.
    """
    r_bins = np.linspace(r.min(), r.max(), 100)
    labels = np.unique(groups)
    r_lo = np.array([r[groups == g].min() for g in labels])
    r_hi = np.array([r[groups == g].max() for g in labels])
    counts = np.zeros(100)
    counts[:-1] = np.sum(
        (r_hi[None, :] >= r_bins[:-1, None]) & (r_lo[None, :] <= r_bins[1:, None]), axis=1
    )
    total = counts.sum()
    density = np.interp(r, r_bins, counts / total) if total > 0 else np.ones_like(r)
    w = r**2 * density
    w[r < bar_length] = 0.0
    mean = w.mean()
    return w / mean if mean > 0 else np.ones_like(r)


@dataclass(frozen=True, eq=False)
class ArmFit:
    """One fitted arm cluster (spec §6.6.9).

    Attributes
    ----------
    fit
        The log-spiral parameters in the disk plane (``a`` in pixels).
    polyline
        (M, 2) the fitted log spiral reprojected onto the image, pixels.
    lines
        The cluster's equalised poly-lines (pixels), what a merge refits from.
    owners
        Per poly-line, the index of the volunteer model it came from.
    flagged_bad
        True where the fit's R² is below the threshold (§6.6.8).
    """

    fit: LogSpiralFit
    polyline: np.ndarray
    lines: tuple[np.ndarray, ...]
    owners: tuple[int, ...]
    flagged_bad: bool


def _scales(
    image_shape: tuple[int, int], method: Method
) -> tuple[np.ndarray, np.ndarray | float, float]:
    """(metric scale per axis, deprojection scale, scale of ``a``) for the method (§12.1 #18)."""
    height, width = float(image_shape[0]), float(image_shape[1])
    if not AGGREGATION_RULES[method].isotropic_scale:
        shape = np.array([height, width])
        return shape, shape, height
    length = math.sqrt(height * width)
    return np.array([width, height]), length, length


def fit_arm(
    lines: Sequence[np.ndarray],
    owners: Sequence[int],
    disk: SersicComponent,
    image_shape: tuple[int, int],
    *,
    params: AggregationParams | None = None,
    method: Method = Method.CORRECTED,
    fit_lines: Sequence[np.ndarray] | None = None,
) -> ArmFit:
    """Fit one cluster of drawn poly-lines with a log spiral in the disk plane (§6.6).

    Parameters
    ----------
    lines
        The cluster's poly-lines, image pixels.
    owners
        Per poly-line, the index of the volunteer model it came from.
    disk
        The aggregate disk; its centre, roll and q deproject the points.
    image_shape
        (H, W) of the cutout, pixels.
    params, method
        Aggregation parameters and method (see the module docstring).
    fit_lines
        Override the poly-lines that form the point cloud (the reference fits raw lines on
        the first pass); by default the equalised ones in ``corrected`` mode and ``lines``
        themselves in ``reference`` mode.

    Returns
    -------
    The fit, its reprojected poly-line and the cluster's equalised lines.
    """
    params = params or AggregationParams()
    lines = [np.asarray(line, dtype=np.float64).reshape(-1, 2) for line in lines]
    equalised = equalise_polylines(lines)
    if fit_lines is None:
        fit_lines = equalised if AGGREGATION_RULES[method].equalised_fit_lines else lines
    coords = np.concatenate(fit_lines)
    groups = np.concatenate([np.full(len(line), g) for g, line in enumerate(fit_lines)])
    inliers = grouped_lof_inliers(coords, groups, params.lof_n_neighbors)
    if np.count_nonzero(inliers) < 3:  # nothing left to fit: keep every point instead
        inliers[:] = True

    _, fit_scale, a_scale = _scales(image_shape, method)
    centre = np.array([disk.mux, disk.muy])
    # The reference divides bar_length by image_size[0]; with isotropic scaling, by the one length.
    bar_length = params.bar_length_px / a_scale
    face_on = deproject(coords, centre, disk.roll, disk.q, fit_scale)
    r_all = np.hypot(face_on[:, 0], face_on[:, 1])
    t_all = unwrap_grouped(np.arctan2(face_on[:, 1], face_on[:, 0]), r_all, groups)
    r, t, g = r_all[inliers], t_all[inliers], groups[inliers]

    weights = point_weights(r, g, bar_length)
    design = np.column_stack((np.ones_like(t), t))
    ridge = BayesianRidge(
        max_iter=params.ridge_max_iter,
        tol=params.ridge_tol,
        alpha_1=params.ridge_alpha_1,
        alpha_2=params.ridge_alpha_2,
        lambda_1=params.ridge_lambda_1,
        lambda_2=params.ridge_lambda_2,
        fit_intercept=False,
    ).fit(design, np.log(r), sample_weight=weights)
    c0, c1 = (float(v) for v in ridge.coef_)
    predicted = np.exp(design @ ridge.coef_)
    ss_tot = float(np.sum((r - r.mean()) ** 2))
    r_squared = 1.0 - float(np.sum((r - predicted) ** 2)) / ss_tot if ss_tot > 0 else 0.0

    t_predict = np.linspace(np.percentile(t, 1), np.percentile(t, 99), params.n_arm_samples)
    r_predict = np.exp(c0 + c1 * t_predict)
    beyond_bar = r_predict > bar_length
    t_predict, r_predict = t_predict[beyond_bar], r_predict[beyond_bar]
    face_on_curve = np.column_stack((r_predict * np.cos(t_predict), r_predict * np.sin(t_predict)))
    polyline = reproject(face_on_curve, centre, disk.roll, disk.q, fit_scale)
    length_px = float(np.sum(np.hypot(*np.diff(polyline, axis=0).T))) if len(polyline) > 1 else 0.0

    sigma_c1 = math.sqrt(max(float(ridge.sigma_[1, 1]), 0.0))
    fit = LogSpiralFit(
        a=math.exp(c0) * a_scale,
        pitch_angle_deg=abs(math.degrees(math.atan(c1))),
        chirality=1 if c1 >= 0 else -1,
        t_min=float(t_predict.min()) if t_predict.size else math.nan,
        t_max=float(t_predict.max()) if t_predict.size else math.nan,
        pitch_angle_err_deg=math.degrees(sigma_c1 / (1.0 + c1 * c1)),
        length_px=length_px,
        r_squared=r_squared,
        n_members=len(set(owners)),
    )
    return ArmFit(
        fit=fit,
        polyline=polyline,
        lines=tuple(equalised),
        owners=tuple(int(o) for o in owners),
        flagged_bad=r_squared < params.min_r_squared,
    )


# --------------------------------------------------------------------------------------------
# Merging (§6.7) and the whole pipeline


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
    metric_scale, _, _ = _scales(image_shape, method)
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
    metric_scale, _, _ = _scales(image_shape, method)
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
