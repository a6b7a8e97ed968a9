"""Shapes and transforms in the image frame: component outlines, rotations, deprojection.

Everything here works in the image frame of DESIGN §6: ``x`` is the column, ``y`` the row,
pixel centres at integers, and a component's major axis points along ``(−sin roll, cos roll)``
(spec §3.2). The outlines are those the Jaccard clustering compares (spec §5.1): the
*ellipse* of a disk or bulge has semi-axes ``Re·q`` (minor, local x) and ``Re`` (major,
local y); the *box* of a bar is the rectangle with half-sizes ``Re·q`` and ``Re``.

Two representations are offered, because they serve different needs:

* vertex arrays (and shapely polygons built from them), exact up to the 64-gon the reference
  used, for one-off distances and the reference-compatible optimisation;
* anti-aliased coverage on a pixel grid (:func:`shape_coverage`), which lets many areas of
  overlap be computed with one matrix product, for speed (spec §12.4).
"""

from __future__ import annotations

import numpy as np
import shapely

__all__ = [
    "SHAPE_KINDS",
    "box_vertices",
    "deproject",
    "ellipse_vertices",
    "nearest_on_polyline",
    "polyline_length",
    "reproject",
    "rotation_matrix",
    "shape_area",
    "shape_coverage",
    "shape_inside",
    "shape_polygons",
    "shape_vertices",
]

SHAPE_KINDS: tuple[str, ...] = ("ellipse", "box")
"""Outline kinds: ``ellipse`` for disk and bulge, ``box`` for the bar (spec §5.1)."""

_N_ELLIPSE_VERTICES = 64
"""Vertices of the ellipse polygon: shapely's ``buffer(1.0)`` default, 16 per quarter (§5.1)."""


def rotation_matrix(angle_rad: float) -> np.ndarray:
    """Return the 2×2 matrix that rotates column vectors counter-clockwise by ``angle_rad``."""
    c, s = np.cos(angle_rad), np.sin(angle_rad)
    return np.array([[c, -s], [s, c]])


def _as_params(params: np.ndarray | tuple[float, ...]) -> np.ndarray:
    """Shape parameters as an (N, 5) float array of (mux, muy, re, q, roll)."""
    arr = np.asarray(params, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.shape[-1] != 5:
        raise ValueError(f"shape parameters must be (mux, muy, re, q, roll), got {arr.shape}")
    return arr


def _place(local: np.ndarray, params: np.ndarray) -> np.ndarray:
    """Scale unit-shape vertices by (Re·q, Re), rotate CCW by roll and move to the centre.

    ``local`` is (V, 2) on the unit shape; ``params`` is (N, 5). Returns (N, V, 2).
    """
    mux, muy, re, q, roll = params.T
    lx = local[None, :, 0] * (re * q)[:, None]
    ly = local[None, :, 1] * re[:, None]
    c, s = np.cos(roll)[:, None], np.sin(roll)[:, None]
    x = mux[:, None] + c * lx - s * ly
    y = muy[:, None] + s * lx + c * ly
    return np.stack((x, y), axis=-1)


def ellipse_vertices(params: np.ndarray | tuple[float, ...]) -> np.ndarray:
    """Return closed 64-gon outlines of ellipses, as the reference built them (spec §5.1).

    Parameters
    ----------
    params
        (5,) or (N, 5): ``(mux, muy, re, q, roll)`` in image pixels and radians.

    Returns
    -------
    (N, 65, 2) vertex array (first vertex repeated last), image frame.
    """
    theta = np.linspace(0.0, 2.0 * np.pi, _N_ELLIPSE_VERTICES + 1)
    local = np.stack((np.cos(theta), np.sin(theta)), axis=1)
    local[-1] = local[0]
    return _place(local, _as_params(params))


def box_vertices(params: np.ndarray | tuple[float, ...]) -> np.ndarray:
    """Return closed outlines of bar boxes, half-sizes ``Re·q`` × ``Re`` (spec §5.1).

    Boxiness ``c`` is ignored, as in the reference. Returns (N, 5, 2).
    """
    local = np.array([[-1.0, -1.0], [1.0, -1.0], [1.0, 1.0], [-1.0, 1.0], [-1.0, -1.0]])
    return _place(local, _as_params(params))


def shape_vertices(params: np.ndarray | tuple[float, ...], kind: str) -> np.ndarray:
    """Return outline vertices of ``kind`` (``ellipse`` or ``box``) shapes."""
    if kind == "ellipse":
        return ellipse_vertices(params)
    if kind == "box":
        return box_vertices(params)
    raise ValueError(f"unknown shape kind {kind!r}; expected one of {SHAPE_KINDS}")


def shape_polygons(params: np.ndarray | tuple[float, ...], kind: str) -> np.ndarray:
    """Return an (N,) array of shapely polygons for the shapes (for exact areas)."""
    return np.asarray(shapely.polygons(shape_vertices(params, kind)))


def shape_coverage(
    params: np.ndarray | tuple[float, ...],
    kind: str,
    x: np.ndarray,
    y: np.ndarray,
    pixel_size: float,
) -> np.ndarray:
    """Return the anti-aliased fraction of each grid cell that each shape covers.

    The coverage is ``clip(1/2 − d/h, 0, 1)`` with ``d`` a first-order signed distance to the
    outline and ``h`` the cell size. It is continuous in the shape parameters, which is what
    a derivative-free optimiser needs, and it makes areas accurate to second order in ``h``
    away from corners (spec §12.4: "rasterise the shapes to a shared mask grid").

    Parameters
    ----------
    params
        (5,) or (N, 5): ``(mux, muy, re, q, roll)``.
    kind
        ``ellipse`` (disk, bulge) or ``box`` (bar).
    x, y
        (P,) coordinates of the cell centres, image pixels.
    pixel_size
        Side of one (square) cell, image pixels.

    Returns
    -------
    (N, P) coverage in [0, 1] (float64).
    """
    lx, ly, a, b = _local_coordinates(params, x, y)
    if kind == "ellipse":
        u, v = lx / a, ly / b
        f = np.sqrt(u * u + v * v)
        grad = np.sqrt((u / a) ** 2 + (v / b) ** 2)
        # (f − 1)/|∇f| is the signed distance to first order; |∇f| = grad / f.
        dist = np.where(grad > 0, (f - 1.0) * f / np.maximum(grad, 1e-300), -np.minimum(a, b))
    elif kind == "box":
        dist = np.maximum(np.abs(lx) - a, np.abs(ly) - b)
    else:
        raise ValueError(f"unknown shape kind {kind!r}; expected one of {SHAPE_KINDS}")
    return np.clip(0.5 - dist / pixel_size, 0.0, 1.0)


def _local_coordinates(
    params: np.ndarray | tuple[float, ...], x: np.ndarray, y: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Grid points in each shape's own axes: (minor-axis coord, major-axis coord, a, b)."""
    p = _as_params(params)
    mux, muy, re, q, roll = (col[:, None] for col in p.T)
    dx = x[None, :] - mux
    dy = y[None, :] - muy
    c, s = np.cos(roll), np.sin(roll)
    return c * dx + s * dy, -s * dx + c * dy, np.maximum(re * q, 1e-12), np.maximum(re, 1e-12)


def shape_inside(
    params: np.ndarray | tuple[float, ...], kind: str, x: np.ndarray, y: np.ndarray
) -> np.ndarray:
    """Return an (N, P) bool array: is grid point ``(x, y)`` inside each shape?

    Sampling at cell centres gives areas that are unbiased on average, which is all the
    clustering needs (its eps values are 0.3–0.48, spec §5.3).
    """
    lx, ly, a, b = _local_coordinates(params, x, y)
    if kind == "ellipse":
        return (lx / a) ** 2 + (ly / b) ** 2 <= 1.0
    if kind == "box":
        return (np.abs(lx) <= a) & (np.abs(ly) <= b)
    raise ValueError(f"unknown shape kind {kind!r}; expected one of {SHAPE_KINDS}")


def shape_area(params: np.ndarray | tuple[float, ...], kind: str) -> np.ndarray:
    """Return the exact areas (N,) of the true ellipses (π·Re²·q) or boxes (4·Re²·q), px²."""
    p = _as_params(params)
    re, q = p[:, 2], p[:, 3]
    if kind == "ellipse":
        return np.pi * re * re * q
    if kind == "box":
        return 4.0 * re * re * q
    raise ValueError(f"unknown shape kind {kind!r}; expected one of {SHAPE_KINDS}")


def polyline_length(vertices: np.ndarray) -> float:
    """Length of a poly-line (sum of its segments), in the units of its (N, 2) vertices; 0 for
    fewer than two vertices. An arm's length weights its pitch angle (spec §6.8)."""
    vertices = np.asarray(vertices, dtype=np.float64)
    if len(vertices) < 2:
        return 0.0
    return float(np.sum(np.hypot(*np.diff(vertices, axis=0).T)))


def nearest_on_polyline(
    points: np.ndarray, vertices: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Squared distance from each point to a poly-line, and where on it the nearest point is.

    For the segment [v, w] with edge e = w − v, the point p is nearest to v + t·e with
    ``t = clip((p − v)·e / |e|², 0, 1)``; its squared distance is ``|v + t·e − p|²``, and the
    poly-line's is the smallest over its segments (ties: the lowest segment). A zero-length
    segment acts as its vertex. This is the definition that the optimised kernels of the
    renderer (``rendering.spiral``) and of the arm metric (``aggregation._polyline_metric``)
    are tested against.

    Parameters
    ----------
    points
        (P, 2) points (x, y).
    vertices
        (N, 2) poly-line vertices, N ≥ 2.

    Returns
    -------
    (d2, segment, t): each (P,): the squared distance, the index j of the nearest segment
    [vertices[j], vertices[j + 1]], and the position t ∈ [0, 1] of the nearest point on it.
    """
    p = np.asarray(points, dtype=np.float64)
    px, py = p[:, 0:1], p[:, 1:2]  # (P, 1): points down, segments across
    vx, vy = vertices[None, :-1, 0], vertices[None, :-1, 1]
    ex, ey = vertices[None, 1:, 0] - vx, vertices[None, 1:, 1] - vy
    t = np.clip(((px - vx) * ex + (py - vy) * ey) / np.maximum(ex * ex + ey * ey, 1e-300), 0, 1)
    dx, dy = vx + t * ex - px, vy + t * ey - py
    d2 = dx * dx + dy * dy
    segment = d2.argmin(axis=1)
    rows = np.arange(len(segment))
    return d2[rows, segment], segment, t[rows, segment]


def deproject(
    points: np.ndarray, centre: np.ndarray, roll: float, q: float, scale: np.ndarray | float
) -> np.ndarray:
    """Map image points into the face-on plane of a disk, in units of ``scale``.

    Steps of spec §6.6.4: subtract the centre and divide by ``scale``; rotate by −roll, which
    puts the disk's major axis along +y; stretch x (the minor axis) by 1/q.

    Parameters
    ----------
    points
        (N, 2) image-frame points, pixels.
    centre
        (2,) disk centre (mux, muy), pixels.
    roll
        Disk position angle, radians (spec §3.2).
    q
        Disk axis ratio (minor / major).
    scale
        A length (or per-axis lengths) in pixels that the result is measured in.
    """
    u = (np.asarray(points, dtype=np.float64) - centre) / scale
    out = u @ rotation_matrix(-roll).T
    out[:, 0] /= q
    return out


def reproject(
    points: np.ndarray, centre: np.ndarray, roll: float, q: float, scale: np.ndarray | float
) -> np.ndarray:
    """Invert :func:`deproject`: face-on disk-plane points back to image pixels."""
    u = np.array(points, dtype=np.float64, copy=True)
    u[:, 0] *= q
    return (u @ rotation_matrix(roll).T) * scale + centre
