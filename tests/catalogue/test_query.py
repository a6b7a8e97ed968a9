"""``gzbcat query`` on both backends: read-only, one statement, parameters, formats, and the
documented example queries in ``queries/`` against the real subjects and Hart et al. (2017).
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from sqlalchemy import Engine, insert, text

from gzbcat.catalogue.demo import queries_dir, run_catalogue_demo
from gzbcat.catalogue.external import import_table
from gzbcat.catalogue.query import (
    QueryError,
    QueryResult,
    format_result,
    load_statement,
    parse_params,
    run_query,
    single_statement,
)
from gzbcat.db import schema
from gzbcat.db.engine import session_scope
from tests.catalogue.conftest import add_model


def count(engine: Engine, table: str) -> int:
    with engine.connect() as connection:
        return int(connection.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar() or 0)


def test_select_with_parameters(engine: Engine, subjects: list[int]) -> None:
    result = run_query(
        engine,
        "SELECT subject_id, dr7objid FROM catalogue WHERE dr7objid = :objid;",
        parse_params(["objid=587741421632356667"]),
    )
    assert result.columns == ["subject_id", "dr7objid"]
    assert result.rows == [(subjects[0], 587741421632356667)]


@pytest.mark.parametrize(
    "statement",
    [
        "DELETE FROM subjects",
        "UPDATE subjects SET ra_deg = 0",
        "INSERT INTO runs (stage, params, params_hash, code_version, started_at) "
        "VALUES ('x', '{}', 'h', 'v', '2020-01-01')",
        "CREATE TABLE sneaky (x INTEGER)",
        "DROP VIEW catalogue",
    ],
)
def test_writes_are_refused_and_change_nothing(
    engine: Engine, subjects: list[int], statement: str
) -> None:
    with pytest.raises(QueryError, match="read-only"):
        run_query(engine, statement)
    assert count(engine, "subjects") == 50
    assert count(engine, "catalogue") == 50
    assert count(engine, "runs") == 0


def test_one_statement_only(engine: Engine) -> None:
    with pytest.raises(QueryError, match="one statement"):
        run_query(engine, "SELECT 1; DELETE FROM subjects")
    with pytest.raises(QueryError, match="empty"):
        run_query(engine, " ; -- nothing")
    assert single_statement("SELECT ';' AS a, 'it''s' -- x; y\n;  ") == (
        "SELECT ';' AS a, 'it''s' -- x; y\n"
    )


def test_sql_errors_and_missing_parameters(engine: Engine) -> None:
    with pytest.raises(QueryError):
        run_query(engine, "SELECT nothing FROM nowhere")
    with pytest.raises(QueryError, match="objid"):
        run_query(engine, "SELECT * FROM subjects WHERE dr7objid = :objid")
    with pytest.raises(QueryError, match="NAME=VALUE"):
        parse_params(["novalue"])
    with pytest.raises(QueryError, match="no such SQL file"):
        load_statement("missing.sql")
    assert parse_params(["a=1", "b=2.5", "c=text", "d=-3"]) == {
        "a": 1, "b": 2.5, "c": "text", "d": -3,
    }  # fmt: skip


def test_formats() -> None:
    result = QueryResult(["id", "x", "name"], [(587741421632356667, 1.5, "a"), (2, None, "b,c")])
    table = format_result(result, "table").splitlines()
    assert table[0].split() == ["id", "x", "name"] and "NULL" in table[3]
    rows = list(csv.reader(io.StringIO(format_result(result, "csv"))))
    assert rows == [["id", "x", "name"], ["587741421632356667", "1.5", "a"], ["2", "", "b,c"]]
    assert json.loads(format_result(result, "json")) == [
        {"id": 587741421632356667, "x": 1.5, "name": "a"},
        {"id": 2, "x": None, "name": "b,c"},
    ]


def _example(name: str) -> str:
    return load_statement(str(queries_dir() / name))


def test_every_example_query_is_documented_and_runs(
    engine: Engine, subjects: list[int], hart_csv: Path
) -> None:
    import_table(engine, hart_csv, "hart2017", ra="ra", dec="dec", keys=["dr7objid"])
    files = sorted(queries_dir().glob("*.sql"))
    assert len(files) >= 4
    for path in files:
        assert path.read_text().startswith("-- "), f"{path.name} needs a header comment"
        run_query(engine, load_statement(str(path)))


def test_examples_give_the_expected_rows(
    engine: Engine, subjects: list[int], hart_csv: Path, hart_psi: dict[int, tuple]
) -> None:
    import_table(engine, hart_csv, "hart2017", ra="ra", dec="dec", keys=["dr7objid"])
    a, b, c = subjects[:3]
    arms = [{"pitch_angle_deg": 18.0, "pitch_angle_err_deg": 1.0, "chirality": 1,
             "length_px": 60.0}]  # fmt: skip
    agg = add_model(engine, a, "aggregate", arms=arms)
    add_model(engine, a, "tuned", source_model_id=agg, components={"disk": 10.0, "bulge": 20.0},
              fit={"bulge_fraction": 0.3, "converged": True},
              overrides={"disk": {"roll": 3.0}})  # fmt: skip
    agg_b = add_model(engine, b, "aggregate")
    add_model(engine, b, "tuned", source_model_id=agg_b, components={"disk": 12.0},
              fit={"bulge_fraction": None, "converged": False, "message": "ABNORMAL"})  # fmt: skip
    with session_scope(engine, write=True) as session:
        session.execute(
            insert(schema.StageUnit),
            [{"stage": "aggregate", "subject_id": c, "state": "failed", "error": "boom"}],
        )
        # The validation set: subject a's galaxy shown again as a new subject.
        session.execute(
            insert(schema.Subject),
            [{"subject_id": 99, "subject_set_id": 7, "dr7objid": 587741421632356667}],
        )
    add_model(
        engine, 99, "tuned", source_model_id=add_model(engine, 99, "aggregate"),
        components={"disk": 11.0}, overrides={"disk": {"roll": 0.1}},
    )  # fmt: skip

    pitch = run_query(engine, _example("pitch_angles_vs_hart_et_al_2017.sql"))
    assert len(pitch.rows) == 51  # 50 subjects + the validation copy
    by_subject = {row[0]: dict(zip(pitch.columns, row, strict=True)) for row in pitch.rows}
    sparcfire, gz2 = hart_psi[587741421632356667]
    assert by_subject[a]["pitch_angle_deg"] == pytest.approx(18.0)
    assert by_subject[a]["psi_gz2_deg"] == pytest.approx(gz2)
    assert by_subject[a]["psi_sparcfire_deg"] == (None if sparcfire == -999 else sparcfire)
    assert by_subject[a]["minus_gz2_deg"] == pytest.approx(18.0 - gz2)
    n_missing = sum(1 for row in by_subject.values() if row["psi_sparcfire_deg"] is None)
    assert n_missing == sum(1 for s in by_subject.values() if hart_psi[s["dr7objid"]][0] == -999)

    mass = run_query(engine, _example("bulge_fraction_vs_stellar_mass.sql"))
    fractions = {row[0]: row[3] for row in mass.rows}
    assert fractions == {a: pytest.approx(0.3), b: 0.0, 99: 0.0}

    pairs = run_query(engine, _example("validation_pairs.sql"))
    assert len(pairs.rows) == 1
    pair = dict(zip(pairs.columns, pairs.rows[0], strict=True))
    assert (pair["subject_id_1"], pair["subject_id_2"]) == (99, a)
    assert pair["disk_re_diff_px"] == pytest.approx(13.0 - 14.0)  # re = base + 3
    # 3.0 − 0.1 rad is 2.9 rad; roll is defined modulo π, so the difference is 2.9 − π.
    assert pair["disk_roll_diff_rad"] == pytest.approx(2.9 - 3.141592653589793)

    problems = run_query(engine, _example("failed_fits.sql"))
    assert [(r[0], r[2], r[3], r[4]) for r in problems.rows] == [
        (b, "tune", "aggregate fit not converged", "ABNORMAL"),
        (c, "aggregate", "failed", "boom"),
    ]


@pytest.fixture(scope="module")
def hart_psi(hart_csv: Path) -> dict[int, tuple[float, float]]:
    with hart_csv.open(newline="") as handle:
        return {
            int(r["dr7objid"]): (float(r["psi_sparcfire"]), float(r["psi_gz2"]))
            for r in csv.DictReader(handle)
        }


def test_catalogue_demo(
    engine: Engine, subjects: list[int], shared_data: Path, tmp_path: Path
) -> None:
    result = run_catalogue_demo(engine, tmp_path / "out", shared_data)
    assert result.imported is not None and result.imported.n_rows == 6222
    assert result.crossmatched is not None and result.crossmatched.n_matched == 50
    assert result.exported.n_rows == 50 and Path(result.exported.path).is_file()
    assert result.query is not None and len(result.query.rows) == 50
