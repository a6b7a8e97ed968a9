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
PSF and 100–140 px images (:func:`builtin_setup`). Given the Hart et al. (2017) table
(``hart_table``), a galaxy that borrows a real subject also takes that galaxy's spiral pitch
angle (:mod:`gzbcat.simulate.reference`), so pitch angles can be checked against Hart's.

Simulated volunteers (:func:`draw_volunteer`) draw the truth with the scatter and biases
people show, and the parser's inverse turns each drawing into annotation JSON; a few
classifications are junk on purpose (see :mod:`gzbcat.simulate.volunteers`).

Modules: ``setups`` (image sizes, PSFs, masks and noise, real or built-in), ``reference``
(real galaxies' pitch angles from Hart et al. 2017), ``truth`` (the true galaxy and its
observed image), ``volunteers`` (what each volunteer draws, junk included) with ``sliders`` (how
they set the sliders and how the export records them), ``crowd`` (who classifies each subject,
and when), ``records`` (the export rows), ``writer`` (the files) and ``sample``
(:func:`simulate`, which ties them together).

Every random draw comes from one ``numpy.random.Generator`` seeded with ``seed``, and no value
depends on the clock or on dict order, so one seed always gives byte-identical files.
"""

from gzbcat.simulate import sample, truth, volunteers
from gzbcat.simulate.records import (
    ARCSEC_PER_PX,
    CANVAS_PX,
    CLASSIFICATION_ID_BASE,
    SUBJECT_ID_BASE,
    SUBJECT_SET_ID,
    WORKFLOW_ID,
    WORKFLOW_NAME,
    WORKFLOW_VERSION,
)
from gzbcat.simulate.reference import (
    HartPitch,
    HartTableError,
    hart_pitch_deg,
    read_hart_pitches,
)
from gzbcat.simulate.sample import *  # noqa: F403 - every public name of the module
from gzbcat.simulate.setups import ImageSetup, builtin_setup, moffat_psf, real_setups
from gzbcat.simulate.sliders import P_SLIDER_MOVED, SLIDER_RANGE
from gzbcat.simulate.truth import *  # noqa: F403 - every public name of the module
from gzbcat.simulate.volunteers import *  # noqa: F403 - every public name of the module

__all__ = [
    "ARCSEC_PER_PX",
    "CANVAS_PX",
    "CLASSIFICATION_ID_BASE",
    "P_SLIDER_MOVED",
    "SLIDER_RANGE",
    "SUBJECT_ID_BASE",
    "SUBJECT_SET_ID",
    "WORKFLOW_ID",
    "WORKFLOW_NAME",
    "WORKFLOW_VERSION",
    "HartPitch",
    "HartTableError",
    "ImageSetup",
    "builtin_setup",
    "hart_pitch_deg",
    "moffat_psf",
    "read_hart_pitches",
    "real_setups",
]
__all__ += sample.__all__
__all__ += truth.__all__
__all__ += volunteers.__all__
