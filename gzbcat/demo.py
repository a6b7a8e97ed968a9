"""``gzbcat demo``: simulate a small sample, run everything that exists, compare with the truth.

The sample comes from :mod:`gzbcat.simulate` (real subjects' sizes, PSFs, masks and noise when
``../shared/data`` is present), so every number in the summary can be checked against the
truth the simulator wrote. With the Hart et al. (2017) table there too, each simulated galaxy's
arms take the pitch angle of the real galaxy it stands in for, so the catalogue's pitch angles
can be compared with Hart's like for like (:func:`pitch_agreement`).

The sample goes to a temporary folder removed at the end (also on an error or Ctrl-C), unless
``keep_sample`` names a folder to keep it in. The database is replaced only when it holds
nothing but simulated subjects, so pointing the demo at a real catalogue cannot wipe it.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import sqlite3
import tempfile
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from gzbcat.catalogue.demo import HART2017_FILE, CatalogueDemoResult, run_catalogue_demo
from gzbcat.db import schema
from gzbcat.db.engine import make_engine, session_scope, upgrade
from gzbcat.db.models import load_models
from gzbcat.model import GalaxyModel, Method
from gzbcat.settings import DEMO_DATABASE_URL, shared_data_dir
from gzbcat.simulate import SimulationSummary, hart_pitch_deg, simulate
from gzbcat.stages.ingest import (
    IngestSummary,
    ingest_classifications,
    ingest_fitting_metadata,
    ingest_subjects,
)
from gzbcat.stages.registry import STAGES
from gzbcat.stages.runner import RunSummary, run_stage
from gzbcat.stages.status import status

__all__ = [
    "DemoError",
    "DemoResult",
    "PitchAgreement",
    "compare_with_truth",
    "pitch_agreement",
    "run_demo",
]


class DemoError(RuntimeError):
    """The demo cannot run (for instance, a database that is not a SQLite file)."""


@dataclass(frozen=True)
class PitchAgreement:
    """The catalogue's pitch angles against Hart et al.'s (2017) for the same galaxies.

    Attributes
    ----------
    n
        Galaxies with both values.
    pearson_r
        Pearson correlation coefficient; None for fewer than three galaxies or a constant
        column.
    median_abs_difference_deg
        Median of |catalogue − Hart|, degrees; None when ``n`` is 0.
    """

    n: int
    pearson_r: float | None
    median_abs_difference_deg: float | None


def pitch_agreement(rows: Iterable[Mapping[str, Any]]) -> PitchAgreement:
    """Compare measured pitch angles with Hart et al.'s, one row per galaxy.

    Each row has ``pitch_angle_deg`` (the catalogue's, a magnitude; None without arms) and
    ``psi_sparcfire_deg`` / ``psi_gz2_deg`` (Hart's, None where missing), as the example query
    ``pitch_angles_vs_hart_et_al_2017.sql`` returns them. Hart's value is chosen by
    :func:`~gzbcat.simulate.reference.hart_pitch_deg`, the rule the simulator drew the true
    arms with, so a demo sample is compared with what its galaxies were given.
    """
    measured: list[float] = []
    reference: list[float] = []
    for row in rows:
        hart, _ = hart_pitch_deg(row.get("psi_sparcfire_deg"), row.get("psi_gz2_deg"))
        pitch = row.get("pitch_angle_deg")
        if hart is None or pitch is None:
            continue
        measured.append(abs(float(pitch)))
        reference.append(hart)
    if not measured:
        return PitchAgreement(0, None, None)
    x, y = np.asarray(measured), np.asarray(reference)
    r = None
    if len(x) >= 3 and np.ptp(x) > 0 and np.ptp(y) > 0:
        r = float(np.corrcoef(x, y)[0, 1])
    return PitchAgreement(len(x), r, float(np.median(np.abs(x - y))))


@dataclass
class DemoResult:
    db_url: str
    sample_dir: Path
    sample_kept: bool = False
    simulation: SimulationSummary | None = None
    hart_table: Path | None = None
    pitch: PitchAgreement | None = None
    ingests: list[tuple[str, IngestSummary]] = field(default_factory=list)
    stages: list[RunSummary] = field(default_factory=list)
    comparison: list[dict[str, Any]] = field(default_factory=list)
    status: dict[str, Any] = field(default_factory=dict)
    catalogue: CatalogueDemoResult | None = None
    figures: list[Path] = field(default_factory=list)
    figures_missing: str | None = None
    seconds: float = 0.0


def _roll_difference_deg(a: float, b: float) -> float:
    """|a − b| for axis angles (period π), degrees."""
    d = (a - b) % math.pi
    return math.degrees(min(d, math.pi - d))


def _mean_pitch(model: GalaxyModel) -> float | None:
    pitches = [arm.fit.pitch_angle_deg for arm in model.arms if arm.fit is not None]
    return float(np.mean(pitches)) if pitches else None


def compare_with_truth(engine: Any, truth: dict[str, Any]) -> list[dict[str, Any]]:
    """Per subject: the true disk and arms beside the aggregate's and the best individual's."""
    rows = []
    with session_scope(engine) as session:
        found = session.execute(
            select(schema.Model.subject_id, schema.Model.kind, schema.Model.model_id)
        ).all()
        sources = dict(session.execute(select(schema.Model.model_id, schema.Model.kind)).all())
        tuned_from = {
            row.model_id: sources.get(row.source_model_id)
            for row in session.execute(
                select(schema.Model.model_id, schema.Model.source_model_id).where(
                    schema.Model.kind == schema.ModelKind.TUNED
                )
            )
        }
        chi2_nu = dict(session.execute(select(schema.Fit.model_id, schema.Fit.chi2_nu)).all())
        found = [
            r
            for r in found
            if r.kind in (schema.ModelKind.AGGREGATE, schema.ModelKind.BEST_INDIVIDUAL)
            or tuned_from.get(r.model_id) == schema.ModelKind.AGGREGATE
        ]
        models = load_models(session, [r.model_id for r in found])
        by_subject: dict[int, dict[str, GalaxyModel]] = {}
        tuned_ids: dict[int, int] = {}
        for subject_id, kind, model_id in found:
            by_subject.setdefault(subject_id, {})[kind] = models[model_id]
            if kind == schema.ModelKind.TUNED:
                tuned_ids[subject_id] = model_id
    for key, entry in truth["subjects"].items():
        subject_id = int(key)
        true_model = GalaxyModel.from_dict(entry["model"])
        built = by_subject.get(subject_id, {})
        aggregate = built.get(schema.ModelKind.AGGREGATE)
        row: dict[str, Any] = {
            "subject_id": subject_id,
            "true_re": true_model.disk.re if true_model.disk else None,
            "true_arms": len(true_model.arms),
            "true_pitch": _mean_pitch(true_model),
            "has_bulge": true_model.bulge is not None,
            "has_bar": true_model.bar is not None,
        }
        if aggregate is not None and aggregate.disk is not None and true_model.disk is not None:
            row["agg_re"] = aggregate.disk.re
            row["agg_centre_px"] = math.hypot(
                aggregate.disk.mux - true_model.disk.mux, aggregate.disk.muy - true_model.disk.muy
            )
            row["agg_roll_deg"] = _roll_difference_deg(aggregate.disk.roll, true_model.disk.roll)
        if aggregate is not None:
            row["agg_arms"] = len(aggregate.arms)
            row["agg_pitch"] = _mean_pitch(aggregate)
            row["agg_bulge"] = aggregate.bulge is not None
            row["agg_bar"] = aggregate.bar is not None
        best = built.get(schema.ModelKind.BEST_INDIVIDUAL)
        if best is not None and best.disk is not None:
            row["bi_re"] = best.disk.re
        tuned = built.get(schema.ModelKind.TUNED)
        if tuned is not None and tuned.disk is not None:
            row["tuned_re"] = tuned.disk.re
            row["tuned_chi2_nu"] = chi2_nu.get(tuned_ids.get(subject_id))
        rows.append(row)
    return rows


def _is_simulated_catalogue(path: Path) -> bool:
    """True when the SQLite file at ``path`` holds no subject that the simulator did not make
    (an empty file or schema counts), so the demo may replace it."""
    if path.stat().st_size == 0:
        return True
    try:
        with contextlib.closing(
            sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        ) as db:
            tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master")}
            if "subjects" not in tables:
                return not tables
            for (metadata,) in db.execute("SELECT metadata FROM subjects"):
                try:
                    if json.loads(metadata or "{}").get("#isFake") is not True:
                        return False
                except (ValueError, AttributeError):
                    return False
            return True
    except sqlite3.Error:
        return False


def _demo_database(db_url: str) -> Path:
    """The SQLite file of ``db_url``, checked to be one the demo may create or replace."""
    try:
        url = make_url(db_url)
    except ArgumentError:
        raise DemoError(f"{db_url!r} is not a database URL") from None
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        raise DemoError(f"the demo writes a fresh SQLite file; {db_url} is not one")
    database = Path(url.database).expanduser()
    if not database.parent.is_dir() or not os.access(database.parent, os.W_OK):
        raise DemoError(f"cannot write the demo database {database}: no writable folder there")
    if database.is_dir():
        raise DemoError(f"cannot write the demo database {database}: it is a folder")
    if database.exists() and not _is_simulated_catalogue(database):
        raise DemoError(
            f"{database} holds more than a demo's simulated subjects and the demo would replace "
            f"it; give the demo its own file, e.g. --db {DEMO_DATABASE_URL}"
        )
    return database


def run_demo(
    db_url: str = DEMO_DATABASE_URL,
    *,
    galaxies: int = 12,
    volunteers: int = 30,
    seed: int = 0,
    workers: int = 2,
    output_dir: Path = Path("demo-output"),
    keep_sample: Path | None = None,
) -> DemoResult:
    """simulate → init → ingest → every stage → truth comparison → catalogue → status.

    Parameters
    ----------
    db_url
        A SQLite file, replaced if it holds only simulated subjects (:class:`DemoError` if it
        holds anything else, or is not SQLite).
    keep_sample
        Folder to write the simulated sample into and keep; None: a temporary folder, removed
        when the demo ends, however it ends.
    """
    started = time.perf_counter()
    database = _demo_database(db_url)
    shared = shared_data_dir()
    hart_table = shared / HART2017_FILE if shared is not None else None
    if hart_table is not None and not hart_table.is_file():
        hart_table = None
    with contextlib.ExitStack() as cleanup:
        if keep_sample is None:
            sample = Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix="gzbcat-demo-")))
        else:
            sample = Path(keep_sample)
        for suffix in ("", "-wal", "-shm"):
            Path(f"{database}{suffix}").unlink(missing_ok=True)
        output_dir.mkdir(parents=True, exist_ok=True)
        simulation = simulate(
            sample, galaxies=galaxies, volunteers=volunteers, seed=seed, hart_table=hart_table
        )
        engine = make_engine(db_url)
        cleanup.callback(engine.dispose)
        upgrade(engine)
        result = DemoResult(
            db_url=db_url,
            sample_dir=sample,
            sample_kept=keep_sample is not None,
            simulation=simulation,
            hart_table=hart_table if simulation.n_hart_pitches else None,
        )
        _ingest(engine, sample, galaxies, volunteers, result)
        for entry in STAGES.values():
            result.stages.append(
                run_stage(engine, entry.stage, entry.make_params(Method.CORRECTED), workers=workers)
            )
        truth = json.loads((sample / "truth.json").read_text())
        result.comparison = compare_with_truth(engine, truth)
        result.catalogue = run_catalogue_demo(engine, output_dir, shared)
        query = result.catalogue.query
        if query is not None:
            result.pitch = pitch_agreement(
                dict(zip(query.columns, row, strict=True)) for row in query.rows
            )
        try:
            from gzbcat.catalogue.figures import plot_subjects

            first = sorted(int(key) for key in truth["subjects"])[:3]
            result.figures = plot_subjects(engine, first, output_dir / "figures")
        except ImportError:
            result.figures_missing = "matplotlib is not installed: pip install 'gzbcat[plot]'"
        result.status = status(engine)
    result.seconds = time.perf_counter() - started
    return result


def _ingest(engine: Any, sample: Path, galaxies: int, volunteers: int, result: DemoResult) -> None:
    """Ingest the simulated subjects, their fitting metadata and classifications."""
    result.ingests.append(
        (
            f"Ingested {galaxies} simulated subjects",
            ingest_subjects(engine, sample / "subjects.csv", sample),
        )
    )
    result.ingests.append(
        (
            "Ingested their fitting metadata (σ images)",
            ingest_fitting_metadata(engine, [sample / "fitting-metadata"]),
        )
    )
    result.ingests.append(
        (
            f"Ingested {galaxies} × {volunteers} simulated classifications",
            ingest_classifications(engine, sample / "classifications.csv"),
        )
    )
