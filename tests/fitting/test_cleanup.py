"""Post-fit clean-up (spec §8.7) on hand-made models.

The clean-up must not change what the model looks like: each case compares the rendered
image (and the arms' poly-lines) before and after, on the same uniform sub-pixel lattice, to
1e-6 per pixel (rounding: the cusp pixel of a folded bulge is summed in a different order),
and checks the folded numbers against hand computation.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from gzbcat.fitting import ParameterSpace, clean_up, fold_axis_ratio, reframe_arm, wrap_roll
from gzbcat.model import GalaxyModel, LogSpiralFit, SersicComponent, SpiralArm
from gzbcat.rendering import render_model
from gzbcat.rendering.render import arm_polyline

SHAPE = (64, 64)


def _arm(intensity: float = 0.4, chirality: int = 1) -> SpiralArm:
    fit = LogSpiralFit(a=6.0, pitch_angle_deg=18.0, chirality=chirality, t_min=0.3, t_max=3.5)
    return SpiralArm(np.zeros((0, 2)), intensity=intensity, spread=1.6, fit=fit)


def _disk(**changes: float) -> SersicComponent:
    disk = SersicComponent(mux=31.3, muy=32.6, roll=0.9, re=14.0, q=0.6, intensity=0.2)
    return disk.with_parameters(**changes)


def _same_image(before: GalaxyModel, after: GalaxyModel) -> None:
    a = render_model(before, SHAPE, oversample=3)
    b = render_model(after, SHAPE, oversample=3)
    np.testing.assert_allclose(b, a, rtol=1e-6, atol=1e-9 * a.max())


def _same_arms(before: GalaxyModel, after: GalaxyModel) -> None:
    assert len(before.arms) == len(after.arms)
    for arm_b, arm_a in zip(before.arms, after.arms, strict=True):
        np.testing.assert_allclose(
            arm_polyline(arm_a, after.disk), arm_polyline(arm_b, before.disk), atol=1e-9
        )


def test_fold_q_above_one_by_hand() -> None:
    comp = SersicComponent(
        mux=1, muy=2, roll=0.3, re=10.0, q=1.25, intensity=0.5, errors={"q": 0.05, "re": 1.0}
    )
    folded = fold_axis_ratio(comp)
    assert folded.q == pytest.approx(0.8)
    assert folded.re == pytest.approx(12.5)
    assert folded.roll == pytest.approx(0.3 + math.pi / 2)
    assert folded.intensity == comp.intensity  # L ∝ re²·q is unchanged
    assert folded.errors["q"] == pytest.approx(0.05 / 1.25**2)
    assert folded.errors["re"] == pytest.approx(math.hypot(1.25 * 1.0, 10.0 * 0.05))
    same = SersicComponent(mux=1, muy=2, roll=0.3, re=10.0, q=0.9, intensity=0.5)
    assert fold_axis_ratio(same) is same


@pytest.mark.parametrize(
    ("roll", "expected"),
    [(-0.3, math.pi - 0.3), (math.pi + 0.2, 0.2), (1.0, 1.0), (2 * math.pi + 0.5, 0.5)],
)
def test_wrap_roll(roll: float, expected: float) -> None:
    assert wrap_roll(roll) == pytest.approx(expected)
    assert 0.0 <= wrap_roll(roll) < math.pi


def test_disk_fold_keeps_image_and_arms() -> None:
    """A disk with q = 1.2 (allowed by the bounds) folds to q = 1/1.2; arms stay on the sky."""
    before = GalaxyModel(
        disk=_disk(q=1.2, roll=2.6),
        bulge=SersicComponent(mux=31.0, muy=32.0, roll=0.2, re=3.0, q=1.1, intensity=0.8, n=2),
        arms=(_arm(), _arm(chirality=-1)),
    )
    after = clean_up(before)
    assert after.disk is not None and after.bulge is not None
    assert after.disk.q == pytest.approx(1 / 1.2)
    assert after.disk.re == pytest.approx(14.0 * 1.2)
    assert after.disk.roll == pytest.approx(2.6 + math.pi / 2 - math.pi)  # wrapped
    assert after.bulge.q == pytest.approx(1 / 1.1)
    assert after.bulge.re == pytest.approx(3.0 * 1.1)  # absolute size: no disk-q patch
    _same_image(before, after)
    _same_arms(before, after)


def test_roll_mod_pi_keeps_arms() -> None:
    before = GalaxyModel(disk=_disk(roll=-0.4), arms=(_arm(),))
    after = clean_up(before)
    assert after.disk is not None
    assert after.disk.roll == pytest.approx(math.pi - 0.4)
    assert after.arms[0].fit is not None
    assert after.arms[0].fit.t_min == pytest.approx(0.3 - math.pi)
    _same_image(before, after)
    _same_arms(before, after)


def test_zero_brightness_parts_are_removed_and_arms_renumbered() -> None:
    bar = SersicComponent(mux=31, muy=32, roll=0.5, re=4.0, q=0.3, intensity=0.0, n=0.8, c=3)
    arms = tuple(_arm(intensity=i) for i in (0.3, 0.0, 0.5) + (0.2,) * 8 + (0.0,))
    before = GalaxyModel(disk=_disk(), bar=bar, arms=arms)
    after = clean_up(before)
    assert after.bar is None
    # 12 arms (indices past 10, where the reference's ".i" regex went wrong), two of them dark
    assert [arm.intensity for arm in after.arms] == [0.3, 0.5] + [0.2] * 8
    _same_image(before, after)


def test_dark_disk_takes_the_arms_with_it() -> None:
    before = GalaxyModel(disk=_disk(intensity=0.0), arms=(_arm(),))
    after = clean_up(before)
    assert after.disk is None and after.arms == ()


def test_reframe_arm_round_trip() -> None:
    arm = _arm()
    moved = reframe_arm(reframe_arm(arm, 0.7, length_factor=1.3), -0.7, length_factor=1 / 1.3)
    assert moved.fit is not None and arm.fit is not None
    assert moved.fit.a == pytest.approx(arm.fit.a)
    assert moved.fit.t_min == pytest.approx(arm.fit.t_min)
    drawn = SpiralArm(np.array([[1.0, 2.0], [3.0, 4.0]]), 0.2, 1.0)
    assert reframe_arm(drawn, 0.5) is drawn


def test_cleaned_fit_vector_renders_as_fitted() -> None:
    """to_model + clean_up of a vector with q > 1 and roll outside [0, π) (disk, bulge, bar,
    fitted arms) renders the image the fit saw, with the disk folded and every roll wrapped."""
    bar = SersicComponent(mux=31, muy=32, roll=0.5, re=4.0, q=0.3, intensity=0.5, n=0.8, c=3)
    bulge = SersicComponent(mux=31, muy=32, roll=0.2, re=2.5, q=0.9, intensity=0.6, n=1.5)
    start = GalaxyModel(disk=_disk(), bulge=bulge, bar=bar, arms=(_arm(), _arm(0.3, -1)))
    space = ParameterSpace.from_model(start, SHAPE, oversample=3)  # same lattice both ways
    x = space.x0.copy()
    changes = {"disk.q": 1.15, "disk.roll": 3.6, "bulge.q": 1.1, "bar.roll": -0.4}
    for name, value in changes.items():
        x[space.index(name)] = value
    cleaned = clean_up(space.to_model(x))
    assert cleaned.disk is not None and cleaned.bulge is not None and cleaned.bar is not None
    assert cleaned.disk.q == pytest.approx(1 / 1.15) and cleaned.bulge.q == pytest.approx(1 / 1.1)
    for comp in cleaned.components().values():
        assert 0.0 <= comp.roll < math.pi
    fitted = space.render(x)
    rendered = render_model(cleaned, SHAPE, oversample=3)
    np.testing.assert_allclose(rendered, fitted, rtol=1e-6, atol=1e-9 * fitted.max())
