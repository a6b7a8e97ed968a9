"""The hand-written DBSCAN must label exactly as scikit-learn's on precomputed matrices."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.cluster import DBSCAN

from gzbcat.aggregation.clustering import dbscan_labels


def _sklearn(distances: np.ndarray, eps: float, min_samples: int) -> np.ndarray:
    return DBSCAN(eps=eps, min_samples=min_samples, metric="precomputed").fit_predict(distances)


@pytest.mark.parametrize("seed", range(40))
def test_labels_match_scikit_learn_on_random_point_clouds(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 80))
    centres = rng.uniform(0, 10, size=(int(rng.integers(1, 6)), 2))
    points = centres[rng.integers(0, len(centres), n)] + rng.normal(0, 0.7, size=(n, 2))
    # Rounded coordinates put many distances exactly on eps (inclusive in both).
    points = np.round(points, 1)
    distances = np.hypot(*(points[:, None, :] - points[None, :, :]).transpose(2, 0, 1))
    for eps in (0.3, 0.5, 1.0):
        for min_samples in (1, 3, 4, 7):
            expected = _sklearn(distances, eps, min_samples)
            np.testing.assert_array_equal(dbscan_labels(distances, eps, min_samples), expected)


@pytest.mark.parametrize("border", [0, 4, 8])
def test_border_point_joins_the_lowest_numbered_cluster(border: int) -> None:
    # Two tight groups of four core points and one border point within eps of one member
    # of each; min_samples 4 makes the border point (3 neighbours) not core.
    others = [i for i in range(9) if i != border]
    first, second = others[:4], others[4:]
    distances = np.full((9, 9), 10.0)
    for group in (first, second):
        distances[np.ix_(group, group)] = 0.1
    distances[border, [first[-1], second[0]]] = distances[[first[-1], second[0]], border] = 1.0
    np.fill_diagonal(distances, 0.0)
    labels = dbscan_labels(distances, 1.0, 4)
    np.testing.assert_array_equal(labels, _sklearn(distances, 1.0, 4))
    assert labels[border] == 0 and set(labels[first]) == {0} and set(labels[second]) == {1}


def test_all_noise_and_empty() -> None:
    assert dbscan_labels(np.zeros((0, 0)), 0.5, 4).shape == (0,)
    far = 10.0 * (1.0 - np.eye(5))
    assert dbscan_labels(far, 0.5, 2).tolist() == [-1] * 5
