"""Ingest on SQLite and PostgreSQL: the real sample, idempotence, waiting rows, bad input.

Expected numbers come from the files themselves (50 subjects, three sample rows) and from the
spec's worked example of classification 203580719 (spec §3.3–§3.4), not from the parser.
"""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import Engine, func, select

from gzbcat.db import schema
from gzbcat.db.engine import session_scope
from gzbcat.db.images import load_subject_image
from gzbcat.db.models import load_model
from gzbcat.stages.ingest import _parsing as ingest_parsing
from gzbcat.stages.ingest import (
    ingest_classifications,
    ingest_fitting_metadata,
    ingest_subjects,
)
from gzbcat.stages.status import status
from gzbcat.zooniverse.exports import ExportError

SAMPLE_SUBJECT = 40216827
TABLES = (
    schema.Subject,
    schema.SubjectImage,
    schema.Classification,
    schema.Model,
    schema.Component,
    schema.Arm,
)


def counts(engine: Engine) -> dict[str, int]:
    with session_scope(engine) as session:
        return {
            t.__tablename__: session.scalar(select(func.count()).select_from(t)) or 0
            for t in TABLES
        }


def write_fitting_metadata(folder: Path, subject_id: int, size: int = 135, **changes) -> Path:
    """A small synthetic fitting-metadata file (spec §2.4 layout)."""
    rng = np.random.default_rng(subject_id % 1000)
    y, x = np.mgrid[:size, :size]
    galaxy = np.exp(-np.hypot(x - size / 2, y - size / 2) / 10) + rng.normal(0, 0.02, (size, size))
    good = np.ones((size, size), dtype=bool)
    good[:3, :3] = False
    galaxy[~good] = np.nan
    sigma = np.full((size, size), 0.02)
    sigma[~good] = np.nan
    psf = np.exp(-((np.arange(11) - 5)[:, None] ** 2 + (np.arange(11) - 5)[None, :] ** 2) / 4)
    payload = {
        "galaxy_data": galaxy.tolist(),
        "sigma_image": sigma.tolist(),
        "pixel_mask": good.tolist(),
        "psf": (psf / psf.sum()).tolist(),
        "size_diff": size / 512,
        "multiplier": 1.5,
        "rotation_correction": 0.0,
    }
    payload.update(changes)
    path = folder / f"{subject_id}.json"
    path.write_text(json.dumps(payload).replace("NaN", "NaN"))
    return path


@pytest.fixture
def sample(galaxy_builder_dir: Path) -> Path:
    return galaxy_builder_dir


def test_real_subjects_and_sample_classifications(engine: Engine, sample: Path) -> None:
    summary = ingest_subjects(engine, sample / "subjects.csv", sample)
    assert summary.subjects_added == 50
    assert summary.images_stored == 50
    assert summary.n_problems == 0
    summary = ingest_classifications(engine, sample / "classifications-sample.csv")
    assert summary.classifications_added == 3
    assert summary.waiting == 3  # subject 40216827's image is not in the sample
    got = counts(engine)
    assert got["subjects"] == 51
    assert got["subject_images"] == 50
    assert got["classifications"] == 3
    assert got["models"] == 0

    with session_scope(engine) as session:
        subject = session.get(schema.Subject, 20901989)
        assert subject is not None
        assert subject.dr7objid == 587741421632356667
        assert subject.petrosian_radius_arcsec == pytest.approx(6.728252)
        image = load_subject_image(session, 20901989)
        created = session.get(schema.Subject, SAMPLE_SUBJECT)
        assert created is not None and created.dr7objid == 587742189366018236  # subject_data
    assert image is not None
    raw = json.loads((sample / "subjects/20901989/difference.json").read_text())
    assert image.image.shape == (raw["height"], raw["width"])
    assert image.mask.dtype == bool
    assert image.mask.sum() == int(np.sum(raw["mask"]))
    assert image.psf.sum() == pytest.approx(1.0, abs=1e-12)
    assert image.sigma_source == "estimated"
    assert np.all(np.isfinite(image.sigma)) and np.all(image.sigma > 0)

    # Re-ingesting the same files changes nothing.
    before = counts(engine)
    again = ingest_subjects(engine, sample / "subjects.csv", sample)
    assert again.images_unchanged == 50 and again.images_stored == 0
    again = ingest_classifications(engine, sample / "classifications-sample.csv")
    assert again.classifications_unchanged == 3 and again.classifications_added == 0
    assert counts(engine) == before


def test_waiting_classifications_are_parsed_when_the_image_arrives(
    engine: Engine, sample: Path, tmp_path: Path
) -> None:
    ingest_classifications(engine, sample / "classifications-sample.csv")
    summary = ingest_fitting_metadata(engine, [write_fitting_metadata(tmp_path, SAMPLE_SUBJECT)])
    assert summary.parsed_ok == 3
    got = counts(engine)
    assert got["models"] == 3
    with session_scope(engine) as session:
        statuses = set(session.scalars(select(schema.Classification.parse_status)))
        model_id = session.scalar(
            select(schema.Model.model_id).where(schema.Model.classification_id == 203580719)
        )
        image = load_subject_image(session, SAMPLE_SUBJECT)
        model = load_model(session, model_id)
        kinds = set(session.scalars(select(schema.Model.kind)))
    assert statuses == {"ok"}
    assert kinds == {"volunteer"}
    assert image is not None and image.sigma_source == "given"
    assert image.mask[0, 0] and not image.mask[50, 50]  # pixel_mask False → excluded
    # Spec §3.3: after scaling by 135/512 the disk is at (67.664, 66.902) with Re 70.822;
    # the corrected method subtracts the half-pixel offset (spec §3.7).
    assert model.disk is not None
    assert model.disk.mux == pytest.approx(67.664 - 0.5, abs=2e-3)
    assert model.disk.muy == pytest.approx(66.902 - 0.5, abs=2e-3)
    assert model.disk.re == pytest.approx(70.822, abs=2e-3)
    assert model.bar is not None and model.bulge is not None
    assert len(model.arms) > 0


def test_reference_method_is_recorded_and_reparses(
    engine: Engine, sample: Path, tmp_path: Path
) -> None:
    ingest_fitting_metadata(engine, [write_fitting_metadata(tmp_path, SAMPLE_SUBJECT)])
    ingest_classifications(engine, sample / "classifications-sample.csv", method="reference")
    with session_scope(engine) as session:
        methods = set(session.scalars(select(schema.Model.method)))
        model_id = session.scalar(
            select(schema.Model.model_id).where(schema.Model.classification_id == 203580719)
        )
        disk = load_model(session, model_id).disk
    assert methods == {"reference"}
    assert disk is not None and disk.mux == pytest.approx(67.664, abs=2e-3)  # no half pixel
    ingest_classifications(engine, sample / "classifications-sample.csv", method="corrected")
    with session_scope(engine) as session:
        assert set(session.scalars(select(schema.Model.method))) == {"corrected"}
        assert session.scalar(select(func.count()).select_from(schema.Model)) == 3


def _sample_rows(sample: Path) -> tuple[list[str], list[dict[str, str]]]:
    with (sample / "classifications-sample.csv").open(newline="") as handle:
        reader = csv.DictReader(handle)
        return list(reader.fieldnames or []), list(reader)


def _write_rows(path: Path, header: list[str], rows: list[dict[str, str]]) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=header)
        writer.writeheader()
        writer.writerows(rows)
    return path


def test_bad_rows_are_recorded_and_the_rest_ingested(
    engine: Engine, sample: Path, tmp_path: Path
) -> None:
    ingest_fitting_metadata(engine, [write_fitting_metadata(tmp_path, SAMPLE_SUBJECT)])
    header, rows = _sample_rows(sample)
    good = rows[0]
    bad_json = dict(good, classification_id="1", annotations="[{not json")
    annotations = json.loads(good["annotations"])
    del annotations[0]["value"][0]["value"][0]["rx"]
    missing_field = dict(good, classification_id="2", annotations=json.dumps(annotations))
    annotations = json.loads(good["annotations"])
    annotations[0]["value"][0]["value"][0]["x"] = "left"
    not_numeric = dict(good, classification_id="3", annotations=json.dumps(annotations))
    bad_id = dict(good, classification_id="abc")
    export = _write_rows(
        tmp_path / "c.csv", header, [bad_json, missing_field, not_numeric, bad_id, *rows]
    )
    summary = ingest_classifications(engine, export)
    assert summary.classifications_added == 6
    assert summary.parse_errors == 3
    assert summary.parsed_ok == 3
    assert summary.n_problems == 1  # the row without a usable id
    with session_scope(engine) as session:
        errors = dict(
            session.execute(
                select(
                    schema.Classification.classification_id, schema.Classification.parse_error
                ).where(schema.Classification.parse_status == "error")
            ).all()
        )
        recorded = session.scalars(select(schema.IngestError.message)).all()
    assert set(errors) == {1, 2, 3}
    assert "classification 1" in errors[1] and "JSON" in errors[1]
    assert "classification 2" in errors[2] and "rx" in errors[2]
    assert "classification 3" in errors[3] and "'x'" in errors[3]
    assert len(recorded) == 1 and "row 4" in recorded[0] and "classification_id" in recorded[0]


def test_missing_required_column_writes_nothing(engine: Engine, sample: Path, tmp_path: Path):
    header, rows = _sample_rows(sample)
    header = [h for h in header if h != "annotations"]
    export = _write_rows(
        tmp_path / "no-annotations.csv",
        header,
        [{k: v for k, v in r.items() if k != "annotations"} for r in rows],
    )
    before = counts(engine)
    with pytest.raises(ExportError, match=r"no-annotations\.csv.*'annotations'"):
        ingest_classifications(engine, export)
    assert counts(engine) == before
    with session_scope(engine) as session:
        assert session.scalar(select(func.count()).select_from(schema.Run)) == 0


def _subject_export(sample: Path, folder: Path, ids: list[int]) -> Path:
    with (sample / "subjects.csv").open(newline="") as handle:
        reader = csv.DictReader(handle)
        header = list(reader.fieldnames or [])
        rows = [r for r in reader if int(r["subject_id"]) in ids]
    return _write_rows(folder / "subjects.csv", header, rows)


def test_bad_subject_files_are_named_and_others_ingested(
    engine: Engine, sample: Path, tmp_path: Path
) -> None:
    ids = [20901989, 20901990, 20901991, 20901992, 20901993]
    files = tmp_path / "files"
    for subject_id in ids:
        shutil.copytree(sample / f"subjects/{subject_id}", files / f"subjects/{subject_id}")
    (files / "subjects/20901990/difference.json").unlink()  # missing
    (files / "subjects/20901991/difference.json").write_text("{ broken")  # unreadable
    raw = json.loads((files / "subjects/20901992/difference.json").read_text())
    raw["mask"] = raw["mask"][:-1]  # mismatched shapes
    (files / "subjects/20901992/difference.json").write_text(json.dumps(raw))
    raw = json.loads((files / "subjects/20901993/difference.json").read_text())
    raw["psf"] = [row[:10] for row in raw["psf"][:10]]  # even-sized PSF
    raw["psfWidth"] = raw["psfHeight"] = 10
    (files / "subjects/20901993/difference.json").write_text(json.dumps(raw))
    export = _subject_export(sample, tmp_path, ids)

    summary = ingest_subjects(engine, export, files)
    assert summary.subjects_added == 5
    assert summary.images_stored == 1
    assert summary.n_problems == 4
    text = "\n".join(summary.problems)
    for subject_id in ids[1:]:
        assert str(subject_id) in text
    assert "difference.json" in text
    assert "odd" in text.lower()  # the even PSF is rejected with the reason
    with session_scope(engine) as session:
        recorded = session.scalar(select(func.count()).select_from(schema.IngestError))
        assert recorded == 4
        assert session.scalar(select(func.count()).select_from(schema.SubjectImage)) == 1
    # Re-ingesting finds the same problems, without piling them up.
    ingest_subjects(engine, export, files)
    with session_scope(engine) as session:
        assert session.scalar(select(func.count()).select_from(schema.IngestError)) == 4


def test_newer_export_adds_only_what_is_new(engine: Engine, sample: Path, tmp_path: Path):
    header, rows = _sample_rows(sample)
    first = _write_rows(tmp_path / "first.csv", header, rows[:1])
    ingest_classifications(engine, first)
    summary = ingest_classifications(engine, sample / "classifications-sample.csv")
    assert summary.classifications_added == 2
    assert summary.classifications_unchanged == 1
    assert counts(engine)["classifications"] == 3


def test_interrupted_ingest_is_consistent_and_a_rerun_completes_it(
    engine: Engine, sample: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ingest_fitting_metadata(engine, [write_fitting_metadata(tmp_path, SAMPLE_SUBJECT)])
    header, rows = _sample_rows(sample)
    many = [dict(rows[i % 3], classification_id=str(1000 + i)) for i in range(10)]
    export = _write_rows(tmp_path / "many.csv", header, many)
    monkeypatch.setattr(ingest_parsing, "CLASSIFICATION_BATCH", 4)
    real_parse = ingest_parsing.parse_annotation
    calls = {"n": 0}

    def parse_then_die(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 6:  # inside the second batch
            raise KeyboardInterrupt
        return real_parse(*args, **kwargs)

    monkeypatch.setattr(ingest_parsing, "parse_annotation", parse_then_die)
    with pytest.raises(KeyboardInterrupt):
        ingest_classifications(engine, export)
    got = counts(engine)
    assert got["classifications"] == 4  # the first batch only
    assert got["models"] == 4
    monkeypatch.setattr(ingest_parsing, "parse_annotation", real_parse)
    summary = ingest_classifications(engine, export)
    assert summary.classifications_added == 6
    assert counts(engine)["classifications"] == 10
    assert counts(engine)["models"] == 10


def test_status_counts(engine: Engine, sample: Path, tmp_path: Path) -> None:
    ingest_classifications(engine, sample / "classifications-sample.csv")
    ingest_fitting_metadata(engine, [write_fitting_metadata(tmp_path, SAMPLE_SUBJECT)])
    got = status(engine)
    assert got["subjects"] == 1
    assert got["images"] == {"given": 1}
    assert got["classifications"] == {"ok": 3}
    assert got["models"] == {"volunteer": 3}
    # Spec §2.2: the first row draws a disk, a bulge and a bar.
    assert got["volunteer_components"]["disk"] >= 1
    assert json.loads(json.dumps(got)) == got  # plain JSON only


def test_parallel_parsing_gives_the_same_rows(engine: Engine, sample: Path, tmp_path: Path):
    ingest_fitting_metadata(engine, [write_fitting_metadata(tmp_path, SAMPLE_SUBJECT)])
    header, rows = _sample_rows(sample)
    bad = dict(rows[0], classification_id="7", annotations="{")
    export = _write_rows(tmp_path / "c.csv", header, [*rows, bad])
    summary = ingest_classifications(engine, export, parse_processes=2)
    assert (summary.parsed_ok, summary.parse_errors) == (3, 1)
    with session_scope(engine) as session:
        model_id = session.scalar(
            select(schema.Model.model_id).where(schema.Model.classification_id == 203580719)
        )
        disk = load_model(session, model_id).disk
    assert disk is not None and disk.re == pytest.approx(70.822, abs=2e-3)
