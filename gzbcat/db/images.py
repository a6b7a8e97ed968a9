"""Subject images ↔ rows: a :class:`SubjectImage` and its ``subject_images`` row."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from sqlalchemy.orm import Session

from gzbcat.db import schema
from gzbcat.db.arrays import array_from_bytes, array_to_bytes
from gzbcat.model import SubjectImage

__all__ = ["load_subject_image", "subject_image_from_row", "subject_image_row"]


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
