"""Pictures of subjects and of the catalogue (``gzbcat plot``): look before you trust a number.

A subject's figure has four panels side by side, all in the image frame of DESIGN §6 (``x``
the column, ``y`` the row, ``origin='lower'``, pixel centres at integers):

1. **volunteers** — the cutout (asinh stretch, spec §7.7; masked pixels in the "bad" colour)
   with every volunteer disk, bulge and bar outline and arm poly-line, faint, one colour per
   component;
2. **aggregate** — the same image with the aggregate components and fitted log-spiral arms
   drawn thick, the volunteer shapes that were clustered into each of them highlighted, and
   each arm labelled with its pitch angle;
3. **tuned model** — the tuned model rendered with the PSF (:func:`render_model`), on the
   stretch and limits of the data, so that a good fit looks like panel 1;
4. **residual** — ``(data − model) / σ`` on a diverging map centred on 0, with χ²_ν of the fit.

Outlines are the shapes the clustering compares (spec §5.1): an ellipse of semi-axes Re
(major) and q·Re for a disk or bulge, the box of half-sizes q·Re × Re for a bar. A caption
gives the subject id, dr7objid, the bulge and bar light fractions and the method. A subject
that has not reached a stage still gets the panels it can have, and each missing panel says
which command makes it.

This package is pure: it draws from value types and never touches the database. The work is
split in layers so that each can be tested on its own:

* values (:mod:`~gzbcat.plots.data`): :class:`SubjectPlotData`, :class:`CataloguePlotData`
  and the types they hold, filled from the database by :mod:`gzbcat.catalogue.figures`
  (``load_subject_plot_data``, ``load_catalogue_plot_data``) or built by hand;
* arrays (:mod:`~gzbcat.plots.panels`, :func:`subject_panels`): value types → the exact
  arrays each panel shows (numpy and the renderer only; no matplotlib), so a test can check
  that panels never drift from the model;
* drawing (:mod:`~gzbcat.plots.subject`, :mod:`~gzbcat.plots.catalogue`, with the shared look
  in :mod:`~gzbcat.plots.style`): value types and arrays → a matplotlib
  :class:`~matplotlib.figure.Figure`; :func:`draw_model` draws one rendered model with its
  outlines on any axes (the Python API's ``Catalogue.plot``).

Writing figure files from the database (``plot_subject_files``, ``plot_subjects``,
``plot_catalogue``) lives in :mod:`gzbcat.catalogue.figures`; those names and the loaders
are still importable from here, loaded on first use so that importing this package imports
nothing from the database layer.

matplotlib is an optional extra (``pip install 'gzbcat[plot]'``) and is imported only inside
the drawing functions. Figures are made with :class:`matplotlib.figure.Figure` directly, never
through ``pyplot``: no global state, no display, no backend switch for a notebook that imports
this package, and nothing to close.
"""

from __future__ import annotations

import importlib
from typing import Any

from gzbcat.plots import data, style
from gzbcat.plots.catalogue import draw_catalogue
from gzbcat.plots.data import *  # noqa: F403 - every public name of the module
from gzbcat.plots.panels import display_limits, subject_panels
from gzbcat.plots.style import *  # noqa: F403 - every public name of the module
from gzbcat.plots.subject import draw_model, draw_subject

__all__ = [
    "display_limits",
    "draw_catalogue",
    "draw_model",
    "draw_subject",
    "load_catalogue_plot_data",  # noqa: F405 - resolved by __getattr__ below
    "load_subject_plot_data",  # noqa: F405 - resolved by __getattr__ below
    "plot_catalogue",  # noqa: F405 - resolved by __getattr__ below
    "plot_subject_files",  # noqa: F405 - resolved by __getattr__ below
    "plot_subjects",  # noqa: F405 - resolved by __getattr__ below
    "subject_panels",
]
__all__ += data.__all__
__all__ += style.__all__

_FROM_DATABASE_LAYER = frozenset(
    {
        "HART_MISSING",
        "HART_TABLE",
        "load_catalogue_plot_data",
        "load_subject_plot_data",
        "plot_catalogue",
        "plot_subject_files",
        "plot_subjects",
    }
)
"""Names that moved to :mod:`gzbcat.catalogue.figures` and still resolve here (PEP 562)."""


def __getattr__(name: str) -> Any:
    """Resolve the database-facing names from :mod:`gzbcat.catalogue.figures` on first use,
    so that ``from gzbcat.plots import plot_subjects`` works and ``import gzbcat.plots``
    stays free of the database layer."""
    if name in _FROM_DATABASE_LAYER:
        return getattr(importlib.import_module("gzbcat.catalogue.figures"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_FROM_DATABASE_LAYER})
