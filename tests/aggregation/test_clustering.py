"""DBSCAN labels on precomputed distance matrices: hand-made cases with known clusters."""

from __future__ import annotations

import numpy as np
import pytest

from gzbcat.aggregation.clustering import dbscan_labels


def test_two_groups_and_a_noise_point() -> None:
    # Points on a line: 0–3 spaced 1 apart, 10–12 spaced 1 apart, and 30 far from both.
    x = np.array([0.0, 1.0, 2.0, 3.0, 10.0, 11.0, 12.0, 30.0])
    distances = np.abs(x[:, None] - x[None, :])
    assert dbscan_labels(distances, 1.0, 3).tolist() == [0, 0, 0, 0, 1, 1, 1, -1]
    # eps is inclusive: at 0.999 no point has a neighbour but itself.
    assert dbscan_labels(distances, 0.999, 2).tolist() == [-1] * 8


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
    assert labels[border] == 0 and set(labels[first]) == {0} and set(labels[second]) == {1}


def test_all_noise_and_empty() -> None:
    assert dbscan_labels(np.zeros((0, 0)), 0.5, 4).shape == (0,)
    far = 10.0 * (1.0 - np.eye(5))
    assert dbscan_labels(far, 0.5, 2).tolist() == [-1] * 5
