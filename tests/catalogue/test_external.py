"""import-table on SQLite and PostgreSQL, with the real Hart et al. (2017) table.

Expected values come from reading the CSV with Python's csv module (exact text), not from
astropy or the code under test: 6,222 rows; NSAID empty in 108 rows; dr7objid exact.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from astropy.table import Table
from sqlalchemy import Engine, inspect, select, text

from gzbcat.catalogue import external
from gzbcat.catalogue.external import ExternalTableError, import_table
from gzbcat.db import schema
from gzbcat.db.engine import session_scope


@pytest.fixture(scope="module")
def hart_rows(hart_csv: Path) -> list[dict[str, str]]:
    with hart_csv.open(newline="") as handle:
        return list(csv.DictReader(handle))


def import_hart(engine: Engine, hart_csv: Path) -> external.ImportSummary:
    return import_table(
        engine, hart_csv, "hart2017", ra="ra", dec="dec", keys=["dr7objid", "NSAID"]
    )


def scalar(engine: Engine, sql: str) -> object:
    with engine.connect() as connection:
        return connection.execute(text(sql)).scalar()


def test_hart_table_types_ids_and_empties(
    engine: Engine, hart_csv: Path, hart_rows: list[dict[str, str]]
) -> None:
    summary = import_hart(engine, hart_csv)
    assert summary.n_rows == len(hart_rows) == 6222
    assert "nsaid" in summary.integer_from_float
    assert "psi_sparcfire" not in summary.integer_from_float
    assert "elpetro_mass" not in summary.integer_from_float  # 2.3e10: stays a float
    columns = {c["name"]: c["type"] for c in inspect(engine).get_columns("ext_hart2017")}
    assert columns["dr7objid"].python_type is int
    assert columns["nsaid"].python_type is int
    assert columns["psi_sparcfire"].python_type is float
    with engine.connect() as connection:
        rows = connection.execute(
            text("SELECT row_index, dr7objid, nsaid, psi_sparcfire, iauname FROM ext_hart2017")
        ).all()
    by_index = {row[0]: row for row in rows}
    for i, source in enumerate(hart_rows):
        row = by_index[i]
        assert row[1] == int(source["dr7objid"])  # exact: never through float
        if source["NSAID"] == "":
            assert row[2] is None and row[4] is None
        else:
            assert row[2] == int(float(source["NSAID"]))
        assert row[3] == float(source["psi_sparcfire"])  # -999 is kept, not changed
    assert sum(row[2] is None for row in rows) == 108
    assert scalar(engine, "SELECT COUNT(*) FROM ext_hart2017 WHERE psi_sparcfire = -999") == sum(
        s["psi_sparcfire"] == "-999.0" for s in hart_rows
    )
    with session_scope(engine) as session:
        registered = session.get(schema.ExternalTable, "hart2017")
        assert registered is not None
        assert (registered.n_rows, registered.ra_column, registered.dec_column) == (
            6222,
            "ra",
            "dec",
        )
        assert json.loads(registered.key_columns) == ["dr7objid", "nsaid"]
    indexed = [ix["column_names"] for ix in inspect(engine).get_indexes("ext_hart2017")]
    assert ["dr7objid"] in indexed and ["nsaid"] in indexed and ["dec", "ra"] in indexed


def test_all_fifty_subjects_join_by_dr7objid_and_nsaid(
    engine: Engine, subjects: list[int], hart_csv: Path
) -> None:
    import_hart(engine, hart_csv)
    by_objid = scalar(
        engine,
        "SELECT COUNT(DISTINCT c.subject_id) FROM catalogue AS c "
        "JOIN ext_hart2017 AS h ON h.dr7objid = c.dr7objid",
    )
    by_nsa = scalar(
        engine,
        "SELECT COUNT(DISTINCT s.subject_id) FROM subjects AS s "
        "JOIN ext_hart2017 AS h ON h.nsaid = s.nsa_id AND h.dr7objid = s.dr7objid",
    )
    assert by_objid == by_nsa == len(subjects) == 50


def test_reimport_replaces_in_one_transaction(
    engine: Engine, hart_csv: Path, tmp_path: Path
) -> None:
    import_hart(engine, hart_csv)
    small = tmp_path / "small.csv"
    small.write_text("dr7objid,ra,dec\n587741421632356667,118.684814,14.607033\n")
    summary = import_table(engine, small, "hart2017", ra="ra", dec="dec", keys=["dr7objid"])
    assert summary.replaced
    assert scalar(engine, "SELECT COUNT(*) FROM ext_hart2017") == 1
    assert "nsaid" not in {c["name"] for c in inspect(engine).get_columns("ext_hart2017")}


def test_failure_midway_leaves_the_previous_import(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = tmp_path / "first.csv"
    first.write_text("id,ra,dec\n1,10.0,20.0\n2,11.0,21.0\n")
    import_table(engine, first, "tiny", ra="ra", dec="dec", keys=["id"])
    columns = {c["name"]: c["type"] for c in inspect(engine).get_columns("ext_tiny")}
    assert columns["ra"].python_type is float  # whole-number positions stay floats
    assert columns["id"].python_type is int
    second = tmp_path / "second.csv"
    second.write_text("id,ra,dec\n" + "".join(f"{i},{i}.5,1.0\n" for i in range(12)))
    monkeypatch.setattr(external, "CHUNK_ROWS", 5)

    def explode(_n: int) -> None:
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        import_table(engine, second, "tiny", ra="ra", dec="dec", keys=["id"], progress=explode)
    assert scalar(engine, "SELECT COUNT(*) FROM ext_tiny") == 2
    assert scalar(engine, "SELECT MAX(ra) FROM ext_tiny") == 11.0


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("format", "unknown table format"),
        ("missing_key", "--key column 'nope' is not in the table"),
        ("missing_ra", "--ra column 'alpha' is not in the table"),
        ("gzbcat_name", "is the name of a gzbcat table"),
        ("bad_name", "must be lower-case"),
        ("foreign_table", "was not imported by gzbcat"),
        ("no_file", "no such file"),
        ("only_ra", "both --ra and --dec"),
    ],
)
def test_bad_input_fails_clearly_and_changes_nothing(
    engine: Engine, tmp_path: Path, case: str, message: str
) -> None:
    good = tmp_path / "t.csv"
    good.write_text("id,ra,dec\n1,10.0,20.0\n")
    path, name, options = good, "t", {"ra": "ra", "dec": "dec", "keys": ["id"]}
    if case == "format":
        path = tmp_path / "t.xlsx"
        path.write_text("nothing")
    elif case == "missing_key":
        options["keys"] = ["nope"]
    elif case == "missing_ra":
        options["ra"] = "alpha"
    elif case == "gzbcat_name":
        name = "subjects"
    elif case == "bad_name":
        name = "Bad-Name"
    elif case == "foreign_table":
        with engine.begin() as connection:
            connection.execute(text("CREATE TABLE ext_t (x INTEGER)"))
    elif case == "no_file":
        path = tmp_path / "absent.csv"
    elif case == "only_ra":
        options["dec"] = None
    before = set(inspect(engine).get_table_names())
    with pytest.raises(ExternalTableError, match=message):
        import_table(engine, path, name, **options)  # type: ignore[arg-type]
    assert set(inspect(engine).get_table_names()) == before
    with session_scope(engine) as session:
        assert session.scalars(select(schema.ExternalTable.name)).all() == []


@pytest.mark.parametrize("suffix", [".fits", ".ecsv", ".vot"])
def test_fits_ecsv_and_votable_keep_64_bit_ids(engine: Engine, tmp_path: Path, suffix: str) -> None:
    ids = np.array([587741421632356667, 588007005234266362, 2**62 + 1], dtype=np.int64)
    table = Table()
    table["objid"] = ids
    table["RA"] = [118.684814, 123.420944, 1.0]
    table["Dec"] = [14.607033, 45.993744, -1.0]
    table["name"] = ["a", "b", "c"]
    table["flag"] = np.array([True, False, True])
    table["mass"] = [1.5, 2.0, np.nan]
    path = tmp_path / f"t{suffix}"
    table.write(path, format={".fits": "fits", ".ecsv": "ascii.ecsv", ".vot": "votable"}[suffix])
    import_table(engine, path, "t", ra="RA", dec="Dec", keys=["objid"])
    with engine.connect() as connection:
        rows = connection.execute(
            text("SELECT objid, ra, name, flag, mass FROM ext_t ORDER BY row_index")
        ).all()
    assert [r[0] for r in rows] == ids.tolist()
    assert [r[2] for r in rows] == ["a", "b", "c"]
    assert [bool(r[3]) for r in rows] == [True, False, True]
    assert rows[2][4] is None  # NaN becomes NULL on both backends
