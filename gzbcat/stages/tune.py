"""Stages ``tune-aggregate`` and ``tune-best-individual``: fit a model to its image (spec §8).

Each tunes one source model of a subject — the aggregate (with Gaussian priors centred on it,
spec §8.2–§8.3) or the best individual (without priors, spec §8.9) — and writes a model of kind
``tuned`` whose ``source_model_id`` is the model it started from, plus its ``fits`` row. The
two sources are separate queues so that a subject whose aggregate cannot be tuned (no disk)
still gets its best individual tuned; ``gzbcat tune --source both`` runs both.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session

from gzbcat.db import schema
from gzbcat.db.images import load_subject_image
from gzbcat.db.models import flags_to_text, insert_model, load_models
from gzbcat.fitting import FitError, TuneParams, TuneResult, tune
from gzbcat.fitting.uncertainty import DERIVED_QUANTITIES
from gzbcat.model import GalaxyModel, Method, SubjectImage
from gzbcat.stages.loaders import hash_groups
from gzbcat.stages.runner import Stage, StoreContext

__all__ = ["SOURCES", "TUNE_STAGES", "TuneStageParams"]

SOURCES: dict[str, str] = {
    "aggregate": schema.ModelKind.AGGREGATE.value,
    "best_individual": schema.ModelKind.BEST_INDIVIDUAL.value,
}
"""``--source`` name → the kind of model tuned."""


@dataclass(frozen=True)
class TuneStageParams:
    """Parameters of a tune stage: the source kind and the fit settings (:class:`TuneParams`).

    Best-individual models are always tuned without priors (spec §8.9), whatever
    ``fit.use_priors`` says.
    """

    source: str = "aggregate"
    fit: TuneParams = field(default_factory=TuneParams)

    @property
    def method(self) -> Method:
        """The fit's method (kept inside ``fit`` so that stored parameter hashes stay valid)."""
        return self.fit.method


@dataclass(frozen=True)
class TuneInputs:
    image: SubjectImage
    source_model_id: int
    model: GalaxyModel


@dataclass(frozen=True)
class TuneOutputs:
    source_model_id: int
    result: TuneResult


def compute(inputs: TuneInputs, params: TuneStageParams) -> TuneOutputs:
    """Tune the source model; raise :class:`FitError` (a failed unit) when it cannot be fitted."""
    fit = params.fit
    if params.source == "best_individual":
        fit = replace(fit, use_priors=False)
    image = inputs.image
    if image.sigma is None:
        raise FitError("no_sigma", "the subject's image has no σ")
    result = tune(
        inputs.model,
        image.image,
        image.sigma,
        image.mask,
        image.psf,
        multiplier=image.multiplier,
        params=fit,
    )
    if not math.isfinite(result.chi2):
        raise FitError("non_finite_chi2", f"χ² is {result.chi2}")
    return TuneOutputs(source_model_id=inputs.source_model_id, result=result)


def _sources(
    session: Session, kind: str, subjects: Sequence[int] | None
) -> dict[int, tuple[int, str | None]]:
    """Per subject with an image: its model of ``kind`` (the newest) and the image hash."""
    query = (
        select(schema.Model.subject_id, schema.Model.model_id, schema.SubjectImage.source_sha256)
        .join(schema.SubjectImage, schema.SubjectImage.subject_id == schema.Model.subject_id)
        .where(schema.Model.kind == kind)
        .order_by(schema.Model.model_id)
    )
    if subjects is not None:
        query = query.where(schema.Model.subject_id.in_(list(subjects)))
    return {row.subject_id: (row.model_id, row.source_sha256) for row in session.execute(query)}


def _finite(value: float | None) -> float | None:
    return float(value) if value is not None and math.isfinite(value) else None


def _store(
    session: Session, subject_id: int, outputs: TuneOutputs, context: StoreContext, kind: str
) -> None:
    """Replace this source's tuned model of the subject (and any whose source is gone)."""
    sources = select(schema.Model.model_id).where(
        schema.Model.subject_id == subject_id, schema.Model.kind == kind
    )
    session.execute(
        delete(schema.Model).where(
            schema.Model.subject_id == subject_id,
            schema.Model.kind == schema.ModelKind.TUNED,
            or_(
                schema.Model.source_model_id.in_(sources),
                schema.Model.source_model_id.is_(None),
            ),
        )
    )
    result = outputs.result
    columns = context.model_columns(schema.ModelKind.TUNED, source_model_id=outputs.source_model_id)
    model_id = insert_model(session, subject_id, result.model, **columns)
    session.add(
        schema.Fit(
            model_id=model_id,
            chi2=_finite(result.chi2),
            chi2_nu=_finite(result.chi2_nu),
            n_pixels=result.n_pixels,
            loss=_finite(result.loss),
            n_iterations=result.n_iterations,
            converged=bool(result.converged),
            seconds=_finite(result.seconds),
            message=result.message,
            bulge_fraction=_finite(result.bulge_fraction),
            bar_fraction=_finite(result.bar_fraction),
            spiral_fraction=_finite(result.spiral_fraction),
            flux=_finite(result.flux),
            magnitude=_finite(result.magnitude),
            **{f"{key}_err": _finite(result.derived_errors.get(key)) for key in DERIVED_QUANTITIES},
            error_flags=flags_to_text(result.derived_error_flags),
            error_scale=_finite(result.error_scale) if result.vector_status else None,
            hessian_positive_definite=result.hessian_positive_definite,
            error_seconds=_finite(result.error_seconds) if result.vector_status else None,
        )
    )


def _make_stage(source: str) -> Stage:
    kind = SOURCES[source]

    def inputs(session: Session, subjects: Sequence[int] | None) -> dict[int, str]:
        return {
            subject_id: hash_groups([model_id], [sha256])
            for subject_id, (model_id, sha256) in _sources(session, kind, subjects).items()
        }

    def load(session: Session, subject_id: int) -> TuneInputs:
        image = load_subject_image(session, subject_id)
        found = _sources(session, kind, [subject_id]).get(subject_id)
        if image is None or found is None:
            raise ValueError(f"subject {subject_id} has no image or no {kind} model")
        model_id = found[0]
        model = load_models(session, [model_id])[model_id]
        return TuneInputs(image=image, source_model_id=model_id, model=model)

    def store(
        session: Session, subject_id: int, outputs: TuneOutputs, context: StoreContext
    ) -> None:
        _store(session, subject_id, outputs, context, kind)

    return Stage(
        name=f"tune-{source.replace('_', '-')}",
        inputs=inputs,
        load=load,
        compute=compute,
        store=store,
    )


TUNE_STAGES: dict[str, Stage] = {source: _make_stage(source) for source in SOURCES}
"""One stage per source kind, keyed like ``SOURCES``."""
