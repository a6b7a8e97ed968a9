"""Ingest: Zooniverse subject and classification exports, and subject files, into the database.

Reading and parsing are pure (``gzbcat.zooniverse``); this module decides what to write and
writes it in batches, one transaction per batch. A re-run of the same files writes nothing
new; an interrupted run leaves every finished batch committed and the rest untouched, so a
re-run completes it. Bad rows and bad subject files are recorded in ``ingest_errors`` (or, for
annotations, in ``classifications.parse_status``) and skipped; a file that cannot be read at
all is refused before anything is written.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import multiprocessing
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from queue import Empty
from typing import Any, NamedTuple
from urllib.parse import urlparse

from sqlalchemy import Engine, delete, select, update
from sqlalchemy.orm import Session

from gzbcat.db import schema
from gzbcat.db.dialect import insert_tuples, upsert
from gzbcat.db.engine import session_scope
from gzbcat.db.images import subject_image_row
from gzbcat.db.models import ARM_COLUMNS, COMPONENT_COLUMNS, arm_tuples, component_tuples
from gzbcat.model import SubjectImage
from gzbcat.stages.runs import finish_run, start_run
from gzbcat.zooniverse.annotations import AnnotationError, CanvasFrame, parse_annotation
from gzbcat.zooniverse.exports import (
    CLASSIFICATION_REQUIRED_COLUMNS,
    SUBJECT_REQUIRED_COLUMNS,
    ClassificationRow,
    RowProblem,
    SubjectRow,
    check_columns,
    parse_subject_metadata,
    read_classification_chunks,
    read_subject_export,
)
from gzbcat.zooniverse.subject_files import (
    SubjectFileError,
    read_difference_file,
    read_fitting_metadata,
    subject_id_from_filename,
)

__all__ = [
    "IngestSummary",
    "ingest_classifications",
    "ingest_fitting_metadata",
    "ingest_subjects",
]

log = logging.getLogger(__name__)

CLASSIFICATION_BATCH = 2000
SUBJECT_BATCH = 25
MAX_PROBLEMS_KEPT = 20

Progress = Callable[[int], None]
"""Called with the number of rows (or files) just handled."""


@dataclass
class IngestSummary:
    """What an ingest did, for the one-screen summary."""

    source: str
    rows_read: int = 0
    subjects_added: int = 0
    images_stored: int = 0
    images_unchanged: int = 0
    classifications_added: int = 0
    classifications_unchanged: int = 0
    parsed_ok: int = 0
    parse_errors: int = 0
    waiting: int = 0
    problems: list[str] = field(default_factory=list)
    n_problems: int = 0

    def problem(self, message: str) -> None:
        self.n_problems += 1
        if len(self.problems) < MAX_PROBLEMS_KEPT:
            self.problems.append(message)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


# ----------------------------------------------------------------------------- helpers


def _batched(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _record_problem(
    session: Session,
    summary: IngestSummary,
    source_file: Path,
    message: str,
    *,
    row_number: int | None = None,
    subject_id: int | None = None,
) -> None:
    summary.problem(message)
    log.warning("%s", message)
    session.add(
        schema.IngestError(
            source=summary.source,
            source_file=str(source_file),
            row_number=row_number,
            subject_id=subject_id,
            message=message,
        )
    )


def _forget_problems(engine: Engine, source: str, source_file: Path) -> None:
    """Problems are re-found by every ingest of a file: keep only the latest ingest's."""
    with session_scope(engine, write=True) as session:
        session.execute(
            delete(schema.IngestError).where(
                schema.IngestError.source == source,
                schema.IngestError.source_file == str(source_file),
            )
        )


def _frame_of(image: SubjectImage | Any) -> CanvasFrame:
    return CanvasFrame(
        image_width=int(image.width),
        image_height=int(image.height),
        canvas_width=float(image.canvas_width),
        canvas_height=float(image.canvas_height),
        rotation_correction=float(image.rotation_correction or 0.0),
    )


def _frames(session: Session) -> dict[int, CanvasFrame]:
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
    return {row.subject_id: _frame_of(row) for row in rows}


# ------------------------------------------------------------------- parsing into models


class _Parsed(NamedTuple):
    """One classification parsed: its status and, when ok, its rows without a model id."""

    classification_id: int
    subject_id: int
    status: str
    error: str | None = None
    components: tuple[tuple[Any, ...], ...] = ()
    arms: tuple[tuple[Any, ...], ...] = ()


def _parse_one(
    classification_id: int,
    subject_id: int,
    annotations: str,
    frame: CanvasFrame | None,
    method: str,
) -> _Parsed:
    if frame is None:
        return _Parsed(classification_id, subject_id, schema.ParseStatus.WAITING)
    try:
        model = parse_annotation(annotations, frame, method=method)  # type: ignore[arg-type]
    except (AnnotationError, ValueError, TypeError, KeyError, IndexError) as error:
        # The parser names the problem; anything else it lets escape is still this row's
        # problem, never a reason to lose the rest of the file.
        message = f"classification {classification_id}: {error}"
        return _Parsed(classification_id, subject_id, schema.ParseStatus.ERROR, message)
    return _Parsed(
        classification_id,
        subject_id,
        schema.ParseStatus.OK,
        components=tuple(component_tuples(None, model)),
        arms=tuple(arm_tuples(None, model)),
    )


def _store_volunteer_models(
    session: Session, parsed: Sequence[_Parsed], methods: dict[int, str], run_id: int | None
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


def _count(summary: IngestSummary, parsed: Iterable[_Parsed]) -> None:
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
    volunteer model.
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
    methods = {row.classification_id: row.parse_method or "corrected" for row in rows}
    parsed = [
        _parse_one(row.classification_id, subject_id, row.annotations, frame, methods[row[0]])
        for row in rows
    ]
    _store_volunteer_models(session, parsed, methods, run_id)
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
    _count(summary, parsed)


# --------------------------------------------------------------------------- subjects


def _locate_difference_file(row: SubjectRow, files_dir: Path) -> Path | None:
    """The frame-0 file: a path relative to ``files_dir``, or a URL whose name is looked up."""
    location = row.locations.get("0")
    if location is None:
        return None
    parsed = urlparse(location)
    if parsed.scheme in ("http", "https"):
        return files_dir / Path(parsed.path).name
    return files_dir / location


def _store_image(
    session: Session,
    subject_id: int,
    image: SubjectImage,
    source_file: Path,
    sha256: str,
    summary: IngestSummary,
    run_id: int | None,
) -> None:
    """Write a subject's image; re-parse its classifications if the frame is new."""
    old = session.get(schema.SubjectImage, subject_id)
    old_frame = _frame_of(old) if old is not None else None
    row = subject_image_row(subject_id, image, source_file=str(source_file), source_sha256=sha256)
    row["updated_at"] = datetime.now(UTC)
    upsert(session, schema.SubjectImage.__table__, [row], key=["subject_id"])
    session.expire_all()
    summary.images_stored += 1
    new_frame = _frame_of(image)
    reparse_subject(
        session, subject_id, new_frame, summary, run_id, only_waiting=old_frame == new_frame
    )


def _subject_values(row: SubjectRow) -> dict[str, Any]:
    meta = row.metadata
    return {
        "subject_id": row.subject_id,
        "project_id": row.project_id,
        "subject_set_id": row.subject_set_id,
        "workflow_id": row.workflow_id,
        "ra_deg": meta.ra_deg,
        "dec_deg": meta.dec_deg,
        "dr7objid": meta.dr7objid,
        "nsa_id": meta.nsa_id,
        "redshift": meta.redshift,
        "petrosian_radius_arcsec": meta.petrosian_radius_arcsec,
        "metadata": row.metadata_raw,
        "locations": row.locations_raw,
        "updated_at": datetime.now(UTC),
    }


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def ingest_subjects(
    engine: Engine,
    export: Path,
    files_dir: Path | None = None,
    *,
    progress: Progress | None = None,
) -> IngestSummary:
    """Ingest a subject export and the frame-0 difference file of each subject.

    An image that came from fitting metadata (``sigma_source = 'given'``) is never replaced by
    a difference file; an unchanged difference file (same SHA-256) is not read again.
    """
    export = Path(export)
    files_dir = Path(files_dir) if files_dir is not None else export.parent
    check_columns(export, SUBJECT_REQUIRED_COLUMNS)
    summary = IngestSummary(source="subjects")
    run_id = start_run(engine, "ingest-subjects", {"export": str(export), "files": str(files_dir)})
    _forget_problems(engine, summary.source, export)
    for batch in _batched(read_subject_export(export), SUBJECT_BATCH):
        with session_scope(engine, write=True) as session:
            _ingest_subject_batch(session, batch, export, files_dir, summary, run_id)
        if progress:
            progress(len(batch))
    finish_run(engine, run_id)
    return summary


def _ingest_subject_batch(
    session: Session,
    batch: list[SubjectRow | RowProblem],
    export: Path,
    files_dir: Path,
    summary: IngestSummary,
    run_id: int,
) -> None:
    rows = [r for r in batch if isinstance(r, SubjectRow)]
    for problem in (r for r in batch if isinstance(r, RowProblem)):
        _record_problem(
            session,
            summary,
            export,
            f"{export.name} row {problem.row_number}: {problem.message}",
            row_number=problem.row_number,
            subject_id=problem.subject_id,
        )
    summary.rows_read += len(batch)
    if not rows:
        return
    ids = [r.subject_id for r in rows]
    known = set(
        session.scalars(select(schema.Subject.subject_id).where(schema.Subject.subject_id.in_(ids)))
    )
    images = {
        row.subject_id: (row.sigma_source, row.source_sha256)
        for row in session.execute(
            select(
                schema.SubjectImage.subject_id,
                schema.SubjectImage.sigma_source,
                schema.SubjectImage.source_sha256,
            ).where(schema.SubjectImage.subject_id.in_(ids))
        )
    }
    # Later rows for the same subject win, as in the reference's "last row per subject".
    latest = {r.subject_id: r for r in rows}
    summary.subjects_added += len(set(latest) - known)
    upsert(
        session,
        schema.Subject.__table__,
        [_subject_values(r) for r in latest.values()],
        key=["subject_id"],
    )
    for row in latest.values():
        path = _locate_difference_file(row, files_dir)
        if path is None:
            _record_problem(
                session,
                summary,
                export,
                f"subject {row.subject_id}: locations name no frame-0 difference file",
                row_number=row.row_number,
                subject_id=row.subject_id,
            )
            continue
        existing = images.get(row.subject_id)
        if existing is not None and existing[0] == "given":
            summary.images_unchanged += 1  # fitting metadata outranks the difference file
            continue
        try:
            sha256 = _sha256(path)
            if existing is not None and existing[1] == sha256:
                summary.images_unchanged += 1
                continue
            image = read_difference_file(path, subject_id=row.subject_id)
        except OSError as error:
            message = f"subject {row.subject_id}: cannot read {path}: {error.strerror or error}"
            _record_problem(
                session,
                summary,
                export,
                message,
                row_number=row.row_number,
                subject_id=row.subject_id,
            )
            continue
        except SubjectFileError as error:
            _record_problem(
                session,
                summary,
                export,
                str(error),
                row_number=row.row_number,
                subject_id=row.subject_id,
            )
            continue
        _store_image(session, row.subject_id, image, path, sha256, summary, run_id)


# ------------------------------------------------------------------ fitting metadata


def _metadata_files(paths: Iterable[Path]) -> list[Path]:
    files: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            files.extend(sorted(p for p in path.glob("*.json") if p.is_file()))
        else:
            files.append(path)
    return files


def ingest_fitting_metadata(
    engine: Engine, paths: Iterable[Path], *, progress: Progress | None = None
) -> IngestSummary:
    """Ingest per-subject fitting metadata (``<subject_id>.json``): image, σ, mask and PSF.

    It replaces the subject's image (``sigma_source = 'given'``); a subject that is not known
    yet is created from the file alone.
    """
    summary = IngestSummary(source="fitting-metadata")
    files = _metadata_files(paths)
    run_id = start_run(engine, "ingest-fitting-metadata", {"files": [str(f) for f in files]})
    for batch in _batched(files, SUBJECT_BATCH):
        with session_scope(engine, write=True) as session:
            for path in batch:
                summary.rows_read += 1
                session.execute(
                    delete(schema.IngestError).where(
                        schema.IngestError.source == summary.source,
                        schema.IngestError.source_file == str(path),
                    )
                )
                try:
                    subject_id = subject_id_from_filename(path)
                    sha256 = _sha256(path)
                    existing = session.get(schema.SubjectImage, subject_id)
                    if existing is not None and existing.source_sha256 == sha256:
                        summary.images_unchanged += 1
                        continue
                    image = read_fitting_metadata(path, subject_id=subject_id)
                except OSError as error:
                    _record_problem(
                        session, summary, path, f"{path}: cannot read: {error.strerror or error}"
                    )
                    continue
                except SubjectFileError as error:
                    _record_problem(session, summary, path, str(error))
                    continue
                if session.get(schema.Subject, subject_id) is None:
                    session.add(schema.Subject(subject_id=subject_id))
                    session.flush()
                    summary.subjects_added += 1
                _store_image(session, subject_id, image, path, sha256, summary, run_id)
        if progress:
            progress(len(batch))
    finish_run(engine, run_id)
    return summary


# -------------------------------------------------------------------- classifications


def _subject_from_subject_data(subject_id: int, subject_data: str | None) -> dict[str, Any]:
    """A subjects row from a classification's ``subject_data`` ({"<id>": {metadata}})."""
    values: dict[str, Any] = {"subject_id": subject_id, "updated_at": datetime.now(UTC)}
    if not subject_data:
        return values
    try:
        data = json.loads(subject_data)
        metadata = data.get(str(subject_id)) if isinstance(data, dict) else None
        if not isinstance(metadata, dict):
            return values
        typed = parse_subject_metadata(metadata)
    except ValueError:
        return values  # the subject still exists; its metadata will come with the export
    values.update(
        ra_deg=typed.ra_deg,
        dec_deg=typed.dec_deg,
        dr7objid=typed.dr7objid,
        nsa_id=typed.nsa_id,
        redshift=typed.redshift,
        petrosian_radius_arcsec=typed.petrosian_radius_arcsec,
        metadata=json.dumps(metadata),
    )
    return values


PARALLEL_PARSE_MIN_BYTES = 20_000_000
"""Exports at least this large are parsed in child processes while this one writes."""


def _parse_rows(
    batch: Sequence[ClassificationRow | RowProblem],
    frames: dict[int, CanvasFrame],
    method: str,
) -> list[_Parsed | None]:
    return [
        None
        if isinstance(r, RowProblem)
        else _parse_one(
            r.classification_id, r.subject_id, r.annotations, frames.get(r.subject_id), method
        )
        for r in batch
    ]


def _produce_parsed_batches(
    export: Path,
    filters: dict[str, Any],
    frames: dict[int, CanvasFrame],
    method: str,
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


def _parsed_batches(
    export: Path,
    filters: dict[str, Any],
    frames: dict[int, CanvasFrame],
    method: str,
    processes: int,
) -> Iterator[tuple[list[ClassificationRow | RowProblem], list[_Parsed | None]]]:
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


def ingest_classifications(
    engine: Engine,
    export: Path,
    *,
    method: str = "corrected",
    workflow_id: int | None = None,
    min_workflow_version: str | None = None,
    parse_processes: int | None = None,
    progress: Progress | None = None,
) -> IngestSummary:
    """Stream a classification export into ``classifications`` and volunteer models.

    A classification already stored with the same parse method is left alone; one stored
    with another method is parsed again with this one. ``parse_processes`` child processes
    parse while this one writes (default: 2 for exports of at least
    ``PARALLEL_PARSE_MIN_BYTES``, else none).
    """
    export = Path(export)
    check_columns(export, CLASSIFICATION_REQUIRED_COLUMNS)
    summary = IngestSummary(source="classifications")
    filters = {"workflow_id": workflow_id, "min_workflow_version": min_workflow_version}
    run_id = start_run(
        engine, "ingest-classifications", {"export": str(export), "method": method, **filters}
    )
    _forget_problems(engine, summary.source, export)
    if parse_processes is None:
        parse_processes = 2 if export.stat().st_size >= PARALLEL_PARSE_MIN_BYTES else 0
    with session_scope(engine) as session:
        frames = _frames(session)
    for batch, parsed in _parsed_batches(export, filters, frames, method, parse_processes):
        with session_scope(engine, write=True) as session:
            _ingest_classification_batch(session, batch, parsed, export, method, summary, run_id)
        if progress:
            progress(len(batch))
    finish_run(engine, run_id)
    return summary


def _ingest_classification_batch(
    session: Session,
    batch: list[ClassificationRow | RowProblem],
    parsed_rows: list[_Parsed | None],
    export: Path,
    method: str,
    summary: IngestSummary,
    run_id: int,
) -> None:
    summary.rows_read += len(batch)
    rows: dict[int, tuple[ClassificationRow, _Parsed]] = {}
    for row, parsed in zip(batch, parsed_rows, strict=True):
        if isinstance(row, RowProblem):
            _record_problem(
                session,
                summary,
                export,
                f"{export.name} row {row.row_number}: {row.message}",
                row_number=row.row_number,
            )
        elif row.classification_id not in rows:  # a repeated id: the first row counts
            assert parsed is not None
            rows[row.classification_id] = (row, parsed)
    if not rows:
        return
    table = schema.Classification
    existing = {
        r.classification_id: r.parse_method
        for r in session.execute(
            select(table.classification_id, table.parse_method).where(
                table.classification_id.in_(list(rows))
            )
        )
    }
    redo = [cid for cid, m in existing.items() if m != method]
    summary.classifications_unchanged += len(existing) - len(redo)
    if redo:
        session.execute(delete(table).where(table.classification_id.in_(redo)))
    new = [pair for cid, pair in rows.items() if cid not in existing or cid in redo]
    if not new:
        return
    subject_ids = {r.subject_id for r, _ in new}
    known = set(
        session.scalars(
            select(schema.Subject.subject_id).where(schema.Subject.subject_id.in_(subject_ids))
        )
    )
    unknown = {r.subject_id: r for r, _ in new if r.subject_id not in known}
    if unknown:
        session.execute(
            schema.Subject.__table__.insert(),
            [_subject_from_subject_data(sid, r.subject_data) for sid, r in unknown.items()],
        )
        summary.subjects_added += len(unknown)
    now = datetime.now(UTC)
    session.execute(
        table.__table__.insert(),
        [
            {
                "classification_id": r.classification_id,
                "subject_id": r.subject_id,
                "user_id": r.user_id,
                "user_name": r.user_name,
                "workflow_id": r.workflow_id,
                "workflow_version": r.workflow_version,
                "created_at": r.created_at,
                "annotations": r.annotations,
                "subject_data": r.subject_data,
                "metadata": r.metadata,
                "parse_status": p.status,
                "parse_error": p.error,
                "parse_method": method,
                "ingested_at": now,
            }
            for r, p in new
        ],
    )
    parsed = [p for _, p in new]
    _store_volunteer_models(session, parsed, {p.classification_id: method for p in parsed}, run_id)
    summary.classifications_added += len(new)
    _count(summary, parsed)
