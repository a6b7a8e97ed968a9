"""Ingest per-subject fitting metadata: the image, σ, mask and PSF the fits use."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from sqlalchemy import Engine, delete

from gzbcat.db import schema
from gzbcat.db.engine import session_scope
from gzbcat.stages.ingest._images import SUBJECT_BATCH, file_sha256, store_image
from gzbcat.stages.ingest._summary import IngestSummary, Progress, batched, record_problem
from gzbcat.stages.runs import finish_run, start_run
from gzbcat.zooniverse.subject_files import (
    SubjectFileError,
    read_fitting_metadata,
    subject_id_from_filename,
)

__all__ = ["ingest_fitting_metadata"]


def _metadata_files(paths: Iterable[Path]) -> list[Path]:
    """The files named, a folder standing for the ``*.json`` files in it (in name order)."""
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
    for batch in batched(files, SUBJECT_BATCH):
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
                    sha256 = file_sha256(path)
                    existing = session.get(schema.SubjectImage, subject_id)
                    if existing is not None and existing.source_sha256 == sha256:
                        summary.images_unchanged += 1
                        continue
                    image = read_fitting_metadata(path, subject_id=subject_id)
                except OSError as error:
                    record_problem(
                        session, summary, path, f"{path}: cannot read: {error.strerror or error}"
                    )
                    continue
                except SubjectFileError as error:
                    record_problem(session, summary, path, str(error))
                    continue
                if session.get(schema.Subject, subject_id) is None:
                    session.add(schema.Subject(subject_id=subject_id))
                    session.flush()
                    summary.subjects_added += 1
                store_image(session, subject_id, image, path, sha256, summary, run_id)
        if progress:
            progress(len(batch))
    finish_run(engine, run_id)
    return summary
