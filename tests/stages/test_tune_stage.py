"""The tune stages on a simulated subject, on SQLite and PostgreSQL.

The fit is capped at a few dozen iterations to keep the test fast; what is checked is the
stage's bookkeeping (tuned model, its source, the fits row, failures), and that even a short
fit moves χ²_ν close to 1 on data whose noise is known.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import Engine, select, text, update

from gzbcat.db import schema
from gzbcat.db.arrays import array_to_bytes
from gzbcat.db.engine import session_scope
from gzbcat.db.models import replace_model
from gzbcat.model import GalaxyModel, SersicComponent
from gzbcat.rendering import render_model
from gzbcat.simulate import simulate
from gzbcat.stages import aggregate, best_individual
from gzbcat.stages.registry import tune_params
from gzbcat.stages.runner import run_stage
from gzbcat.stages.tune import TUNE_STAGES
from tests.conftest import ingest_sample


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("sample")
    simulate(folder, galaxies=1, volunteers=12, seed=3, real_subjects=False, junk_fraction=0)
    return folder


@pytest.fixture
def ingested(engine: Engine, sample: Path) -> Engine:
    ingest_sample(engine, sample)
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
    assert all(err is not None and err > 0 for err in disks)  # the posterior's width
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


def test_a_parameter_at_its_bound_is_stored_null_with_its_flag(ingested: Engine) -> None:
    """A disk flatter than the fit allows (q = 0.2 < 0.25): q_err is NULL with ``q:at_bound``
    in ``components`` and in the catalogue; the fitted parameters have errors, the fixed ones
    (n, c) say so, and the fits row keeps the error scale."""
    shape = (40, 40)
    truth = SersicComponent(19.6, 20.3, 0.4, 7.0, 0.2, 0.5)
    psf = np.zeros((5, 5))
    psf[2, 2] = 1.0
    image = render_model(GalaxyModel(disk=truth), shape, psf)
    image += np.random.default_rng(2).normal(0.0, 0.05, shape)
    with session_scope(ingested, write=True) as session:
        subject_id = session.scalar(select(schema.Subject.subject_id))
        session.execute(
            update(schema.SubjectImage)
            .where(schema.SubjectImage.subject_id == subject_id)
            .values(
                width=shape[1],
                height=shape[0],
                image=array_to_bytes(image),
                sigma=array_to_bytes(np.full(shape, 0.05)),
                mask=array_to_bytes(np.zeros(shape, dtype=bool)),
                psf=array_to_bytes(psf),
            )
        )
        start = GalaxyModel(disk=truth.with_parameters(q=0.4, intensity=0.3))
        replace_model(session, subject_id, start, kind="aggregate", method="corrected", run_id=None)
    summary = run_stage(ingested, TUNE_STAGES["aggregate"], tune_params("aggregate"))
    assert (summary.done, summary.failed) == (1, 0), summary.failures
    with session_scope(ingested) as session:
        disk = session.execute(
            select(schema.Component)
            .join(schema.Model, schema.Model.model_id == schema.Component.model_id)
            .where(schema.Model.kind == "tuned", schema.Component.component == "disk")
        ).scalar_one()
        fit = session.execute(select(schema.Fit)).scalar_one()
        view = session.execute(
            text(
                "SELECT disk_q, disk_q_err, disk_re_err, disk_error_flags, error_scale "
                "FROM catalogue WHERE subject_id = :s"
            ),
            {"s": subject_id},
        ).one()
    assert disk.q == pytest.approx(0.25)
    assert disk.q_err is None
    assert disk.error_flags is not None
    assert set(disk.error_flags.split(",")) == {"q:at_bound", "n:fixed", "c:fixed"}
    assert all(
        value is not None and value > 0
        for value in (disk.mux_err, disk.muy_err, disk.roll_err, disk.re_err, disk.intensity_err)
    )
    assert fit.error_scale is not None and fit.error_scale >= 1.0
    assert fit.hessian_positive_definite is True
    assert view.disk_q == pytest.approx(0.25) and view.disk_q_err is None
    assert view.disk_re_err == pytest.approx(disk.re_err)
    assert view.disk_error_flags == disk.error_flags
    assert view.error_scale == pytest.approx(fit.error_scale)
