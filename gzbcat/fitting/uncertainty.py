"""Errors of a tuned model: the width of the fit's own posterior at its optimum.

The fit minimises a negative log posterior ``f(x)`` (pixel likelihood plus the priors it used,
spec §8.2–§8.3) over the vector x of spec §8.1. Near the optimum x̂ the posterior is close to a
Gaussian with covariance ``C = H⁻¹``, H the Hessian of f at x̂; this module measures H and
carries C to every number the catalogue reports.

1. **Hessian** (:func:`posterior_curvature`): forward differences of the analytic gradient from
   the optimum's, column by column, with the step of entry j a fixed fraction
   (:data:`HESSIAN_STEP`) of its scale s_j (the fit's curvature scale, about its 1σ), in the
   scaled coordinates z = x/s where H is of order one; symmetrised (a step of 1 % of 1σ makes
   the one-sided error small against the statistical one). An entry sitting on a bound of spec
   §8.4 (L-BFGS-B puts it there exactly) is not a free parameter of the posterior's Gaussian
   core: it is left out, flagged ``at_bound``, and the other entries' covariance is conditional
   on it. Where the step would leave the box, it is taken the other way. The evaluations run on
   the sampling plans of the optimum (a smooth objective) and reuse the unchanged parts'
   samples (:class:`~gzbcat.fitting.parameters.RenderCache`). Entries whose curvature is almost
   all their prior's (in ``reference`` mode the arm geometry, pinned by spec §8.3's priors) are
   not differenced: their couplings to the others are the others' columns' rows, checked to be
   small, and their own curvature is the prior's plus the pixel term's diagonal.
2. **Inversion**: eigen-decomposition of the symmetrised, scaled H. Eigenvalues at or below
   :data:`EIGENVALUE_FLOOR` × the largest are directions the data and priors do not constrain
   (or the point is not a minimum): entries with more than :data:`UNDETERMINED_SHARE` of
   their weight in such directions are flagged ``undetermined`` and get no error; the others
   get ``C = Σ v·vᵀ/λ`` over the remaining directions.
3. **Propagation** (:func:`propagate`): the catalogue's numbers — each component's mux, muy,
   roll, re, q, intensity, n, c after the clean-up of spec §8.7, the light fractions, the
   flux, the magnitude and each fitted arm's pitch angle — are functions F(x, D) of the
   vector and of D, the disk luminosity plus the arms' pixel sums (spec §8.1). F is
   closed-form given D, so its Jacobian is taken by central differences without rendering;
   ∂D/∂x is one backward pass of the renderer. The variance of a number is ``J·C·Jᵀ``.
4. **Scale**: where the model cannot fit the data to the noise (χ²_ν > 1), every error is
   multiplied by ``sqrt(χ²_ν)`` (:func:`error_scale`); the factor is kept, so the unscaled
   errors stay recoverable.

A number with no error says why, with a flag: ``fixed`` (not fitted: held at its start, like
the disk's n and c), ``at_bound`` (its own fit entry sits on a bound), ``undetermined`` (it
depends on a direction of zero curvature).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from gzbcat.fitting.objective import FitObjective
from gzbcat.fitting.parameters import ParameterSpace, RenderCache
from gzbcat.model import COMPONENT_PARAMETERS, wrap_roll

__all__ = [
    "AT_BOUND",
    "DERIVED_QUANTITIES",
    "EIGENVALUE_FLOOR",
    "FIXED",
    "HESSIAN_STEP",
    "UNDETERMINED",
    "UNDETERMINED_SHARE",
    "Curvature",
    "PropagatedErrors",
    "error_scale",
    "posterior_curvature",
    "propagate",
]

HESSIAN_STEP = 1e-2
"""Finite-difference step of the Hessian, in units of each entry's scale (about its 1σ)."""

EIGENVALUE_FLOOR = 1e-9
"""Eigenvalues of the scaled Hessian at or below this fraction of the largest count as zero."""

UNDETERMINED_SHARE = 1e-3
"""Share of an entry's weight in zero-curvature directions above which it is undetermined."""

FIXED = "fixed"
AT_BOUND = "at_bound"
UNDETERMINED = "undetermined"

DERIVED_QUANTITIES: tuple[str, ...] = (
    "bulge_fraction",
    "bar_fraction",
    "spiral_fraction",
    "flux",
    "magnitude",
)
"""Derived numbers of a fit (spec §8.8) that get errors, in this order."""

_JACOBIAN_STEP = 1e-6  # of each entry's scale: F is closed-form and smooth
_DEPENDS = 1e-9  # |∂F/∂x_j|·s_j below this fraction of the largest term: no dependence


@dataclass(frozen=True)
class Curvature:
    """The negative log posterior's curvature at the optimum, and the covariance from it.

    Attributes
    ----------
    hessian
        (n, n) symmetrised Hessian in the vector's units; rows and columns of entries at a
        bound are NaN.
    covariance
        (n, n) covariance of the vector; rows and columns of entries that are at a bound or
        undetermined are NaN.
    status
        Per entry: ``ok``, :data:`AT_BOUND` or :data:`UNDETERMINED`.
    positive_definite
        Every free direction has a positive curvature above the floor.
    condition
        Largest over smallest eigenvalue of the scaled Hessian of the free entries (inf when
        not positive definite).
    n_evaluations
        Gradient evaluations spent.
    """

    hessian: np.ndarray
    covariance: np.ndarray
    status: tuple[str, ...]
    positive_definite: bool
    condition: float
    n_evaluations: int


def _bound_arrays(space: ParameterSpace) -> tuple[np.ndarray, np.ndarray]:
    bounds = space.bounds()
    lower = np.array([-np.inf if lo is None else lo for lo, _ in bounds])
    upper = np.array([np.inf if hi is None else hi for _, hi in bounds])
    return lower, upper


def posterior_curvature(
    objective: FitObjective,
    x: np.ndarray,
    scales: np.ndarray,
    *,
    step: float = HESSIAN_STEP,
    prior_dominated: Mapping[int, float] | None = None,
) -> Curvature:
    """Measure the Hessian of the objective at ``x`` and invert it with care (module notes).

    Parameters
    ----------
    objective
        The fit's objective, with the sampling plans it ended on frozen (a smooth function).
    x
        The optimum.
    scales
        Positive scale per entry (about its 1σ: the fit's curvature scales).
    step
        Step as a fraction of each scale.
    prior_dominated
        Entries whose curvature is (almost) all their prior's, with that curvature (e.g. the
        arm geometry in ``reference`` mode, pinned by spec §8.3's priors): their columns are
        not differenced. Their coupling to every other entry is still measured, as the rows
        of the other entries' columns (H is symmetric); only the couplings among themselves
        are left out, which changes no variance by more than the ratio of pixel to prior
        curvature (≤ 1 % as :func:`gzbcat.fitting.tune.tune` picks them).
    """
    x = np.asarray(x, dtype=np.float64)
    previous_cache = objective.cache
    # Each column moves one entry: most parts are reused, and arms keep their nearest segments.
    objective.cache = RenderCache(local_ridges=True)
    try:
        return _curvature(objective, x, scales, step, dict(prior_dominated or {}))
    finally:
        objective.cache = previous_cache


def _curvature(
    objective: FitObjective,
    x: np.ndarray,
    scales: np.ndarray,
    step: float,
    prior_dominated: dict[int, float],
) -> Curvature:
    n = x.size
    lower, upper = _bound_arrays(objective.space)
    at_bound = (x <= lower) | (x >= upper)
    free = np.flatnonzero(~at_bound)
    hessian = np.full((n, n), np.nan)
    n_evaluations = 0
    centre_grad: np.ndarray | None = None
    columns = np.zeros((n, free.size))

    pinned = np.array([j in prior_dominated for j in free], dtype=bool)

    def difference(k: int, j: int) -> int:
        """Column k (entry j) of the Hessian, a forward difference from the optimum's gradient
        (backward where the step would leave the box); returns the evaluations it took."""
        nonlocal centre_grad
        used = 0
        if centre_grad is None:
            centre_grad = objective.value_and_grad(x)[1]
            used += 1
        h = step * scales[j]
        moved = x.copy()
        if x[j] + h <= upper[j]:
            moved[j] += h
            columns[:, k] = (objective.value_and_grad(moved)[1] - centre_grad) / h
        else:
            moved[j] -= h
            columns[:, k] = (centre_grad - objective.value_and_grad(moved)[1]) / h
        return used + 1

    for k, j in enumerate(free):
        if not pinned[k]:
            n_evaluations += difference(k, j)
    # A prior-dominated entry is taken as such only if its measured couplings agree: each
    # below a tenth of the geometric mean of the two curvatures; otherwise it is differenced.
    diagonal = np.abs(np.diag(columns[free, :]))
    for k, j in enumerate(free):
        if not pinned[k]:
            continue
        own = prior_dominated[int(j)]
        coupling = np.abs(columns[j, ~pinned]) / np.sqrt(own * diagonal[~pinned] + 1e-300)
        if coupling.size and float(coupling.max()) > 0.1:
            pinned[k] = False
            n_evaluations += difference(k, j)
    block = columns[free, :]
    # Prior-dominated columns: their couplings are the other columns' rows; among
    # themselves, only the diagonal.
    block[:, pinned] = block[pinned, :].T
    block[np.ix_(pinned, pinned)] = np.diag([prior_dominated[int(j)] for j in free[pinned]])
    block = 0.5 * (block + block.T)
    hessian[np.ix_(free, free)] = block
    s = scales[free]
    scaled = block * np.outer(s, s)
    status = ["at_bound" if b else "ok" for b in at_bound]
    covariance = np.full((n, n), np.nan)
    if free.size == 0:
        return Curvature(hessian, covariance, tuple(status), True, 1.0, n_evaluations)
    eigenvalues, vectors = np.linalg.eigh(scaled)
    largest = float(eigenvalues.max())
    good = eigenvalues > EIGENVALUE_FLOOR * max(largest, 0.0)
    if largest <= 0:
        good[:] = False
    positive_definite = bool(good.all())
    condition = largest / float(eigenvalues.min()) if positive_definite else math.inf
    share_bad = np.sum(vectors[:, ~good] ** 2, axis=1)
    determined = share_bad <= UNDETERMINED_SHARE
    for k, j in enumerate(free):
        if not determined[k]:
            status[j] = UNDETERMINED
    cov_scaled = (vectors[:, good] / eigenvalues[good]) @ vectors[:, good].T
    cov = cov_scaled * np.outer(s, s)
    keep = free[determined]
    covariance[np.ix_(keep, keep)] = cov[np.ix_(determined, determined)]
    return Curvature(
        hessian, covariance, tuple(status), positive_definite, condition, n_evaluations
    )


def error_scale(chi2_nu: float) -> float:
    """``sqrt(χ²_ν)`` where the model fits worse than the noise allows, else 1.

    Errors from the curvature assume the residuals are the noise; where χ²_ν > 1 the residuals
    include model error, and the curvature alone would claim a precision the model does not
    have.
    """
    if not math.isfinite(chi2_nu) or chi2_nu <= 1.0:
        return 1.0
    return math.sqrt(chi2_nu)


@dataclass(frozen=True)
class _Quantity:
    """One reported number: where it lives and the fit entry it stands for (if any)."""

    part: str  # "disk", "bulge", "bar", "arm<k>" or "fit"
    key: str  # component parameter, "pitch_angle_deg" or a derived quantity
    primary: str | None  # the vector entry whose bound pins it


def _component_primary(name: str, param: str) -> str | None:
    """The vector entry that carries a component parameter (None: not a single entry)."""
    if name == "disk":
        return {
            "mux": "disk.mux",
            "muy": "disk.muy",
            "roll": "disk.roll",
            "re": "disk.re",
            "q": "disk.q",
            "intensity": "disk.L",
        }.get(param)
    return {
        "mux": "centre.mux",
        "muy": "centre.muy",
        "roll": f"{name}.roll",
        "re": f"{name}.scale",
        "q": f"{name}.q",
        "intensity": f"{name}.frac",
        "n": f"{name}.n",
        "c": f"{name}.c",
    }.get(param)


@dataclass(frozen=True)
class PropagatedErrors:
    """Errors of the catalogue's numbers (after the scale), and why some are missing.

    Attributes
    ----------
    components
        Per component name, per parameter: the 1σ error (parameters with none are absent).
    component_flags
        Per component name, per parameter without an error: :data:`FIXED`,
        :data:`AT_BOUND` or :data:`UNDETERMINED`.
    arm_pitch
        Per arm of the template (before any removal): the pitch angle's 1σ error in degrees,
        or None.
    arm_flags
        Per arm: the flag when its pitch error is None (drawn arms, which have no fitted
        pitch, get :data:`FIXED`), else None.
    derived
        :data:`DERIVED_QUANTITIES` → 1σ error, or None.
    derived_flags
        :data:`DERIVED_QUANTITIES` → the flag of a None error.
    scale
        The factor every error was multiplied by (:func:`error_scale`).
    """

    components: dict[str, dict[str, float]]
    component_flags: dict[str, dict[str, str]]
    arm_pitch: list[float | None]
    arm_flags: list[str | None]
    derived: dict[str, float | None]
    derived_flags: dict[str, str]
    scale: float


def _folds(space: ParameterSpace, x: np.ndarray, light_d: float) -> dict[str, bool]:
    return {name: comp.q > 1.0 for name, comp in space.restored_components(x, light_d).items()}


def _catalogue_values(
    space: ParameterSpace,
    x: np.ndarray,
    light_d: float,
    multiplier: float,
    folds: Mapping[str, bool],
) -> tuple[list[_Quantity], np.ndarray]:
    """The catalogue's numbers as a function of the vector and D (spec §8.1, §8.7, §8.8).

    The q > 1 fold of the clean-up (``q ← 1/q``, ``re ← re·q``, ``roll ← roll + π/2``) is
    applied where ``folds`` says, so that the branch does not change between the points of a
    finite difference; rolls are wrapped into [0, π) (differences are unwrapped by the
    caller).
    """
    v = space.as_dict(x)
    comps = space.restored_components(x, light_d)
    quantities: list[_Quantity] = []
    values: list[float] = []
    for name, comp in comps.items():
        params = comp.parameters()
        if folds.get(name):
            q = params["q"]
            params["q"], params["re"], params["roll"] = (
                1.0 / q,
                params["re"] * q,
                comp.roll + 0.5 * math.pi,
            )
        params["roll"] = wrap_roll(params["roll"])
        for param in COMPONENT_PARAMETERS:
            quantities.append(_Quantity(name, param, _component_primary(name, param)))
            values.append(params[param])
    lum_disk = v["disk.L"]
    light = {"bulge": 0.0, "bar": 0.0}
    for name in light:
        frac = v.get(f"{name}.frac")
        if frac is not None:
            light[name] = frac * light_d / (1.0 - frac)
    total = light_d + light["bulge"] + light["bar"]
    flux = total * multiplier
    derived = {
        "bulge_fraction": light["bulge"] / total,
        "bar_fraction": light["bar"] / total,
        "spiral_fraction": (light_d - lum_disk) / total,
        "flux": flux,
        "magnitude": -2.5 * math.log10(flux) if flux > 0 else math.nan,
    }
    primaries = {"bulge_fraction": "bulge.frac", "bar_fraction": "bar.frac"}
    for key in DERIVED_QUANTITIES:
        quantities.append(_Quantity("fit", key, primaries.get(key)))
        values.append(derived[key])
    for k, arm in enumerate(space.template.arms):
        if arm.fit is None:
            continue
        quantities.append(_Quantity(f"arm{k}", "pitch_angle_deg", f"arm{k}.phi_deg"))
        values.append(abs(v[f"arm{k}.phi_deg"]))
    return quantities, np.array(values)


def _difference(quantities: list[_Quantity], plus: np.ndarray, minus: np.ndarray) -> np.ndarray:
    """plus − minus, with roll differences taken on the circle of period π."""
    out = plus - minus
    for i, quantity in enumerate(quantities):
        if quantity.key == "roll":
            out[i] = (out[i] + 0.5 * math.pi) % math.pi - 0.5 * math.pi
    return out


def propagate(
    objective: FitObjective,
    x: np.ndarray,
    curvature: Curvature,
    scales: np.ndarray,
    *,
    multiplier: float = 1.0,
    scale: float = 1.0,
) -> PropagatedErrors:
    """Carry the vector's covariance to the catalogue's numbers (module notes, step 3).

    Parameters
    ----------
    objective
        The fit's objective (its frozen plans render D's gradient).
    x
        The optimum.
    curvature
        From :func:`posterior_curvature` at ``x``.
    scales
        Scale per entry (finite-difference steps are fractions of it).
    multiplier
        The flux multiplier (spec §2.4), as :func:`gzbcat.fitting.tune.tune` applies it.
    scale
        Factor applied to every error (:func:`error_scale`).
    """
    space = objective.space
    x = np.asarray(x, dtype=np.float64)
    forward = objective.forward(x, with_gradient=True)
    assert forward.backward is not None
    light_d = float(forward.light_d)
    d_light = forward.backward(np.zeros(space.shape), light_cotangent=1.0)
    folds = _folds(space, x, light_d)
    quantities, base = _catalogue_values(space, x, light_d, multiplier, folds)
    jac = np.zeros((base.size, x.size))
    status = curvature.status
    for j in range(x.size):
        h = _JACOBIAN_STEP * scales[j]
        plus, minus = x.copy(), x.copy()
        plus[j] += h
        minus[j] -= h
        f_plus = _catalogue_values(space, plus, light_d, multiplier, folds)[1]
        f_minus = _catalogue_values(space, minus, light_d, multiplier, folds)[1]
        jac[:, j] = _difference(quantities, f_plus, f_minus) / (2.0 * h)
    h_light = _JACOBIAN_STEP * max(abs(light_d), 1e-12)
    f_plus = _catalogue_values(space, x, light_d + h_light, multiplier, folds)[1]
    f_minus = _catalogue_values(space, x, light_d - h_light, multiplier, folds)[1]
    jac += np.outer(_difference(quantities, f_plus, f_minus) / (2.0 * h_light), d_light)

    usable = np.array([s == "ok" for s in status])
    undetermined = np.array([s == UNDETERMINED for s in status])
    index = {name: i for i, name in enumerate(space.names)}
    cov = np.where(np.isnan(curvature.covariance), 0.0, curvature.covariance)
    weights = np.abs(jac) * scales[None, :]
    components: dict[str, dict[str, float]] = {}
    component_flags: dict[str, dict[str, str]] = {}
    arm_pitch: list[float | None] = [None] * len(space.template.arms)
    arm_flags: list[str | None] = [FIXED] * len(space.template.arms)
    derived: dict[str, float | None] = {}
    derived_flags: dict[str, str] = {}
    for i, quantity in enumerate(quantities):
        row_weight = weights[i]
        depends = row_weight > _DEPENDS * max(float(row_weight.max()), 1e-300)
        flag: str | None = None
        primary = index.get(quantity.primary) if quantity.primary else None
        if not depends.any() or (quantity.key == "spiral_fraction" and not space.template.arms):
            flag = FIXED
        elif primary is not None and status[primary] == AT_BOUND:
            flag = AT_BOUND
        elif (depends & undetermined).any():
            flag = UNDETERMINED
        elif not (depends & usable).any():
            flag = AT_BOUND  # it moves only with entries pinned at a bound
        error: float | None = None
        if flag is None:
            row = np.where(usable, jac[i], 0.0)
            error = math.sqrt(max(float(row @ cov @ row), 0.0)) * scale
        if quantity.part == "fit":
            derived[quantity.key] = error
            if flag is not None:
                derived_flags[quantity.key] = flag
        elif quantity.part.startswith("arm"):
            k = int(quantity.part[3:])
            arm_pitch[k] = error
            arm_flags[k] = flag
        else:
            components.setdefault(quantity.part, {})
            component_flags.setdefault(quantity.part, {})
            if flag is None:
                assert error is not None
                components[quantity.part][quantity.key] = error
            else:
                component_flags[quantity.part][quantity.key] = flag
    return PropagatedErrors(
        components, component_flags, arm_pitch, arm_flags, derived, derived_flags, scale
    )
