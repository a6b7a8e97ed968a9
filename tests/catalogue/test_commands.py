"""The Typer commands map options onto the library and report errors with exit code 2.

A small app stands in for ``gzbcat.cli.app``: its callback sets ``ctx.obj.db_url`` as the
main app's does, and :func:`register` adds the catalogue commands to it.
"""

from __future__ import annotations

import json
import types
from pathlib import Path

import pytest
import typer
from astropy.table import Table
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from gzbcat.cli.catalogue import register


def make_app(db_url: str) -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def main(ctx: typer.Context) -> None:
        ctx.obj = types.SimpleNamespace(db_url=db_url)

    register(app)
    return app


def invoke(db_url: str, *args: str) -> object:
    return CliRunner().invoke(make_app(db_url), [str(a) for a in args])


def test_import_crossmatch_query_export(
    engine: Engine, db_url: str, subjects: list[int], hart_csv: Path, tmp_path: Path
) -> None:
    result = invoke(
        db_url, "import-table", hart_csv, "--name", "hart2017", "--ra", "ra", "--dec", "dec",
        "--key", "dr7objid", "--key", "NSAID",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "Imported ext_hart2017: 6222 rows" in result.output
    assert "nsaid" in result.output  # stored as BIGINT, reported

    result = invoke(db_url, "crossmatch", "hart2017", "--radius", "2arcsec")
    assert result.exit_code == 0, result.output
    assert "matched:   50" in result.output and "unmatched: 0" in result.output

    result = invoke(
        db_url, "query", "SELECT subject_id, row_key FROM crossmatches WHERE subject_id = :s",
        "--param", f"s={subjects[0]}", "--format", "json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == [
        {"subject_id": subjects[0], "row_key": "587741421632356667"}
    ]

    queries = Path(__file__).resolve().parents[2] / "queries"
    query_file = queries / "pitch_angles_vs_hart_et_al_2017.sql"
    result = invoke(db_url, "query", query_file)
    assert result.exit_code == 0, result.output
    assert "(50 rows)" in result.output

    out = tmp_path / "catalogue.ecsv"
    result = invoke(db_url, "export", out)
    assert result.exit_code == 0, result.output
    assert "Exported 50 subjects" in result.output
    assert len(Table.read(out)) == 50
    before = out.stat().st_mtime_ns
    result = invoke(db_url, "export", out)
    assert result.exit_code == 2 and "exists; --overwrite replaces it" in result.stderr
    assert out.stat().st_mtime_ns == before
    result = invoke(db_url, "export", out, "--overwrite")
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("query", "DELETE FROM subjects"), "read-only"),
        (("query", "SELECT 1", "--format", "xml"), "--format"),
        (("query", "SELECT 1", "--param", "oops"), "NAME=VALUE"),
        (("export", "out.xlsx"), "unknown output format"),
        (("import-table", "nothing.csv", "--name", "x"), "no such file"),
        (("crossmatch", "nothing"), "no external table"),
        (("crossmatch", "nothing", "--radius", "2kg"), "--radius"),
    ],
)
def test_errors_go_to_stderr_with_exit_code_2(
    engine: Engine, db_url: str, args: tuple[str, ...], message: str
) -> None:
    result = invoke(db_url, *args)
    assert result.exit_code == 2
    assert message in result.stderr
    with engine.connect() as connection:
        assert connection.execute(text("SELECT COUNT(*) FROM external_tables")).scalar() == 0


def test_stale_schema_is_refused(tmp_path: Path) -> None:
    result = invoke(f"sqlite:///{tmp_path / 'empty.sqlite'}", "query", "SELECT 1")
    assert result.exit_code == 2
    assert "gzbcat init" in result.stderr
