"""The poly-line metric of the arm clustering and merging (spec §6.4).

``D(a, b)`` is the mean over a's vertices of the squared distance to poly-line b (the
distance of a point to a poly-line is :func:`gzbcat.geometry.nearest_on_polyline`'s), and the
symmetric distance of two poly-lines is ``D(a, b) + D(b, a)``. With a cutoff, pairs whose
bounding boxes alone put them beyond it are not measured (see
:func:`directed_distance_matrix`).

The all-pairs matrices measure point-to-line distances with the blocked kernel
:func:`gzbcat.aggregation._polyline_metric.min_sq_distance_to_lines`; the plain form on
:func:`gzbcat.geometry.nearest_on_polyline` stays here beside it (``plain=True``), and the
tests check that the two agree.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from gzbcat.geometry import nearest_on_polyline

from ._polyline_metric import min_sq_distance_to_lines

__all__ = [
    "directed_distance",
    "directed_distance_matrix",
    "drop_repeated_vertices",
    "polyline_distance",
    "polyline_distance_matrix",
]


def drop_repeated_vertices(points: np.ndarray) -> np.ndarray:
    """Remove consecutive duplicate vertices (their zero-length segments made the reference's
    metric NaN, §6.4; here such a segment would act as its vertex)."""
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


def _sq_distance_to_line(points: np.ndarray, line: np.ndarray, *, plain: bool) -> np.ndarray:
    """Squared distance of each point to the poly-line: by the kernel, or plain (the definition)."""
    if plain:
        return nearest_on_polyline(points, line)[0]
    return min_sq_distance_to_lines(points, [line])[:, 0]


def _directed_entries(
    lines: list[np.ndarray], wanted: np.ndarray, *, plain: bool = False
) -> np.ndarray:
    """Exact ``D(i, j)`` where ``wanted[i, j]`` (off the diagonal); 0 elsewhere.

    For each target line j, the vertices of every wanted source line i are measured against
    j at once, so the work is proportional to the wanted pairs. ``plain`` measures with
    :func:`gzbcat.geometry.nearest_on_polyline` instead of the kernel.
    """
    k = len(lines)
    out = np.zeros((k, k))
    counts = np.array([len(line) for line in lines])
    wanted = wanted & ~np.eye(k, dtype=bool)
    for j in np.flatnonzero(wanted.any(axis=0)):
        sources = np.flatnonzero(wanted[:, j])
        points = np.concatenate([lines[i] for i in sources])
        sq_distance = _sq_distance_to_line(points, lines[j], plain=plain)
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
