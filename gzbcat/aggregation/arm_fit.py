"""One cluster of drawn arms → a log spiral in the disk plane (spec §6.1–6.2, §6.6).

The drawn poly-lines are kept when long and simple (§6.1), cut around the disk centre
(§6.2), equalised (§6.6.1), cleaned of outlying points (§6.6.3), deprojected (§6.6.4),
unwrapped (§6.6.5) and radially weighted (§6.6.7), and fitted with ``ln R = c0 + c1·θ`` by a
Bayesian ridge (§6.6.6). How the methods differ is in :mod:`gzbcat.aggregation.spirals`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import shapely
from sklearn.linear_model import BayesianRidge

from gzbcat.geometry import deproject, polyline_length, reproject
from gzbcat.model import LogSpiralFit, Method, SersicComponent

from ._unwrap import unwrap_grouped_padded
from .grouped_lof import grouped_lof_inliers
from .params import AGGREGATION_RULES, AggregationParams
from .polyline_metric import directed_distance

__all__ = [
    "ArmFit",
    "arm_scales",
    "equalise_polylines",
    "fit_arm",
    "member_pitch_scatter",
    "point_weights",
    "split_at_centre",
    "unwrap_grouped",
    "usable_arm",
]


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


def unwrap_grouped(theta: np.ndarray, r: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Unwrap polar angles per poly-line and shift each by 2π to join the earlier ones (§6.6.5).

    Each group is ``np.unwrap``-ed along its own order, in label order. The first is kept;
    every later group takes the shift in {−2π, 0, +2π} that puts its (θ, R·2π/max R) points
    closest (the smaller of the two one-way distances, :func:`directed_distance`) to the
    segment joining the earlier groups' points of least and greatest θ (ties: the lowest
    index). A one-point group counts as a degenerate segment.

    This is the plain form: :func:`fit_arm` unwraps with the kernel
    :func:`gzbcat.aggregation._unwrap.unwrap_grouped_padded`, which gives the same angles.
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


MIN_SLOPE_POINTS = 5
"""Points a volunteer's trace needs (after outlier cleaning) for its own pitch angle."""
MIN_SLOPE_SPAN = 0.3
"""Angle, rad, a volunteer's trace must sweep in the disk plane for its own pitch angle."""


def member_pitch_scatter(
    theta: np.ndarray, log_r: np.ndarray, weights: np.ndarray, owner: np.ndarray
) -> tuple[float | None, int]:
    """Spread of the volunteers' own pitch angles about a cluster's, degrees, and their count.

    Each volunteer whose trace has at least :data:`MIN_SLOPE_POINTS` points sweeping at least
    :data:`MIN_SLOPE_SPAN` gets the slope of its own weighted line ``ln r = c0 + c1·θ`` (the
    cluster fit's points, weights and unwrapped angles) and the pitch atan(c1). The spread is
    1.4826 × their median absolute deviation (robust: a short trace's slope can be wild); with
    two volunteers, their sample std. None (and the count) below two.

    The pooled fit's slope error assumes every point independent, which hundreds of points
    from a dozen traces are not; the error of the pooled pitch is taken as that slope error
    and this spread over sqrt(count) added in quadrature (:func:`fit_arm`).
    """
    owners, index = np.unique(owner, return_inverse=True)
    w = np.asarray(weights, dtype=np.float64)
    sums = {
        name: np.bincount(index, weights=values, minlength=owners.size)
        for name, values in (
            ("w", w),
            ("t", w * theta),
            ("y", w * log_r),
            ("tt", w * theta * theta),
            ("ty", w * theta * log_r),
        )
    }
    count = np.bincount(index, minlength=owners.size)
    span = np.full(owners.size, -np.inf)
    np.maximum.at(span, index, theta)
    low = np.full(owners.size, np.inf)
    np.minimum.at(low, index, theta)
    span -= low
    det = sums["w"] * sums["tt"] - sums["t"] ** 2
    usable = (count >= MIN_SLOPE_POINTS) & (span >= MIN_SLOPE_SPAN) & (det > 0)
    if np.count_nonzero(usable) < 2:
        return None, int(np.count_nonzero(usable))
    slope = (sums["w"] * sums["ty"] - sums["t"] * sums["y"])[usable] / det[usable]
    pitch = np.degrees(np.arctan(slope))
    if pitch.size == 2:
        return float(np.std(pitch, ddof=1)), 2
    return float(1.4826 * np.median(np.abs(pitch - np.median(pitch)))), int(pitch.size)


def arm_scales(
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

    _, fit_scale, a_scale = arm_scales(image_shape, method)
    centre = np.array([disk.mux, disk.muy])
    # The reference divides bar_length by image_size[0]; with isotropic scaling, by the one length.
    bar_length = params.bar_length_px / a_scale
    face_on = deproject(coords, centre, disk.roll, disk.q, fit_scale)
    r_all = np.hypot(face_on[:, 0], face_on[:, 1])
    t_all = unwrap_grouped_padded(np.arctan2(face_on[:, 1], face_on[:, 0]), r_all, groups)
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
    length_px = polyline_length(polyline)

    sigma_c1 = math.sqrt(max(float(ridge.sigma_[1, 1]), 0.0))
    fit_err_deg = math.degrees(sigma_c1 / (1.0 + c1 * c1))
    line_owner = np.asarray([int(o) for o in owners], dtype=np.intp)
    if len(line_owner) != len(fit_lines):  # fit lines are the members' own lines, in order
        line_owner = np.arange(len(fit_lines))
    scatter_deg, n_slopes = member_pitch_scatter(t, np.log(r), weights, line_owner[g])
    err_deg = fit_err_deg
    if scatter_deg is not None:
        err_deg = math.hypot(fit_err_deg, scatter_deg / math.sqrt(n_slopes))
    fit = LogSpiralFit(
        a=math.exp(c0) * a_scale,
        pitch_angle_deg=abs(math.degrees(math.atan(c1))),
        chirality=1 if c1 >= 0 else -1,
        t_min=float(t_predict.min()) if t_predict.size else math.nan,
        t_max=float(t_predict.max()) if t_predict.size else math.nan,
        pitch_angle_err_deg=err_deg,
        length_px=length_px,
        r_squared=r_squared,
        n_members=len(set(owners)),
        pitch_angle_scatter_deg=scatter_deg,
    )
    return ArmFit(
        fit=fit,
        polyline=polyline,
        lines=tuple(equalised),
        owners=tuple(int(o) for o in owners),
        flagged_bad=r_squared < params.min_r_squared,
    )
