"""The fit's objective: the negative log-likelihood with its priors (spec §8.2, §8.3), and the
scaled, possibly partial view of it that L-BFGS-B optimises.

:class:`FitObjective` scores a vector of :class:`~gzbcat.fitting.parameters.ParameterSpace`
against the image, with its analytic gradient. :class:`ScaledProblem` is the view the
optimiser moves in::

    x = x_ref + s ⊙ z        (z: what the optimiser moves; x: the spec §8.1 vector)

restricted to a subset of the entries (the brightness stage of spec §8.5 moves only the
luminosity keys; the others stay at their current values). One call returns the value and the
gradient together (``∂/∂z = s ⊙ ∂/∂x``), so every L-BFGS-B evaluation renders the model once.

Why the scaling (``corrected`` mode)
------------------------------------
The spec's vector mixes units: a disk luminosity of ~600, arm log-spiral scales with a prior
width of 0.01 px, fractions of ~0.05, angles in radians and degrees. L-BFGS-B starts from an
identity Hessian and its projected-gradient test is absolute, so in those raw units the first
steps are badly sized and the search spends hundreds of iterations learning the scales (the
reference hit its 500-iteration cap on its example, spec §10.1). Here each stage measures
every entry in units of ``s_i = 1/sqrt(H_ii)``, from the Gauss–Newton curvature of the
objective at the stage's start (:func:`curvature_scales`; :func:`natural_scales` where there
is no curvature), so that the Hessian's diagonal in z is of order one. This is a diagonal
affine change of variables: the model, the box bounds, the priors and hence the optimum are
exactly those of the spec, only the path to it changes. On the worked example
(``scripts/bench_tune.py``) it reaches a lower loss in ~130 iterations than the raw vector
reaches at the 500-iteration cap; in raw coordinates with scipy's default ``ftol`` L-BFGS-B
may also stop early, far above the optimum (``tests/fitting/test_tune.py``). ``reference``
mode uses unit scales (the raw vector, as the reference did).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from gzbcat.fitting.parameters import FITTING_RULES, ForwardPass, ParameterSpace, RenderCache
from gzbcat.model import GalaxyModel, SersicComponent
from gzbcat.rendering._perf import dot
from gzbcat.rendering.psf import PSFOperator
from gzbcat.rendering.sersic import SamplingPlan

__all__ = [
    "ARM_PRIOR_WIDTHS",
    "BRIGHTNESS_KEYS",
    "FitObjective",
    "NonFiniteObjectiveError",
    "ScaledProblem",
    "brightness_entries",
    "curvature_scales",
    "data_curvature",
    "natural_scales",
    "prior_widths",
]

ARM_PRIOR_WIDTHS: dict[str, float] = {
    "a": 0.01,
    "phi_deg": 1.0,
    "t_min": math.radians(0.5),
    "t_max": math.radians(0.5),
}
"""Prior widths on arm geometry (spec §8.3): A 0.01 px, φ 1°, θ range 0.5°; ``reference``
mode only (:attr:`~gzbcat.fitting.parameters.FittingRules.arm_geometry_priors`)."""


BRIGHTNESS_KEYS: tuple[str, ...] = ("disk.L", "bulge.frac", "bar.frac")
"""Luminosity entries of the brightness stage (spec §8.5 step 1), besides ``armK.intensity``."""


class NonFiniteObjectiveError(ArithmeticError):
    """The objective or its gradient was NaN or infinite at some vector."""


def prior_widths(space: ParameterSpace, model: GalaxyModel | None = None) -> np.ndarray:
    """Prior σ per vector entry from a model's component errors (spec §8.3); arm geometry
    has the spec's fixed widths in ``reference`` mode and none in ``corrected`` mode.

    Parameters
    ----------
    space
        The parameter space.
    model
        The model whose volunteer spread gives the widths (normally the aggregate: its
        components' ``scatter``, what spec §8.3 calls the aggregate errors); a component
        without ``scatter`` lends its ``errors`` instead. Default: the space's template.

    Returns
    -------
    numpy.ndarray
        σ per entry; ``inf`` means no prior. Missing widths count as unknown (``inf``).
    """
    model = space.template if model is None else model

    def err(comp: SersicComponent | None, key: str) -> float:
        if comp is None:
            return math.inf
        value = (comp.scatter or comp.errors).get(key)
        return math.inf if value is None or math.isnan(value) else float(value)

    disk = model.disk
    widths: dict[str, float] = {}
    for key in ("mux", "muy", "roll", "re"):
        widths[f"disk.{key}"] = err(disk, key)
    widths["disk.q"] = max(0.001, err(disk, "q"))
    for name in ("bulge", "bar"):
        comp = getattr(model, name)
        if comp is None or disk is None:
            continue
        widths[f"{name}.roll"] = err(comp, "roll")
        widths[f"{name}.q"] = max(0.001, err(comp, "q"))
        rel = math.hypot(err(comp, "re") / comp.re, err(disk, "re") / disk.re)
        widths[f"{name}.scale"] = comp.re / disk.re * rel
    for key in ("mux", "muy"):
        terms = [err(disk, key), err(model.bulge, key)]
        finite = [t for t in terms if math.isfinite(t)]
        widths[f"centre.{key}"] = math.sqrt(sum(t * t for t in finite)) if finite else math.inf
    arm_priors = ARM_PRIOR_WIDTHS if FITTING_RULES[space.method].arm_geometry_priors else {}
    out = np.full(len(space), math.inf)
    for i, name in enumerate(space.names):
        part, key = name.split(".", 1)
        if part.startswith("arm"):
            out[i] = arm_priors.get(key, math.inf)
        else:
            out[i] = widths.get(name, math.inf)
    return out


class FitObjective:
    """Negative log-likelihood of the fit (spec §8.2), with its gradient.

    ``NLL = (N/2)·ln 2π + ½·Σ r²`` over the pixel residuals ``r = (PSF ⊗ model − data)/σ``
    of unmasked pixels and the prior residuals ``(x − x_prior)/σ_prior`` of every entry with a
    finite width (N counts both). Call it as ``fun(x) -> (value, gradient)``, which is what
    ``scipy.optimize.minimize(fun, x0, jac=True, method="L-BFGS-B", bounds=space.bounds())``
    expects.

    Parameters
    ----------
    space
        The parameter space.
    image
        (H, W) data, fit-target units.
    sigma
        (H, W) 1σ per pixel, same units.
    psf
        (k, k) PSF with odd sides.
    mask
        (H, W) bool, True = excluded; None: every pixel counts.
    prior_sigma
        Width per vector entry (``inf``: no prior); None: no priors.
    prior_mean
        Centre per entry; None: ``space.x0``.

    Attributes
    ----------
    plans
        Sampling plans every evaluation uses (:meth:`freeze_sampling`); None: each evaluation
        plans its own (adaptive sampling), which makes the objective piecewise smooth only.
    cache
        A :class:`~gzbcat.fitting.parameters.RenderCache` that evaluations reuse parts'
        samples and arms' ridges from (an exact one from the start: the brightness stage
        moves no part's shape; the finite-difference Hessian sets its own); None: none.
    """

    def __init__(
        self,
        space: ParameterSpace,
        image: np.ndarray,
        sigma: np.ndarray,
        psf: np.ndarray,
        mask: np.ndarray | None = None,
        *,
        prior_sigma: np.ndarray | None = None,
        prior_mean: np.ndarray | None = None,
    ) -> None:
        self.space = space
        shape = space.shape
        image = np.asarray(image, dtype=np.float64)
        if image.shape != shape:
            raise ValueError(f"image shape {image.shape} differs from the space's {shape}")
        use = np.ones(shape, dtype=bool) if mask is None else ~np.asarray(mask, dtype=bool)
        sigma = np.asarray(sigma, dtype=np.float64)
        if np.any(use & ~(sigma > 0)):
            raise ValueError("sigma must be positive on every unmasked pixel")
        self.data = image
        self.inv_sigma = np.where(use, 1.0 / np.where(use, sigma, 1.0), 0.0)
        self.psf = PSFOperator(psf, shape, method=space.method)
        n_pix = int(use.sum())
        widths = (
            np.full(len(space), math.inf)
            if prior_sigma is None
            else np.asarray(prior_sigma, dtype=np.float64)
        )
        if widths.shape != (len(space),):
            raise ValueError("prior_sigma needs one width per vector entry")
        self.prior_mean = (
            space.x0.copy() if prior_mean is None else np.asarray(prior_mean, dtype=np.float64)
        )
        self._has_prior = np.isfinite(widths)
        self._inv_width = np.where(self._has_prior, 1.0 / widths, 0.0)
        self.n_terms = n_pix + int(self._has_prior.sum())
        self.constant = 0.5 * self.n_terms * math.log(2.0 * math.pi)
        self.plans: dict[str, SamplingPlan] | None = None
        self.cache: RenderCache | None = RenderCache()

    def freeze_sampling(self, x: np.ndarray) -> dict[str, SamplingPlan]:
        """Sample every later evaluation on the plans of ``x``; return them.

        With the plans fixed the objective is smooth in the vector (see
        :meth:`ParameterSpace.sampling_plans`); call it again where the parameters have moved
        far enough for the plans of ``x`` to be poor ones.
        """
        self.plans = self.space.sampling_plans(np.asarray(x, dtype=np.float64))
        if self.cache is not None:  # its keys hold the old plans' identities
            self.cache = RenderCache(self.cache.per_key, local_ridges=self.cache.local_ridges)
        return self.plans

    def forward(self, x: np.ndarray, *, with_gradient: bool = False) -> ForwardPass:
        """The space's forward pass on this objective's sampling plans (and cache)."""
        return self.space.forward(
            x, with_gradient=with_gradient, plans=self.plans, cache=self.cache
        )

    def model_image(self, x: np.ndarray) -> np.ndarray:
        """PSF-convolved model of a vector."""
        return self.psf(self.forward(x).total)

    def residuals(self, x: np.ndarray) -> np.ndarray:
        """(H, W) normalised pixel residuals; 0 on masked pixels."""
        return (self.model_image(x) - self.data) * self.inv_sigma

    def value(self, x: np.ndarray) -> float:
        """NLL of a vector."""
        r = self.residuals(x)
        p = (np.asarray(x) - self.prior_mean) * self._inv_width
        return float(self.constant + 0.5 * (dot(r, r) + dot(p, p)))

    def value_and_grad(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        """NLL of a vector and its gradient (analytic)."""
        x = np.asarray(x, dtype=np.float64)
        fwd = self.forward(x, with_gradient=True)
        r = (self.psf(fwd.total) - self.data) * self.inv_sigma
        p = (x - self.prior_mean) * self._inv_width
        value = float(self.constant + 0.5 * (dot(r, r) + dot(p, p)))
        assert fwd.backward is not None
        grad = fwd.backward(self.psf.adjoint(r * self.inv_sigma))
        grad += p * self._inv_width
        return value, grad

    __call__ = value_and_grad


def brightness_entries(space: ParameterSpace) -> np.ndarray:
    """Indices of the luminosity keys (spec §8.5): disk L, bulge and bar frac, arm intensities."""
    return np.array(
        [
            i
            for i, name in enumerate(space.names)
            if name in BRIGHTNESS_KEYS or (name.startswith("arm") and name.endswith(".intensity"))
        ],
        dtype=np.intp,
    )


_NATURAL_SCALES: dict[str, tuple[float, float]] = {
    # vector entry (full name, or the key after the part): (fraction of its start, at least)
    "mux": (0.0, 1.0),
    "muy": (0.0, 1.0),
    "roll": (0.0, 0.1),
    "q": (0.0, 0.05),
    "disk.re": (0.1, 0.1),
    "disk.L": (0.1, 1e-3),
    "n": (0.0, 0.2),
    "c": (0.0, 0.2),
    "scale": (0.1, 0.005),
    "frac": (0.0, 0.02),
    "intensity": (0.0, 0.05),
    "spread": (0.0, 0.2),
    "a": (0.05, 0.1),
    "phi_deg": (0.0, 2.0),
    "t_min": (0.0, 0.05),
    "t_max": (0.0, 0.05),
}
"""The rows of :func:`natural_scales`' table: scale = max(fraction·|start|, at least)."""


def natural_scales(space: ParameterSpace, prior_sigma: np.ndarray | None = None) -> np.ndarray:
    """Return a typical uncertainty per vector entry.

    Used where the data say nothing about an entry (the fallback of
    :func:`curvature_scales`), as the unit of multi-start jitter and as the finite-difference
    step unit. The values are deliberately rough (a factor of a few does not matter to
    L-BFGS-B, which learns the curvature; orders of magnitude do):

    ======================  ============================================================
    entry                   scale
    ======================  ============================================================
    centres (mux, muy)      1 px
    roll                    0.1 rad
    q                       0.05
    disk re                 10 % of its start (at least 0.1 px)
    disk L                  10 % of its start (at least 1e-3)
    n, c                    0.2
    scale                   10 % of its start (at least 0.005)
    frac                    0.02
    arm intensity           0.05
    arm spread              0.2 px
    arm a                   5 % of its start (at least 0.1 px)
    arm phi_deg             2°
    arm t_min, t_max        0.05 rad
    ======================  ============================================================

    Where a prior is narrower (``prior_sigma``, e.g. the 0.01 px arm-A prior of spec §8.3),
    the prior width is used instead, since then it sets the curvature.

    Parameters
    ----------
    space
        The parameter space; its ``x0`` supplies the relative scales.
    prior_sigma
        Prior width per entry (``inf``: none), or None.
    """
    scales = np.empty(len(space))
    for i, name in enumerate(space.names):
        key = name.split(".", 1)[1]
        start = abs(float(space.x0[i]))
        fraction, floor = _NATURAL_SCALES.get(name) or _NATURAL_SCALES[key]
        value = max(fraction * start, floor)
        if prior_sigma is not None and math.isfinite(prior_sigma[i]) and prior_sigma[i] > 0:
            value = min(value, float(prior_sigma[i]))
        scales[i] = value
    return scales


def data_curvature(
    objective: FitObjective, x: np.ndarray, *, n_probes: int = 16, seed: int = 0
) -> np.ndarray:
    """The Gauss–Newton diagonal of the pixel term at x: ``Σ_pixels (∂model/∂x_i)²/σ²``.

    Estimated without building the Jacobian (Hutchinson): for random ±1 pixel signs v,
    ``E[(Jᵀ·v/σ)_i²]`` is exactly that sum, and each ``Jᵀ·w`` is one backward pass of the
    render already used for the gradient. ``n_probes`` passes give the diagonal to about
    ``sqrt(2/n_probes)`` (35 % at 16), ample for a scale; the probes are seeded, so the result
    is deterministic.
    """
    space = objective.space
    forward = objective.forward(np.asarray(x, dtype=np.float64), with_gradient=True)
    assert forward.backward is not None
    rng = np.random.default_rng(seed)
    diag = np.zeros(len(space))
    for _ in range(n_probes):
        signs = rng.integers(0, 2, size=space.shape) * 2.0 - 1.0
        jtv = forward.backward(objective.psf.adjoint(signs * objective.inv_sigma))
        diag += jtv * jtv
    return diag / n_probes


def curvature_scales(
    objective: FitObjective,
    x: np.ndarray,
    fallback: np.ndarray,
    prior_sigma: np.ndarray | None = None,
    *,
    n_probes: int = 16,
    seed: int = 0,
    data_diagonal: np.ndarray | None = None,
) -> np.ndarray:
    """Return ``1/sqrt(H_ii)`` per entry from the Gauss–Newton diagonal of the objective at x.

    ``H_ii = Σ_pixels (∂model/∂x_i)²/σ² + 1/σ_prior,i²``, the pixel sum from
    :func:`data_curvature` (or ``data_diagonal``, if it was measured already). Entries with
    no curvature (a shape parameter of a component whose light is zero) keep ``fallback``,
    and no scale exceeds 10 × its fallback.
    """
    if data_diagonal is None:
        data_diagonal = data_curvature(objective, x, n_probes=n_probes, seed=seed)
    diag = np.array(data_diagonal, dtype=np.float64)
    if prior_sigma is not None:
        widths = np.asarray(prior_sigma, dtype=np.float64)
        diag += np.where(np.isfinite(widths), 1.0 / widths**2, 0.0)
    scales = np.asarray(fallback, dtype=np.float64).copy()
    good = diag > 0
    scales[good] = np.minimum(1.0 / np.sqrt(diag[good]), 10.0 * scales[good])
    return scales


class ScaledProblem:
    """``z ↦ (value, gradient)`` for L-BFGS-B on a scaled subset of the vector.

    Parameters
    ----------
    objective
        The full objective (``value_and_grad`` is called exactly once per evaluation).
    x_ref
        Full vector the scaled coordinates are measured from; entries outside ``free`` stay
        at these values.
    scales
        Positive scale per full-vector entry (``x = x_ref + scales·z``).
    free
        Indices of the entries being optimised.

    Attributes
    ----------
    n_evaluations
        Objective calls made so far.
    """

    def __init__(
        self,
        objective: FitObjective,
        x_ref: np.ndarray,
        scales: np.ndarray,
        free: Sequence[int] | np.ndarray,
    ) -> None:
        self.objective = objective
        self.x_ref = np.asarray(x_ref, dtype=np.float64).copy()
        self.scales = np.asarray(scales, dtype=np.float64)
        self.free = np.asarray(free, dtype=np.intp)
        self.n_evaluations = 0
        all_bounds = objective.space.bounds()
        lower, upper = [], []
        for i in self.free:
            lo, hi = all_bounds[i]
            s, ref = self.scales[i], self.x_ref[i]
            lower.append(None if lo is None else (lo - ref) / s)
            upper.append(None if hi is None else (hi - ref) / s)
        self._lower = lower
        self._upper = upper
        self._x_bounds = [all_bounds[i] for i in self.free]

    def bounds(self) -> list[tuple[float | None, float | None]]:
        """Bounds on z for ``scipy.optimize.minimize`` (spec §8.4, mapped)."""
        return list(zip(self._lower, self._upper, strict=True))

    def z_of(self, x: np.ndarray) -> np.ndarray:
        """Scaled coordinates of a full vector's free entries."""
        x = np.asarray(x, dtype=np.float64)
        return (x[self.free] - self.x_ref[self.free]) / self.scales[self.free]

    def x_of(self, z: np.ndarray) -> np.ndarray:
        """Full vector for scaled coordinates.

        Entries whose z sits exactly on a bound get the exact bound in x (an arithmetic round
        trip could leave, say, a ``frac`` at 1e-17 instead of the 0 that removes a component,
        spec §8.7).
        """
        z = np.asarray(z, dtype=np.float64)
        x = self.x_ref.copy()
        x[self.free] = self.x_ref[self.free] + self.scales[self.free] * z
        for j, i in enumerate(self.free):
            lo, hi = self._x_bounds[j]
            if self._lower[j] is not None and z[j] <= self._lower[j]:
                x[i] = lo
            elif self._upper[j] is not None and z[j] >= self._upper[j]:
                x[i] = hi
        return x

    def __call__(self, z: np.ndarray) -> tuple[float, np.ndarray]:
        """Value and gradient with respect to z; raises on a non-finite result."""
        x = self.x_of(z)
        self.n_evaluations += 1
        value, grad = self.objective.value_and_grad(x)
        if not math.isfinite(value) or not np.all(np.isfinite(grad)):
            raise NonFiniteObjectiveError(
                f"objective is {value} (gradient finite: {bool(np.all(np.isfinite(grad)))}) "
                "at the current parameters"
            )
        return value, grad[self.free] * self.scales[self.free]
