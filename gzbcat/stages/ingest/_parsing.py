"""Classifications parsed into volunteer models: one row, a subject's re-parse, and the pool.

A classification is parsed against its subject's canvas frame (the image size and the canvas
it was drawn on); one whose subject has no image yet waits for it. Large exports are parsed in
child processes while the ingest writes (:func:`parsed_batches`).
"""

from __future__ import annotations

import itertools
import multiprocessing
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from queue import Empty
from typing import Any, NamedTuple

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from gzbcat.db import schema
from gzbcat.db.dialect import insert_tuples
from gzbcat.db.models import ARM_COLUMNS, COMPONENT_COLUMNS, arm_tuples, component_tuples
from gzbcat.model import Method, SubjectImage
from gzbcat.stages.ingest._summary import IngestSummary
from gzbcat.zooniverse.annotations import AnnotationError, CanvasFrame, parse_annotation
from gzbcat.zooniverse.exports import (
    ClassificationRow,
    PassedOver,
    RowProblem,
    read_classification_chunks,
)

__all__ = [
    "CLASSIFICATION_BATCH",
    "ParsedClassification",
    "canvas_frame",
    "canvas_frames",
    "count_parsed",
    "parse_classification",
    "parsed_batches",
    "reparse_subject",
    "store_volunteer_models",
]

CLASSIFICATION_BATCH = 2000


def canvas_frame(image: SubjectImage | Any) -> CanvasFrame:
    """The canvas frame of a subject image (value type or ``subject_images`` row)."""
    return CanvasFrame(
        image_width=int(image.width),
        image_height=int(image.height),
        canvas_width=float(image.canvas_width),
        canvas_height=float(image.canvas_height),
        rotation_correction=float(image.rotation_correction or 0.0),
    )


def canvas_frames(session: Session) -> dict[int, CanvasFrame]:
    """The canvas frame of every subject that has an image (a few numbers each)."""
    table = schema.SubjectImage
    rows = session.execute(
        select(
            table.subject_id,
            table.width,
            table.height,
            table.canvas_width,
            table.canvas_height,
            table.rotation_correction,
        )
    )
    return {row.subject_id: canvas_frame(row) for row in rows}


# ------------------------------------------------------------------- parsing into models


class ParsedClassification(NamedTuple):
    """One classification parsed: its status and, when ok, its rows without a model id."""

    classification_id: int
    subject_id: int
    status: str
    error: str | None = None
    components: tuple[tuple[Any, ...], ...] = ()
    arms: tuple[tuple[Any, ...], ...] = ()


def parse_classification(
    classification_id: int,
    subject_id: int,
    annotations: str,
    frame: CanvasFrame | None,
    method: Method,
) -> ParsedClassification:
    """Parse one classification's annotations; a subject without a frame makes it wait."""
    if frame is None:
        return ParsedClassification(classification_id, subject_id, schema.ParseStatus.WAITING)
    try:
        model = parse_annotation(annotations, frame, method=method)
    except (AnnotationError, ValueError, TypeError, KeyError, IndexError) as error:
        # The parser names the problem; anything else it lets escape is still this row's
        # problem, never a reason to lose the rest of the file.
        message = f"classification {classification_id}: {error}"
        return ParsedClassification(
            classification_id, subject_id, schema.ParseStatus.ERROR, message
        )
    return ParsedClassification(
        classification_id,
        subject_id,
        schema.ParseStatus.OK,
        components=tuple(component_tuples(None, model)),
        arms=tuple(arm_tuples(None, model)),
    )


def store_volunteer_models(
    session: Session,
    parsed: Sequence[ParsedClassification],
    methods: dict[int, Method],
    run_id: int | None,
) -> None:
    """Insert one volunteer model (with components and arms) per successfully parsed row."""
    good = [p for p in parsed if p.status == schema.ParseStatus.OK]
    if not good:
        return
    models_table = schema.Model.__table__
    now = datetime.now(UTC)
    result = session.execute(
        models_table.insert().returning(models_table.c.model_id, sort_by_parameter_order=True),
        [
            {
                "subject_id": p.subject_id,
                "kind": schema.ModelKind.VOLUNTEER.value,
                "classification_id": p.classification_id,
                "run_id": run_id,
                "method": methods[p.classification_id],
                "created_at": now,
            }
            for p in good
        ],
    )
    model_ids = [row[0] for row in result]
    components = [
        (model_id, *row[1:])
        for model_id, p in zip(model_ids, good, strict=True)
        for row in p.components
    ]
    arms = [
        (model_id, *row[1:]) for model_id, p in zip(model_ids, good, strict=True) for row in p.arms
    ]
    insert_tuples(session, schema.Component.__table__, COMPONENT_COLUMNS, components)
    insert_tuples(session, schema.Arm.__table__, ARM_COLUMNS, arms)


def count_parsed(summary: IngestSummary, parsed: Iterable[ParsedClassification]) -> None:
    """Add parsed rows to the summary's ok / error / waiting counts."""
    for p in parsed:
        if p.status == schema.ParseStatus.OK:
            summary.parsed_ok += 1
        elif p.status == schema.ParseStatus.ERROR:
            summary.parse_errors += 1
        else:
            summary.waiting += 1


def reparse_subject(
    session: Session,
    subject_id: int,
    frame: CanvasFrame,
    summary: IngestSummary,
    run_id: int | None,
    *,
    only_waiting: bool,
) -> None:
    """Parse a subject's classifications against its (new) image frame.

    ``only_waiting`` parses just those that were waiting for the image; otherwise every
    classification of the subject is parsed again (the frame changed), replacing its
    volunteer model. Each is parsed with the method it was ingested with.
    """
    table = schema.Classification
    query = select(
        table.classification_id, table.annotations, table.parse_method, table.parse_status
    ).where(table.subject_id == subject_id)
    if only_waiting:
        query = query.where(table.parse_status == schema.ParseStatus.WAITING)
    rows = session.execute(query).all()
    if not rows:
        return
    ids = [row.classification_id for row in rows]
    if not only_waiting:
        session.execute(
            delete(schema.Model).where(
                schema.Model.classification_id.in_(ids),
                schema.Model.kind == schema.ModelKind.VOLUNTEER,
            )
        )
    methods = {row.classification_id: Method(row.parse_method or Method.CORRECTED) for row in rows}
    parsed = [
        parse_classification(
            row.classification_id, subject_id, row.annotations, frame, methods[row[0]]
        )
        for row in rows
    ]
    store_volunteer_models(session, parsed, methods, run_id)
    session.execute(
        update(table),
        [
            {
                "classification_id": p.classification_id,
                "parse_status": p.status,
                "parse_error": p.error,
            }
            for p in parsed
        ],
    )
    count_parsed(summary, parsed)


# ------------------------------------------------------------------------- process pool


def _parse_rows(
    batch: Sequence[ClassificationRow | RowProblem | PassedOver],
    frames: dict[int, CanvasFrame],
    method: Method,
) -> list[ParsedClassification | None]:
    return [
        None
        if isinstance(r, RowProblem | PassedOver)
        else parse_classification(
            r.classification_id, r.subject_id, r.annotations, frames.get(r.subject_id), method
        )
        for r in batch
    ]


def _produce_parsed_batches(
    export: Path,
    filters: dict[str, Any],
    frames: dict[int, CanvasFrame],
    method: Method,
    share: int,
    n_shares: int,
    queue: Any,
) -> None:
    """Read an export in a child process and parse every ``n_shares``-th batch from ``share``."""
    try:
        for batch in read_classification_chunks(
            export, CLASSIFICATION_BATCH, keep=lambda i: i % n_shares == share, **filters
        ):
            queue.put((batch, _parse_rows(batch, frames, method)))
    except BaseException as error:  # reported to the writer, which raises it
        queue.put(f"{type(error).__name__}: {error}")
        return
    queue.put(None)


def parsed_batches(
    export: Path,
    filters: dict[str, Any],
    frames: dict[int, CanvasFrame],
    method: Method,
    processes: int,
) -> Iterator[
    tuple[list[ClassificationRow | RowProblem | PassedOver], list[ParsedClassification | None]]
]:
    """Batches of rows with their parse, in file order.

    With ``processes`` = 0 everything happens here. Otherwise that many child processes each
    read the export and parse their share of the batches while this process only writes:
    parsing costs about twice what writing does, so on two cores two parsers and one writer
    keep both cores busy. Rows are parsed against the frames known when the ingest starts;
    rows of subjects without an image wait for it.
    """
    if processes <= 0:
        for batch in read_classification_chunks(export, CLASSIFICATION_BATCH, **filters):
            yield batch, _parse_rows(batch, frames, method)
        return
    context = multiprocessing.get_context("spawn")
    queues = [context.Queue(maxsize=2) for _ in range(processes)]
    children = [
        context.Process(
            target=_produce_parsed_batches,
            args=(export, filters, frames, method, share, processes, queue),
            daemon=True,
        )
        for share, queue in enumerate(queues)
    ]
    for child in children:
        child.start()
    try:
        for index in itertools.count():
            queue, child = queues[index % processes], children[index % processes]
            item = _next_item(queue, child, export)
            if item is None:
                break
            yield item
    finally:
        for child in children:
            child.join(timeout=5)
            if child.is_alive():
                child.terminate()
                child.join()
        for queue in queues:
            queue.close()
            queue.join_thread()


def _next_item(queue: Any, child: Any, export: Path) -> Any:
    """The next batch from a parsing process, or None at the end; its failure is raised."""
    while True:
        try:
            item = queue.get(timeout=1.0)
        except Empty:
            if child.is_alive():
                continue
            raise RuntimeError(
                f"{export}: a parsing process stopped (exit code {child.exitcode})"
            ) from None
        if isinstance(item, str):
            raise RuntimeError(f"{export}: reading the export failed: {item}")
        return item
