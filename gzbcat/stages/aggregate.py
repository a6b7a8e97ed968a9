"""Stage ``aggregate``: a subject's volunteer models → its aggregate model (spec §5, §6).

Inputs are the subject's parsed volunteer models (the first ``max_volunteers`` by
classification time, as the published production run did) and its image size; the output
is a model of kind ``aggregate`` with errors, fitted arms, and ``cluster_members`` saying
which volunteer models each part came from.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from gzbcat.aggregation import AggregationParams, aggregate
from gzbcat.aggregation.bootstrap import bootstrap_aggregate
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
    bootstrap
        Resample the volunteers this many times (seeded by ``bootstrap_seed``) and take each
        part's errors from the spread of its resampled aggregates, storing in how many
        resamples each part was found (:mod:`gzbcat.aggregation.bootstrap`); 0: the cheap
        errors (members' spread / sqrt(members)) only.
    bootstrap_seed
        Seed of the resampling (per subject it is combined with the subject id).
    """

    method: Method = Method.CORRECTED
    max_volunteers: int | None = 30
    aggregation: AggregationParams = field(default_factory=AggregationParams)
    bootstrap: int = 0
    bootstrap_seed: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "method", Method(self.method))


@dataclass(frozen=True)
class AggregateInputs:
    subject_id: int
    image_shape: tuple[int, int]
    model_ids: tuple[int, ...]
    models: tuple[GalaxyModel, ...]


@dataclass(frozen=True)
class AggregateOutputs:
    model: GalaxyModel
    members: dict[str, list[int]]  # part → volunteer model ids
    found: dict[str, int] = field(default_factory=dict)  # part → resamples it was found in
    resamples: int | None = None


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
        subject_id=subject_id,
        image_shape=shape,
        model_ids=tuple(ids),
        models=tuple(models[i] for i in ids),
    )


def compute(inputs: AggregateInputs, params: AggregateParams) -> AggregateOutputs:
    count = len(inputs.models) if params.max_volunteers is None else params.max_volunteers
    models = inputs.models[:count]
    ids = inputs.model_ids[:count]
    result = aggregate(models, inputs.image_shape, params=params.aggregation, method=params.method)
    members = {part: [ids[i] for i in indices] for part, indices in result.members.items()}
    if params.bootstrap <= 0:
        return AggregateOutputs(model=result.model, members=members)
    resampled = bootstrap_aggregate(
        models,
        inputs.image_shape,
        result,
        resamples=params.bootstrap,
        seed=hash_seed(params.bootstrap_seed, inputs.subject_id),
        params=params.aggregation,
        method=params.method,
    )
    return AggregateOutputs(
        model=resampled.model,
        members=members,
        found=resampled.found,
        resamples=resampled.resamples,
    )


def hash_seed(seed: int, subject_id: int) -> int:
    """One subject's resampling seed: the run's seed and the subject id, mixed (stable)."""
    return int(np.random.SeedSequence([seed, subject_id]).generate_state(1)[0])


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
    for part, found in outputs.found.items():
        if part.startswith("arm:"):
            table, where = schema.Arm, schema.Arm.arm_index == int(part[4:])
        else:
            table, where = schema.Component, schema.Component.component == part
        session.execute(
            update(table)
            .where(table.model_id == model_id, where)
            .values(bootstrap_found=found, bootstrap_resamples=outputs.resamples)
        )


STAGE = Stage(name="aggregate", inputs=inputs, load=load, compute=compute, store=store)
