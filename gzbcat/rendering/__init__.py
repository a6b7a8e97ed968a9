"""GalaxyModel → image: boxy Sérsic components, spiral arms and the PSF, with gradients.

Modules: ``sersic`` (b_n, luminosity ↔ intensity, pixel-integrated profiles and their plain
forms), ``_sampling`` (the adaptive sampling plan), ``_evaluation`` (the profile on a plan's
sub-samples), ``spiral`` (log-spiral placement, exact poly-line distances and their plain
form, the arm ridge), ``psf`` (convolution and its adjoint), ``render`` (whole models) and
``rules`` (what differs between the methods). The fit that renders through them lives in
:mod:`gzbcat.fitting`. Pure numpy/scipy: no database, no I/O.
"""

from typing import Any

from gzbcat.rendering.psf import PSFOperator, convolve_psf
from gzbcat.rendering.render import render_components, render_model
from gzbcat.rendering.rules import RENDERING_RULES, RenderingRules
from gzbcat.rendering.sersic import (
    boxiness_area_factor,
    intensity_from_luminosity,
    luminosity,
    render_sersic,
    sersic_b,
)

__all__ = [
    "RENDERING_RULES",
    "PSFOperator",
    "RenderingRules",
    "boxiness_area_factor",
    "convolve_psf",
    "intensity_from_luminosity",
    "luminosity",
    "render_components",
    "render_model",
    "render_sersic",
    "sersic_b",
]

_MOVED_TO_FITTING = ("FitObjective", "ParameterSpace", "prior_widths")


def __getattr__(name: str) -> Any:
    """The fit's objective moved to :mod:`gzbcat.fitting`; the old names still resolve."""
    if name in _MOVED_TO_FITTING:
        import gzbcat.fitting

        return getattr(gzbcat.fitting, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
