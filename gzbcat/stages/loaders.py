"""What the per-subject stages (and pictures) queue on: model ids per subject, input hashes.

Models themselves are read with :func:`gzbcat.db.models.load_models`.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, aliased

from gzbcat.db import schema

__all__ = ["hash_groups", "model_ids_by_subject", "tuned_model_ids"]


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


def tuned_model_ids(session: Session, subject_id: int) -> dict[str | None, int]:
    """The subject's newest tuned model per source kind: ``aggregate`` or ``best_individual``
    → model id (None: a tuned model whose source is gone)."""
    source = aliased(schema.Model)
    query = (
        select(source.kind, schema.Model.model_id)
        .outerjoin(source, source.model_id == schema.Model.source_model_id)
        .where(schema.Model.subject_id == subject_id, schema.Model.kind == schema.ModelKind.TUNED)
        .order_by(schema.Model.model_id)
    )
    return {kind: int(model_id) for kind, model_id in session.execute(query)}


def hash_groups(*parts: Iterable[Any]) -> str:
    """A short stable hash of some values (an input hash)."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(repr(list(part)).encode())
        digest.update(b"|")
    return digest.hexdigest()
