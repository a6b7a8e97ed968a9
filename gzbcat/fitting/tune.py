"""Tune a starting model (aggregate or best individual) against the image: spec §8.

:func:`tune` is the pure core of the ``tune`` stage (and of best-individual tuning): it takes a
:class:`~gzbcat.model.GalaxyModel` and the subject's arrays and returns a :class:`TuneResult`;
no database, no I/O. The steps:

1. **Objective** (spec §8.2): Gaussian likelihood of the unmasked pixels plus Gaussian priors
   centred on the starting model with the widths of spec §8.3, over the vector of spec §8.1
   with the bounds of spec §8.4 (:mod:`gzbcat.fitting.parameters`,
   :mod:`gzbcat.fitting.objective`). Best-individual models are tuned without priors
   (``use_priors=False``, spec §8.9).
2. **Schedule** (spec §8.5): L-BFGS-B on the luminosity keys, then on every key; one
   value-and-gradient call per evaluation. ``starts = K`` repeats the schedule from K − 1
   seeded, jittered starts and keeps the lowest loss (the paper reports local minima).
3. **Clean-up** (spec §8.7, :mod:`gzbcat.fitting.cleanup`): fold q > 1, rolls into [0, π),
   arms kept on the sky, zero-brightness parts removed.
4. **Derived outputs** (spec §8.8, §8.10): χ², reduced χ², light fractions, total flux and
   magnitude.
5. **Errors** (:mod:`gzbcat.fitting.uncertainty`): the 1σ width of the fit's own posterior at
   the optimum — the Hessian of the objective by forward differences of its gradient,
   inverted with care and carried to every reported number, scaled by ``sqrt(χ²_ν)`` where
   χ²_ν > 1. (L-BFGS-B's own ``sqrt(max(1, |loss|)·ftol·diag(H⁻¹))`` of spec §8.8 measures
   how precisely the optimiser located the minimum, not the uncertainty of the parameters;
   it is kept as ``optimiser_precision``.)

Methods: ``corrected`` (default) optimises the spec vector in scaled coordinates
(:class:`~gzbcat.fitting.objective.ScaledProblem`; same optimum, better conditioned) with the
renderer's corrected physics (bar luminosity with c, arms fixed on the sky, falloff honoured),
and reports ``χ²_ν = χ²/(N − k)``. ``reference`` optimises the raw vector with the
reference's quirks and reports ``χ²_ν = χ²/N`` as the reference did.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from scipy import optimize

from gzbcat.fitting.cleanup import clean_up
from gzbcat.fitting.objective import (
    FitObjective,
    NonFiniteObjectiveError,
    ScaledProblem,
    brightness_entries,
    curvature_scales,
    data_curvature,
    natural_scales,
    prior_widths,
)
from gzbcat.fitting.parameters import FITTING_RULES, ParameterSpace
from gzbcat.fitting.uncertainty import (
    Curvature,
    PropagatedErrors,
    error_scale,
    posterior_curvature,
    propagate,
)
from gzbcat.model import GalaxyModel, Method

__all__ = [
    "POGSON_ZERO_POINT",
    "FitError",
    "TuneParams",
    "TuneResult",
    "pogson_magnitude",
    "tune",
]

logger = logging.getLogger(__name__)

POGSON_ZERO_POINT = 22.5
"""Magnitude of 1 nanomaggy (SDSS), spec §8.10."""

SCIPY_FTOL = 2.220446049250313e-09
"""scipy's L-BFGS-B default ``ftol`` (factr 1e7 × machine epsilon), spec §8.5 and §8.8."""


class FitError(Exception):
    """A fit that cannot produce a model; ``reason`` is a short machine-readable code.

    Codes: ``no_disk`` (the starting model has no disk: the vector is relative to it),
    ``no_pixels`` (every pixel is masked), ``bad_input`` (shapes disagree, σ not positive),
    ``non_finite_data`` (NaN or infinite data or σ on an unmasked pixel),
    ``non_finite_objective`` (the objective became NaN or infinite during the fit),
    ``disk_vanished`` (the fitted disk luminosity is zero), ``prior_mismatch`` (the prior
    model's vector differs from the starting model's). These are algorithm errors: record
    them, do not retry.
    """

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.message = message

    def __reduce__(self) -> tuple[type[FitError], tuple[str, str]]:
        """Rebuild from (reason, message): a worker process hands its failures to the parent
        pickled, and the default would call ``FitError`` with the joined text alone."""
        return (type(self), (self.reason, self.message))


@dataclass(frozen=True)
class TuneParams:
    """How to tune a model (hashable; stored with the results it produced).

    Attributes
    ----------
    method
        ``corrected`` (default) or ``reference`` (DESIGN §5, spec §13).
    max_iterations
        L-BFGS-B ``maxiter`` of the full stage. Spec §8.5: 10000 in production, 500 in the
        notebook; 1000 here, which the scaled problem does not reach on the benchmark (it
        stops on ``ftol``).
    brightness_max_iterations
        ``maxiter`` of the brightness stage (spec §8.5: scipy's default, 15000).
    starts
        Number of starts; K > 1 adds K − 1 jittered starts and keeps the lowest final loss.
    seed
        Seed of the jitter (DESIGN §6: every random draw takes an explicit seed).
    jitter
        Standard deviation of each start's offset, in units of the natural scales
        (:func:`~gzbcat.fitting.objective.natural_scales`: 1 px, 0.1 rad, 0.05 in q, 10 % in
        sizes …); jittered starts are clipped into the bounds.
    brightness_first
        Run the brightness stage before the full one (spec §8.5 step 1).
    use_priors
        Gaussian priors on the starting model (spec §8.2, §8.3); False for best-individual
        models (spec §8.9).
    ftol, gtol, maxls
        L-BFGS-B options; defaults are scipy's, which the reference used (spec §8.5). ``ftol``
        also scales ``optimiser_precision`` (spec §8.8).
    maxcor
        L-BFGS-B's ``maxcor``; None (the default) becomes the method's
        (:attr:`~gzbcat.fitting.parameters.FittingRules.lbfgs_corrections`: 30 for
        ``corrected``, scipy's 10 for ``reference``).
    errors
        Measure the posterior's curvature at the optimum and report errors (about 2k + 1
        extra objective evaluations for k fitted entries); False leaves every error unknown.
    scaled
        Optimise in scaled coordinates (see :mod:`gzbcat.fitting.objective`); None: True for
        ``corrected``, False for ``reference``.
    """

    method: Method = Method.CORRECTED
    max_iterations: int = 1000
    brightness_max_iterations: int = 15000
    starts: int = 1
    seed: int = 0
    jitter: float = 1.0
    brightness_first: bool = True
    use_priors: bool = True
    ftol: float = SCIPY_FTOL
    gtol: float = 1e-5
    maxcor: int | None = None
    maxls: int = 20
    errors: bool = True
    scaled: bool | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "method", Method(self.method))
        if self.maxcor is None:  # resolved here, so that stored parameters name the value
            object.__setattr__(self, "maxcor", FITTING_RULES[self.method].lbfgs_corrections)
        if self.starts < 1:
            raise ValueError(f"starts must be at least 1, got {self.starts}")
        if self.max_iterations < 1 or self.brightness_max_iterations < 1:
            raise ValueError("iteration limits must be at least 1")

    @property
    def uses_scaling(self) -> bool:
        """Whether the optimiser moves in scaled coordinates."""
        if self.scaled is None:
            return FITTING_RULES[self.method].scaled_coordinates
        return self.scaled


@dataclass
class TuneResult:
    """A tuned model and what the fit says about it (the ``fits`` row, DESIGN §3).

    Attributes
    ----------
    model
        The cleaned-up tuned model (spec §8.7). ``SersicComponent.errors`` hold the 1σ errors
        of the posterior (:mod:`gzbcat.fitting.uncertainty`), already multiplied by
        ``error_scale``; a parameter without one has its reason in
        ``SersicComponent.error_flags`` (``fixed``: not fitted, like the disk's n and c;
        ``at_bound``; ``undetermined``). Fitted arms carry ``pitch_angle_err_deg`` (or
        ``pitch_angle_err_flag``) likewise.
    chi2
        Σ ((PSF ⊗ model − data)/σ)² over unmasked pixels (no prior terms).
    chi2_nu
        Reduced χ²: ``chi2 / (n_pixels − n_parameters)`` in ``corrected`` mode (degrees of
        freedom: unmasked pixels minus fitted vector entries); ``chi2 / n_pixels`` in
        ``reference`` mode, as the reference computed it (spec §8.8).
    n_pixels
        Unmasked pixels.
    n_parameters
        Entries of the fitted vector (spec §8.1).
    loss
        Final objective value (negative log-likelihood with its constant, spec §8.2).
    n_iterations
        L-BFGS-B iterations of the kept start, both stages together.
    n_evaluations
        Objective evaluations (one render with gradient each) over all starts and stages.
    converged
        The full stage of the kept start stopped on ``ftol`` / ``gtol``, not a limit.
    seconds
        Wall time of :func:`tune`.
    message
        The optimiser's message for the full stage of the kept start.
    bulge_fraction, bar_fraction, spiral_fraction
        Light fractions of the total model flux (spec §8.8): L_bulge, L_bar and the arms'
        pixel sum over ``gal_L = L_disk + Σ arms + L_bulge + L_bar``, with L_disk, L_bulge
        and L_bar the analytic, untruncated luminosities. 0 for an absent part.
    flux
        ``gal_L × multiplier``: the total flux with the difference-file multiplier undone,
        nanomaggies when the cutout was in nanomaggies (spec §8.10, §12.1 #14).
    magnitude
        Pogson magnitude of ``flux``: ``22.5 − 2.5·log10(flux)``.
    vector_names, vector
        The fitted vector (spec §8.1) at the optimum, before the clean-up.
    optimiser_precision
        ``sqrt(max(1, |loss|)·ftol·diag(H⁻¹))`` per vector entry (spec §8.8), from
        L-BFGS-B's approximate inverse Hessian: how precisely the minimum was located, not an
        uncertainty of the parameters.
    vector_covariance
        (k, k) posterior covariance of the fitted vector, unscaled (NaN rows for entries at a
        bound or undetermined); None when ``errors`` is off.
    vector_status
        Per vector entry: ``ok``, ``at_bound`` or ``undetermined``.
    error_scale
        The factor every reported error was multiplied by: ``sqrt(χ²_ν)`` where χ²_ν > 1,
        else 1. Divide by it for the errors of the curvature alone.
    hessian_positive_definite
        Every free direction of the posterior has positive curvature (None: not measured).
    derived_errors
        1σ errors of ``bulge_fraction``, ``bar_fraction``, ``spiral_fraction``, ``flux``
        and ``magnitude`` (scaled); None where unknown, with the reason in
        ``derived_error_flags``.
    error_seconds
        Wall time spent on the errors (included in ``seconds``).
    n_error_evaluations
        Objective evaluations (value and gradient) of the Hessian; the propagation adds one
        render with its backward pass.
    start_losses
        Final loss of each start, in order (the first is the unjittered one).
    method
        The method used.
    """

    model: GalaxyModel
    chi2: float
    chi2_nu: float
    n_pixels: int
    n_parameters: int
    loss: float
    n_iterations: int
    n_evaluations: int
    converged: bool
    seconds: float
    message: str
    bulge_fraction: float
    bar_fraction: float
    spiral_fraction: float
    flux: float
    magnitude: float
    vector_names: tuple[str, ...]
    vector: np.ndarray
    optimiser_precision: dict[str, float] = field(default_factory=dict)
    start_losses: tuple[float, ...] = ()
    method: Method = Method.CORRECTED
    vector_covariance: np.ndarray | None = None
    vector_status: tuple[str, ...] = ()
    error_scale: float = 1.0
    hessian_positive_definite: bool | None = None
    derived_errors: dict[str, float | None] = field(default_factory=dict)
    derived_error_flags: dict[str, str] = field(default_factory=dict)
    error_seconds: float = 0.0
    n_error_evaluations: int = 0


def pogson_magnitude(flux_nanomaggies: float) -> float:
    """Return ``22.5 − 2.5·log10(flux)`` (spec §8.10); NaN for a non-positive flux."""
    if not flux_nanomaggies > 0:
        return math.nan
    return POGSON_ZERO_POINT - 2.5 * math.log10(flux_nanomaggies)


# --------------------------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------------------------


def _validated_inputs(
    model: GalaxyModel,
    image: np.ndarray,
    sigma: np.ndarray,
    mask: np.ndarray | None,
    psf: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Check the inputs; return data and σ with excluded pixels filled, and the mask."""
    if model.disk is None:
        raise FitError("no_disk", "the starting model has no disk; the fit is relative to it")
    image = np.asarray(image, dtype=np.float64)
    sigma = np.asarray(sigma, dtype=np.float64)
    if image.ndim != 2:
        raise FitError("bad_input", f"image must be 2-D, got shape {image.shape}")
    excluded = np.zeros(image.shape, dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
    if sigma.shape != image.shape or excluded.shape != image.shape:
        raise FitError(
            "bad_input",
            f"image {image.shape}, sigma {sigma.shape} and mask {excluded.shape} must match",
        )
    psf = np.asarray(psf, dtype=np.float64)
    if psf.ndim != 2 or psf.shape[0] % 2 == 0 or psf.shape[1] % 2 == 0:
        raise FitError("bad_input", f"psf must be 2-D with odd sides, got shape {psf.shape}")
    if not np.all(np.isfinite(psf)):
        raise FitError("non_finite_data", "the psf has NaN or infinite values")
    used = ~excluded
    n_used = int(used.sum())
    if n_used == 0:
        raise FitError("no_pixels", "every pixel is masked: nothing to fit")
    n_bad = int(np.count_nonzero(used & ~(np.isfinite(image) & np.isfinite(sigma))))
    if n_bad:
        raise FitError(
            "non_finite_data", f"{n_bad} unmasked pixel(s) have NaN or infinite data or sigma"
        )
    if np.any(used & ~(sigma > 0)):
        raise FitError("bad_input", "sigma must be positive on every unmasked pixel")
    return np.where(used, image, 0.0), np.where(used, sigma, 1.0), excluded


# --------------------------------------------------------------------------------------------
# Optimisation
# --------------------------------------------------------------------------------------------


@dataclass
class _Run:
    """One start's schedule: where it ended and what the optimiser said."""

    x: np.ndarray
    loss: float
    n_iterations: int
    n_evaluations: int
    converged: bool
    message: str
    hess_inv: np.ndarray
    scales: np.ndarray
    data_diagonal: np.ndarray | None = None


def _minimise(problem: ScaledProblem, maxiter: int, params: TuneParams) -> Any:
    return optimize.minimize(
        problem,
        np.zeros(len(problem.free)),
        jac=True,
        method="L-BFGS-B",
        bounds=problem.bounds(),
        options={
            "maxiter": maxiter,
            "maxfun": max(15000, 2 * maxiter),
            "ftol": params.ftol,
            "gtol": params.gtol,
            "maxcor": params.maxcor,
            "maxls": params.maxls,
        },
    )


MAX_REPLANS = 3
"""Full-stage restarts on the sampling plans of the optimum found (see :func:`_run_schedule`)."""

REPLAN_TOLERANCE = 1e-3
"""Loss decrease (½χ² units; 1σ is 0.5) below which a re-planned optimum is not pursued."""


def _predicted_decrease(
    problem: ScaledProblem, z: np.ndarray, hess_inv: np.ndarray
) -> tuple[float, float]:
    """Value at z and the decrease a quasi-Newton step would give there: ½·gᵀ·H⁻¹·g.

    Entries at a bound whose gradient pushes out of the box do not count (L-BFGS-B could not
    move them).
    """
    value, grad = problem(z)
    lower = np.array([-np.inf if lo is None else lo for lo, _ in problem.bounds()])
    upper = np.array([np.inf if hi is None else hi for _, hi in problem.bounds()])
    stuck = ((z <= lower) & (grad > 0)) | ((z >= upper) & (grad < 0))
    grad = np.where(stuck, 0.0, grad)
    return value, 0.5 * float(grad @ hess_inv @ grad)


def _run_schedule(
    objective: FitObjective,
    x_start: np.ndarray,
    natural: np.ndarray,
    prior_sigma: np.ndarray | None,
    params: TuneParams,
) -> _Run:
    """Brightness stage, then the full stage (spec §8.5), from ``x_start``.

    With scaling, each stage measures its scales at its own start
    (:func:`~gzbcat.fitting.objective.curvature_scales`): the geometry of a component is only
    constrained once the brightness stage has given it light.

    Each stage samples the Sérsic images on the plans of its start
    (:meth:`~gzbcat.fitting.objective.FitObjective.freeze_sampling`), so that the objective
    L-BFGS-B sees is smooth: with a plan made afresh at every evaluation, pixels change
    lattice as the parameters move and the loss jumps by more than L-BFGS-B's ``ftol``
    resolves near the optimum, which ended fits in ``ABNORMAL_TERMINATION_IN_LNSRCH``. At the
    end of the full stage the plans are made again for the optimum; where the optimum on those
    plans is predicted to lie more than :data:`REPLAN_TOLERANCE` lower, the full stage runs
    again from there (at most :data:`MAX_REPLANS` times). The objective keeps the plans of the
    final vector, on which the curvature is then measured.
    """
    space = objective.space
    x = np.asarray(x_start, dtype=np.float64).copy()

    def stage_scales(at: np.ndarray) -> np.ndarray:
        if not params.uses_scaling:
            return np.ones(len(space))
        return curvature_scales(objective, at, natural, prior_sigma)

    n_iterations = n_evaluations = 0
    if params.brightness_first:
        free = brightness_entries(space)
        if free.size:
            objective.freeze_sampling(x)
            problem = ScaledProblem(objective, x, stage_scales(x), free)
            res = _minimise(problem, params.brightness_max_iterations, params)
            x = problem.x_of(res.x)
            n_iterations += int(res.nit)
            n_evaluations += problem.n_evaluations
    objective.freeze_sampling(x)
    data_diagonal = None
    if params.uses_scaling:
        data_diagonal = data_curvature(objective, x)
        scales = curvature_scales(objective, x, natural, prior_sigma, data_diagonal=data_diagonal)
    else:
        scales = np.ones(len(space))
    everything = np.arange(len(space))
    iterations_left = params.max_iterations
    for attempt in range(MAX_REPLANS + 1):
        problem = ScaledProblem(objective, x, scales, everything)
        res = _minimise(problem, iterations_left, params)
        n_iterations += int(res.nit)
        iterations_left = max(1, iterations_left - int(res.nit))
        n_evaluations += problem.n_evaluations
        x = problem.x_of(res.x)
        hess_inv_z = np.asarray(res.hess_inv.todense())
        loss = float(res.fun)
        if objective.plans is None or not objective.plans:
            break  # a uniform lattice: nothing to re-plan
        objective.freeze_sampling(x)
        problem = ScaledProblem(objective, x, scales, everything)
        loss, decrease = _predicted_decrease(problem, problem.z_of(x), hess_inv_z)
        n_evaluations += 1
        if decrease <= REPLAN_TOLERANCE or attempt == MAX_REPLANS:
            break
        logger.debug("re-planned optimum %.2e lower: full stage again", decrease)
    message = res.message if isinstance(res.message, str) else res.message.decode()
    return _Run(
        x=x,
        loss=loss,
        n_iterations=n_iterations,
        n_evaluations=n_evaluations,
        converged=bool(res.success),
        message=str(message),
        hess_inv=hess_inv_z * np.outer(scales, scales),
        scales=scales,
        data_diagonal=data_diagonal,
    )


def _starting_vectors(space: ParameterSpace, scales: np.ndarray, params: TuneParams) -> list:
    """The unjittered start, then ``starts − 1`` seeded jittered ones clipped into the bounds."""
    rng = np.random.default_rng(params.seed)
    lower = np.array([-np.inf if lo is None else lo for lo, _ in space.bounds()])
    upper = np.array([np.inf if hi is None else hi for _, hi in space.bounds()])
    starts = [space.x0.copy()]
    for _ in range(params.starts - 1):
        offset = rng.normal(0.0, params.jitter, len(space)) * scales
        starts.append(np.clip(space.x0 + offset, lower, upper))
    return starts


# --------------------------------------------------------------------------------------------
# Errors and derived outputs
# --------------------------------------------------------------------------------------------


def _light(space: ParameterSpace, x: np.ndarray) -> dict[str, float]:
    """Luminosities behind the light fractions (spec §8.8): disk, arms, bulge, bar."""
    forward = space.forward(x)
    values = forward.x
    arms = sum(float(forward.images[f"arm{k}"].sum()) for k in range(len(space.template.arms)))
    light_d = values["disk.L"] + arms
    out = {"disk": values["disk.L"], "arms": arms, "bulge": 0.0, "bar": 0.0}
    for name in ("bulge", "bar"):
        frac = values.get(f"{name}.frac")
        if frac is not None:
            out[name] = frac * light_d / (1.0 - frac)
    return out


PRIOR_DOMINATED = 0.01
"""An entry whose pixel curvature is below this fraction of its prior's is prior-dominated."""


def _prior_dominated(
    data_diagonal: np.ndarray | None, widths: np.ndarray | None
) -> dict[int, float] | None:
    """Entries the priors pin (the arm geometry in ``reference`` mode, spec §8.3): index →
    their curvature.

    Their Hessian column is not differenced (:func:`posterior_curvature`); the pixel term's
    Gauss–Newton diagonal, measured at the full stage's start, decides (a hundredfold margin
    over its 35 % precision) and is added to the prior's 1/σ².
    """
    if data_diagonal is None or widths is None:
        return None
    prior = np.where(np.isfinite(widths), 1.0 / widths**2, 0.0)
    pinned = np.flatnonzero((prior > 0) & (data_diagonal < PRIOR_DOMINATED * prior))
    return {int(i): float(prior[i] + data_diagonal[i]) for i in pinned}


def _with_errors(
    final: GalaxyModel, restored: GalaxyModel, errors: PropagatedErrors | None
) -> GalaxyModel:
    """The cleaned-up model with the propagated errors and their flags attached.

    The errors are already those of the cleaned-up parameters (the fold of q > 1 is part of
    the mapping they were propagated through); arms are matched to the template's by the
    clean-up's rule (zero-intensity arms dropped, order kept).
    """
    if errors is None:
        parts = {
            name: replace(comp, errors={}, error_flags={})
            for name, comp in final.components().items()
        }
        arms = tuple(
            arm if arm.fit is None else replace(arm, fit=replace(arm.fit, pitch_angle_err_deg=None))
            for arm in final.arms
        )
        return GalaxyModel(**parts, arms=arms)
    parts = {
        name: replace(
            comp,
            errors=dict(errors.components.get(name, {})),
            error_flags=dict(errors.component_flags.get(name, {})),
        )
        for name, comp in final.components().items()
    }
    kept = [k for k, arm in enumerate(restored.arms) if arm.intensity != 0]
    arms = []
    for k, arm in zip(kept, final.arms, strict=True):
        if arm.fit is None:
            arms.append(arm)
            continue
        fit = replace(
            arm.fit,
            pitch_angle_err_deg=errors.arm_pitch[k],
            pitch_angle_err_flag=errors.arm_flags[k],
        )
        arms.append(replace(arm, fit=fit))
    return GalaxyModel(**parts, arms=tuple(arms))


# --------------------------------------------------------------------------------------------
# The driver
# --------------------------------------------------------------------------------------------


def tune(
    model: GalaxyModel,
    image: np.ndarray,
    sigma: np.ndarray,
    mask: np.ndarray | None,
    psf: np.ndarray,
    *,
    multiplier: float = 1.0,
    params: TuneParams | None = None,
    prior_model: GalaxyModel | None = None,
) -> TuneResult:
    """Fit a model to an image: spec §8 (objective, schedule, clean-up, derived outputs).

    Parameters
    ----------
    model
        Starting model in the image frame (the aggregate, or a best individual); must have a
        disk. Its component ``errors`` are the prior widths (spec §8.3) unless
        ``prior_model`` is given.
    image
        (H, W) fit target, in the subject's fit units (cutout / ``multiplier``).
    sigma
        (H, W) 1σ per pixel, same units.
    mask
        (H, W) bool, **True = excluded**; None: every pixel is used.
    psf
        (k, k) PSF, odd sides, normalised to sum 1.
    multiplier
        The factor the cutout was divided by (spec §2.4); the flux is multiplied back.
    params
        Tuning parameters; default :class:`TuneParams()`.
    prior_model
        Model whose reparametrised vector is the prior mean and whose errors are the prior
        widths; default: ``model`` itself (the spec's priors on the aggregate). It must have
        the same parts as ``model``.

    Returns
    -------
    TuneResult

    Raises
    ------
    FitError
        With a ``reason`` code (see :class:`FitError`): no disk, no unmasked pixels,
        non-finite data, an objective that became non-finite, a vanished disk.
    """
    params = TuneParams() if params is None else params
    started = time.perf_counter()
    data, sig, excluded = _validated_inputs(model, image, sigma, mask, psf)
    shape = (int(data.shape[0]), int(data.shape[1]))
    method = params.method
    space = ParameterSpace.from_model(model, shape, method=method)
    widths: np.ndarray | None = None
    prior_mean: np.ndarray | None = None
    if params.use_priors:
        widths = prior_widths(space, model if prior_model is None else prior_model)
        if prior_model is not None:
            prior_space = ParameterSpace.from_model(prior_model, shape, method=method)
            if prior_space.names != space.names:
                raise FitError(
                    "prior_mismatch",
                    f"prior model vector {prior_space.names} differs from {space.names}",
                )
            prior_mean = prior_space.x0
    objective = FitObjective(
        space, data, sig, psf, excluded, prior_sigma=widths, prior_mean=prior_mean
    )
    natural = natural_scales(space, widths)
    if not math.isfinite(objective.value(space.x0)):
        raise FitError("non_finite_objective", "the objective is not finite at the start")

    runs: list[_Run] = []
    for k, x_start in enumerate(_starting_vectors(space, natural, params)):
        try:
            runs.append(_run_schedule(objective, x_start, natural, widths, params))
        except NonFiniteObjectiveError as error:
            if k == 0 or params.starts == 1:
                raise FitError("non_finite_objective", str(error)) from error
            logger.debug("start %d abandoned: %s", k, error)
            runs.append(
                _Run(x_start, math.inf, 0, 0, False, str(error), np.eye(len(space)), natural)
            )
        logger.debug("start %d: loss %.6f, %d iterations", k, runs[-1].loss, runs[-1].n_iterations)
    best = min(runs, key=lambda run: run.loss)
    x = best.x
    values = space.as_dict(x)
    if values["disk.L"] == 0.0:
        raise FitError("disk_vanished", "the fitted disk luminosity is zero")

    factor = max(1.0, abs(best.loss)) * params.ftol
    precision = {
        name: math.sqrt(max(float(v), 0.0) * factor)
        for name, v in zip(space.names, np.diag(best.hess_inv), strict=True)
    }
    objective.freeze_sampling(x)  # the plans of the optimum: a smooth objective around it
    residuals = objective.residuals(x)
    chi2 = float(np.vdot(residuals, residuals))
    n_pixels = int((~excluded).sum())
    n_parameters = len(space)
    dof = n_pixels - n_parameters if FITTING_RULES[method].dof_subtracts_parameters else n_pixels
    chi2_nu = chi2 / dof if dof > 0 else math.nan

    restored = space.to_model(x)
    curvature: Curvature | None = None
    propagated: PropagatedErrors | None = None
    error_started = time.perf_counter()
    if params.errors:
        scales = best.scales
        if not params.uses_scaling:
            scales = curvature_scales(objective, x, natural, widths)
        curvature = posterior_curvature(
            objective, x, scales, prior_dominated=_prior_dominated(best.data_diagonal, widths)
        )
        propagated = propagate(
            objective,
            x,
            curvature,
            scales,
            multiplier=float(multiplier),
            scale=error_scale(chi2_nu),
        )
    error_seconds = time.perf_counter() - error_started
    final = _with_errors(clean_up(restored), restored, propagated)
    if final.disk is None:  # pragma: no cover - disk.L == 0 is caught above
        raise FitError("disk_vanished", "the fitted disk has zero intensity")

    light = _light(space, x)
    total = light["disk"] + light["arms"] + light["bulge"] + light["bar"]
    flux = total * float(multiplier)
    return TuneResult(
        model=final,
        chi2=chi2,
        chi2_nu=chi2_nu,
        n_pixels=n_pixels,
        n_parameters=n_parameters,
        loss=best.loss,
        n_iterations=best.n_iterations,
        n_evaluations=sum(run.n_evaluations for run in runs),
        converged=best.converged,
        seconds=time.perf_counter() - started,
        message=best.message,
        bulge_fraction=light["bulge"] / total,
        bar_fraction=light["bar"] / total,
        spiral_fraction=light["arms"] / total,
        flux=flux,
        magnitude=pogson_magnitude(flux),
        vector_names=space.names,
        vector=x,
        optimiser_precision=precision,
        start_losses=tuple(run.loss for run in runs),
        method=method,
        vector_covariance=None if curvature is None else curvature.covariance,
        vector_status=() if curvature is None else curvature.status,
        error_scale=1.0 if propagated is None else propagated.scale,
        hessian_positive_definite=None if curvature is None else curvature.positive_definite,
        derived_errors={} if propagated is None else propagated.derived,
        derived_error_flags={} if propagated is None else propagated.derived_flags,
        error_seconds=error_seconds,
        n_error_evaluations=0 if curvature is None else curvature.n_evaluations,
    )
