"""Streaming export readers: typed values, bad rows as problems, missing columns refused."""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from pathlib import Path

import pytest

from gzbcat.zooniverse.exports import (
    ClassificationRow,
    ExportError,
    RowProblem,
    SubjectRow,
    parse_subject_metadata,
    read_classification_export,
    read_subject_export,
    version_key,
)


def _write(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def test_real_subject_export_is_typed(galaxy_builder_dir: Path) -> None:
    rows = list(read_subject_export(galaxy_builder_dir / "subjects.csv"))
    assert len(rows) == 50
    assert all(isinstance(r, SubjectRow) for r in rows)
    first = rows[0]
    assert isinstance(first, SubjectRow)
    # Values read off the file's first row by eye.
    assert first.subject_id == 20901989
    assert first.metadata.ra_deg == pytest.approx(118.684814)
    assert first.metadata.dec_deg == pytest.approx(14.607033)
    assert first.metadata.dr7objid == 587741421632356667  # exact 64-bit integer
    assert first.metadata.nsa_id == 485056
    assert first.metadata.petrosian_radius_arcsec == pytest.approx(6.728252)
    assert first.locations["0"] == "subjects/20901989/difference.json"
    assert first.subject_set_id == 20561
    assert first.project_id is None


def test_metadata_values_that_are_not_numbers_are_named() -> None:
    with pytest.raises(ValueError, match="'ra'"):
        parse_subject_metadata({"ra": "north"})
    assert parse_subject_metadata({"NSA id": "417673.0"}).nsa_id == 417673
    assert parse_subject_metadata({"NSA id": ""}).nsa_id is None


def test_missing_required_column_names_file_and_column(tmp_path: Path) -> None:
    path = _write(tmp_path / "bad.csv", ["classification_id", "annotations"], [["1", "[]"]])
    with pytest.raises(ExportError, match=r"bad\.csv.*'subject_ids'"):
        next(iter(read_classification_export(path)))


def test_classification_rows_and_problems(tmp_path: Path) -> None:
    header = [
        "classification_id",
        "subject_ids",
        "annotations",
        "workflow_id",
        "workflow_version",
        "created_at",
        "user_id",
        "user_name",
    ]
    path = _write(
        tmp_path / "c.csv",
        header,
        [
            ["10", "5", "[]", "5366", "61.107", "2020-02-10 13:04:47 UTC", "42", "ann"],
            ["x", "5", "[]", "5366", "61.107", "", "", ""],
            ["11", "5;6", "[]", "5366", "61.107", "", "", ""],
            ["12", "5", "[]", "999", "61.107", "", "", ""],
            ["13", "5", "[]", "5366", "61.9", "", "", ""],
        ],
    )
    rows = list(read_classification_export(path, workflow_id=5366, min_workflow_version="61.10"))
    good = [r for r in rows if isinstance(r, ClassificationRow)]
    problems = [r for r in rows if isinstance(r, RowProblem)]
    assert [r.classification_id for r in good] == [10]  # 12: other workflow; 13: 61.9 < 61.10
    assert good[0].created_at == datetime(2020, 2, 10, 13, 4, 47, tzinfo=UTC)
    assert good[0].user_id == 42 and good[0].user_name == "ann"
    assert [p.row_number for p in problems] == [2, 3]
    assert "classification_id" in problems[0].message
    assert "exactly one subject" in problems[1].message


def test_versions_compare_part_by_part() -> None:
    assert version_key("61.107") > version_key("61.99")
    assert version_key("61.107") == (61, 107)


def test_reader_streams(galaxy_builder_dir: Path) -> None:
    rows = read_classification_export(galaxy_builder_dir / "classifications-sample.csv")
    first = next(iter(rows))
    assert isinstance(first, ClassificationRow)
    assert first.classification_id == 203580719
    assert first.subject_id == 40216827
