"""Spiral arms: log-spiral geometry placed with the disk, and the Gaussian ridge they draw.

An arm is a poly-line on the image; its brightness (spec §7.4) is::

    S(x, y) = I · exp(−d² / (2·spread²)) · Disk(x, y)

with ``d`` the distance from the pixel centre to the nearest segment of the poly-line and
``Disk`` a disk-profile image supplied by the caller (the renderer decides which: the rendered
disk, or the disk profile with ``re/falloff``). Distances are exact (no sampling of the
poly-line): segments are grouped in chunks of :data:`_CHUNK` with bounding circles, a pixel
only examines the chunks whose lower bound beats the best upper bound, and pixels farther than
:data:`CUTOFF_SPREADS` spreads from the arm are left at zero (the ridge there is below 3e-11).

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
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from gzbcat.model import SersicComponent
from gzbcat.rendering.sersic import Method

__all__ = [
    "ARM_GEOMETRY_PARAMETERS",
    "CUTOFF_SPREADS",
    "N_ARM_POINTS",
    "Ridge",
    "arm_image_vjp",
    "log_spiral_points",
    "polyline_distance",
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

_CHUNK = 8  # segments per bounding circle in the nearest-segment search


def log_spiral_points(
    a: float,
    phi_deg: float,
    t_min: float,
    t_max: float,
    disk: SersicComponent,
    *,
    base_roll: float | None = None,
    method: Method = "corrected",
    n_points: int = N_ARM_POINTS,
) -> tuple[np.ndarray, np.ndarray]:
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

    Returns
    -------
    points
        (n_points, 2) vertices (x, y), image pixels.
    jacobian
        (n_points, 2, 8) derivatives of the vertices with respect to
        :data:`ARM_GEOMETRY_PARAMETERS` (a, phi_deg, t_min, t_max, mux, muy, roll, q).
    """
    roll, q = float(disk.roll), float(disk.q)
    tan_phi = math.tan(math.radians(phi_deg))
    frac = np.linspace(0.0, 1.0, n_points)
    theta = t_min + (t_max - t_min) * frac
    if base_roll is None:
        dpsi, sign = 0.0, 0.0
    else:
        dpsi = roll - base_roll
        sign = -1.0 if method == "corrected" else 1.0
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


def polyline_distance(points: np.ndarray, shape: tuple[int, int], cutoff: float) -> Ridge:
    """Exact distance from each pixel centre within ``cutoff`` to the nearest segment.

    Parameters
    ----------
    points
        (N, 2) poly-line vertices (x, y), image pixels, N ≥ 2. Repeated vertices are allowed
        (a zero-length segment acts as a point).
    shape
        (H, W) of the image.
    cutoff
        Largest distance of interest, pixels.
    """
    points = np.asarray(points, dtype=np.float64)
    height, width = shape
    empty = Ridge(
        np.zeros(0, dtype=np.intp),
        np.zeros(0),
        np.zeros(0, dtype=np.intp),
        np.zeros(0),
        np.zeros((0, 2)),
    )
    if len(points) < 2:
        return empty
    lo = np.floor(points.min(axis=0) - cutoff).astype(int)
    hi = np.ceil(points.max(axis=0) + cutoff).astype(int)
    col0, col1 = max(0, lo[0]), min(width, hi[0] + 1)
    row0, row1 = max(0, lo[1]), min(height, hi[1] + 1)
    if col1 <= col0 or row1 <= row0:
        return empty
    n_seg = len(points) - 1
    n_chunk = -(-n_seg // _CHUNK)
    # Segments padded (with the last one repeated) to whole chunks.
    seg_index = np.minimum(np.arange(n_chunk * _CHUNK), n_seg - 1)
    starts = points[seg_index]
    edges = points[seg_index + 1] - starts
    length2 = np.maximum((edges**2).sum(axis=1), 1e-300)
    # Bounding circle of each chunk's vertices (the segments lie in their convex hull).
    chunk_vertices = np.concatenate(
        [starts.reshape(n_chunk, _CHUNK, 2), (starts + edges).reshape(n_chunk, _CHUNK, 2)], axis=1
    )
    centre = 0.5 * (chunk_vertices.min(axis=1) + chunk_vertices.max(axis=1))
    radius = np.sqrt(((chunk_vertices - centre[:, None, :]) ** 2).sum(axis=2)).max(axis=1)

    xs = np.arange(col0, col1, dtype=np.float64)
    ys = np.arange(row0, row1, dtype=np.float64)
    dist_c = np.sqrt(
        (xs[None, :, None] - centre[None, None, :, 0]) ** 2
        + (ys[:, None, None] - centre[None, None, :, 1]) ** 2
    ).reshape(-1, n_chunk)
    lower = dist_c - radius
    upper = (dist_c + radius).min(axis=1)
    near = lower.min(axis=1) <= cutoff
    local = np.flatnonzero(near)
    if local.size == 0:
        return empty
    lower, upper = lower[local], upper[local]
    pix_local, chunk = np.nonzero(lower <= upper[:, None])
    nx = col1 - col0
    px = (col0 + local % nx).astype(np.float64)[pix_local]
    py = (row0 + local // nx).astype(np.float64)[pix_local]
    segs = chunk[:, None] * _CHUNK + np.arange(_CHUNK)[None, :]  # (Q, CHUNK)
    rel_x = px[:, None] - starts[segs, 0]
    rel_y = py[:, None] - starts[segs, 1]
    ex, ey = edges[segs, 0], edges[segs, 1]
    t = np.clip((rel_x * ex + rel_y * ey) / length2[segs], 0.0, 1.0)
    off_x = t * ex - rel_x
    off_y = t * ey - rel_y
    d2 = off_x**2 + off_y**2
    best_in_row = d2.argmin(axis=1)
    rows = np.arange(len(pix_local))
    d2_row = d2[rows, best_in_row]
    # Rows are grouped by pixel (np.nonzero is row-major): minimum per group.
    group_start = np.flatnonzero(np.r_[True, pix_local[1:] != pix_local[:-1]])
    group_min = np.minimum.reduceat(d2_row, group_start)
    counts = np.diff(np.r_[group_start, len(pix_local)])
    is_best = d2_row == np.repeat(group_min, counts)
    best_rows = np.flatnonzero(is_best)
    first = best_rows[np.r_[True, pix_local[best_rows][1:] != pix_local[best_rows][:-1]]]
    keep = d2_row[first] <= cutoff**2
    first = first[keep]
    k = best_in_row[first]
    pixel_flat = py[first].astype(np.intp) * width + px[first].astype(np.intp)
    return Ridge(
        pixels=pixel_flat,
        d2=d2_row[first],
        segment=seg_index[segs[first, k]],
        t=t[first, k],
        offset=np.stack([off_x[first, k], off_y[first, k]], axis=1),
    )


def arm_image_vjp(
    points: np.ndarray,
    intensity: float,
    spread: float,
    disk_profile: np.ndarray,
    *,
    jacobian: np.ndarray | None = None,
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
        grad[0] = float(np.vdot(weight, gauss * profile))
        grad[1] = float(np.vdot(wv, ridge.d2)) / spread**3
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
