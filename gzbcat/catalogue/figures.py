"""Figures from the database (``gzbcat plot``): load a subject's or the catalogue's plot data
through the loaders the stages use, draw it with :mod:`gzbcat.plots`, and write the files.

:mod:`gzbcat.plots` draws from value types only; this module is the one place that fills them
from the database.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import Engine, inspect, select
from sqlalchemy.orm import Session, aliased

from gzbcat.catalogue.external import ext_table_name
from gzbcat.catalogue.query import QueryError, run_query
from gzbcat.db import schema
from gzbcat.db.engine import session_scope
from gzbcat.db.images import load_subject_image
from gzbcat.db.models import load_models
from gzbcat.plots import (
    DPI,
    FORMATS,
    CataloguePlotData,
    CatalogueRow,
    FitSummary,
    HartRow,
    PlotError,
    SubjectPlotData,
    draw_catalogue,
    draw_subject,
    require_matplotlib,
    subject_panels,
)
from gzbcat.stages.loaders import model_ids_by_subject, tuned_model_ids

__all__ = [
    "HART_MISSING",
    "HART_TABLE",
    "load_catalogue_plot_data",
    "load_subject_plot_data",
    "plot_catalogue",
    "plot_subject_files",
    "plot_subjects",
]

HART_TABLE = "hart2017"
"""The name ``gzbcat import-table`` gives the Hart et al. (2017) table in the docs and demo."""

HART_MISSING = -999.0
"""Hart et al. write this where a pitch angle was not measured."""


def load_subject_plot_data(session: Session, subject_id: int) -> SubjectPlotData:
    """Read what a subject's figure needs, through the loaders the stages use.

    Raises
    ------
    PlotError
        The subject is not in the database.
    """
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
    aggregate_id = aggregate_ids[-1] if aggregate_ids else None
    # As the catalogue view: the newest tuned aggregate; failing that, the newest tuned model.
    tuned_by_source = tuned_model_ids(session, subject_id)
    tuned_source = (
        schema.ModelKind.AGGREGATE.value
        if schema.ModelKind.AGGREGATE in tuned_by_source
        else max(tuned_by_source, key=lambda kind: tuned_by_source[kind], default=None)
    )
    tuned_id = tuned_by_source.get(tuned_source)
    shown = tuned_id if tuned_id is not None else aggregate_id
    method = (
        session.scalar(select(schema.Model.method).where(schema.Model.model_id == shown))
        if shown is not None
        else None
    )

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
        method=method,
    )


def _query_rows(engine: Engine, sql: str) -> list[dict[str, Any]] | str:
    """Rows of a read-only query as dicts, or the error message if it cannot run."""
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
    length-weighted mean pitch angle of its arms (the newest aggregate's until it is tuned),
    from the tables themselves."""
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
        source = aliased(schema.Model)
        tuned: dict[int, tuple[int, float | None]] = {}
        for subject_id, model_id, bulge_fraction in session.execute(
            select(schema.Model.subject_id, schema.Model.model_id, schema.Fit.bulge_fraction)
            .outerjoin(schema.Fit, schema.Fit.model_id == schema.Model.model_id)
            .join(source, source.model_id == schema.Model.source_model_id)
            .where(
                schema.Model.kind == schema.ModelKind.TUNED,
                source.kind == schema.ModelKind.AGGREGATE,
            )
            .order_by(schema.Model.model_id)
        ):
            tuned[subject_id] = (model_id, bulge_fraction)
        arm_model = {**newest, **{sid: model_id for sid, (model_id, _) in tuned.items()}}
        arms: dict[int, list[tuple[float, float, float | None]]] = {}
        for model_id, pitch, err, length in session.execute(
            select(
                schema.Arm.model_id,
                schema.Arm.pitch_angle_deg,
                schema.Arm.pitch_angle_err_deg,
                schema.Arm.length_px,
            ).where(schema.Arm.model_id.in_(list(arm_model.values())))
        ):
            if pitch is not None:
                arms.setdefault(model_id, []).append((float(pitch), float(length or 1.0), err))
    bulges = {sid: bulge_fraction for sid, (_, bulge_fraction) in tuned.items()}
    rows = []
    for subject_id, dr7objid in sorted(subjects.items()):
        fitted = arms.get(arm_model.get(subject_id, -1), [])
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
    fmt = _check_format(fmt)
    require_matplotlib()
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
    require_matplotlib()
    data = load_catalogue_plot_data(engine)
    figure = draw_catalogue(data)
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, format=fmt, dpi=DPI)
    return data
