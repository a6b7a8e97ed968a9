"""GalaxyModel ↔ rows: the one place that turns models into table rows and back.

A model is a ``models`` row plus its ``components`` and ``arms`` rows (DESIGN §3); every stage
and the ingest write and read models through these functions, so the column layout is known
here only (STYLE: rows ≠ science objects).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from gzbcat.db import schema
from gzbcat.db.arrays import array_from_bytes, array_to_bytes
from gzbcat.db.dialect import insert_tuples
from gzbcat.model import (
    COMPONENT_PARAMETERS,
    GalaxyModel,
    LogSpiralFit,
    Method,
    SersicComponent,
    SpiralArm,
)

__all__ = [
    "ARM_COLUMNS",
    "COMPONENT_COLUMNS",
    "arm_rows",
    "arm_tuples",
    "component_rows",
    "component_tuples",
    "flags_from_text",
    "flags_to_text",
    "insert_model",
    "load_model",
    "load_models",
    "model_from_rows",
    "replace_model",
]

_FIT_FIELDS = (
    "a",
    "pitch_angle_deg",
    "pitch_angle_err_deg",
    "chirality",
    "t_min",
    "t_max",
    "length_px",
    "r_squared",
    "n_members",
    "pitch_angle_err_flag",
    "pitch_angle_scatter_deg",
)


_NO_ERRORS = [None] * len(COMPONENT_PARAMETERS)

COMPONENT_COLUMNS: tuple[str, ...] = (
    "model_id",
    "component",
    *COMPONENT_PARAMETERS,
    *(f"{p}_err" for p in COMPONENT_PARAMETERS),
    "error_flags",
    *(f"{p}_scatter" for p in COMPONENT_PARAMETERS),
)
"""Column order of :func:`component_tuples`."""


def flags_to_text(flags: Mapping[str, str]) -> str | None:
    """``{"n": "fixed", "q": "at_bound"}`` → ``"n:fixed,q:at_bound"`` (NULL when empty)."""
    return ",".join(f"{key}:{value}" for key, value in flags.items()) or None


def flags_from_text(text: str | None) -> dict[str, str]:
    """The inverse of :func:`flags_to_text`."""
    if not text:
        return {}
    return dict(item.split(":", 1) for item in text.split(","))


def _values_or_null(values: Mapping[str, float]) -> list[float | None]:
    """One value per component parameter, NULL where missing; infinities are kept."""
    if not values:
        return _NO_ERRORS
    return [None if (e := values.get(p)) is None else float(e) for p in COMPONENT_PARAMETERS]


ARM_COLUMNS: tuple[str, ...] = (
    "model_id",
    "arm_index",
    "points",
    "intensity",
    "spread",
    "falloff",
    *_FIT_FIELDS,
)
"""Column order of :func:`arm_tuples`."""


def component_tuples(model_id: int | None, model: GalaxyModel) -> list[tuple[Any, ...]]:
    """``components`` rows (in ``COMPONENT_COLUMNS`` order); unknown errors are NULL.

    Tuples rather than dicts: ingest writes millions of them.
    """
    rows = []
    for name, comp in model.components().items():
        rows.append(
            (
                model_id,
                name,
                *comp.parameters().values(),
                *_values_or_null(comp.errors),
                flags_to_text(comp.error_flags),
                *_values_or_null(comp.scatter),
            )
        )
    return rows


def arm_tuples(model_id: int | None, model: GalaxyModel) -> list[tuple[Any, ...]]:
    """``arms`` rows (in ``ARM_COLUMNS`` order); points as ``.npy`` bytes."""
    rows = []
    for index, arm in enumerate(model.arms):
        fit = arm.fit.to_dict() if arm.fit is not None else {}
        rows.append(
            (
                model_id,
                index,
                array_to_bytes(arm.points),
                float(arm.intensity),
                float(arm.spread),
                float(arm.falloff),
                *(fit.get(name) for name in _FIT_FIELDS),
            )
        )
    return rows


def component_rows(model_id: int, model: GalaxyModel) -> list[dict[str, Any]]:
    """``components`` rows for a model, as mappings."""
    return [
        dict(zip(COMPONENT_COLUMNS, row, strict=True)) for row in component_tuples(model_id, model)
    ]


def arm_rows(model_id: int, model: GalaxyModel) -> list[dict[str, Any]]:
    """``arms`` rows for a model, as mappings; points as ``.npy`` bytes."""
    return [dict(zip(ARM_COLUMNS, row, strict=True)) for row in arm_tuples(model_id, model)]


def model_from_rows(
    components: Iterable[Mapping[str, Any]], arms: Iterable[Mapping[str, Any]]
) -> GalaxyModel:
    """A :class:`GalaxyModel` from its ``components`` and ``arms`` rows (mappings)."""
    parts: dict[str, SersicComponent] = {}
    for row in components:
        errors = {
            p: float(row[f"{p}_err"])
            for p in COMPONENT_PARAMETERS
            if row.get(f"{p}_err") is not None
        }
        scatter = {
            p: float(row[f"{p}_scatter"])
            for p in COMPONENT_PARAMETERS
            if row.get(f"{p}_scatter") is not None
        }
        parts[row["component"]] = SersicComponent(
            **{p: float(row[p]) for p in COMPONENT_PARAMETERS},
            errors=errors,
            error_flags=flags_from_text(row.get("error_flags")),
            scatter=scatter,
        )
    arm_list = []
    for row in sorted(arms, key=lambda r: r["arm_index"]):
        fit = None
        if row.get("a") is not None and row.get("pitch_angle_deg") is not None:
            fit = LogSpiralFit.from_dict({name: row.get(name) for name in _FIT_FIELDS})
        points = array_from_bytes(row["points"])
        arm_list.append(
            SpiralArm(
                points=points if points is not None else np.empty((0, 2)),
                intensity=float(row["intensity"]),
                spread=float(row["spread"]),
                falloff=float(row["falloff"]),
                fit=fit,
            )
        )
    return GalaxyModel(**parts, arms=tuple(arm_list))


def load_model(session: Session, model_id: int) -> GalaxyModel:
    """The model stored under ``model_id``."""
    components = session.execute(
        select(schema.Component.__table__).where(schema.Component.model_id == model_id)
    ).mappings()
    arms = session.execute(
        select(schema.Arm.__table__).where(schema.Arm.model_id == model_id)
    ).mappings()
    return model_from_rows(list(components), list(arms))


def load_models(session: Session, model_ids: Sequence[int]) -> dict[int, GalaxyModel]:
    """Several models by id, with two queries (components, arms) in all."""
    if not model_ids:
        return {}
    ids = list(model_ids)
    components: dict[int, list[Any]] = defaultdict(list)
    arms: dict[int, list[Any]] = defaultdict(list)
    for row in session.execute(
        select(schema.Component.__table__).where(schema.Component.model_id.in_(ids))
    ).mappings():
        components[row["model_id"]].append(row)
    for row in session.execute(
        select(schema.Arm.__table__).where(schema.Arm.model_id.in_(ids))
    ).mappings():
        arms[row["model_id"]].append(row)
    return {i: model_from_rows(components[i], arms[i]) for i in ids}


def insert_model(
    session: Session,
    subject_id: int,
    model: GalaxyModel,
    *,
    kind: str,
    method: Method,
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
    session: Session, subject_id: int, model: GalaxyModel, *, kind: str, **row: Any
) -> int:
    """Replace the subject's model of ``kind`` (and what hangs off it) with ``model``.

    ``row`` holds the other ``models`` columns, as :func:`insert_model` takes them.
    """
    session.execute(
        delete(schema.Model).where(schema.Model.subject_id == subject_id, schema.Model.kind == kind)
    )
    return insert_model(session, subject_id, model, kind=kind, **row)
