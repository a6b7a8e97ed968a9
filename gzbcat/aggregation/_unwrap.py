"""The grouped unwrap of the arm fit, with every group unwrapped in one call.

The plain form is :func:`gzbcat.aggregation.arm_fit.unwrap_grouped` (group by group, on
:func:`gzbcat.aggregation.polyline_metric.directed_distance`), kept beside this kernel; the
two give the same angles.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["unwrap_grouped_padded"]


def unwrap_grouped_padded(theta: np.ndarray, r: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Unwrap polar angles per poly-line and shift each by 2π to join the earlier ones (§6.6.5).

    Each group is ``np.unwrap``-ed along its own order, in label order. The first is kept;
    every later group takes the shift in {−2π, 0, +2π} that puts its (θ, R·2π/max R) points
    closest (the smaller of the two one-way distances) to the segment joining the earlier
    groups' points of least and greatest θ (ties: the lowest index). A one-point group counts
    as a degenerate segment.
    """
    out = np.array(theta, dtype=np.float64, copy=True)
    shifts = np.array([-2.0 * math.pi, 0.0, 2.0 * math.pi])
    r_scale = 2.0 * math.pi / np.max(r)
    # Groups in label order, each with its indices ascending; the earlier groups' points of
    # least and greatest θ are kept as running extremes (ties: lowest index, as argmin/argmax
    # over the earlier points in index order would pick).
    order = np.argsort(groups, kind="stable")
    _, starts = np.unique(groups[order], return_index=True)
    edges = np.append(starts, len(order))
    # Every group unwrapped in one call: rows padded with their last angle (no jump, so the
    # padding changes nothing before it), the same arithmetic as np.unwrap on each alone.
    lengths = np.diff(edges)
    rows = np.repeat(np.arange(len(starts)), lengths)
    cols = np.arange(len(order)) - np.repeat(starts, lengths)
    padded = np.repeat(out[order[edges[1:] - 1]][:, None], int(lengths.max()), axis=1)
    padded[rows, cols] = out[order]
    unwrapped = np.unwrap(padded, axis=1)
    offset = np.column_stack((shifts, np.zeros(3)))[:, None, :]
    lo_val = hi_val = 0.0
    lo_idx = hi_idx = 0
    for i in range(len(starts)):
        idx = order[edges[i] : edges[i + 1]]
        t_g = unwrapped[i, : lengths[i]]
        if i > 0:
            ref = np.array([[lo_val, r[lo_idx] * r_scale], [hi_val, r[hi_idx] * r_scale]])
            base = np.column_stack((t_g, r[idx] * r_scale))
            scores = _min_directed_to_segment(base[None, :, :] + offset, ref)
            t_g = t_g + shifts[int(np.argmin(scores))]
        out[idx] = t_g
        k_lo, k_hi = int(np.argmin(t_g)), int(np.argmax(t_g))
        v_lo, j_lo, v_hi, j_hi = t_g[k_lo], int(idx[k_lo]), t_g[k_hi], int(idx[k_hi])
        if i == 0 or v_lo < lo_val or (v_lo == lo_val and j_lo < lo_idx):
            lo_val, lo_idx = v_lo, j_lo
        if i == 0 or v_hi > hi_val or (v_hi == hi_val and j_hi < hi_idx):
            hi_val, hi_idx = v_hi, j_hi
    return out


def _min_directed_to_segment(points: np.ndarray, segment: np.ndarray) -> np.ndarray:
    """``min(D(points, segment), D(segment, points))`` for a 2-point reference (§6.6.5).

    ``points`` is (..., P, 2): one candidate point set per leading index, all scored at
    once; returns (...). A one-point poly-line counts as a degenerate segment. The
    point-to-segment distance is :func:`gzbcat.geometry.nearest_on_polyline`'s, written per
    coordinate on small arrays.
    """
    line = points if points.shape[-2] > 1 else np.concatenate((points, points), axis=-2)
    px, py = points[..., 0], points[..., 1]
    vx, vy = segment[0, 0], segment[0, 1]
    ex, ey = segment[1, 0] - vx, segment[1, 1] - vy
    length_sq = ex * ex + ey * ey
    dx, dy = px - vx, py - vy
    t = np.minimum(
        np.maximum((dx * ex + dy * ey) / (length_sq if length_sq > 0 else 1.0), 0.0), 1.0
    )
    dx, dy = dx - t * ex, dy - t * ey
    forward = (dx * dx + dy * dy).sum(axis=-1) / px.shape[-1]  # the mean, as numpy takes it
    lx, ly = line[..., 0], line[..., 1]
    vx, vy = lx[..., :-1], ly[..., :-1]
    ex, ey = lx[..., 1:] - vx, ly[..., 1:] - vy
    length_sq = ex * ex + ey * ey
    length_sq = np.where(length_sq > 0, length_sq, 1.0)
    backward = 0.0
    for k in range(2):
        dx, dy = segment[k, 0] - vx, segment[k, 1] - vy
        t = np.minimum(np.maximum((dx * ex + dy * ey) / length_sq, 0.0), 1.0)
        dx, dy = dx - t * ex, dy - t * ey
        backward = backward + (dx * dx + dy * dy).min(axis=-1)
    return np.minimum(forward, backward / 2.0)
