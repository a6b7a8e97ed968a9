"""Fixtures for the catalogue tests: the real subjects, the Hart et al. (2017) table, models.

Subjects are the 50 real Galaxy Builder subjects of ``../shared/data``. Most tests need only
their rows, not their images, so :func:`add_subjects` writes the rows that the package's own
export reader parses from ``subjects.csv`` (fast); the end-to-end test runs the real ingest.
Models, arms and fits are synthetic rows with values chosen in the tests, because the
aggregation and tuning stages are not wired yet; expected catalogue values are computed from
those numbers in the tests, never read back from the code under test.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import Engine, insert

from gzbcat.db import schema
from gzbcat.db.arrays import array_to_bytes
from gzbcat.db.engine import session_scope
from gzbcat.zooniverse.exports import SubjectRow, read_subject_export

PARAMETERS = ("mux", "muy", "roll", "re", "q", "intensity", "n", "c")


@pytest.fixture(scope="session")
def hart_csv(shared_data: Path) -> Path:
    path = shared_data / "external" / "hart2017-gz2-sparcfire.csv"
    if not path.is_file():
        pytest.fail(f"{path} is missing")
    return path


@pytest.fixture(scope="session")
def subject_rows(galaxy_builder_dir: Path) -> list[SubjectRow]:
    rows = list(read_subject_export(galaxy_builder_dir / "subjects.csv"))
    assert all(isinstance(r, SubjectRow) for r in rows)
    assert len(rows) == 50
    return rows  # type: ignore[return-value]


def add_subjects(engine: Engine, rows: Sequence[SubjectRow]) -> list[int]:
    """Write subject rows (no images) as ingest would; returns their ids."""
    with session_scope(engine, write=True) as session:
        session.execute(
            insert(schema.Subject),
            [
                {
                    "subject_id": r.subject_id,
                    "subject_set_id": r.subject_set_id,
                    "workflow_id": r.workflow_id,
                    "ra_deg": r.metadata.ra_deg,
                    "dec_deg": r.metadata.dec_deg,
                    "dr7objid": r.metadata.dr7objid,
                    "nsa_id": r.metadata.nsa_id,
                    "redshift": r.metadata.redshift,
                    "petrosian_radius_arcsec": r.metadata.petrosian_radius_arcsec,
                    "metadata_json": r.metadata_raw,
                    "locations": json.dumps(r.locations),
                }
                for r in rows
            ],
        )
    return [r.subject_id for r in rows]


@pytest.fixture
def subjects(engine: Engine, subject_rows: list[SubjectRow]) -> list[int]:
    """The 50 real subjects' rows in a fresh database on each backend."""
    return add_subjects(engine, subject_rows)


def component_row(model_id: int, component: str, base: float, with_errors: bool = True) -> dict:
    """A component whose parameter k is ``base + k`` (errors ``(base + k) / 100``)."""
    row: dict[str, Any] = {"model_id": model_id, "component": component}
    for k, name in enumerate(PARAMETERS):
        row[name] = base + k
        row[f"{name}_err"] = (base + k) / 100 if with_errors else None
    return row


def add_model(
    engine: Engine,
    subject_id: int,
    kind: str,
    *,
    source_model_id: int | None = None,
    components: dict[str, float] | None = None,
    arms: Sequence[dict[str, Any]] = (),
    fit: dict[str, Any] | None = None,
    method: str = "corrected",
    overrides: dict[str, dict[str, float]] | None = None,
) -> int:
    """Insert one model with components (name → base value), arms and a fit; its id.

    ``overrides`` replaces single parameters: ``{"disk": {"roll": 0.1}}``.
    """
    with session_scope(engine, write=True) as session:
        model = schema.Model(
            subject_id=subject_id, kind=kind, source_model_id=source_model_id, method=method
        )
        session.add(model)
        session.flush()
        model_id = int(model.model_id)
        for name, base in (components or {}).items():
            row = component_row(model_id, name, base)
            row.update((overrides or {}).get(name, {}))
            session.execute(insert(schema.Component), [row])
        for index, arm in enumerate(arms):
            values = {
                "model_id": model_id,
                "arm_index": arm.get("arm_index", index),
                "points": array_to_bytes(np.zeros((2, 2))),
                "intensity": 0.1,
                "spread": 3.0,
                "falloff": 1.0,
            }
            values.update({k: v for k, v in arm.items() if k != "arm_index"})
            session.execute(insert(schema.Arm), [values])
        if fit is not None:
            session.execute(insert(schema.Fit), [{"model_id": model_id, **fit}])
    return model_id
