"""What the database holds: counts for ``gzbcat status``, and the runs that never finished."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, func, select

from gzbcat.db import schema
from gzbcat.db.engine import session_scope
from gzbcat.stages.runs import unfinished_runs

__all__ = ["status"]


def status(engine: Engine) -> dict[str, Any]:
    """Counts of everything ingest and the stages have written (for ``gzbcat status``).

    ``interrupted_runs`` lists the runs (newest 20) that never finished and whose process
    is known to be gone, each with the units it finished; ``running_runs`` counts the
    unfinished runs that may still be going (runs recorded before runs had a process id
    and a heartbeat are in neither).
    """
    with session_scope(engine) as session:

        def grouped(column: Any, *where: Any) -> dict[str, int]:
            query = select(column, func.count()).group_by(column)
            for clause in where:
                query = query.where(clause)
            return {str(key): int(n) for key, n in session.execute(query)}

        volunteer = schema.Model.kind == schema.ModelKind.VOLUNTEER
        units: dict[str, dict[str, int]] = {}
        for stage, state, n in session.execute(
            select(schema.StageUnit.stage, schema.StageUnit.state, func.count()).group_by(
                schema.StageUnit.stage, schema.StageUnit.state
            )
        ):
            units.setdefault(stage, {})[state] = int(n)
        failures = [
            {"stage": s, "subject_id": int(i), "error": e}
            for s, i, e in session.execute(
                select(schema.StageUnit.stage, schema.StageUnit.subject_id, schema.StageUnit.error)
                .where(schema.StageUnit.state == schema.UnitState.FAILED)
                .order_by(schema.StageUnit.stage, schema.StageUnit.subject_id)
                .limit(20)
            )
        ]
        unfinished = unfinished_runs(session)
        interrupted = [run.as_dict() for run in unfinished if run.interrupted]
        return {
            "subjects": session.scalar(select(func.count()).select_from(schema.Subject)) or 0,
            "images": grouped(schema.SubjectImage.sigma_source),
            "subjects_without_image": session.scalar(
                select(func.count())
                .select_from(schema.Subject)
                .outerjoin(schema.SubjectImage)
                .where(schema.SubjectImage.subject_id.is_(None))
            )
            or 0,
            "classifications": grouped(schema.Classification.parse_status),
            "models": grouped(schema.Model.kind),
            "volunteer_components": grouped(
                schema.Component.component,
                schema.Component.model_id.in_(select(schema.Model.model_id).where(volunteer)),
            ),
            "volunteer_arms": session.scalar(
                select(func.count())
                .select_from(schema.Arm)
                .join(schema.Model, schema.Model.model_id == schema.Arm.model_id)
                .where(volunteer)
            )
            or 0,
            "stage_units": units,
            "failures": failures,
            "running_runs": sum(
                1
                for run in unfinished
                if not run.interrupted and (run.pid is not None or run.last_seen_at is not None)
            ),
            "interrupted_runs": interrupted[:20],
            "n_interrupted_runs": len(interrupted),
            "ingest_errors": session.scalar(select(func.count()).select_from(schema.IngestError))
            or 0,
        }
