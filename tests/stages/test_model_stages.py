"""The aggregate and best-individual stages on a simulated sample, on SQLite and PostgreSQL.

Tolerances: the simulator's volunteers scatter the disk centre by a few canvas pixels and Re by
~10 %, so the aggregate of 15 drawings is held to 1.5 px and 10 % of the truth here (the
tighter recovery figures are the aggregation tests' and the benchmark's business).
"""

from __future__ import annotations

import csv
import json
import math
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import Engine, func, select

from gzbcat.db import schema
from gzbcat.db.engine import session_scope
from gzbcat.db.images import load_subject_image
from gzbcat.db.models import load_models
from gzbcat.model import GalaxyModel, SubjectImage
from gzbcat.rendering import render_model
from gzbcat.simulate import simulate
from gzbcat.stages import aggregate, best_individual
from gzbcat.stages.ingest import ingest_classifications
from gzbcat.stages.runner import run_stage
from tests.conftest import ingest_sample


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("sample")
    simulate(folder, galaxies=3, volunteers=15, seed=7, real_subjects=False, junk_fraction=0)
    return folder


def _models(engine: Engine, kind: str) -> dict[int, tuple[int, GalaxyModel]]:
    with session_scope(engine) as session:
        rows = session.execute(
            select(schema.Model.subject_id, schema.Model.model_id).where(schema.Model.kind == kind)
        ).all()
        models = load_models(session, [r.model_id for r in rows])
    return {r.subject_id: (r.model_id, models[r.model_id]) for r in rows}


def test_aggregate_recovers_the_disk_and_records_members(engine: Engine, sample: Path) -> None:
    ingest_sample(engine, sample)
    summary = run_stage(engine, aggregate.STAGE, aggregate.AggregateParams())
    assert (summary.done, summary.failed) == (3, 0)
    truth = json.loads((sample / "truth.json").read_text())["subjects"]
    found = _models(engine, "aggregate")
    assert len(found) == 3
    for subject_id, (model_id, model) in found.items():
        true = GalaxyModel.from_dict(truth[str(subject_id)]["model"])
        assert model.disk is not None and true.disk is not None
        assert math.hypot(model.disk.mux - true.disk.mux, model.disk.muy - true.disk.muy) < 1.5
        assert model.disk.re == pytest.approx(true.disk.re, rel=0.1)
        assert model.disk.errors["mux"] > 0
        with session_scope(engine) as session:
            members = session.execute(
                select(schema.ClusterMember.part, schema.Model.kind)
                .join(schema.Model, schema.Model.model_id == schema.ClusterMember.member_model_id)
                .where(schema.ClusterMember.model_id == model_id)
            ).all()
        parts = Counter(part for part, _ in members)
        assert parts["disk"] >= 4  # DBSCAN min_samples (spec §5.3)
        assert {kind for _, kind in members} == {"volunteer"}
    again = run_stage(engine, aggregate.STAGE, aggregate.AggregateParams())
    assert again.due == 0


def test_new_classifications_make_only_their_subject_due(
    engine: Engine, sample: Path, tmp_path: Path
) -> None:
    with (sample / "classifications.csv").open(newline="") as handle:
        reader = csv.DictReader(handle)
        header, rows = list(reader.fieldnames or []), list(reader)
    late_subject = rows[-1]["subject_ids"]
    late = [r for r in rows if r["subject_ids"] == late_subject][-3:]
    early = [r for r in rows if r not in late]
    first = tmp_path / "early.csv"
    with first.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=header)
        writer.writeheader()
        writer.writerows(early)
    ingest_sample(engine, sample, first)
    assert run_stage(engine, aggregate.STAGE, aggregate.AggregateParams()).done == 3
    ingest_classifications(engine, sample / "classifications.csv")  # brings the late rows
    summary = run_stage(engine, aggregate.STAGE, aggregate.AggregateParams())
    assert (summary.due, summary.done) == (1, 1)
    with session_scope(engine) as session:
        redone = session.scalars(
            select(schema.Model.subject_id).where(
                schema.Model.kind == "aggregate", schema.Model.run_id == summary.run_id
            )
        ).all()
        assert redone == [int(late_subject)]
        assert (
            session.scalar(
                select(func.count())
                .select_from(schema.Model)
                .where(schema.Model.kind == "aggregate")
            )
            == 3
        )


def _chi2(candidate: GalaxyModel, image: SubjectImage) -> float:
    """χ² computed here, apart from the stage's own scoring."""
    rendered = render_model(candidate, image.image.shape, image.psf)
    good = ~image.mask
    return float(np.sum(((image.image - rendered)[good] / image.sigma[good]) ** 2))


def test_best_individual_is_the_lowest_chi_squared_drawing(engine: Engine, sample: Path):
    ingest_sample(engine, sample)
    summary = run_stage(engine, best_individual.STAGE, best_individual.BestIndividualParams())
    assert (summary.done, summary.failed) == (3, 0)
    chosen = _models(engine, "best_individual")
    with session_scope(engine) as session:
        rows = session.execute(
            select(schema.Model.subject_id, schema.Model.model_id).where(
                schema.Model.kind == "volunteer"
            )
        ).all()
        drawn = load_models(session, [r.model_id for r in rows])
    volunteers: dict[int, list[GalaxyModel]] = {}
    for row in rows:
        volunteers.setdefault(row.subject_id, []).append(drawn[row.model_id])
    with session_scope(engine) as session:
        for subject_id, (model_id, model) in chosen.items():
            row = session.get(schema.Model, model_id)
            assert row is not None and row.classification_id is not None
            image = load_subject_image(session, subject_id)
            assert image is not None
            best = _chi2(model, image)
            assert all(best <= _chi2(other, image) + 1e-9 for other in volunteers[subject_id])
            source = session.get(schema.Model, row.source_model_id)
            assert source is not None and source.classification_id == row.classification_id


def test_aggregate_stores_scatter_error_and_bootstrap_counts(engine: Engine, sample: Path) -> None:
    """The members' spread is stored as _scatter, the aggregate's own error as _err (spread /
    sqrt(members) by default); --bootstrap N replaces the errors by the resampled spread and
    stores in how many of the N resamples each part was found."""
    ingest_sample(engine, sample)
    run_stage(engine, aggregate.STAGE, aggregate.AggregateParams())
    cheap = _models(engine, "aggregate")
    with session_scope(engine) as session:
        n_disk = dict(
            session.execute(
                select(schema.ClusterMember.model_id, func.count())
                .where(schema.ClusterMember.part == "disk")
                .group_by(schema.ClusterMember.model_id)
            ).all()
        )
    for model_id, model in cheap.values():
        disk = model.disk
        assert disk is not None
        expected = disk.scatter["re"] / math.sqrt(n_disk[model_id])
        assert disk.errors["re"] == pytest.approx(expected)
        assert math.isinf(disk.scatter["intensity"]) and "intensity" not in disk.errors
        assert disk.error_flags["intensity"] == "fixed"
    params = aggregate.AggregateParams(bootstrap=6, bootstrap_seed=3)
    assert run_stage(engine, aggregate.STAGE, params).done == 3
    with session_scope(engine) as session:
        rows = session.execute(
            select(
                schema.Component.component,
                schema.Component.bootstrap_found,
                schema.Component.bootstrap_resamples,
            )
            .join(schema.Model, schema.Model.model_id == schema.Component.model_id)
            .where(schema.Model.kind == "aggregate")
        ).all()
        resamples = {row.bootstrap_resamples for row in rows}
        arm_counts = session.scalars(
            select(schema.Arm.bootstrap_found)
            .join(schema.Model, schema.Model.model_id == schema.Arm.model_id)
            .where(schema.Model.kind == "aggregate")
        ).all()
    assert resamples == {6}
    assert all(0 <= found <= 6 for _, found, _ in rows)
    assert any(name == "disk" and found == 6 for name, found, _ in rows)
    assert all(found is not None and 0 <= found <= 6 for found in arm_counts)
    again = {sid: model for sid, (_, model) in _models(engine, "aggregate").items()}
    for subject_id, (_, model) in cheap.items():
        boot = again[subject_id].disk
        assert boot is not None and model.disk is not None
        assert boot.re == model.disk.re  # the same aggregate, other errors
        assert boot.errors["re"] != model.disk.errors["re"]
