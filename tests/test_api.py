"""The Python API (``gzbcat.open_catalogue``) on both backends.

One small database per backend is built once for the module: two simulated galaxies ingested
and run through every stage, with the tuning of the second subject left out so that a model
that has not been made yet can be asked for. Expected values come from other paths into the
same rows: the FITS export read back, the ``catalogue`` view, the ``models`` table through
SQL, and the data the models were fitted to.
"""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from astropy import units as u
from astropy.table import Table

import gzbcat
from gzbcat.catalogue.columns import CATALOGUE_COLUMNS
from gzbcat.catalogue.export import export
from gzbcat.db import schema
from gzbcat.db.engine import make_engine, session_scope, upgrade
from gzbcat.model import GalaxyModel
from gzbcat.rendering import render_model
from gzbcat.simulate import simulate
from gzbcat.stages import aggregate, best_individual
from gzbcat.stages.registry import tune_params
from gzbcat.stages.runner import run_stage
from gzbcat.stages.tune import TUNE_STAGES
from tests.conftest import BACKENDS, fresh_database_url, ingest_sample


@dataclass(frozen=True)
class Built:
    url: str
    tuned: int  # a subject with every model
    untuned: int  # a subject with aggregate and best-individual models, not tuned


@pytest.fixture(scope="module", params=BACKENDS)
def built(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Built]:
    folder = tmp_path_factory.mktemp("api")
    sample = folder / "sample"
    simulate(sample, galaxies=2, volunteers=12, seed=3, real_subjects=False, junk_fraction=0)
    with fresh_database_url(request.param, folder) as url:
        engine = make_engine(url)
        try:
            upgrade(engine)
            ingest_sample(engine, sample)
            for stage, params in (
                (aggregate.STAGE, aggregate.AggregateParams()),
                (best_individual.STAGE, best_individual.BestIndividualParams()),
            ):
                assert run_stage(engine, stage, params).done == 2
            with gzbcat.open_catalogue(url) as cat:
                tuned, untuned = cat.subjects()
            for source in ("aggregate", "best_individual"):
                params = tune_params(source, max_iterations=5)
                summary = run_stage(engine, TUNE_STAGES[source], params, subjects=[tuned])
                assert (summary.done, summary.failed) == (1, 0), summary.failures
        finally:
            engine.dispose()
        yield Built(url=url, tuned=tuned, untuned=untuned)


@pytest.fixture
def cat(built: Built) -> Iterator[gzbcat.Catalogue]:
    with gzbcat.open_catalogue(built.url) as catalogue:
        yield catalogue


def test_the_table_is_the_fits_export_with_its_units_and_descriptions(
    cat: gzbcat.Catalogue, built: Built, tmp_path: Path
) -> None:
    table = cat.table()
    assert isinstance(table, Table)
    assert list(table["subject_id"]) == [built.tuned, built.untuned]
    for column in CATALOGUE_COLUMNS:
        assert table[column.name].description == column.description
        unit = table[column.name].unit
        assert unit is None if column.unit is None else unit == u.Unit(column.unit), column.name

    path = tmp_path / "catalogue.fits"
    export(cat.engine, path)
    written = Table.read(path)
    assert written.colnames == table.colnames
    for name in table.colnames:
        mine, theirs = table[name], written[name]
        np.testing.assert_array_equal(np.ma.getmaskarray(mine), np.ma.getmaskarray(theirs))
        keep = ~np.ma.getmaskarray(mine)
        values = np.asarray(theirs)
        if values.dtype.kind == "S":  # astropy reads FITS text columns as bytes
            values = np.char.decode(values, "ascii")
        np.testing.assert_array_equal(np.asarray(mine)[keep], values[keep])
        if theirs.unit is not None:  # FITS leaves out units it cannot name (nmgy)
            assert mine.unit == theirs.unit, name
    assert table.meta["METHOD"] == written.meta["METHOD"] == "corrected"
    # The untuned subject has arms but no tuned parameters.
    assert table["disk_re"].mask.tolist() == [False, True]

    some = cat.table(["subject_id", "disk_re"])
    assert some.colnames == ["subject_id", "disk_re"] and some["disk_re"].unit == "pix"
    with pytest.raises(gzbcat.CatalogueError, match="no column disk_radius"):
        cat.table(["disk_radius"])


def test_the_dataframe_holds_the_table(cat: gzbcat.Catalogue) -> None:
    table = cat.table()
    frame = cat.dataframe()
    assert isinstance(frame, pd.DataFrame)
    assert list(frame.columns) == table.colnames and len(frame) == len(table)
    for name in table.colnames:
        column = table[name]
        masked = np.ma.getmaskarray(column)
        np.testing.assert_array_equal(frame[name].isna().to_numpy(), masked, err_msg=name)
        values = frame[name].to_numpy()[~masked]
        np.testing.assert_array_equal(values.astype(column.dtype), np.asarray(column)[~masked])
    assert frame["dr7objid"].tolist() == [int(v) for v in table["dr7objid"]]  # exact 64-bit
    assert frame.attrs["units"]["disk_re"] == "pix"
    assert frame.attrs["units"]["subject_id"] is None
    assert frame.attrs["descriptions"]["disk_re"] == table["disk_re"].description
    assert frame.attrs["METHOD"] == "corrected"
    pd.testing.assert_frame_equal(cat.to_pandas(["subject_id"]), frame[["subject_id"]])


def test_a_query_returns_a_dataframe_and_is_read_only(cat: gzbcat.Catalogue, built: Built) -> None:
    frame = cat.query(
        "SELECT subject_id, disk_re FROM catalogue WHERE subject_id = :s", s=built.tuned
    )
    assert isinstance(frame, pd.DataFrame)
    assert list(frame.columns) == ["subject_id", "disk_re"]
    table = cat.table()
    assert frame.subject_id.tolist() == [built.tuned]
    assert frame.disk_re[0] == table["disk_re"][0]

    # NULLs in an integer column: nullable integers, 64-bit ids exact (no float round trip).
    ids = cat.query(
        "SELECT subject_id, CASE WHEN subject_id = :s THEN dr7objid END AS dr7objid "
        "FROM subjects ORDER BY subject_id",
        s=built.tuned,
    )
    assert str(ids.dr7objid.dtype) == "Int64"
    assert ids.dr7objid[0] == int(table["dr7objid"][0]) and ids.dr7objid.isna()[1]

    empty = cat.query("SELECT subject_id FROM subjects WHERE subject_id < 0")
    assert list(empty.columns) == ["subject_id"] and len(empty) == 0

    runs = int(cat.query("SELECT COUNT(*) AS n FROM runs").n[0])
    with pytest.raises(gzbcat.CatalogueError, match="read-only") as refused:
        cat.query("DELETE FROM runs")
    assert refused.value.__cause__ is not None
    assert int(cat.query("SELECT COUNT(*) AS n FROM runs").n[0]) == runs
    with pytest.raises(gzbcat.CatalogueError, match="one statement"):
        cat.query("SELECT 1; DELETE FROM runs")
    assert int(cat.query("SELECT COUNT(*) AS n FROM runs").n[0]) == runs
    slow = {
        "sqlite": "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) "
        "SELECT COUNT(*) FROM c",
        "postgresql": "SELECT pg_sleep(5)::text",
    }[cat.engine.dialect.name]
    with pytest.raises(gzbcat.CatalogueError, match=r"cancelled after 0\.5 s"):
        cat.query(slow, timeout_seconds=0.5)


def test_every_kind_of_model_is_what_the_stages_stored(cat: gzbcat.Catalogue, built: Built) -> None:
    subject = built.tuned
    table = cat.table()
    row = table[list(table["subject_id"]).index(subject)]
    models = {
        source: cat.model(subject, source)
        for source in ("aggregate", "best-individual", "tuned-aggregate", "tuned-best-individual")
    }
    assert all(isinstance(m, GalaxyModel) for m in models.values())
    # The tuned models are the ones the catalogue view describes (its unprefixed and bi_ columns).
    for prefix, source in (("", "tuned-aggregate"), ("bi_", "tuned-best-individual")):
        disk = models[source].disk
        assert disk is not None
        for parameter in ("mux", "muy", "roll", "re", "q", "intensity"):
            assert getattr(disk, parameter) == row[f"{prefix}disk_{parameter}"], parameter
    assert len(models["aggregate"].arms) == row["n_arms"]
    assert len(models["best-individual"].arms) == row["bi_n_arms"]
    # Other spellings name the same models.
    assert cat.model(subject) == models["tuned-aggregate"]
    assert cat.model(subject, "tuned") == models["tuned-aggregate"]
    assert cat.model(subject, "best_individual") == models["best-individual"]
    assert cat.model(subject, gzbcat.ModelSource.AGGREGATE) == models["aggregate"]

    # Volunteers: one model per parsed classification; the best individual is one of them.
    volunteers = cat.volunteer_models(subject)
    parsed = cat.query(
        "SELECT classification_id FROM classifications "
        "WHERE subject_id = :s AND parse_status = 'ok' ORDER BY classification_id",
        s=subject,
    )
    assert list(volunteers) == parsed.classification_id.tolist() and len(volunteers) == 12
    chosen = cat.query(
        "SELECT classification_id FROM models WHERE subject_id = :s AND kind = 'best_individual'",
        s=subject,
    ).classification_id[0]
    assert volunteers[int(chosen)] == models["best-individual"]
    first = next(iter(volunteers))
    assert cat.model(subject, "volunteer", classification_id=first) == volunteers[first]


def test_a_render_uses_the_subjects_psf_and_matches_the_data(
    cat: gzbcat.Catalogue, built: Built
) -> None:
    subject = built.tuned
    image = cat.image(subject)
    rendered = cat.render(subject)
    assert rendered.shape == image.image.shape
    assert np.isfinite(rendered).all()
    good = ~image.mask
    data_light = float(image.image[good].sum())
    assert data_light > 0
    # A fitted model carries the data's light (within what 5 iterations leave over).
    assert abs(float(rendered[good].sum()) / data_light - 1) < 0.15
    model = cat.model(subject)
    np.testing.assert_array_equal(
        rendered, render_model(model, image.image.shape, image.psf, method="corrected")
    )
    unconvolved = cat.render(subject, psf=False)
    assert not np.allclose(unconvolved, rendered)
    assert unconvolved.max() > rendered.max()  # the PSF spreads the peak
    # Any model renders: the untuned subject's aggregate, a volunteer's drawing.
    assert cat.render(built.untuned, "aggregate").shape == cat.image(built.untuned).image.shape
    first = next(iter(cat.volunteer_models(subject)))
    drawn = cat.render(subject, "volunteer", classification_id=first)
    assert np.isfinite(drawn).all() and drawn.sum() > 0


def test_a_plot_draws_the_render_on_matplotlib_axes(
    cat: gzbcat.Catalogue, built: Built, monkeypatch: pytest.MonkeyPatch
) -> None:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    subject = built.tuned
    ax = cat.plot(subject)
    assert isinstance(ax, Axes) and isinstance(ax.figure, Figure)
    (shown,) = [im for im in ax.images if im.get_gid() == "model"]
    np.testing.assert_array_equal(np.ma.getdata(shown.get_array()), cat.render(subject))
    model = cat.model(subject)
    assert len(ax.lines) == len(model.components()) + len(model.arms)
    assert "tuned-aggregate" in ax.get_title()
    assert len(cat.plot(subject, outlines=False).lines) == 0

    figure = Figure()
    mine = figure.subplots()
    assert cat.plot(subject, "best-individual", ax=mine) is mine
    assert "best-individual" in mine.get_title()
    four = cat.figure(subject)
    assert isinstance(four, Figure) and len(four.axes) >= 4

    monkeypatch.setitem(sys.modules, "matplotlib", None)  # the plot extra not installed
    with pytest.raises(ImportError, match=r"gzbcat\[plot\]"):
        cat.plot(subject)


def test_what_a_user_can_get_wrong_says_what_to_run(
    cat: gzbcat.Catalogue, built: Built, tmp_path: Path
) -> None:
    for call in (
        lambda: cat.model(123),
        lambda: cat.render(123),
        lambda: cat.plot(123),
        lambda: cat.image(123),
        lambda: cat.volunteer_models(123),
        lambda: cat.figure(123),
    ):
        with pytest.raises(gzbcat.CatalogueError, match="subject 123 is not in the database"):
            call()
    with pytest.raises(
        gzbcat.CatalogueError,
        match=f"no tuned-aggregate model yet: run gzbcat tune --source aggregate "
        f"--subjects {built.untuned}",
    ):
        cat.model(built.untuned)
    with pytest.raises(gzbcat.CatalogueError, match="tune --source best-individual"):
        cat.render(built.untuned, "tuned-best-individual")
    # A unit that failed is named with its error (the row is put back afterwards).
    with session_scope(cat.engine, write=True) as session:
        before = session.get(schema.StageUnit, ("tune-aggregate", built.untuned))
        kept = None if before is None else (before.state, before.error)
        session.merge(
            schema.StageUnit(
                stage="tune-aggregate",
                subject_id=built.untuned,
                state="failed",
                error="disk_vanished: the fitted disk luminosity is zero",
                attempts=1,
            )
        )
    said = f"tune-aggregate unit of subject {built.untuned} failed (disk_vanished"
    try:
        with pytest.raises(gzbcat.CatalogueError, match=re.escape(said)) as failed:
            cat.model(built.untuned)
        assert "--retry-failed" in str(failed.value)
    finally:
        with session_scope(cat.engine, write=True) as session:
            unit = session.get(schema.StageUnit, ("tune-aggregate", built.untuned))
            if kept is None:
                session.delete(unit)
            else:
                unit.state, unit.error = kept
    with pytest.raises(gzbcat.CatalogueError, match="source must be one of aggregate"):
        cat.model(built.tuned, "median")
    with pytest.raises(gzbcat.CatalogueError, match="classification_id"):
        cat.model(built.tuned, "volunteer")
    with pytest.raises(gzbcat.CatalogueError, match="has no classification 5"):
        cat.model(built.tuned, "volunteer", classification_id=5)

    missing = tmp_path / "missing.sqlite"
    said = f"no database at {re.escape(str(missing))}.*gzbcat init"
    with pytest.raises(gzbcat.CatalogueError, match=said):
        gzbcat.open_catalogue(missing)
    assert not missing.exists()
    with pytest.raises(gzbcat.CatalogueError, match="Can't load plugin"):
        gzbcat.open_catalogue("foo://")

    cat.close()
    with pytest.raises(gzbcat.CatalogueError, match="closed"):
        cat.subjects()


def test_a_database_without_the_schema_says_gzbcat_init(db_url: str) -> None:
    engine = make_engine(db_url)
    with engine.begin():
        pass  # the SQLite file exists, with no tables
    engine.dispose()
    with pytest.raises(gzbcat.CatalogueError, match="gzbcat init"):
        gzbcat.open_catalogue(db_url)


def test_import_gzbcat_stays_light() -> None:
    code = textwrap.dedent(
        """
        import sys
        import gzbcat

        heavy = ("sqlalchemy", "pandas", "astropy", "matplotlib", "gzbcat.api")
        print(sorted(name for name in heavy if name in sys.modules))
        print(gzbcat.open_catalogue.__module__)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[:2] == ["[]", "gzbcat.api"]
