"""Streaming readers of Zooniverse subject and classification exports (CSV).

Exports can hold millions of rows, so both readers yield one typed row at a time and never
hold the file in memory. A file that lacks a required column is refused before any row is
read (:class:`ExportError`); a single bad row becomes a :class:`RowProblem` that the caller
records and skips, so one bad row never loses the rest of the file.
"""

from __future__ import annotations

import csv
import itertools
import json
import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

__all__ = [
    "CLASSIFICATION_OPTIONAL_COLUMNS",
    "CLASSIFICATION_REQUIRED_COLUMNS",
    "SUBJECT_REQUIRED_COLUMNS",
    "ClassificationRow",
    "ExportError",
    "PassedOver",
    "RowProblem",
    "SubjectMetadata",
    "SubjectRow",
    "check_columns",
    "parse_subject_metadata",
    "read_classification_chunks",
    "read_classification_export",
    "read_subject_export",
    "version_key",
]

SUBJECT_REQUIRED_COLUMNS = ("subject_id", "metadata", "locations")
CLASSIFICATION_REQUIRED_COLUMNS = ("classification_id", "subject_ids", "annotations")
CLASSIFICATION_OPTIONAL_COLUMNS = (
    "user_name",
    "user_id",
    "workflow_id",
    "workflow_version",
    "created_at",
    "subject_data",
    "metadata",
)

# Annotation JSON of one classification can exceed csv's default 128 kB field limit.
csv.field_size_limit(2**31 - 1)


class ExportError(ValueError):
    """An export file that cannot be read at all (missing file or required column)."""


@dataclass(frozen=True)
class RowProblem:
    """A row that was skipped, and why (``row_number`` counts data rows from 1)."""

    row_number: int
    message: str
    subject_id: int | None = None


@dataclass(frozen=True)
class SubjectMetadata:
    """Typed values from a subject's metadata (all strings in the export)."""

    ra_deg: float | None = None
    dec_deg: float | None = None
    dr7objid: int | None = None
    nsa_id: int | None = None
    redshift: float | None = None
    petrosian_radius_arcsec: float | None = None


@dataclass(frozen=True)
class SubjectRow:
    row_number: int
    subject_id: int
    project_id: int | None
    workflow_id: int | None
    subject_set_id: int | None
    metadata: SubjectMetadata
    metadata_raw: str
    locations: dict[str, str]
    locations_raw: str


class ClassificationRow(NamedTuple):
    """One classification as exported (a named tuple: cheap to hand between processes)."""

    row_number: int
    classification_id: int
    subject_id: int
    annotations: str
    user_name: str | None = None
    user_id: int | None = None
    workflow_id: int | None = None
    workflow_version: str | None = None
    created_at: datetime | None = None
    subject_data: str | None = None
    metadata: str | None = None


class PassedOver(NamedTuple):
    """A row the filters passed over (not an error): counted, so that a run which keeps
    nothing can say why."""

    row_number: int
    reason: str  # "workflow" (another workflow) or "version" (older or no workflow version)
    workflow_id: int | None
    workflow_version: str | None


def _optional_int(value: Any) -> int | None:
    """'587741421632356667' → int exactly; '417673.0' → 417673; '' / None / 'nan' → None."""
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    text = str(value).strip()
    if not text or text.lower() in {"nan", "null", "none"}:
        return None
    try:
        return int(text)
    except ValueError:
        number = float(text)  # raises ValueError for text that is no number at all
        if not number.is_integer():
            raise ValueError(f"{text!r} is not a whole number") from None
        return int(number)


def _optional_float(value: Any) -> float | None:
    if value is None:
        return None
    text = str(value).strip()
    if not text:
        return None
    number = float(text)
    return number if math.isfinite(number) else None


def parse_subject_metadata(metadata: Mapping[str, Any]) -> SubjectMetadata:
    """Typed columns from a Galaxy Builder subject's metadata.

    'Petrosian radius (degrees)' is in arcseconds despite its name (spec §2.1). A value that
    is not a number raises ``ValueError`` naming the key.
    """
    keys = {
        "ra_deg": ("ra", _optional_float),
        "dec_deg": ("dec", _optional_float),
        "dr7objid": ("SDSS dr7 id", _optional_int),
        "nsa_id": ("NSA id", _optional_int),
        "redshift": ("redshift", _optional_float),
        "petrosian_radius_arcsec": ("Petrosian radius (degrees)", _optional_float),
    }
    values: dict[str, Any] = {}
    for field_name, (key, convert) in keys.items():
        try:
            values[field_name] = convert(metadata.get(key))
        except (TypeError, ValueError):
            raise ValueError(f"metadata {key!r} is not a number: {metadata.get(key)!r}") from None
    return SubjectMetadata(**values)


def _open_export(path: Path, required: tuple[str, ...]) -> tuple[Any, csv.DictReader]:
    try:
        handle = path.open(newline="", encoding="utf-8")
    except OSError as error:
        raise ExportError(f"{path}: cannot open: {error.strerror or error}") from None
    reader = csv.DictReader(handle)
    try:
        _check_header(path, list(reader.fieldnames or []), required)
    except ExportError:
        handle.close()
        raise
    return handle, reader


def _check_header(path: Path, header: list[str], required: tuple[str, ...]) -> None:
    missing = [column for column in required if column not in header]
    if missing:
        raise ExportError(
            f"{path}: missing required column{'s' if len(missing) > 1 else ''} "
            + ", ".join(repr(c) for c in missing)
            + f" (the header has: {', '.join(header) or 'nothing'})"
        )


def check_columns(path: Path, required: tuple[str, ...]) -> None:
    """Raise :class:`ExportError` now if ``path`` cannot be read or lacks a column."""
    handle, _ = _open_export(path, required)
    handle.close()


def read_subject_export(path: Path) -> Iterator[SubjectRow | RowProblem]:
    """Yield the rows of a Zooniverse subject export, typed; bad rows as :class:`RowProblem`."""
    handle, reader = _open_export(path, SUBJECT_REQUIRED_COLUMNS)
    with handle:
        for row_number, row in enumerate(reader, start=1):
            try:
                subject_id = _optional_int(row.get("subject_id"))
                if subject_id is None:
                    raise ValueError("subject_id is empty")
            except ValueError as error:
                yield RowProblem(row_number, f"subject_id: {error}")
                continue
            try:
                metadata_raw = row.get("metadata") or "{}"
                locations_raw = row.get("locations") or "{}"
                metadata = json.loads(metadata_raw)
                locations = json.loads(locations_raw)
                if not isinstance(metadata, dict) or not isinstance(locations, dict):
                    raise ValueError("metadata and locations must be JSON objects")
                yield SubjectRow(
                    row_number=row_number,
                    subject_id=subject_id,
                    project_id=_optional_int(row.get("project_id")),
                    workflow_id=_optional_int(row.get("workflow_id")),
                    subject_set_id=_optional_int(row.get("subject_set_id")),
                    metadata=parse_subject_metadata(metadata),
                    metadata_raw=metadata_raw,
                    locations={str(k): str(v) for k, v in locations.items()},
                    locations_raw=locations_raw,
                )
            except ValueError as error:  # json.JSONDecodeError is a ValueError
                yield RowProblem(row_number, f"subject {subject_id}: {error}", subject_id)


def _parse_created_at(text: str | None) -> datetime | None:
    """'2020-02-10 13:04:47 UTC' (Zooniverse) or ISO 8601 → an aware UTC datetime."""
    if not text or not text.strip():
        return None
    text = text.strip()
    if text.endswith(" UTC"):
        text = text[:-4] + "+00:00"
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def version_key(version: str) -> tuple[int, ...]:
    """'61.107' → (61, 107): workflow versions compare part by part, not as decimals.

    Raises ValueError, naming the value, for anything but numbers separated by dots.
    """
    parts = str(version).strip().split(".")
    if not all(part.isdigit() for part in parts):
        raise ValueError(
            f"{version!r} is not a workflow version (numbers separated by dots, e.g. 61.107)"
        )
    return tuple(int(part) for part in parts)


def read_classification_export(
    path: Path,
    *,
    workflow_id: int | None = None,
    min_workflow_version: str | None = None,
) -> Iterator[ClassificationRow | RowProblem]:
    """Yield the rows of a Zooniverse classification export, one at a time.

    Rows of other workflows, or older workflow versions, are passed over silently (they are
    not errors). Rows with unusable ids or dates are yielded as :class:`RowProblem`.
    """
    for chunk in read_classification_chunks(
        path, 1024, workflow_id=workflow_id, min_workflow_version=min_workflow_version
    ):
        yield from (row for row in chunk if not isinstance(row, PassedOver))


def read_classification_chunks(
    path: Path,
    chunk_rows: int,
    *,
    workflow_id: int | None = None,
    min_workflow_version: str | None = None,
    keep: Callable[[int], bool] | None = None,
) -> Iterator[list[ClassificationRow | RowProblem]]:
    """Yield the export in chunks of ``chunk_rows`` file rows, typed; rows the filters pass
    over are :class:`PassedOver` markers (so that they can be counted).

    ``keep(i)`` decides whether chunk ``i`` is wanted; unwanted chunks are only split into
    fields, never typed, so several processes can share out one file cheaply.
    """
    try:
        handle = path.open(newline="", encoding="utf-8")
    except OSError as error:
        raise ExportError(f"{path}: cannot open: {error.strerror or error}") from None
    with handle:
        reader = csv.reader(handle)
        header = next(reader, [])
        _check_header(path, header, CLASSIFICATION_REQUIRED_COLUMNS)
        columns = {name: i for i, name in enumerate(header)}
        minimum = version_key(min_workflow_version) if min_workflow_version else None
        row_number = 0
        for index in itertools.count():
            raw_rows = list(itertools.islice(reader, chunk_rows))
            if not raw_rows:
                return
            first = row_number + 1
            row_number += len(raw_rows)
            if keep is not None and not keep(index):
                continue
            yield [
                _classification_row(raw, columns, first + offset, workflow_id, minimum)
                for offset, raw in enumerate(raw_rows)
            ]


def _classification_row(
    raw: list[str],
    columns: dict[str, int],
    row_number: int,
    workflow_id: int | None,
    minimum: tuple[int, ...] | None,
) -> ClassificationRow | RowProblem | PassedOver:
    """One file row → a typed row, a problem, or a marker when the filters pass it over."""

    def get(name: str) -> str | None:
        i = columns.get(name)
        return raw[i] if i is not None and i < len(raw) else None

    try:
        classification_id = _optional_int(get("classification_id"))
        if classification_id is None:
            raise ValueError("classification_id is empty")
    except ValueError as error:
        return RowProblem(row_number, f"classification_id: {error}")
    try:
        row_workflow = _optional_int(get("workflow_id"))
        version = (get("workflow_version") or "").strip() or None
        if workflow_id is not None and row_workflow != workflow_id:
            return PassedOver(row_number, "workflow", row_workflow, version)
        if minimum is not None and (version is None or version_key(version) < minimum):
            return PassedOver(row_number, "version", row_workflow, version)
        subject_ids = [s for s in (get("subject_ids") or "").split(";") if s.strip()]
        if len(subject_ids) != 1:
            raise ValueError(
                f"subject_ids must name exactly one subject, not {get('subject_ids')!r}"
            )
        subject_id = _optional_int(subject_ids[0])
        assert subject_id is not None
        return ClassificationRow(
            row_number=row_number,
            classification_id=classification_id,
            subject_id=subject_id,
            annotations=get("annotations") or "",
            user_name=get("user_name") or None,
            user_id=_optional_int(get("user_id")),
            workflow_id=row_workflow,
            workflow_version=version,
            created_at=_parse_created_at(get("created_at")),
            subject_data=get("subject_data") or None,
            metadata=get("metadata") or None,
        )
    except ValueError as error:
        return RowProblem(row_number, f"classification {classification_id}: {error}")
