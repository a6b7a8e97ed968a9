"""The synthetic-sample simulator: realism, the inverse transform, determinism, readability.

Tolerances and why:

- a simulated annotation parses back to the drawn model to 1e-9 (components: the drawing is
  ``model_to_annotation``, the exact inverse of the parser) and to 0.05 canvas px (arm
  points: the export holds them to 0.1 canvas px, as the web interface recorded them);
- a drawn component lies within 6σ of the drawing scatter of its target (centre a few canvas
  px, Re ~10–15 %, q ~0.05), so a broken scatter or a units slip (canvas vs image px) fails;
- the true model rendered through the PSF matches the noisy fit target with a reduced χ² of
  1 ± 0.1 (the noise is drawn from the σ image the file carries);
- component rates over 400 galaxies are within ±0.08 of the intended 60 % / 35 % (≈ 3σ of a
  binomial of that size);
- aggregating parsed volunteers recovers the true disk to 2 px in centre and 10 % in Re.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from gzbcat.aggregation.aggregate import aggregate
from gzbcat.cli.simulate import register
from gzbcat.model import GalaxyModel, LogSpiralFit, SersicComponent
from gzbcat.rendering import render_model
from gzbcat.rendering.spiral import log_spiral_points
from gzbcat.simulate import (
    BAR_LENGTH_BIAS,
    CENTRE_SD_CANVAS,
    SUBJECT_ID_BASE,
    builtin_setup,
    draw_volunteer,
    log_spiral_image_points,
    make_galaxy,
    moffat_psf,
    observe,
    real_setups,
    simulate,
)
from gzbcat.zooniverse.annotations import (
    AnnotationError,
    CanvasFrame,
    parse_annotation,
    sanitize_model,
)
from gzbcat.zooniverse.exports import (
    ClassificationRow,
    SubjectRow,
    read_classification_export,
    read_subject_export,
)
from gzbcat.zooniverse.subject_files import read_difference_file, read_fitting_metadata


def _frame(size: int) -> CanvasFrame:
    return CanvasFrame(size, size, 512, 512)


def _roll_difference(a: float, b: float) -> float:
    return abs((a - b + math.pi / 2) % math.pi - math.pi / 2)


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    """A small built-in sample with plenty of junk, shared by the file-level tests."""
    outdir = tmp_path_factory.mktemp("sim")
    summary = simulate(
        outdir, galaxies=4, volunteers=12, seed=7, real_subjects=False, junk_fraction=0.25
    )
    return outdir, summary


# ------------------------------------------------------------------------------ pure parts


def test_moffat_psf_is_odd_normalised_and_centred() -> None:
    psf = moffat_psf(3.0)
    assert psf.shape == (11, 11)
    assert psf.sum() == pytest.approx(1.0, abs=1e-12)
    assert np.unravel_index(np.argmax(psf), psf.shape) == (5, 5)
    assert np.allclose(psf, psf[::-1, ::-1])
    with pytest.raises(ValueError, match="odd"):
        moffat_psf(3.0, size=10)


def test_log_spiral_points_match_the_renderers_placement() -> None:
    disk = SersicComponent(60.3, 58.1, 1.1, 25.0, 0.6, 0.1)
    for chirality in (1, -1):
        fit = LogSpiralFit(8.0, 18.0, chirality, -1.0, 3.0)
        expected, _ = log_spiral_points(8.0, 18.0 * chirality, -1.0, 3.0, disk)
        ours = log_spiral_image_points(fit, disk, np.linspace(-1.0, 3.0, 100))
        np.testing.assert_allclose(ours, expected, atol=1e-10)


def test_galaxies_have_realistic_rates_and_stay_inside_the_bounds() -> None:
    rng = np.random.default_rng(1)
    galaxies = [make_galaxy(rng, (128, 128)) for _ in range(400)]
    assert all(g.disk is not None for g in galaxies)
    assert np.mean([g.bulge is not None for g in galaxies]) == pytest.approx(0.6, abs=0.08)
    assert np.mean([g.bar is not None for g in galaxies]) == pytest.approx(0.35, abs=0.08)
    arm_counts = np.bincount([len(g.arms) for g in galaxies], minlength=5)
    assert len(arm_counts) == 5
    assert int(np.argmax(arm_counts)) == 2
    for galaxy in galaxies[:100]:
        # Every parameter inside the sanitising bounds: sanitising changes nothing.
        for name, comp in galaxy.components().items():
            clean = getattr(sanitize_model(galaxy), name)
            assert clean.parameters() == pytest.approx(comp.parameters()), name
        for arm in galaxy.arms:
            assert arm.fit is not None
            assert 5 <= arm.fit.pitch_angle_deg <= 40
            assert np.all((arm.points > 0) & (arm.points < 128))
        if galaxy.bar is not None:
            assert 0.05 <= galaxy.bar.q <= 0.5


def test_observation_is_the_truth_plus_the_noise_it_claims() -> None:
    rng = np.random.default_rng(3)
    setup = builtin_setup(rng)
    observation = observe(rng, make_galaxy(rng, setup.shape), setup)
    good = ~setup.mask
    assert observation.image[good].max() == pytest.approx(1.0, abs=1e-12)
    model = render_model(observation.model, setup.shape, setup.psf)
    chi = (observation.image - model)[good] / observation.sigma[good]
    assert np.mean(chi**2) == pytest.approx(1.0, abs=0.1)
    expected_sigma = np.sqrt(
        observation.sky_sigma**2 + observation.source_variance * np.maximum(model, 0) * 1.0
    )
    np.testing.assert_allclose(observation.sigma, expected_sigma, rtol=1e-9)


def test_a_simulated_annotation_parses_to_what_was_drawn() -> None:
    """model_to_annotation is the parser's exact inverse: this pins the transform, and the
    drawn shapes sit within the drawing noise of the volunteer's target."""
    rng = np.random.default_rng(11)
    checked = {"disk": 0, "bulge": 0, "bar": 0, "arms": 0}
    for _ in range(8):
        setup = builtin_setup(rng)
        truth = make_galaxy(rng, setup.shape)
        frame = _frame(setup.shape[1])
        canvas_to_image = frame.cutout_px_per_canvas_px
        for _ in range(15):
            annotation, notes = draw_volunteer(rng, truth, frame, junk_fraction=0.0)
            assert notes.kind == "normal"
            parsed = parse_annotation(json.dumps(annotation), frame)
            drawn = notes.drawn
            assert drawn is not None and notes.target is not None
            for name in ("disk", "bulge", "bar"):
                got, want = getattr(parsed, name), getattr(drawn, name)
                assert (got is None) == (want is None)
                if got is None:
                    continue
                checked[name] += 1
                assert got.parameters() == pytest.approx(want.parameters(), abs=1e-9)
                target = getattr(notes.target, name)
                centre_sd = CENTRE_SD_CANVAS[name] * canvas_to_image
                assert math.hypot(got.mux - target.mux, got.muy - target.muy) < 6 * centre_sd
                if notes.parts[name] in ("true", "wrong"):
                    assert abs(math.log(got.re / target.re)) < 6 * 0.15
            assert len(parsed.arms) == len(drawn.arms) == len(notes.arms)
            for got_arm, want_arm, note in zip(parsed.arms, drawn.arms, notes.arms, strict=True):
                checked["arms"] += 1
                assert 20 <= len(got_arm.points) <= 150
                assert note.n_points == len(got_arm.points)
                np.testing.assert_allclose(
                    got_arm.points, want_arm.points, atol=0.05 * canvas_to_image + 1e-9
                )
                assert got_arm.intensity == pytest.approx(want_arm.intensity, rel=1e-12)
                assert got_arm.spread == pytest.approx(want_arm.spread, rel=1e-12)
                if note.truth_arm is not None:
                    # the drawn arm follows the true one to a few canvas px
                    fit = truth.arms[note.truth_arm].fit
                    assert fit is not None
                    ridge = log_spiral_image_points(
                        fit, truth.disk, np.linspace(note.t_min, note.t_max, 2000)
                    )
                    gaps = np.min(
                        np.hypot(*(got_arm.points[:, None, :] - ridge[None]).transpose(2, 0, 1)),
                        axis=1,
                    )
                    assert np.median(gaps) < 3 * canvas_to_image * 2.5
    assert min(checked.values()) > 0, checked


def test_bars_are_under_drawn_and_untouched_sliders_are_default_strings() -> None:
    rng = np.random.default_rng(5)
    truth = make_galaxy(rng, (120, 120))
    while truth.bar is None:
        truth = make_galaxy(rng, (120, 120))
    frame = _frame(120)
    ratios, strings, numbers = [], 0, 0
    for _ in range(150):
        annotation, notes = draw_volunteer(rng, truth, frame, junk_fraction=0.0)
        if notes.parts.get("bar") == "true":
            assert notes.drawn is not None and notes.drawn.bar is not None
            ratios.append(notes.drawn.bar.re / truth.bar.re)
        for task in annotation[:3]:
            for slider in task["value"][1:]:
                if isinstance(slider["value"], str):
                    strings += 1
                else:
                    numbers += 1
    assert np.median(ratios) == pytest.approx(BAR_LENGTH_BIAS, abs=0.05)
    assert strings > 0 and numbers > 0


def test_junk_is_empty_or_rejected_by_the_parser() -> None:
    rng = np.random.default_rng(2)
    truth = make_galaxy(rng, (110, 110))
    frame = _frame(110)
    kinds: dict[str, int] = {}
    for _ in range(200):
        annotation, notes = draw_volunteer(rng, truth, frame, junk_fraction=1.0)
        kinds[notes.breakage or notes.kind] = kinds.get(notes.breakage or notes.kind, 0) + 1
        if notes.kind == "empty":
            assert parse_annotation(json.dumps(annotation), frame) == GalaxyModel()
        else:
            assert notes.kind == "malformed"
            with pytest.raises(AnnotationError):
                parse_annotation(json.dumps(annotation), frame)
    assert set(kinds) == {
        "empty",
        "missing-field",
        "undefined-slider",
        "null-point",
        "spiral-not-a-list",
    }


def test_aggregating_the_volunteers_recovers_the_true_disk() -> None:
    rng = np.random.default_rng(4)
    for _ in range(2):
        setup = builtin_setup(rng)
        truth = make_galaxy(rng, setup.shape)
        frame = _frame(setup.shape[1])
        models = [
            parse_annotation(draw_volunteer(rng, truth, frame, junk_fraction=0.0)[0], frame)
            for _ in range(30)
        ]
        disk = aggregate(models, setup.shape).model.disk
        assert disk is not None and truth.disk is not None
        assert math.hypot(disk.mux - truth.disk.mux, disk.muy - truth.disk.muy) < 2.0
        assert disk.re == pytest.approx(truth.disk.re, rel=0.1)
        assert disk.q == pytest.approx(truth.disk.q, abs=0.08)


# ------------------------------------------------------------------------------ the files


def _hashes(folder: Path) -> dict[str, str]:
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def test_the_same_seed_gives_byte_identical_files(tmp_path: Path) -> None:
    runs = [
        simulate(tmp_path / name, galaxies=3, volunteers=6, seed=seed, real_subjects=False)
        for name, seed in (("a", 3), ("b", 3), ("c", 4))
    ]
    first, second, other = (_hashes(tmp_path / name) for name in "abc")
    assert first == second
    assert len(first) == 3 * 4 + 3
    assert sorted(first) == sorted(runs[0].files)
    assert first["classifications.csv"] != other["classifications.csv"]


def test_the_same_seed_gives_byte_identical_files_with_real_subjects(
    tmp_path: Path, galaxy_builder_dir: Path
) -> None:
    for name in ("a", "b"):
        simulate(tmp_path / name, galaxies=2, volunteers=4, seed=9, like=galaxy_builder_dir)
    assert _hashes(tmp_path / "a") == _hashes(tmp_path / "b")
    truth = json.loads((tmp_path / "a" / "truth.json").read_text())
    sources = [s["image"]["setup"] for s in truth["subjects"].values()]
    assert sources == ["like:20901989", "like:20901990"]


def test_repeats_show_a_galaxy_again_under_another_subject(tmp_path: Path) -> None:
    """--repeats K: K more subjects with the originals' dr7objid and true galaxy, a new
    observation (other noise) and their own volunteers; the originals' images and truth are
    those of the run without repeats."""
    plain = simulate(tmp_path / "a", galaxies=3, volunteers=5, seed=2, real_subjects=False)
    again = simulate(
        tmp_path / "b", galaxies=3, volunteers=5, seed=2, real_subjects=False, repeats=2
    )
    assert again.subject_ids == (*plain.subject_ids, plain.subject_ids[-1] + 1,
                                 plain.subject_ids[-1] + 2)  # fmt: skip
    with (tmp_path / "b" / "subjects.csv").open(newline="") as handle:
        rows = {int(r["subject_id"]): json.loads(r["metadata"]) for r in csv.DictReader(handle)}
    truth = json.loads((tmp_path / "b" / "truth.json").read_text())["subjects"]
    before = json.loads((tmp_path / "a" / "truth.json").read_text())["subjects"]
    for original, repeat in zip(plain.subject_ids[:2], again.subject_ids[3:], strict=True):
        assert rows[repeat]["SDSS dr7 id"] == rows[original]["SDSS dr7 id"]
        assert truth[str(repeat)]["repeat_of"] == original
        disk, disk_again = (truth[str(s)]["model"]["disk"] for s in (original, repeat))
        assert disk_again["re"] == disk["re"] and disk_again["roll"] == disk["roll"]
        first = (tmp_path / "b" / "fitting-metadata" / f"{original}.json").read_bytes()
        second = (tmp_path / "b" / "fitting-metadata" / f"{repeat}.json").read_bytes()
        assert first != second  # new noise
    assert len({r["SDSS dr7 id"] for r in rows.values()}) == 3
    for subject_id in plain.subject_ids:
        assert truth[str(subject_id)]["model"] == before[str(subject_id)]["model"]
        assert (tmp_path / "a" / "fitting-metadata" / f"{subject_id}.json").read_bytes() == (
            tmp_path / "b" / "fitting-metadata" / f"{subject_id}.json"
        ).read_bytes()
    with pytest.raises(ValueError, match="repeats"):
        simulate(tmp_path / "c", galaxies=1, volunteers=1, seed=0, real_subjects=False, repeats=2)


def _png_size(data: bytes) -> tuple[int, int]:
    """Width and height of a greyscale PNG, checking that its pixel data decompress."""
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    width, height = struct.unpack(">II", data[16:24])
    start = data.index(b"IDAT") + 4
    length = struct.unpack(">I", data[start - 8 : start - 4])[0]
    assert len(zlib.decompress(data[start : start + length])) == height * (width + 1)
    return width, height


def test_the_exports_are_readable_by_gzbcats_readers(sample: tuple[Path, object]) -> None:
    outdir, summary = sample
    subjects = list(read_subject_export(outdir / "subjects.csv"))
    assert all(isinstance(row, SubjectRow) for row in subjects)
    assert [row.subject_id for row in subjects] == list(summary.subject_ids)
    truth = json.loads((outdir / "truth.json").read_text())
    for row in subjects:
        assert isinstance(row, SubjectRow)
        assert row.subject_set_id == 20561 and row.workflow_id == 5366
        width = truth["subjects"][str(row.subject_id)]["image"]["width"]
        # "Petrosian radius (degrees)" is in arcsec: a cutout is 4 of them at 0.396″/px
        assert row.metadata.petrosian_radius_arcsec == pytest.approx(width * 0.396 / 4, 1e-6)
        metadata = json.loads(row.metadata_raw)
        assert all(isinstance(v, str) for k, v in metadata.items() if not k.startswith("#"))
        difference = read_difference_file(outdir / row.locations["0"])
        fitting = read_fitting_metadata(outdir / "fitting-metadata" / f"{row.subject_id}.json")
        assert difference.image.shape == fitting.image.shape == (width, width)
        assert difference.canvas_width == fitting.canvas_width == 512
        np.testing.assert_array_equal(difference.mask, fitting.mask)
        np.testing.assert_allclose(difference.image, fitting.image)
        assert fitting.sigma_source == "given" and fitting.sigma is not None
        assert _png_size((outdir / row.locations["1"]).read_bytes()) == (512, 512)

    rows = list(read_classification_export(outdir / "classifications.csv"))
    assert all(isinstance(row, ClassificationRow) for row in rows)
    assert len(rows) == summary.n_classifications == 4 * 12
    ids = [row.classification_id for row in rows]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    times = [row.created_at for row in rows]
    assert times == sorted(times)
    for row in rows:
        assert isinstance(row, ClassificationRow)
        assert row.workflow_version == "61.107"
        assert (
            str(row.classification_id) in truth["subjects"][str(row.subject_id)]["classifications"]
        )
        assert row.user_name
    with (outdir / "classifications.csv").open(newline="") as handle:
        header = next(csv.reader(handle))
    sample_header = [
        "classification_id",
        "workflow_id",
        "workflow_name",
        "workflow_version",
        "created_at",
        "gold_standard",
        "expert",
        "annotations",
        "subject_data",
        "subject_ids",
    ]
    assert {*sample_header, "user_name", "user_id"} <= set(header)


def test_a_simulated_export_ingests_with_only_the_deliberate_errors(
    sample: tuple[Path, object], tmp_path: Path
) -> None:
    from gzbcat.db.engine import make_engine, upgrade
    from gzbcat.stages.ingest import (
        ingest_classifications,
        ingest_fitting_metadata,
        ingest_subjects,
    )
    from gzbcat.stages.status import status

    outdir, summary = sample
    assert summary.n_malformed > 0  # the sample is made with plenty of junk
    engine = make_engine(f"sqlite:///{tmp_path / 'sim.sqlite'}")
    try:
        upgrade(engine)
        subjects = ingest_subjects(engine, outdir / "subjects.csv", outdir)
        assert subjects.n_problems == 0, subjects.problems
        assert subjects.subjects_added == 4 and subjects.images_stored == 4
        fitting = ingest_fitting_metadata(engine, [outdir / "fitting-metadata"])
        assert fitting.n_problems == 0, fitting.problems
        assert fitting.images_stored == 4
        classifications = ingest_classifications(engine, outdir / "classifications.csv")
        assert classifications.n_problems == 0, classifications.problems
        assert classifications.parse_errors == summary.n_malformed
        assert classifications.parsed_ok == summary.n_classifications - summary.n_malformed
        assert classifications.waiting == 0
        counts = status(engine)
        assert counts["subjects"] == 4 and counts["subjects_without_image"] == 0
        assert counts["images"] == {"given": 4}
        assert counts["ingest_errors"] == 0
        n_ok = summary.n_classifications - summary.n_malformed
        assert counts["classifications"] == {"ok": n_ok, "error": summary.n_malformed}
        # The stored volunteer models are exactly what the simulated volunteers drew.
        truth = json.loads((outdir / "truth.json").read_text())
        drawn = [
            note["drawn"]
            for subject in truth["subjects"].values()
            for note in subject["classifications"].values()
            if note["kind"] == "normal"
        ]
        expected = {
            name: sum(d[name] is not None for d in drawn) for name in ("disk", "bulge", "bar")
        }
        assert counts["volunteer_components"] == {k: v for k, v in expected.items() if v}
        assert counts["volunteer_arms"] == sum(len(d["arms"]) for d in drawn)
    finally:
        engine.dispose()


def test_real_subjects_lend_their_sizes_psfs_and_masks(galaxy_builder_dir: Path) -> None:
    setups = real_setups(galaxy_builder_dir, 2)
    assert [s.source for s in setups] == ["like:20901989", "like:20901990"]
    first = read_difference_file(galaxy_builder_dir / "subjects/20901989/difference.json")
    assert setups[0].shape == first.image.shape
    np.testing.assert_array_equal(setups[0].mask, first.mask)
    np.testing.assert_allclose(setups[0].psf, first.psf)
    assert 0 < setups[0].sky_sigma < 0.05
    assert setups[0].metadata is not None and setups[0].metadata["#isFake"] is True


def test_cli_maps_its_options_onto_simulate(tmp_path: Path) -> None:
    app = typer.Typer()

    @app.callback()
    def main() -> None:
        """Dummy callback so that ``simulate`` stays a sub-command."""

    register(app)
    result = CliRunner().invoke(
        app,
        [
            "simulate",
            str(tmp_path / "out"),
            "--galaxies",
            "2",
            "--volunteers",
            "3",
            "--seed",
            "5",
            "--builtin",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "simulated 2 galaxies" in result.output
    with (tmp_path / "out" / "subjects.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [int(r["subject_id"]) for r in rows] == [SUBJECT_ID_BASE + 1, SUBJECT_ID_BASE + 2]
    with (tmp_path / "out" / "classifications.csv").open(newline="") as handle:
        assert len(list(csv.DictReader(handle))) == 6
    empty = tmp_path / "empty"
    empty.mkdir()
    bad = CliRunner().invoke(app, ["simulate", str(tmp_path / "x"), "--like", str(empty)])
    assert bad.exit_code == 2
    assert "no readable Galaxy Builder subject" in bad.output
