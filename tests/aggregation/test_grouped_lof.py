"""Leave-one-group-out LOF (spec §6.6.3): the fast kernel against its plain form.

The plain form refits scikit-learn's ``LocalOutlierFactor(novelty=True)`` per group. The fast
scores agree with it to 1e-9 relative (the sums run in another order); the inlier flags
(LOF ≤ 1.5) agree exactly on these clouds, whose scores are nowhere near that close to 1.5.
"""

from __future__ import annotations

import numpy as np
import pytest

from gzbcat.aggregation._grouped_lof import grouped_lof_scores_fast
from gzbcat.aggregation.grouped_lof import grouped_lof_inliers, grouped_lof_scores


def _spiral_cloud(
    seed: int, sizes: list[int], noise: float = 0.04
) -> tuple[np.ndarray, np.ndarray]:
    """Points along a log spiral in groups of the given sizes, some groups with strays."""
    rng = np.random.default_rng(seed)
    lines = []
    for g, n in enumerate(sizes):
        t = np.linspace(0, 4, n) + rng.uniform(0, 0.5)
        pts = np.column_stack((np.exp(0.25 * t) * np.cos(t), np.exp(0.25 * t) * np.sin(t)))
        pts += rng.normal(0, noise, pts.shape)
        if g % 3 == 0:
            pts[::5] += rng.normal(0, 0.5, pts[::5].shape)
        lines.append(pts)
    return np.concatenate(lines), np.concatenate([np.full(n, g) for g, n in enumerate(sizes)])


@pytest.mark.parametrize(
    ("seed", "sizes", "n_neighbors"),
    [
        (1, [30, 45, 12, 60, 25], 20),
        (2, [8, 9, 10, 11], 20),  # k capped at the training size − 1 for every group
        (3, [150, 20, 35, 40, 5, 70, 90], 20),  # a big group: rows queried again
        (4, [40, 40, 40], 5),
        (5, [3, 1, 4], 20),  # a different capped k for each group
    ],
)
def test_fast_scores_agree_with_scikit_learn_refitted_per_group(
    seed: int, sizes: list[int], n_neighbors: int
) -> None:
    points, groups = _spiral_cloud(seed, sizes)
    plain = grouped_lof_scores(points, groups, n_neighbors)
    fast = grouped_lof_scores_fast(points, groups, n_neighbors)
    np.testing.assert_allclose(fast, plain, rtol=1e-9)


def test_a_group_without_two_training_points_is_not_scored() -> None:
    points = np.array([[0.0, 0.0], [1.0, 0.0], [5.0, 5.0]])
    groups = np.array([0, 0, 1])
    for score in (grouped_lof_scores, grouped_lof_scores_fast):
        got = score(points, groups, 20)
        assert np.isnan(got[:2]).all() and np.isfinite(got[2])
    assert grouped_lof_inliers(points, groups, 20)[:2].tolist() == [True, True]


def test_fast_inliers_match_scikit_learn() -> None:
    rng = np.random.default_rng(8)
    lines = []
    for g in range(9):
        n = int(rng.integers(15, 60))
        t = np.linspace(0, 3, n) + rng.uniform(0, 0.5)
        pts = np.column_stack((np.exp(0.3 * t) * np.cos(t), np.exp(0.3 * t) * np.sin(t)))
        pts += rng.normal(0, 0.05, pts.shape)
        if g == 0:
            pts[::6] += rng.normal(0, 0.6, pts[::6].shape)
        lines.append(pts)
    coords = np.concatenate(lines)
    groups = np.concatenate([np.full(len(line), g) for g, line in enumerate(lines)])
    fast = grouped_lof_inliers(coords, groups, 20)
    slow = grouped_lof_inliers(coords, groups, 20, use_sklearn=True)
    assert (fast != slow).sum() == 0
    assert (~fast).sum() > 0


def test_fast_inliers_match_scikit_learn_on_a_large_uneven_cluster() -> None:
    """~1,800 points in 24 groups of 5–160 points: the neighbour lists are queried short and
    topped up for the rows that lose many neighbours to a big left-out group; a 3-point
    group leaves almost the whole cloud to train on; duplicated points test self-removal."""
    rng = np.random.default_rng(21)
    sizes = [5, 3, 160, 150, *rng.integers(20, 120, 20)]
    lines = []
    for g, n in enumerate(sizes):
        t = np.linspace(0, 4, int(n)) + rng.uniform(0, 0.5)
        pts = np.column_stack((np.exp(0.25 * t) * np.cos(t), np.exp(0.25 * t) * np.sin(t)))
        pts += rng.normal(0, 0.04 if g != 2 else 0.01, pts.shape)
        if g % 5 == 1:
            pts[::4] += rng.normal(0, 0.5, pts[::4].shape)
        lines.append(pts)
    lines[5][:3] = lines[6][:3]  # exact duplicates across groups
    coords = np.concatenate(lines)
    groups = np.concatenate([np.full(len(line), 10 * g) for g, line in enumerate(lines)])
    fast = grouped_lof_inliers(coords, groups, 20)
    slow = grouped_lof_inliers(coords, groups, 20, use_sklearn=True)
    assert (fast != slow).sum() == 0
    assert 0 < (~fast).sum() < len(fast) // 2


def test_grouped_lof_caps_the_neighbour_count_on_tiny_clusters() -> None:
    rng = np.random.default_rng(5)
    coords = rng.normal(0, 1, (14, 2))
    groups = np.repeat([0, 1, 2, 3], [5, 4, 3, 2])
    fast = grouped_lof_inliers(coords, groups, 20)
    slow = grouped_lof_inliers(coords, groups, 20, use_sklearn=True)
    assert fast.tolist() == slow.tolist()
