"""The squared point-to-poly-line distance of the arm metric, as a blocked matrix product.

The plain form is :func:`gzbcat.geometry.nearest_on_polyline` (used by
:mod:`gzbcat.aggregation.polyline_metric` beside this kernel); the two agree to rounding.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["min_sq_distance_to_lines"]

_CHUNK_ELEMENTS = 1 << 16
"""Point × segment block size of the matrix product (fits in a CPU's L2 cache)."""


def min_sq_distance_to_lines(points: np.ndarray, lines: Sequence[np.ndarray]) -> np.ndarray:
    """Squared distance from each point to each poly-line's nearest segment, (P, K).

    Every segment gets its own frame: unit direction u from its start v, length L. A point p
    at ``along = (p − v)·u`` and ``across = (p − v)·n`` lies ``max(along − L, −along, 0)``
    beyond the segment's ends, so its squared distance is that squared plus across². One
    small matrix product gives along − L, −along and across for a block of points against
    every segment of every line (segments down the rows, so each quantity is a contiguous
    block); the minimum is then taken per line down the rows.

    Parameters
    ----------
    points
        (P, 2) points (x, y).
    lines
        K poly-lines, each (n_k, 2) with n_k ≥ 2; a zero-length segment acts as its vertex.
    """
    starts = np.concatenate([line[:-1] for line in lines])
    ends = np.concatenate([line[1:] for line in lines])
    n_segments = np.array([len(line) - 1 for line in lines])
    if np.any(n_segments < 1):
        raise ValueError("every poly-line needs at least two vertices")
    offsets = np.concatenate(([0], np.cumsum(n_segments)[:-1]))
    # Coordinates relative to the mean segment start keep the frames' offsets small.
    origin = starts.mean(axis=0)
    v = starts - origin
    e = ends - starts
    length = np.hypot(e[:, 0], e[:, 1])
    # A zero-length segment is a point: any unit direction then gives |p − v|².
    has_length = length > 0
    u = np.where(has_length[:, None], e / np.where(has_length, length, 1.0)[:, None], [1.0, 0.0])
    s = len(starts)
    frames = np.empty((3 * s, 3))  # rows: along − L, −along, across; columns: x, y, 1
    v_along = v[:, 0] * u[:, 0] + v[:, 1] * u[:, 1]
    frames[:s, :2] = u
    frames[:s, 2] = -v_along - length
    frames[s : 2 * s, :2] = -u
    frames[s : 2 * s, 2] = v_along
    frames[2 * s :, 0] = -u[:, 1]
    frames[2 * s :, 1] = u[:, 0]
    frames[2 * s :, 2] = v[:, 0] * u[:, 1] - v[:, 1] * u[:, 0]
    p_all = np.empty((3, len(points)))
    p_all[:2] = (np.asarray(points, dtype=np.float64) - origin).T
    p_all[2] = 1.0
    out = np.empty((len(lines), len(points)))
    chunk = max(1, _CHUNK_ELEMENTS // s)
    # The floor as an array: numpy's maximum is faster against an array than a scalar.
    zeros = np.zeros(min(chunk, len(points)))
    for lo in range(0, len(points), chunk):
        block = frames @ p_all[:, lo : lo + chunk]
        beyond = np.maximum(block[:s], block[s : 2 * s], out=block[:s])
        np.maximum(beyond, zeros[: beyond.shape[1]], out=beyond)
        beyond *= beyond
        across = block[2 * s :]
        across *= across
        beyond += across
        if len(lines) == 1:
            out[0, lo : lo + chunk] = beyond.min(axis=0)
        else:
            out[:, lo : lo + chunk] = np.minimum.reduceat(beyond, offsets, axis=0)
    return out.T
