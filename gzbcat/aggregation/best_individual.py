"""The best individual model: the volunteer drawing whose render fits the image best (spec §8.9).

Every volunteer model is rendered (PSF-convolved, in the subject's image frame) and scored by
χ² over the unmasked pixels with the subject's σ; the lowest χ² wins. Pure: numpy and the
renderer only.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from gzbcat.model import GalaxyModel, Method, SubjectImage
from gzbcat.rendering import render_model

__all__ = ["best_individual", "chi_squared"]


def chi_squared(
    model: GalaxyModel, image: SubjectImage, *, method: Method = Method.CORRECTED
) -> float:
    """Σ ((data − PSF ⊗ model) / σ)² over unmasked pixels; +inf if the render is not finite."""
    if image.sigma is None:
        raise ValueError("a σ image is needed to score a model")
    rendered = render_model(model, image.image.shape, image.psf, method=method)
    good = ~np.asarray(image.mask, dtype=bool)
    residual = (image.image[good] - rendered[good]) / image.sigma[good]
    value = float(np.dot(residual, residual))
    return value if math.isfinite(value) else math.inf


def best_individual(
    models: Sequence[GalaxyModel], image: SubjectImage, *, method: Method = Method.CORRECTED
) -> tuple[int, list[float]]:
    """The index of the model with the lowest χ², and every model's χ² (input order).

    Ties go to the earlier model, so the choice is deterministic.
    """
    if not models:
        raise ValueError("no volunteer models to choose from")
    scores = [chi_squared(model, image, method=method) for model in models]
    return int(np.argmin(scores)), scores
