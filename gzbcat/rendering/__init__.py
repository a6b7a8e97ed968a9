"""GalaxyModel → image: boxy Sérsic components, spiral arms and the PSF, with gradients.

Modules: ``sersic`` (b_n, luminosity ↔ intensity, pixel-integrated profiles), ``spiral``
(log-spiral placement, exact poly-line distances, the arm ridge), ``psf`` (convolution and its
adjoint), ``render`` (whole models) and ``objective`` (the fit's parameter vector and its
negative log-likelihood with an analytic gradient). Pure numpy/scipy: no database, no I/O.
"""

from gzbcat.rendering.objective import FitObjective, ParameterSpace, prior_widths
from gzbcat.rendering.psf import PSFOperator, convolve_psf
from gzbcat.rendering.render import render_components, render_model
from gzbcat.rendering.sersic import (
    boxiness_area_factor,
    intensity_from_luminosity,
    luminosity,
    render_sersic,
    sersic_b,
)

__all__ = [
    "FitObjective",
    "PSFOperator",
    "ParameterSpace",
    "boxiness_area_factor",
    "convolve_psf",
    "intensity_from_luminosity",
    "luminosity",
    "prior_widths",
    "render_components",
    "render_model",
    "render_sersic",
    "sersic_b",
]
