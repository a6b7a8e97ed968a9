"""Shared fixtures: the real sample data and a fresh database on each backend.

Every database test runs twice: on SQLite (a temporary file) and on PostgreSQL (a fresh
schema in ``$GZBCAT_TEST_POSTGRES_URL``, dropped afterwards). Without that variable the
PostgreSQL half is skipped with a reason on a laptop, and fails in CI (``CI`` set).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from gzbcat.db.engine import make_engine, upgrade
from gzbcat.settings import shared_data_dir
from gzbcat.stages.ingest import ingest_classifications, ingest_fitting_metadata, ingest_subjects

BACKENDS = ("sqlite", "postgresql")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The shared real-data folder; tests that need it fail loudly if it is missing."""
    path = shared_data_dir()
    if path is None:
        pytest.fail("../shared/data not found: set GZBCAT_SHARED_DATA")
    return path


@pytest.fixture(scope="session")
def galaxy_builder_dir(shared_data: Path) -> Path:
    return shared_data / "galaxy-builder"


def postgres_base_url() -> str:
    """The PostgreSQL server tests use; skipped on a laptop without one, failed in CI."""
    url = os.environ.get("GZBCAT_TEST_POSTGRES_URL")
    if not url:
        if os.environ.get("CI"):
            pytest.fail("GZBCAT_TEST_POSTGRES_URL is not set: CI must test PostgreSQL")
        pytest.skip("GZBCAT_TEST_POSTGRES_URL is not set (PostgreSQL tests run in CI)")
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


@contextmanager
def fresh_database_url(backend: str, folder: Path) -> Iterator[str]:
    """The URL of an empty database (no schema): a SQLite file in ``folder``, or a fresh
    PostgreSQL schema that is dropped on exit."""
    if backend == "sqlite":
        yield f"sqlite:///{folder / 'test.sqlite'}"
        return
    base = make_url(postgres_base_url())
    schema = f"gzbcat_test_{uuid.uuid4().hex[:12]}"
    admin = make_engine(base.render_as_string(hide_password=False))
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = base.update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of an empty database (no schema) on each backend."""
    with fresh_database_url(request.param, tmp_path) as url:
        yield url


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """A database on each backend with the schema at head."""
    engine = make_engine(db_url)
    upgrade(engine)
    try:
        yield engine
    finally:
        engine.dispose()


def ingest_sample(engine: Engine, sample: Path, classifications: Path | None = None) -> None:
    """Ingest a ``gzbcat simulate`` folder (subjects, fitting metadata, classifications)."""
    ingest_subjects(engine, sample / "subjects.csv", sample)
    ingest_fitting_metadata(engine, [sample / "fitting-metadata"])
    ingest_classifications(engine, classifications or sample / "classifications.csv")
