"""The plot-data value types: what a figure shows, as plain values (no database objects).

The loaders in :mod:`gzbcat.catalogue.figures` fill them from the database; a test or a
notebook can build them by hand.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from gzbcat.model import GalaxyModel, SubjectImage

__all__ = [
    "FORMATS",
    "INSTALL_HINT",
    "CataloguePlotData",
    "CatalogueRow",
    "FitSummary",
    "HartRow",
    "Overlay",
    "PlotError",
    "SubjectPanels",
    "SubjectPlotData",
]

FORMATS: tuple[str, ...] = ("png", "pdf")
"""Output formats ``gzbcat plot`` writes."""

INSTALL_HINT = "matplotlib is needed for plots: pip install 'gzbcat[plot]'"
"""What to tell a user whose environment lacks the optional extra."""


class PlotError(RuntimeError):
    """A figure cannot be made (unknown subject, bad format); the message says why."""


@dataclass(frozen=True)
class FitSummary:
    """What the caption and the residual title need from the ``fits`` row."""

    chi2_nu: float | None = None
    bulge_fraction: float | None = None
    bar_fraction: float | None = None
    spiral_fraction: float | None = None


@dataclass(frozen=True, eq=False)
class SubjectPlotData:
    """Everything a subject's figure shows, as plain values (no database objects).

    Attributes
    ----------
    subject_id, dr7objid
        Identifiers for the caption.
    image
        The fit target, its σ, mask and PSF; None until fitting metadata is ingested.
    volunteers
        Volunteer model id → model, in id order.
    aggregate_id, aggregate
        The newest aggregate model, or None before ``gzbcat aggregate``.
    members
        Aggregate part (``disk``, ``bulge``, ``bar``, ``arm:<i>``) → volunteer model ids
        clustered into it (``cluster_members``).
    tuned_id, tuned, tuned_source
        The tuned model shown (the newest tuned aggregate, else the newest tuned model of any
        source), and the kind of model it started from.
    fit
        Its ``fits`` row, if any.
    method
        The method the shown model was made with (``corrected`` or ``reference``); the tuned
        model is rendered with it.
    """

    subject_id: int
    dr7objid: int | None = None
    image: SubjectImage | None = None
    volunteers: Mapping[int, GalaxyModel] = field(default_factory=dict)
    aggregate_id: int | None = None
    aggregate: GalaxyModel | None = None
    members: Mapping[str, tuple[int, ...]] = field(default_factory=dict)
    tuned_id: int | None = None
    tuned: GalaxyModel | None = None
    tuned_source: str | None = None
    fit: FitSummary | None = None
    method: str | None = None


@dataclass(frozen=True, eq=False)
class Overlay:
    """One outline or poly-line drawn over an image, as it was drawn.

    ``panel`` is ``volunteers`` or ``aggregate``; ``role`` is ``volunteer`` (panel 1, or a
    non-member in panel 2), ``member`` (a volunteer shape clustered into an aggregate part)
    or ``aggregate``; ``part`` is ``disk``, ``bulge``, ``bar`` or ``arm:<i>``.
    """

    panel: str
    part: str
    role: str
    vertices: np.ndarray
    model_id: int | None = None
    label: str | None = None


@dataclass(frozen=True, eq=False)
class SubjectPanels:
    """The exact arrays and lines a subject figure draws (None: the panel is missing).

    ``image`` (masked where excluded) is shown in panels 1 and 2, ``model`` in panel 3 — it is
    :func:`render_model`'s output, unchanged — and ``residual`` in panel 4. ``limits`` are the
    data values mapped to black and white, shared by panels 1–3. ``missing`` says, per panel,
    why it is empty or incomplete and what to run.
    """

    image: np.ma.MaskedArray | None
    model: np.ndarray | None
    residual: np.ma.MaskedArray | None
    limits: tuple[float, float] | None
    overlays: tuple[Overlay, ...]
    missing: Mapping[str, str]
    caption: str


@dataclass(frozen=True)
class CatalogueRow:
    """One subject's catalogue values that the catalogue figure plots."""

    subject_id: int
    dr7objid: int | None
    pitch_angle_deg: float | None
    pitch_angle_err_deg: float | None
    bulge_fraction: float | None


@dataclass(frozen=True)
class HartRow:
    """Hart et al. (2017) values for one dr7objid (None where they write −999)."""

    psi_sparcfire: float | None
    psi_gz2: float | None
    log_mstar: float | None


@dataclass(frozen=True)
class CataloguePlotData:
    """The catalogue figure's inputs; ``hart`` is None when that table is not imported."""

    rows: tuple[CatalogueRow, ...]
    hart: Mapping[int, HartRow] | None
    notes: tuple[str, ...] = ()
