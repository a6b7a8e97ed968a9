"""The tune stages on a simulated subject, on SQLite and PostgreSQL.

The fit is capped at a few dozen iterations to keep the test fast; what is checked is the
stage's bookkeeping (tuned model, its source, the fits row, failures), and that even a short
fit moves χ²_ν close to 1 on data whose noise is known.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from gzbcat.db import schema
from gzbcat.db.engine import session_scope
from gzbcat.db.models import replace_model
from gzbcat.model import GalaxyModel, SersicComponent
from gzbcat.simulate import simulate
from gzbcat.stages import aggregate, best_individual
from gzbcat.stages.ingest import (
    ingest_classifications,
    ingest_fitting_metadata,
    ingest_subjects,
)
from gzbcat.stages.registry import tune_params
from gzbcat.stages.runner import run_stage
from gzbcat.stages.tune import TUNE_STAGES


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("sample")
    simulate(folder, galaxies=1, volunteers=12, seed=3, real_subjects=False, junk_fraction=0)
    return folder


@pytest.fixture
def ingested(engine: Engine, sample: Path) -> Engine:
    ingest_subjects(engine, sample / "subjects.csv", sample)
    ingest_fitting_metadata(engine, [sample / "fitting-metadata"])
    ingest_classifications(engine, sample / "classifications.csv")
    run_stage(engine, aggregate.STAGE, aggregate.AggregateParams())
    run_stage(engine, best_individual.STAGE, best_individual.BestIndividualParams())
    return engine


def test_both_sources_are_tuned_with_a_fits_row(ingested: Engine) -> None:
    for source, stage in TUNE_STAGES.items():
        summary = run_stage(ingested, stage, tune_params(source, max_iterations=40))
        assert (summary.done, summary.failed) == (1, 0), summary.failures
    with session_scope(ingested) as session:
        rows = session.execute(
            select(schema.Model, schema.Fit)
            .join(schema.Fit, schema.Fit.model_id == schema.Model.model_id)
            .where(schema.Model.kind == "tuned")
        ).all()
        kinds = sorted(session.get(schema.Model, model.source_model_id).kind for model, _ in rows)
        disks = session.scalars(
            select(schema.Component.re_err)
            .join(schema.Model, schema.Model.model_id == schema.Component.model_id)
            .where(schema.Model.kind == "tuned", schema.Component.component == "disk")
        ).all()
    assert kinds == ["aggregate", "best_individual"]
    for _, fit in rows:
        assert fit.n_pixels > 1000
        assert 0.8 < fit.chi2_nu < 3.0
        assert fit.magnitude is not None and fit.flux > 0
        assert 0 <= fit.bulge_fraction < 1
    assert all(err is not None and err > 0 for err in disks)  # Hessian lower bounds
    # Nothing is due again; a new aggregate makes only the aggregate's tune due.
    stage = TUNE_STAGES["aggregate"]
    assert run_stage(ingested, stage, tune_params("aggregate", max_iterations=40)).due == 0
    run_stage(ingested, aggregate.STAGE, aggregate.AggregateParams(), force=True)
    again = run_stage(ingested, stage, tune_params("aggregate", max_iterations=40))
    assert again.done == 1
    with session_scope(ingested) as session:
        tuned = session.scalars(select(schema.Model).where(schema.Model.kind == "tuned")).all()
    assert len(tuned) == 2
    assert all(model.source_model_id is not None for model in tuned)


def test_a_model_without_disk_is_a_failed_unit_with_the_reason(ingested: Engine) -> None:
    with session_scope(ingested, write=True) as session:
        subject_id = session.scalar(select(schema.Subject.subject_id))
        replace_model(
            session,
            subject_id,
            GalaxyModel(bulge=SersicComponent(50, 50, 0.0, 5.0, 0.9, 0.5, 2.0, 2.0)),
            kind="aggregate",
            method="corrected",
            run_id=None,
        )
    summary = run_stage(
        ingested, TUNE_STAGES["aggregate"], tune_params("aggregate", max_iterations=5)
    )
    assert summary.failed == 1
    assert "disk" in summary.failures[0][1]
    with session_scope(ingested) as session:
        unit = session.get(schema.StageUnit, ("tune-aggregate", subject_id))
        assert unit is not None and unit.state == "failed" and "disk" in (unit.error or "")
        assert session.scalars(select(schema.Fit)).all() == []
