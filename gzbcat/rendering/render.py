"""Render a :class:`~gzbcat.model.GalaxyModel` to an image (spec §7).

This is the renderer for models in their own parameters (I, re, …): volunteer drawings,
aggregates and tuned models; the reference's ``calculate_model``. The fit renders through
:mod:`gzbcat.fitting.parameters`, which reuses the same pieces.

What differs between the methods is listed in :mod:`gzbcat.rendering.rules`.
"""

from __future__ import annotations

import numpy as np

from gzbcat.model import GalaxyModel, Method, SersicComponent, SpiralArm
from gzbcat.rendering.psf import psf_operator
from gzbcat.rendering.rules import RENDERING_RULES, Oversample
from gzbcat.rendering.sersic import render_sersic
from gzbcat.rendering.spiral import arm_image_vjp, arm_ridges, log_spiral_points

__all__ = ["arm_polyline", "default_oversample", "render_components", "render_model"]


def default_oversample(method: Method) -> Oversample:
    """The pixel integration each method uses unless told otherwise (spec §7.1)."""
    return RENDERING_RULES[method].default_oversample


def arm_polyline(
    arm: SpiralArm,
    disk: SersicComponent | None,
    *,
    base_roll: float | None = None,
    method: Method = Method.CORRECTED,
) -> np.ndarray:
    """Return the poly-line an arm is drawn along, image pixels.

    A fitted arm (``arm.fit`` set) is the log spiral placed with the disk (spec §6.9, §7.4);
    a drawn arm (no fit, or no disk to place it with) is its own ``points``.
    """
    if arm.fit is None or disk is None:
        return arm.points
    fit = arm.fit
    points, _ = log_spiral_points(
        fit.a,
        fit.chirality * fit.pitch_angle_deg,
        fit.t_min,
        fit.t_max,
        disk,
        base_roll=base_roll,
        method=method,
        jacobian=False,
    )
    return points


def render_components(
    model: GalaxyModel,
    shape: tuple[int, int],
    *,
    method: Method = Method.CORRECTED,
    oversample: Oversample | None = None,
    base_roll: float | None = None,
) -> dict[str, np.ndarray]:
    """Render each part of a model, before the PSF.

    Parameters
    ----------
    model
        The model, image frame.
    shape
        (H, W) of the images.
    method
        ``corrected`` or ``reference`` (see :mod:`gzbcat.rendering.rules`).
    oversample
        Sérsic pixel integration; None picks :func:`default_oversample`.
    base_roll
        Disk roll the fitted arms were measured at (spec §8.6); None: the current disk roll.

    Returns
    -------
    dict
        ``disk``, ``bulge``, ``bar`` (those present) and ``arm0``, ``arm1``, … (one per arm,
        zeros where the arm cannot be drawn: no disk, fewer than 2 points, I ≤ 0 or
        spread ≤ 0), each (H, W) float64.
    """
    sampling = default_oversample(method) if oversample is None else oversample
    images: dict[str, np.ndarray] = {}
    for name, comp in model.components().items():
        if comp.intensity == 0:
            images[name] = np.zeros(shape)
        else:
            images[name] = render_sersic(comp, shape, oversample=sampling, method=method)
    profiles: dict[float, np.ndarray] = {}
    disk = model.disk
    drawable: list[tuple[np.ndarray, float] | None] = []
    for arm in model.arms:
        points = arm_polyline(arm, disk, base_roll=base_roll, method=method)
        ok = disk is not None and len(points) >= 2 and arm.intensity > 0 and arm.spread > 0
        drawable.append((points, float(arm.spread)) if ok else None)
    ridges = arm_ridges(drawable, shape)
    for index, arm in enumerate(model.arms):
        key = f"arm{index}"
        line = drawable[index]
        if line is None or disk is None:
            images[key] = np.zeros(shape)
            continue
        falloff = max(float(arm.falloff), 1e-5)
        if falloff not in profiles:
            profile_sampling = RENDERING_RULES[method].arm_profile_oversample
            if profile_sampling is None and falloff == 1.0:
                profiles[falloff] = images["disk"]
            else:
                profiles[falloff] = render_sersic(
                    disk.with_parameters(re=disk.re / falloff),
                    shape,
                    oversample=sampling if profile_sampling is None else profile_sampling,
                    method=method,
                )
        images[key], _, _ = arm_image_vjp(
            line[0], arm.intensity, arm.spread, profiles[falloff], ridge=ridges[index]
        )
    return images


def render_model(
    model: GalaxyModel,
    shape: tuple[int, int],
    psf: np.ndarray | None = None,
    *,
    method: Method = Method.CORRECTED,
    oversample: Oversample | None = None,
    base_roll: float | None = None,
) -> np.ndarray:
    """Render a whole model: the sum of its parts, convolved with the PSF.

    Parameters
    ----------
    model, shape, method, oversample, base_roll
        As :func:`render_components`.
    psf
        (k, k) kernel with odd sides, or None for no PSF.

    Returns
    -------
    numpy.ndarray
        (H, W) float64 image in the model's intensity units.
    """
    parts = render_components(
        model, shape, method=method, oversample=oversample, base_roll=base_roll
    )
    images = iter(parts.values())
    total = next(images, None)
    if total is None:
        total = np.zeros(shape)
    else:
        total = total.copy()  # the first part may be shared (the arms' disk profile)
        for image in images:
            total += image
    if psf is None:
        return total
    return psf_operator(psf, shape, method=method)(total)
