"""Boxy Sérsic profiles: b_n, luminosity ↔ intensity, and pixel-integrated images with gradients.

The profile (spec §7.2), with ``(dx, dy) = (mux − x, muy − y)``::

    u = ( cos(roll)·dx + sin(roll)·dy ) / q        minor-axis coordinate, stretched by 1/q
    v =  −sin(roll)·dx + cos(roll)·dy              major-axis coordinate
    r = ( |u|^c + |v|^c )^(1/c)                    generalised ellipse radius (c = 2: ellipse)
    f = I · exp( −b_n · ( (r/re)^(1/n) − 1 ) )     I = surface brightness at r = re

and a pixel's value is the mean of f over the pixel, integrated with the midpoint rule on a
sub-pixel lattice (spec §7.1). The plain forms are :func:`sersic_profile` (the formula above)
and :func:`render_sersic_plain` (a uniform N × N lattice in every pixel; N = 5 is the
reference). :func:`render_sersic` gives the same image to rounding for an integer
``oversample``; its default, ``"adaptive"``, follows a sampling plan
(:mod:`gzbcat.rendering._sampling`) that samples most pixels once and refines only where the
midpoint error needs it, which reproduces a ×25 uniform lattice to well under 1 % per pixel
and 1e-3 in flux at a fraction of the cost (``tests/rendering/test_sersic.py``). The
evaluation on the plan's levels is :mod:`gzbcat.rendering._evaluation`.

Every image function has a ``*_vjp`` companion returning the image and a function that maps a
cotangent image ``w`` to ``Σ w · ∂image/∂p`` for the eight parameters in
:data:`SERSIC_PARAMETERS` order. All derivatives are analytic except ``db_n/dn`` below
n = 0.36 in ``corrected`` mode, where the n-derivative of the regularised incomplete gamma
function is taken by a central difference (scipy has no closed form for it).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from scipy import special

from gzbcat.model import Method, SersicComponent
from gzbcat.rendering._evaluation import Samples, evaluate_level, gauss_weights
from gzbcat.rendering._perf import dot
from gzbcat.rendering._sampling import Level, SamplingPlan, adaptive_plan
from gzbcat.rendering.rules import EXACT_B_BELOW_N, RENDERING_RULES, Oversample

__all__ = [
    "EXACT_B_BELOW_N",
    "SERSIC_PARAMETERS",
    "Level",
    "Method",
    "Oversample",
    "Samples",
    "SamplingPlan",
    "boxiness_area_factor",
    "intensity_from_luminosity",
    "luminosity",
    "luminosity_factor",
    "luminosity_factor_log_gradient",
    "plan_sampling",
    "render_sersic",
    "render_sersic_plain",
    "render_sersic_vjp",
    "sersic_b",
    "sersic_b_derivative",
    "sersic_profile",
    "sersic_samples",
]

SERSIC_PARAMETERS: tuple[str, ...] = ("mux", "muy", "roll", "re", "q", "intensity", "n", "c")
"""Order of the gradient entries returned by the VJP functions (same as the model's fields)."""


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
# The image: plain forms, then the sampled renderer
# --------------------------------------------------------------------------------------------


def sersic_profile(
    dx: np.ndarray, dy: np.ndarray, component: SersicComponent, b: float
) -> np.ndarray:
    """Return f = I·exp(−b·((r/re)^(1/n) − 1)) at offsets (dx, dy) = (mux − x, muy − y).

    The plain form of the module's formula (b = b_n, from :func:`sersic_b`).
    """
    cos, sin = math.cos(component.roll), math.sin(component.roll)
    u = (cos * dx + sin * dy) / component.q
    v = -sin * dx + cos * dy
    r = (np.abs(u) ** component.c + np.abs(v) ** component.c) ** (1.0 / component.c)
    return component.intensity * np.exp(-b * ((r / component.re) ** (1.0 / component.n) - 1.0))


def render_sersic_plain(
    component: SersicComponent,
    shape: tuple[int, int],
    factor: int,
    *,
    method: Method = Method.CORRECTED,
) -> np.ndarray:
    """Return each pixel's mean of :func:`sersic_profile` on a uniform factor × factor lattice.

    The plain form of :func:`render_sersic`: sub-samples at ``(k + ½)/N − ½`` from each pixel
    centre (pixel centres at integer x, y), averaged.
    """
    height, width = shape
    sub = (np.arange(factor) + 0.5) / factor - 0.5
    xs = (np.arange(width)[:, None] + sub).ravel()  # each pixel's N sub-sample x in turn
    ys = (np.arange(height)[:, None] + sub).ravel()
    b = sersic_b(component.n, method=method)
    f = sersic_profile(component.mux - xs[None, :], component.muy - ys[:, None], component, b)
    return f.reshape(height, factor, width, factor).mean(axis=(1, 3))


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
        ``"adaptive"``: one sample per pixel where the profile is not negligible, and near
        the centre the coarsest lattice per pixel that brings the estimated midpoint error
        under a tolerance (see :func:`gzbcat.rendering._sampling.adaptive_plan`).
    method
        Selects b_n (see :func:`sersic_b`).
    """
    shape = (int(shape[0]), int(shape[1]))
    if oversample == "adaptive":
        return adaptive_plan(component, shape, sersic_b(component.n, method=method))
    return _uniform_plan(shape, oversample)


def _uniform_plan(shape: tuple[int, int], oversample: int) -> SamplingPlan:
    factor = int(oversample)
    if factor < 1:
        raise ValueError(f"oversample must be >= 1, got {oversample}")
    return SamplingPlan(shape, (Level(factor),))


def render_sersic(
    component: SersicComponent,
    shape: tuple[int, int],
    *,
    oversample: Oversample = "adaptive",
    method: Method = Method.CORRECTED,
    plan: SamplingPlan | None = None,
) -> np.ndarray:
    """Render a boxy Sérsic component before the PSF: each pixel's mean of the profile f.

    ``f = I·exp(−b_n·((r/re)^(1/n) − 1))`` with the generalised radius r of the module's
    formula. :func:`render_sersic_plain` is the plain form, a uniform lattice in every pixel;
    this equals it to rounding for an integer ``oversample``. The default, ``"adaptive"``,
    integrates each pixel on the lattice its midpoint error needs (:func:`plan_sampling`) and
    agrees with the plain ×25 lattice to 1e-3 in total flux and 1e-2 on every pixel above 1 %
    of the peak.

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
    plan
        A plan made earlier (:func:`plan_sampling`, possibly for other parameters of the same
        kind of component) to use instead of ``oversample``: with a fixed plan the image is a
        smooth function of the parameters, which an optimiser's line search and a
        finite-difference Hessian need (the adaptive plan moves pixels between lattices as the
        component changes, a jump of up to the plan's tolerance).

    Returns
    -------
    numpy.ndarray
        (H, W) float64 mean surface brightness of each pixel.
    """
    image, _ = _render(component, shape, oversample, method, plan)
    return image


def _render(
    comp: SersicComponent,
    shape: tuple[int, int],
    oversample: Oversample,
    method: Method,
    plan: SamplingPlan | None = None,
    samples: list[Samples] | None = None,
) -> tuple[np.ndarray, list[Samples]]:
    shape = (int(shape[0]), int(shape[1]))
    levels = (
        sersic_samples(comp, shape, oversample=oversample, method=method, plan=plan)
        if samples is None
        else samples
    )
    first = levels[0]
    image = np.zeros(shape) if first.level.pixels is not None else first.mean * comp.intensity
    flat = image.ravel()
    for level in levels:
        if level.level.pixels is not None:
            flat[level.level.pixels] = level.mean * comp.intensity
    return image, levels


def sersic_samples(
    comp: SersicComponent,
    shape: tuple[int, int],
    *,
    oversample: Oversample = "adaptive",
    method: Method = Method.CORRECTED,
    plan: SamplingPlan | None = None,
) -> list[Samples]:
    """The profile over I, ``exp(−b(s − 1))``, on each level of the component's plan.

    They depend on every parameter but the intensity, so a caller that changes only the
    intensity (or re-renders an unchanged component) may pass them back to
    :func:`render_sersic_vjp` instead of evaluating the profile again.
    """
    if comp.re <= 0 or comp.q <= 0 or comp.n <= 0:
        raise ValueError(f"re, q and n must be positive: {comp}")
    shape = (int(shape[0]), int(shape[1]))
    b = sersic_b(comp.n, method=method)
    if plan is not None:
        if plan.shape != shape:
            raise ValueError(f"plan for shape {plan.shape}, image {shape}")
    elif oversample == "adaptive":
        plan = adaptive_plan(comp, shape, b)
    else:
        plan = _uniform_plan(shape, oversample)
    return [evaluate_level(comp, b, level, shape) for level in plan.levels]


def render_sersic_vjp(
    component: SersicComponent,
    shape: tuple[int, int],
    *,
    oversample: Oversample = "adaptive",
    method: Method = Method.CORRECTED,
    plan: SamplingPlan | None = None,
    samples: list[Samples] | None = None,
) -> tuple[np.ndarray, Callable[[np.ndarray], np.ndarray]]:
    """Render a component and return its vector–Jacobian product.

    ``plan`` as in :func:`render_sersic`: the vjp is then the exact gradient of that fixed
    plan's image. ``samples``: :func:`sersic_samples` of a component equal to this one but
    for its intensity, to reuse.

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
    image, levels = _render(component, shape, oversample, method, plan, samples)
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
            grad[5] += dot(weight, st.mean)  # ∂f/∂I = e
            f = st.level.factor
            if st.level.gauss:
                wf = st.e * (weight * comp.intensity)  # w·f per sample, times its weight
                wf *= gauss_weights(f)
            else:
                wf = st.e * (weight * (comp.intensity / (f * f)))
            wfs = wf * st.s
            sum_wf, sum_wfs = float(wf.sum()), float(wfs.sum())
            if st.r2 is not None:
                log_r2 = st.log_r2 if st.log_r2 is not None else np.log(st.r2)
                sum_wfs_log_z = 0.5 * dot(wfs, log_r2) - log_re * sum_wfs
            else:
                assert st.log_total is not None
                sum_wfs_log_z = dot(wfs, st.log_total) / c - log_re * sum_wfs
            grad[3] += b / (n * re) * sum_wfs
            grad[6] += -db_dn * (sum_wfs - sum_wf) + b / n**2 * sum_wfs_log_z
            if st.r2 is not None:
                # w ∂f/∂u = k·wfs·u/r², likewise v; Σ fu·v = Σ fv·u here.
                u = (cos / q) * st.dx + (sin / q) * st.dy
                v = (-sin) * st.dx + cos * st.dy
                g = wfs / st.r2
                gu = g * u
                sum_fu = k * float(gu.sum())
                sum_fv = k * dot(g, v)
                sum_fuv = sum_fvu = k * dot(gu, v)
                sum_fuu = k * dot(gu, u)
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
                sum_fuv = k * dot(au, st.v)
                sum_fvu = k * dot(av, st.u)
                sum_fuu = k * dot(au, st.u)
                # ∂ln r/∂c = −ln(total)/c² + (|u|^c ln|u| + |v|^c ln|v|)/(c·total)
                grad[7] += k * (
                    -dot(wfs, st.log_total) / c**2 + (dot(g_pu, log_u) + dot(g_pv, log_v)) / c
                )
            grad[0] += cos / q * sum_fu - sin * sum_fv
            grad[1] += sin / q * sum_fu + cos * sum_fv
            grad[2] += sum_fuv / q - q * sum_fvu
            grad[4] += -sum_fuu / q
        return grad

    return image, vjp
