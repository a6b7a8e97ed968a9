"""The command line maps options onto the stage functions and reports errors clearly."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from gzbcat.cli import app
from gzbcat.model import Method
from gzbcat.stages import runner as runner_module
from gzbcat.stages.runner import RunSummary
from tests.conftest import postgres_base_url

runner = CliRunner()


def _ingest_subjects(url: str, export: Path, files: Path) -> Any:
    return runner.invoke(
        app, ["--db", url, "ingest", "subjects", str(export), "--files", str(files)]
    )


def _subset_export(galaxy_builder_dir: Path, folder: Path, n: int) -> Path:
    with (galaxy_builder_dir / "subjects.csv").open(newline="") as handle:
        reader = csv.DictReader(handle)
        header = list(reader.fieldnames or [])
        rows = [row for _, row in zip(range(n), reader, strict=False)]
    path = folder / "subjects.csv"
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=header)
        writer.writeheader()
        writer.writerows(rows)
    return path


def test_init_ingest_status(db_url: str, galaxy_builder_dir: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["--db", db_url, "init"])
    assert result.exit_code == 0, result.output
    assert "upgraded from nothing" in result.output
    result = runner.invoke(app, ["--db", db_url, "init"])
    assert "already at revision" in result.output

    export = _subset_export(galaxy_builder_dir, tmp_path, 3)
    result = _ingest_subjects(db_url, export, galaxy_builder_dir)
    assert result.exit_code == 0, result.output
    assert "subjects added: 3" in result.output
    result = runner.invoke(
        app,
        [
            "--db",
            db_url,
            "ingest",
            "classifications",
            str(galaxy_builder_dir / "classifications-sample.csv"),
            "--method",
            "reference",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "waiting: 3" in result.output

    result = runner.invoke(app, ["--db", db_url, "status", "--json"])
    assert result.exit_code == 0, result.output
    counts = json.loads(result.output)
    assert counts["subjects"] == 4
    assert counts["images"] == {"estimated": 3}
    assert counts["classifications"] == {"waiting": 3}
    result = runner.invoke(app, ["--db", db_url, "status"])
    assert "classifications: waiting 3" in result.output


def test_missing_column_exits_nonzero_naming_file_and_column(db_url: str, tmp_path: Path):
    runner.invoke(app, ["--db", db_url, "init"])
    export = tmp_path / "broken.csv"
    export.write_text("classification_id,annotations\n1,[]\n")
    result = runner.invoke(app, ["--db", db_url, "ingest", "classifications", str(export)])
    assert result.exit_code != 0
    assert "broken.csv" in result.output and "subject_ids" in result.output
    counts = json.loads(runner.invoke(app, ["--db", db_url, "status", "--json"]).output)
    assert counts["classifications"] == {}


def test_commands_refuse_an_uninitialised_database(tmp_path: Path) -> None:
    result = runner.invoke(app, ["--db", f"sqlite:///{tmp_path / 'new.sqlite'}", "status"])
    assert result.exit_code == 2
    assert "gzbcat init" in result.output


def test_unknown_method_is_refused(tmp_path: Path, galaxy_builder_dir: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    runner.invoke(app, ["--db", url, "init"])
    result = runner.invoke(
        app,
        [
            "--db",
            url,
            "ingest",
            "classifications",
            str(galaxy_builder_dir / "classifications-sample.csv"),
            "--method",
            "fancy",
        ],
    )
    assert result.exit_code == 2
    assert "--method" in result.output


def test_stage_commands_pass_the_method_as_a_checked_choice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    runner.invoke(app, ["--db", url, "init"])
    result = runner.invoke(app, ["aggregate", "--help"])
    assert "corrected|reference" in result.output

    result = runner.invoke(app, ["--db", url, "aggregate", "--method", "fancy"])
    assert result.exit_code == 2
    assert "--method" in result.output

    seen: list[Any] = []

    def fake_run_stage(engine: Any, stage: Any, params: Any, **options: Any) -> RunSummary:
        seen.append(params)
        return RunSummary(stage=stage.name, run_id=0)

    monkeypatch.setattr(runner_module, "run_stage", fake_run_stage)
    result = runner.invoke(app, ["--db", url, "run", "--method", "reference"])
    assert result.exit_code == 0, result.output
    assert len(seen) == 4
    assert all(params.method is Method.REFERENCE for params in seen)


def test_version() -> None:
    from gzbcat import __version__

    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"gzbcat {__version__}"


@pytest.mark.parametrize(
    ("source", "stages"),
    [
        ("best-individual", ["tune-best-individual"]),
        ("best_individual", ["tune-best-individual"]),
        ("aggregate", ["tune-aggregate"]),
        ("both", ["tune-aggregate", "tune-best-individual"]),
    ],
)
def test_tune_source_takes_the_command_spelling(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, source: str, stages: list[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    runner.invoke(app, ["--db", url, "init"])
    seen: list[str] = []

    def fake_run_stage(engine: Any, stage: Any, params: Any, **options: Any) -> RunSummary:
        seen.append(stage.name)
        return RunSummary(stage=stage.name, run_id=0)

    monkeypatch.setattr(runner_module, "run_stage", fake_run_stage)
    result = runner.invoke(app, ["--db", url, "tune", "--source", source])
    assert result.exit_code == 0, result.output
    assert seen == stages
    result = runner.invoke(app, ["--db", url, "tune", "--source", "volunteer"])
    assert result.exit_code == 2
    assert "'volunteer' is not one of" in result.output
    help_text = runner.invoke(app, ["tune", "--help"], env={"COLUMNS": "160"}).output
    assert "<aggregate|best-individual|both>" in help_text


def test_a_read_only_command_never_creates_a_database_file(tmp_path: Path) -> None:
    missing = tmp_path / "missing.sqlite"
    result = runner.invoke(app, ["--db", f"sqlite:///{missing}", "status"])
    assert result.exit_code == 2
    assert f"no database at {missing}" in result.output
    assert "gzbcat --db" in result.output and "init" in result.output
    assert not missing.exists()


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("foo://", "Can't load plugin"),
        ("foo://", "gzbcat takes sqlite:///"),
        ("mysql://someone@nowhere/db", "driver is not installed"),
        ("sqlite:////proc/nope/x.sqlite", "check that the folder /proc/nope exists"),
        ("sqlite:////sys/x.sqlite", "check that the folder /sys exists and is writable"),
        ("postgresql://postgres@127.0.0.1:1/test", "is the server running and listening at"),
    ],
)
def test_a_database_that_cannot_be_opened_is_a_usage_error(url: str, reason: str) -> None:
    result = runner.invoke(app, ["--db", url, "init"])
    assert result.exit_code == 2
    assert reason in result.output
    assert "Traceback" not in result.output
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit)


def test_a_postgresql_database_that_does_not_exist_is_named() -> None:
    from sqlalchemy.engine import make_url

    url = make_url(postgres_base_url()).set(database="gzbcat_no_such_database")
    result = runner.invoke(app, ["--db", url.render_as_string(hide_password=False), "status"])
    assert result.exit_code == 2
    assert 'database "gzbcat_no_such_database" does not exist' in result.output
    assert "createdb gzbcat_no_such_database" in result.output


@pytest.mark.parametrize(("failed", "code"), [(0, 0), (2, 1)])
def test_stage_commands_exit_1_when_units_failed(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failed: int, code: int
) -> None:
    url = db_url
    runner.invoke(app, ["--db", url, "init"])

    def fake_run_stage(engine: Any, stage: Any, params: Any, **options: Any) -> RunSummary:
        failures = [(k, "FitError: no_disk: no disk") for k in range(failed)]
        return RunSummary(stage=stage.name, run_id=0, failed=failed, failures=failures)

    monkeypatch.setattr(runner_module, "run_stage", fake_run_stage)
    for command in (["aggregate"], ["tune"], ["run"]):
        result = runner.invoke(app, ["--db", url, *command])
        assert result.exit_code == code, (command, result.output)
    assert (
        "Exit codes: 0 everything asked for was done; 1 done, but"
        in runner.invoke(app, ["--help"]).output
    )


def test_an_ingest_with_failed_rows_exits_1(
    db_url: str, tmp_path: Path, galaxy_builder_dir: Path
) -> None:
    url = db_url
    runner.invoke(app, ["--db", url, "init"])
    export = _subset_export(galaxy_builder_dir, tmp_path, 2)
    empty = tmp_path / "no-files"
    empty.mkdir()
    result = _ingest_subjects(url, export, empty)
    assert result.exit_code == 1, result.output
    assert "problems: 2" in result.output
    unreadable = [line for line in result.output.splitlines() if "cannot read" in line]
    assert len(unreadable) == 2, result.output  # each problem is printed once
    result = _ingest_subjects(url, export, galaxy_builder_dir)
    assert result.exit_code == 0, result.output


def test_a_missing_files_folder_is_refused_up_front(
    db_url: str, tmp_path: Path, galaxy_builder_dir: Path
) -> None:
    url = db_url
    runner.invoke(app, ["--db", url, "init"])
    export = _subset_export(galaxy_builder_dir, tmp_path, 2)
    missing = tmp_path / "nowhere"
    result = _ingest_subjects(url, export, missing)
    assert result.exit_code == 2
    assert f"--files {missing}: no such folder" in result.output
    assert "subjects added" not in result.output
