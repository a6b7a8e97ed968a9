"""Shared fixtures: the real sample data and a database on each backend."""

from __future__ import annotations

from pathlib import Path

import pytest

from gzbcat.settings import shared_data_dir


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The shared real-data folder; tests that need it fail loudly in CI if it is missing."""
    path = shared_data_dir()
    if path is None:
        pytest.fail("../shared/data not found: set GZBCAT_SHARED_DATA")
    return path


@pytest.fixture(scope="session")
def galaxy_builder_dir(shared_data: Path) -> Path:
    return shared_data / "galaxy-builder"
