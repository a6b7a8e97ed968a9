"""Boxy Sérsic profiles: b_n, luminosity ↔ intensity, and pixel-integrated images with gradients.

The profile (spec §7.2), with ``(dx, dy) = (mux − x, muy − y)``::

    u = ( cos(roll)·dx + sin(roll)·dy ) / q        minor-axis coordinate, stretched by 1/q
    v =  −sin(roll)·dx + cos(roll)·dy              major-axis coordinate
    r = ( |u|^c + |v|^c )^(1/c)                    generalised ellipse radius (c = 2: ellipse)
    f = I · exp( −b_n · ( (r/re)^(1/n) − 1 ) )     I = surface brightness at r = re

Pixels are integrated with the midpoint rule on a sub-pixel lattice (spec §7.1). The reference
uses a uniform ×5 lattice everywhere; the default here (``oversample="adaptive"``) samples the
profile once per pixel and gives each pixel near the centre its own finer lattice, the
coarsest for which the leading-order midpoint error, ``|∇²f|/(24 f N²)``, is under a
tolerance (see :func:`plan_sampling`); refined pixels away from the centre's cusp, where the
profile is smooth on the pixel scale, get a Gauss–Legendre rule instead, which needs far fewer
samples for the same error (2 × 2 where the midpoint rule needs 7 × 7). Pixels where the
profile is below 1e-15 of its central value are not evaluated at all. That reproduces a ×25
uniform render to well under 1 % per pixel and 1e-3 in flux at a fraction of the cost (see
``tests/rendering/test_sersic.py`` and ``test_fast_paths.py``).

A render is a few dozen numpy passes over ~2e4-sample arrays, so the evaluation minimises
passes (quadratic-form radius, special cases for n = 1 and n = 1/2, in-place arithmetic) and
lays samples out so that pixel means reduce along the leading axis.

Every image function has a ``*_vjp`` companion returning the image and a function that maps a
cotangent image ``w`` to ``Σ w · ∂image/∂p`` for the eight parameters in
:data:`SERSIC_PARAMETERS` order. All derivatives are analytic except ``db_n/dn`` below
n = 0.36 in ``corrected`` mode, where the n-derivative of the regularised incomplete gamma
function is taken by a central difference (scipy has no closed form for it).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import special

from gzbcat.model import Method, SersicComponent
from gzbcat.rendering._perf import dot as _dot
from gzbcat.rendering.rules import EXACT_B_BELOW_N, RENDERING_RULES, Oversample

__all__ = [
    "EXACT_B_BELOW_N",
    "SERSIC_PARAMETERS",
    "Level",
    "Method",
    "Oversample",
    "SamplingPlan",
    "boxiness_area_factor",
    "intensity_from_luminosity",
    "luminosity",
    "luminosity_factor",
    "luminosity_factor_log_gradient",
    "plan_sampling",
    "render_sersic",
    "render_sersic_vjp",
    "sersic_b",
    "sersic_b_derivative",
]

SERSIC_PARAMETERS: tuple[str, ...] = ("mux", "muy", "roll", "re", "q", "intensity", "n", "c")
"""Order of the gradient entries returned by the VJP functions (same as the model's fields)."""

_R2_EPS = 1e-20
"""Added to r² so that a sample exactly on the centre has finite derivatives (spec §7.2)."""
_ABS_FLOOR = 1e-150
"""Floor on |u|, |v| in the boxy path, for the same reason (log|u| and |u|^c/u at u = 0)."""

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
_LEVEL_SAMPLES = 3000  # extra samples worth saving one level's fixed cost (see plan_sampling)
_SMALL_INTEGER_C = (3.0, 4.0)  # boxiness powers evaluated as products in the boxy path
_TRUNCATE = 34.5  # pixels where the profile is below e^−34.5 ≈ 1e-15 of its peak stay 0


# --------------------------------------------------------------------------------------------
# b_n and luminosity
# --------------------------------------------------------------------------------------------


def _b_series(n: float) -> float:
    return (
        2.0 * n
        - 1.0 / 3.0
        + 4.0 / (405.0 * n)
        + 46.0 / (25515.0 * n**2)
        + 131.0 / (1148175.0 * n**3)
        - 2194697.0 / (30690717750.0 * n**4)
    )


def _b_series_derivative(n: float) -> float:
    return (
        2.0
        - 4.0 / (405.0 * n**2)
        - 2.0 * 46.0 / (25515.0 * n**3)
        - 3.0 * 131.0 / (1148175.0 * n**4)
        + 4.0 * 2194697.0 / (30690717750.0 * n**5)
    )


def sersic_b(n: float, *, method: Method = Method.CORRECTED) -> float:
    """Return b_n, the constant that makes ``re`` the half-light radius.

    Parameters
    ----------
    n
        Sérsic index (> 0).
    method
        ``reference`` always uses the Ciotti & Bertin (1999) series; ``corrected`` uses the
        series for n ≥ 0.36 and the exact root ``gammaincinv(2n, 1/2)`` below it, where the
        series is poor (spec §12.1 #22) and bars may go down to n = 0.3.
    """
    n = float(n)
    if n <= 0:
        raise ValueError(f"Sérsic index must be positive, got {n}")
    if n < RENDERING_RULES[method].exact_b_below_n:
        return float(special.gammaincinv(2.0 * n, 0.5))
    return _b_series(n)


def sersic_b_derivative(n: float, *, method: Method = Method.CORRECTED) -> float:
    """Return db_n/dn, consistent with :func:`sersic_b` for the same ``method``.

    Notes
    -----
    For the exact root, P(2n, b) = 1/2 gives db/dn = −2·(∂P/∂a)/(∂P/∂b), with
    ∂P/∂b = b^(a−1)·e^(−b)/Γ(a); ∂P/∂a is a central difference (step 1e-6 in a).
    """
    n = float(n)
    if n < RENDERING_RULES[method].exact_b_below_n:
        a = 2.0 * n
        b = float(special.gammaincinv(a, 0.5))
        step = 1e-6
        dp_da = (special.gammainc(a + step, b) - special.gammainc(a - step, b)) / (2 * step)
        dp_db = math.exp((a - 1.0) * math.log(b) - b - special.gammaln(a))
        return float(-2.0 * dp_da / dp_db)
    return _b_series_derivative(n)


def boxiness_area_factor(c: float) -> float:
    """Return R(c), the area of a unit generalised ellipse relative to the c = 2 ellipse.

    ``R(c) = π·Γ(1 + 2/c) / (4·Γ(1 + 1/c)²)``, the GALFIT-style correction (spec §7.2); it is
    1 at c = 2. The luminosity of a boxy component is divided by it.
    """
    c = float(c)
    return math.pi * math.gamma(1.0 + 2.0 / c) / (4.0 * math.gamma(1.0 + 1.0 / c) ** 2)


def luminosity_factor(
    re: float, q: float, n: float, c: float = 2.0, *, method: Method = Method.CORRECTED
) -> float:
    """Return L/I: ``2π·re²·n·e^b/b^(2n)·Γ(2n)·q/R(c)`` (spec §7.2), untruncated."""
    b = sersic_b(n, method=method)
    log_k = (
        math.log(2.0 * math.pi)
        + 2.0 * math.log(re)
        + math.log(n)
        + b
        - 2.0 * n * math.log(b)
        + special.gammaln(2.0 * n)
        + math.log(q)
    )
    return math.exp(log_k) / boxiness_area_factor(c)


def luminosity_factor_log_gradient(
    re: float, q: float, n: float, c: float = 2.0, *, method: Method = Method.CORRECTED
) -> tuple[float, float, float, float]:
    """Return ∂ln(L/I)/∂(re, q, n, c), for the chain rule of luminosity parameters."""
    b = sersic_b(n, method=method)
    db = sersic_b_derivative(n, method=method)
    d_re = 2.0 / re
    d_q = 1.0 / q
    d_n = 1.0 / n + db - 2.0 * math.log(b) - 2.0 * n * db / b + 2.0 * special.digamma(2.0 * n)
    d_c = 2.0 / c**2 * (special.digamma(1.0 + 2.0 / c) - special.digamma(1.0 + 1.0 / c))
    return d_re, d_q, float(d_n), float(d_c)


def luminosity(
    intensity: float,
    re: float,
    q: float,
    n: float,
    c: float = 2.0,
    *,
    method: Method = Method.CORRECTED,
) -> float:
    """Return the total (untruncated) luminosity of a component with surface brightness I at re."""
    return intensity * luminosity_factor(re, q, n, c, method=method)


def intensity_from_luminosity(
    total: float,
    re: float,
    q: float,
    n: float,
    c: float = 2.0,
    *,
    method: Method = Method.CORRECTED,
) -> float:
    """Return the surface brightness at re of a component of total luminosity ``total``."""
    return total / luminosity_factor(re, q, n, c, method=method)


# --------------------------------------------------------------------------------------------
# Sampling plans
# --------------------------------------------------------------------------------------------


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


def _integer_power(x: np.ndarray, power: int) -> np.ndarray:
    """``x**power`` (power ≥ 2) by repeated products: no transcendentals, one new array."""
    out = x * x
    for _ in range(power - 2):
        out *= x
    return out


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


def plan_sampling(
    component: SersicComponent,
    shape: tuple[int, int],
    oversample: Oversample = "adaptive",
    *,
    method: Method = Method.CORRECTED,
) -> SamplingPlan:
    """Choose where, and how finely, to sample a component's profile.

    Parameters
    ----------
    component
        The component (image frame).
    shape
        (H, W) of the image.
    oversample
        An integer: one uniform lattice over the whole image (5 reproduces the reference).
        ``"adaptive"``: one sample per pixel where the profile is not negligible (see
        :func:`_base_mask`), then each pixel near the centre on the coarsest lattice of
        :data:`_ADAPTIVE_FACTORS` that brings its estimated midpoint error
        (see :func:`_radius_limits`) under the tolerance. The estimate is taken at the smallest
        generalised radius inside the pixel (its centre's, less the half-diagonal times the
        radius' Lipschitz constant), because the error grows towards the centre and a
        pixel containing the centre must be treated as the cusp it holds. Refined pixels at
        least :data:`_GAUSS_MIN_RADIUS` from the centre whose lowest sufficient Gauss order
        (:data:`_GAUSS_THRESHOLDS`) takes fewer samples move to Gauss levels, order by order,
        when that makes the plan cheaper (levels have a fixed cost too).
    method
        Selects b_n (see :func:`sersic_b`).

    Notes
    -----
    The plan depends on the parameters only through which pixels are sampled and with which
    integer factor, so the rendered image is piecewise smooth in the parameters; the jumps
    when a pixel changes lattice are below the tolerance, and pixels are dropped only where
    the profile is below 1e-15 of its peak.
    """
    height, width = int(shape[0]), int(shape[1])
    shape = (height, width)
    if oversample != "adaptive":
        factor = int(oversample)
        if factor < 1:
            raise ValueError(f"oversample must be >= 1, got {oversample}")
        return SamplingPlan(shape, (Level(factor),))
    b = sersic_b(float(component.n), method=method)
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
    elif c in _SMALL_INTEGER_C:
        r_pow = _integer_power(np.abs(u, out=u), int(c))
        r_pow += _integer_power(np.abs(v, out=v), int(c))
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


# --------------------------------------------------------------------------------------------
# Evaluation
# --------------------------------------------------------------------------------------------
#
# Layout: a level's samples form an array (f, f, *pixel_shape), sub-row index first, then
# sub-column, then the pixels, which are (H, W) for a whole-image level and (P,) for a pixel
# list. Pixel means are then a sum over the leading axis of a (f², pixels) view (fast, unlike
# a reduction over short trailing axes), and per-pixel weights broadcast against the samples
# without being repeated. Offsets (mux − x, muy − y) are kept as broadcastable (1, f, …) and
# (f, 1, …) arrays, so that the quadratic form below costs three passes over the samples.


@functools.lru_cache(maxsize=64)
def _sub_offsets(factor: int, gauss: bool = False) -> np.ndarray:
    """Sub-sample positions within a pixel, relative to its centre.

    Midpoint lattice: (k + ½)/N − ½; Gauss: the N Gauss–Legendre nodes mapped to [−½, ½].
    """
    if gauss:
        out = np.polynomial.legendre.leggauss(factor)[0] / 2.0
    else:
        out = (np.arange(factor) + 0.5) / factor - 0.5
    out.flags.writeable = False
    return out


@functools.lru_cache(maxsize=64)
def _gauss_weights(factor: int) -> np.ndarray:
    """(N, N, 1) product Gauss–Legendre weights of a pixel's samples, summing to 1."""
    weights = np.polynomial.legendre.leggauss(factor)[1] / 2.0
    out = (weights[:, None] * weights[None, :])[:, :, None]
    out.flags.writeable = False
    return out


@functools.lru_cache(maxsize=64)
def _grid_axes(shape: tuple[int, int], factor: int) -> tuple[np.ndarray, np.ndarray]:
    """Sub-sample x (1, N, 1, W) and y (N, 1, H, 1) of a whole-image lattice (read-only)."""
    sub = _sub_offsets(factor)
    xs = np.arange(shape[1], dtype=np.float64)[None, None, None, :] + sub[None, :, None, None]
    ys = np.arange(shape[0], dtype=np.float64)[None, None, :, None] + sub[:, None, None, None]
    xs.flags.writeable = ys.flags.writeable = False
    return xs, ys


def _offsets(
    comp: SersicComponent, level: Level, shape: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """Broadcastable (mux − x, muy − y) of a level's sub-samples (pixel centres at integers)."""
    if level.pixels is None:
        xs, ys = _grid_axes(shape, level.factor)
        return comp.mux - xs, comp.muy - ys
    sub = _sub_offsets(level.factor, level.gauss)
    rows, cols = np.divmod(level.pixels, shape[1])
    dx = (comp.mux - cols)[None, None, :] - sub[None, :, None]
    dy = (comp.muy - rows)[None, None, :] - sub[:, None, None]
    return dx, dy


@dataclass
class _Samples:
    """One level's profile samples and the intermediates its gradient reuses."""

    level: Level
    dx: np.ndarray  # broadcastable mux − x
    dy: np.ndarray  # broadcastable muy − y
    mean: np.ndarray  # pixel means of e (pixel shape)
    e: np.ndarray  # exp(−b (s − 1)): the profile over I
    s: np.ndarray  # (r/re)^(1/n)
    r2: np.ndarray | None = None  # ellipse path: u² + v² (+ε)
    log_r2: np.ndarray | None = None  # its log, when it was needed for the forward pass
    u: np.ndarray | None = None  # boxy path from here on
    v: np.ndarray | None = None
    abs_u: np.ndarray | None = None  # max(|u|, floor)
    abs_v: np.ndarray | None = None
    pow_u: np.ndarray | None = None  # |u|^c
    pow_v: np.ndarray | None = None
    log_u: np.ndarray | None = None  # ln max(|u|, floor), unless c is a small integer
    log_v: np.ndarray | None = None
    total: np.ndarray | None = None  # |u|^c + |v|^c (+ε)
    log_total: np.ndarray | None = None


def _evaluate(comp: SersicComponent, b: float, level: Level, shape: tuple[int, int]) -> _Samples:
    """Evaluate exp(−b((r/re)^(1/n) − 1)) on a level's sub-samples; keep what the VJP needs.

    Transcendentals are the cost, so they are minimised: the ellipse radius is a quadratic
    form in the offsets; ``(r/re)^(1/n)`` is one log and one exp (a square root for the
    exponential disk, nothing for n = 1/2); the boxy ``|u|^c`` is exp(c·ln|u|), cheaper than a
    power, with ln|u| kept for the c-derivative. Arithmetic is in place where it
    saves a sample-sized temporary.
    """
    dx, dy = _offsets(comp, level, shape)
    cos, sin = math.cos(comp.roll), math.sin(comp.roll)
    q, n, re, c = float(comp.q), float(comp.n), float(comp.re), float(comp.c)
    out = _Samples(level, dx, dy, np.empty(0), np.empty(0), np.empty(0))
    if c == 2.0:
        # u² + v² with u = (cos dx + sin dy)/q, v = −sin dx + cos dy
        a_xx = (cos / q) ** 2 + sin**2
        a_xy = 2.0 * cos * sin * (1.0 / q**2 - 1.0)
        a_yy = (sin / q) ** 2 + cos**2
        r2 = (a_xy * dx) * dy
        r2 += a_xx * dx * dx
        r2 += a_yy * dy * dy + _R2_EPS
        out.r2 = r2
        if n == 1.0:
            s = np.sqrt(r2)
            s *= 1.0 / re
        elif n == 0.5:
            s = r2 * (1.0 / re**2)
        else:
            log_r2 = np.log(r2)
            out.log_r2 = log_r2
            s = log_r2 * (0.5 / n)
            s -= math.log(re) / n
            np.exp(s, out=s)
    else:
        u = (cos / q) * dx + (sin / q) * dy
        v = (-sin) * dx + cos * dy
        abs_u = np.abs(u)
        np.maximum(abs_u, _ABS_FLOOR, out=abs_u)
        abs_v = np.abs(v)
        np.maximum(abs_v, _ABS_FLOOR, out=abs_v)
        log_u = log_v = None
        if c in _SMALL_INTEGER_C:
            # |u|^c by repeated products, no transcendentals (ln|u| is left to the VJP).
            pow_u = _integer_power(abs_u, int(c))
            pow_v = _integer_power(abs_v, int(c))
        else:
            # |u|^c as exp(c·ln|u|): cheaper than np.power, and the gradient reuses ln|u|.
            log_u = np.log(abs_u)
            pow_u = log_u * c
            np.exp(pow_u, out=pow_u)
            log_v = np.log(abs_v)
            pow_v = log_v * c
            np.exp(pow_v, out=pow_v)
        total = pow_u + pow_v
        total += _R2_EPS
        log_total = np.log(total)
        s = log_total * (1.0 / (c * n))
        s -= math.log(re) / n
        np.exp(s, out=s)
        out.u, out.v, out.abs_u, out.abs_v = u, v, abs_u, abs_v
        out.pow_u, out.pow_v = pow_u, pow_v
        out.log_u, out.log_v = log_u, log_v
        out.total, out.log_total = total, log_total
    e = s * (-b)
    e += b
    np.exp(e, out=e)
    out.s, out.e = s, e
    pixel_shape = shape if level.pixels is None else level.pixels.shape
    f = level.factor
    if f == 1:
        out.mean = e.reshape(pixel_shape)
    elif level.gauss:
        out.mean = _gauss_weights(f).reshape(f * f) @ e.reshape(f * f, -1)
    else:
        out.mean = e.reshape(f * f, -1).sum(axis=0).reshape(pixel_shape)
        out.mean *= 1.0 / (f * f)
    return out


def render_sersic(
    component: SersicComponent,
    shape: tuple[int, int],
    *,
    oversample: Oversample = "adaptive",
    method: Method = Method.CORRECTED,
) -> np.ndarray:
    """Render a boxy Sérsic component, pixel-integrated, before the PSF.

    Parameters
    ----------
    component
        Parameters in the image frame (spec §7.2); ``intensity`` is the surface brightness at re.
    shape
        (H, W) of the output.
    oversample
        Sub-pixel lattice (see :func:`plan_sampling`).
    method
        Selects b_n (see :func:`sersic_b`).

    Returns
    -------
    numpy.ndarray
        (H, W) float64 mean surface brightness of each pixel.
    """
    image, _ = _render(component, shape, oversample, method)
    return image


def _render(
    comp: SersicComponent,
    shape: tuple[int, int],
    oversample: Oversample,
    method: Method,
) -> tuple[np.ndarray, list[_Samples]]:
    if comp.re <= 0 or comp.q <= 0 or comp.n <= 0:
        raise ValueError(f"re, q and n must be positive: {comp}")
    shape = (int(shape[0]), int(shape[1]))
    b = sersic_b(comp.n, method=method)
    plan = plan_sampling(comp, shape, oversample, method=method)
    levels = [_evaluate(comp, b, level, shape) for level in plan.levels]
    first = levels[0]
    image = np.zeros(shape) if first.level.pixels is not None else first.mean * comp.intensity
    flat = image.ravel()
    for level in levels:
        if level.level.pixels is not None:
            flat[level.level.pixels] = level.mean * comp.intensity
    return image, levels


def render_sersic_vjp(
    component: SersicComponent,
    shape: tuple[int, int],
    *,
    oversample: Oversample = "adaptive",
    method: Method = Method.CORRECTED,
) -> tuple[np.ndarray, Callable[[np.ndarray], np.ndarray]]:
    """Render a component and return its vector–Jacobian product.

    Returns
    -------
    image
        As :func:`render_sersic`.
    vjp
        ``vjp(w)`` with ``w`` an (H, W) cotangent returns ``Σ_pixels w·∂image/∂p`` as an array
        of 8 in :data:`SERSIC_PARAMETERS` order (mux, muy, roll, re, q, intensity, n, c).
        The entry for c is 0 for a c = 2 component (its c is not differentiated: disks and
        bulges have c fixed in the fit, spec §7.3).

    Notes
    -----
    With ``f = I·e``, ``e = exp(−b(s − 1))``, ``s = (r/re)^(1/n)`` and sample weights
    ``w/N²`` (N the pixel's lattice factor): ``∂f/∂I = e``, ``∂f/∂re = b f s/(n re)``,
    ``∂f/∂n = f (−b'(s − 1) + b s ln(r/re)/n²)`` and, through r, the offsets u and v, whose
    derivatives give the centre, roll and q. Sums over samples are dot products of the arrays
    the forward pass kept.
    """
    image, levels = _render(component, shape, oversample, method)
    comp = component
    b = sersic_b(comp.n, method=method)
    db_dn = sersic_b_derivative(comp.n, method=method)
    # Pixels a finer level replaced in a whole-image first level (pixel lists are disjoint).
    refined = (
        np.concatenate([level.level.pixels for level in levels[1:]])
        if len(levels) > 1 and levels[0].level.pixels is None
        else None
    )

    def vjp(cotangent: np.ndarray) -> np.ndarray:
        grad = np.zeros(len(SERSIC_PARAMETERS))
        cos, sin = math.cos(comp.roll), math.sin(comp.roll)
        q, n, re, c = float(comp.q), float(comp.n), float(comp.re), float(comp.c)
        log_re = math.log(re)
        k = -b / n  # ∂f/∂ln r = k·f·s
        cotangent = np.asarray(cotangent, dtype=np.float64)
        for st in levels:
            if st.level.pixels is None:
                weight = cotangent
                if refined is not None:
                    weight = cotangent.copy()
                    weight.ravel()[refined] = 0.0
            else:
                weight = cotangent.ravel()[st.level.pixels]
            grad[5] += _dot(weight, st.mean)  # ∂f/∂I = e
            f = st.level.factor
            if st.level.gauss:
                wf = st.e * (weight * comp.intensity)  # w·f per sample, times its weight
                wf *= _gauss_weights(f)
            else:
                wf = st.e * (weight * (comp.intensity / (f * f)))
            wfs = wf * st.s
            sum_wf, sum_wfs = float(wf.sum()), float(wfs.sum())
            if st.r2 is not None:
                log_r2 = st.log_r2 if st.log_r2 is not None else np.log(st.r2)
                sum_wfs_log_z = 0.5 * _dot(wfs, log_r2) - log_re * sum_wfs
            else:
                assert st.log_total is not None
                sum_wfs_log_z = _dot(wfs, st.log_total) / c - log_re * sum_wfs
            grad[3] += b / (n * re) * sum_wfs
            grad[6] += -db_dn * (sum_wfs - sum_wf) + b / n**2 * sum_wfs_log_z
            if st.r2 is not None:
                # w ∂f/∂u = k·wfs·u/r², likewise v; Σ fu·v = Σ fv·u here.
                u = (cos / q) * st.dx + (sin / q) * st.dy
                v = (-sin) * st.dx + cos * st.dy
                g = wfs / st.r2
                gu = g * u
                sum_fu = k * float(gu.sum())
                sum_fv = k * _dot(g, v)
                sum_fuv = sum_fvu = k * _dot(gu, v)
                sum_fuu = k * _dot(gu, u)
            else:
                assert st.u is not None and st.v is not None and st.total is not None
                assert st.abs_u is not None and st.abs_v is not None and st.pow_u is not None
                assert st.pow_v is not None and st.log_total is not None
                log_u = st.log_u if st.log_u is not None else np.log(st.abs_u)
                log_v = st.log_v if st.log_v is not None else np.log(st.abs_v)
                # w ∂f/∂total = k·wfs/(c·total); ∂total/∂u = c·|u|^c/u, likewise v.
                g = wfs / st.total
                g_pu = g * st.pow_u
                g_pv = g * st.pow_v
                au = g_pu / np.copysign(st.abs_u, st.u)
                av = g_pv / np.copysign(st.abs_v, st.v)
                sum_fu = k * float(au.sum())
                sum_fv = k * float(av.sum())
                sum_fuv = k * _dot(au, st.v)
                sum_fvu = k * _dot(av, st.u)
                sum_fuu = k * _dot(au, st.u)
                # ∂ln r/∂c = −ln(total)/c² + (|u|^c ln|u| + |v|^c ln|v|)/(c·total)
                grad[7] += k * (
                    -_dot(wfs, st.log_total) / c**2 + (_dot(g_pu, log_u) + _dot(g_pv, log_v)) / c
                )
            grad[0] += cos / q * sum_fu - sin * sum_fv
            grad[1] += sin / q * sum_fu + cos * sum_fv
            grad[2] += sum_fuv / q - q * sum_fvu
            grad[4] += -sum_fuu / q
        return grad

    return image, vjp
