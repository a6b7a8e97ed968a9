"""``gzbcat ingest subjects --download``: real subject files served from the loopback address.

The export is the real sample's first subjects with ``locations`` rewritten to URLs on a local
server (tests/file_server.py) that serves some files, answers 404 for one and drops the
connection mid-file for another.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gzbcat.cli import app
from gzbcat.zooniverse import download as download_module
from tests.file_server import Drop, Fail, FileServer, Serve

runner = CliRunner()


def _url_export(galaxy_builder_dir: Path, folder: Path, server: FileServer, n: int) -> dict:
    """Write the first ``n`` sample subjects with frame-0 URLs on ``server``; return
    subject id → (URL path, the file's bytes)."""
    with (galaxy_builder_dir / "subjects.csv").open(newline="") as handle:
        reader = csv.DictReader(handle)
        header = list(reader.fieldnames or [])
        rows = [row for _, row in zip(range(n), reader, strict=False)]
    files = {}
    for row in rows:
        subject_id = int(row["subject_id"])
        locations = json.loads(row["locations"])
        path = f"/production/subject_location/{subject_id}-frame0.json"
        files[subject_id] = (path, (galaxy_builder_dir / locations["0"]).read_bytes())
        row["locations"] = json.dumps({"0": server.url(path), "1": server.url("/image.png")})
    with (folder / "subjects.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=header)
        writer.writeheader()
        writer.writerows(rows)
    return files


def _ingest(db_url: str, export: Path, files: Path | None, *extra: str):
    options = ["--files", str(files)] if files is not None else []
    return runner.invoke(
        app, ["--db", db_url, "ingest", "subjects", str(export), *options, "--download", *extra]
    )


def test_download_then_ingest_names_failures_and_resumes(
    db_url: str, galaxy_builder_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(download_module, "DEFAULT_BACKOFF_S", 0.0)
    assert runner.invoke(app, ["--db", db_url, "init"]).exit_code == 0
    files = tmp_path / "subject-files"  # created by --download
    with FileServer() as server:
        subjects = _url_export(galaxy_builder_dir, tmp_path, server, 5)
        (*served, missing, dropped) = subjects
        for subject_id in served:
            path, body = subjects[subject_id]
            server.add(path, Serve(body))
        missing_path, _ = subjects[missing]
        dropped_path, dropped_body = subjects[dropped]
        server.add(missing_path, Fail(404))
        server.add(dropped_path, Drop(dropped_body, sent=len(dropped_body) // 2))
        export = tmp_path / "subjects.csv"

        result = _ingest(db_url, export, files, "--download-workers", "2")
        assert result.exit_code == 1, result.output
        assert "downloaded: 3" in result.output
        assert "failed: 2 file(s) of 2 subject(s)" in result.output
        assert "subjects added: 5" in result.output
        assert "images stored: 3" in result.output
        assert "problems: 2 " in result.output  # each failed subject once, not also "missing"
        assert (
            f"subject {missing}: download of {server.url(missing_path)} failed: "
            "HTTP 404 Not Found" in result.output
        )
        assert (
            f"subject {dropped}: download of {server.url(dropped_path)} failed: connection "
            f"closed after {len(dropped_body) // 2} of {len(dropped_body)} bytes "
            "(after 4 attempts)" in result.output
        )
        assert sorted(p.name for p in files.iterdir()) == sorted(
            Path(subjects[s][0]).name for s in served
        )
        for path, body in (subjects[s] for s in served):
            assert (files / Path(path).name).read_bytes() == body
        counts = json.loads(runner.invoke(app, ["--db", db_url, "status", "--json"]).output)
        assert counts["subjects"] == 5
        assert counts["images"] == {"estimated": 3}

        # A second run fetches nothing it has; the failures are still failures.
        result = _ingest(db_url, export, files)
        assert result.exit_code == 1, result.output
        assert "downloaded: 0" in result.output
        assert "already present: 3" in result.output
        assert "images unchanged: 3" in result.output
        assert "problems: 2 " in result.output
        for subject_id in served:
            assert server.gets(subjects[subject_id][0]) == 1
            assert server.heads(subjects[subject_id][0]) == 1
        assert server.gets(missing_path) == 2
        assert server.gets(dropped_path) == 8

        # Once the server has them, the run completes and exits 0.
        server.add(missing_path, Serve(subjects[missing][1]))
        server.add(dropped_path, Serve(dropped_body))
        result = _ingest(db_url, export, files)
        assert result.exit_code == 0, result.output
        assert "downloaded: 2" in result.output
        assert "images stored: 2" in result.output
        assert "problems" not in result.output
    counts = json.loads(runner.invoke(app, ["--db", db_url, "status", "--json"]).output)
    assert counts["images"] == {"estimated": 5}
    assert not list(files.glob("*.part"))


def test_download_needs_a_files_folder(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    runner.invoke(app, ["--db", url, "init"])
    export = tmp_path / "subjects.csv"
    export.write_text("subject_id,metadata,locations\n")
    result = _ingest(url, export, None)
    assert result.exit_code == 2
    assert "--download needs --files" in result.output
