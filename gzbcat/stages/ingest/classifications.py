"""Ingest a classification export (streamed) into ``classifications`` and volunteer models."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, delete, select
from sqlalchemy.orm import Session

from gzbcat.db import schema
from gzbcat.db.engine import session_scope
from gzbcat.model import Method
from gzbcat.stages.ingest._parsing import (
    ParsedClassification,
    canvas_frames,
    count_parsed,
    parsed_batches,
    store_volunteer_models,
)
from gzbcat.stages.ingest._summary import (
    IngestSummary,
    Progress,
    forget_problems,
    record_problem,
)
from gzbcat.stages.runs import finish_run, start_run
from gzbcat.zooniverse.exports import (
    CLASSIFICATION_REQUIRED_COLUMNS,
    ClassificationRow,
    PassedOver,
    RowProblem,
    check_columns,
    parse_subject_metadata,
    version_key,
)

__all__ = ["PARALLEL_PARSE_MIN_BYTES", "content_sha256", "ingest_classifications"]

PARALLEL_PARSE_MIN_BYTES = 20_000_000
"""Exports at least this large are parsed in child processes while this one writes."""


def ingest_classifications(
    engine: Engine,
    export: Path,
    *,
    method: Method = Method.CORRECTED,
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
    if min_workflow_version is not None:
        version_key(min_workflow_version)  # a ValueError naming the value, before any write
    check_columns(export, CLASSIFICATION_REQUIRED_COLUMNS)
    summary = IngestSummary(source="classifications")
    filters = {"workflow_id": workflow_id, "min_workflow_version": min_workflow_version}
    run_id = start_run(
        engine, "ingest-classifications", {"export": str(export), "method": method, **filters}
    )
    forget_problems(engine, summary.source, export)
    if parse_processes is None:
        parse_processes = 2 if export.stat().st_size >= PARALLEL_PARSE_MIN_BYTES else 0
    with session_scope(engine) as session:
        frames = canvas_frames(session)
    for batch, parsed in parsed_batches(export, filters, frames, method, parse_processes):
        with session_scope(engine, write=True) as session:
            _ingest_classification_batch(session, batch, parsed, export, method, summary, run_id)
        if progress:
            progress(len(batch))
    finish_run(engine, run_id)
    return summary


def _ingest_classification_batch(
    session: Session,
    batch: list[ClassificationRow | RowProblem | PassedOver],
    parsed_rows: list[ParsedClassification | None],
    export: Path,
    method: Method,
    summary: IngestSummary,
    run_id: int,
) -> None:
    summary.rows_read += len(batch)
    rows: dict[int, tuple[ClassificationRow, ParsedClassification]] = {}
    digests: dict[int, str] = {}  # content_sha256 of each kept row
    for row, parsed in zip(batch, parsed_rows, strict=True):
        if isinstance(row, PassedOver):
            if row.reason == "workflow":
                summary.rows_of_other_workflows += 1
                seen = summary.workflows_passed_over
                seen[row.workflow_id] = seen.get(row.workflow_id, 0) + 1
            else:
                summary.rows_of_older_versions += 1
        elif isinstance(row, RowProblem):
            record_problem(
                session,
                summary,
                export,
                f"{export.name} row {row.row_number}: {row.message}",
                row_number=row.row_number,
            )
        elif row.classification_id not in rows:  # a repeated id: the first row counts
            assert parsed is not None
            rows[row.classification_id] = (row, parsed)
            digests[row.classification_id] = content_sha256(row)
        elif content_sha256(row) != digests[row.classification_id]:
            first = rows[row.classification_id][0]
            _record_changed_content(
                session, summary, export, row, f"row {first.row_number} of the same file"
            )
    if not rows:
        return
    table = schema.Classification
    stored = session.execute(
        select(
            table.classification_id,
            table.parse_method,
            table.ingested_at,
            table.source_file,
            table.source_row,
            table.content_sha256,
        ).where(table.classification_id.in_(list(rows)))
    ).all()
    stored_hashes = {r.classification_id: r.content_sha256 for r in stored}
    legacy = [cid for cid, digest in stored_hashes.items() if digest is None]
    if legacy:  # stored before hashes were kept: hash what is there
        for r in session.execute(
            select(table.classification_id, *(getattr(table, c) for c in _CONTENT_COLUMNS)).where(
                table.classification_id.in_(legacy)
            )
        ):
            stored_hashes[r.classification_id] = content_sha256(r)
    existing: dict[int, str | None] = {}
    for r in stored:
        row = rows[r.classification_id][0]
        if stored_hashes[r.classification_id] != digests[r.classification_id]:
            _record_changed_content(session, summary, export, row, _stored_copy(r))
            del rows[r.classification_id]
        else:
            existing[r.classification_id] = r.parse_method
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
                "source_file": str(export),
                "source_row": r.row_number,
                "content_sha256": digests[r.classification_id],
            }
            for r, p in new
        ],
    )
    parsed = [p for _, p in new]
    store_volunteer_models(session, parsed, {p.classification_id: method for p in parsed}, run_id)
    summary.classifications_added += len(new)
    count_parsed(summary, parsed)


_CONTENT_COLUMNS = ("subject_id", "user_id", "workflow_version", "created_at", "annotations")
"""What a classification is: a row under a known id that differs in any of these is not the
same classification (its metadata and subject data may be re-exported differently)."""


def _aware(moment: datetime | None) -> datetime | None:
    """SQLite hands back naive UTC datetimes; PostgreSQL aware ones: compare them as UTC."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


def content_sha256(row: Any) -> str:
    """SHA-256 (hex) of what a classification says: its :data:`_CONTENT_COLUMNS`, the time in UTC.

    ``row`` is an export row or a stored one (anything with those attributes).
    """
    created = _aware(row.created_at)
    fields = [
        row.subject_id,
        row.user_id,
        row.workflow_version,
        None if created is None else created.astimezone(UTC).isoformat(),
        row.annotations,
    ]
    return hashlib.sha256(json.dumps(fields).encode()).hexdigest()


def _stored_copy(stored: Any) -> str:
    """Where the stored copy of a classification came from, in words."""
    moment = _aware(stored.ingested_at)
    where = "the stored copy"
    if stored.source_file is not None:
        where += f" (from {stored.source_file} row {stored.source_row}"
        where += f", ingested {moment:%Y-%m-%d %H:%M:%S} UTC)"
    else:
        where += f" (ingested {moment:%Y-%m-%d %H:%M:%S} UTC, source not recorded)"
    return where


def _record_changed_content(
    session: Session, summary: IngestSummary, export: Path, row: ClassificationRow, other: str
) -> None:
    """A known classification id with other content: keep what was there first, and say so."""
    summary.changed_content += 1
    record_problem(
        session,
        summary,
        export,
        f"{export.name} row {row.row_number}: classification {row.classification_id} differs "
        f"from {other} (subject, user, workflow version, time or drawing); the first is kept",
        row_number=row.row_number,
        subject_id=row.subject_id,
    )


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
