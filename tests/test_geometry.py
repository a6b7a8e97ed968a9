"""The plain geometry every optimised kernel is checked against."""

from __future__ import annotations

import numpy as np

from gzbcat.geometry import nearest_on_polyline


def test_nearest_on_polyline_by_hand() -> None:
    # An L: (0, 0) → (10, 0), a repeated vertex, then (10, 0) → (10, 10).
    vertices = np.array([[0.0, 0.0], [10.0, 0.0], [10.0, 0.0], [10.0, 10.0]])
    points = np.array([[5.0, 3.0], [12.0, 5.0], [-1.0, -1.0], [10.0, 0.0]])
    d2, segment, t = nearest_on_polyline(points, vertices)
    np.testing.assert_allclose(d2, [9.0, 4.0, 2.0, 0.0])
    np.testing.assert_array_equal(segment, [0, 2, 0, 0])  # ties go to the lowest segment
    np.testing.assert_allclose(t, [0.5, 0.5, 0.0, 1.0])


def test_nearest_point_is_as_close_as_any_sampled_point_of_the_line() -> None:
    rng = np.random.default_rng(3)
    vertices = np.cumsum(rng.normal(size=(12, 2)), axis=0)
    points = rng.normal(scale=3.0, size=(50, 2))
    d2, segment, t = nearest_on_polyline(points, vertices)
    nearest = vertices[segment] + t[:, None] * (vertices[segment + 1] - vertices[segment])
    np.testing.assert_allclose(((nearest - points) ** 2).sum(1), d2)
    s = np.linspace(0.0, 1.0, 2001)[:, None, None]
    dense = (vertices[:-1] + s * (vertices[1:] - vertices[:-1])).reshape(-1, 2)
    brute = ((points[:, None, :] - dense[None]) ** 2).sum(-1).min(axis=1)
    assert np.all(d2 <= brute + 1e-12)
    assert np.all(brute - d2 < 1e-3)
