"""Why a stage had nothing (or less than asked) to do: the counts behind "0 were due"."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import Engine, func, select

from gzbcat.db import schema
from gzbcat.db.engine import session_scope

__all__ = ["QueueExplanation", "explain_queue", "unknown_subjects"]

_NEEDS = {
    "aggregate": "no parsed volunteer drawing yet",
    "best-individual": "no parsed volunteer drawing or no image yet",
    "tune-aggregate": "no aggregate model yet (gzbcat aggregate makes them)",
    "tune-best-individual": "no best-individual model yet (gzbcat best-individual makes them)",
}


@dataclass
class QueueExplanation:
    """Where a stage's units are, for the subjects asked about."""

    stage: str
    done: int = 0
    failed: int = 0
    running: int = 0
    pending: int = 0
    without_inputs: int = 0
    waiting_classifications: int = 0
    waiting_subjects: int = 0
    unknown: list[int] = field(default_factory=list)

    def reasons(self) -> list[str]:
        """One phrase per reason, with counts and what to do."""
        reasons = []
        if self.done:
            reasons.append(f"{self.done} done and up to date (--force redoes them)")
        if self.failed:
            reasons.append(
                f"{self.failed} failed with these inputs (--retry-failed retries them; "
                "gzbcat status says why)"
            )
        if self.running:
            reasons.append(f"{self.running} being computed by other workers")
        if self.without_inputs:
            reasons.append(
                f"{_count(self.without_inputs, 'subject')} "
                f"{'has' if self.without_inputs == 1 else 'have'} "
                f"{_NEEDS.get(self.stage, 'no inputs yet')}"
            )
        if self.waiting_classifications:
            reasons.append(
                f"{_count(self.waiting_classifications, 'classification')} "
                f"{'waits' if self.waiting_classifications == 1 else 'wait'} for images of "
                f"{_count(self.waiting_subjects, 'subject')} "
                "(gzbcat ingest subjects or fitting-metadata)"
            )
        if self.unknown:
            reasons.append(f"unknown subject ids: {_ids(self.unknown)}")
        return reasons


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _ids(ids: Sequence[int], shown: int = 10) -> str:
    text = ", ".join(str(i) for i in ids[:shown])
    return text + (f" … and {len(ids) - shown} more" if len(ids) > shown else "")


def unknown_subjects(engine: Engine, subjects: Sequence[int]) -> list[int]:
    """The ids among ``subjects`` that the database has never seen, in the order given."""
    with session_scope(engine) as session:
        known = set(
            session.scalars(
                select(schema.Subject.subject_id).where(
                    schema.Subject.subject_id.in_(list(subjects))
                )
            )
        )
    return [s for s in dict.fromkeys(subjects) if s not in known]


def explain_queue(
    engine: Engine, stage: str, subjects: Sequence[int] | None = None
) -> QueueExplanation:
    """Count the stage's units by state, subjects it cannot run on yet and why, and unknown
    ids among ``subjects`` (None: every subject)."""
    units = schema.StageUnit
    explanation = QueueExplanation(stage=stage)
    with session_scope(engine) as session:
        scope_units = select(units.state, func.count()).where(units.stage == stage)
        scope_subjects = select(func.count()).select_from(schema.Subject)
        waiting = select(
            func.count(), func.count(func.distinct(schema.Classification.subject_id))
        ).where(schema.Classification.parse_status == "waiting")
        if subjects is not None:
            ids = list(subjects)
            scope_units = scope_units.where(units.subject_id.in_(ids))
            scope_subjects = scope_subjects.where(schema.Subject.subject_id.in_(ids))
            waiting = waiting.where(schema.Classification.subject_id.in_(ids))
        counts = dict(session.execute(scope_units.group_by(units.state)).all())
        explanation.done = int(counts.get(schema.UnitState.DONE, 0))
        explanation.failed = int(counts.get(schema.UnitState.FAILED, 0))
        explanation.running = int(counts.get(schema.UnitState.RUNNING, 0))
        explanation.pending = int(counts.get(schema.UnitState.PENDING, 0))
        n_subjects = int(session.scalar(scope_subjects) or 0)
        explanation.without_inputs = max(n_subjects - sum(int(n) for n in counts.values()), 0)
        n_waiting, n_waiting_subjects = session.execute(waiting).one()
        explanation.waiting_classifications = int(n_waiting)
        explanation.waiting_subjects = int(n_waiting_subjects)
    if subjects is not None:
        explanation.unknown = unknown_subjects(engine, subjects)
    return explanation
