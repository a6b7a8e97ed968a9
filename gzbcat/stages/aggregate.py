"""Stage ``aggregate``: a subject's volunteer models → its aggregate model (spec §5, §6).

Inputs are the subject's parsed volunteer models (the first ``max_volunteers`` by
classification time, as the published production run did) and its image size; the output
is a model of kind ``aggregate`` with errors, fitted arms, and ``cluster_members`` saying
which volunteer models each part came from.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from gzbcat.aggregation import AggregationParams, aggregate
from gzbcat.db import schema
from gzbcat.db.dialect import insert_tuples
from gzbcat.db.models import load_models, replace_model
from gzbcat.model import GalaxyModel, Method
from gzbcat.stages.loaders import hash_groups
from gzbcat.stages.runner import Stage, StoreContext

__all__ = ["STAGE", "AggregateInputs", "AggregateOutputs", "AggregateParams"]


@dataclass(frozen=True)
class AggregateParams:
    """Parameters of the aggregate stage.

    Attributes
    ----------
    method
        ``corrected`` or ``reference`` (spec §13).
    max_volunteers
        Use only the first this many classifications by ``created_at`` (spec §1, production
        path: 30); None uses all.
    aggregation
        Clustering and spiral-fit parameters (spec §5, §6 defaults).
    """

    method: Method = Method.CORRECTED
    max_volunteers: int | None = 30
    aggregation: AggregationParams = field(default_factory=AggregationParams)

    def __post_init__(self) -> None:
        object.__setattr__(self, "method", Method(self.method))


@dataclass(frozen=True)
class AggregateInputs:
    image_shape: tuple[int, int]
    model_ids: tuple[int, ...]
    models: tuple[GalaxyModel, ...]


@dataclass(frozen=True)
class AggregateOutputs:
    model: GalaxyModel
    members: dict[str, list[int]]  # part → volunteer model ids


def _volunteer_query(subjects: Sequence[int] | None):  # type: ignore[no-untyped-def]
    query = (
        select(
            schema.Model.subject_id,
            schema.Model.model_id,
            schema.SubjectImage.width,
            schema.SubjectImage.height,
        )
        .join(schema.SubjectImage, schema.SubjectImage.subject_id == schema.Model.subject_id)
        .join(
            schema.Classification,
            schema.Classification.classification_id == schema.Model.classification_id,
        )
        .where(schema.Model.kind == schema.ModelKind.VOLUNTEER)
        .order_by(
            schema.Model.subject_id,
            schema.Classification.created_at,
            schema.Classification.classification_id,
        )
    )
    if subjects is not None:
        query = query.where(schema.Model.subject_id.in_(list(subjects)))
    return query


def _volunteers(
    session: Session, subjects: Sequence[int] | None
) -> dict[int, tuple[tuple[int, int], list[int]]]:
    """Per subject: (height, width) and its volunteer model ids by classification time."""
    chosen: dict[int, tuple[tuple[int, int], list[int]]] = {}
    for subject_id, model_id, width, height in session.execute(_volunteer_query(subjects)):
        chosen.setdefault(subject_id, ((height, width), []))[1].append(model_id)
    return chosen


def inputs(session: Session, subjects: Sequence[int] | None) -> dict[int, str]:
    """Every volunteer model counts: a new classification makes the subject due again."""
    return {
        subject_id: hash_groups(shape, sorted(ids))
        for subject_id, (shape, ids) in _volunteers(session, subjects).items()
    }


def load(session: Session, subject_id: int) -> AggregateInputs:
    shape, ids = _volunteers(session, [subject_id])[subject_id]
    models = load_models(session, ids)
    return AggregateInputs(
        image_shape=shape, model_ids=tuple(ids), models=tuple(models[i] for i in ids)
    )


def compute(inputs: AggregateInputs, params: AggregateParams) -> AggregateOutputs:
    count = len(inputs.models) if params.max_volunteers is None else params.max_volunteers
    models = inputs.models[:count]
    ids = inputs.model_ids[:count]
    result = aggregate(models, inputs.image_shape, params=params.aggregation, method=params.method)
    members = {part: [ids[i] for i in indices] for part, indices in result.members.items()}
    return AggregateOutputs(model=result.model, members=members)


def store(
    session: Session, subject_id: int, outputs: AggregateOutputs, context: StoreContext
) -> None:
    columns = context.model_columns(schema.ModelKind.AGGREGATE)
    model_id = replace_model(session, subject_id, outputs.model, **columns)
    rows = [
        (model_id, part, member) for part, members in outputs.members.items() for member in members
    ]
    insert_tuples(
        session, schema.ClusterMember.__table__, ("model_id", "part", "member_model_id"), rows
    )


STAGE = Stage(name="aggregate", inputs=inputs, load=load, compute=compute, store=store)
