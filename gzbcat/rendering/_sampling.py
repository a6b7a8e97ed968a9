"""The adaptive sampling plan: which pixels of a Sérsic component are sampled, and how finely.

A pixel's mean is integrated with the midpoint rule on an N × N sub-pixel lattice, whose
leading-order error relative to the profile is ``|∇²f|/(24 f N²)``. The plan samples the
profile once per pixel where that is accurate enough, gives each pixel near the centre the
coarsest lattice that brings the error under a tolerance, and integrates refined pixels away
from the centre's cusp, where the profile is smooth on the pixel scale, with a Gauss–Legendre
rule instead (2 × 2 where the midpoint rule needs 7 × 7). Pixels where the profile is below
1e-15 of its central value are not sampled at all. The plain form it is checked against is a
uniform lattice over every pixel (:func:`gzbcat.rendering.sersic.render_sersic_plain`).

Everything here depends on the component's shape and on b_n only, which the caller passes in
(:func:`gzbcat.rendering.sersic.plan_sampling` is the public entry point).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from gzbcat.model import SersicComponent

__all__ = [
    "SMALL_INTEGER_C",
    "Level",
    "SamplingPlan",
    "adaptive_plan",
    "integer_power",
]

SMALL_INTEGER_C = (3.0, 4.0)
"""Boxiness powers whose ``|u|^c`` is computed as products rather than through exp and log."""

# Adaptive oversampling settings. Chosen against the ×25 comparison (tests/rendering): on the
# test's cases and 150 random components (n 0.5–5, q 0.2–1.2, c 2–5) the worst bright pixel
# is 3.3e-3 and the worst total flux 7.5e-4 (limits 1e-2 and 1e-3). The flux is the binding
# constraint: midpoint errors share their sign, so refined pixels are held to a tighter
# tolerance than the per-pixel limit. Intermediate factors let each pixel get close to the
# lattice it needs instead of jumping 5 → 9 → 15.
_ADAPTIVE_TOL = 3e-3  # target relative midpoint error per refined pixel
_ADAPTIVE_TOL_BASE = 5e-3  # error above which a pixel gets more than one sample
_ADAPTIVE_FLOOR = 1e-3  # ignore pixels fainter than this fraction of the central pixel
_ADAPTIVE_FACTORS = (3, 4, 5, 7, 9, 13, 19, 25)  # lattices, coarsest first
_ADAPTIVE_THRESHOLDS = np.array(
    [_ADAPTIVE_TOL_BASE] + [_ADAPTIVE_TOL * f**2 for f in _ADAPTIVE_FACTORS[:-1]]
)  # err(r) above which a pixel needs at least _ADAPTIVE_FACTORS[k]
# Refined pixels away from the centre, where the profile is smooth on the pixel scale, are
# integrated with an m × m Gauss–Legendre product rule instead. For a profile whose one-sample
# midpoint error is err (a local scale λ² = 24·err) its error is about C_m·(24·err)^m, with
# C_m = (m!)⁴/((2m+1)·((2m)!)³) (C_1 = 1/24 is the midpoint rule), so a pixel the midpoint rule
# needs 7 × 7 samples for takes 2 × 2. The estimate assumes a profile analytic across the
# pixel, which fails at the centre's cusp, hence the radius guard; against a ×45 lattice on 120
# random components the worst Gauss pixel is 2.4e-3 (at a boxy profile's axis), within the
# midpoint tolerance.
_GAUSS_ORDERS = (2, 3, 4)
_GAUSS_MIN_RADIUS = 0.5  # pixels whose smallest radius is below this (px) stay midpoint
_GAUSS_THRESHOLDS = np.array(
    [
        (_ADAPTIVE_TOL * (2 * m + 1) * math.factorial(2 * m) ** 3 / math.factorial(m) ** 4)
        ** (1.0 / m)
        / 24.0
        for m in _GAUSS_ORDERS
    ]
)  # err(r) at or below which the m × m Gauss rule meets the tolerance
# Both sets of thresholds, negated for the descending search in _radius_limits.
_THRESHOLDS = -np.concatenate([_ADAPTIVE_THRESHOLDS, _GAUSS_THRESHOLDS])
_RADII_STEPS = np.linspace(0.0, 1.0, 256)  # error table: radii 0.1·(R/0.1)^t, geometric
_RADII_STEPS_LIST = _RADII_STEPS.tolist()
_LEVEL_SAMPLES = 3000  # extra samples worth saving one level's fixed cost (see _fold_levels)
_TRUNCATE = 34.5  # pixels where the profile is below e^−34.5 ≈ 1e-15 of its peak stay 0


@dataclass(frozen=True, eq=False)
class Level:
    """Pixels sampled on one ``factor × factor`` lattice: midpoint, or Gauss–Legendre nodes.

    Attributes
    ----------
    factor
        Sub-samples per pixel side.
    pixels
        Flat indices (row·W + col), ascending, of the pixels this level samples; None means
        every pixel of the image, which is then evaluated as a separable grid.
    gauss
        Gauss–Legendre nodes and weights instead of the midpoint lattice (pixel lists only).
    """

    factor: int
    pixels: np.ndarray | None = None
    gauss: bool = False

    def n_pixels(self, shape: tuple[int, int]) -> int:
        """Pixels the level samples in an image of this shape."""
        return shape[0] * shape[1] if self.pixels is None else int(self.pixels.size)


@dataclass(frozen=True, eq=False)
class SamplingPlan:
    """Where, and how finely, a component is sampled.

    The first level has one or more samples per pixel, over the whole image or over a pixel
    list (pixels it leaves out are 0). Each later level lists pixels it integrates more
    finely. Pixel lists are disjoint; a whole-image first level is overridden on the later
    levels' pixels. A pixel is thus integrated on exactly one lattice, the finest it needs,
    so no sub-sample is computed twice and nothing is sampled for a bounding box's empty
    corners.
    """

    shape: tuple[int, int]
    levels: tuple[Level, ...]

    @property
    def n_samples(self) -> int:
        """Profile evaluations the plan costs."""
        return sum(lv.n_pixels(self.shape) * lv.factor**2 for lv in self.levels)

    def factor_map(self) -> np.ndarray:
        """(H, W) lattice factor each pixel is integrated with (0: not sampled, left at 0)."""
        first = self.levels[0]
        out = np.full(self.shape, first.factor if first.pixels is None else 0, dtype=np.intp)
        for level in self.levels:
            if level.pixels is not None:
                out.ravel()[level.pixels] = level.factor
        return out


def integer_power(x: np.ndarray, power: int) -> np.ndarray:
    """``x**power`` (power ≥ 2) by repeated products: no transcendentals, one new array."""
    out = x * x
    for _ in range(power - 2):
        out *= x
    return out


def _radius_limits(
    component: SersicComponent, b: float
) -> tuple[list[tuple[int, float]], list[tuple[int, float]]]:
    """Radii that decide each pixel's lattice, from the midpoint error along the major axis.

    Returns
    -------
    midpoint
        (factor, largest radius that needs at least it), coarsest factor first. A pixel at
        radius r needs factor N_k when one sample per pixel, or the previous factor N_{k−1},
        would be worse than :data:`_ADAPTIVE_TOL` there (``err(r)/N_{k−1}² > tol``) and the
        profile is above :data:`_ADAPTIVE_FLOOR` of its central pixel. The radii are
        non-increasing in k because the condition only gets stricter.
    gauss
        (order m, largest radius where the m × m Gauss rule is not enough; 0 if none) for
        each of :data:`_GAUSS_ORDERS`, non-increasing likewise.
    """
    re, q, n = float(component.re), float(component.q), float(component.n)
    q_err = min(q, 1.0 / q)  # a q > 1 component is steepest along its other axis
    # Radii along the major axis, pixels, from well inside the central pixel outwards:
    # r = 0.1·(R/0.1)^t, geometric, so ln z = ln(r/re) is linear in the table's steps t.
    log_span = math.log(max(60.0 * re, 10.0) / 0.1)
    log_z = _RADII_STEPS * log_span
    log_z += math.log(0.1 / re)
    # The error of one sample per pixel, (|f''/f| + |f'/f|/r)/(24 q²): the radial and
    # tangential second derivatives, the minor axis 1/q steeper (divide by N² for N × N).
    # With s = z^(1/n), |d ln f/dr| = A·s/z and its derivative (1/n − 1)·A·s/(re·z²),
    # A = b/(n·re), it is A/(24 q² re)·z^(1/n − 2)·(|A·re·s − (1/n − 1)| + 1).
    a = b / (n * re)
    s = np.exp(log_z * (1.0 / n))
    err = s * (a * re)
    err -= 1.0 / n - 1.0
    np.abs(err, out=err)
    err += 1.0
    err *= np.exp(log_z * (1.0 / n - 2.0))
    err *= a / (24.0 * q_err**2 * re)
    # Faint, never refined: ln f − ln f(centre pixel) = −b·(s − s_centre) ≤ ln(floor).
    s_centre = (0.5 / re) ** (1.0 / n)
    err[s >= s_centre - math.log(_ADAPTIVE_FLOOR) / b] = 0.0
    # Largest radius with err above each factor's threshold: the suffix maximum of err is
    # non-increasing, so the count of its entries above a threshold is one past that radius.
    suffix_max = np.maximum.accumulate(err[::-1])[::-1]
    counts = np.searchsorted(-suffix_max, _THRESHOLDS, side="left").tolist()
    steps = _RADII_STEPS_LIST
    n_mid = len(_ADAPTIVE_FACTORS)
    # Thresholds increase, so the factors that some radius needs lead.
    midpoint = [
        (_ADAPTIVE_FACTORS[k], 0.1 * math.exp(steps[c - 1] * log_span))
        for k, c in enumerate(counts[:n_mid])
        if c > 0
    ]
    gauss = [
        (m, 0.1 * math.exp(steps[c - 1] * log_span) if c > 0 else 0.0)
        for m, c in zip(_GAUSS_ORDERS, counts[n_mid:], strict=True)
    ]
    return midpoint, gauss


def _base_mask(component: SersicComponent, shape: tuple[int, int], b: float) -> np.ndarray | None:
    """Pixels sampled once each: a flat bool mask, or None for the whole image.

    Beyond ``R_t = re·(TRUNCATE/b)^n`` the profile is below ``e^−TRUNCATE`` (1e-15) of its
    central value, far below the rounding of any sum it joins, so those pixels are left at
    zero. That only bites for compact n ≲ 1 components (bars), whose light vanishes within a
    few re; disks and bulges reach the image edge. The kept pixels are those whose centre is
    in the ellipse ‖(u, v)‖₂ ≤ R_t·max(1, 2^(1/2 − 1/c)), which contains ‖(u, v)‖_c ≤ R_t,
    found row by row from a quadratic in x. A whole image is evaluated as a separable grid,
    cheaper per sample than a pixel list, so the list is used only when it saves half.
    """
    height, width = shape
    n, re, q, c = float(component.n), float(component.re), float(component.q), float(component.c)
    radius = re * (_TRUNCATE / b) ** n * max(1.0, 2.0 ** (0.5 - 1.0 / c))
    cos, sin = math.cos(component.roll), math.sin(component.roll)
    # u² + v² = a_xx dx² + a_xy dx dy + a_yy dy² with dx = mux − x, dy = muy − y
    a_xx = (cos / q) ** 2 + sin**2
    a_xy = 2.0 * cos * sin * (1.0 / q**2 - 1.0)
    a_yy = (sin / q) ** 2 + cos**2
    # The region is convex: if it holds the image's four corners it holds the whole image.
    corner_r2 = max(
        a_xx * dx * dx + a_xy * dx * dy + a_yy * dy * dy
        for dx in (component.mux + 0.5, component.mux - width + 0.5)
        for dy in (component.muy + 0.5, component.muy - height + 0.5)
    )
    if corner_r2 <= radius * radius:
        return None
    dy = component.muy - np.arange(height, dtype=np.float64)
    disc = (a_xy * dy) ** 2 - 4.0 * a_xx * (a_yy * dy * dy - radius * radius)
    root = np.sqrt(np.maximum(disc, 0.0))
    # dx in [(−a_xy dy − root)/(2 a_xx), (−a_xy dy + root)/(2 a_xx)]; x = mux − dx, so the
    # kept columns of a row are ceil(x_lo) ≤ col ≤ x_hi (none where disc < 0).
    x_lo = component.mux - (-a_xy * dy + root) / (2.0 * a_xx)
    x_hi = component.mux - (-a_xy * dy - root) / (2.0 * a_xx)
    x_hi[disc < 0.0] = -1.0
    cols = np.arange(width, dtype=np.float64)
    mask = cols >= x_lo[:, None]
    mask &= cols <= x_hi[:, None]
    mask = mask.ravel()
    if 2 * int(np.count_nonzero(mask)) >= height * width:
        return None
    return mask


def _base_level(mask: np.ndarray | None) -> Level:
    """The one-sample level of a :func:`_base_mask`."""
    return Level(1) if mask is None else Level(1, np.flatnonzero(mask))


def _fold_levels(counts: list[int], factors: list[int]) -> tuple[list[list[int]], list[int]]:
    """Fold small refined levels into the next finer one; return the groups and where each went.

    ``counts[k]`` pixels need midpoint level k (factor ``factors[k]``; level 0 is the base).
    A level costs a fixed ~40 numpy calls (forward and gradient) whatever its size, so a small
    one is cheaper folded into the next finer level (more samples, only more exact); decided
    on the counts alone. Returns ``[level, pixels]`` of the levels kept, and ``dest[k]``, the
    level whose lattice level k's pixels get.
    """
    groups = [[k, counts[k]] for k in range(1, len(counts)) if counts[k]]
    dest = list(range(len(counts)))
    # From fine to coarse: a level only ever folds into the next finer group still kept,
    # whose own fate is already decided, so each destination is final when it is set.
    for i in range(len(groups) - 2, -1, -1):
        k, size = groups[i]
        finer, _ = groups[i + 1]
        if size * (factors[finer] ** 2 - factors[k] ** 2) < _LEVEL_SAMPLES:
            groups[i + 1][1] += size
            dest[k] = finer
            del groups[i]
    return groups, dest


def _plan_cost(groups: list[list[int]], factors: list[int]) -> int:
    """Samples of the refined midpoint levels, plus each level's fixed cost in samples."""
    return sum(size * factors[k] ** 2 + _LEVEL_SAMPLES for k, size in groups)


def adaptive_plan(component: SersicComponent, shape: tuple[int, int], b: float) -> SamplingPlan:
    """Choose where, and how finely, to sample a component's profile (b = its b_n).

    One sample per pixel where the profile is not negligible (see :func:`_base_mask`), then
    each pixel near the centre on the coarsest lattice of :data:`_ADAPTIVE_FACTORS` that brings
    its estimated midpoint error (see :func:`_radius_limits`) under the tolerance. The
    estimate is taken at the smallest generalised radius inside the pixel (its centre's, less
    the half-diagonal times the radius' Lipschitz constant), because the error grows towards
    the centre and a pixel containing the centre must be treated as the cusp it holds. Refined
    pixels at least :data:`_GAUSS_MIN_RADIUS` from the centre whose lowest sufficient Gauss
    order (:data:`_GAUSS_THRESHOLDS`) takes fewer samples move to Gauss levels, order by order,
    when that makes the plan cheaper (levels have a fixed cost too).

    Notes
    -----
    The plan depends on the parameters only through which pixels are sampled and with which
    integer factor, so the rendered image is piecewise smooth in the parameters; the jumps
    when a pixel changes lattice are below the tolerance, and pixels are dropped only where
    the profile is below 1e-15 of its peak.
    """
    height, width = shape
    base_mask = _base_mask(component, shape, b)
    limits, gauss_limits = _radius_limits(component, b)
    if not limits:
        return SamplingPlan(shape, (_base_level(base_mask),))
    q, c = float(component.q), float(component.c)
    sin, cos = math.sin(component.roll), math.cos(component.roll)
    # Smallest radius inside a pixel: r is Lipschitz in (x, y) with constant
    # max(1, 1/q)·max(1, 2^(1/c − 1/2)), and a pixel's points are within √½ px of its centre.
    reach = math.sqrt(0.5) * max(1.0, 1.0 / q) * max(1.0, 2.0 ** (1.0 / c - 0.5))
    # Bounding box of r ≤ R_1 + reach (|u|, |v| ≤ r for any c ≥ 1).
    r_out = limits[0][1] + reach
    if c == 2.0:
        half_x = r_out * math.hypot(sin, q * cos)
        half_y = r_out * math.hypot(cos, q * sin)
    else:
        half_x = r_out * (abs(sin) + q * abs(cos))
        half_y = r_out * (abs(cos) + q * abs(sin))
    row0 = max(0, math.floor(component.muy - half_y))
    row1 = min(height, math.ceil(component.muy + half_y) + 1)
    col0 = max(0, math.floor(component.mux - half_x))
    col1 = min(width, math.ceil(component.mux + half_x) + 1)
    if row1 <= row0 or col1 <= col0:
        return SamplingPlan(shape, (_base_level(base_mask),))
    dx = component.mux - np.arange(col0, col1, dtype=np.float64)[None, :]
    dy = component.muy - np.arange(row0, row1, dtype=np.float64)[:, None]
    u = (cos * dx + sin * dy) / q
    v = -sin * dx + cos * dy
    # Pixels are compared by r^c: r − reach ≥ R ⇔ r^c ≥ (R + reach)^c, so no root is taken.
    if c == 2.0:
        r_pow = u * u
        r_pow += v * v
    elif c in SMALL_INTEGER_C:
        r_pow = integer_power(np.abs(u, out=u), int(c))
        r_pow += integer_power(np.abs(v, out=v), int(c))
    else:
        r_pow = np.abs(u) ** c
        r_pow += np.abs(v) ** c

    def thresholds(radii: list[float]) -> list[float]:
        """(R + reach)^c of non-increasing radii, ascending."""
        return [(radius + reach) ** c for radius in reversed(radii)]

    # Level k of a pixel = number of limits with radius ≥ r (the radii are non-increasing).
    level = len(limits) - np.searchsorted(
        thresholds([radius for _, radius in limits]), r_pow, side="left"
    )
    factors = [1] + [factor for factor, _ in limits]
    counts = np.bincount(level.ravel(), minlength=len(factors))
    groups, dest = _fold_levels(counts.tolist(), factors)
    gauss_cost = 0  # samples and fixed costs of the Gauss levels taken so far
    cost = _plan_cost(groups, factors)
    # Refined pixels away from the centre move to a Gauss level of the lowest order that
    # suffices there, order by order, when that makes the plan cheaper.
    gauss_masks: list[tuple[int, np.ndarray]] = []
    gauss_radii = [max(radius, _GAUSS_MIN_RADIUS) for _, radius in gauss_limits]
    order = len(gauss_limits) - np.searchsorted(thresholds(gauss_radii), r_pow, side="left")
    pixel_factor = np.asarray(factors)[level]
    for k, m in enumerate(_GAUSS_ORDERS):
        mask = order == k
        mask &= pixel_factor > m
        n_moved = int(np.count_nonzero(mask))
        if n_moved == 0:
            continue
        trial_counts = counts - np.bincount(level[mask], minlength=len(factors))
        trial_groups, trial_dest = _fold_levels(trial_counts.tolist(), factors)
        trial_gauss_cost = gauss_cost + m * m * n_moved + _LEVEL_SAMPLES
        trial_cost = _plan_cost(trial_groups, factors) + trial_gauss_cost
        if trial_cost < cost:
            gauss_masks.append((m, mask))
            level[mask] = 0
            counts, groups, dest = trial_counts, trial_groups, trial_dest
            cost, gauss_cost = trial_cost, trial_gauss_cost
    if dest != list(range(len(limits) + 1)):
        level = np.asarray(dest, dtype=np.intp)[level]
    box_width = col1 - col0

    def pixels_where(mask: np.ndarray) -> np.ndarray:
        """Ascending flat image indices of the box's True pixels (row-major = ascending)."""
        rows, cols = np.nonzero(mask)
        rows += row0
        rows *= width
        rows += cols
        rows += col0
        return rows

    if base_mask is not None:  # keep the levels disjoint
        box = base_mask.reshape(height, width)[row0:row1, col0 : col0 + box_width]
        box[level > 0] = False
        for _, mask in gauss_masks:
            box[mask] = False
    if len(groups) == 1:
        refined = [(limits[groups[0][0] - 1][0], pixels_where(level > 0))]
    else:
        refined = [(limits[k - 1][0], pixels_where(level == k)) for k, _ in groups]
    levels = [_base_level(base_mask)] + [Level(factor, pixels) for factor, pixels in refined]
    levels += [Level(m, pixels_where(mask), gauss=True) for m, mask in gauss_masks]
    return SamplingPlan(shape, tuple(levels))
