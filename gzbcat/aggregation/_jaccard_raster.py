"""Raster kernels of the Jaccard aggregation: the shape optimiser's objective as fixed-basis
quadratic forms, and the grid masks as separable products.

The plain forms, :func:`gzbcat.aggregation.jaccard.summed_jaccard_distance` and
:func:`gzbcat.aggregation.jaccard.grid_inside`, stay beside these kernels; the objectives
agree to rounding and the masks bit for bit.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

__all__ = ["grid_inside_separable", "raster_objective"]


def raster_objective(
    origin: np.ndarray,
    kind: str,
    x: np.ndarray,
    y: np.ndarray,
    cell: float,
    member_masks: np.ndarray,
    member_areas: np.ndarray,
) -> Callable[[np.ndarray], float]:
    """Return ``shape ↦ Σ_i 1 − |C ∩ M_i| / |C ∪ M_i|`` on fixed cells and members.

    The value is :func:`gzbcat.aggregation.jaccard.summed_jaccard_distance`'s (anti-aliased
    coverage ``clip(1/2 − d/h, 0, 1)`` of the candidate C from the first-order signed
    distance d, exact ``area(C)``). The candidate's local coordinates are affine in the
    cell's, so for an ellipse F = (lx/a)² + (ly/b)² − 1 and ``h²·|∇F|²`` are quadratic forms
    in them: both come from one small matrix product with the fixed basis
    ``(X², X·Y, Y², X, Y, 1)``, ``X, Y`` the cell centres relative to ``origin``; a box's
    ``lx, ly`` come from one product with ``(X, Y, 1)``.

    Parameters
    ----------
    origin
        A point near the shapes (the optimiser's start); the coordinates are taken relative
        to it, so the arithmetic stays small.
    kind, x, y, cell, member_masks, member_areas
        As :func:`gzbcat.aggregation.jaccard.summed_jaccard_distance`.
    """
    if kind not in ("ellipse", "box"):
        raise ValueError(f"unknown shape kind {kind!r}")
    ox, oy = float(origin[0]), float(origin[1])
    gx, gy = x - ox, y - oy
    h = cell
    inv_h = 1.0 / h
    cell_area = h * h
    ellipse = kind == "ellipse"
    area_factor = math.pi if ellipse else 4.0
    basis = np.stack((gx * gx, gx * gy, gy * gy, gx, gy, np.ones_like(gx)))
    affine = basis[3:]

    def objective(p: np.ndarray) -> float:
        c, s = math.cos(p[4]), math.sin(p[4])
        px, py = p[0] - ox, p[1] - oy
        a, b = max(p[2] * p[3], 1e-12), max(p[2], 1e-12)
        if ellipse:
            # lx = c·X' + s·Y' and ly = c·Y' − s·X' for X' = X − px, Y' = Y − py; the rows
            # are the coefficients of F + 1 and of |∇F|²/4 on the basis.
            cc, ss, cs2 = c * c, s * s, 2.0 * c * s
            rows = []
            for wa, wb in ((1.0 / (a * a), 1.0 / (b * b)), (1.0 / a**4, 1.0 / b**4)):
                xx, xy, yy = cc * wa + ss * wb, cs2 * (wa - wb), ss * wa + cc * wb
                rows.append(
                    (
                        xx,
                        xy,
                        yy,
                        -2.0 * xx * px - xy * py,
                        -xy * px - 2.0 * yy * py,
                        xx * px * px + xy * px * py + yy * py * py,
                    )
                )
            forms = np.array(rows)
            forms[0, 5] -= 1.0
            forms[1] *= 4.0 * h * h  # so that the root below is h·|∇F|
            f, grad = forms @ basis
            # The form is ≥ 0 but for rounding where ∇F vanishes (the centre), where the
            # floor makes the distance huge and the coverage 1.
            np.maximum(grad, 1e-300, out=grad)
            np.sqrt(grad, out=grad)
            f /= grad
            coverage = np.subtract(0.5, f, out=f)
        else:
            frame = np.array(((c, s, -(c * px + s * py)), (-s, c, s * px - c * py)))
            lx, ly = frame @ affine
            np.abs(lx, out=lx)
            lx -= a
            np.abs(ly, out=ly)
            ly -= b
            np.maximum(lx, ly, out=lx)
            lx *= inv_h
            coverage = np.subtract(0.5, lx, out=lx)
        np.maximum(coverage, 0.0, out=coverage)
        np.minimum(coverage, 1.0, out=coverage)
        inter = (member_masks @ coverage) * cell_area
        union = member_areas + area_factor * a * b - inter
        d = 1.0 - inter / np.maximum(union, 1e-300)
        return float(d.sum())

    return objective


def grid_inside_separable(
    params: np.ndarray, kind: str, gx: np.ndarray, gy: np.ndarray
) -> np.ndarray:
    """Return (N, ny·nx) bool: is each cell centre of the grid ``gx × gy`` inside each shape?

    Equal, bit for bit, to :func:`gzbcat.aggregation.jaccard.grid_inside` (the plain form,
    ``geometry.shape_inside`` on the raveled ``np.meshgrid(gx, gy)``): the rotated
    coordinates ``c·dx + s·dy`` are sums of a per-column and a per-row product, so those
    products are formed once per column and row and only the sums and the test touch every
    cell.
    """
    p = np.asarray(params, dtype=np.float64).reshape(-1, 5)
    mux, muy, re, q, roll = (col[:, None] for col in p.T)
    dx = gx[None, :] - mux
    dy = gy[None, :] - muy
    c, s = np.cos(roll), np.sin(roll)
    a, b = np.maximum(re * q, 1e-12)[:, :, None], np.maximum(re, 1e-12)[:, :, None]
    lx = (c * dx)[:, None, :] + (s * dy)[:, :, None]
    ly = (-s * dx)[:, None, :] + (c * dy)[:, :, None]
    if kind == "ellipse":
        lx /= a
        lx *= lx
        ly /= b
        ly *= ly
        lx += ly
        inside = lx <= 1.0
    elif kind == "box":
        inside = (np.abs(lx) <= a) & (np.abs(ly) <= b)
    else:
        raise ValueError(f"unknown shape kind {kind!r}")
    return inside.reshape(len(p), -1)
