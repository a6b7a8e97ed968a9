"""Simulated volunteers drawing a known galaxy, for recovery tests and the benchmark.

Independent of the code under test: the truth is a disk (with optional bulge and bar) and
log-spiral arms ``r = a·exp(θ·tan φ)`` in the disk plane, projected onto the image with the
disk's roll and axis ratio (spec §6.9). Every volunteer copies the truth with Gaussian noise;
a few draw a wrong disk so that the clustering has outliers to reject. All draws come from the
``numpy.random.Generator`` passed in.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from gzbcat.model import GalaxyModel, SersicComponent, SpiralArm


@dataclass(frozen=True)
class TrueArm:
    """A log-spiral arm in the disk plane: r = a·exp(θ·chirality·tan(pitch)), θ ∈ [t_min, t_max]."""

    a_px: float
    pitch_angle_deg: float
    chirality: int
    t_min: float
    t_max: float


@dataclass(frozen=True)
class TrueGalaxy:
    """What the simulated volunteers are looking at."""

    disk: SersicComponent
    bulge: SersicComponent | None
    bar: SersicComponent | None
    arms: tuple[TrueArm, ...]
    image_shape: tuple[int, int]


def arm_points(disk: SersicComponent, arm: TrueArm, theta: np.ndarray) -> np.ndarray:
    """Image-frame points of a true arm at disk-plane angles ``theta`` (spec §6.9)."""
    r = arm.a_px * np.exp(theta * arm.chirality * math.tan(math.radians(arm.pitch_angle_deg)))
    x, y = r * np.cos(theta) * disk.q, r * np.sin(theta)
    c, s = math.cos(disk.roll), math.sin(disk.roll)
    return np.column_stack((disk.mux + c * x - s * y, disk.muy + s * x + c * y))


def two_arm_galaxy(
    *,
    pitch_angle_deg: float = 18.0,
    chirality: int = 1,
    image_shape: tuple[int, int] = (160, 160),
    n_arms: int = 2,
) -> TrueGalaxy:
    """A galaxy with a disk, bulge, bar and ``n_arms`` symmetric arms (r from ~10 to ~55 px)."""
    height, width = image_shape
    disk = SersicComponent(
        mux=width / 2 + 0.3, muy=height / 2 - 0.4, roll=1.2, re=40.0, q=0.6, intensity=0.2
    )
    bulge = SersicComponent(
        mux=disk.mux, muy=disk.muy, roll=0.3, re=5.0, q=0.8, intensity=0.5, n=2.0
    )
    bar = SersicComponent(
        mux=disk.mux, muy=disk.muy, roll=0.7, re=12.0, q=0.3, intensity=0.3, n=0.6, c=3.0
    )
    tan_phi = math.tan(math.radians(pitch_angle_deg))
    span = math.log(55.0 / 10.0) / tan_phi  # θ range that takes r from 10 to 55 px
    arms = []
    for k in range(n_arms):
        offset = 2.0 * math.pi * k / n_arms
        t_min = chirality * offset
        # r = a·exp(chirality·tanφ·θ) = 10 px at θ = t_min.
        a = 10.0 * math.exp(-tan_phi * offset)
        t0, t1 = (t_min, t_min + span) if chirality > 0 else (t_min - span, t_min)
        arms.append(TrueArm(a, pitch_angle_deg, chirality, t0, t1))
    return TrueGalaxy(disk, bulge, bar, tuple(arms), image_shape)


def _noisy(
    comp: SersicComponent,
    rng: np.random.Generator,
    *,
    centre_px: float,
    roll_rad: float,
    re_frac: float,
    q_sd: float,
    q_bounds: tuple[float, float],
) -> SersicComponent:
    q = float(np.clip(comp.q + rng.normal(0, q_sd), *q_bounds))
    return SersicComponent(
        mux=comp.mux + rng.normal(0, centre_px),
        muy=comp.muy + rng.normal(0, centre_px),
        roll=(comp.roll + rng.normal(0, roll_rad)) % math.pi,
        re=comp.re * (1 + rng.normal(0, re_frac)),
        q=q,
        intensity=comp.intensity * rng.uniform(0.5, 1.5),
        n=comp.n,
        c=comp.c,
    )


def simulate_volunteers(
    truth: TrueGalaxy,
    rng: np.random.Generator,
    *,
    n_volunteers: int = 30,
    p_disk: float = 0.9,
    p_bulge: float = 0.7,
    p_bar: float = 0.6,
    p_arm: float = 0.8,
    n_wrong_disks: int = 3,
    arm_noise_px: float = 1.0,
) -> list[GalaxyModel]:
    """Volunteer models of ``truth``: noisy copies, each part drawn with its probability.

    Disks have 1.5 px centre, 5° roll, 8 % Re and 0.04 q scatter; ``n_wrong_disks`` of the
    volunteers instead draw a disk twice the size and off centre. Arms are poly-lines of 20–80
    points sampled evenly in θ over a random 70–100 % of the true arm, with isotropic Gaussian
    noise of ``arm_noise_px``.
    """
    models = []
    for v in range(n_volunteers):
        disk = None
        if rng.random() < p_disk:
            disk = _noisy(
                truth.disk,
                rng,
                centre_px=1.5,
                roll_rad=math.radians(5),
                re_frac=0.08,
                q_sd=0.04,
                q_bounds=(0.25, 1.0),
            )
            if v < n_wrong_disks:
                disk = disk.with_parameters(
                    re=2.0 * disk.re, mux=disk.mux + 15.0, q=min(1.0, disk.q + 0.3)
                )
        bulge = None
        if truth.bulge is not None and rng.random() < p_bulge:
            bulge = _noisy(
                truth.bulge,
                rng,
                centre_px=0.7,
                roll_rad=0.5,
                re_frac=0.1,
                q_sd=0.05,
                q_bounds=(0.6, 1.0),
            )
        bar = None
        if truth.bar is not None and rng.random() < p_bar:
            bar = _noisy(
                truth.bar,
                rng,
                centre_px=0.8,
                roll_rad=math.radians(4),
                re_frac=0.1,
                q_sd=0.03,
                q_bounds=(0.05, 0.5),
            )
        arms = []
        for arm in truth.arms:
            if rng.random() >= p_arm:
                continue
            span = arm.t_max - arm.t_min
            lo = arm.t_min + rng.uniform(0.0, 0.15) * span
            hi = arm.t_max - rng.uniform(0.0, 0.15) * span
            n = int(rng.integers(20, 81))
            points = arm_points(truth.disk, arm, np.linspace(lo, hi, n))
            points = points + rng.normal(0, arm_noise_px, points.shape)
            if rng.random() < 0.5:  # volunteers draw from either end
                points = points[::-1]
            arms.append(SpiralArm(points=points, intensity=0.5, spread=2.0))
        models.append(GalaxyModel(disk=disk, bulge=bulge, bar=bar, arms=tuple(arms)))
    return models


def random_shapes(rng: np.random.Generator, n: int, centre: tuple[float, float]) -> np.ndarray:
    """(n, 5) random ``(mux, muy, re, q, roll)`` around ``centre``, q on both sides of 1."""
    return np.column_stack(
        (
            rng.normal(centre[0], 4, n),
            rng.normal(centre[1], 4, n),
            rng.uniform(2, 15, n),
            rng.uniform(0.1, 1.2, n),
            rng.uniform(-3, 6, n),
        )
    )
