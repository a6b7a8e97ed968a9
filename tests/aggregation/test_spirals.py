"""Spiral-arm aggregation pieces (spec §6).

Expected values are hand calculations (the poly-line metric, centre splitting, merge groups),
an independent point-by-point loop (the metric matrices, the unwrap), groups grown by hand
(transitive merges) and the truth of synthetic arms (pitch angles). The spec's spiral-notebook
check (§10.1: 20 face-on arms of pitch 15° ± 0.5° gave 15.3826°) used an unpublished seed and
noise, so it is reproduced with a ±1° tolerance. The grouped LOF is tested in
``test_grouped_lof.py``.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from gzbcat.aggregation.arm_fit import member_pitch_scatter
from gzbcat.aggregation.spirals import (
    directed_distance_matrix,
    drop_repeated_vertices,
    equalise_polylines,
    fit_arm,
    merge_groups,
    point_weights,
    polyline_distance,
    polyline_distance_matrix,
    split_at_centre,
    unwrap_grouped,
    usable_arm,
)
from gzbcat.model import SersicComponent


def test_polyline_distance_on_hand_made_lines() -> None:
    # Parallel lines 1 apart: every vertex is 1 from the other line, both ways.
    a = np.array([[0.0, 0.0], [1.0, 0.0], [2.0, 0.0]])
    b = np.array([[0.0, 1.0], [2.0, 1.0]])
    assert polyline_distance(a, b) == pytest.approx(2.0)
    # An "L": one vertex each way is 1 away, the other 0 → 1/2 + 1/2.
    assert polyline_distance(
        np.array([[0.0, 0.0], [1.0, 0.0]]), np.array([[0.0, 0.0], [0.0, 1.0]])
    ) == pytest.approx(1.0)
    # Projection and clipping: (0.5, 2) projects inside [(0,0),(1,0)] (d² 4); (3, 4) clips to
    # (1, 0) (d² 20); the other way both ends clip to (0.5, 2) (d² 4.25 each).
    c = np.array([[0.5, 2.0], [3.0, 4.0]])
    d = np.array([[0.0, 0.0], [1.0, 0.0]])
    directed = directed_distance_matrix([c, d])
    assert directed[0, 1] == pytest.approx(12.0)
    assert directed[1, 0] == pytest.approx(4.25)
    assert polyline_distance(c, d) == pytest.approx(16.25)


def _naive_directed(a: np.ndarray, b: np.ndarray) -> float:
    total = 0.0
    for p in a:
        best = math.inf
        for v, w in itertools.pairwise(b):
            e = w - v
            t = min(max(float(np.dot(p - v, e) / np.dot(e, e)), 0.0), 1.0)
            best = min(best, float(np.sum((v + t * e - p) ** 2)))
        total += best
    return total / len(a)


def test_metric_matrix_matches_a_point_by_point_loop() -> None:
    rng = np.random.default_rng(4)
    lines = [np.cumsum(rng.normal(0, 1, (int(rng.integers(2, 30)), 2)), axis=0) for _ in range(7)]
    matrix = polyline_distance_matrix(lines)
    for i, a in enumerate(lines):
        for j, b in enumerate(lines):
            if i != j:
                expected = _naive_directed(a, b) + _naive_directed(b, a)
                assert matrix[i, j] == pytest.approx(expected, rel=1e-9, abs=1e-12)
    assert np.all(np.diag(matrix) == 0)


def test_metric_treats_a_zero_length_segment_as_a_point() -> None:
    source = np.array([[0.5, 2.0], [-1.0, -1.0], [3.0, 0.5]])
    target = np.array([[0.0, 0.0], [1.0, 0.0]])
    repeated = np.array([[0.0, 0.0], [0.0, 0.0], [1.0, 0.0], [1.0, 0.0]])
    plain = directed_distance_matrix([source, target])[0, 1]
    assert plain == pytest.approx((4.0 + 2.0 + 4.25) / 3)
    assert directed_distance_matrix([source, repeated])[0, 1] == pytest.approx(plain, rel=1e-12)
    # A single repeated vertex is a point: squared distances to (2, 1).
    point = np.array([[2.0, 1.0], [2.0, 1.0]])
    assert directed_distance_matrix([source, point])[0, 1] == pytest.approx(
        (3.25 + 13.0 + 1.25) / 3
    )


def test_repeated_vertices_are_dropped_so_the_metric_stays_finite() -> None:
    line = np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 0.0], [2.0, 0.0]])
    clean = drop_repeated_vertices(line)
    assert clean.tolist() == [[0.0, 0.0], [1.0, 0.0], [2.0, 0.0]]
    assert np.isfinite(polyline_distance(clean, clean + np.array([0.0, 1.0])))


def test_usable_arm_needs_six_points_and_a_simple_line() -> None:
    straight = np.column_stack((np.arange(6.0), np.zeros(6)))
    assert usable_arm(straight, 6)
    assert not usable_arm(straight[:5], 6)
    bow_tie = np.array([[0, 0], [2, 2], [2, 0], [0, 2], [-1, 3], [-2, 4]], dtype=float)
    assert not usable_arm(bow_tie, 6)


def test_split_at_centre() -> None:
    points = np.array([[-5, 0], [-4, 0], [-1, 0], [0, 0], [4, 0], [5, 0], [6, 0]], dtype=float)
    pieces = split_at_centre(points, np.zeros(2), 2.5)
    assert [p.tolist() for p in pieces] == [
        [[-5, 0], [-4, 0]],
        [[4, 0], [5, 0], [6, 0]],
    ]
    # A one-point fragment is dropped.
    assert len(split_at_centre(points[1:], np.zeros(2), 2.5)) == 1


def test_equalised_polylines_have_equal_counts_and_even_spacing() -> None:
    lines = [
        np.array([[0.0, 0.0], [3.0, 0.0], [4.0, 0.0]]),
        np.column_stack((np.zeros(9), np.linspace(0, 8, 9) ** 1.5)),
    ]
    out = equalise_polylines(lines)
    assert [len(line) for line in out] == [9, 9]
    assert np.allclose(np.diff(out[0][:, 0]), 0.5)
    assert np.allclose(out[1][[0, -1]], lines[1][[0, -1]])
    steps = np.hypot(*np.diff(out[1], axis=0).T)
    assert np.allclose(steps, steps[0])


def test_merge_groups_transitive_versus_the_reference() -> None:
    close = np.zeros((5, 5), dtype=bool)
    for i, j in [(0, 3), (1, 2), (2, 3)]:
        close[i, j] = close[j, i] = True
    assert merge_groups(close, "corrected") == [[0, 1, 2, 3], [4]]
    # Reference: (0,3) → {0,3}; (1,2) → {1,2}; (2,3) touches both and joins both.
    assert merge_groups(close, "reference") == [[0, 2, 3], [1, 2, 3], [4]]


def _grow_groups(close: np.ndarray) -> list[list[int]]:
    """Transitive groups by hand: grow each group from its lowest unvisited arm."""
    seen: set[int] = set()
    groups = []
    for start in range(len(close)):
        if start in seen:
            continue
        group, todo = {start}, [start]
        while todo:
            k = todo.pop()
            for m in np.flatnonzero(close[k] | close[:, k]).tolist():
                if m not in group:
                    group.add(m)
                    todo.append(m)
        seen |= group
        groups.append(sorted(group))
    return groups


@pytest.mark.parametrize("seed", range(8))
def test_merge_groups_are_the_transitive_groups_in_order(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 15))
    close = np.triu(rng.random((n, n)) < 0.15, 1)
    close |= close.T
    assert merge_groups(close, "corrected") == _grow_groups(close)


def test_point_weights() -> None:
    r = np.array([1.0, 2.0, 3.0, 4.0, 1.5, 2.5])
    groups = np.array([0, 0, 0, 0, 1, 1])
    w = point_weights(r, groups)
    assert w.mean() == pytest.approx(1.0)
    assert w[3] == 0.0  # the point at max R falls on the last, empty bin
    assert np.all(w >= 0)


def _arm_like_lines(seed: int) -> list[np.ndarray]:
    """Noisy hand-drawn-like arms: 3 spiral arms, 8 lines each, normalised to ~unit image."""
    rng = np.random.default_rng(seed)
    lines = []
    for arm in range(3):
        for _ in range(8):
            t = np.linspace(rng.uniform(0, 0.4), rng.uniform(2.5, 3.2), int(rng.integers(8, 60)))
            t = t + 2 * math.pi * arm / 3
            r = 0.05 * np.exp(0.35 * (t - 2 * math.pi * arm / 3))
            pts = np.column_stack((r * np.cos(t), r * np.sin(t))) + 0.5
            lines.append(drop_repeated_vertices(pts + rng.normal(0, 0.006, pts.shape)))
    return lines


@pytest.mark.parametrize("cutoff", [1e-3, 2e-3, 1e-2])
def test_metric_cutoff_is_exact_below_it_and_a_lower_bound_above(cutoff: float) -> None:
    lines = _arm_like_lines(2)
    exact = polyline_distance_matrix(lines)
    bounded = polyline_distance_matrix(lines, cutoff=cutoff)
    below = exact <= cutoff
    assert np.array_equal(bounded <= cutoff, below)  # the same ≤ decisions …
    np.testing.assert_allclose(bounded[below], exact[below], rtol=1e-9, atol=1e-15)
    assert np.all(bounded[~below] <= exact[~below] * (1 + 1e-12))  # … and bounds above
    assert np.all(bounded[~below] > cutoff)
    assert 0 < below.sum() < below.size
    directed_exact = directed_distance_matrix(lines)
    directed = directed_distance_matrix(lines, cutoff=cutoff)
    off = ~np.eye(len(lines), dtype=bool)
    assert np.array_equal((directed <= cutoff)[off], (directed_exact <= cutoff)[off])
    keep = (directed_exact <= cutoff) & off
    np.testing.assert_allclose(directed[keep], directed_exact[keep], rtol=1e-9, atol=1e-15)
    assert np.all(directed[~keep & off] <= directed_exact[~keep & off] * (1 + 1e-12))


def test_metric_cutoff_gives_the_same_dbscan_clusters() -> None:
    from sklearn.cluster import DBSCAN

    lines = _arm_like_lines(9)

    def labels(matrix: np.ndarray) -> list[int]:
        return DBSCAN(eps=1e-3, min_samples=4, metric="precomputed").fit_predict(matrix).tolist()

    exact = labels(polyline_distance_matrix(lines))
    assert max(exact) >= 1  # several clusters, so the test means something
    assert labels(polyline_distance_matrix(lines, cutoff=1e-3)) == exact
    assert labels(polyline_distance_matrix(lines, cutoff=2e-3)) == exact


def _face_on_disk(centre: float) -> SersicComponent:
    return SersicComponent(mux=centre, muy=centre, roll=0.0, re=50.0, q=1.0, intensity=0.2)


def test_spiral_notebook_check_face_on_pitch_15() -> None:
    """Spec §10.1: 20 synthetic face-on arms, pitch 15° ± 0.5° → φ ≈ 15.38°."""
    rng = np.random.default_rng(0)
    size = 256
    disk = _face_on_disk(size / 2)
    lines = []
    for _ in range(20):
        pitch = math.radians(rng.normal(15.0, 0.5))
        theta = np.linspace(rng.uniform(0.0, 0.3), rng.uniform(3.7, 4.0), int(rng.integers(30, 80)))
        r = 15.0 * np.exp(theta * math.tan(pitch))
        pts = np.column_stack((r * np.cos(theta), r * np.sin(theta))) + size / 2
        lines.append(pts + rng.normal(0, 0.5, pts.shape))
    result = fit_arm(lines, list(range(20)), disk, (size, size))
    assert result.fit.pitch_angle_deg == pytest.approx(15.38, abs=1.0)
    assert result.fit.chirality == 1
    assert result.fit.r_squared > 0.9
    assert result.fit.n_members == 20
    assert not result.flagged_bad


@pytest.mark.parametrize("image_shape", [(200, 200), (160, 240)])
def test_fitted_polyline_is_the_log_spiral_of_the_fit(image_shape: tuple[int, int]) -> None:
    """Spec §6.9: the arm is p(θ) = R(roll)·diag(q, 1)·a·e^{θ tan φ}(cos θ, sin θ) + centre."""
    height, width = image_shape
    disk = SersicComponent(mux=width / 2, muy=height / 2, roll=0.7, re=50.0, q=0.55, intensity=0.2)
    rng = np.random.default_rng(3)
    tan_phi = math.tan(math.radians(-22.0))
    lines = []
    for _ in range(8):
        theta = np.linspace(-0.2, -3.5, 40) + rng.normal(0, 0.05)
        r = 12.0 * np.exp(theta * tan_phi)
        x, y = r * np.cos(theta) * disk.q, r * np.sin(theta)
        c, s = math.cos(disk.roll), math.sin(disk.roll)
        pts = np.column_stack((disk.mux + c * x - s * y, disk.muy + s * x + c * y))
        lines.append(pts + rng.normal(0, 0.3, pts.shape))
    fit = fit_arm(lines, list(range(8)), disk, image_shape).fit
    assert fit.chirality == -1
    assert fit.pitch_angle_deg == pytest.approx(22.0, abs=1.5)
    theta = np.linspace(fit.t_min, fit.t_max, 500)
    r = fit.a * np.exp(theta * math.tan(math.radians(fit.chirality * fit.pitch_angle_deg)))
    x, y = r * np.cos(theta) * disk.q, r * np.sin(theta)
    c, s = math.cos(disk.roll), math.sin(disk.roll)
    rebuilt = np.column_stack((disk.mux + c * x - s * y, disk.muy + s * x + c * y))
    polyline = fit_arm(lines, list(range(8)), disk, image_shape).polyline
    assert np.allclose(polyline, rebuilt, atol=1e-6)
    assert fit.length_px == pytest.approx(np.sum(np.hypot(*np.diff(rebuilt, axis=0).T)))


def _naive_unwrap_grouped(theta: np.ndarray, r: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Spec §6.6.5 as written: group by group, with the point-by-point metric above."""
    out = theta.copy()
    scale = 2.0 * math.pi / r.max()
    done: list[int] = []
    for g in sorted(set(groups.tolist())):
        idx = np.flatnonzero(groups == g)
        t = np.unwrap(out[idx])
        if done:
            lo, hi = done[int(np.argmin(out[done]))], done[int(np.argmax(out[done]))]
            segment = np.array([[out[lo], r[lo] * scale], [out[hi], r[hi] * scale]])
            scores = []
            for shift in (-2.0 * math.pi, 0.0, 2.0 * math.pi):
                points = np.column_stack((t + shift, r[idx] * scale))
                scores.append(
                    min(_naive_directed(points, segment), _naive_directed(segment, points))
                )
            t = t + (-2.0 * math.pi, 0.0, 2.0 * math.pi)[int(np.argmin(scores))]
        out[idx] = t
        done = sorted(done + idx.tolist())
    return out


def test_unwrap_grouped_joins_each_line_to_the_earlier_ones() -> None:
    # Pieces of one log spiral (θ from 0 to 8 rad) of different lengths, wrapped to (−π, π],
    # stored out of label order; labels run from the innermost piece outwards, with overlaps.
    rng = np.random.default_rng(3)
    pieces = [(0.0, 2.5, 30), (5.0, 8.0, 17), (2.0, 5.5, 45), (1.0, 3.0, 8), (6.5, 7.5, 2)]
    true_theta, groups = [], []
    for g, (start, stop, n) in enumerate(pieces):
        true_theta.append(np.linspace(start, stop, n) + rng.normal(0.0, 0.01, n))
        groups.append(np.full(n, [0, 3, 1, 2, 4][g]))
    t_true = np.concatenate(true_theta)
    r = np.exp(0.2 * t_true)
    wrapped = np.angle(np.exp(1j * t_true))
    got = unwrap_grouped(wrapped, r, np.concatenate(groups))
    np.testing.assert_allclose(got, _naive_unwrap_grouped(wrapped, r, np.concatenate(groups)))
    # The first group needs no turn, and every later piece is joined back onto the spiral.
    np.testing.assert_allclose(got, t_true, atol=1e-9)


def test_member_pitch_scatter_reads_each_volunteers_own_slope() -> None:
    """Five traces of pitch 18°–22° (one degree apart), noise-free: their robust spread is
    1.4826 × the median absolute deviation of 1°; a short trace does not count."""
    theta, log_r, owner = [], [], []
    for k, pitch in enumerate((18.0, 19.0, 20.0, 21.0, 22.0)):
        t = np.linspace(0.5 + 0.1 * k, 2.5 + 0.1 * k, 30)
        theta.append(t)
        log_r.append(1.0 + math.tan(math.radians(pitch)) * t)
        owner.append(np.full(t.size, k))
    theta.append(np.linspace(1.0, 1.1, 10))  # sweeps 0.1 rad: too short to have a pitch
    log_r.append(np.linspace(0.0, 3.0, 10))
    owner.append(np.full(10, 9))
    t, y, o = np.concatenate(theta), np.concatenate(log_r), np.concatenate(owner)
    spread, count = member_pitch_scatter(t, y, np.ones_like(t), o)
    assert count == 5
    assert spread == pytest.approx(1.4826, rel=1e-3)
    assert member_pitch_scatter(t[:30], y[:30], np.ones(30), o[:30]) == (None, 1)
