"""Where users meet the command line: options in either place, explained no-ops, honest exits."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update
from typer.testing import CliRunner

from gzbcat.cli import app
from gzbcat.db import schema
from gzbcat.db.engine import make_engine, session_scope
from gzbcat.model import Method
from tests.stages.test_ingest import _write_rows
from tests.test_cli import _ingest_subjects, _subset_export

runner = CliRunner()


def _init(url: str) -> None:
    result = runner.invoke(app, ["--db", url, "init"])
    assert result.exit_code == 0, result.output


def _rewrite_export(source: Path, target: Path, change: dict[str, Any]) -> Path:
    """A copy of ``source`` whose first row has ``change`` applied."""
    with source.open(newline="") as handle:
        reader = csv.DictReader(handle)
        header, rows = list(reader.fieldnames or []), list(reader)
    rows[0].update(change)
    return _write_rows(target, header, rows)


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
    assert "--db" not in runner.invoke(app, ["simulate", "--help"]).output  # never opens one


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


def test_debug_shows_the_traceback_behind_a_user_error_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = f"sqlite:///{tmp_path / 'missing.sqlite'}"
    plain = runner.invoke(app, ["--db", missing, "status"])
    assert plain.exit_code == 2 and "Traceback" not in plain.output
    debug = runner.invoke(app, ["--debug", "--db", missing, "status"])
    assert debug.exit_code == 2
    assert "Traceback" in debug.output and "DatabaseOpenError: no database at" in debug.output
    assert "error: no database at" in debug.output
    monkeypatch.setenv("GZBCAT_DEBUG", "1")
    assert "Traceback" in runner.invoke(app, ["--db", missing, "status"]).output


def test_an_interrupted_command_exits_130(
    db_url: str, tmp_path: Path, galaxy_builder_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import gzbcat.stages.ingest as ingest_module

    url = db_url
    _init(url)

    def interrupted(*_args: Any, **_kwargs: Any) -> Any:
        raise KeyboardInterrupt

    monkeypatch.setattr(ingest_module, "ingest_classifications", interrupted)
    export = galaxy_builder_dir / "classifications-sample.csv"
    result = runner.invoke(app, ["--db", url, "ingest", "classifications", str(export)])
    assert result.exit_code == 130
    assert "interrupted" in result.output


@pytest.mark.parametrize("handed_back", [True, False])
def test_an_interrupted_stage_exits_130_and_says_where_its_units_are(
    db_url: str, monkeypatch: pytest.MonkeyPatch, handed_back: bool
) -> None:
    from gzbcat.stages import runner as runner_module

    _init(db_url)

    def interrupted(*_args: Any, **_kwargs: Any) -> Any:
        stop = KeyboardInterrupt()
        if not handed_back:
            stop.add_note(f"{runner_module.NOT_HANDED_BACK}: database is locked")
        raise stop

    monkeypatch.setattr(runner_module, "run_stage", interrupted)
    result = runner.invoke(app, ["--db", db_url, "aggregate"])
    assert result.exit_code == 130
    if handed_back:
        assert "aggregate: interrupted; in-flight units were handed back" in result.output
    else:
        assert "could not be handed back: database is locked" in result.output
        assert "when their leases expire" in result.output


def test_a_workflow_version_that_is_not_one_is_a_usage_error(
    db_url: str, tmp_path: Path, galaxy_builder_dir: Path
) -> None:
    url = db_url
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
    assert f"differs from the stored copy (from {sample} row 1, ingested " in result.output
    engine = make_engine(db_url)
    try:
        with session_scope(engine) as session:
            stored = session.scalars(
                select(schema.Classification.annotations).order_by(
                    schema.Classification.classification_id
                )
            ).all()
            errors = session.scalars(select(schema.IngestError.message)).all()
            provenance = session.execute(
                select(
                    schema.Classification.source_file,
                    schema.Classification.source_row,
                    schema.Classification.content_sha256,
                ).order_by(schema.Classification.classification_id)
            ).all()
    finally:
        engine.dispose()
    assert "[]" not in stored and len(stored) == 3
    assert any("changed.csv row 1" in message and str(sample) in message for message in errors)
    assert {(file, row) for file, row, _ in provenance} == {(str(sample), n) for n in (1, 2, 3)}
    assert all(len(digest) == 64 for *_, digest in provenance)
    # the same content again is unchanged, however the stored copy was hashed
    with engine.begin() as connection:
        connection.execute(update(schema.Classification).values(content_sha256=None))
    engine.dispose()
    result = runner.invoke(app, ["--db", db_url, "ingest", "classifications", str(sample)])
    assert result.exit_code == 0, result.output
    assert "classifications unchanged: 3" in result.output


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


def _fake_run_stage(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Record each run_stage call instead of running it."""
    from gzbcat.stages import runner as runner_module
    from gzbcat.stages.runner import RunSummary

    calls: list[dict[str, Any]] = []

    def fake(engine: Any, stage: Any, params: Any, **options: Any) -> RunSummary:
        calls.append({"stage": stage.name, "params": params, **options})
        return RunSummary(stage=stage.name, run_id=0, due=1, done=1)

    monkeypatch.setattr(runner_module, "run_stage", fake)
    return calls


def _with_subjects(url: str, galaxy_builder_dir: Path, tmp_path: Path, n: int) -> list[int]:
    """Ingest the first ``n`` real subjects; their ids."""
    export = _subset_export(galaxy_builder_dir, tmp_path, n)
    result = _ingest_subjects(url, export, galaxy_builder_dir)
    assert result.exit_code == 0, result.output
    with export.open(newline="") as handle:
        return [int(row["subject_id"]) for row in csv.DictReader(handle)]


def test_a_stage_with_nothing_due_says_why(
    db_url: str, galaxy_builder_dir: Path, tmp_path: Path
) -> None:
    _init(db_url)
    _with_subjects(db_url, galaxy_builder_dir, tmp_path, 3)
    sample = galaxy_builder_dir / "classifications-sample.csv"
    runner.invoke(app, ["--db", db_url, "ingest", "classifications", str(sample)])
    result = runner.invoke(app, ["--db", db_url, "aggregate"])
    assert result.exit_code == 0, result.output
    assert "(0 were due)" in result.output
    assert "nothing was due: 4 subjects have no parsed volunteer drawing yet" in result.output
    assert "3 classifications wait for images of 1 subject " in result.output
    result = runner.invoke(app, ["--db", db_url, "tune", "--source", "aggregate"])
    assert "no aggregate model yet (gzbcat aggregate makes them)" in result.output


def test_unknown_subject_ids_are_named(
    db_url: str, galaxy_builder_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _init(db_url)
    known = _with_subjects(db_url, galaxy_builder_dir, tmp_path, 2)
    result = runner.invoke(app, ["--db", db_url, "aggregate", "--subjects", "123"])
    assert result.exit_code == 2
    assert "no such subject: 123" in result.output
    calls = _fake_run_stage(monkeypatch)
    result = runner.invoke(
        app, ["--db", db_url, "aggregate", "--subjects", "123", "--subjects", str(known[0])]
    )
    assert result.exit_code == 1, result.output
    assert "unknown subject ids, skipped: 123" in result.output
    assert calls[0]["subjects"] == [123, known[0]]


def test_subjects_file_and_max_volunteers_reach_the_stage(
    db_url: str, tmp_path: Path, galaxy_builder_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = db_url
    _init(url)
    known = _with_subjects(url, galaxy_builder_dir, tmp_path, 3)
    listing = tmp_path / "subject_id_list.csv"
    listing.write_text(f"subject_id\n# the first two\n{known[0]}\n\n{known[1]}  # and a note\n")
    calls = _fake_run_stage(monkeypatch)
    result = runner.invoke(
        app,
        ["--db", url, "aggregate", "--subjects-file", str(listing), "--subjects", str(known[2])],
    )
    assert result.exit_code == 0, result.output
    assert calls[-1]["subjects"] == [known[2], known[0], known[1]]
    assert calls[-1]["params"].max_volunteers == 30
    runner.invoke(app, ["--db", url, "aggregate", "--max-volunteers", "all"])
    assert calls[-1]["params"].max_volunteers is None
    runner.invoke(app, ["--db", url, "run", "--max-volunteers", "12"])
    assert calls[-4]["stage"] == "aggregate" and calls[-4]["params"].max_volunteers == 12
    result = runner.invoke(app, ["--db", url, "aggregate", "--max-volunteers", "0"])
    assert result.exit_code == 2 and "positive whole number or 'all'" in result.output
    listing.write_text("20902009\nabc\n")
    result = runner.invoke(app, ["--db", url, "aggregate", "--subjects-file", str(listing)])
    assert result.exit_code == 2 and "line 2: 'abc' is not a subject id" in result.output
    result = runner.invoke(app, ["--db", url, "tune", "--subjects-file", str(tmp_path / "no")])
    assert result.exit_code == 2 and "no such file" in result.output


def test_bootstrap_reaches_the_aggregate_stage(
    tmp_path: Path, galaxy_builder_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    _init(url)
    _with_subjects(url, galaxy_builder_dir, tmp_path, 1)
    calls = _fake_run_stage(monkeypatch)
    result = runner.invoke(app, ["--db", url, "aggregate"])
    assert result.exit_code == 0, result.output
    assert calls[-1]["params"].bootstrap == 0
    result = runner.invoke(app, ["--db", url, "aggregate", "--bootstrap", "25"])
    assert result.exit_code == 0, result.output
    assert calls[-1]["params"].bootstrap == 25
    runner.invoke(app, ["--db", url, "run", "--bootstrap", "5"])
    assert calls[-4]["stage"] == "aggregate" and calls[-4]["params"].bootstrap == 5
    result = runner.invoke(app, ["--db", url, "aggregate", "--bootstrap", "-1"])
    assert result.exit_code == 2
    result = runner.invoke(app, ["--db", url, "tune", "--bootstrap", "5"])
    assert result.exit_code == 2  # an aggregate option only


def test_max_volunteers_changes_the_aggregate_parameters_hash() -> None:
    from dataclasses import replace

    from gzbcat.stages.registry import STAGES
    from gzbcat.stages.runs import params_hash

    params = STAGES["aggregate"].make_params(Method.CORRECTED)
    every = replace(params, max_volunteers=None)
    assert params_hash("aggregate", params) != params_hash("aggregate", every)


def test_progress_lines_for_logs_say_done_total_rate_and_time_left(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from gzbcat.cli import common

    clock = iter([100.0, 110.0, 140.0, 150.0])
    monkeypatch.setattr(common.time, "monotonic", lambda: next(clock))
    progress = common.Progress("aggregate", None, live=False, every_seconds=30)
    progress.set_total(300)
    progress(20)  # t = 110: too soon for a line
    progress(100)  # t = 140: a line
    assert capsys.readouterr().err == "aggregate: 120/300 (40 %), 3/s, about 1m00s left\n"
    progress(200)  # beyond the total: the total grows, no line yet (t = 150)
    assert progress.total == 320
    assert common.count_lines(Path(__file__)) == Path(__file__).read_text().count("\n")


def test_a_server_that_cannot_be_reached_is_tried_for_the_connect_wait(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import time

    from gzbcat.db.engine import DatabaseOpenError, open_database

    url = "postgresql+psycopg://postgres@127.0.0.1:1/test"  # nothing listens on port 1
    started = time.monotonic()
    with pytest.raises(DatabaseOpenError, match="cannot open the database"):
        open_database(url)
    assert time.monotonic() - started < 1.0  # no wait by default: a user hears at once
    monkeypatch.setenv("GZBCAT_CONNECT_WAIT", "1.2")
    started = time.monotonic()
    result = runner.invoke(app, ["--db", url, "status"])
    assert result.exit_code == 2 and "cannot open the database" in result.output
    assert time.monotonic() - started >= 1.0  # a batch job keeps trying a restarting server
