"""``gzbcat query`` on both backends: parameters, formats, the documented example queries in
``queries/`` against the real subjects and Hart et al. (2017), and the sandbox: one test per
attack, each asserting the refusal and that nothing happened.
"""

from __future__ import annotations

import csv
import io
import json
import math
import uuid
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
    result = run_query(engine, "SELECT ';' AS a, 'it''s' AS b -- x; y\n;  ")
    assert result.rows == [(";", "it's")]


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
              overrides={"disk": {"roll": 3.0}}, arms=arms)  # fmt: skip
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
    # … over the errors combined: re errors 0.14 (subject 99) and 0.13, roll 0.13 and 0.12.
    assert pair["disk_re_diff_over_err"] == pytest.approx(-1.0 / math.hypot(0.14, 0.13))
    assert pair["disk_roll_diff_over_err"] == pytest.approx(
        (2.9 - 3.141592653589793) / math.hypot(0.13, 0.12)
    )
    assert pair["bulge_fraction_diff_over_err"] is None  # no fraction errors stored

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


# -- the sandbox ------------------------------------------------------------------------------

sqlite_only = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
postgresql_only = pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)


def add_run(engine: Engine) -> None:
    """One row in ``runs``, so that a smuggled DELETE would show."""
    with session_scope(engine, write=True) as session:
        session.execute(
            insert(schema.Run),
            [{"stage": "aggregate", "params": "{}", "params_hash": "h", "code_version": "v"}],
        )


@pytest.mark.parametrize(
    "statement",
    [
        "SELECT E'\\''; COMMIT; DELETE FROM runs; --'",
        "SELECT $$'$$; COMMIT; DELETE FROM runs; --'",
        "SELECT $q$'$q$; COMMIT; DELETE FROM runs; --'",
        "SELECT 1; COMMIT; DELETE FROM runs",
        "SELECT 1 /* ; */; DELETE FROM runs",
    ],
)
def test_no_quoting_trick_smuggles_a_second_statement(engine: Engine, statement: str) -> None:
    add_run(engine)
    with pytest.raises(QueryError) as raised:
        run_query(engine, statement)
    if engine.dialect.name == "postgresql":  # SQLite stumbles on E'' and $$ earlier
        assert "one statement" in str(raised.value)
    assert count(engine, "runs") == 1


def test_a_runaway_query_is_cancelled(engine: Engine) -> None:
    slow = {
        "sqlite": "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) "
        "SELECT COUNT(*) FROM c",
        "postgresql": "SELECT pg_sleep(5)::text",
    }[engine.dialect.name]
    with pytest.raises(QueryError, match=r"cancelled after 0\.5 s") as raised:
        run_query(engine, slow, timeout_seconds=0.5)
    assert raised.value.reason == "timeout"


def test_the_cli_has_a_timeout_and_refuses_with_exit_code_2(engine: Engine, db_url: str) -> None:
    from tests.catalogue.test_commands import invoke

    slow = {
        "sqlite": "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) "
        "SELECT COUNT(*) FROM c",
        "postgresql": "SELECT 1 FROM pg_sleep(5)",
    }[engine.dialect.name]
    result = invoke(db_url, "query", slow, "--timeout", "1")
    assert result.exit_code == 2
    assert "cancelled after 1 s" in result.stderr
    result = invoke(db_url, "query", "SELECT 1; DELETE FROM subjects")
    assert result.exit_code == 2
    assert "one statement" in result.stderr and "Traceback" not in result.output
    result = invoke(db_url, "query", "SELECT COUNT(*) AS n FROM subjects", "--timeout", "0")
    assert result.exit_code == 0, result.output


def test_query_on_a_missing_database_names_it_and_creates_nothing(tmp_path: Path) -> None:
    from tests.catalogue.test_commands import invoke

    missing = tmp_path / "nowhere" / "catalogue.sqlite"
    result = invoke(f"sqlite:///{missing}", "query", "SELECT 1")
    assert result.exit_code == 2
    assert str(missing) in result.stderr and "gzbcat init" in result.stderr
    assert not missing.exists() and not missing.parent.exists()


@sqlite_only
def test_sqlite_attach_and_vacuum_into_create_no_file(engine: Engine, tmp_path: Path) -> None:
    other = tmp_path / "other.sqlite"
    with pytest.raises(QueryError, match="refused ATTACH"):
        run_query(engine, f"ATTACH DATABASE '{other}' AS other")
    with pytest.raises(QueryError, match="refused ATTACH"):
        run_query(engine, f"VACUUM INTO '{other}'")
    assert not other.exists()


@sqlite_only
def test_sqlite_pragma_writes_are_refused(engine: Engine) -> None:
    for statement in ("PRAGMA user_version = 5", "PRAGMA journal_mode = DELETE",
                      "PRAGMA foreign_keys = OFF", "PRAGMA wal_checkpoint"):  # fmt: skip
        with pytest.raises(QueryError, match="refused PRAGMA") as raised:
            run_query(engine, statement)
        assert raised.value.reason == "refused"
    assert run_query(engine, "PRAGMA user_version").rows == [(0,)]
    assert run_query(engine, "PRAGMA journal_mode").rows == [("wal",)]
    columns = run_query(engine, "PRAGMA table_info(subjects)").rows
    assert "dr7objid" in {row[1] for row in columns}


@sqlite_only
def test_sqlite_extension_loading_is_refused(engine: Engine) -> None:
    with pytest.raises(QueryError, match="load_extension"):
        run_query(engine, "SELECT load_extension('/usr/lib/x86_64-linux-gnu/libsqlite3.so')")


@sqlite_only
def test_sqlite_opens_the_file_read_only(engine: Engine, db_url: str) -> None:
    path = Path(db_url.removeprefix("sqlite:///"))
    before = path.read_bytes()
    for statement in ("CREATE TEMP TABLE t (x INTEGER)", "BEGIN IMMEDIATE", "ANALYZE"):
        with pytest.raises(QueryError, match="read-only"):
            run_query(engine, statement)
    assert path.read_bytes() == before


@postgresql_only
def test_postgresql_tests_connect_as_a_superuser(engine: Engine) -> None:
    """The attacks below are only meaningful if the login could do them without the sandbox."""
    with engine.connect() as connection:
        assert connection.execute(
            text("SELECT rolsuper FROM pg_roles WHERE rolname = session_user")
        ).scalar(), "GZBCAT_TEST_POSTGRES_URL must log in as a superuser for the sandbox tests"


@postgresql_only
@pytest.mark.parametrize(
    ("statement", "message"),
    [
        ("COPY (SELECT 1) TO PROGRAM 'touch {path}'", "return rows"),
        ("COPY subjects TO '{path}'", "return rows"),
        ("SELECT lo_export(0, '{path}')", "permission denied for function lo_export"),
        (
            "SELECT 1 FROM (SELECT lo_export(0, '{path}')) AS x",
            "permission denied for function lo_export",
        ),
        ("DO $$BEGIN EXECUTE 'COPY (SELECT 1) TO PROGRAM ''touch {path}'''; END$$", "return rows"),
        (
            "SELECT set_config('role', 'postgres', true), "
            "query_to_xml('COPY (SELECT 1) TO ''{path}''', false, false, '')",
            "cannot set parameter",
        ),
    ],
)
def test_postgresql_server_files_and_programs_are_out_of_reach(
    engine: Engine, statement: str, message: str
) -> None:
    path = Path(f"/tmp/gzbcat-sandbox-{uuid.uuid4().hex}")
    with pytest.raises(QueryError, match=message):
        run_query(engine, statement.format(path=path))
    assert not path.exists()


@postgresql_only
@pytest.mark.parametrize(
    ("statement", "message"),
    [
        ("SELECT pg_read_file('/etc/hostname')", "permission denied for function pg_read_file"),
        ("SELECT * FROM pg_authid", "permission denied for table pg_authid"),
        ("SELECT nextval('runs_run_id_seq')", "permission denied for sequence"),
        # SET ROLE alone would not hold: set_config() switches back to the superuser login.
        (
            "SELECT set_config('role', 'postgres', true), "
            "query_to_xml('SELECT pg_read_file(''/etc/hostname'')', false, false, '')",
            'cannot set parameter "role"',
        ),
        (
            "SELECT set_config('session_authorization', 'postgres', true)",
            'cannot set parameter "session_authorization"',
        ),
        (
            "SELECT query_to_xml('SELECT set_config(''role'', ''postgres'', true)', "
            "false, false, '')",
            "cannot set parameter",
        ),
    ],
)
def test_postgresql_reads_outside_the_catalogue_are_refused(
    engine: Engine, statement: str, message: str
) -> None:
    with pytest.raises(QueryError, match=message) as raised:
        run_query(engine, statement)
    assert raised.value.reason == "refused"


@postgresql_only
@pytest.mark.parametrize(
    "statement",
    [
        "INSERT INTO runs (stage, params, params_hash, code_version) "
        "VALUES ('x', '{}', 'h', 'v') RETURNING run_id",
        "INSERT INTO runs (stage, params, params_hash, code_version) VALUES ('x', '{}', 'h', 'v')",
        "UPDATE runs SET stage = 'x' RETURNING run_id",
        "SELECT * FROM runs FOR UPDATE",
        "CREATE TEMP TABLE t AS SELECT 1",
    ],
)
def test_postgresql_writes_are_refused(engine: Engine, statement: str) -> None:
    add_run(engine)
    with pytest.raises(QueryError, match="read-only") as raised:
        run_query(engine, statement)
    assert raised.value.reason == "write"
    with engine.connect() as connection:
        assert connection.execute(text("SELECT stage FROM runs")).scalars().all() == ["aggregate"]


@postgresql_only  # SQLite has no writing CTEs
def test_a_writing_cte_is_refused(engine: Engine) -> None:
    add_run(engine)
    with pytest.raises(QueryError, match="read-only"):
        run_query(engine, "WITH d AS (DELETE FROM runs RETURNING run_id) SELECT * FROM d")
    assert count(engine, "runs") == 1


@postgresql_only
def test_postgresql_timeout_holds_against_set_config(engine: Engine) -> None:
    with pytest.raises(QueryError, match=r"cancelled after 0\.5 s"):
        run_query(
            engine,
            "SELECT set_config('statement_timeout', '0', true), pg_sleep(3)::text",
            timeout_seconds=0.5,
        )


@postgresql_only
def test_postgresql_a_void_column_gets_a_clear_message(engine: Engine) -> None:
    with pytest.raises(QueryError, match=r"column 1 \(pg_sleep\) has type void.*::text"):
        run_query(engine, "SELECT pg_sleep(0)")


@postgresql_only
def test_postgresql_reader_reads_tables_views_and_imported_tables(
    engine: Engine, subjects: list[int], hart_csv: Path
) -> None:
    as_reader = run_query(engine, "SELECT current_user, session_user")
    assert as_reader.rows == [("gzbcat_reader", "postgres")]
    row = run_query(
        engine,
        "SELECT s.subject_id, s.dr7objid, s.dr7objid AS again, c.subject_id, NOW() AS at, "
        "1.5::numeric(4, 2) AS price, ARRAY[1, 2] AS pair "
        "FROM subjects AS s JOIN catalogue AS c USING (subject_id) WHERE s.dr7objid = :id",
        {"id": 587741421632356667},
    )
    assert row.columns[:4] == ["subject_id", "dr7objid", "again", "subject_id"]
    assert row.rows[0][:4] == (subjects[0], 587741421632356667, 587741421632356667, subjects[0])
    assert row.rows[0][6] == [1, 2]
    for _ in range(2):  # importing again replaces the table: the new one is granted too
        import_table(engine, hart_csv, "hart2017", ra="ra", dec="dec", keys=["dr7objid"])
        assert run_query(engine, "SELECT COUNT(*) FROM ext_hart2017").rows == [(6222,)]
    assert run_query(engine, "SELECT '100%' AS share, :p AS p", {"p": "it's"}).rows == [
        ("100%", "it's")
    ]
    assert run_query(engine, "EXPLAIN SELECT * FROM catalogue").columns == ["QUERY PLAN"]
    assert len(run_query(engine, "SELECT * FROM catalogue").rows) == 50


@postgresql_only
def test_postgresql_init_is_idempotent_and_sets_up_the_reader(engine: Engine) -> None:
    from gzbcat.db.engine import upgrade

    assert upgrade(engine) == []
    assert upgrade(engine) == []
    with engine.connect() as connection:
        role = connection.execute(
            text(
                "SELECT rolcanlogin, rolsuper, rolcreaterole, rolcreatedb "
                "FROM pg_roles WHERE rolname = 'gzbcat_reader'"
            )
        ).one()
        assert tuple(role) == (False, False, False, False)
        assert connection.execute(
            text(
                "SELECT has_schema_privilege('gzbcat_reader', current_schema(), 'USAGE') "
                "AND has_table_privilege('gzbcat_reader', 'catalogue', 'SELECT') "
                "AND has_table_privilege('gzbcat_reader', 'subjects', 'SELECT') "
                "AND NOT has_table_privilege('gzbcat_reader', 'subjects', 'INSERT')"
            )
        ).scalar()


@postgresql_only
def test_postgresql_a_login_that_is_not_a_superuser(engine: Engine) -> None:
    """A catalogue owned by an ordinary login: init says when it cannot set the reader up,
    query refuses until it can, then runs as the reader."""
    from sqlalchemy.engine import make_url

    from gzbcat.db.engine import make_engine, upgrade
    from tests.conftest import postgres_base_url

    login, password = f"gzbcat_test_{uuid.uuid4().hex[:12]}", uuid.uuid4().hex
    with engine.begin() as connection:
        connection.execute(text(f"CREATE ROLE {login} LOGIN PASSWORD '{password}'"))
        connection.execute(text(f"CREATE SCHEMA {login} AUTHORIZATION {login}"))
    url = make_url(postgres_base_url()).set(username=login, password=password)
    owned = make_engine(
        url.update_query_dict({"options": f"-csearch_path={login}"}).render_as_string(
            hide_password=False
        )
    )
    try:
        notes = upgrade(owned)
        assert len(notes) == 1 and "gzbcat_reader" in notes[0], notes
        with pytest.raises(QueryError, match="could not take its read-only role") as raised:
            run_query(owned, "SELECT COUNT(*) FROM subjects")
        assert raised.value.reason == "setup"

        with engine.begin() as connection:
            connection.execute(text(f"GRANT gzbcat_reader TO {login}"))
            connection.execute(
                text(f"REVOKE SELECT ON ALL TABLES IN SCHEMA {login} FROM gzbcat_reader")
            )
        with pytest.raises(QueryError, match="run `gzbcat init`"):  # a catalogue from before
            run_query(owned, "SELECT COUNT(*) FROM subjects")
        assert upgrade(owned) == []
        assert run_query(owned, "SELECT current_user, COUNT(*) FROM subjects").rows == [
            ("gzbcat_reader", 0)
        ]
        with pytest.raises(QueryError, match="read-only"):
            run_query(owned, "DELETE FROM subjects RETURNING subject_id")
        with pytest.raises(QueryError, match="cannot set parameter"):
            run_query(owned, f"SELECT set_config('role', '{login}', true)")
    finally:
        owned.dispose()
        with engine.begin() as connection:
            connection.execute(text(f"DROP SCHEMA {login} CASCADE"))
            connection.execute(text(f"DROP ROLE {login}"))
