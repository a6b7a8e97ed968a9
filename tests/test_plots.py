"""Figures of a simulated subject at each stage, the catalogue figure, and ``gzbcat plot``.

The subject figure is checked as a file (a PNG or PDF of the promised size) and through the
arrays its panels draw: the model panel must be :func:`render_model`'s output, exactly, so
that the picture cannot silently drift from the model it claims to show.
"""

from __future__ import annotations

import math
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import typer

pytest.importorskip("matplotlib", reason="the plot extra is not installed")

from matplotlib.colors import to_rgba
from PIL import Image
from sqlalchemy import Engine, select
from typer.testing import CliRunner

from gzbcat import plots
from gzbcat.catalogue import figures
from gzbcat.catalogue.external import import_table
from gzbcat.cli.plots import register
from gzbcat.db import schema
from gzbcat.db.engine import session_scope
from gzbcat.geometry import box_vertices, ellipse_vertices
from gzbcat.model import GalaxyModel, SersicComponent, SpiralArm, SubjectImage
from gzbcat.rendering import render_model
from gzbcat.simulate import simulate
from gzbcat.stages import aggregate
from gzbcat.stages.ingest import ingest_classifications, ingest_fitting_metadata, ingest_subjects
from gzbcat.stages.registry import tune_params
from gzbcat.stages.runner import run_stage
from gzbcat.stages.tune import TUNE_STAGES

SUBJECT_PIXELS = (
    round(plots.SUBJECT_FIGSIZE[0] * plots.DPI),
    round(plots.SUBJECT_FIGSIZE[1] * plots.DPI),
)
CATALOGUE_PIXELS = (
    round(plots.CATALOGUE_FIGSIZE[0] * plots.DPI),
    round(plots.CATALOGUE_FIGSIZE[1] * plots.DPI),
)


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("sample")
    simulate(folder, galaxies=1, volunteers=12, seed=3, real_subjects=False, junk_fraction=0)
    return folder


def _subject_id(engine: Engine) -> int:
    with session_scope(engine) as session:
        subject_id = session.scalar(select(schema.Subject.subject_id))
    assert subject_id is not None
    return int(subject_id)


def _with_images(engine: Engine, sample: Path) -> int:
    ingest_subjects(engine, sample / "subjects.csv", sample)
    ingest_fitting_metadata(engine, [sample / "fitting-metadata"])
    return _subject_id(engine)


def _aggregated(engine: Engine, sample: Path) -> int:
    ingest_classifications(engine, sample / "classifications.csv")
    summary = run_stage(engine, aggregate.STAGE, aggregate.AggregateParams())
    assert summary.failed == 0, summary.failures
    return _subject_id(engine)


def _tuned(engine: Engine) -> None:
    stage = TUNE_STAGES["aggregate"]
    summary = run_stage(engine, stage, tune_params("aggregate", max_iterations=5))
    assert (summary.done, summary.failed) == (1, 0), summary.failures


def _check_png(path: Path, size: tuple[int, int]) -> None:
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(path) as image:
        image.verify()
    with Image.open(path) as image:
        assert image.size == size


def _artist(figure: object, gid: str) -> object:
    found = [im for ax in figure.axes for im in ax.images if im.get_gid() == gid]  # type: ignore[attr-defined]
    assert len(found) == 1, gid
    return found[0]


def test_a_subject_gets_the_panels_it_can_have_at_each_stage(
    engine: Engine, sample: Path, tmp_path: Path
) -> None:
    subject_id = _with_images(engine, sample)
    stages = []
    ((path, missing),) = plots.plot_subject_files(engine, [subject_id], tmp_path / "ingested")
    stages.append((path, missing))
    assert set(missing) == {"volunteers", "aggregate", "model", "residual"}
    assert "ingest classifications" in missing["volunteers"]

    _aggregated(engine, sample)
    ((path, missing),) = plots.plot_subject_files(engine, [subject_id], tmp_path / "aggregated")
    stages.append((path, missing))
    assert set(missing) == {"model", "residual"}
    assert "gzbcat tune" in missing["model"]

    _tuned(engine)
    paths = plots.plot_subjects(engine, [subject_id], tmp_path / "tuned")
    assert paths == [tmp_path / "tuned" / f"subject_{subject_id}.png"]
    stages.append((paths[0], {}))
    for path, _ in stages:
        _check_png(path, SUBJECT_PIXELS)

    (pdf,) = plots.plot_subjects(engine, [subject_id], tmp_path / "pdf", fmt="pdf")
    assert pdf.suffix == ".pdf" and pdf.read_bytes().startswith(b"%PDF")
    with pytest.raises(plots.PlotError, match="not in the database: subject 123"):
        plots.plot_subjects(engine, [subject_id, 123], tmp_path / "none")
    assert not (tmp_path / "none").exists()  # nothing written when one id is unknown
    with pytest.raises(plots.PlotError, match="format"):
        plots.plot_subjects(engine, [subject_id], tmp_path / "svg", fmt="svg")


def test_the_panels_draw_exactly_the_renderer_output_and_the_stored_shapes(
    engine: Engine, sample: Path
) -> None:
    subject_id = _with_images(engine, sample)
    _aggregated(engine, sample)
    _tuned(engine)
    with session_scope(engine) as session:
        data = plots.load_subject_plot_data(session, subject_id)
        fit = session.scalars(select(schema.Fit)).one()
        members = session.execute(select(schema.ClusterMember)).scalars().all()
    assert data.image is not None and data.tuned is not None and data.aggregate is not None
    assert data.tuned_source == "aggregate" and data.method == "corrected"
    panels = plots.subject_panels(data)
    figure = plots.draw_subject(data, panels)

    # Panel 3 is the renderer's output, unchanged, and it is the array the artist holds.
    expected = render_model(data.tuned, data.image.image.shape, data.image.psf, method="corrected")
    assert panels.model is not None
    np.testing.assert_array_equal(panels.model, expected)
    drawn_model = _artist(figure, "model").get_array()  # type: ignore[attr-defined]
    np.testing.assert_array_equal(np.ma.getdata(drawn_model), expected)
    assert not np.ma.getmaskarray(drawn_model).any()

    # Panel 4: (data − model)/σ where the fit looked, masked where it did not.
    image = data.image
    assert panels.residual is not None and image.sigma is not None
    np.testing.assert_array_equal(panels.residual.mask, image.mask)
    keep = ~image.mask
    np.testing.assert_allclose(
        panels.residual[keep], ((image.image - expected) / image.sigma)[keep], rtol=1e-12
    )
    shown = _artist(figure, "data").get_array()  # type: ignore[attr-defined]
    np.testing.assert_array_equal(shown.data, image.image)
    np.testing.assert_array_equal(shown.mask, image.mask)

    # Masked pixels are drawn in the mask colour, not as dark sky.
    y, x = np.argwhere(image.mask)[0]
    artist = _artist(figure, "data")
    rgba = artist.to_rgba(artist.norm(shown))  # type: ignore[attr-defined]
    np.testing.assert_allclose(rgba[y, x], to_rgba(plots.MASK_COLOUR), atol=1 / 255)

    # Outlines are the §5.1 shapes of the stored models; members come from cluster_members.
    disk = data.aggregate.disk
    assert disk is not None
    (drawn,) = [o for o in panels.overlays if o.role == "aggregate" and o.part == "disk"]
    np.testing.assert_array_equal(
        drawn.vertices, ellipse_vertices((disk.mux, disk.muy, disk.re, disk.q, disk.roll))[0]
    )
    stored = {(m.part, m.member_model_id) for m in members}
    drawn_members = {(o.part, o.model_id) for o in panels.overlays if o.role == "member"}
    assert drawn_members == stored  # every member of this subject has the part it was in
    n_volunteer = sum(o.panel == "volunteers" for o in panels.overlays)
    assert n_volunteer == sum(len(m.components()) + len(m.arms) for m in data.volunteers.values())
    labels = [o.label for o in panels.overlays if o.role == "aggregate" and o.label]
    assert len(labels) == len(data.aggregate.arms)
    for arm, label in zip(data.aggregate.arms, labels, strict=True):
        assert arm.fit is not None and label.startswith(f"{arm.fit.pitch_angle_deg:.1f}")

    # Caption and title carry the fits row.
    assert f"subject {subject_id}" in panels.caption
    assert f"bulge fraction {fit.bulge_fraction:.3f}" in panels.caption
    assert "method corrected" in panels.caption
    titles = [ax.get_title() for ax in figure.axes]
    assert any(f"{fit.chi2_nu:.3f}" in title for title in titles)


def test_drawing_needs_no_database_and_says_what_is_missing() -> None:
    shape = (40, 50)
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    disk = SersicComponent(25.0, 20.0, 0.3, 8.0, 0.6, 0.5, 1.0, 2.0)
    bar = SersicComponent(25.0, 20.0, 1.0, 4.0, 0.3, 0.2, 0.5, 3.0)
    truth = GalaxyModel(disk=disk, bar=bar)
    psf = np.zeros((3, 3))
    psf[1, 1] = 1.0
    mask = (xx < 3) & (yy < 3)
    image = SubjectImage(
        image=render_model(truth, shape, psf), mask=mask, psf=psf, sigma=np.full(shape, 0.1)
    )
    volunteer = GalaxyModel(
        disk=disk, bar=bar, arms=(SpiralArm(np.array([[20, 20], [30, 30.0]]), 0.1, 3.0),)
    )
    data = plots.SubjectPlotData(
        subject_id=7, image=image, volunteers={1: volunteer}, tuned=truth, method="reference"
    )
    panels = plots.subject_panels(data)
    assert set(panels.missing) == {"aggregate"}
    np.testing.assert_array_equal(panels.model, render_model(truth, shape, psf, method="reference"))
    (box,) = [o for o in panels.overlays if o.part == "bar"]
    np.testing.assert_array_equal(box.vertices, box_vertices((25, 20, 4, 0.3, 1.0))[0])
    figure = plots.draw_subject(data, panels)
    assert tuple(figure.get_size_inches() * figure.dpi) == SUBJECT_PIXELS
    assert "dr7objid n/a" in panels.caption and "no aggregate model" in panels.caption

    bare = plots.subject_panels(plots.SubjectPlotData(subject_id=8))
    assert bare.image is None and set(bare.missing) == {
        "volunteers",
        "aggregate",
        "model",
        "residual",
    }
    assert "fitting-metadata" in bare.caption
    plots.draw_subject(plots.SubjectPlotData(subject_id=8), bare)


def test_the_stretch_is_the_spec_asinh() -> None:
    a = plots.ASINH_A
    for x in (-1.0, 0.0, 0.3, 5.0):
        assert plots.asinh_stretch(np.array(x)) == pytest.approx(
            math.log(x / a + math.sqrt(1 + (x / a) ** 2)) / math.log(a + math.sqrt(1 + a * a))
        )
    masked = np.ma.masked_array([1.0, 2.0], mask=[False, True])
    assert plots.asinh_stretch(masked).mask.tolist() == [False, True]


def _hart_csv(path: Path, dr7objid: int) -> Path:
    path.write_text(
        "dr7objid,ra,dec,psi_sparcfire,psi_gz2,logMstar\n"
        f"{dr7objid},10.0,1.0,-999,21.5,10.25\n"
        "587739609160417293,174.3737,32.25246,15.0,20.0,10.4\n"
    )
    return path


def test_catalogue_figure_with_and_without_the_hart_table(
    engine: Engine, sample: Path, tmp_path: Path
) -> None:
    subject_id = _with_images(engine, sample)
    _aggregated(engine, sample)
    _tuned(engine)
    out = tmp_path / "catalogue.png"
    data = plots.plot_catalogue(engine, out)
    _check_png(out, CATALOGUE_PIXELS)
    assert data.hart is None
    assert any("not imported" in note and "import-table" in note for note in data.notes)
    (row,) = data.rows
    assert row.subject_id == subject_id and row.bulge_fraction is not None
    assert row.pitch_angle_deg is not None

    # The tables-only fallback agrees with the view it stands in for.
    (fallback,) = figures._catalogue_rows_from_tables(engine)
    assert fallback.bulge_fraction == pytest.approx(row.bulge_fraction)
    assert fallback.pitch_angle_deg == pytest.approx(row.pitch_angle_deg)

    assert row.dr7objid is not None
    import_table(
        engine,
        _hart_csv(tmp_path / "hart.csv", row.dr7objid),
        "hart2017",
        ra="ra",
        dec="dec",
        keys=["dr7objid"],
    )
    data = plots.plot_catalogue(engine, tmp_path / "catalogue.pdf")
    assert (tmp_path / "catalogue.pdf").read_bytes().startswith(b"%PDF")
    assert data.hart is not None and data.notes == ()
    hart = data.hart[row.dr7objid]
    assert (hart.psi_sparcfire, hart.psi_gz2, hart.log_mstar) == (None, 21.5, 10.25)


def _cli(db_url: str) -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def main(ctx: typer.Context) -> None:
        ctx.obj = types.SimpleNamespace(db_url=db_url)

    register(app)
    return app


def test_plot_command(
    engine: Engine, sample: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    subject_id = _with_images(engine, sample)
    app = _cli(engine.url.render_as_string(hide_password=False))
    runner = CliRunner()

    result = runner.invoke(app, ["plot", str(subject_id), "--out", str(tmp_path / "figs")])
    assert result.exit_code == 0, result.output
    assert f"subject_{subject_id}.png" in result.output
    assert "missing: no volunteer models" in result.output
    _check_png(tmp_path / "figs" / f"subject_{subject_id}.png", SUBJECT_PIXELS)

    out = tmp_path / "cat.png"
    result = runner.invoke(app, ["plot", "--catalogue", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "not imported" in result.output
    _check_png(out, CATALOGUE_PIXELS)

    for args, message in (
        (["plot"], "SUBJECT_IDS"),
        (["plot", "42"], "not in the database"),
        (["plot", str(subject_id), "--format", "gif"], "format"),
    ):
        result = runner.invoke(app, args)
        assert result.exit_code == 2, (args, result.output)
        assert message in result.output

    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if the extra were not installed
    result = runner.invoke(app, ["plot", str(subject_id), "--out", str(tmp_path / "no")])
    assert result.exit_code == 2
    assert "pip install 'gzbcat[plot]'" in result.output


def test_plot_command_refuses_a_database_without_schema(tmp_path: Path) -> None:
    app = _cli(f"sqlite:///{tmp_path / 'empty.sqlite'}")
    result = CliRunner().invoke(app, ["plot", "1"])
    assert result.exit_code == 2
    assert "gzbcat init" in result.output
