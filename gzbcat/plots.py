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

The module is split in three layers so that each can be tested on its own:

* loading (:func:`load_subject_plot_data`, :func:`load_catalogue_plot_data`): database →
  plain value types, through the loaders the stages use;
* arrays (:func:`subject_panels`): value types → the exact arrays each panel shows (numpy and
  the renderer only; no matplotlib), so a test can check that panels never drift from the
  model;
* drawing (:func:`draw_subject`, :func:`draw_catalogue`): value types and arrays → a
  matplotlib :class:`~matplotlib.figure.Figure`.

matplotlib is an optional extra (``pip install 'gzbcat[plot]'``) and is imported only inside
the drawing functions. Figures are made with :class:`matplotlib.figure.Figure` directly, never
through ``pyplot``: no global state, no display, no backend switch for a notebook that imports
this module, and nothing to close.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from gzbcat.geometry import shape_vertices
from gzbcat.model import GalaxyModel, SersicComponent, SpiralArm, SubjectImage
from gzbcat.rendering import render_model

if TYPE_CHECKING:  # pragma: no cover - typing only
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from sqlalchemy import Engine
    from sqlalchemy.orm import Session

__all__ = [
    "ARCSEC_PER_PIXEL",
    "ASINH_A",
    "COMPONENT_COLOURS",
    "DPI",
    "FORMATS",
    "INSTALL_HINT",
    "SUBJECT_FIGSIZE",
    "CataloguePlotData",
    "CatalogueRow",
    "FitSummary",
    "HartRow",
    "Overlay",
    "PlotError",
    "SubjectPanels",
    "SubjectPlotData",
    "asinh_stretch",
    "draw_catalogue",
    "draw_subject",
    "load_catalogue_plot_data",
    "load_subject_plot_data",
    "plot_catalogue",
    "plot_subject_files",
    "plot_subjects",
    "subject_panels",
]

ASINH_A = 0.6
"""Softening of the display stretch ``asinh(x/a)/asinh(a)`` (spec §7.7), in fit units."""

ARCSEC_PER_PIXEL = 0.396
"""SDSS pixel scale (spec §7.7): sets the length of the scale bar."""

SUBJECT_FIGSIZE: tuple[float, float] = (16.0, 4.8)
"""Size of a subject figure, inches; with :data:`DPI` a PNG is 1600 × 480 pixels."""

CATALOGUE_FIGSIZE: tuple[float, float] = (15.0, 5.0)
"""Size of the catalogue figure, inches (1500 × 500 pixels as PNG)."""

DPI = 100
"""Resolution of saved raster figures; fixed so that file sizes are predictable."""

FORMATS: tuple[str, ...] = ("png", "pdf")
"""Output formats ``gzbcat plot`` writes."""

INSTALL_HINT = "matplotlib is needed for plots: pip install 'gzbcat[plot]'"
"""What to tell a user whose environment lacks the optional extra."""

COMPONENT_COLOURS: dict[str, str] = {
    "disk": "#4fc3f7",
    "bulge": "#ff5252",
    "bar": "#69f0ae",
    "arm": "#ffd740",
}
"""One colour per component, bright enough to read on a grey image."""

ARM_COLOURS: tuple[str, ...] = ("#ffd740", "#e040fb", "#ff9100", "#eeff41", "#18ffff", "#f48fb1")
"""Aggregate arms cycle through these, so that an arm and its members share a colour."""

MASK_COLOUR = "#6d4c41"
"""Masked pixels (True = excluded): a brown that neither the grey stretch, the residual map
nor any outline colour uses."""

HART_TABLE = "hart2017"
"""The name ``gzbcat import-table`` gives the Hart et al. (2017) table in the docs and demo."""

HART_MISSING = -999.0
"""Hart et al. write this where a pitch angle was not measured."""


class PlotError(RuntimeError):
    """A figure cannot be made (unknown subject, bad format); the message says why."""


# ───────────────────────────── value types ─────────────────────────────


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


# ───────────────────────────── loading ─────────────────────────────


def load_subject_plot_data(session: Session, subject_id: int) -> SubjectPlotData:
    """Read what a subject's figure needs, through the loaders the stages use.

    Raises
    ------
    PlotError
        The subject is not in the database.
    """
    from sqlalchemy import select

    from gzbcat.db import schema
    from gzbcat.db.images import load_subject_image
    from gzbcat.db.models import load_models
    from gzbcat.stages.loaders import model_ids_by_subject

    subject = session.get(schema.Subject, subject_id)
    if subject is None:
        raise PlotError(f"subject {subject_id} is not in the database")
    dr7objid = int(subject.dr7objid) if subject.dr7objid is not None else None
    image = load_subject_image(session, subject_id)
    if image is None:
        return SubjectPlotData(subject_id=subject_id, dr7objid=dr7objid)

    def ids_of(kind: str) -> list[int]:
        return model_ids_by_subject(session, kind, [subject_id]).get(subject_id, [])

    volunteer_ids = ids_of(schema.ModelKind.VOLUNTEER)
    aggregate_ids = ids_of(schema.ModelKind.AGGREGATE)
    tuned_ids = ids_of(schema.ModelKind.TUNED)
    aggregate_id = aggregate_ids[-1] if aggregate_ids else None

    rows = {
        row.model_id: row
        for row in session.execute(
            select(schema.Model.model_id, schema.Model.source_model_id, schema.Model.method).where(
                schema.Model.model_id.in_([*tuned_ids, *aggregate_ids])
            )
        )
    }
    source_ids = [r.source_model_id for r in rows.values() if r.source_model_id is not None]
    source_kinds = dict(
        session.execute(
            select(schema.Model.model_id, schema.Model.kind).where(
                schema.Model.model_id.in_(source_ids)
            )
        ).all()
    )
    tuned_id = None
    tuned_source = None
    # As the catalogue view: the newest tuned aggregate; failing that, the newest tuned model.
    for candidate in reversed(tuned_ids):
        kind = source_kinds.get(rows[candidate].source_model_id)
        if tuned_id is None or kind == schema.ModelKind.AGGREGATE:
            tuned_id, tuned_source = candidate, kind
        if kind == schema.ModelKind.AGGREGATE:
            break

    members: dict[str, list[int]] = {}
    if aggregate_id is not None:
        for part, member in session.execute(
            select(schema.ClusterMember.part, schema.ClusterMember.member_model_id)
            .where(schema.ClusterMember.model_id == aggregate_id)
            .order_by(schema.ClusterMember.part, schema.ClusterMember.member_model_id)
        ):
            members.setdefault(part, []).append(int(member))

    fit = None
    if tuned_id is not None:
        fit_row = session.get(schema.Fit, tuned_id)
        if fit_row is not None:
            fit = FitSummary(
                chi2_nu=fit_row.chi2_nu,
                bulge_fraction=fit_row.bulge_fraction,
                bar_fraction=fit_row.bar_fraction,
                spiral_fraction=fit_row.spiral_fraction,
            )

    wanted = [*volunteer_ids, *(i for i in (aggregate_id, tuned_id) if i is not None)]
    models = load_models(session, wanted)
    shown = tuned_id if tuned_id is not None else aggregate_id
    return SubjectPlotData(
        subject_id=subject_id,
        dr7objid=dr7objid,
        image=image,
        volunteers={i: models[i] for i in volunteer_ids},
        aggregate_id=aggregate_id,
        aggregate=models[aggregate_id] if aggregate_id is not None else None,
        members={part: tuple(ids) for part, ids in members.items()},
        tuned_id=tuned_id,
        tuned=models[tuned_id] if tuned_id is not None else None,
        tuned_source=tuned_source,
        fit=fit,
        method=rows[shown].method if shown is not None else None,
    )


def _query_rows(engine: Engine, sql: str) -> list[dict[str, Any]] | str:
    """Rows of a read-only query as dicts, or the error message if it cannot run."""
    from gzbcat.catalogue.query import QueryError, run_query

    try:
        result = run_query(engine, sql)
    except QueryError as error:
        return str(error)
    return [dict(zip(result.columns, row, strict=True)) for row in result.rows]


def _float_or_none(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _int_or_none(value: Any) -> int | None:
    return int(value) if value is not None else None


def _catalogue_rows_from_tables(engine: Engine) -> list[CatalogueRow]:
    """Without the ``catalogue`` view: the tuned aggregate's bulge fraction and the
    length-weighted mean pitch angle of the newest aggregate, from the tables themselves."""
    from sqlalchemy import select
    from sqlalchemy.orm import aliased

    from gzbcat.db import schema
    from gzbcat.db.engine import session_scope

    with session_scope(engine) as session:
        subjects = dict(
            session.execute(select(schema.Subject.subject_id, schema.Subject.dr7objid)).all()
        )
        newest = dict(
            session.execute(
                select(schema.Model.subject_id, schema.Model.model_id)
                .where(schema.Model.kind == schema.ModelKind.AGGREGATE)
                .order_by(schema.Model.model_id)
            ).all()
        )
        arms: dict[int, list[tuple[float, float, float | None]]] = {}
        for model_id, pitch, err, length in session.execute(
            select(
                schema.Arm.model_id,
                schema.Arm.pitch_angle_deg,
                schema.Arm.pitch_angle_err_deg,
                schema.Arm.length_px,
            ).where(schema.Arm.model_id.in_(list(newest.values())))
        ):
            if pitch is not None:
                arms.setdefault(model_id, []).append((float(pitch), float(length or 1.0), err))
        source = aliased(schema.Model)
        bulges = dict(
            session.execute(
                select(schema.Model.subject_id, schema.Fit.bulge_fraction)
                .join(schema.Fit, schema.Fit.model_id == schema.Model.model_id)
                .join(source, source.model_id == schema.Model.source_model_id)
                .where(
                    schema.Model.kind == schema.ModelKind.TUNED,
                    source.kind == schema.ModelKind.AGGREGATE,
                )
                .order_by(schema.Model.model_id)
            ).all()
        )
    rows = []
    for subject_id, dr7objid in sorted(subjects.items()):
        fitted = arms.get(newest.get(subject_id, -1), [])
        pitch = None
        if fitted:
            weights = np.array([w for _, w, _ in fitted])
            pitch = float(np.average([p for p, _, _ in fitted], weights=weights))
        rows.append(
            CatalogueRow(
                subject_id=int(subject_id),
                dr7objid=_int_or_none(dr7objid),
                pitch_angle_deg=pitch,
                pitch_angle_err_deg=None,
                bulge_fraction=_float_or_none(bulges.get(subject_id)),
            )
        )
    return rows


def _hart_rows(engine: Engine, table: str) -> dict[int, HartRow] | str:
    """The Hart table's values keyed by dr7objid, or why they cannot be read."""
    from sqlalchemy import inspect

    from gzbcat.catalogue.external import ext_table_name

    name = ext_table_name(table)
    inspector = inspect(engine)
    if not inspector.has_table(name):
        return (
            f"the Hart et al. (2017) table is not imported: gzbcat import-table "
            f"hart2017-gz2-sparcfire.csv --name {table} --ra ra --dec dec --key dr7objid"
        )
    columns = {c["name"].lower(): c["name"] for c in inspector.get_columns(name)}
    wanted = ("dr7objid", "psi_sparcfire", "psi_gz2", "logmstar")
    absent = [c for c in wanted if c not in columns]
    if absent:
        return f"{name} has no column {', '.join(absent)}"
    select_list = ", ".join(f'h."{columns[c]}" AS {c}' for c in wanted)
    # Only the rows of our subjects: the survey table may be much larger than the sample.
    found = _query_rows(
        engine,
        f'SELECT {select_list} FROM "{name}" AS h '
        f'WHERE h."{columns["dr7objid"]}" IN (SELECT dr7objid FROM subjects)',
    )
    if isinstance(found, str):
        return found

    def psi(value: Any) -> float | None:
        number = _float_or_none(value)
        return None if number is None or number == HART_MISSING else number

    return {
        int(row["dr7objid"]): HartRow(
            psi_sparcfire=psi(row["psi_sparcfire"]),
            psi_gz2=psi(row["psi_gz2"]),
            log_mstar=_float_or_none(row["logmstar"]),
        )
        for row in found
        if row["dr7objid"] is not None
    }


def load_catalogue_plot_data(engine: Engine, *, hart_table: str = HART_TABLE) -> CataloguePlotData:
    """Read the catalogue view (or, without it, the tables) and the Hart et al. table.

    Neither the view nor the Hart table is required: what is missing becomes a note that the
    figure shows, so the command still draws what it can.
    """
    notes: list[str] = []
    found = _query_rows(
        engine,
        "SELECT subject_id, dr7objid, pitch_angle_deg, pitch_angle_err_deg, "
        "CASE WHEN has_bulge = 0 THEN 0.0 ELSE bulge_fraction END AS bulge_fraction "
        "FROM catalogue WHERE tuned_model_id IS NOT NULL OR pitch_angle_deg IS NOT NULL "
        "ORDER BY subject_id",
    )
    if isinstance(found, str):
        notes.append(f"the catalogue view could not be read ({found}); values come from the tables")
        rows = _catalogue_rows_from_tables(engine)
    else:
        rows = [
            CatalogueRow(
                subject_id=int(row["subject_id"]),
                dr7objid=_int_or_none(row["dr7objid"]),
                pitch_angle_deg=_float_or_none(row["pitch_angle_deg"]),
                pitch_angle_err_deg=_float_or_none(row["pitch_angle_err_deg"]),
                bulge_fraction=_float_or_none(row["bulge_fraction"]),
            )
            for row in found
        ]
    hart = _hart_rows(engine, hart_table)
    if isinstance(hart, str):
        notes.append(hart)
        hart = None
    return CataloguePlotData(rows=tuple(rows), hart=hart, notes=tuple(notes))


# ───────────────────────────── arrays ─────────────────────────────


def asinh_stretch(values: np.ndarray, a: float = ASINH_A) -> np.ndarray:
    """The display stretch of spec §7.7, ``asinh(x/a) / asinh(a)``: linear near 0, log-like
    in the bright centre, so that faint arms and the bulge are visible on one image."""
    return np.arcsinh(np.asanyarray(values) / a) / np.arcsinh(a)  # keeps a mask


def _component_params(comp: SersicComponent) -> tuple[float, float, float, float, float]:
    return (comp.mux, comp.muy, comp.re, comp.q, comp.roll)


def _outline(name: str, comp: SersicComponent) -> np.ndarray:
    """The §5.1 outline of a component: a box for the bar, an ellipse otherwise."""
    kind = "box" if name == "bar" else "ellipse"
    return shape_vertices(_component_params(comp), kind)[0]


def _closest_arm(arms: Sequence[SpiralArm], target: np.ndarray) -> int | None:
    """Index of the arm nearest to ``target`` (mean distance from its points to the target's).

    ``cluster_members`` records which volunteer *models* went into an aggregate arm, not which
    of their arms; the nearest one is the arm that was clustered, for any sensible clustering.
    """
    best, best_distance = None, math.inf
    for index, arm in enumerate(arms):
        if len(arm.points) == 0 or len(target) == 0:
            continue
        d = np.linalg.norm(arm.points[:, None, :] - target[None, :, :], axis=-1)
        distance = float(d.min(axis=1).mean())
        if distance < best_distance:
            best, best_distance = index, distance
    return best


def _overlays(data: SubjectPlotData) -> list[Overlay]:
    """Every outline and poly-line of panels 1 and 2, in drawing order (faint first)."""
    out: list[Overlay] = []
    for model_id, model in data.volunteers.items():
        for name, comp in model.components().items():
            out.append(Overlay("volunteers", name, "volunteer", _outline(name, comp), model_id))
        for arm in model.arms:
            out.append(Overlay("volunteers", "arm", "volunteer", arm.points, model_id))
    if data.aggregate is None:
        return out
    # Panel 2: each aggregate part's members, then the part itself.
    for name, comp in data.aggregate.components().items():
        for model_id in data.members.get(name, ()):
            member = data.volunteers.get(model_id)
            member_comp = getattr(member, name, None) if member is not None else None
            if member_comp is not None:
                outline = _outline(name, member_comp)
                out.append(Overlay("aggregate", name, "member", outline, model_id))
        out.append(Overlay("aggregate", name, "aggregate", _outline(name, comp), data.aggregate_id))
    for index, arm in enumerate(data.aggregate.arms):
        part = f"arm:{index}"
        for model_id in data.members.get(part, ()):
            member = data.volunteers.get(model_id)
            if member is None:
                continue
            nearest = _closest_arm(member.arms, arm.points)
            if nearest is not None:
                points = member.arms[nearest].points
                out.append(Overlay("aggregate", part, "member", points, model_id))
        label = None
        if arm.fit is not None:
            label = f"{arm.fit.pitch_angle_deg:.1f}°"
            if arm.fit.pitch_angle_err_deg is not None:
                label = f"{arm.fit.pitch_angle_deg:.1f}±{arm.fit.pitch_angle_err_deg:.1f}°"
        out.append(Overlay("aggregate", part, "aggregate", arm.points, data.aggregate_id, label))
    return out


def _fmt(value: float | None, spec: str = ".3f") -> str:
    return "n/a" if value is None or not math.isfinite(value) else format(value, spec)


def _caption(data: SubjectPlotData, missing: Mapping[str, str]) -> str:
    fit = data.fit or FitSummary()
    parts = [
        f"subject {data.subject_id}",
        f"dr7objid {data.dr7objid if data.dr7objid is not None else 'n/a'}",
        f"bulge fraction {_fmt(fit.bulge_fraction)}",
        f"bar fraction {_fmt(fit.bar_fraction)}",
        f"method {data.method or 'n/a'}",
    ]
    if data.tuned is not None and data.tuned_source not in (None, "aggregate"):
        parts.append(f"tuned from the {str(data.tuned_source).replace('_', ' ')} model")
    caption = "   ·   ".join(parts)
    if missing:
        caption += "\nmissing: " + "; ".join(dict.fromkeys(missing.values()))
    return caption


def subject_panels(data: SubjectPlotData) -> SubjectPanels:
    """The arrays and lines of a subject figure: pure numpy and the renderer, no drawing.

    The model panel is ``render_model(tuned, image shape, psf, method=method)`` exactly, and
    the residual is ``(image − model) / σ``, masked where the pixel is excluded or σ is not
    positive — what the fit itself compared.
    """
    missing: dict[str, str] = {}
    image = data.image
    if image is None:
        text = "no image: run gzbcat ingest fitting-metadata"
        missing = dict.fromkeys(("volunteers", "aggregate", "model", "residual"), text)
        return SubjectPanels(None, None, None, None, (), missing, _caption(data, missing))

    excluded = np.asarray(image.mask, dtype=bool)
    shown = np.ma.masked_array(np.asarray(image.image, dtype=np.float64), mask=excluded)
    good = shown.compressed()
    good = good[np.isfinite(good)]
    if good.size:
        low, high = (float(v) for v in np.percentile(good, [0.5, 99.8]))
    else:
        low, high = 0.0, 1.0
    if not high > low:
        high = low + 1.0

    if not data.volunteers:
        missing["volunteers"] = "no volunteer models: run gzbcat ingest classifications"
    if data.aggregate is None:
        missing["aggregate"] = "no aggregate model: run gzbcat aggregate"

    model = residual = None
    if data.tuned is None:
        text = "no tuned model: run gzbcat tune"
        missing["model"] = missing["residual"] = text
    else:
        model = render_model(data.tuned, image.image.shape, image.psf, method=_method(data))
        if image.sigma is None:
            missing["residual"] = "no σ image: run gzbcat ingest fitting-metadata"
        else:
            sigma = np.asarray(image.sigma, dtype=np.float64)
            valid = ~excluded & np.isfinite(sigma) & (sigma > 0)
            ratio = np.divide(image.image - model, sigma, out=np.zeros_like(model), where=valid)
            residual = np.ma.masked_array(ratio, mask=~valid)
    return SubjectPanels(
        image=shown,
        model=model,
        residual=residual,
        limits=(low, high),
        overlays=tuple(_overlays(data)),
        missing=missing,
        caption=_caption(data, missing),
    )


def _method(data: SubjectPlotData) -> Any:
    """The rendering method of the shown model (unknown → the default, ``corrected``)."""
    return data.method if data.method in ("corrected", "reference") else "corrected"


# ───────────────────────────── drawing ─────────────────────────────


def _require_matplotlib() -> Any:
    """Import matplotlib, or raise ImportError saying how to install it."""
    try:
        import matplotlib
    except ImportError as error:  # pragma: no cover - the test environment has it
        raise ImportError(INSTALL_HINT) from error
    return matplotlib


def _stretch_norm(limits: tuple[float, float]) -> Any:
    """A colour norm applying :func:`asinh_stretch` between ``limits`` (in data units), so
    that the artists hold the unstretched arrays and one norm serves panels 1–3."""
    from matplotlib.colors import FuncNorm

    def forward(values: np.ndarray) -> np.ndarray:
        return asinh_stretch(values)

    def inverse(values: np.ndarray) -> np.ndarray:
        return np.sinh(np.asanyarray(values) * np.arcsinh(ASINH_A)) * ASINH_A

    return FuncNorm((forward, inverse), vmin=limits[0], vmax=limits[1])


def _grey_map() -> Any:
    import matplotlib

    return matplotlib.colormaps["gray"].with_extremes(bad=MASK_COLOUR)


def _residual_map() -> Any:
    import matplotlib

    return matplotlib.colormaps["RdBu_r"].with_extremes(bad=MASK_COLOUR)


def _empty_panel(ax: Axes, title: str, message: str) -> None:
    ax.set_title(title, fontsize=10)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.text(
        0.5,
        0.5,
        message,
        transform=ax.transAxes,
        ha="center",
        va="center",
        fontsize=9,
        wrap=True,
        color="0.3",
    )


def _outlined(width: float = 3.0) -> list[Any]:
    """A dark halo under bright lines and text so they read on white and on black."""
    from matplotlib import patheffects

    return [patheffects.withStroke(linewidth=width, foreground="black", alpha=0.6)]


def _draw_image(ax: Axes, values: np.ndarray, norm: Any, cmap: Any, gid: str) -> Any:
    shown = ax.imshow(values, origin="lower", norm=norm, cmap=cmap, interpolation="nearest")
    shown.set_gid(gid)
    ax.set_xlabel("x (px)", fontsize=8)
    ax.set_ylabel("y (px)", fontsize=8)
    ax.tick_params(labelsize=7)
    return shown


def _scale_bar(ax: Axes, shape: tuple[int, int]) -> None:
    """A 10″ bar in the lower left, for the angular scale (0.396″/px)."""
    length = 10.0 / ARCSEC_PER_PIXEL
    height, width = shape
    x0, y0 = 0.05 * width, 0.06 * height
    ax.plot([x0, x0 + length], [y0, y0], color="white", lw=2, path_effects=_outlined())
    ax.text(
        x0 + length / 2,
        y0 + 0.02 * height,
        "10″",
        color="white",
        ha="center",
        va="bottom",
        fontsize=8,
        path_effects=_outlined(),
    )


def _arm_colour(part: str) -> str:
    index = int(part.split(":", 1)[1]) if ":" in part else 0
    return ARM_COLOURS[index % len(ARM_COLOURS)]


def _outer_end(points: np.ndarray, centre: np.ndarray | None) -> np.ndarray:
    """The end of a poly-line farther from the centre: arm labels go where it is least
    crowded, away from the bulge and the other arms."""
    if centre is None:
        centre = points.mean(axis=0)
    first, last = points[0], points[-1]
    return last if np.hypot(*(last - centre)) >= np.hypot(*(first - centre)) else first


def _draw_overlays(
    ax: Axes, overlays: Sequence[Overlay], panel: str, centre: np.ndarray | None = None
) -> None:
    from matplotlib.lines import Line2D

    counts: dict[str, int] = {}
    for item in overlays:
        if item.panel != panel:
            continue
        x, y = item.vertices[:, 0], item.vertices[:, 1]
        is_arm = item.part.startswith("arm")
        colour = (
            COMPONENT_COLOURS["arm"]
            if item.part == "arm"
            else (_arm_colour(item.part) if is_arm else COMPONENT_COLOURS[item.part])
        )
        if item.role == "volunteer":
            ax.plot(x, y, color=colour, lw=0.7, alpha=0.35)
            counts[item.part] = counts.get(item.part, 0) + 1
        elif item.role == "member":
            ax.plot(x, y, color=colour, lw=0.8, alpha=0.45)
        else:
            ax.plot(x, y, color=colour, lw=2.2, path_effects=_outlined())
            if item.label is not None and len(item.vertices):
                end = _outer_end(item.vertices, centre)
                ax.annotate(
                    item.label,
                    xy=(end[0], end[1]),
                    xytext=(4, 4),
                    textcoords="offset points",
                    color=colour,
                    fontsize=9,
                    path_effects=_outlined(2.0),
                    annotation_clip=True,
                )
    if panel == "volunteers" and counts:
        handles = [
            Line2D([], [], color=COMPONENT_COLOURS[name], lw=1.5, label=f"{name} ({counts[name]})")
            for name in ("disk", "bulge", "bar", "arm")
            if name in counts
        ]
        legend = ax.legend(handles=handles, loc="upper right", fontsize=7, framealpha=0.6)
        legend.set_gid("volunteer-legend")


def draw_subject(data: SubjectPlotData, panels: SubjectPanels | None = None) -> Figure:
    """Draw a subject's four-panel figure (see the module docstring) and return it.

    Parameters
    ----------
    data
        The subject's values (:func:`load_subject_plot_data`, or built by hand).
    panels
        Its arrays, if already computed (:func:`subject_panels`); computed otherwise.

    Returns
    -------
    matplotlib.figure.Figure
        :data:`SUBJECT_FIGSIZE` at :data:`DPI`; the image artists carry the gids ``data``,
        ``aggregate``, ``model`` and ``residual``, and hold the arrays of ``panels``, unstretched
        (the stretch is in the colour norm), so a test can compare them with the renderer.
    """
    _require_matplotlib()
    from matplotlib.figure import Figure

    panels = subject_panels(data) if panels is None else panels
    figure = Figure(figsize=SUBJECT_FIGSIZE, dpi=DPI, layout="constrained")
    axes = figure.subplots(1, 4)
    titles = {
        "volunteers": f"{len(data.volunteers)} volunteer models",
        "aggregate": "aggregate",
        "model": "tuned model ⊛ PSF",
        "residual": "(data − model) / σ",
    }
    if data.tuned is not None and data.tuned_source not in (None, "aggregate"):
        titles["model"] = f"tuned {str(data.tuned_source).replace('_', ' ')} ⊛ PSF"
    if data.aggregate is not None:
        n_arms = len(data.aggregate.arms)
        parts = ", ".join(data.aggregate.components())
        titles["aggregate"] = f"aggregate: {parts or 'no components'}, {n_arms} arms"

    norm = _stretch_norm(panels.limits) if panels.limits is not None else None
    disk = data.aggregate.disk if data.aggregate is not None else None
    centre = np.array([disk.mux, disk.muy]) if disk is not None else None
    for ax, key in zip(axes[:2], ("volunteers", "aggregate"), strict=True):
        if panels.image is None:
            _empty_panel(ax, titles[key], panels.missing[key])
            continue
        _draw_image(ax, panels.image, norm, _grey_map(), "data" if key == "volunteers" else key)
        _draw_overlays(ax, panels.overlays, key, centre)
        ax.set_xlim(-0.5, panels.image.shape[1] - 0.5)
        ax.set_ylim(-0.5, panels.image.shape[0] - 0.5)
        ax.set_title(titles[key], fontsize=10)
        if key in panels.missing:
            ax.text(
                0.5,
                0.5,
                panels.missing[key],
                transform=ax.transAxes,
                ha="center",
                va="center",
                fontsize=9,
                color="white",
                path_effects=_outlined(),
            )
    if panels.image is not None:
        _scale_bar(axes[0], panels.image.shape)

    if panels.model is None:
        _empty_panel(axes[2], titles["model"], panels.missing["model"])
    else:
        _draw_image(axes[2], panels.model, norm, _grey_map(), "model")
        axes[2].set_title(titles["model"], fontsize=10)

    chi2_nu = data.fit.chi2_nu if data.fit is not None else None
    residual_title = f"{titles['residual']},  $\\chi^2_\\nu$ = {_fmt(chi2_nu, '.3f')}"
    if panels.residual is None:
        _empty_panel(axes[3], titles["residual"], panels.missing["residual"])
    else:
        from matplotlib.colors import CenteredNorm

        values = np.abs(panels.residual.compressed())
        half = float(np.percentile(values, 99.5)) if values.size else 1.0
        half = max(half, 1.0)
        shown = _draw_image(
            axes[3], panels.residual, CenteredNorm(0.0, half), _residual_map(), "residual"
        )
        axes[3].set_title(residual_title, fontsize=10)
        colourbar = figure.colorbar(shown, ax=axes[3], shrink=0.85)
        colourbar.ax.tick_params(labelsize=7)
        colourbar.set_label("σ", fontsize=8)

    lines = panels.caption.count("\n") + 1
    figure.text(0.5, 0.01, panels.caption, ha="center", va="bottom", fontsize=9)
    figure.get_layout_engine().set(rect=(0.0, 0.01 + 0.045 * lines, 1.0, 0.99 - 0.045 * lines))
    return figure


def _scatter_panel(
    ax: Axes,
    x: list[float],
    y: list[float],
    xlabel: str,
    ylabel: str,
    note: str | None,
    *,
    identity: bool,
) -> None:
    ax.set_xlabel(xlabel, fontsize=9)
    ax.set_ylabel(ylabel, fontsize=9)
    ax.tick_params(labelsize=8)
    if note is not None or not x:
        message = note or "no subject has both values yet"
        ax.text(
            0.5,
            0.5,
            message,
            transform=ax.transAxes,
            ha="center",
            va="center",
            fontsize=9,
            color="0.3",
            wrap=True,
        )
        return
    ax.scatter(x, y, s=14, color="#1565c0", alpha=0.8, edgecolors="none")
    if identity:
        low = min(*x, *y, 0.0)
        high = max(*x, *y) * 1.05 + 1e-9
        ax.plot([low, high], [low, high], color="0.4", lw=1, ls="--", label="1:1")
        ax.legend(fontsize=8, loc="upper left")
    if len(x) >= 3 and np.std(x) > 0 and np.std(y) > 0:
        r = float(np.corrcoef(x, y)[0, 1])
        ax.text(
            0.97,
            0.03,
            f"n = {len(x)}, r = {r:.2f}",
            transform=ax.transAxes,
            ha="right",
            va="bottom",
            fontsize=8,
        )
    else:
        ax.text(
            0.97, 0.03, f"n = {len(x)}", transform=ax.transAxes, ha="right", va="bottom", fontsize=8
        )


def draw_catalogue(data: CataloguePlotData) -> Figure:
    """Draw the catalogue figure: our pitch angles against Hart et al.'s SpArcFiRe and GZ2
    values, and the tuned aggregate's bulge fraction against stellar mass.

    Panels whose inputs are missing (the Hart table not imported, no subject tuned) say so
    instead of failing, so the figure can be drawn at any point of a run.
    """
    _require_matplotlib()
    from matplotlib.figure import Figure

    figure = Figure(figsize=CATALOGUE_FIGSIZE, dpi=DPI, layout="constrained")
    axes = figure.subplots(1, 3)
    note = None
    if data.hart is None:
        note = "Hart et al. (2017) table not imported\n(gzbcat import-table … --name hart2017)"
    pairs: dict[str, tuple[list[float], list[float]]] = {
        "sparcfire": ([], []),
        "gz2": ([], []),
        "mass": ([], []),
    }
    for row in data.rows:
        hart = (data.hart or {}).get(row.dr7objid) if row.dr7objid is not None else None
        if hart is None:
            continue
        if row.pitch_angle_deg is not None:
            for key, value in (("sparcfire", hart.psi_sparcfire), ("gz2", hart.psi_gz2)):
                if value is not None:
                    pairs[key][0].append(abs(value))
                    pairs[key][1].append(row.pitch_angle_deg)
        if row.bulge_fraction is not None and hart.log_mstar is not None:
            pairs["mass"][0].append(hart.log_mstar)
            pairs["mass"][1].append(row.bulge_fraction)
    ours = "pitch angle, aggregate arms (deg)"
    _scatter_panel(
        axes[0],
        *pairs["sparcfire"],
        "SpArcFiRe ψ (Hart et al. 2017, deg)",
        ours,
        note,
        identity=True,
    )
    _scatter_panel(
        axes[1], *pairs["gz2"], "GZ2 ψ (Hart et al. 2017, deg)", ours, note, identity=True
    )
    _scatter_panel(
        axes[2],
        *pairs["mass"],
        "log10 stellar mass (M☉, Hart et al. 2017)",
        "bulge fraction, tuned aggregate",
        note,
        identity=False,
    )
    axes[0].set_title("pitch angle vs SpArcFiRe", fontsize=10)
    axes[1].set_title("pitch angle vs GZ2", fontsize=10)
    axes[2].set_title("bulge fraction vs stellar mass", fontsize=10)
    n_tuned = sum(row.bulge_fraction is not None for row in data.rows)
    n_pitch = sum(row.pitch_angle_deg is not None for row in data.rows)
    caption = f"{n_pitch} subjects with arm pitch angles, {n_tuned} with a tuned aggregate"
    if data.notes:
        caption += "\n" + "\n".join(data.notes)
    lines = caption.count("\n") + 1
    figure.text(0.5, 0.01, caption, ha="center", va="bottom", fontsize=9)
    figure.get_layout_engine().set(rect=(0.0, 0.01 + 0.04 * lines, 1.0, 0.99 - 0.04 * lines))
    return figure


# ───────────────────────────── files ─────────────────────────────


def _check_format(fmt: str) -> str:
    fmt = fmt.lower().lstrip(".")
    if fmt not in FORMATS:
        raise PlotError(f"format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    return fmt


def plot_subject_files(
    engine: Engine, subject_ids: Sequence[int], out_dir: Path, fmt: str = "png"
) -> list[tuple[Path, dict[str, str]]]:
    """Write ``subject_<id>.<fmt>`` for each subject; return each path with what it lacks.

    All subjects are looked up before anything is written, so an unknown id fails the call
    without leaving half the figures behind.

    Raises
    ------
    PlotError
        An unknown subject or format.
    ImportError
        matplotlib is not installed (the message says how to install it).
    """
    from gzbcat.db.engine import session_scope

    fmt = _check_format(fmt)
    _require_matplotlib()
    loaded: list[SubjectPlotData] = []
    unknown: list[int] = []
    with session_scope(engine) as session:
        for subject_id in subject_ids:
            try:
                loaded.append(load_subject_plot_data(session, int(subject_id)))
            except PlotError:
                unknown.append(int(subject_id))
    if unknown:
        names = ", ".join(str(i) for i in unknown)
        raise PlotError(f"not in the database: subject{'s' if len(unknown) > 1 else ''} {names}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for data in loaded:
        panels = subject_panels(data)
        figure = draw_subject(data, panels)
        path = out_dir / f"subject_{data.subject_id}.{fmt}"
        figure.savefig(path, format=fmt, dpi=DPI)
        written.append((path, dict(panels.missing)))
    return written


def plot_subjects(
    engine: Engine, subject_ids: Sequence[int], out_dir: Path, fmt: str = "png"
) -> list[Path]:
    """Write one figure per subject into ``out_dir`` and return their paths (``gzbcat demo``).

    See :func:`plot_subject_files`, which also says what each figure lacks.
    """
    return [path for path, _ in plot_subject_files(engine, subject_ids, out_dir, fmt)]


def plot_catalogue(engine: Engine, out: Path, fmt: str | None = None) -> CataloguePlotData:
    """Write the catalogue figure to ``out`` (format from ``fmt`` or the suffix; PNG by
    default) and return the data it shows, whose ``notes`` say what was missing."""
    out = Path(out)
    fmt = _check_format(fmt or out.suffix or "png")
    _require_matplotlib()
    data = load_catalogue_plot_data(engine)
    figure = draw_catalogue(data)
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, format=fmt, dpi=DPI)
    return data
