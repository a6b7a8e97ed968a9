"""Reading what the stages (and pictures) need, in a few queries per subject."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from gzbcat.db import schema
from gzbcat.db.rows import model_from_rows
from gzbcat.model import GalaxyModel

__all__ = ["hash_groups", "load_models", "model_ids_by_subject"]


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


def model_ids_by_subject(
    session: Session, kind: str, subjects: Sequence[int] | None = None
) -> dict[int, list[int]]:
    """Model ids of one kind per subject, in id order, for subjects that have an image."""
    query = (
        select(schema.Model.subject_id, schema.Model.model_id)
        .join(schema.SubjectImage, schema.SubjectImage.subject_id == schema.Model.subject_id)
        .where(schema.Model.kind == kind)
        .order_by(schema.Model.subject_id, schema.Model.model_id)
    )
    if subjects is not None:
        query = query.where(schema.Model.subject_id.in_(list(subjects)))
    grouped: dict[int, list[int]] = defaultdict(list)
    for subject_id, model_id in session.execute(query):
        grouped[subject_id].append(model_id)
    return dict(grouped)


def hash_groups(*parts: Iterable[Any]) -> str:
    """A short stable hash of some values (an input hash)."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(repr(list(part)).encode())
        digest.update(b"|")
    return digest.hexdigest()
