"""Errors of tuned models against known answers: a linear model, Fisher information, noise draws.

Expected numbers come from outside the code under test: the exact inverse of a quadratic's
Hessian, the Fisher matrix of a single Sérsic disk computed here by finite differences of
``render_model`` on a ×25 lattice, and the scatter of fits over seeded noise draws.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import pytest

from gzbcat.fitting import TuneParams, tune
from gzbcat.fitting.uncertainty import posterior_curvature
from gzbcat.model import GalaxyModel, SersicComponent
from gzbcat.rendering import render_model
from tests.fitting.synthetic import gaussian_psf

SHAPE = (24, 24)
SIGMA = 0.05
TRUTH = SersicComponent(mux=11.7, muy=12.2, roll=0.6, re=4.5, q=0.6, intensity=0.5)
FITTED = ("mux", "muy", "roll", "re", "q", "intensity")
NO_PRIORS = TuneParams(use_priors=False, brightness_first=False)
N_DRAWS = 120


@dataclass
class _Box:
    lower: list[float | None]
    upper: list[float | None]

    def bounds(self) -> list[tuple[float | None, float | None]]:
        return list(zip(self.lower, self.upper, strict=True))


class _Quadratic:
    """f = ½ (x − a)ᵀ A (x − a): the negative log posterior of a linear model."""

    def __init__(self, matrix: np.ndarray, centre: np.ndarray, box: _Box) -> None:
        self.matrix, self.centre, self.space = matrix, centre, box
        self.cache = None  # the render cache a real objective carries

    def value_and_grad(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        d = x - self.centre
        return 0.5 * float(d @ self.matrix @ d), self.matrix @ d


def _linear_problem(seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Design matrix of a 3-parameter linear model with correlated columns, and σ."""
    rng = np.random.default_rng(seed)
    t = np.linspace(-1.0, 1.0, 40)
    design = np.column_stack([np.ones_like(t), t, t**2 + 0.3 * t])
    sigma = 0.1 + 0.05 * rng.random(t.size)
    return design, sigma


def test_linear_model_covariance_is_the_inverse_fisher_and_the_empirical_one() -> None:
    design, sigma = _linear_problem()
    weighted = design / sigma[:, None]
    fisher = weighted.T @ weighted
    free = _Box([None] * 3, [None] * 3)
    curvature = posterior_curvature(
        _Quadratic(fisher, np.zeros(3), free),
        np.array([0.2, -0.1, 0.05]),
        np.sqrt(1.0 / np.diag(fisher)),
    )
    assert curvature.positive_definite
    np.testing.assert_allclose(curvature.covariance, np.linalg.inv(fisher), rtol=1e-6)
    # Least-squares estimates over seeded noise draws scatter as the covariance says.
    rng = np.random.default_rng(5)
    truth = np.array([1.0, -0.5, 0.25])
    draws = [
        np.linalg.lstsq(weighted, (design @ truth + sigma * rng.normal(size=sigma.size)) / sigma)[0]
        for _ in range(4000)
    ]
    empirical = np.cov(np.array(draws).T)
    np.testing.assert_allclose(
        np.sqrt(np.diag(empirical)), np.sqrt(np.diag(curvature.covariance)), rtol=0.05
    )


def test_flat_direction_is_undetermined_and_a_bound_is_left_out() -> None:
    """A zero-curvature direction leaves its entries without errors; an entry on its bound is
    not part of the Gaussian core, and the others' covariance is conditional on it."""
    matrix = np.array(
        [
            [2.0, 0.0, 0.0, 0.5],
            [0.0, 1.0, 1.0, 0.0],
            [0.0, 1.0, 1.0, 0.0],  # entries 1 and 2 only constrained in their difference
            [0.5, 0.0, 0.0, 1.0],
        ]
    )
    box = _Box([None, None, None, 0.0], [None, None, None, None])
    x = np.array([0.1, 0.3, 0.3, 0.0])  # entry 3 sits on its lower bound
    curvature = posterior_curvature(_Quadratic(matrix, x, box), x, np.ones(4))
    assert curvature.status == ("ok", "undetermined", "undetermined", "at_bound")
    assert not curvature.positive_definite
    assert curvature.covariance[0, 0] == pytest.approx(1.0 / 2.0)  # conditional on entry 3
    assert np.isnan(curvature.covariance[1:, :]).all()


def _observe(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    psf = gaussian_psf(2.0, 5)
    clean = render_model(GalaxyModel(disk=TRUTH), SHAPE, psf)
    image = clean + np.random.default_rng(seed).normal(0.0, SIGMA, SHAPE)
    return image, np.full(SHAPE, SIGMA), psf


def _fisher_errors() -> np.ndarray:
    """sqrt(diag(F⁻¹)) of the disk's six fitted parameters, F = JᵀJ/σ² at the truth, with J
    from central differences of the ×25-lattice render (independent of the fit's code)."""
    psf = gaussian_psf(2.0, 5)
    columns = []
    for name in FITTED:
        step = 1e-5 * max(1.0, abs(getattr(TRUTH, name)))
        images = [
            render_model(
                GalaxyModel(disk=replace(TRUTH, **{name: getattr(TRUTH, name) + sign * step})),
                SHAPE,
                psf,
                oversample=25,
            )
            for sign in (1.0, -1.0)
        ]
        columns.append(((images[0] - images[1]) / (2 * step)).ravel() / SIGMA)
    jac = np.array(columns).T
    return np.sqrt(np.diag(np.linalg.inv(jac.T @ jac)))


@pytest.fixture(scope="module")
def draws() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fits of the single disk to seeded noise draws: estimates, unscaled errors, scales."""
    estimates, errors, scales = [], [], []
    for seed in range(N_DRAWS):
        image, sigma, psf = _observe(seed)
        res = tune(GalaxyModel(disk=TRUTH), image, sigma, None, psf, params=NO_PRIORS)
        disk = res.model.disk
        assert disk is not None
        estimates.append([getattr(disk, name) for name in FITTED])
        errors.append([disk.errors[name] / res.error_scale for name in FITTED])
        scales.append(res.error_scale)
    return np.array(estimates), np.array(errors), np.array(scales)


def test_single_sersic_errors_are_the_fisher_errors(
    draws: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> None:
    _, errors, _ = draws
    np.testing.assert_allclose(np.median(errors, axis=0), _fisher_errors(), rtol=0.1)


def test_single_sersic_errors_match_the_scatter_over_noise_draws(
    draws: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> None:
    """The reported errors against the empirical covariance of 120 draws (its diagonal is
    known to ~6.5 % each, so the mean over the six parameters is held to 10 %, each to 25 %)."""
    estimates, errors, _ = draws
    ratio = np.std(estimates, axis=0, ddof=1) / np.median(errors, axis=0)
    assert abs(float(np.mean(ratio)) - 1.0) < 0.1, ratio
    assert np.all(np.abs(ratio - 1.0) < 0.25), ratio


def test_pulls_of_a_single_sersic(draws: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    """(estimate − truth)/error: robust spread near 1 and about 68 % within 1σ, pooled over
    the six parameters (loose bounds for 720 correlated pulls)."""
    estimates, errors, scales = draws
    truth = np.array([getattr(TRUTH, name) for name in FITTED])
    pulls = ((estimates - truth) / (errors * scales[:, None])).ravel()
    spread = 1.4826 * float(np.median(np.abs(pulls - np.median(pulls))))
    assert 0.8 < spread < 1.25
    assert 0.6 < float(np.mean(np.abs(pulls) < 1.0)) < 0.76


def test_a_parameter_at_its_bound_has_no_error_and_says_why() -> None:
    """A disk flatter than the fit allows (q = 0.2 < 0.25): q ends on its bound, with a flag
    instead of an error; the other parameters keep theirs."""
    flat = replace(TRUTH, q=0.2, re=6.0)
    psf = gaussian_psf(2.0, 5)
    image = render_model(GalaxyModel(disk=flat), SHAPE, psf)
    image = image + np.random.default_rng(0).normal(0.0, SIGMA, SHAPE)
    start = GalaxyModel(disk=replace(flat, q=0.4))
    res = tune(start, image, np.full(SHAPE, SIGMA), None, psf, params=NO_PRIORS)
    disk = res.model.disk
    assert disk is not None
    assert disk.q == pytest.approx(0.25)
    assert "q" not in disk.errors
    assert disk.error_flags["q"] == "at_bound"
    assert res.vector_status[res.vector_names.index("disk.q")] == "at_bound"
    assert {"mux", "muy", "roll", "re", "intensity"} <= set(disk.errors)
    assert all(math.isfinite(v) and v > 0 for v in disk.errors.values())
