"""Spiral arms: log-spiral geometry placed with the disk, and the Gaussian ridge they draw.

An arm is a poly-line on the image; its brightness (spec §7.4) is::

    S(x, y) = I · exp(−d² / (2·spread²)) · Disk(x, y)

with ``d`` the distance from the pixel centre to the nearest segment of the poly-line and
``Disk`` a disk-profile image supplied by the caller (the renderer decides which: the rendered
disk, or the disk profile with ``re/falloff``). Distances are exact (no sampling of the
poly-line): segments are grouped in chunks of :data:`_CHUNK` with bounding discs, a pixel
only examines the chunks whose lower bound beats the best upper bound, and pixels farther than
:data:`CUTOFF_SPREADS` spreads from the arm are left at zero (the ridge there is below 3e-11).
The plain form, every pixel against every segment, is :func:`polyline_distance_plain`.

Aggregate and tuned arms carry a log-spiral fit; their poly-line is (spec §6.9, §7.4)::

    ρ(θ)    = A·exp(θ·tan φ),   θ = linspace(t_min, t_max, 100)
    θ'      = θ − dpsi (corrected) or θ + dpsi (reference),  dpsi = disk.roll − base_roll
    p_image = Rot(disk.roll) · diag(disk.q, 1) · ρ(θ)·(cos θ', sin θ') + (disk.mux, disk.muy)

The ``corrected`` sign keeps arms fixed on the sky while the fit turns the disk (exactly at
q = 1; spec §8.6), where the reference turned them by 2·dpsi. The radius uses the unshifted θ
in both modes because ``A' = A·exp(∓dpsi·tan φ)`` cancels the shift.

All derivatives here are analytic: the ridge's with respect to I and spread directly, and
with respect to the arm geometry and the disk placement through the envelope theorem
(∂d²/∂v = 2(1 − t)(c − p), ∂d²/∂w = 2t(c − p) for the nearest segment [v, w] with closest
point c) and the Jacobian of the vertices.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from gzbcat.geometry import nearest_on_polyline
from gzbcat.model import Method, SersicComponent
from gzbcat.rendering._perf import dot
from gzbcat.rendering.rules import RENDERING_RULES

__all__ = [
    "ARM_GEOMETRY_PARAMETERS",
    "CUTOFF_SPREADS",
    "N_ARM_POINTS",
    "Ridge",
    "arm_image_vjp",
    "arm_ridges",
    "log_spiral_points",
    "polyline_distance",
    "polyline_distance_plain",
    "polyline_distances",
    "ridge_on_segments",
]

N_ARM_POINTS = 100
"""Vertices of a log-spiral arm's poly-line (spec §7.4)."""

ARM_GEOMETRY_PARAMETERS: tuple[str, ...] = (
    "a",
    "phi_deg",
    "t_min",
    "t_max",
    "mux",
    "muy",
    "roll",
    "q",
)
"""Columns of the vertex Jacobian: arm log-spiral parameters, then the disk placement."""

CUTOFF_SPREADS = 7.0
"""Pixels farther than this many spreads from the arm are not evaluated (exp(−24.5) ≈ 2e-11)."""

_CHUNK = 4  # segments per bounding disc in the nearest-segment search


def log_spiral_points(
    a: float,
    phi_deg: float,
    t_min: float,
    t_max: float,
    disk: SersicComponent,
    *,
    base_roll: float | None = None,
    method: Method = Method.CORRECTED,
    n_points: int = N_ARM_POINTS,
    jacobian: bool = True,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Return an arm's poly-line on the image and the Jacobian of its vertices.

    Parameters
    ----------
    a
        Log-spiral scale A, pixels (in the disk plane).
    phi_deg
        Signed pitch angle φ = chirality·pitch_angle_deg, degrees.
    t_min, t_max
        Range of the polar angle θ in the disk plane, radians.
    disk
        The disk the arm is placed with (centre, roll, q).
    base_roll
        Disk roll at which the arm parameters were measured (spec §8.6); None means the
        current disk roll (dpsi = 0, and the placement does not depend on the roll through θ').
    method
        Sign of the dpsi correction: ``corrected`` keeps the arm fixed on the sky,
        ``reference`` reproduces the 2·dpsi turn.
    n_points
        Vertices on the poly-line.
    jacobian
        Whether to compute the Jacobian (rendering alone does not need it).

    Returns
    -------
    points
        (n_points, 2) vertices (x, y), image pixels.
    jacobian
        (n_points, 2, 8) derivatives of the vertices with respect to
        :data:`ARM_GEOMETRY_PARAMETERS` (a, phi_deg, t_min, t_max, mux, muy, roll, q), or
        None when not asked for.
    """
    roll, q = float(disk.roll), float(disk.q)
    tan_phi = math.tan(math.radians(phi_deg))
    frac = np.linspace(0.0, 1.0, n_points)
    theta = t_min + (t_max - t_min) * frac
    if base_roll is None:
        dpsi, sign = 0.0, 0.0
    else:
        dpsi = roll - base_roll
        sign = RENDERING_RULES[method].arm_roll_sign
    theta_shift = theta + sign * dpsi
    cos_t, sin_t = np.cos(theta_shift), np.sin(theta_shift)
    rho = a * np.exp(theta * tan_phi)
    px, py = rho * cos_t, rho * sin_t  # disk plane, before projection
    cr, sr = math.cos(roll), math.sin(roll)

    def project(vx: np.ndarray, vy: np.ndarray) -> np.ndarray:
        """Rot(roll)·diag(q, 1)·(vx, vy), stacked as (n, 2)."""
        return np.stack([cr * q * vx - sr * vy, sr * q * vx + cr * vy], axis=-1)

    offset = project(px, py)
    points = offset + np.array([disk.mux, disk.muy])
    if not jacobian:
        return points, None
    jac = np.zeros((n_points, 2, len(ARM_GEOMETRY_PARAMETERS)))
    growth = np.exp(theta * tan_phi)
    jac[:, :, 0] = project(growth * cos_t, growth * sin_t)
    jac[:, :, 1] = offset * (theta * (1.0 + tan_phi**2) * math.pi / 180.0)[:, None]
    # ∂P/∂θ at fixed θ' offset: tan φ·P + ρ·(−sin θ', cos θ')
    d_theta = project(tan_phi * px - rho * sin_t, tan_phi * py + rho * cos_t)
    jac[:, :, 2] = d_theta * (1.0 - frac)[:, None]
    jac[:, :, 3] = d_theta * frac[:, None]
    jac[:, 0, 4] = 1.0
    jac[:, 1, 5] = 1.0
    # roll: the rotation itself, and θ' = θ + sign·(roll − base_roll)
    jac[:, :, 6] = np.stack([-sr * q * px - cr * py, cr * q * px - sr * py], axis=-1)
    jac[:, :, 6] += sign * project(-rho * sin_t, rho * cos_t)
    jac[:, :, 7] = np.stack([cr * px, sr * px], axis=-1)
    return points, jac


@dataclass(frozen=True)
class Ridge:
    """Distances from the pixels near an arm to its poly-line.

    Attributes
    ----------
    pixels
        Flat indices (row·W + col) of the pixels within the cutoff, ascending.
    d2
        Squared distance to the nearest segment, pixels².
    segment
        Index j of that segment [points[j], points[j+1]].
    t
        Position of the closest point along it, in [0, 1].
    offset
        (P, 2) closest point minus pixel centre.
    """

    pixels: np.ndarray
    d2: np.ndarray
    segment: np.ndarray
    t: np.ndarray
    offset: np.ndarray


_EMPTY_RIDGE = Ridge(
    np.zeros(0, dtype=np.intp),
    np.zeros(0),
    np.zeros(0, dtype=np.intp),
    np.zeros(0),
    np.zeros((0, 2)),
)


def polyline_distance_plain(points: np.ndarray, shape: tuple[int, int], cutoff: float) -> Ridge:
    """The plain form of :func:`polyline_distance`: every pixel centre against every segment.

    :func:`gzbcat.geometry.nearest_on_polyline` gives each pixel centre p its squared
    distance ``d² = min_j |v_j + t_j·e_j − p|²`` with ``t_j = clip((p − v_j)·e_j/|e_j|², 0, 1)``;
    the pixels with ``d² ≤ cutoff²`` are kept.
    """
    points = np.asarray(points, dtype=np.float64)
    if len(points) < 2:
        return _EMPTY_RIDGE
    rows, cols = np.divmod(np.arange(shape[0] * shape[1]), shape[1])
    centres = np.stack([cols, rows], axis=1).astype(np.float64)
    d2, segment, t = nearest_on_polyline(centres, points)
    pixels = np.flatnonzero(d2 <= cutoff * cutoff)
    segment, t = segment[pixels], t[pixels]
    closest = points[segment] + t[:, None] * (points[segment + 1] - points[segment])
    return Ridge(pixels, d2[pixels], segment, t, closest - centres[pixels])


def polyline_distance(points: np.ndarray, shape: tuple[int, int], cutoff: float) -> Ridge:
    """Exact distance from each pixel centre within ``cutoff`` to the nearest segment.

    For a pixel centre p = (col, row) and segments [v_j, v_j+1] with edges e_j = v_j+1 − v_j::

        d²(p) = min_j |v_j + t_j·e_j − p|²,   t_j = clip( (p − v_j)·e_j / |e_j|², 0, 1 )

    over the pixels with d² ≤ cutoff², the nearest segment being the lowest j among equals.
    :func:`polyline_distance_plain` computes exactly that for every pixel and segment; this
    function examines only the pairs that can hold the minimum.

    Parameters
    ----------
    points
        (N, 2) poly-line vertices (x, y), image pixels, N ≥ 2. Repeated vertices are allowed
        (a zero-length segment acts as a point).
    shape
        (H, W) of the image.
    cutoff
        Largest distance of interest, pixels.

    Notes
    -----
    Only pixels in the poly-line's bounding box grown by the cutoff are examined. Segments
    are grouped in chunks of :data:`_CHUNK`. Each chunk has an anchor, its middle vertex, and a
    radius, the farthest of its vertices from the anchor (its segments lie in that disc). For a
    pixel at distance D_k from anchor k, the anchor is a point of the poly-line, so
    ``U = min_k D_k`` bounds the distance from above, and every point of chunk k is at least
    ``D_k − radius_k`` away. Only chunks with ``D_k − radius_k ≤ U`` can hold the nearest
    segment, and only pixels with ``min_k (D_k − radius_k) ≤ cutoff`` can be within the
    cutoff; the exact point–segment distance is computed for those pairs alone. Using a real
    vertex rather than the disc centre for the upper bound halves the candidate chunks. Both
    tests are one comparison, ``D_k − radius_k ≤ min(U, cutoff)``, over the whole box; the
    (chunk, pixel) pairs that pass are evaluated in chunk-major order and reduced per pixel
    with ``np.minimum.at`` (ties: lowest chunk, then lowest segment, i.e. the lowest segment
    index), with no sort or per-pixel grouping.
    """
    height, width = shape
    points = np.asarray(points, dtype=np.float64)
    cutoff = float(cutoff)
    if len(points) < 2:
        return _EMPTY_RIDGE
    lo_x, lo_y = points.min(axis=0).tolist()
    hi_x, hi_y = points.max(axis=0).tolist()
    col0 = max(0, math.floor(lo_x - cutoff))
    col1 = min(width, math.ceil(hi_x + cutoff) + 1)
    row0 = max(0, math.floor(lo_y - cutoff))
    row1 = min(height, math.ceil(hi_y + cutoff) + 1)
    if col1 <= col0 or row1 <= row0:
        return _EMPTY_RIDGE
    n_seg = len(points) - 1
    n_chunk = -(-n_seg // _CHUNK)
    # Segments padded (the last one repeated) to whole chunks and laid out (segment in chunk,
    # chunk), so that per-pair values are whole columns repeated and the minimum over a
    # chunk's segments is a reduction along the leading axis (numpy's long, fast passes).
    seg_index = np.minimum(np.arange(n_chunk * _CHUNK), n_seg - 1)
    xy = points.T
    # Anchor: a chunk's middle vertex; radius: the farthest of its segments' endpoints.
    mid = np.minimum(np.arange(n_chunk) * _CHUNK + _CHUNK // 2, n_seg)
    anchor_x, anchor_y = xy[0, mid], xy[1, mid]
    window = np.empty((n_chunk, _CHUNK + 1), dtype=np.intp)
    window[:, :_CHUNK] = seg_index.reshape(n_chunk, _CHUNK)
    window[:, _CHUNK] = seg_index[_CHUNK - 1 :: _CHUNK] + 1
    r2 = (xy[0, window] - anchor_x[:, None]) ** 2 + (xy[1, window] - anchor_y[:, None]) ** 2
    radius = np.sqrt(r2.max(axis=1))
    # (chunk, row, col) layout: reductions over chunks run along the leading axis.
    nx, ny = col1 - col0, row1 - row0
    dx2 = (np.arange(col0, col1, dtype=np.float64) - anchor_x[:, None]) ** 2
    dy2 = (np.arange(row0, row1, dtype=np.float64) - anchor_y[:, None]) ** 2
    dist2 = np.add(dy2[:, :, None], dx2[:, None, :]).reshape(n_chunk, -1)
    # Upper bound on the distance (an anchor is on the line), capped at the cutoff.
    bound = np.sqrt(dist2.min(axis=0))
    np.minimum(bound, cutoff, out=bound)
    # Candidates: chunks whose lower bound D_k − radius_k beats that bound, tested on squares
    # (both sides ≥ 0) so that no square root is taken per (chunk, pixel); the margin keeps a
    # chunk that rounding would put exactly on the edge. A pixel whose nearest segment is
    # within the cutoff keeps that segment's chunk; one beyond the cutoff may keep none, or
    # some, and is dropped below either way.
    reach2 = np.add(bound * (1.0 + 1e-12), radius[:, None] * (1.0 + 1e-12))
    reach2 *= reach2
    flat = np.flatnonzero(np.less_equal(dist2, reach2))  # (chunk, pixel) order: chunk-major
    if flat.size == 0:
        return _EMPTY_RIDGE
    chunk, pair_pixel = np.divmod(flat, nx * ny)
    row, col = np.divmod(pair_pixel, nx)
    ix, iy = col + col0, row + row0
    # Per chunk and segment: start x, y, edge x, y and 1/|edge|², as (5, _CHUNK, chunks).
    table = np.empty((5, _CHUNK, n_chunk))
    table[:2] = xy[:, seg_index].reshape(2, n_chunk, _CHUNK).transpose(0, 2, 1)
    end = xy[:, seg_index + 1].reshape(2, n_chunk, _CHUNK).transpose(0, 2, 1)
    np.subtract(end, table[:2], out=table[2:4])
    np.maximum(table[2] ** 2 + table[3] ** 2, 1e-300, out=table[4])
    np.divide(1.0, table[4], out=table[4])
    # Pairs come in ascending chunk order, so each chunk's columns are repeated once per pair
    # of it: one np.repeat instead of a gather per quantity.
    per_pair = np.repeat(
        table.reshape(5 * _CHUNK, -1), np.bincount(chunk, minlength=n_chunk), axis=1
    ).reshape(5, _CHUNK, -1)  # (5, _CHUNK, pairs)
    rel_x = ix.astype(np.float64) - per_pair[0]
    rel_y = iy.astype(np.float64) - per_pair[1]
    edge_x, edge_y, inv_length2 = per_pair[2], per_pair[3], per_pair[4]
    t = rel_x * edge_x
    t += rel_y * edge_y
    t *= inv_length2
    np.clip(t, 0.0, 1.0, out=t)
    off_x = t * edge_x
    off_x -= rel_x
    off_y = t * edge_y
    off_y -= rel_y
    d2 = off_x * off_x
    d2 += off_y * off_y
    d2_pair = d2.min(axis=0)
    # Minimum per pixel over its candidate pairs; ties go to the first pair reaching it,
    # which (pairs being chunk-major) is the lowest chunk, and within it to the first
    # segment: the lowest segment index overall.
    best = np.full(nx * ny, np.inf)
    np.minimum.at(best, pair_pixel, d2_pair)
    hits = np.flatnonzero(d2_pair == best[pair_pixel])
    first_pair = np.full(nx * ny, chunk.size, dtype=np.intp)
    np.minimum.at(first_pair, pair_pixel[hits], hits)
    # Pixels within the cutoff, ascending (box order is image order).
    first = first_pair[np.flatnonzero(best <= cutoff * cutoff)]
    # Segment within the chunk: the first that reaches the pair's minimum, found for every
    # pair by whole-row comparisons, then read off for the kept pixels.
    k_pair = np.full(d2_pair.size, _CHUNK - 1)
    for j in range(_CHUNK - 2, -1, -1):
        k_pair[d2[j] == d2_pair] = j
    k = k_pair[first]
    at = k * d2_pair.size + first  # flat index into the (_CHUNK, pairs) arrays
    offset = np.empty((first.size, 2))
    offset[:, 0] = off_x.ravel()[at]
    offset[:, 1] = off_y.ravel()[at]
    return Ridge(
        pixels=iy[first] * width + ix[first],
        d2=d2_pair[first],
        segment=seg_index.reshape(-1, _CHUNK)[chunk[first], k],
        t=t.ravel()[at],
        offset=offset,
    )


def ridge_on_segments(ridge: Ridge, points: np.ndarray, width: int) -> Ridge:
    """The distances of ``ridge``'s pixels to the same segments of a moved poly-line.

    Each pixel keeps the segment that was nearest to it; only t, the closest point and the
    distance are recomputed. Near the poly-line it was measured for, that is the local piece
    of the exact distance that the arm's gradient differentiates (the nearest segment is
    locally constant except on the medial axis), at the cost of a few passes over the ridge's
    pixels instead of a nearest-segment search: what a finite-difference Hessian needs.

    Parameters
    ----------
    ridge
        A :func:`polyline_distance` result (or one derived from it by this function).
    points
        (N, 2) the moved vertices, the same N.
    width
        W of the image (pixels are flat indices).
    """
    rows, cols = np.divmod(ridge.pixels, width)
    start = points[ridge.segment]
    edge = points[ridge.segment + 1] - start
    rel_x = cols - start[:, 0]
    rel_y = rows - start[:, 1]
    length2 = np.maximum(edge[:, 0] ** 2 + edge[:, 1] ** 2, 1e-300)
    t = np.clip((rel_x * edge[:, 0] + rel_y * edge[:, 1]) / length2, 0.0, 1.0)
    offset = np.empty((t.size, 2))
    offset[:, 0] = t * edge[:, 0] - rel_x
    offset[:, 1] = t * edge[:, 1] - rel_y
    d2 = offset[:, 0] ** 2 + offset[:, 1] ** 2
    return Ridge(pixels=ridge.pixels, d2=d2, segment=ridge.segment, t=t, offset=offset)


def polyline_distances(
    lines: Sequence[tuple[np.ndarray, float]], shape: tuple[int, int]
) -> list[Ridge]:
    """:func:`polyline_distance` of each (points, cutoff) line."""
    return [polyline_distance(points, shape, cutoff) for points, cutoff in lines]


def arm_ridges(
    arms: Sequence[tuple[np.ndarray, float] | None], shape: tuple[int, int]
) -> list[Ridge | None]:
    """Ridges of several arms, given as (points, spread) or None (skipped).

    Each is ``polyline_distance(points, shape, CUTOFF_SPREADS·spread)``, for
    :func:`arm_image_vjp`'s ``ridge`` argument.
    """
    return [
        None if arm is None else polyline_distance(arm[0], shape, CUTOFF_SPREADS * arm[1])
        for arm in arms
    ]


def arm_image_vjp(
    points: np.ndarray,
    intensity: float,
    spread: float,
    disk_profile: np.ndarray,
    *,
    jacobian: np.ndarray | None = None,
    ridge: Ridge | None = None,
) -> tuple[np.ndarray, float, Callable[[np.ndarray, float], tuple[np.ndarray, np.ndarray]]]:
    """Render one arm's ridge times a disk profile, with its vector–Jacobian product.

    Parameters
    ----------
    points
        (N, 2) poly-line on the image, pixels.
    intensity
        I of the arm (peak of the ridge relative to the disk profile).
    spread
        Gaussian σ across the arm, pixels (> 0).
    disk_profile
        (H, W) image the ridge multiplies (spec §7.4).
    jacobian
        (N, 2, k) derivatives of the vertices with respect to k geometry parameters, or None
        for a fixed poly-line.
    ridge
        ``polyline_distance(points, shape, CUTOFF_SPREADS·spread)`` if the caller already
        has it (see :func:`arm_ridges`); computed here otherwise.

    Returns
    -------
    image
        (H, W) arm image before the PSF.
    total
        Its pixel sum.
    vjp
        ``vjp(w, w_total)`` for the scalar function ``Σ w·image + w_total·total`` returns
        ``(grad, profile_cotangent)``: ``grad`` is ``[∂/∂intensity, ∂/∂spread, ∂/∂geometry…]``
        (2 + k entries) and ``profile_cotangent`` the (H, W) cotangent to pass on to whatever
        produced ``disk_profile``.
    """
    shape = disk_profile.shape
    image = np.zeros(shape)
    if ridge is None:
        ridge = polyline_distance(points, shape, CUTOFF_SPREADS * spread)
    n_geometry = 0 if jacobian is None else jacobian.shape[2]
    profile = disk_profile.ravel()[ridge.pixels]
    gauss = np.exp(-ridge.d2 / (2.0 * spread**2))
    values = intensity * gauss * profile
    image.ravel()[ridge.pixels] = values
    total = float(values.sum())

    def vjp(cotangent: np.ndarray, cotangent_total: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
        grad = np.zeros(2 + n_geometry)
        weight = cotangent.ravel()[ridge.pixels] + cotangent_total
        wv = weight * values
        grad[0] = dot(weight, gauss * profile)
        grad[1] = dot(wv, ridge.d2) / spread**3
        profile_cot = np.zeros(shape)
        profile_cot.ravel()[ridge.pixels] = weight * intensity * gauss
        if jacobian is not None and ridge.pixels.size:
            a = wv * (-1.0 / (2.0 * spread**2))  # w·∂S/∂d²
            n_vertices = jacobian.shape[0]
            g_vertex = np.zeros((n_vertices, 2))
            for axis in range(2):
                term = 2.0 * a * ridge.offset[:, axis]
                g_vertex[:, axis] = np.bincount(
                    ridge.segment, weights=term * (1.0 - ridge.t), minlength=n_vertices
                ) + np.bincount(ridge.segment + 1, weights=term * ridge.t, minlength=n_vertices)
            grad[2:] = np.einsum("nd,ndk->k", g_vertex, jacobian)
        return grad, profile_cot

    return image, total, vjp
