"""Image set-ups: the size, PSF, mask and noise level of a simulated subject's cutout.

A set-up is everything about a cutout except the galaxy in it. It comes from a real Galaxy
Builder subject (:func:`real_setups`, which also lends that subject's metadata) or, without real
data, is drawn at random (:func:`builtin_setup`: a Moffat PSF and a 100–140 px square).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gzbcat.settings import shared_data_dir
from gzbcat.zooniverse.exports import RowProblem, read_subject_export
from gzbcat.zooniverse.subject_files import read_difference_file

__all__ = ["ImageSetup", "builtin_setup", "moffat_psf", "real_setups", "resolve_like"]


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


def resolve_like(like: Path | None, real_subjects: bool) -> Path | None:
    """The folder of real subjects to borrow set-ups from, or None for built-in set-ups.

    ``like`` when given; else ``../shared/data/galaxy-builder`` when ``real_subjects`` and the
    shared data are present.
    """
    if like is not None:
        return Path(like)
    if not real_subjects:
        return None
    shared = shared_data_dir()
    return None if shared is None else shared / "galaxy-builder"
