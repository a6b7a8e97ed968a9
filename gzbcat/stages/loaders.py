"""What the per-subject stages (and pictures) queue on: model ids per subject, input hashes.

Models themselves are read with :func:`gzbcat.db.models.load_models`.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from gzbcat.db import schema

__all__ = ["hash_groups", "model_ids_by_subject"]


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
