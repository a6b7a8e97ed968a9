"""Disk, bulge and bar clustering (spec §5).

Expected numbers come from the spec (the Jaccard check value), from hand calculation
(circular statistics, cluster ties) or from exact polygon geometry (shapely), never from the
code under test. Tolerances: the exact Jaccard distance matches the spec's four decimals
(±5e-5); the rasterised matrix is within 1.5e-2 of the exact one (it only has to decide
DBSCAN neighbourhoods at eps 0.3–0.48).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import shapely

from gzbcat.aggregation.jaccard import (
    aggregate_component,
    circular_mean,
    circular_std,
    grid_inside,
    jaccard_distance,
    jaccard_distance_matrix,
    largest_cluster,
    nelder_mead,
    optimal_shape,
    summed_jaccard_distance,
)
from gzbcat.geometry import ellipse_vertices, shape_inside, shape_polygons
from gzbcat.model import SersicComponent
from tests.aggregation.synthetic import random_shapes

CHECK_A = (-0.2, 0.0, 1.0, 0.8, 0.0)
CHECK_B = (0.2, 0.0, 1.0, 0.6, math.pi / 3)


def test_jaccard_check_value_from_the_spec() -> None:
    assert jaccard_distance(CHECK_A, CHECK_B, "ellipse") == pytest.approx(0.5433, abs=5e-5)


@pytest.mark.parametrize("exact", [True, False])
def test_matrix_reproduces_the_check_value(exact: bool) -> None:
    d = jaccard_distance_matrix(np.array([CHECK_A, CHECK_B]), "ellipse", exact=exact)
    assert d[0, 1] == d[1, 0]
    assert d[0, 1] == pytest.approx(0.5433, abs=5e-5 if exact else 5e-3)
    assert np.all(np.diag(d) == 0)


def test_ellipse_outline_follows_the_roll_convention() -> None:
    # roll = 0: the major axis (Re) is vertical; roll = π/2: it points along −x (spec §3.2).
    upright = ellipse_vertices((10.0, 20.0, 5.0, 0.5, 0.0))[0]
    assert np.ptp(upright[:, 1]) == pytest.approx(10.0)
    assert np.ptp(upright[:, 0]) == pytest.approx(5.0)
    turned = ellipse_vertices((10.0, 20.0, 5.0, 0.5, math.pi / 2))[0]
    assert np.ptp(turned[:, 0]) == pytest.approx(10.0)


@pytest.mark.parametrize("kind", ["ellipse", "box"])
def test_raster_matrix_agrees_with_exact_polygons(kind: str) -> None:
    rng = np.random.default_rng(11)
    n = 12
    shapes = np.column_stack(
        (
            rng.normal(50, 3, n),
            rng.normal(50, 3, n),
            rng.uniform(8, 15, n),
            rng.uniform(0.3, 1.0, n),
            rng.uniform(0, math.pi, n),
        )
    )
    polygons = shape_polygons(shapes, kind)
    expected = np.zeros((n, n))
    for i in range(n):
        for j in range(n):
            inter = shapely.area(shapely.intersection(polygons[i], polygons[j]))
            expected[i, j] = 1 - inter / shapely.area(shapely.union(polygons[i], polygons[j]))
    fast = jaccard_distance_matrix(shapes, kind)
    assert np.allclose(jaccard_distance_matrix(shapes, kind, exact=True), expected, atol=1e-12)
    assert np.abs(fast - expected).max() < 1.5e-2


def test_disjoint_and_identical_shapes() -> None:
    shapes = np.array([(0, 0, 1, 1, 0), (10, 0, 1, 1, 0), (0, 0, 1, 1, 0)], dtype=float)
    for exact in (True, False):
        d = jaccard_distance_matrix(shapes, "ellipse", exact=exact)
        assert d[0, 1] == pytest.approx(1.0)
        assert d[0, 2] == pytest.approx(0.0, abs=1e-12)


def test_circular_statistics_on_wrapped_angles() -> None:
    # Position angles either side of 0 ≡ π: hand values from the unwrapped set
    # (−0.05, −0.02, 0.01, 0.04): mean −0.005, sample std sqrt(0.0045 / 3).
    angles = np.array([math.pi - 0.05, math.pi - 0.02, 0.01, 0.04])
    assert circular_mean(angles) == pytest.approx(math.pi - 0.005, abs=1e-4)
    assert circular_std(angles) == pytest.approx(math.sqrt(0.0045 / 3), rel=1e-6)
    # The plain std of the same numbers is huge: the wrap is what the circular std fixes.
    assert np.std(angles, ddof=1) > 1.0
    assert math.isnan(circular_std([0.3]))


def test_largest_cluster_prefers_the_lowest_label_on_a_tie() -> None:
    # Two tight groups of 4 far apart, plus one isolated point: two equal clusters.
    d = np.ones((9, 9))
    for group in (range(4), range(4, 8)):
        for i in group:
            for j in group:
                d[i, j] = 0.0
    np.fill_diagonal(d, 0.0)
    assert largest_cluster(d, eps=0.3, min_samples=4).tolist() == [0, 1, 2, 3]
    assert largest_cluster(d[:3, :3], eps=0.3, min_samples=4).size == 0


def _disk(mux: float, muy: float, roll: float, re: float = 20.0, q: float = 0.5) -> SersicComponent:
    return SersicComponent(mux=mux, muy=muy, roll=roll, re=re, q=q, intensity=0.3, n=1.0, c=2.0)


def test_aggregate_component_members_errors_and_placeholders() -> None:
    rng = np.random.default_rng(5)
    comps: list[SersicComponent | None] = [None]
    for _ in range(10):
        comps.append(_disk(50 + rng.normal(0, 0.5), 50 + rng.normal(0, 0.5), 0.4))
    comps.append(_disk(120.0, 10.0, 2.0, re=5.0))  # an outlier far away
    comps.append(None)
    agg, members = aggregate_component(comps, "disk")
    assert agg is not None
    assert members == list(range(1, 11))
    values = np.array([[c.mux, c.muy, c.re, c.q] for c in comps[1:11]])  # type: ignore[union-attr]
    for k, name in enumerate(("mux", "muy", "re", "q")):
        spread = np.std(values[:, k], ddof=1)  # spec §5.5's "errors": the members' scatter
        assert agg.scatter[name] == pytest.approx(spread)
        assert agg.errors[name] == pytest.approx(spread / math.sqrt(10))  # of the aggregate
    assert agg.scatter["roll"] == pytest.approx(0.0, abs=1e-12)
    assert all(math.isinf(agg.scatter[p]) for p in ("intensity", "n", "c"))
    assert set(agg.errors) == {"mux", "muy", "re", "q", "roll"}
    assert dict(agg.error_flags) == {"intensity": "fixed", "n": "fixed", "c": "fixed"}
    assert (agg.intensity, agg.n, agg.c) == (0.2, 1.0, 2.0)
    assert abs(agg.mux - values[:, 0].mean()) < 0.5
    assert abs(agg.re - 20.0) < 1.0


def test_too_few_drawings_give_no_component() -> None:
    assert aggregate_component([_disk(1, 1, 0)] * 3 + [None], "disk") == (None, [])


@pytest.mark.parametrize("method", ["corrected", "reference"])
def test_optimal_shape_of_identical_members_is_that_shape(method: str) -> None:
    shape = np.array([40.0, 30.0, 12.0, 0.4, 1.0])
    best = optimal_shape(np.tile(shape, (5, 1)), "box", (0.0, 0.05, 0.5), method=method)
    assert np.allclose(best[:2], shape[:2], atol=0.1)
    assert best[2] == pytest.approx(12.0, rel=0.02)
    assert best[3] == pytest.approx(0.4, abs=0.02)
    assert best[4] == pytest.approx(1.0, abs=0.02)


def test_corrected_mode_handles_rolls_straddling_zero() -> None:
    # Half the members at roll ≈ 0.03, half at ≈ π − 0.03: the same orientation. The
    # arithmetic mean (≈ π/2) is a perpendicular start; the circular mean is right.
    rng = np.random.default_rng(2)
    comps = [
        _disk(50 + rng.normal(0, 0.3), 50 + rng.normal(0, 0.3), r % math.pi)
        for r in rng.normal(0.0, 0.04, 16)
    ]
    agg, members = aggregate_component(comps, "disk", method="corrected")
    assert agg is not None and len(members) == 16
    off = abs((agg.roll + math.pi / 2) % math.pi - math.pi / 2)
    assert math.degrees(off) < 3.0
    assert agg.errors["roll"] < 0.1


@pytest.mark.parametrize("kind", ["ellipse", "box"])
def test_grid_inside_equals_shape_inside_bit_for_bit(kind: str) -> None:
    rng = np.random.default_rng(3)
    params = random_shapes(rng, 12, (40.0, 60.0))
    gx, gy = np.linspace(20, 60, 83), np.linspace(40, 80, 71)
    xx, yy = np.meshgrid(gx, gy)
    got = grid_inside(params, kind, gx, gy)
    assert got.shape == (12, 83 * 71) and 0 < got.mean() < 1
    np.testing.assert_array_equal(got, shape_inside(params, kind, xx.ravel(), yy.ravel()))


def test_summed_distance_on_the_grid_agrees_with_exact_polygons() -> None:
    members = np.array(
        [
            (50.0, 50.0, 20.0, 0.6, 0.3),
            (53.0, 48.0, 18.0, 0.7, 0.5),
            (47.0, 52.0, 22.0, 0.5, 0.1),
        ]
    )
    candidate = np.array([51.0, 50.0, 19.0, 0.65, 0.35])
    axis = np.arange(10.0, 90.0, 0.25)
    x, y = (v.ravel() for v in np.meshgrid(axis, axis))
    for kind in ("ellipse", "box"):
        masks = shape_inside(members, kind, x, y).astype(np.float64)
        areas = masks.sum(axis=1) * 0.25**2
        got = summed_jaccard_distance(candidate, kind, x, y, 0.25, masks, areas)
        exact = sum(jaccard_distance(candidate, m, kind) for m in members)
        assert got == pytest.approx(exact, abs=1.5e-2)
        own = summed_jaccard_distance(members[0], kind, x, y, 0.25, masks[:1], areas[:1])
        assert own == pytest.approx(0.0, abs=1.5e-2)


@pytest.mark.parametrize("seed", range(3))
def test_nelder_mead_stays_in_bounds_and_finds_the_minimum(seed: int) -> None:
    rng = np.random.default_rng(seed)
    simplex = np.vstack([np.zeros(3), np.eye(3)]) + rng.normal(0, 0.3, (4, 3))
    lower = np.array([-np.inf, -1.0, 0.5])
    upper = np.array([np.inf, 1.0, np.inf])
    seen: list[np.ndarray] = []

    def f(x: np.ndarray) -> float:
        seen.append(np.array(x))
        return float(np.sum((x - np.array([0.3, 2.0, 0.0])) ** 2))

    best = nelder_mead(f, simplex, lower, upper, xatol=1e-6, fatol=1e-10, maxfev=2000)
    np.testing.assert_allclose(best, [0.3, 1.0, 0.5], atol=1e-5)  # on two bounds
    assert np.all(np.stack(seen) >= lower) and np.all(np.stack(seen) <= upper)

    calls: list[np.ndarray] = []

    def flat(x: np.ndarray) -> float:
        calls.append(x)
        return 0.0

    # Tolerances that never stop it: the evaluation budget does.
    nelder_mead(flat, simplex, lower, upper, xatol=0.0, fatol=-1.0, maxfev=7)
    assert len(calls) == 7
