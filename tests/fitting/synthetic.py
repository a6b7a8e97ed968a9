"""Small synthetic galaxies for the fitting tests, with their truth computed independently.

The luminosity here is re-derived from the Sérsic formula (spec §7.2) with scipy's exact
b_n (the root of Γ(2n)/2 = γ(2n, b)) rather than imported from ``gzbcat.rendering``: for the
n ≥ 0.5 used here the Ciotti–Bertin series the renderer uses agrees with it to < 1e-5
relative, far inside the test tolerances.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import special

from gzbcat.model import GalaxyModel, SersicComponent
from gzbcat.rendering import render_model

SHAPE = (56, 56)
SIGMA = 0.02


def gaussian_psf(fwhm_px: float = 2.5, size: int = 7) -> np.ndarray:
    """A normalised circular Gaussian PSF with odd sides."""
    half = size // 2
    y, x = np.mgrid[-half : half + 1, -half : half + 1]
    s = fwhm_px / 2.3548
    psf = np.exp(-(x**2 + y**2) / (2 * s * s))
    return psf / psf.sum()


def sersic_luminosity(
    intensity: float, re: float, q: float, n: float = 1.0, c: float = 2.0
) -> float:
    """Untruncated luminosity of a boxy Sérsic component (spec §7.2), independent code."""
    b = float(special.gammaincinv(2 * n, 0.5))
    area = math.pi * math.gamma(1 + 2 / c) / (4 * math.gamma(1 + 1 / c) ** 2)
    return (
        2 * math.pi * re**2 * intensity * n * math.exp(b) / b ** (2 * n)
        * math.gamma(2 * n) * q / area
    )  # fmt: skip


@dataclass(frozen=True)
class Case:
    """A simulated observation: the truth, the data and a perturbed start with errors."""

    truth: GalaxyModel
    start: GalaxyModel
    image: np.ndarray
    sigma: np.ndarray
    mask: np.ndarray
    psf: np.ndarray


def disk_bulge_case(seed: int = 3) -> Case:
    """Disk + bulge on 56 × 56, seeded noise, start perturbed like an aggregate (spec §5.4)."""
    truth = GalaxyModel(
        disk=SersicComponent(mux=27.6, muy=28.3, roll=0.7, re=11.0, q=0.55, intensity=0.25),
        bulge=SersicComponent(mux=27.6, muy=28.3, roll=0.2, re=2.4, q=0.85, intensity=1.2, n=2.0),
    )
    psf = gaussian_psf()
    rng = np.random.default_rng(seed)
    image = render_model(truth, SHAPE, psf) + rng.normal(0.0, SIGMA, SHAPE)
    mask = np.zeros(SHAPE, dtype=bool)
    mask[3:6, 40:46] = True  # a masked star
    image[mask] = np.nan  # masked pixels may hold anything
    disk_err = {"mux": 1.0, "muy": 1.0, "roll": 0.1, "re": 1.1, "q": 0.05}
    bulge_err = {"mux": 1.0, "muy": 1.0, "roll": 0.3, "re": 0.4, "q": 0.08}
    start = GalaxyModel(
        disk=SersicComponent(
            mux=28.5, muy=27.5, roll=0.7 + math.radians(5), re=12.1, q=0.6, intensity=0.2,
            errors=disk_err,
        ),
        bulge=SersicComponent(
            mux=28.2, muy=29.0, roll=0.35, re=2.2, q=0.8, intensity=0.01, errors=bulge_err
        ),
    )  # fmt: skip
    return Case(truth, start, image, np.full(SHAPE, SIGMA), mask, psf)
