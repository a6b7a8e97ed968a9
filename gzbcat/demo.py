"""``gzbcat demo``: simulate a small sample, run everything that exists, compare with the truth.

The sample comes from :mod:`gzbcat.simulate` (real subjects' sizes, PSFs, masks and noise when
``../shared/data`` is present), so every number in the summary can be checked against the
truth the simulator wrote.
"""

from __future__ import annotations

import json
import math
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.engine import make_url

from gzbcat.catalogue.demo import CatalogueDemoResult, run_catalogue_demo
from gzbcat.db import schema
from gzbcat.db.engine import make_engine, session_scope, upgrade
from gzbcat.db.models import load_models
from gzbcat.model import GalaxyModel, Method
from gzbcat.settings import shared_data_dir
from gzbcat.simulate import simulate
from gzbcat.stages.ingest import (
    IngestSummary,
    ingest_classifications,
    ingest_fitting_metadata,
    ingest_subjects,
)
from gzbcat.stages.registry import STAGES
from gzbcat.stages.runner import RunSummary, run_stage
from gzbcat.stages.status import status

__all__ = ["DemoError", "DemoResult", "compare_with_truth", "run_demo"]


class DemoError(RuntimeError):
    """The demo cannot run (for instance, a database that is not a SQLite file)."""


@dataclass
class DemoResult:
    db_url: str
    sample_dir: Path
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


def run_demo(
    db_url: str = "sqlite:///gzbcat-demo.sqlite",
    *,
    galaxies: int = 12,
    volunteers: int = 30,
    seed: int = 0,
    workers: int = 2,
    output_dir: Path = Path("demo-output"),
) -> DemoResult:
    """simulate → init → ingest → every stage → truth comparison → catalogue → status."""
    started = time.perf_counter()
    url = make_url(db_url)
    if url.get_backend_name() != "sqlite" or not url.database:
        raise DemoError(f"the demo writes a fresh SQLite file; {db_url} is not one")
    database = Path(url.database)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{database}{suffix}").unlink(missing_ok=True)
    sample = Path(tempfile.mkdtemp(prefix="gzbcat-demo-"))
    output_dir.mkdir(parents=True, exist_ok=True)
    simulate(sample, galaxies=galaxies, volunteers=volunteers, seed=seed)
    engine = make_engine(db_url)
    upgrade(engine)
    result = DemoResult(db_url=db_url, sample_dir=sample)
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
    for entry in STAGES.values():
        result.stages.append(
            run_stage(engine, entry.stage, entry.make_params(Method.CORRECTED), workers=workers)
        )
    truth = json.loads((sample / "truth.json").read_text())
    result.comparison = compare_with_truth(engine, truth)
    result.catalogue = run_catalogue_demo(engine, output_dir, shared_data_dir())
    try:
        from gzbcat.catalogue.figures import plot_subjects

        first = sorted(int(key) for key in truth["subjects"])[:3]
        result.figures = plot_subjects(engine, first, output_dir / "figures")
    except ImportError:
        result.figures_missing = "matplotlib is not installed: pip install 'gzbcat[plot]'"
    result.status = status(engine)
    engine.dispose()
    result.seconds = time.perf_counter() - started
    return result
