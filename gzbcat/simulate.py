"""Synthetic Galaxy Builder samples with known truth, written exactly as Zooniverse exports them.

Real volunteer classifications for most subjects are not public, yet tests, the demo and every
benchmark need samples of any size whose right answer is known. :func:`simulate` writes, into
one folder, what a Zooniverse project gives its owner, plus the truth:

``subjects.csv``
    The subject export (spec §2.1 columns); ``locations`` names, relative to the folder, the
    frame-0 difference JSON, the frame-1 PNG shown to volunteers and the frame-2 model JSON of
    ``subjects/<subject_id>/`` (spec §2.4).
``fitting-metadata/<subject_id>.json``
    The per-subject fit target with its σ image, pixel mask (True = good), PSF, ``size_diff``,
    ``multiplier`` and ``rotation_correction`` (spec §2.4).
``classifications.csv``
    The classification export in the layout of the real sample (spec §2.1) plus ``user_name``,
    ``user_id`` and ``metadata``; ``annotations`` is the annotation JSON of spec §2.2.
``truth.json``
    Per subject: the true model (image frame, :meth:`GalaxyModel.to_dict`), the noise and PSF
    used, and per classification what the volunteer meant to draw and what they drew.

The galaxy (:func:`make_galaxy`) is a disk, with a bulge, a bar and 0–4 logarithmic spiral
arms at realistic rates and within the bounds of spec §4.1; it is rendered with gzbcat's own
renderer (spec §7), convolved with a PSF and given Gaussian noise of σ² = sky² + k·model
(:func:`observe`). Image sizes, PSFs, masks and noise levels come from the real subjects in
``../shared/data/galaxy-builder`` when that folder is available, else from a built-in Moffat
PSF and 100–140 px images (:func:`builtin_setup`).

Volunteers (:func:`draw_volunteer`) draw in *model* space — the true components with the
scatter and biases people show (under-drawn bars, missed and spurious components, hand-drawn
arms over part of the true arm, untouched sliders) — and
:func:`~gzbcat.zooniverse.annotations.model_to_annotation`, the exact inverse of the parser,
turns the drawing into annotation JSON. A small fraction of classifications is junk: empty, or
malformed in a way the parser must reject.

Every random draw comes from one ``numpy.random.Generator`` seeded with ``seed``, and no value
depends on the clock or on dict order, so one seed always gives byte-identical files.
"""

from __future__ import annotations

import csv
import json
import logging
import math
import struct
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage

from gzbcat.model import GalaxyModel, LogSpiralFit, SersicComponent, SpiralArm
from gzbcat.rendering import intensity_from_luminosity, render_model
from gzbcat.settings import shared_data_dir
from gzbcat.zooniverse.annotations import CanvasFrame, model_to_annotation, sanitize_model
from gzbcat.zooniverse.exports import RowProblem, read_subject_export
from gzbcat.zooniverse.subject_files import read_difference_file

__all__ = [
    "CANVAS_PX",
    "SUBJECT_ID_BASE",
    "WORKFLOW_ID",
    "WORKFLOW_NAME",
    "WORKFLOW_VERSION",
    "ImageSetup",
    "Observation",
    "SimulationSummary",
    "VolunteerNotes",
    "builtin_setup",
    "draw_volunteer",
    "log_spiral_image_points",
    "make_galaxy",
    "moffat_psf",
    "observe",
    "real_setups",
    "simulate",
]

log = logging.getLogger(__name__)

CANVAS_PX = 512
"""Width of the Galaxy Builder drawing canvas, canvas pixels (spec §2.4 ``imageWidth``)."""

SUBJECT_ID_BASE = 80_000_000
"""Simulated subject ids are ``SUBJECT_ID_BASE + 1, + 2, …``: far from the real ids
(20901989–20902038, 40216827), so a simulated sample never overwrites real subjects."""

CLASSIFICATION_ID_BASE = 900_000_000
"""Simulated classification ids start above this, in the order the classifications were made."""

WORKFLOW_ID = 5366
WORKFLOW_NAME = "Main modelling workflow"
WORKFLOW_VERSION = "61.107"
SUBJECT_SET_ID = 20561
"""The main-run subject set (spec §2.1: exports are filtered to ≥ 20561 and ≠ 80112)."""

ARCSEC_PER_PX = 0.396
"""SDSS pixel scale; a cutout is 4 Petrosian radii wide (spec §2.1 pitfall)."""

# ---------------------------------------------------------------------------------------------
# Realism knobs. Rates are per galaxy (truth) or per classification (volunteers); scatters of
# positions are in *canvas* pixels because people place shapes to a few screen pixels whatever
# the cutout's size; fractional scatters are log-normal σ.
# ---------------------------------------------------------------------------------------------

P_BULGE = 0.6  # galaxies with a bulge
P_BAR = 0.35  # galaxies with a bar (GZ2 strong + weak bars in spiral samples)
ARM_COUNT_WEIGHTS = (0.12, 0.08, 0.52, 0.16, 0.12)  # P(0, 1, 2, 3, 4 arms): grand design first

P_DRAW = {"disk": 0.97, "bulge": 0.85, "bar": 0.7, "arm": 0.8}  # a true part is drawn
P_SPURIOUS = {"bulge": 0.06, "bar": 0.03, "arm": 0.03}  # a part that is not there is drawn
P_WRONG_DISK = 0.05  # the disk is drawn around the faint outer envelope instead
BAR_LENGTH_BIAS = 0.8  # volunteers under-draw bars by ~20 % (the notebook's aggregate bar)
CENTRE_SD_CANVAS = {"disk": 6.0, "bulge": 3.0, "bar": 3.5}
RE_SD_FRACTION = {"disk": 0.10, "bulge": 0.15, "bar": 0.10}
ROLL_SD_DEG = {"disk": 6.0, "bulge": 25.0, "bar": 5.0}
Q_SD = {"disk": 0.05, "bulge": 0.07, "bar": 0.04}
ARM_WOBBLE_SD_CANVAS = 2.5  # smooth, hand-drawn deviation from the true ridge
ARM_JITTER_SD_CANVAS = 0.4  # point-to-point jitter of the mouse
ARM_POINTS_RANGE = (20, 150)
P_WHOLE_ARM = 0.3  # the arm is traced over its whole length, not a sub-range
P_ARM_REVERSED = 0.25  # traced from the outside in
JUNK_FRACTION = 0.02  # classifications that are junk: half empty, half malformed
P_SLIDER_MOVED = {"scale": 0.3, "intensity": 0.6, "n": 0.4, "c": 0.4, "arm": 0.4, "falloff": 0.3}

# Slider ranges on the web interface (spec §2.2 table of observed values), raw slider units.
SLIDER_RANGE = {
    "scale": (0.2, 2.0),
    "disk_intensity": (0.0, 1.0),
    "bulge_intensity": (0.0, 2.0),
    "bulge_n": (0.5, 5.0),
    "bar_intensity": (0.0, 1.0),
    "bar_n": (0.3, 2.0),
    "bar_c": (1.0, 4.0),
    "arm_intensity": (0.0, 1.0),
    "arm_spread": (0.2, 2.0),
    "falloff": (0.2, 2.0),
}

# Slider positions in each task's ``value`` list (spec §2.2) and their untouched strings.
_SLIDER_INDEX = {"scale": 1, "intensity": 2, "n": 3, "c": 4}
_UNTOUCHED = {
    ("disk", "scale"): "1",
    ("disk", "intensity"): "0.2",
    ("bulge", "scale"): "1",
    ("bulge", "intensity"): "0.5",
    ("bulge", "n"): "1",
    ("bar", "scale"): "1",
    ("bar", "intensity"): "0.2",
    ("bar", "n"): "0.5",
    ("bar", "c"): "2",
}
_ARM_UNTOUCHED = {"intensity": "0.75", "spread": "1", "falloff": "1"}
_COMPONENT_INTENSITY_FACTOR = 1.6  # parse: I = slider / 1.6 (spec §3.3)
_ARM_INTENSITY_FACTOR = 0.8  # parse: arm I = slider / 0.8 (spec §3.5)

_ADJECTIVES = ("Stellar", "Cosmic", "Spiral", "Lunar", "Dusty", "Bright", "Quiet", "Red")
_NOUNS = ("Gazer", "Comet", "Nebula", "Quasar", "Pulsar", "Owl", "Fox", "Sailor")


# =============================================================================================
# Image setups: size, PSF, mask and noise of one subject
# =============================================================================================


@dataclass(frozen=True, eq=False)
class ImageSetup:
    """Everything about a subject's cutout except the galaxy in it.

    Attributes
    ----------
    shape
        (H, W) of the cutout, image pixels.
    psf
        (k, k) kernel, k odd, sum 1.
    mask
        (H, W) bool, **True = excluded** (other sources).
    sky_sigma
        Background 1σ before the image is normalised, in units of the noiseless peak.
    source_variance
        ``k`` of σ² = sky² + k·model (Poisson noise of the source), same units.
    multiplier
        What the cutout was divided by (spec §2.4), reported in the subject files.
    metadata
        The subject metadata to export (strings), or None to make one up.
    source
        Where the setup came from: ``"builtin"`` or ``"like:<subject_id>"``.
    """

    shape: tuple[int, int]
    psf: np.ndarray
    mask: np.ndarray
    sky_sigma: float
    source_variance: float
    multiplier: float
    metadata: Mapping[str, Any] | None = None
    source: str = "builtin"


def moffat_psf(
    fwhm_px: float, *, beta: float = 4.765, size: int = 11, q: float = 1.0, angle: float = 0.0
) -> np.ndarray:
    """Return an elliptical Moffat PSF, normalised to sum 1 on an odd ``size`` square.

    A Moffat profile with β ≈ 4.765 (Trujillo et al. 2001) describes ground-based seeing, wings
    included, better than a Gaussian; SDSS cutouts of Galaxy Builder have 11 × 11 kernels.

    Parameters
    ----------
    fwhm_px
        Full width at half maximum along the major axis, pixels.
    beta
        Moffat exponent.
    size
        Side of the kernel, odd.
    q
        Axis ratio of the kernel (SDSS PSFs are only approximately round).
    angle
        Orientation of the major axis, radians counter-clockwise from +x.
    """
    if size % 2 != 1 or size < 1:
        raise ValueError(f"a PSF needs an odd size, not {size}")
    alpha = fwhm_px / (2.0 * math.sqrt(2.0 ** (1.0 / beta) - 1.0))
    half = size // 2
    y, x = np.mgrid[-half : half + 1, -half : half + 1].astype(np.float64)
    u = math.cos(angle) * x + math.sin(angle) * y
    v = (-math.sin(angle) * x + math.cos(angle) * y) / q
    kernel = (1.0 + (u * u + v * v) / (alpha * alpha)) ** (-beta)
    return kernel / kernel.sum()


def builtin_setup(rng: np.random.Generator) -> ImageSetup:
    """Draw an image setup without real data: a 100–140 px square cutout and a Moffat PSF.

    Seeing FWHM 1.0″–1.6″ (2.5–4 px, SDSS r), sky σ 0.4–3 % and source variance 1e-4–1e-3 of
    the peak (the range measured on the 50 real subjects), and in 60 % of cutouts one to
    three small masked stars away from the galaxy.
    """
    size = int(rng.integers(100, 141))
    psf = moffat_psf(
        float(rng.uniform(2.5, 4.0)),
        q=float(rng.uniform(0.9, 1.0)),
        angle=float(rng.uniform(0.0, math.pi)),
    )
    mask = np.zeros((size, size), dtype=bool)
    if rng.random() < 0.6:
        yy, xx = np.mgrid[0:size, 0:size]
        centre = (size - 1) / 2
        for _ in range(int(rng.integers(1, 4))):
            radius = float(rng.uniform(2.0, 6.0))
            distance = float(rng.uniform(0.3, 0.48)) * size
            angle = float(rng.uniform(0.0, 2 * math.pi))
            cx = centre + distance * math.cos(angle)
            cy = centre + distance * math.sin(angle)
            mask |= (xx - cx) ** 2 + (yy - cy) ** 2 <= radius**2
    return ImageSetup(
        shape=(size, size),
        psf=psf,
        mask=mask,
        sky_sigma=float(math.exp(rng.uniform(math.log(0.004), math.log(0.03)))),
        source_variance=float(math.exp(rng.uniform(math.log(1e-4), math.log(1e-3)))),
        multiplier=round(float(rng.uniform(0.6, 7.5)), 6),
    )


def _galaxy_builder_dir(like: Path) -> Path:
    """``like`` itself, or its ``galaxy-builder`` folder when given the shared-data root."""
    like = Path(like)
    if not (like / "subjects.csv").is_file() and (like / "galaxy-builder").is_dir():
        return like / "galaxy-builder"
    return like


def _real_subject_files(root: Path) -> list[tuple[int, Path, dict[str, Any] | None]]:
    """(subject id, difference file, metadata) of each real subject, by subject id."""
    found: dict[int, tuple[Path, dict[str, Any] | None]] = {}
    export = root / "subjects.csv"
    if export.is_file():
        for row in read_subject_export(export):
            if isinstance(row, RowProblem) or "0" not in row.locations:
                continue
            path = root / row.locations["0"]
            if path.is_file():
                found[row.subject_id] = (path, json.loads(row.metadata_raw))
    else:
        for path in sorted(root.glob("**/difference.json")):
            if path.parent.name.isdigit():
                meta_path = path.parent / "metadata.json"
                metadata = json.loads(meta_path.read_text()) if meta_path.is_file() else None
                found[int(path.parent.name)] = (path, metadata)
    return [(sid, *found[sid]) for sid in sorted(found)]


def real_setups(like: Path, count: int) -> list[ImageSetup]:
    """Read up to ``count`` real subjects' sizes, PSFs, masks and noise levels.

    Parameters
    ----------
    like
        A Galaxy Builder folder: one with ``subjects.csv`` whose ``locations`` name
        difference files (``../shared/data/galaxy-builder``), or any folder holding
        ``<subject_id>/difference.json`` files, or the shared-data root above it.
    count
        How many setups are needed; the first ``count`` subjects by id are read (the caller
        cycles through them).

    Returns
    -------
    list of ImageSetup
        Empty when the folder holds no readable subject. The noise level is that of the real
        image: ``sky_sigma`` is the smallest σ of
        :func:`~gzbcat.zooniverse.subject_files.estimate_sigma` (the background term) and
        ``source_variance`` = (σ_max² − sky²) / max(image), the source term at the peak.
    """
    setups = []
    for subject_id, path, metadata in _real_subject_files(_galaxy_builder_dir(like))[:count]:
        image = read_difference_file(path, subject_id=subject_id)
        sigma = image.sigma if image.sigma is not None else np.full(image.image.shape, 0.01)
        good = ~image.mask
        sky = float(np.min(sigma[good])) if good.any() else float(np.min(sigma))
        peak = float(np.max(image.image[good])) if good.any() else 1.0
        top = float(np.max(sigma[good])) if good.any() else sky
        k = max(0.0, (top * top - sky * sky) / peak) if peak > 0 else 0.0
        meta = dict(metadata) if metadata is not None else None
        if meta is not None:
            meta["#isFake"] = True
            meta["#subject_reference"] = subject_id
        setups.append(
            ImageSetup(
                shape=(image.height, image.width),
                psf=image.psf,
                mask=image.mask.copy(),
                sky_sigma=sky / peak if peak > 0 else sky,
                source_variance=k / peak if peak > 0 else k,
                multiplier=float(image.multiplier),
                metadata=meta,
                source=f"like:{subject_id}",
            )
        )
    return setups


# =============================================================================================
# The true galaxy
# =============================================================================================


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
    rng: np.random.Generator, disk: SersicComponent, bar: SersicComponent | None, size: int
) -> list[LogSpiralFit]:
    """0–4 log-spiral arms of one galaxy: one pitch and chirality, evenly spaced in phase.

    Arms start at the end of the bar (or at 0.2–0.45 Re without one) and run out to
    1.6–2.4 disk Re, at most 0.45 of the cutout and at most 1.6π in angle.
    """
    n_arms = int(rng.choice(len(ARM_COUNT_WEIGHTS), p=ARM_COUNT_WEIGHTS))
    if n_arms == 0:
        return []
    pitch = float(rng.uniform(10.0, 30.0))
    chirality = 1 if rng.random() < 0.5 else -1
    phase = float(rng.uniform(0.0, 2 * math.pi))
    fits = []
    for k in range(n_arms):
        arm_pitch = float(np.clip(pitch + rng.normal(0.0, 1.5), 5.0, 40.0))
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


def make_galaxy(rng: np.random.Generator, shape: tuple[int, int]) -> GalaxyModel:
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
    for fit in _arm_fits(rng, disk, bar, size):
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


# =============================================================================================
# Volunteers
# =============================================================================================


@dataclass(frozen=True)
class ArmNote:
    """Which part of which true arm a drawn arm traces (``truth_arm`` None: a spurious arm)."""

    truth_arm: int | None
    t_min: float
    t_max: float
    reversed: bool
    n_points: int


@dataclass(frozen=True, eq=False)
class VolunteerNotes:
    """What a simulated volunteer meant to draw and drew, for tests and benchmarks.

    Attributes
    ----------
    kind
        ``"normal"``, ``"empty"`` (nothing drawn: parses to an empty model) or
        ``"malformed"`` (the parser must reject it).
    breakage
        For a malformed classification, what is wrong with it.
    parts
        Per component name: ``"true"`` (drawn around the true component), ``"spurious"`` (a
        component the galaxy does not have), ``"wrong"`` (the disk drawn around the outer
        envelope) or ``"missed"`` (a true component not drawn). Components neither in the
        truth nor drawn are absent.
    target
        The noiseless shapes the volunteer aimed at: the true components with the drawing
        biases (bar length × :data:`BAR_LENGTH_BIAS`), image frame; arms are in ``arms``.
    drawn
        The sanitised model the parser returns for this drawing (to rounding; arm points are
        written with 0.1 canvas px, as the web interface records them); None for junk.
    arms
        One note per drawn arm, in drawing order.
    """

    kind: str
    breakage: str | None = None
    parts: dict[str, str] = field(default_factory=dict)
    target: GalaxyModel | None = None
    drawn: GalaxyModel | None = None
    arms: tuple[ArmNote, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values (used for ``truth.json``)."""
        return {
            "kind": self.kind,
            "breakage": self.breakage,
            "parts": dict(self.parts),
            "target": None if self.target is None else self.target.to_dict(),
            "drawn": None if self.drawn is None else _rounded_arms(self.drawn.to_dict()),
            "arms": [
                {
                    "truth_arm": a.truth_arm,
                    "t_min": a.t_min,
                    "t_max": a.t_max,
                    "reversed": a.reversed,
                    "n_points": a.n_points,
                }
                for a in self.arms
            ],
        }


def _rounded_arms(model: dict[str, Any]) -> dict[str, Any]:
    """A model dict with arm points rounded to 1e-4 px (the export itself holds 0.1 canvas
    px), which keeps ``truth.json`` small."""
    for arm in model["arms"]:
        arm["points"] = np.round(np.asarray(arm["points"]), 4).tolist()
    return model


def _slider(rng: np.random.Generator, p_moved: float, value: float, bounds: str) -> float | None:
    """A moved slider's value (2 decimals, inside its range), or None if left untouched."""
    if rng.random() >= p_moved:
        return None
    low, high = SLIDER_RANGE[bounds]
    return round(float(np.clip(value, low, high)), 2)


def _noisy_component(
    rng: np.random.Generator, name: str, comp: SersicComponent, canvas_to_image: float
) -> SersicComponent:
    """The shape of ``comp`` as a person draws it: centre, size, roll and q scattered."""
    centre_sd = CENTRE_SD_CANVAS[name] * canvas_to_image
    roll_sd = math.radians(ROLL_SD_DEG[name])
    if name == "disk":  # a near-round disk has a poorly defined roll
        roll_sd += math.radians(30.0) * max(0.0, comp.q - 0.85) / 0.15
    q = float(np.clip(comp.q + rng.normal(0.0, Q_SD[name]), 0.1, 1.0))
    return comp.with_parameters(
        mux=comp.mux + float(rng.normal(0.0, centre_sd)),
        muy=comp.muy + float(rng.normal(0.0, centre_sd)),
        roll=float((comp.roll + rng.normal(0.0, roll_sd)) % math.pi),
        re=comp.re * math.exp(float(rng.normal(0.0, RE_SD_FRACTION[name]))),
        q=q,
    )


def _component_sliders(
    rng: np.random.Generator, name: str, shape: SersicComponent, aim: SersicComponent | None
) -> tuple[SersicComponent, dict[str, float | None]]:
    """Slider settings of one drawn component, and the component they mean.

    ``aim`` is the true component whose brightness the volunteer tries to match (None for a
    spurious one, set at random). An untouched slider (None) means its default, which is
    what the parser reads from the default string.
    """
    sliders: dict[str, float | None] = {}
    lognormal = math.exp(float(rng.normal(0.0, 0.35)))
    if aim is not None:
        guess_i = aim.intensity * _COMPONENT_INTENSITY_FACTOR * lognormal
    else:
        guess_i = float(rng.uniform(0.05, 0.8))
    sliders["scale"] = _slider(rng, P_SLIDER_MOVED["scale"], float(rng.uniform(0.5, 1.8)), "scale")
    sliders["intensity"] = _slider(rng, P_SLIDER_MOVED["intensity"], guess_i, f"{name}_intensity")
    if name != "disk":
        true_n = aim.n if aim is not None else float(rng.uniform(0.5, 3.0))
        guess_n = true_n * math.exp(float(rng.normal(0.0, 0.3)))
        sliders["n"] = _slider(rng, P_SLIDER_MOVED["n"], guess_n, f"{name}_n")
    if name == "bar":
        true_c = aim.c if aim is not None else 2.0
        sliders["c"] = _slider(rng, P_SLIDER_MOVED["c"], true_c + rng.normal(0.0, 0.3), "bar_c")
    values = {
        key: float(_UNTOUCHED[(name, key)]) if value is None else value
        for key, value in sliders.items()
    }
    comp = shape.with_parameters(
        intensity=values["intensity"] / _COMPONENT_INTENSITY_FACTOR,
        n=values.get("n", 1.0),
        c=values.get("c", 2.0),
    )
    return comp, sliders


def _hand_drawn_arm(
    rng: np.random.Generator,
    fit: LogSpiralFit,
    disk: SersicComponent,
    t_min: float,
    t_max: float,
    canvas_to_image: float,
) -> np.ndarray:
    """A noisy poly-line along ``fit`` between disk-plane angles ``t_min`` and ``t_max``.

    The mouse samples the stroke at an uneven pace (gamma-distributed steps of 2–8 canvas px
    on average, 20–150 points); the hand wanders smoothly off the ridge (three random
    sinusoids across the arm) and jitters a little from point to point.
    """
    dense = log_spiral_image_points(fit, disk, np.linspace(t_min, t_max, 400))
    length_canvas = float(np.sum(np.hypot(*np.diff(dense, axis=0).T))) / canvas_to_image
    spacing = float(rng.uniform(2.0, 8.0))
    n = int(np.clip(round(length_canvas / spacing), *ARM_POINTS_RANGE))
    steps = rng.gamma(4.0, 1.0, n - 1)
    frac = np.concatenate(([0.0], np.cumsum(steps) / np.sum(steps)))
    theta = t_min + (t_max - t_min) * frac
    points = log_spiral_image_points(fit, disk, theta)
    # unit normals of the poly-line (central differences)
    tangent = np.gradient(points, axis=0)
    norm = np.hypot(tangent[:, 0], tangent[:, 1])
    norm[norm == 0] = 1.0
    normal = np.column_stack((-tangent[:, 1], tangent[:, 0])) / norm[:, None]
    wobble = np.zeros(n)
    for j in range(1, 4):
        amplitude = float(rng.normal(0.0, ARM_WOBBLE_SD_CANVAS / math.sqrt(3.0)))
        wobble += amplitude * np.sin(j * math.pi * frac + float(rng.uniform(0, 2 * math.pi)))
    points = points + normal * (wobble * canvas_to_image)[:, None]
    return points + rng.normal(0.0, ARM_JITTER_SD_CANVAS * canvas_to_image, points.shape)


def _arm_sliders(rng: np.random.Generator) -> dict[str, float | None]:
    return {
        "intensity": _slider(
            rng, P_SLIDER_MOVED["arm"], float(rng.uniform(0.1, 1.0)), "arm_intensity"
        ),
        "spread": _slider(rng, P_SLIDER_MOVED["arm"], float(rng.uniform(0.3, 2.0)), "arm_spread"),
    }


def _raw(value: float | None, untouched: str) -> Any:
    """A slider as the export holds it: the default string when untouched, else a number."""
    return untouched if value is None else value


def _write_sliders(
    annotation: list[dict[str, Any]],
    component_sliders: Mapping[str, Mapping[str, float | None]],
    arm_sliders: Sequence[Mapping[str, float | None]],
    falloff: float | None,
) -> None:
    """Put each slider's raw value (a number or the untouched string) into the annotation.

    :func:`model_to_annotation` writes values computed back from the model (e.g. I·1.6,
    which may differ from the slider's two-decimal value in the last bit); a real export holds
    the slider's own value, so it is written here exactly.
    """
    tasks = {task["task"]: task["value"] for task in annotation}
    for name, sliders in component_sliders.items():
        for key, value in sliders.items():
            tasks[name][_SLIDER_INDEX[key]]["value"] = _raw(value, _UNTOUCHED[(name, key)])
    for arm, sliders in zip(tasks["spiral"][0]["value"], arm_sliders, strict=True):
        arm["details"] = [
            {"value": _raw(sliders["intensity"], _ARM_UNTOUCHED["intensity"])},
            {"value": _raw(sliders["spread"], _ARM_UNTOUCHED["spread"])},
        ]
        for point in arm["points"]:  # the web interface records 0.1 canvas px
            point["x"] = round(point["x"], 1)
            point["y"] = round(point["y"], 1)
    tasks["spiral"][1]["value"] = _raw(falloff, _ARM_UNTOUCHED["falloff"])


def _break(rng: np.random.Generator, annotation: list[dict[str, Any]]) -> str:
    """Make a drawn annotation malformed in one of the ways the parser must reject."""
    tasks = {task["task"]: task["value"] for task in annotation}
    drawn = [name for name in ("disk", "bulge", "bar") if tasks[name][0]["value"]]
    arms = tasks["spiral"][0]["value"]
    options = ["spiral-not-a-list"]
    if drawn:
        options += ["missing-field", "undefined-slider"]
    if arms:
        options.append("null-point")
    breakage = options[int(rng.integers(len(options)))]
    if breakage == "missing-field":
        name = drawn[int(rng.integers(len(drawn)))]
        drawing = tasks[name][0]["value"][0]
        keys = ["x", "y", "angle"] + (["width", "height"] if name == "bar" else ["rx", "ry"])
        del drawing[keys[int(rng.integers(len(keys)))]]
    elif breakage == "undefined-slider":
        name = drawn[int(rng.integers(len(drawn)))]
        tasks[name][2]["value"] = "undefined"  # what a broken client serialised
    elif breakage == "null-point":
        arm = arms[int(rng.integers(len(arms)))]
        arm["points"][int(rng.integers(len(arm["points"])))]["x"] = None
    else:
        tasks["spiral"][0]["value"] = {"0": arms}  # an object where a list belongs
    return breakage


def draw_volunteer(
    rng: np.random.Generator,
    truth: GalaxyModel,
    frame: CanvasFrame,
    *,
    junk_fraction: float = JUNK_FRACTION,
) -> tuple[list[dict[str, Any]], VolunteerNotes]:
    """Simulate one volunteer's classification of ``truth``: annotation JSON and notes.

    The volunteer draws in model space, then
    :func:`~gzbcat.zooniverse.annotations.model_to_annotation` turns the drawing into the
    annotation JSON of spec §2.2 on the subject's canvas, so that gzbcat's parser gives back
    what was drawn (the parse conventions — disk Re × 2, outlines at 3 Re, I / 1.6, the y
    flip and the half-pixel shift — are inverted there, not here).

    What a volunteer does (rates in the module constants): draws the disk (97 %; 5 % of those
    around the faint envelope, 1.4–1.8 × too large), each true bulge (85 %), bar (70 %, about
    20 % too short) and arm (80 %); rarely adds a bulge, bar or arm that is not there; scatters
    centres by a few canvas pixels, Re by ~10 %, roll by ~6° and q by ~0.05; traces each arm
    over a random part of its length (the whole arm 30 % of the time) as a hand-drawn
    poly-line of 20–150 points; moves some sliders (intensities toward the truth) and leaves
    the others at their default strings. A ``junk_fraction`` of classifications is junk: half
    empty (nothing drawn), half malformed (:func:`_break`).

    Parameters
    ----------
    rng
        The generator every draw comes from.
    truth
        The true model, image frame, with arms carrying their log-spiral ``fit``.
    frame
        The subject's canvas geometry (the one the parser will use).
    junk_fraction
        Probability that the classification is junk.

    Returns
    -------
    annotations
        The four task objects (``json.dumps`` gives the export's ``annotations`` cell).
    notes
        What was meant and drawn (:class:`VolunteerNotes`).
    """
    if truth.disk is None:
        raise ValueError("a simulated galaxy always has a disk")
    junk = rng.random() < junk_fraction
    if junk and rng.random() < 0.5:
        return model_to_annotation(GalaxyModel(), frame), VolunteerNotes(kind="empty")

    s = 1.0 / frame.cutout_px_per_canvas_px  # canvas px per image px
    canvas_to_image = 1.0 / s
    parts: dict[str, str] = {}
    targets: dict[str, SersicComponent | None] = {"disk": None, "bulge": None, "bar": None}
    drawn: dict[str, SersicComponent | None] = {"disk": None, "bulge": None, "bar": None}
    component_sliders: dict[str, dict[str, float | None]] = {}
    true_disk = truth.disk

    for name in ("disk", "bulge", "bar"):
        true_comp: SersicComponent | None = getattr(truth, name)
        aim: SersicComponent | None = None
        if true_comp is not None:
            if rng.random() < P_DRAW[name]:
                parts[name] = "true"
                aim = true_comp
                if name == "bar":
                    aim = aim.with_parameters(re=aim.re * BAR_LENGTH_BIAS)
                if name == "disk" and rng.random() < P_WRONG_DISK:
                    parts[name] = "wrong"
                    aim = aim.with_parameters(
                        re=aim.re * float(rng.uniform(1.4, 1.8)),
                        q=min(1.0, aim.q + float(rng.uniform(0.0, 0.2))),
                    )
            else:
                parts[name] = "missed"
        elif name != "disk" and rng.random() < P_SPURIOUS[name]:
            parts[name] = "spurious"
            if name == "bulge":
                re = true_disk.re * float(rng.uniform(0.05, 0.15))
                aim = true_disk.with_parameters(re=re, q=float(rng.uniform(0.7, 1.0)))
            else:
                aim = true_disk.with_parameters(
                    re=true_disk.re * float(rng.uniform(0.25, 0.5)),
                    q=float(rng.uniform(0.2, 0.45)),
                    roll=float(rng.uniform(0.0, math.pi)),
                )
        if aim is None:
            continue
        targets[name] = aim
        shape = _noisy_component(rng, name, aim, canvas_to_image)
        comp, sliders = _component_sliders(
            rng, name, shape, true_comp if parts[name] != "spurious" else None
        )
        if name == "bulge":
            comp = comp.with_parameters(c=2.0)
        drawn[name] = comp
        component_sliders[name] = sliders

    arms: list[SpiralArm] = []
    arm_notes: list[ArmNote] = []
    arm_sliders: list[dict[str, float | None]] = []
    falloff: float | None = None
    if drawn["disk"] is not None:  # the spiral tool needs a disk (its task label says so)
        candidates: list[tuple[int | None, LogSpiralFit]] = [
            (index, arm.fit)
            for index, arm in enumerate(truth.arms)
            if arm.fit is not None and rng.random() < P_DRAW["arm"]
        ]
        if rng.random() < P_SPURIOUS["arm"]:
            theta0 = float(rng.uniform(0.0, 2 * math.pi))
            fit = LogSpiralFit(
                a=true_disk.re * float(rng.uniform(0.5, 1.2)) * math.exp(-theta0 * 0.3),
                pitch_angle_deg=math.degrees(math.atan(0.3)),
                chirality=1,
                t_min=theta0,
                t_max=theta0 + float(rng.uniform(0.6, 1.2)),
            )
            candidates.append((None, fit))
        falloff = _slider(rng, P_SLIDER_MOVED["falloff"], float(rng.uniform(0.3, 2.0)), "falloff")
        falloff_value = 1.0 if falloff is None else max(falloff, 1e-5)
        for index, fit in candidates:
            span = fit.t_max - fit.t_min
            if index is None or rng.random() < P_WHOLE_ARM:
                lo = fit.t_min + span * float(rng.uniform(0.0, 0.03))
                hi = fit.t_max - span * float(rng.uniform(0.0, 0.03))
            else:
                fraction = float(rng.uniform(0.4, 0.95))
                lo = fit.t_min + span * (1 - fraction) * float(rng.uniform(0.0, 1.0))
                hi = lo + span * fraction
            points = _hand_drawn_arm(rng, fit, true_disk, lo, hi, canvas_to_image)
            # Arms are traced outward from the centre, except by some volunteers.
            outward = fit.chirality > 0  # radius grows with θ for positive chirality
            reverse = rng.random() < P_ARM_REVERSED
            if outward == reverse:
                points = points[::-1]
            sliders = _arm_sliders(rng)
            intensity = sliders["intensity"]
            if intensity is None:
                intensity = float(_ARM_UNTOUCHED["intensity"])
            spread = sliders["spread"]
            if spread is None:
                spread = float(_ARM_UNTOUCHED["spread"])
            arms.append(
                SpiralArm(
                    points=points,
                    intensity=intensity / _ARM_INTENSITY_FACTOR,
                    spread=spread * canvas_to_image,
                    falloff=falloff_value,
                )
            )
            arm_notes.append(ArmNote(index, lo, hi, bool(reverse), len(points)))
            arm_sliders.append(sliders)

    model = GalaxyModel(
        disk=drawn["disk"], bulge=drawn["bulge"], bar=drawn["bar"], arms=tuple(arms)
    )
    scales = {
        name: (1.0 if sliders["scale"] is None else sliders["scale"])
        for name, sliders in component_sliders.items()
    }
    annotation = model_to_annotation(model, frame, sliders=scales)
    _write_sliders(annotation, component_sliders, arm_sliders, falloff)
    target = GalaxyModel(disk=targets["disk"], bulge=targets["bulge"], bar=targets["bar"])
    if junk:
        breakage = _break(rng, annotation)
        notes = VolunteerNotes(
            "malformed", breakage, parts, target, sanitize_model(model), tuple(arm_notes)
        )
        return annotation, notes
    return annotation, VolunteerNotes(
        "normal", None, parts, target, sanitize_model(model), tuple(arm_notes)
    )


# =============================================================================================
# Files
# =============================================================================================


@dataclass(frozen=True)
class SimulationSummary:
    """What :func:`simulate` wrote.

    Attributes
    ----------
    outdir
        The folder.
    subject_ids
        The simulated subjects, in order.
    n_classifications
        Rows of ``classifications.csv``.
    n_empty, n_malformed
        Junk rows: empty drawings (parse to an empty model) and malformed ones (the parser
        rejects them: ingest counts exactly these as parse errors).
    malformed_classification_ids
        The ids of the malformed rows.
    n_components
        Per part (``disk``, ``bulge``, ``bar``, ``arms``): how many the true galaxies have.
    image_source
        ``"builtin"`` or the folder the real subjects came from.
    files
        Every file written, relative to ``outdir``, sorted.
    """

    outdir: Path
    subject_ids: tuple[int, ...]
    n_classifications: int
    n_empty: int
    n_malformed: int
    malformed_classification_ids: tuple[int, ...]
    n_components: dict[str, int]
    image_source: str
    files: tuple[str, ...]


def _json_text(data: Any) -> str:
    """Compact JSON, as Zooniverse writes its cells (no spaces, insertion order)."""
    return json.dumps(data, separators=(",", ":"))


def _timestamp(moment: datetime) -> str:
    """'2019-03-05 14:02:11 UTC', the classification export's format."""
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def _iso(moment: datetime) -> str:
    """'2019-03-05T14:02:11.000Z', the format inside Zooniverse's JSON cells."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _made_up_metadata(
    rng: np.random.Generator, truth: GalaxyModel, shape: tuple[int, int]
) -> dict[str, Any]:
    """Subject metadata in Galaxy Builder's layout (values are strings), for a made-up galaxy.

    The Petrosian radius matches the cutout (4 Petrosian radii wide at 0.396″/px, spec §2.1)
    and is stored in arcseconds under the key that says degrees, as the real metadata is.
    """
    ra = float(rng.uniform(110.0, 260.0))
    dec = float(rng.uniform(-5.0, 65.0))
    redshift = float(rng.uniform(0.005, 0.06))
    axis_ratio = float(np.clip((truth.disk.q if truth.disk else 1.0) + rng.normal(0, 0.04), 0, 1))
    return {
        "ra": f"{ra:.6f}",
        "dec": f"{dec:.6f}",
        "redshift": f"{redshift:.6f}",
        "SDSS dr7 id": str(587720000000000000 + int(rng.integers(0, 10**13))),
        "Common name": "Unknown",
        "NSA id": str(int(rng.integers(1000, 700000))),
        "Estimated distance": f"{redshift} * c / H_0",
        "Petrosian radius (degrees)": f"{shape[1] * ARCSEC_PER_PX / 4:.6f}",
        "Run": str(int(rng.integers(94, 8163))),
        "Camcol": str(int(rng.integers(1, 7))),
        "Field": str(int(rng.integers(11, 800))),
        "Rerun": "301",
        "Sersic axis ratio": f"{axis_ratio:.6f}",
        "Url to view": "[View on SkyServer](+tab+http://skyserver.sdss.org/dr14/en/tools/chart/"
        f"navi.aspx?ra={ra}&dec={dec}&opt=F)",
        "#isModelling": True,
        "#models": [
            {"frame": 0, "model": "GALAXY_BUILDER_DIFFERENCE"},
            {"frame": 2, "model": "GALAXY_BUILDER_MODEL"},
        ],
        "#isFake": True,
    }


def _png(image: np.ndarray) -> bytes:
    """The frame-1 PNG shown to volunteers: asinh-stretched, 512 px wide, origin at the bottom.

    Spec §3.1: normalise to [0, 1], stretch ``asinh(x/0.1)/asinh(1/0.1)``, flip so that PNG
    row r shows cutout row H−1−r, resize to 512 × int(H/W·512) (cubic spline here, Lanczos
    in the original). Written with zlib by hand: no imaging library is needed.
    """
    low, high = float(np.min(image)), float(np.max(image))
    scaled = (image - low) / (high - low) if high > low else np.zeros_like(image)
    stretched = np.arcsinh(scaled / 0.1) / math.asinh(1 / 0.1)
    height, width = image.shape
    out_w, out_h = CANVAS_PX, int(height / width * CANVAS_PX)
    resized = ndimage.zoom(stretched[::-1], (out_h / height, out_w / width), order=3)
    pixels = np.clip(np.round(resized * 255), 0, 255).astype(np.uint8)
    raw = b"".join(b"\x00" + row.tobytes() for row in pixels)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    header = struct.pack(">IIBBBBB", pixels.shape[1], pixels.shape[0], 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 6))
        + chunk(b"IEND", b"")
    )


def _rounded(array: np.ndarray, digits: int = 7) -> list[Any]:
    """An array as nested lists of floats rounded to ``digits`` decimals (far below the noise,
    and files a third smaller)."""
    return np.round(array, digits).tolist()


def _write_subject_files(
    outdir: Path, subject_id: int, observation: Observation, setup: ImageSetup
) -> list[str]:
    """The frame-0 difference JSON, frame-1 PNG, frame-2 model JSON and fitting metadata."""
    height, width = setup.shape
    canvas_height = int(height / width * CANVAS_PX)
    folder = outdir / "subjects" / str(subject_id)
    folder.mkdir(parents=True, exist_ok=True)
    psf = setup.psf.tolist()
    shown = np.where(setup.mask, 0.0, observation.image)
    difference = {
        "psf": psf,
        "psfWidth": setup.psf.shape[1],
        "psfHeight": setup.psf.shape[0],
        "mask": setup.mask.astype(int).tolist(),
        "imageData": _rounded(shown),
        "multiplier": setup.multiplier,
        "width": width,
        "height": height,
        "imageWidth": CANVAS_PX,
        "imageHeight": canvas_height,
    }
    model_file = {
        "psf": psf,
        "psfWidth": setup.psf.shape[1],
        "psfHeight": setup.psf.shape[0],
        "width": width,
        "height": height,
        "imageWidth": CANVAS_PX,
        "imageHeight": canvas_height,
    }
    (folder / "difference.json").write_text(json.dumps(difference))
    (folder / "model.json").write_text(json.dumps(model_file))
    (folder / "image.png").write_bytes(_png(shown))
    metadata_dir = outdir / "fitting-metadata"
    metadata_dir.mkdir(parents=True, exist_ok=True)
    fitting = {
        "psf": psf,
        "pixel_mask": (~setup.mask).tolist(),
        # NaN at excluded pixels, as in the real files (json writes NaN; the reader accepts it)
        "galaxy_data": _rounded(np.where(setup.mask, np.nan, observation.image)),
        "sigma_image": _rounded(np.where(setup.mask, np.nan, observation.sigma), 8),
        "size_diff": width / CANVAS_PX,
        "multiplier": setup.multiplier,
        "rotation_correction": 0.0,
    }
    (metadata_dir / f"{subject_id}.json").write_text(json.dumps(fitting))
    relative = f"subjects/{subject_id}"
    return [
        f"{relative}/difference.json",
        f"{relative}/image.png",
        f"{relative}/model.json",
        f"fitting-metadata/{subject_id}.json",
    ]


def _users(rng: np.random.Generator, count: int) -> list[tuple[str, str]]:
    """A pool of (user_name, user_id) volunteers, ids unique and ascending."""
    ids = 100_000 + np.sort(rng.choice(2_000_000, size=count, replace=False))
    users = []
    for user_id in ids.tolist():
        word = _ADJECTIVES[int(rng.integers(len(_ADJECTIVES)))]
        noun = _NOUNS[int(rng.integers(len(_NOUNS)))]
        users.append((f"{word}{noun}{user_id % 1000}", str(user_id)))
    return users


def _resolve_like(like: Path | None, real_subjects: bool) -> Path | None:
    if like is not None:
        return Path(like)
    if not real_subjects:
        return None
    shared = shared_data_dir()
    return None if shared is None else shared / "galaxy-builder"


def simulate(
    outdir: Path,
    *,
    galaxies: int,
    volunteers: int,
    seed: int,
    like: Path | None = None,
    real_subjects: bool = True,
    junk_fraction: float = JUNK_FRACTION,
) -> SimulationSummary:
    """Write a synthetic Galaxy Builder sample with known truth into ``outdir``.

    Parameters
    ----------
    outdir
        Folder to write into (created if needed); existing files of the same names are
        replaced. See the module docstring for the files.
    galaxies
        Number of subjects.
    volunteers
        Classifications per subject, each by a different volunteer.
    seed
        Seed of the one ``numpy.random.Generator`` every draw comes from; the same seed
        (and the same real subjects) gives byte-identical files.
    like
        A Galaxy Builder folder whose real subjects lend their image sizes, PSFs, masks,
        noise levels and metadata (cycled through in subject-id order; see
        :func:`real_setups`). None: ``../shared/data/galaxy-builder`` when present.
    real_subjects
        False: use built-in setups (:func:`builtin_setup`) even when real subjects are
        available (ignored when ``like`` is given).
    junk_fraction
        Fraction of classifications that are junk (half empty, half malformed).

    Returns
    -------
    SimulationSummary

    Raises
    ------
    ValueError
        If ``galaxies`` or ``volunteers`` is negative, or ``like`` holds no readable subject.
    """
    if galaxies < 0 or volunteers < 0:
        raise ValueError("galaxies and volunteers must be ≥ 0")
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    like_dir = _resolve_like(like, real_subjects)
    setups: list[ImageSetup] = []
    if like_dir is not None and galaxies:
        setups = real_setups(like_dir, galaxies)
        if not setups:
            raise ValueError(f"{like_dir}: no readable Galaxy Builder subject found")
    image_source = "builtin" if not setups else str(like_dir)

    start = datetime(2019, 3, 1, tzinfo=UTC) + timedelta(seconds=int(rng.integers(0, 30 * 86400)))
    users = _users(rng, max(2 * volunteers, 50))
    weights = 1.0 / np.arange(1, len(users) + 1) ** 0.8  # a few volunteers do most of the work
    weights /= weights.sum()

    files: list[str] = []
    subject_rows: list[list[Any]] = []
    classifications: list[tuple[datetime, int, int, list[Any]]] = []
    truth_subjects: dict[str, Any] = {}
    counts = {"disk": 0, "bulge": 0, "bar": 0, "arms": 0}
    n_empty = 0
    malformed_rows: list[tuple[datetime, int, int]] = []

    for index in range(galaxies):
        subject_id = SUBJECT_ID_BASE + index + 1
        setup = setups[index % len(setups)] if setups else builtin_setup(rng)
        truth = make_galaxy(rng, setup.shape)
        observation = observe(rng, truth, setup)
        truth = observation.model
        for name in ("disk", "bulge", "bar"):
            counts[name] += getattr(truth, name) is not None
        counts["arms"] += len(truth.arms)
        files += _write_subject_files(outdir, subject_id, observation, setup)
        metadata = (
            dict(setup.metadata)
            if setup.metadata is not None
            else _made_up_metadata(rng, truth, setup.shape)
        )
        height, width = setup.shape
        frame = CanvasFrame(width, height, CANVAS_PX, int(height / width * CANVAS_PX))

        launched = start + timedelta(seconds=int(rng.integers(0, 3 * 86400)))
        gaps = rng.exponential(6 * 3600.0, volunteers)
        moments = [launched + timedelta(seconds=int(t)) for t in np.cumsum(gaps).tolist()]
        chosen = rng.choice(len(users), size=volunteers, replace=False, p=weights)
        retired_at = moments[-1] + timedelta(seconds=2) if moments else launched
        notes_by_row: list[tuple[int, VolunteerNotes]] = []
        for k in range(volunteers):
            annotation, notes = draw_volunteer(rng, truth, frame, junk_fraction=junk_fraction)
            user_name, user_id = users[int(chosen[k])]
            if rng.random() < 0.08:  # not logged in: no user id, a session-hash name
                user_name = "not-logged-in-" + "".join(
                    f"{int(b):02x}" for b in rng.integers(0, 256, 10)
                )
                user_id = ""
            duration = int(rng.integers(60, 900))
            moment = moments[k]
            retired = None
            if k == volunteers - 1:
                retired = {
                    "id": 50_000_000 + index + 1,
                    "workflow_id": WORKFLOW_ID,
                    "classifications_count": volunteers,
                    "created_at": _iso(retired_at),
                    "updated_at": _iso(retired_at),
                    "retired_at": _iso(retired_at),
                    "subject_id": subject_id,
                    "retirement_reason": "classification_count",
                }
            classification_metadata = {
                "source": "api",
                "session": "".join(f"{int(b):02x}" for b in rng.integers(0, 256, 16)),
                "viewport": {"width": 1440, "height": 789},
                "started_at": _iso(moment - timedelta(seconds=duration)),
                "user_agent": "Mozilla/5.0 (X11; Linux x86_64; rv:65.0) Gecko/20100101 "
                "Firefox/65.0",
                "utc_offset": "0",
                "finished_at": _iso(moment),
                "live_project": True,
                "user_language": "en",
                "subject_dimensions": [
                    {
                        "clientWidth": CANVAS_PX,
                        "clientHeight": frame.canvas_height,
                        "naturalWidth": CANVAS_PX,
                        "naturalHeight": frame.canvas_height,
                    }
                ],
                "workflow_version": WORKFLOW_VERSION,
            }
            subject_data = {str(subject_id): {"retired": retired, **metadata}}
            row = [
                user_name,
                user_id,
                WORKFLOW_ID,
                WORKFLOW_NAME,
                WORKFLOW_VERSION,
                _timestamp(moment),
                "",
                "",
                _json_text(classification_metadata),
                _json_text(annotation),
                _json_text(subject_data),
                subject_id,
            ]
            classifications.append((moment, subject_id, k, row))
            notes_by_row.append((k, notes))
            if notes.kind == "empty":
                n_empty += 1
            elif notes.kind == "malformed":
                malformed_rows.append((moment, subject_id, k))

        subject_rows.append(
            [
                subject_id,
                "",
                WORKFLOW_ID,
                SUBJECT_SET_ID,
                _json_text(metadata),
                _json_text(
                    {
                        "0": f"subjects/{subject_id}/difference.json",
                        "1": f"subjects/{subject_id}/image.png",
                        "2": f"subjects/{subject_id}/model.json",
                    }
                ),
                volunteers,
                _timestamp(retired_at) if volunteers else "",
                "classification_count" if volunteers else "",
                _timestamp(launched - timedelta(days=1)),
                _timestamp(retired_at),
            ]
        )
        truth_subjects[str(subject_id)] = {
            "model": truth.to_dict(),
            "image": {
                "width": width,
                "height": height,
                "setup": setup.source,
                "sky_sigma": observation.sky_sigma,
                "source_variance": observation.source_variance,
                "multiplier": setup.multiplier,
                "psf": setup.psf.tolist(),
            },
            "classifications": notes_by_row,  # classification ids are filled in below
        }

    # Classification ids follow the order the classifications were made, over all subjects.
    classifications.sort(key=lambda item: (item[0], item[1], item[2]))
    ids = {
        (subject_id, k): CLASSIFICATION_ID_BASE + i + 1
        for i, (_, subject_id, k, _) in enumerate(classifications)
    }
    for subject_id_text, entry in truth_subjects.items():
        entry["classifications"] = {
            str(ids[(int(subject_id_text), k)]): notes.to_dict()
            for k, notes in entry["classifications"]
        }
    malformed_ids = tuple(sorted(ids[(sid, k)] for _, sid, k in malformed_rows))

    with (outdir / "subjects.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(
            [
                "subject_id",
                "project_id",
                "workflow_id",
                "subject_set_id",
                "metadata",
                "locations",
                "classifications_count",
                "retired_at",
                "retirement_reason",
                "created_at",
                "updated_at",
            ]
        )
        writer.writerows(subject_rows)
    with (outdir / "classifications.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(
            [
                "classification_id",
                "user_name",
                "user_id",
                "workflow_id",
                "workflow_name",
                "workflow_version",
                "created_at",
                "gold_standard",
                "expert",
                "metadata",
                "annotations",
                "subject_data",
                "subject_ids",
            ]
        )
        for _, subject_id, k, row in classifications:
            writer.writerow([ids[(subject_id, k)], *row])
    truth_document = {
        "generator": "gzbcat.simulate",
        "seed": seed,
        "galaxies": galaxies,
        "volunteers": volunteers,
        "junk_fraction": junk_fraction,
        "image_source": "builtin" if not setups else "real",
        "frame": "image: x = column, y = row, pixel centres at integers (DESIGN §6)",
        "intensity_units": "fit target: the cutout divided by its multiplier",
        "subjects": truth_subjects,
    }
    (outdir / "truth.json").write_text(json.dumps(truth_document, separators=(",", ":")))
    files += ["subjects.csv", "classifications.csv", "truth.json"]
    log.info(
        "simulated %d galaxies × %d volunteers into %s (%d malformed, %d empty)",
        galaxies,
        volunteers,
        outdir,
        len(malformed_ids),
        n_empty,
    )
    return SimulationSummary(
        outdir=outdir,
        subject_ids=tuple(SUBJECT_ID_BASE + i + 1 for i in range(galaxies)),
        n_classifications=len(classifications),
        n_empty=n_empty,
        n_malformed=len(malformed_ids),
        malformed_classification_ids=malformed_ids,
        n_components=counts,
        image_source=image_source,
        files=tuple(sorted(files)),
    )
