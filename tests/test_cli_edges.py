"""Where users meet the command line: options in either place, explained no-ops, honest exits."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from gzbcat.cli import app
from gzbcat.db import schema
from gzbcat.db.engine import make_engine, session_scope

runner = CliRunner()


def _init(url: str) -> None:
    result = runner.invoke(app, ["--db", url, "init"])
    assert result.exit_code == 0, result.output


def _rewrite_export(source: Path, target: Path, change: dict[str, Any] | None = None) -> Path:
    """A copy of ``source`` whose first row has ``change`` applied."""
    with source.open(newline="") as handle:
        reader = csv.DictReader(handle)
        header = list(reader.fieldnames or [])
        rows = list(reader)
    rows[0].update(change or {})
    with target.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=header)
        writer.writeheader()
        writer.writerows(rows)
    return target


def test_db_works_after_the_command_name_and_wins(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _init(db_url)
    missing = f"sqlite:///{tmp_path / 'elsewhere.sqlite'}"
    monkeypatch.setenv("GZBCAT_DATABASE_URL", missing)
    result = runner.invoke(app, ["status", "--json"])
    assert result.exit_code == 2 and "elsewhere.sqlite" in result.output
    result = runner.invoke(app, ["status", "--json", "--db", db_url])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["subjects"] == 0
    result = runner.invoke(app, ["--db", missing, "status", "--db", db_url, "--json"])
    assert result.exit_code == 0, result.output


def test_flags_show_as_flags_in_help() -> None:
    for command in (["aggregate"], ["tune"], ["ingest", "subjects"], ["export"], []):
        result = runner.invoke(app, [*command, "--help"])
        assert result.exit_code == 0, result.output
        assert "<bool>" not in result.output, command
    assert "--db" in runner.invoke(app, ["aggregate", "--help"]).output


def test_an_unexpected_error_is_one_line_unless_debugging(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gzbcat.stages import status as status_module

    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    _init(url)

    def broken(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("a bug deep inside\nwith a second line")

    monkeypatch.setattr(status_module, "status", broken)
    result = runner.invoke(app, ["--db", url, "status"])
    assert result.exit_code == 1
    assert "unexpected RuntimeError: a bug deep inside" in result.output
    assert "--debug" in result.output and "second line" not in result.output
    assert not isinstance(result.exception, RuntimeError)

    result = runner.invoke(app, ["--debug", "--db", url, "status"])
    assert isinstance(result.exception, RuntimeError)
    monkeypatch.setenv("GZBCAT_DEBUG", "1")
    result = runner.invoke(app, ["--db", url, "status"])
    assert isinstance(result.exception, RuntimeError)


def test_an_interrupted_command_exits_130(
    tmp_path: Path, galaxy_builder_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import gzbcat.stages.ingest as ingest_module

    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    _init(url)

    def interrupted(*_args: Any, **_kwargs: Any) -> Any:
        raise KeyboardInterrupt

    monkeypatch.setattr(ingest_module, "ingest_classifications", interrupted)
    export = galaxy_builder_dir / "classifications-sample.csv"
    result = runner.invoke(app, ["--db", url, "ingest", "classifications", str(export)])
    assert result.exit_code == 130
    assert "interrupted" in result.output


def test_a_workflow_version_that_is_not_one_is_a_usage_error(
    tmp_path: Path, galaxy_builder_dir: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    _init(url)
    export = galaxy_builder_dir / "classifications-sample.csv"
    result = runner.invoke(
        app,
        ["--db", url, "ingest", "classifications", str(export), "--min-workflow-version", "abc"],
    )
    assert result.exit_code == 2
    assert "'abc' is not a workflow version" in result.output
    assert "Traceback" not in result.output


def test_filters_that_keep_nothing_say_why(db_url: str, galaxy_builder_dir: Path) -> None:
    _init(db_url)
    export = str(galaxy_builder_dir / "classifications-sample.csv")
    command = ["--db", db_url, "ingest", "classifications", export]
    result = runner.invoke(app, [*command, "--workflow-id", "9999"])
    assert result.exit_code == 0, result.output
    assert "rows read: 3" in result.output
    assert "nothing new from 3 rows: 3 belong to other workflows (seen: 5366 ×3)" in result.output
    result = runner.invoke(app, [*command, "--min-workflow-version", "61.200"])
    assert "3 are older than --min-workflow-version" in result.output
    runner.invoke(app, command)
    result = runner.invoke(app, command)
    assert "nothing new from 3 rows: 3 are already stored, unchanged" in result.output


def test_a_known_classification_id_with_other_content_is_recorded_and_the_first_kept(
    db_url: str, galaxy_builder_dir: Path, tmp_path: Path
) -> None:
    _init(db_url)
    sample = galaxy_builder_dir / "classifications-sample.csv"
    result = runner.invoke(app, ["--db", db_url, "ingest", "classifications", str(sample)])
    assert result.exit_code == 0, result.output
    changed = _rewrite_export(sample, tmp_path / "changed.csv", {"annotations": "[]"})
    result = runner.invoke(app, ["--db", db_url, "ingest", "classifications", str(changed)])
    assert result.exit_code == 1, result.output
    assert "changed content: 1" in result.output
    assert "differs from the copy stored at" in result.output
    engine = make_engine(db_url)
    try:
        with session_scope(engine) as session:
            stored = session.scalars(
                select(schema.Classification.annotations).order_by(
                    schema.Classification.classification_id
                )
            ).all()
            errors = session.scalars(select(schema.IngestError.message)).all()
    finally:
        engine.dispose()
    assert "[]" not in stored and len(stored) == 3
    assert any("changed.csv row 1" in message for message in errors)


def test_a_repeated_id_with_other_content_within_one_export_is_recorded(
    tmp_path: Path, galaxy_builder_dir: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    _init(url)
    sample = galaxy_builder_dir / "classifications-sample.csv"
    with sample.open(newline="") as handle:
        rows = list(csv.reader(handle))
    rows.append(list(rows[1]))  # the same row again: harmless
    twin = list(rows[1])
    twin[rows[0].index("created_at")] = "2021-01-01 00:00:00 UTC"
    rows.append(twin)  # the same id, another time: recorded
    export = tmp_path / "repeated.csv"
    with export.open("w", newline="") as handle:
        csv.writer(handle).writerows(rows)
    result = runner.invoke(app, ["--db", url, "ingest", "classifications", str(export)])
    assert result.exit_code == 1, result.output
    assert "changed content: 1" in result.output
    assert "repeated.csv row 5" in result.output and "differs from row 1" in result.output
