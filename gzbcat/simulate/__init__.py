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

Simulated volunteers (:func:`draw_volunteer`) draw the truth with the scatter and biases
people show, and the parser's inverse turns each drawing into annotation JSON; a few
classifications are junk on purpose (see :mod:`gzbcat.simulate.volunteers`).

Modules: ``setups`` (image sizes, PSFs, masks and noise, real or built-in), ``truth`` (the true
galaxy and its observed image), ``volunteers`` (what each volunteer draws, junk included) with
``sliders`` (how they set the sliders and how the export records them), ``crowd`` (who
classifies each subject, and when), ``records`` (the export rows), ``writer`` (the files) and
``sample`` (:func:`simulate`, which ties them together).

Every random draw comes from one ``numpy.random.Generator`` seeded with ``seed``, and no value
depends on the clock or on dict order, so one seed always gives byte-identical files.
"""

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
from gzbcat.simulate.sample import SimulationSummary, simulate
from gzbcat.simulate.setups import ImageSetup, builtin_setup, moffat_psf, real_setups
from gzbcat.simulate.sliders import P_SLIDER_MOVED, SLIDER_RANGE
from gzbcat.simulate.truth import (
    ARM_COUNT_WEIGHTS,
    P_BAR,
    P_BULGE,
    Observation,
    log_spiral_image_points,
    make_galaxy,
    observe,
)
from gzbcat.simulate.volunteers import (
    ARM_JITTER_SD_CANVAS,
    ARM_POINTS_RANGE,
    ARM_WOBBLE_SD_CANVAS,
    BAR_LENGTH_BIAS,
    CENTRE_SD_CANVAS,
    JUNK_FRACTION,
    P_ARM_REVERSED,
    P_DRAW,
    P_SPURIOUS,
    P_WHOLE_ARM,
    P_WRONG_DISK,
    Q_SD,
    RE_SD_FRACTION,
    ROLL_SD_DEG,
    ArmNote,
    VolunteerNotes,
    draw_volunteer,
)

__all__ = [
    "ARCSEC_PER_PX",
    "ARM_COUNT_WEIGHTS",
    "ARM_JITTER_SD_CANVAS",
    "ARM_POINTS_RANGE",
    "ARM_WOBBLE_SD_CANVAS",
    "BAR_LENGTH_BIAS",
    "CANVAS_PX",
    "CENTRE_SD_CANVAS",
    "CLASSIFICATION_ID_BASE",
    "JUNK_FRACTION",
    "P_ARM_REVERSED",
    "P_BAR",
    "P_BULGE",
    "P_DRAW",
    "P_SLIDER_MOVED",
    "P_SPURIOUS",
    "P_WHOLE_ARM",
    "P_WRONG_DISK",
    "Q_SD",
    "RE_SD_FRACTION",
    "ROLL_SD_DEG",
    "SLIDER_RANGE",
    "SUBJECT_ID_BASE",
    "SUBJECT_SET_ID",
    "WORKFLOW_ID",
    "WORKFLOW_NAME",
    "WORKFLOW_VERSION",
    "ArmNote",
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
