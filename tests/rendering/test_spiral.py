"""Spiral arms: exact poly-line distances, placement with the disk, sky-fixed arms.

Spec §7.4 and §8.6.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from gzbcat.geometry import nearest_on_polyline
from gzbcat.model import GalaxyModel, LogSpiralFit, SersicComponent, SpiralArm
from gzbcat.rendering.render import render_components, render_model
from gzbcat.rendering.spiral import log_spiral_points, polyline_distance, ridge_on_segments

DISK = SersicComponent(mux=40.2, muy=38.7, roll=0.6, re=20.0, q=1.0, intensity=0.2)
FIT = LogSpiralFit(a=6.0, pitch_angle_deg=18.0, chirality=1, t_min=0.3, t_max=3.5)


def test_polyline_distance_is_exact_within_the_cutoff() -> None:
    rng = np.random.default_rng(4)
    points = np.cumsum(rng.normal(scale=3.0, size=(40, 2)), axis=0) + 30.0
    points[7] = points[6]  # a repeated vertex (zero-length segment)
    shape = (60, 64)
    ridge = polyline_distance(points, shape, cutoff=9.0)
    # the plain distance of spec §6.4, from every pixel centre to every segment
    rows, cols = np.divmod(np.arange(shape[0] * shape[1]), shape[1])
    expected, _, _ = nearest_on_polyline(np.stack([cols, rows], axis=1).astype(float), points)
    np.testing.assert_allclose(ridge.d2, expected[ridge.pixels], rtol=1e-10, atol=1e-10)
    inside = np.flatnonzero(expected <= 81.0)
    np.testing.assert_array_equal(np.sort(ridge.pixels), inside)


def test_log_spiral_is_placed_with_the_disk() -> None:
    points, _ = log_spiral_points(FIT.a, 18.0, FIT.t_min, FIT.t_max, DISK.with_parameters(q=0.5))
    # spec §6.9: p(θ) = Rot(+roll)·diag(q, 1)·A e^{θ tanφ}(cos θ, sin θ) + centre
    theta = np.linspace(FIT.t_min, FIT.t_max, 100)
    rho = FIT.a * np.exp(theta * math.tan(math.radians(18.0)))
    x, y = 0.5 * rho * np.cos(theta), rho * np.sin(theta)
    c, s = math.cos(DISK.roll), math.sin(DISK.roll)
    np.testing.assert_allclose(points[:, 0], c * x - s * y + DISK.mux, rtol=1e-12)
    np.testing.assert_allclose(points[:, 1], s * x + c * y + DISK.muy, rtol=1e-12)


@pytest.mark.parametrize("method", ["corrected", "reference"])
def test_vertex_jacobian_matches_central_differences(method: str) -> None:
    disk = DISK.with_parameters(q=0.6)
    args = [FIT.a, 18.0, FIT.t_min, FIT.t_max]
    _, jac = log_spiral_points(*args, disk, base_roll=0.4, method=method)  # type: ignore[arg-type]
    for k in range(8):
        h = 1e-6

        def shifted(delta: float, k: int = k) -> np.ndarray:
            a = list(args)
            d = disk
            if k < 4:
                a[k] += delta
            else:
                name = ("mux", "muy", "roll", "q")[k - 4]
                d = disk.with_parameters(**{name: getattr(disk, name) + delta})
            return log_spiral_points(*a, d, base_roll=0.4, method=method)[0]  # type: ignore[arg-type]

        numeric = (shifted(h) - shifted(-h)) / (2 * h)
        np.testing.assert_allclose(jac[:, :, k], numeric, rtol=1e-6, atol=1e-6)


def _arm_image(roll: float, method: str) -> np.ndarray:
    """The arm of a face-on disk turned to ``roll``, arm parameters measured at 0.6."""
    disk = DISK.with_parameters(roll=roll)
    arm = SpiralArm(points=np.zeros((0, 2)), intensity=0.5, spread=2.0, fit=FIT)
    parts = render_components(
        GalaxyModel(disk=disk, arms=(arm,)),
        (80, 80),
        method=method,
        base_roll=0.6,  # type: ignore[arg-type]
    )
    return parts["arm0"]


def test_arms_stay_fixed_on_the_sky_when_the_disk_turns() -> None:
    before = _arm_image(0.6, "corrected")
    after = _arm_image(0.6 + 0.4, "corrected")
    assert before.max() > 0.05
    # q = 1: the disk profile is round, so the arm image must not move at all
    np.testing.assert_allclose(after, before, atol=1e-9 * before.max())


def test_reference_arms_turn_with_twice_the_roll_change() -> None:
    before = _arm_image(0.6, "reference")
    after = _arm_image(1.0, "reference")
    ridge = before > 0.5 * before.max()
    assert np.mean(after[ridge] > 0.5 * before.max()) < 0.5  # the arm moved
    # spec §8.6: the reference arm is the base arm turned by 2·dpsi about the centre
    points_ref, _ = log_spiral_points(
        FIT.a,
        18.0,
        FIT.t_min,
        FIT.t_max,
        DISK.with_parameters(roll=1.0),
        base_roll=0.6,
        method="reference",
    )
    points_base, _ = log_spiral_points(FIT.a, 18.0, FIT.t_min, FIT.t_max, DISK)
    c, s = math.cos(0.8), math.sin(0.8)
    rel = points_base - [DISK.mux, DISK.muy]
    turned = np.stack([c * rel[:, 0] - s * rel[:, 1], s * rel[:, 0] + c * rel[:, 1]], axis=1)
    np.testing.assert_allclose(points_ref, turned + np.array([DISK.mux, DISK.muy]), atol=1e-9)


def test_drawn_polyline_arm_is_a_gaussian_ridge_times_the_disk() -> None:
    points = np.array([[10.0, 10.0], [30.0, 10.0], [30.0, 25.0]])
    disk = SersicComponent(mux=20.0, muy=15.0, roll=0.0, re=8.0, q=1.0, intensity=1.0)
    arm = SpiralArm(points=points, intensity=0.3, spread=1.5, falloff=2.0)
    model = GalaxyModel(disk=disk, arms=(arm,))
    b = 1.6783886549215685

    def disk_at(x: float, y: float) -> float:  # the disk profile with re/falloff, point-sampled
        return math.exp(-b * (math.hypot(x - 20, y - 15) / 4.0 - 1))

    # pixel (row 10, col 20) lies on the first segment; (row 14, col 20) is 4 px from it;
    # (row 5, col 5) is nearest the first vertex, at √50 px.
    expected = {
        (10, 20): 0.3 * disk_at(20, 10),
        (14, 20): 0.3 * math.exp(-16 / 4.5) * disk_at(20, 14),
        (5, 5): 0.3 * math.exp(-50 / 4.5) * disk_at(5, 5),
    }
    # the reference helper samples the disk profile at pixel centres: exact
    reference = render_components(model, (30, 40), method="reference")["arm0"]
    corrected = render_components(model, (30, 40))["arm0"]  # pixel-integrated profile
    for (row, col), value in expected.items():
        assert reference[row, col] == pytest.approx(value, rel=1e-12)
        assert corrected[row, col] == pytest.approx(value, rel=2e-2)  # midpoint vs integral


def test_arms_without_disk_or_with_no_light_render_as_zeros() -> None:
    arm = SpiralArm(points=np.array([[1.0, 1.0], [5.0, 5.0]]), intensity=0.3, spread=1.0)
    assert not render_components(GalaxyModel(arms=(arm,)), (8, 8))["arm0"].any()
    dark = SpiralArm(points=arm.points, intensity=0.0, spread=1.0)
    assert not render_components(GalaxyModel(disk=DISK, arms=(dark,)), (8, 8))["arm0"].any()
    short = SpiralArm(points=arm.points[:1], intensity=0.3, spread=1.0)
    assert not render_components(GalaxyModel(disk=DISK, arms=(short,)), (8, 8))["arm0"].any()


def test_render_model_sums_parts_and_applies_the_psf() -> None:
    arm = SpiralArm(points=np.zeros((0, 2)), intensity=0.5, spread=2.0, fit=FIT)
    model = GalaxyModel(disk=DISK, arms=(arm,))
    parts = render_components(model, (80, 80))
    psf = np.zeros((5, 5))
    psf[2, 3] = 1.0  # shifts the image one column to the right
    image = render_model(model, (80, 80), psf)
    total = parts["disk"] + parts["arm0"]
    np.testing.assert_allclose(image[:, 1:], total[:, :-1], rtol=1e-10, atol=1e-14)


def test_ridge_on_segments_keeps_each_pixels_segment() -> None:
    """Moved a little, the ridge keeps its pixels and their segments: where the exact nearest
    segment is still the same the distances are exact; elsewhere (vertex ties, which change
    nothing, and a handful of near-ties) never shorter than the exact minimum and within the
    move's order."""
    rng = np.random.default_rng(4)
    theta = np.linspace(0.3, 3.4, 60)
    radius = 6.0 * np.exp(0.35 * theta)
    points = np.column_stack((32 + radius * np.cos(theta), 30 + radius * np.sin(theta)))
    base = polyline_distance(points, (64, 64), 9.0)
    assert ridge_on_segments(base, points, 64).d2 == pytest.approx(base.d2, abs=1e-12)
    moved = points + rng.normal(0.0, 0.01, points.shape)
    kept = ridge_on_segments(base, moved, 64)
    exact = polyline_distance(moved, (64, 64), 9.0)
    common, i_exact, i_kept = np.intersect1d(exact.pixels, kept.pixels, return_indices=True)
    assert common.size > 0.95 * base.pixels.size
    same = exact.segment[i_exact] == kept.segment[i_kept]
    np.testing.assert_allclose(kept.d2[i_kept][same], exact.d2[i_exact][same], atol=1e-10)
    assert np.all(kept.d2[i_kept] >= exact.d2[i_exact] - 1e-10)
    excess = np.sqrt(kept.d2[i_kept]) - np.sqrt(exact.d2[i_exact])
    assert excess.max() < 0.05  # a few times the 0.01 px move
    assert excess.mean() < 1e-3
