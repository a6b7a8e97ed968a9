"""The true galaxy of a simulated subject, and its observed image.

:func:`make_galaxy` draws a disk, with a bulge, a bar and 0–4 logarithmic spiral arms at
realistic rates and within the bounds of spec §4.1; :func:`observe` renders it with gzbcat's
own renderer (spec §7), convolves it with the set-up's PSF and adds Gaussian noise of
σ² = sky² + k·model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from gzbcat.model import GalaxyModel, LogSpiralFit, SersicComponent, SpiralArm
from gzbcat.rendering import intensity_from_luminosity, render_model
from gzbcat.simulate.setups import ImageSetup

__all__ = [
    "ARM_COUNT_WEIGHTS",
    "PITCH_RANGE_DEG",
    "P_BAR",
    "P_BULGE",
    "Observation",
    "log_spiral_image_points",
    "make_galaxy",
    "observe",
]

P_BULGE = 0.6  # galaxies with a bulge
P_BAR = 0.35  # galaxies with a bar (GZ2 strong + weak bars in spiral samples)
ARM_COUNT_WEIGHTS = (0.12, 0.08, 0.52, 0.16, 0.12)  # P(0, 1, 2, 3, 4 arms): grand design first
PITCH_RANGE_DEG = (5.0, 40.0)  # arm pitch angles are kept in this range (degrees)


def log_spiral_image_points(
    fit: LogSpiralFit, disk: SersicComponent, theta: np.ndarray
) -> np.ndarray:
    """Image-frame points of a log spiral placed with its disk, at disk-plane angles ``theta``.

    ``ρ = a·exp(θ·tan φ)`` with φ = chirality·pitch, in the disk plane, projected as
    ``Rot(roll)·diag(q, 1)·ρ(cos θ, sin θ) + centre`` (spec §6.9, §7.4): the same placement
    the renderer uses for fitted arms, computed here for arbitrary θ samples (hand-drawn arms
    are not sampled evenly).

    Returns
    -------
    numpy.ndarray
        (len(theta), 2) points (x, y), image pixels.
    """
    theta = np.asarray(theta, dtype=np.float64)
    tan_phi = math.tan(math.radians(fit.chirality * fit.pitch_angle_deg))
    rho = fit.a * np.exp(theta * tan_phi)
    px, py = rho * np.cos(theta) * disk.q, rho * np.sin(theta)
    cr, sr = math.cos(disk.roll), math.sin(disk.roll)
    return np.column_stack((disk.mux + cr * px - sr * py, disk.muy + sr * px + cr * py))


def _arm_fits(
    rng: np.random.Generator,
    disk: SersicComponent,
    bar: SersicComponent | None,
    size: int,
    pitch_deg: float | None = None,
) -> list[LogSpiralFit]:
    """0–4 log-spiral arms of one galaxy: one pitch and chirality, evenly spaced in phase.

    The galaxy's pitch is ``pitch_deg`` when given, else drawn from 10°–30° (the draw is made
    either way, so the rest of the galaxy does not depend on where its pitch came from); each
    arm scatters about it by 1.5° within :data:`PITCH_RANGE_DEG`. Arms start at the end of the
    bar (or at 0.2–0.45 Re without one) and run out to 1.6–2.4 disk Re, at most 0.45 of the
    cutout and at most 1.6π in angle.
    """
    n_arms = int(rng.choice(len(ARM_COUNT_WEIGHTS), p=ARM_COUNT_WEIGHTS))
    if n_arms == 0:
        return []
    pitch = float(rng.uniform(10.0, 30.0))
    if pitch_deg is not None:
        pitch = abs(float(pitch_deg))
    chirality = 1 if rng.random() < 0.5 else -1
    phase = float(rng.uniform(0.0, 2 * math.pi))
    fits = []
    for k in range(n_arms):
        arm_pitch = float(np.clip(pitch + rng.normal(0.0, 1.5), *PITCH_RANGE_DEG))
        tan_phi = math.tan(math.radians(arm_pitch))
        if bar is not None:
            r_start = bar.re * float(rng.uniform(1.0, 1.3))
        else:
            r_start = disk.re * float(rng.uniform(0.2, 0.45))
        r_end = min(disk.re * float(rng.uniform(1.6, 2.4)), 0.45 * size)
        span = min(math.log(max(r_end / r_start, 1.5)) / tan_phi, 1.6 * math.pi)
        span = max(span, 0.5 * math.pi)
        theta0 = phase + 2 * math.pi * k / n_arms + float(rng.normal(0.0, 0.15))
        a = r_start * math.exp(-theta0 * chirality * tan_phi)
        if chirality > 0:
            t_min, t_max = theta0, theta0 + span
        else:
            t_min, t_max = theta0 - span, theta0
        fits.append(LogSpiralFit(a, arm_pitch, chirality, t_min, t_max))
    return fits


def make_galaxy(
    rng: np.random.Generator, shape: tuple[int, int], *, pitch_deg: float | None = None
) -> GalaxyModel:
    """Draw a realistic galaxy for a cutout of ``shape``, in the image frame.

    A disk always; a bulge in 60 % and a bar in 35 % of galaxies; 0–4 arms weighted toward
    two (:data:`ARM_COUNT_WEIGHTS`). Sizes follow from the cutout being four Petrosian radii
    wide (spec §2.1): disk Re is 0.17–0.25 of the width (the worked example has 0.23); the
    bulge holds 4–30 % and the bar 3–15 % of the light; every parameter is inside the
    sanitising bounds of spec §4.1, so the truth is a model the pipeline can express.
    Intensities are relative here (disk luminosity 1); :func:`observe` scales them so that the
    image peaks at 1, the fit-target units of spec §2.4.

    Parameters
    ----------
    rng
        The generator every draw comes from.
    shape
        (H, W) of the cutout, image pixels.
    pitch_deg
        The pitch-angle magnitude its arms scatter about (degrees; a real galaxy's, see
        :mod:`gzbcat.simulate.reference`), or None to draw one. The same random numbers are
        drawn either way, so the disk, bulge, bar and arm count do not depend on it.
    """
    height, width = shape
    size = min(height, width)
    mux = (width - 1) / 2 + float(rng.normal(0.0, 1.0))
    muy = (height - 1) / 2 + float(rng.normal(0.0, 1.0))
    disk_re = size * float(rng.uniform(0.17, 0.25))
    disk_q = float(rng.uniform(0.45, 0.95))
    disk_roll = float(rng.uniform(0.0, math.pi))
    disk_i = intensity_from_luminosity(1.0, disk_re, disk_q, 1.0)
    disk = SersicComponent(mux, muy, disk_roll, disk_re, disk_q, disk_i, 1.0, 2.0)

    bulge = None
    if rng.random() < P_BULGE:
        fraction = float(rng.uniform(0.04, 0.3))
        re = disk_re * float(rng.uniform(0.08, 0.2))
        q = float(rng.uniform(0.65, 1.0))
        n = float(rng.uniform(1.0, 3.5))
        bulge = SersicComponent(
            mux + float(rng.normal(0.0, 0.3)),
            muy + float(rng.normal(0.0, 0.3)),
            float((disk_roll + rng.normal(0.0, 0.3)) % math.pi),
            re,
            q,
            intensity_from_luminosity(fraction / (1 - fraction), re, q, n),
            n,
            2.0,
        )
    bar = None
    if rng.random() < P_BAR:
        fraction = float(rng.uniform(0.03, 0.15))
        re = disk_re * float(rng.uniform(0.3, 0.6))
        q = float(rng.uniform(0.15, 0.4))
        n = float(rng.uniform(0.4, 1.0))
        c = float(rng.uniform(2.0, 3.5))
        bar = SersicComponent(
            mux + float(rng.normal(0.0, 0.3)),
            muy + float(rng.normal(0.0, 0.3)),
            float(rng.uniform(0.0, math.pi)),
            re,
            q,
            intensity_from_luminosity(fraction / (1 - fraction), re, q, n, c),
            n,
            c,
        )
    arms = []
    for fit in _arm_fits(rng, disk, bar, size, pitch_deg):
        theta = np.linspace(fit.t_min, fit.t_max, 100)
        arms.append(
            SpiralArm(
                points=log_spiral_image_points(fit, disk, theta),
                intensity=float(rng.uniform(0.3, 0.8)),
                spread=size * float(rng.uniform(0.009, 0.02)),
                falloff=1.0,
                fit=fit,
            )
        )
    return GalaxyModel(disk=disk, bulge=bulge, bar=bar, arms=tuple(arms))


def _scale_intensities(model: GalaxyModel, factor: float) -> GalaxyModel:
    """The same model ``factor`` times brighter (arm intensities are relative to the disk)."""
    parts = {
        name: comp.with_parameters(intensity=comp.intensity * factor)
        for name, comp in model.components().items()
    }
    return replace(model, **parts)


@dataclass(frozen=True, eq=False)
class Observation:
    """A simulated cutout.

    Attributes
    ----------
    model
        The true model, intensities in the units of ``image`` (fit-target units).
    image
        (H, W) noisy image; its largest unmasked pixel is exactly 1 (as in the real
        difference files, which are divided by their maximum).
    sigma
        (H, W) true 1σ of each pixel, ``sqrt(sky² + k·max(model, 0))``.
    sky_sigma, source_variance
        ``sky`` and ``k`` of that formula, in the units of ``image``.
    """

    model: GalaxyModel
    image: np.ndarray
    sigma: np.ndarray
    sky_sigma: float
    source_variance: float


def observe(rng: np.random.Generator, truth: GalaxyModel, setup: ImageSetup) -> Observation:
    """Render ``truth`` through the setup's PSF and add noise, in fit-target units.

    The model is rendered with gzbcat's renderer (spec §7) and scaled so that its noiseless
    peak is 1; Gaussian noise of σ² = sky² + k·max(model, 0) is added (sky noise plus the
    source's Poisson noise, spec §9); then image, σ and model intensities are divided by the
    largest unmasked noisy pixel, as Galaxy Builder divided each cutout by its maximum
    (``multiplier``), so the truth is in exactly the units of the image.
    """
    good = ~setup.mask
    noiseless = render_model(truth, setup.shape, setup.psf)
    peak = float(np.max(noiseless[good])) if good.any() else float(np.max(noiseless))
    noiseless = noiseless / peak
    sigma = np.sqrt(setup.sky_sigma**2 + setup.source_variance * np.maximum(noiseless, 0.0))
    noisy = noiseless + sigma * rng.standard_normal(setup.shape)
    top = float(np.max(noisy[good])) if good.any() else float(np.max(noisy))
    return Observation(
        model=_scale_intensities(truth, 1.0 / (peak * top)),
        image=noisy / top,
        sigma=sigma / top,
        sky_sigma=setup.sky_sigma / top,
        source_variance=setup.source_variance / top,
    )
