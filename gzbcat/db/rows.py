"""Conversion between table rows and value types, in one place (STYLE: rows ≠ science objects)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from gzbcat.db import schema
from gzbcat.db.arrays import array_from_bytes, array_to_bytes
from gzbcat.model import (
    COMPONENT_PARAMETERS,
    GalaxyModel,
    LogSpiralFit,
    SersicComponent,
    SpiralArm,
    SubjectImage,
)

__all__ = [
    "ARM_COLUMNS",
    "COMPONENT_COLUMNS",
    "arm_rows",
    "arm_tuples",
    "component_rows",
    "component_tuples",
    "load_model",
    "load_subject_image",
    "model_from_rows",
    "subject_image_from_row",
    "subject_image_row",
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
)


_NO_ERRORS = [None] * len(COMPONENT_PARAMETERS)

COMPONENT_COLUMNS: tuple[str, ...] = (
    "model_id",
    "component",
    *COMPONENT_PARAMETERS,
    *(f"{p}_err" for p in COMPONENT_PARAMETERS),
)
"""Column order of :func:`component_tuples`."""

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
        errors = comp.errors
        error_values = (
            [None if (e := errors.get(p)) is None else float(e) for p in COMPONENT_PARAMETERS]
            if errors
            else _NO_ERRORS
        )
        rows.append(
            (
                model_id,
                name,
                float(comp.mux),
                float(comp.muy),
                float(comp.roll),
                float(comp.re),
                float(comp.q),
                float(comp.intensity),
                float(comp.n),
                float(comp.c),
                *error_values,
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
        parts[row["component"]] = SersicComponent(
            **{p: float(row[p]) for p in COMPONENT_PARAMETERS}, errors=errors
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


def subject_image_row(
    subject_id: int, image: SubjectImage, *, source_file: str | None, source_sha256: str | None
) -> dict[str, Any]:
    """A ``subject_images`` row for a :class:`SubjectImage` (which must carry a sigma)."""
    if image.sigma is None or image.sigma_source is None:
        raise ValueError(f"subject {subject_id}: an image is stored only with its sigma")
    return {
        "subject_id": subject_id,
        "width": image.width,
        "height": image.height,
        "canvas_width": int(image.canvas_width),
        "canvas_height": int(image.canvas_height),
        "image": array_to_bytes(image.image),
        "sigma": array_to_bytes(image.sigma),
        "mask": array_to_bytes(np.asarray(image.mask, dtype=bool)),
        "psf": array_to_bytes(image.psf),
        "sigma_source": image.sigma_source,
        "multiplier": float(image.multiplier),
        "rotation_correction": float(image.rotation_correction),
        "source_file": source_file,
        "source_sha256": source_sha256,
    }


def subject_image_from_row(row: Any) -> SubjectImage:
    """A :class:`SubjectImage` from a ``subject_images`` row (ORM object or mapping)."""
    get = row.__getitem__ if isinstance(row, Mapping) else lambda name: getattr(row, name)
    rotation = get("rotation_correction")
    return SubjectImage(
        image=array_from_bytes(get("image")),
        mask=array_from_bytes(get("mask")),
        psf=array_from_bytes(get("psf")),
        sigma=array_from_bytes(get("sigma")),
        sigma_source=get("sigma_source"),
        canvas_width=int(get("canvas_width")),
        canvas_height=int(get("canvas_height")),
        multiplier=float(get("multiplier")),
        rotation_correction=float(rotation) if rotation is not None else 0.0,
    )


def load_subject_image(session: Session, subject_id: int) -> SubjectImage | None:
    """The stored image of a subject, or None if it has not been ingested."""
    row = session.get(schema.SubjectImage, subject_id)
    return subject_image_from_row(row) if row is not None else None
