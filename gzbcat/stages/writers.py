"""Writing models: the one place that turns a :class:`GalaxyModel` into rows."""

from __future__ import annotations

from sqlalchemy import delete
from sqlalchemy.orm import Session

from gzbcat.db import schema
from gzbcat.db.dialect import insert_tuples
from gzbcat.db.rows import ARM_COLUMNS, COMPONENT_COLUMNS, arm_tuples, component_tuples
from gzbcat.model import GalaxyModel

__all__ = ["insert_model", "replace_model"]


def insert_model(
    session: Session,
    subject_id: int,
    model: GalaxyModel,
    *,
    kind: str,
    method: str,
    run_id: int | None,
    classification_id: int | None = None,
    source_model_id: int | None = None,
) -> int:
    """Insert ``model`` (its ``models`` row, components and arms); return its id."""
    row = schema.Model(
        subject_id=subject_id,
        kind=kind,
        method=method,
        run_id=run_id,
        classification_id=classification_id,
        source_model_id=source_model_id,
    )
    session.add(row)
    session.flush()
    model_id = int(row.model_id)
    insert_tuples(
        session, schema.Component.__table__, COMPONENT_COLUMNS, component_tuples(model_id, model)
    )
    insert_tuples(session, schema.Arm.__table__, ARM_COLUMNS, arm_tuples(model_id, model))
    return model_id


def replace_model(
    session: Session,
    subject_id: int,
    model: GalaxyModel,
    *,
    kind: str,
    method: str,
    run_id: int | None,
    classification_id: int | None = None,
    source_model_id: int | None = None,
) -> int:
    """Replace the subject's model of ``kind`` (and what hangs off it) with ``model``."""
    session.execute(
        delete(schema.Model).where(schema.Model.subject_id == subject_id, schema.Model.kind == kind)
    )
    return insert_model(
        session,
        subject_id,
        model,
        kind=kind,
        method=method,
        run_id=run_id,
        classification_id=classification_id,
        source_model_id=source_model_id,
    )
