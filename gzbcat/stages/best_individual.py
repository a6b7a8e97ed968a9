"""Stage ``best-individual``: the volunteer model that fits the image best (spec §8.9).

Every volunteer model of the subject is rendered with the PSF and scored by χ² over the
unmasked pixels with the subject's σ; the winner is copied as a model of kind
``best_individual`` that keeps its classification id.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from gzbcat.aggregation.best_individual import best_individual
from gzbcat.db import schema
from gzbcat.db.images import load_subject_image
from gzbcat.db.models import load_models, replace_model
from gzbcat.model import GalaxyModel, Method, SubjectImage
from gzbcat.stages.loaders import hash_groups, model_ids_by_subject
from gzbcat.stages.runner import Stage, StoreContext

__all__ = ["STAGE", "BestIndividualParams"]


@dataclass(frozen=True)
class BestIndividualParams:
    """``method``: the renderer's mode, ``corrected`` or ``reference`` (spec §13)."""

    method: Method = Method.CORRECTED

    def __post_init__(self) -> None:
        object.__setattr__(self, "method", Method(self.method))


@dataclass(frozen=True)
class BestIndividualInputs:
    image: SubjectImage
    model_ids: tuple[int, ...]
    classification_ids: tuple[int | None, ...]
    models: tuple[GalaxyModel, ...]


@dataclass(frozen=True)
class BestIndividualOutputs:
    model: GalaxyModel
    model_id: int  # the volunteer model chosen
    classification_id: int | None
    chi2: float


def inputs(session: Session, subjects: Sequence[int] | None) -> dict[int, str]:
    """The volunteer models and the image (its SHA-256) of every subject that has both."""
    images = dict(
        session.execute(
            select(schema.SubjectImage.subject_id, schema.SubjectImage.source_sha256)
        ).all()
    )
    return {
        subject_id: hash_groups(ids, [images.get(subject_id)])
        for subject_id, ids in model_ids_by_subject(
            session, schema.ModelKind.VOLUNTEER, subjects
        ).items()
    }


def load(session: Session, subject_id: int) -> BestIndividualInputs:
    image = load_subject_image(session, subject_id)
    if image is None:
        raise ValueError(f"subject {subject_id} has no image")
    rows = session.execute(
        select(schema.Model.model_id, schema.Model.classification_id)
        .where(
            schema.Model.subject_id == subject_id,
            schema.Model.kind == schema.ModelKind.VOLUNTEER,
        )
        .order_by(schema.Model.model_id)
    ).all()
    models = load_models(session, [r.model_id for r in rows])
    return BestIndividualInputs(
        image=image,
        model_ids=tuple(r.model_id for r in rows),
        classification_ids=tuple(r.classification_id for r in rows),
        models=tuple(models[r.model_id] for r in rows),
    )


def compute(inputs: BestIndividualInputs, params: BestIndividualParams) -> BestIndividualOutputs:
    index, scores = best_individual(inputs.models, inputs.image, method=params.method)
    return BestIndividualOutputs(
        model=inputs.models[index],
        model_id=inputs.model_ids[index],
        classification_id=inputs.classification_ids[index],
        chi2=scores[index],
    )


def store(
    session: Session, subject_id: int, outputs: BestIndividualOutputs, context: StoreContext
) -> None:
    columns = context.model_columns(
        schema.ModelKind.BEST_INDIVIDUAL,
        classification_id=outputs.classification_id,
        source_model_id=outputs.model_id,
    )
    replace_model(session, subject_id, outputs.model, **columns)


STAGE = Stage(name="best-individual", inputs=inputs, load=load, compute=compute, store=store)
