"""The fit's parameter vector and objective (spec §8.1, §8.2): values and analytic gradients.

Gradients are compared with finite differences of the objective (step 1e-5 relative), to
1e-4 relative plus 1e-6 of the largest gradient entry (the differences carry rounding noise of
about 1e-9 of the objective divided by the step). The adaptive sampling plan is piecewise
constant in the parameters, so the image jumps (by less than the sampling tolerance) where a
pixel changes lattice; a difference straddling such a jump measures the jump, not the
gradient. The differences are therefore taken on the side where the plan stays that of x:
central where both sides keep it, otherwise one-sided of the same (second) order.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import optimize

from gzbcat.fitting import FitObjective, ParameterSpace, prior_widths
from gzbcat.fitting.objective import ARM_PRIOR_WIDTHS
from gzbcat.fitting.parameters import RenderCache
from gzbcat.geometry import polyline_length
from gzbcat.model import GalaxyModel, LogSpiralFit, SersicComponent, SpiralArm
from gzbcat.rendering.psf import convolve_psf
from gzbcat.rendering.render import render_model
from gzbcat.rendering.sersic import plan_sampling
from tests.fitting.synthetic import disk_bulge_case

SHAPE = (64, 60)


def _model(falloff: float = 1.0) -> GalaxyModel:
    """A disk + bulge + bar + 2 arms model (the spec §10.2 example, scaled to 64 px)."""
    errors = {"mux": 0.8, "muy": 0.7, "roll": 0.1, "re": 1.5, "q": 0.04}
    disk = SersicComponent(
        mux=31.6, muy=30.4, roll=1.3413, re=15.0, q=0.55, intensity=0.2, errors=errors
    )
    bulge = SersicComponent(
        mux=31.2, muy=30.9, roll=0.5, re=2.5, q=0.8, intensity=0.5, n=2.2, errors=errors
    )
    bar = SersicComponent(
        mux=30.9, muy=30.1, roll=0.92, re=4.0, q=0.33, intensity=0.6, n=0.8, c=3.0
    )
    arms = (
        SpiralArm(np.zeros((0, 2)), 0.46, 1.6, 1.0, LogSpiralFit(4.8, 20.0, 1, 0.32, 2.97)),
        SpiralArm(np.zeros((0, 2)), 0.40, 1.3, falloff, LogSpiralFit(15.0, 17.6, 1, -3.46, -1.0)),
    )
    return GalaxyModel(disk=disk, bulge=bulge, bar=bar, arms=arms)


def _psf() -> np.ndarray:
    y, x = np.mgrid[-3:4, -3:4]
    psf = np.exp(-((x - 0.4) ** 2 + (y + 0.2) ** 2) / 3.0)  # slightly off-centre: asymmetric
    return psf / psf.sum()


def _objective(method: str, falloff: float = 1.0) -> tuple[FitObjective, np.ndarray]:
    space = ParameterSpace.from_model(_model(falloff), SHAPE, method=method)  # type: ignore[arg-type]
    rng = np.random.default_rng(7)
    data = space.render(space.x0, _psf()) + rng.normal(0.0, 0.03, SHAPE)
    sigma = np.full(SHAPE, 0.03)
    mask = np.zeros(SHAPE, dtype=bool)
    mask[:8, :15] = True
    objective = FitObjective(space, data, sigma, _psf(), mask, prior_sigma=prior_widths(space))
    x = space.x0 * (1.0 + 0.02 * rng.standard_normal(len(space)))
    return objective, x


def test_vector_has_the_spec_entries() -> None:
    space = ParameterSpace.from_model(_model(), SHAPE)
    expected = [
        "disk.mux", "disk.muy", "disk.q", "disk.roll", "disk.re", "disk.L",
        "bulge.q", "bulge.roll", "bulge.n", "bulge.scale", "bulge.frac",
        "bar.q", "bar.roll", "bar.n", "bar.c", "bar.scale", "bar.frac",
        "centre.mux", "centre.muy",
    ]  # fmt: skip
    for k in range(2):
        expected += [
            f"arm{k}.{p}" for p in ("intensity", "spread", "a", "phi_deg", "t_min", "t_max")
        ]
    assert list(space.names) == expected
    assert len(space) == 31  # as in the spec's example fit (§8.5)
    bounds = dict(zip(space.names, space.bounds(), strict=True))
    assert bounds["bar.q"] == (0.05, 0.5)
    assert bounds["arm1.phi_deg"] == (-85.0, 85.0)
    assert bounds["disk.mux"] == (None, None)
    assert space.x0[space.index("centre.mux")] == pytest.approx((31.2 + 30.9) / 2)
    assert space.x0[space.index("bar.scale")] == pytest.approx(4.0 / 15.0)


def test_corrected_space_round_trips_the_starting_model() -> None:
    model = _model(falloff=1.4)
    space = ParameterSpace.from_model(model, SHAPE)
    back = space.to_model(space.x0)
    for name in ("disk", "bulge", "bar"):
        a, b = getattr(model, name).parameters(), getattr(back, name).parameters()
        for key in a:
            if name != "disk" and key in ("mux", "muy"):
                continue  # bulge and bar share one centre, the mean of theirs (spec §8.1)
            assert b[key] == pytest.approx(a[key], rel=1e-12, abs=1e-12), (name, key)
    assert back.bulge.mux == back.bar.mux == pytest.approx((31.2 + 30.9) / 2)  # type: ignore[union-attr]
    np.testing.assert_allclose(
        render_model(back, SHAPE, _psf()), space.render(space.x0, _psf()), rtol=1e-12, atol=1e-15
    )


def _sampling_plans(objective: FitObjective, x: np.ndarray) -> list[tuple]:
    """Which pixels each Sérsic image (arm profiles included) samples, and how, at x."""
    model = objective.space.to_model(x)
    components = list(model.components().values())
    if model.disk is not None:
        components += [
            model.disk.with_parameters(re=model.disk.re / arm.falloff) for arm in model.arms
        ]
    return [
        tuple(
            (level.factor, level.gauss, None if level.pixels is None else level.pixels.tobytes())
            for level in plan_sampling(
                comp, SHAPE, objective.space.oversample, method=objective.space.method
            ).levels
        )
        for comp in components
    ]


def _plan_stable_difference(objective: FitObjective, x: np.ndarray, i: int) -> float:
    """d objective / d x_i by a second-order difference that keeps x's sampling plan."""
    h = 1e-5 * max(1.0, abs(x[i]))
    plan = _sampling_plans(objective, x)

    def at(step: float) -> tuple[float, bool]:
        moved = x.copy()
        moved[i] += step
        return objective.value(moved), _sampling_plans(objective, moved) == plan

    (plus, plus_ok), (minus, minus_ok) = at(h), at(-h)
    if plus_ok and minus_ok:
        return (plus - minus) / (2 * h)
    centre = objective.value(x)
    if minus_ok:
        minus2, ok = at(-2 * h)
        assert ok, f"the plan changes on both sides of {objective.space.names[i]}"
        return (3 * centre - 4 * minus + minus2) / (2 * h)
    plus2, ok = at(2 * h)
    assert plus_ok and ok, f"the plan changes on both sides of {objective.space.names[i]}"
    return (-3 * centre + 4 * plus - plus2) / (2 * h)


@pytest.mark.parametrize(("method", "falloff"), [("corrected", 1.4), ("reference", 1.4)])
def test_gradient_matches_central_differences(method: str, falloff: float) -> None:
    objective, x = _objective(method, falloff)
    value, grad = objective.value_and_grad(x)
    assert value == pytest.approx(objective.value(x), rel=1e-14)
    numeric = np.array([_plan_stable_difference(objective, x, i) for i in range(len(x))])
    tolerance = 1e-4 * np.abs(numeric) + 1e-6 * np.abs(numeric).max()
    bad = [
        (name, grad[i], numeric[i])
        for i, name in enumerate(objective.space.names)
        if abs(grad[i] - numeric[i]) > tolerance[i]
    ]
    assert not bad


def test_objective_value_is_the_spec_formula() -> None:
    objective, x = _objective("corrected")
    space = objective.space
    # Independent: render the restored model, convolve with scipy, apply §8.2 directly.
    model_image = space.render(x)
    from scipy import signal

    convolved = signal.convolve2d(model_image, _psf(), mode="same")
    use = objective.inv_sigma > 0
    pixel = ((convolved - objective.data) / 0.03)[use]
    widths = prior_widths(space)
    finite = np.isfinite(widths)
    prior = ((x - space.x0) / widths)[finite]
    allres = np.concatenate([pixel, prior])
    expected = len(allres) / 2 * math.log(2 * math.pi) + 0.5 * np.sum(allres**2)
    assert objective.value(x) == pytest.approx(expected, rel=1e-12)
    # disk mux/muy/roll/re/q, bulge roll/q/scale, centre; the bar has no errors, and in
    # corrected mode the arms' geometry has no prior
    assert finite.sum() == 5 + 3 + 2


def test_only_reference_mode_pins_the_arm_geometry() -> None:
    """Spec §8.3's arm priors (A ± 0.01 px, φ ± 1°, θ ± 0.5°) in reference mode alone."""
    for method, expected in (("reference", ARM_PRIOR_WIDTHS), ("corrected", {})):
        space = _objective(method)[0].space
        widths = dict(zip(space.names, prior_widths(space), strict=True))
        arms = {name: w for name, w in widths.items() if name.startswith("arm")}
        assert arms  # two arms, each with its intensity, spread and geometry
        for name, width in arms.items():
            key = name.split(".", 1)[1]
            assert width == expected.get(key, math.inf), (method, name)


def test_reference_mode_renders_the_bar_without_c() -> None:
    model = _model()
    corrected = ParameterSpace.from_model(model, SHAPE)
    reference = ParameterSpace.from_model(model, SHAPE, method="reference")
    bar_c = corrected.forward(corrected.x0).components["bar"]
    bar_r = reference.forward(reference.x0).components["bar"]
    # same bar luminosity, converted without c: I is 1/R(3) = 1/0.889144 larger (spec §7.6)
    frac_c = corrected.x0[corrected.index("bar.frac")]
    frac_r = reference.x0[reference.index("bar.frac")]
    assert bar_c.intensity == pytest.approx(model.bar.intensity, rel=1e-12)  # type: ignore[union-attr]
    ratio = bar_r.intensity / bar_c.intensity
    lum_ratio = (frac_r / (1 - frac_r)) / (frac_c / (1 - frac_c))
    assert ratio / lum_ratio == pytest.approx(1 / 0.889144, rel=2e-3)


def test_lbfgsb_accepts_the_objective_and_lowers_it() -> None:
    objective, x = _objective("corrected")
    start = objective.value(x)
    result = optimize.minimize(
        objective,
        x,
        jac=True,
        method="L-BFGS-B",
        bounds=objective.space.bounds(),
        options={"maxiter": 15},
    )
    assert result.fun < start - 100.0


def test_convolution_direction_matters_in_the_fit() -> None:
    # The corrected objective uses a true convolution: its model image equals scipy's.
    objective, x = _objective("corrected")
    expected = convolve_psf(objective.space.render(x), _psf())
    np.testing.assert_allclose(objective.model_image(x), expected, rtol=1e-12, atol=1e-15)


def test_frozen_sampling_makes_the_objective_smooth() -> None:
    """Along a short line the adaptive plan moves pixels between lattices (a jump in the loss,
    which broke L-BFGS-B's line search); on the frozen plans of the start the loss is smooth:
    its second differences are all alike, as a smooth function's are on a fine grid."""
    case = disk_bulge_case()
    space = ParameterSpace.from_model(case.truth, case.image.shape)
    objective = FitObjective(
        space, np.where(case.mask, 0.0, case.image), case.sigma, case.psf, case.mask
    )
    x0 = space.x0.copy()
    direction = np.zeros(len(space))
    direction[space.index("bulge.scale")] = 1.0
    direction[space.index("centre.mux")] = 3.0
    steps = np.linspace(0.0, 0.004, 201)

    def roughness() -> float:
        values = np.array([objective.value(x0 + t * direction) for t in steps])
        second = np.abs(np.diff(values, 2))
        return float(second.max() / np.median(second))

    assert roughness() > 10.0  # adaptive: the line crosses plan changes
    objective.freeze_sampling(x0)
    assert roughness() < 1.5


def test_render_cache_gives_the_same_value_and_gradient() -> None:
    """Reused Sérsic samples give the value and gradient of a fresh render (disk, bulge: every
    entry moved in turn, as the finite-difference Hessian moves them)."""
    case = disk_bulge_case()
    space = ParameterSpace.from_model(case.truth, case.image.shape)
    objective = FitObjective(
        space, np.where(case.mask, 0.0, case.image), case.sigma, case.psf, case.mask
    )
    x0 = space.x0.copy()
    objective.freeze_sampling(x0)
    fresh = [objective.value_and_grad(x0 + dx) for dx in _nudges(x0)]
    objective.cache = RenderCache()
    cached = [objective.value_and_grad(x0 + dx) for dx in _nudges(x0)]
    assert objective.cache.hits > 0
    for (v1, g1), (v2, g2) in zip(fresh, cached, strict=True):
        assert v2 == pytest.approx(v1, rel=1e-12)
        np.testing.assert_allclose(g2, g1, rtol=1e-9, atol=1e-12 * np.abs(g1).max())


def _nudges(x0: np.ndarray) -> list[np.ndarray]:
    """The base point, then each entry moved by 1e-4 of its size (at least 1e-4)."""
    out = [np.zeros_like(x0)]
    for j in range(x0.size):
        step = np.zeros_like(x0)
        step[j] = 1e-4 * max(abs(float(x0[j])), 1.0)
        out.append(step)
    return out


def test_a_restored_arm_measures_its_own_length() -> None:
    """A fit that moves an arm's geometry must not keep the starting arm's length, which
    weights its pitch angle in the catalogue (spec §6.8)."""
    space = ParameterSpace.from_model(_model(), SHAPE)
    x = space.x0.copy()
    x[space.names.index("arm0.t_max")] += 0.5  # half a radian longer
    start, moved = space.to_model(space.x0).arms[0], space.to_model(x).arms[0]
    assert start.fit is not None and moved.fit is not None
    for arm in (start, moved):
        assert arm.fit.length_px == pytest.approx(polyline_length(arm.points), rel=1e-12)
    assert moved.fit.length_px > start.fit.length_px + 1.0
