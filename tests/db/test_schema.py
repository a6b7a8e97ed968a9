"""The migrated schema is exactly the models, on both backends, and migrations go both ways."""

from __future__ import annotations

import numpy as np
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, inspect, text

from gzbcat.db.arrays import array_from_bytes, array_to_bytes
from gzbcat.db.engine import (
    SchemaError,
    check_schema,
    current_revision,
    downgrade,
    head_revision,
    make_engine,
    upgrade,
)
from gzbcat.db.schema import Base

DESIGN_TABLES = {
    "subjects",
    "subject_images",
    "classifications",
    "models",
    "components",
    "arms",
    "cluster_members",
    "fits",
    "runs",
    "stage_units",
    "external_tables",
    "crossmatches",
}


def _differences(engine: Engine) -> list:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return compare_metadata(context, Base.metadata)


def test_migrated_schema_matches_the_models(engine: Engine) -> None:
    assert _differences(engine) == []
    tables = set(inspect(engine).get_table_names())
    assert tables >= DESIGN_TABLES


def test_downgrade_to_base_and_upgrade_again(engine: Engine) -> None:
    downgrade(engine, "base")
    assert current_revision(engine) is None
    assert not DESIGN_TABLES & set(inspect(engine).get_table_names())
    upgrade(engine)
    assert current_revision(engine) == head_revision()
    assert _differences(engine) == []


def test_indexes_the_stages_need(engine: Engine) -> None:
    inspector = inspect(engine)

    def indexed(table: str) -> list[list[str]]:
        return [index["column_names"] for index in inspector.get_indexes(table)]

    assert ["subject_id"] in indexed("classifications")
    assert ["subject_id", "kind"] in indexed("models")
    assert ["stage", "state"] in indexed("stage_units")
    assert ["dr7objid"] in indexed("subjects")


def test_commands_refuse_a_database_without_schema(db_url: str) -> None:
    engine = make_engine(db_url)
    with pytest.raises(SchemaError, match="gzbcat init"):
        check_schema(engine)
    upgrade(engine)
    check_schema(engine)
    engine.dispose()


def test_sqlite_runs_with_foreign_keys_and_wal(tmp_path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'x.sqlite'}")
    with engine.connect() as connection:
        assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
    engine.dispose()


@pytest.mark.parametrize(
    "array",
    [
        np.arange(12, dtype=np.float64).reshape(3, 4) / 7,
        np.array([[True, False], [False, True]]),
        np.zeros((0, 2)),
        np.arange(5, dtype=np.int32),
        np.float32([np.nan, np.inf, -0.0]),
    ],
)
def test_arrays_round_trip_exactly(array: np.ndarray) -> None:
    back = array_from_bytes(array_to_bytes(array))
    assert back.dtype == array.dtype
    assert back.shape == array.shape
    assert np.array_equal(back, array, equal_nan=array.dtype.kind == "f")
    assert array_from_bytes(None) is None


def test_object_arrays_are_refused() -> None:
    with pytest.raises(ValueError):
        array_to_bytes(np.array([{"a": 1}], dtype=object))


@pytest.mark.parametrize(
    "array",
    [
        np.random.default_rng(1).normal(size=(81, 2)),
        np.zeros((135, 135), dtype=bool),
        np.arange(7, dtype=">i4"),
        np.float64(3.5),
        np.arange(6.0).reshape(2, 3).T,  # not C-contiguous
    ],
)
def test_array_bytes_are_what_numpy_writes(array: np.ndarray) -> None:
    import io

    buffer = io.BytesIO()
    np.save(buffer, np.array(array, order="C"), allow_pickle=False)
    assert array_to_bytes(array) == buffer.getvalue()


def test_array_bytes_are_those_stored_before() -> None:
    # The .npy 1.0 bytes of a stored (2,) float64 array, header padded to 64 bytes: what the
    # rows already in a database hold, so a re-ingest writes the same bytes and hashes.
    header = b"{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }"
    expected = (
        b"\x93NUMPY\x01\x00v\x00"
        + header
        + b" " * (117 - len(header))
        + b"\n"
        + np.array([1.5, -2.0], dtype="<f8").tobytes()
    )
    assert array_to_bytes(np.array([1.5, -2.0], dtype="<f8")) == expected
