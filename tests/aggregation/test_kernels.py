"""The aggregation kernels agree with the plain forms they stand in for."""

from __future__ import annotations

import numpy as np
import pytest

from gzbcat.aggregation._jaccard_raster import grid_inside_separable, raster_objective
from gzbcat.aggregation._polyline_metric import min_sq_distance_to_lines
from gzbcat.aggregation._unwrap import unwrap_grouped_padded
from gzbcat.aggregation.arm_fit import unwrap_grouped
from gzbcat.aggregation.jaccard import grid_inside, summed_jaccard_distance
from gzbcat.aggregation.polyline_metric import _directed_entries
from gzbcat.geometry import nearest_on_polyline, shape_inside
from tests.aggregation.synthetic import random_shapes


def _random_lines(rng: np.random.Generator, count: int) -> list[np.ndarray]:
    """Random walks, some with zero-length segments (a vertex repeated)."""
    lines = []
    for _ in range(count):
        line = np.cumsum(rng.normal(size=(int(rng.integers(2, 30)), 2)), axis=0) * 10.0
        if rng.random() < 0.5:
            at = int(rng.integers(0, len(line)))
            line = np.insert(line, at, line[at], axis=0)
        lines.append(line)
    return lines


@pytest.mark.parametrize("seed", range(5))
def test_polyline_kernel_agrees_with_nearest_on_polyline(seed: int) -> None:
    rng = np.random.default_rng(seed)
    lines = _random_lines(rng, 12)
    points = rng.normal(scale=30.0, size=(200, 2))
    kernel = min_sq_distance_to_lines(points, lines)
    plain = np.column_stack([nearest_on_polyline(points, line)[0] for line in lines])
    np.testing.assert_allclose(kernel, plain, rtol=1e-12, atol=1e-9)


def test_polyline_kernel_on_a_line_of_one_zero_length_segment() -> None:
    points = np.array([[3.0, 4.0], [1.0, 1.0], [-2.0, 0.5]])
    line = np.array([[1.0, 1.0], [1.0, 1.0]])
    expected = np.sum((points - line[0]) ** 2, axis=1)
    np.testing.assert_allclose(min_sq_distance_to_lines(points, [line])[:, 0], expected)


@pytest.mark.parametrize("seed", range(3))
def test_directed_entries_by_the_kernel_agree_with_the_plain_form(seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    lines = _random_lines(rng, 15)
    wanted = rng.random((15, 15)) < 0.6
    np.testing.assert_allclose(
        _directed_entries(lines, wanted),
        _directed_entries(lines, wanted, plain=True),
        rtol=1e-12,
        atol=1e-9,
    )


@pytest.mark.parametrize("kind", ["ellipse", "box"])
def test_raster_objective_agrees_with_summed_jaccard_distance(kind: str) -> None:
    rng = np.random.default_rng(7)
    members = np.column_stack(
        (
            rng.normal(50, 3, 8),
            rng.normal(50, 3, 8),
            rng.uniform(10, 20, 8),
            rng.uniform(0.3, 1.0, 8),
            rng.uniform(0, np.pi, 8),
        )
    )
    cell = 0.5
    axis = np.arange(20.0, 80.0, cell)
    x, y = (v.ravel() for v in np.meshgrid(axis, axis))
    masks = shape_inside(members, kind, x, y).astype(np.float64)
    areas = masks.sum(axis=1) * cell * cell
    origin = members.mean(axis=0)
    objective = raster_objective(origin, kind, x, y, cell, masks, areas)
    candidates = origin + rng.normal(scale=(3, 3, 3, 0.1, 0.5), size=(20, 5))
    candidates[0] = origin
    candidates[1] = members[0]
    for candidate in candidates:
        plain = summed_jaccard_distance(candidate, kind, x, y, cell, masks, areas)
        assert objective(candidate) == pytest.approx(plain, rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("seed", range(6))
def test_padded_unwrap_agrees_with_the_per_group_form(seed: int) -> None:
    # Noisy pieces of a log spiral, wrapped to (−π, π], in shuffled label order; some groups
    # have a single point.
    rng = np.random.default_rng(seed)
    theta, groups = [], []
    for label in rng.permutation(8):
        n = int(rng.choice([1, 2, 5, 20, 40]))
        start = rng.uniform(0.0, 8.0)
        theta.append(np.linspace(start, start + rng.uniform(0.5, 3.0), n))
        groups.append(np.full(n, label))
    t_true = np.concatenate(theta) + rng.normal(0.0, 0.05, sum(map(len, theta)))
    r = np.exp(0.25 * t_true) * rng.uniform(0.9, 1.1, len(t_true))
    wrapped = np.angle(np.exp(1j * t_true))
    labels = np.concatenate(groups)
    np.testing.assert_array_equal(
        unwrap_grouped_padded(wrapped, r, labels), unwrap_grouped(wrapped, r, labels)
    )


@pytest.mark.parametrize("kind", ["ellipse", "box"])
def test_separable_grid_masks_equal_the_plain_ones_bit_for_bit(kind: str) -> None:
    rng = np.random.default_rng(11)
    params = random_shapes(rng, 12, (40.0, 60.0))
    gx, gy = np.linspace(20, 60, 83), np.linspace(40, 80, 71)
    got = grid_inside_separable(params, kind, gx, gy)
    assert 0 < got.mean() < 1
    np.testing.assert_array_equal(got, grid_inside(params, kind, gx, gy))
