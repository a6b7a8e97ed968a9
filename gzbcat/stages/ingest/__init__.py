"""Ingest: Zooniverse subject and classification exports, and subject files, into the database.

Reading and parsing are pure (``gzbcat.zooniverse``); this package decides what to write and
writes it in batches, one transaction per batch. A re-run of the same files writes nothing
new; an interrupted run leaves every finished batch committed and the rest untouched, so a
re-run completes it. Bad rows and bad subject files are recorded in ``ingest_errors`` (or, for
annotations, in ``classifications.parse_status``) and skipped; a file that cannot be read at
all is refused before anything is written.

One module per export kind: :mod:`.subjects` (subject export and the difference files it
locates), :mod:`.fitting_metadata` and :mod:`.classifications`. Private helpers: ``_summary``
(the summary and recorded problems), ``_images`` (writing a subject image), ``_parsing``
(classifications into volunteer models, and the parsing process pool).
"""

from __future__ import annotations

from gzbcat.stages.ingest._images import SUBJECT_BATCH
from gzbcat.stages.ingest._parsing import CLASSIFICATION_BATCH, reparse_subject
from gzbcat.stages.ingest._summary import MAX_PROBLEMS_KEPT, IngestSummary, Progress
from gzbcat.stages.ingest.classifications import PARALLEL_PARSE_MIN_BYTES, ingest_classifications
from gzbcat.stages.ingest.fitting_metadata import ingest_fitting_metadata
from gzbcat.stages.ingest.subjects import ingest_subjects

__all__ = [
    "CLASSIFICATION_BATCH",
    "MAX_PROBLEMS_KEPT",
    "PARALLEL_PARSE_MIN_BYTES",
    "SUBJECT_BATCH",
    "IngestSummary",
    "Progress",
    "ingest_classifications",
    "ingest_fitting_metadata",
    "ingest_subjects",
    "reparse_subject",
]
